//! Physically banked regions (`banking: physical`): in the issue model, one operation at a time
//! holds a region's write port, while readers share its `ports` read copies; DMA transfers
//! take the bank degrees of their beats, and prunes the degrees of their batches' sets.

use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::isa::{Buf, Instr, Op, Phase, Program, PruneAlong, Unit};
use nmsat_compiler::model::load_model;
use nmsat_compiler::prune::{group_bytes, Nm};
use nmsat_compiler::schedule::compile;
use nmsat_compiler::timing;
use nmsat_sim::exact::{Exact, Memory};
use nmsat_sim::fast::Fast;
use nmsat_sim::machine::{Executor, Schedule};
use nmsat_sim::piuma::Spad;
use nmsat_sim::{simulate_exact, simulate_fast};
use proptest::prelude::*;

fn sat_small(physical: bool) -> Arch {
    let text = include_str!("../../configs/arch/sat-small.yaml");
    let text = if physical {
        text.replace("latency: 1}", "latency: 1, banking: physical}")
    } else {
        text.to_string()
    };
    Arch::parse("sat-small.yaml", &text).unwrap()
}

/// Pairs of instructions that write `region` during a common cycle.
fn overlapping_writers(prog: &Program, s: &Schedule, region: RegionId) -> usize {
    let writers: Vec<usize> = (0..prog.instrs.len())
        .filter(|&j| {
            prog.instrs[j]
                .op
                .sp_writes()
                .iter()
                .any(|b| b.region == region)
        })
        .collect();
    let mut pairs = 0;
    for (i, &a) in writers.iter().enumerate() {
        for &b in &writers[i + 1..] {
            if s.start[a] < s.end[b] && s.start[b] < s.end[a] {
                pairs += 1;
            }
        }
    }
    pairs
}

#[test]
fn writers_of_a_physical_region_take_turns() {
    let model = load_model("digits-cnn").unwrap();
    let opts = TrainOptions::bdwp(4, Nm { n: 2, m: 8 });
    let ideal = sat_small(false);
    let physical = sat_small(true);
    // The same program on both (on physical banks the compiler would choose other tiles).
    let prog = compile(&ideal, &model, &opts).unwrap().program;
    let s_ideal = simulate_fast(&ideal, &prog).unwrap().schedule;
    let s_phys = simulate_fast(&physical, &prog).unwrap().schedule;
    assert_eq!(s_phys, simulate_exact(&physical, &prog).unwrap().schedule);
    let mut overlapped = 0;
    for r in RegionId::ALL {
        // Ideal regions let two operations write at once (this program does so), physical
        // ones never.
        overlapped += overlapping_writers(&prog, &s_ideal, r);
        assert_eq!(overlapping_writers(&prog, &s_phys, r), 0, "{r:?}");
    }
    assert!(overlapped > 0);
    assert!(s_phys.cycles() > s_ideal.cycles());
}

/// On the digits CNN, plain copies move one word of each bank a cycle either way, while a
/// gather writes a word per element copy: the report's transfer kinds show which costs what,
/// and add up to the DMA queues' busy cycles.
/// A GEMM that overwrites y still reads it on physical banks (the RTL's output buffer reads
/// every slot's words beside its column), so it holds a read copy of the output region there beside its write port.
#[test]
fn a_gemm_holds_a_read_copy_of_a_physical_y() {
    use nmsat_sim::machine::{resources, Resource};
    let buf = |region, bytes| Buf {
        region,
        addr: 0,
        bytes,
    };
    for accumulate in [false, true] {
        let gemm = Instr {
            op: Op::Gemm {
                w: buf(RegionId::Weight, 2 * 4 * 8),
                x: buf(RegionId::Input, 2 * 8 * 4),
                y: buf(RegionId::Output, 4 * 4 * 4),
                m: 4,
                k: 8,
                t: 4,
                sparsity: None,
                accumulate,
            },
            waits: vec![],
            layer: 0,
            phase: Phase::Ff,
        };
        let held = resources(&sat_small(true), &gemm);
        assert!(
            held.contains(&Resource::Region(RegionId::Output)),
            "{held:?}"
        );
        assert!(
            held.contains(&Resource::WritePort(RegionId::Output)),
            "{held:?}"
        );
        // On ideal banks a write takes a port of the region, whether or not it also reads.
        let ideal = resources(&sat_small(false), &gemm);
        assert_eq!(
            ideal,
            [RegionId::Weight, RegionId::Input, RegionId::Output].map(Resource::Region),
            "accumulate {accumulate}"
        );
    }
}

