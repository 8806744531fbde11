//! Physically banked regions (`banking: physical`): in the issue model, one operation at a time
//! holds a region's write port, while readers share its `ports` read copies; DMA transfers
//! take the bank degrees of their beats.

use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::isa::{Op, Program, Unit};
use nmsat_compiler::model::load_model;
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::compile;
use nmsat_sim::machine::Schedule;
use nmsat_sim::{simulate_exact, simulate_fast};

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