#[test]
fn transfer_kinds_show_what_physical_banks_cost() {
    let model = load_model("digits-cnn").unwrap();
    let opts = TrainOptions::bdwp(4, Nm { n: 2, m: 8 });
    let (ideal, physical) = (sat_small(false), sat_small(true));
    let prog = compile(&ideal, &model, &opts).unwrap().program;
    let s_ideal = simulate_fast(&ideal, &prog).unwrap().stats;
    let s_phys = simulate_exact(&physical, &prog).unwrap().stats;
    let dma = prog
        .instrs
        .iter()
        .filter(|i| matches!(i.op, Op::Load { .. } | Op::Store { .. }))
        .count() as u64;
    for s in [&s_ideal, &s_phys] {
        assert_eq!(s.transfers.iter().map(|t| t.count).sum::<u64>(), dma);
        assert_eq!(
            s.transfers.iter().map(|t| t.cycles).sum::<u64>(),
            s.busy[Unit::Load.index()] + s.busy[Unit::Store.index()]
        );
    }
    let cycles = |s: &nmsat_sim::stats::Stats, dir: &str, shape: &str, region: &str| {
        s.transfers
            .iter()
            .find(|t| (t.direction, t.shape, t.region) == (dir, shape, region))
            .map(|t| t.cycles)
            .unwrap()
    };
    assert_eq!(
        cycles(&s_ideal, "load", "copy", "input"),
        cycles(&s_phys, "load", "copy", "input")
    );
    assert!(
        cycles(&s_phys, "load", "im2col", "input")
            > 2 * cycles(&s_ideal, "load", "im2col", "input")
    );
}

/// sat-small with G groups a batch, the given prune latency, and each region's banks, word
/// width and banking.
fn prune_arch(g: u64, latency: u64, regions: [(u64, u64, bool); 3]) -> Arch {
    let mut text = include_str!("../../configs/arch/sat-small.yaml").replace(
        "prune_unit: {groups_per_cycle: 4, latency: 2}",
        &format!("prune_unit: {{groups_per_cycle: {g}, latency: {latency}}}"),
    );
    for (name, (banks, width, physical)) in ["weight", "input", "output"].iter().zip(regions) {
        let line = banks * width;
        text = text.replace(
            &format!("{name}: {{bytes: 16384, banks: 4, bank_width_bytes: 8, ports: 2, latency: 1}}"),
            &format!(
                "{name}: {{bytes: {}, banks: {banks}, bank_width_bytes: {width}, ports: 2, latency: 1{}}}",
                4096 / line * line,
                if physical { ", banking: physical" } else { "" }
            ),
        );
    }
    Arch::parse("prune.yaml", &text).unwrap()
}

fn prune_instr(src: Buf, dst: Buf, rows: u64, k: u64, nm: Nm) -> Instr {
    Instr {
        op: Op::Prune {
            src,
            dst,
            rows,
            k,
            nm,
            along: PruneAlong::Input,
        },
        waits: Vec::new(),
        layer: 0,
        phase: Phase::Prune,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random prunes at random places of random regions, each side physical or ideal: exact
    /// mode, which steps the batches over the words it reads and writes, costs what fast mode
    /// charges — also for the same prune moved by whole bank rows, which fast mode takes from
    /// its cache.
    #[test]
    fn fast_mode_times_prunes_on_physical_banks_as_exact_mode_runs_them(
        g in 1u64..=4, latency in 0u64..=3,
        regions in prop::array::uniform3((1u64..=5, prop::sample::select(vec![2u64, 4, 8]), any::<bool>())),
        from in 0usize..3, to in 0usize..3,
        nm in prop::sample::select(vec![(1u64, 2u64), (1, 4), (2, 4), (3, 4), (2, 8), (4, 8), (1, 16), (4, 16)]),
        rows in 1u64..=6, k in 1u64..=40, at in (0u64..1024, 0u64..1024),
        moved in (0u64..4, 0u64..4), nudge in 1u64..40,
    ) {
        let arch = prune_arch(g, latency, regions);
        let nm = Nm::new(nm.0, nm.1).unwrap();
        let line = |r: usize| arch.region(RegionId::ALL[r]).banks * arch.region(RegionId::ALL[r]).bank_width_bytes;
        let mut fast = Fast::new(&arch);
        // The prune, the same moved by whole bank rows (a cache hit), and its destination
        // moved by `nudge` bytes (a different kind, unless that is whole rows too).
        for (ds, dd) in [(0, 0), (moved.0 * line(from), moved.1 * line(to)), (0, nudge)] {
            let src = Buf { region: RegionId::ALL[from], addr: at.0 + ds, bytes: 2 * rows * k };
            let dst = Buf {
                region: RegionId::ALL[to],
                addr: at.1 + dd,
                bytes: rows * k.div_ceil(nm.m) * group_bytes(nm) as u64,
            };
            let instr = prune_instr(src, dst, rows, k, nm);
            let mut mem = Memory {
                dram: Vec::new(),
                sp: RegionId::ALL.map(|r| Spad::new(arch.region(r).scratchpad())),
            };
            let exact = Exact { arch: &arch, mem: &mut mem }.execute(0, &instr).unwrap();
            prop_assert_eq!(fast.execute(0, &instr).unwrap(), exact);
            prop_assert_eq!(timing::op_cycles(&arch, &instr.op), Ok(exact.cycles));
            // Without its stalls, the prune takes the ideal cycles with the banked latency when
            // a side is physical.
            let (physical_src, physical_dst) = (regions[from].2, regions[to].2);
            let latency = if physical_src || physical_dst {
                timing::prune_latency_banked(&arch)
            } else {
                arch.prune_latency
            };
            let unstalled = timing::prune_cycles(&arch, rows * k.div_ceil(nm.m)) - arch.prune_latency;
            prop_assert_eq!(exact.cycles - exact.bank_stall, unstalled + latency);
            if !physical_src && !physical_dst {
                prop_assert_eq!(exact.bank_stall, 0);
            }
        }
    }
}
