//! The core on physically banked regions ([`nmsat_hw::CorePhysical`]) against the exact
//! simulator on the same physical description: random programs of loads, stores (plain,
//! transposed, requantizing, scattering; Im2col and ConvBp gathers), prunes, GEMMs (dense and
//! N:M, accumulating or not) and vector operations with random waits, so that the regions'
//! read copies and write
//! ports change hands between the units. Every instruction issues and completes in the exact
//! simulator's cycles and every DRAM byte (every region stored at the end) matches; so do a
//! tiny-MLP training iteration and one-GEMM programs on four array sizes. Also: its Verilog
//! passes Verilator's `-Wall` lint and yosys's checks, and the descriptions and programs it
//! cannot run are refused with the reason.

mod common;

use common::{options, scratch};
use nmsat_compiler::arch::{Arch, Banking};
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::isa::{Op, Program, Unit};
use nmsat_compiler::model::load_model;
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::compile;
use nmsat_hw::{
    build_core, check_generated, core_for, cosim_program, encode, gemm_program, generate,
    random_program, HwError,
};

/// sat-small with every region physical: the built-in `sat-small-banked`.
fn sat_small_physical() -> Arch {
    common::arch("sat-small-banked")
}

/// What `nmsat hdl --arch` writes for sat-small with every region physical: the physical core,
/// whose Verilog passes Verilator's `-Wall` lint and yosys's checks.
#[test]
fn nmsat_hdl_writes_a_clean_physical_core() {
    let arch = sat_small_physical();
    let report = generate(&arch, &scratch("core-physical-hdl")).unwrap_or_else(|e| panic!("{e}"));
    let core = report.core.as_ref().unwrap_or_else(|e| panic!("{e}"));
    assert!(core.physical);
    let text = report.to_string();
    assert!(
        text.contains("physically banked regions of 16384 / 16384 / 16384 bytes"),
        "{text}"
    );
    check_generated(&report).unwrap_or_else(|e| panic!("{e}"));
}

/// A shape sat-small does not have: 8 banks of 4-byte words, one read copy per region (so a
/// store and a prune that read one region take turns on its copy), a DRAM of latency 3 and a
/// DMA setup of 3 (the engine's least), and the prune unit's latency 6.
fn eight_by_four_one_copy() -> Arch {
    let mut a = sat_small_physical();
    a.name = "sat-small-physical-8x4-1-copy".into();
    for r in [&mut a.weight, &mut a.input, &mut a.output] {
        (r.banks, r.bank_width_bytes, r.ports) = (8, 4, 1);
    }
    (a.dram.latency, a.dma.setup_cycles, a.prune_latency) = (3, 3, 6);
    a
}

/// Runs random load/store/prune/GEMM programs of `n` instructions from `seeds` on the physical core
/// of `arch` and in the exact simulator, asserting that every cycle and every byte match;
/// returns each program with its instructions' (start, end) cycles.
fn cosim_random(
    arch: &Arch,
    n: usize,
    seeds: std::ops::Range<u64>,
) -> Vec<(Program, Vec<(u64, u64)>)> {
    let design = build_core(arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    seeds
        .map(|seed| {
            let prog = random_program(arch, n, seed);
            let c =
                cosim_program(&design, arch, &prog, seed, None).unwrap_or_else(|e| panic!("{e}"));
            let what = format!("{} seed {seed}", arch.name);
            assert_eq!(c.mismatch, None, "{what}");
            assert_eq!(c.rtl.cycles, c.exact_cycles, "{what}");
            eprintln!(
                "{what}: {} instructions, {} cycles",
                prog.instrs.len(),
                c.rtl.cycles
            );
            let spans = c
                .rtl
                .start
                .iter()
                .copied()
                .zip(c.rtl.end.iter().copied())
                .collect();
            (prog, spans)
        })
        .collect()
}

/// What the runs exercised: transfers issued in the cycle the previous one ended (the DMA
/// engine's `done` contract), a region's write port passing from one unit to another in the
/// cycle its holder ended, and a region read by a transfer and a prune at once (two copies
/// held by two units), and GEMMs that ran beside a transfer or a prune.
fn exercised(runs: &[(Program, Vec<(u64, u64)>)]) -> [usize; 4] {
    let mut seen = [0; 4];
    for (prog, spans) in runs {
        let dma = |j: usize| matches!(prog.instrs[j].op.unit(), Unit::Load | Unit::Store);
        let writes = |j: usize| prog.instrs[j].op.sp_writes();
        let reads = |j: usize| prog.instrs[j].op.sp_reads();
        for (i, &(_, end)) in spans.iter().enumerate() {
            for (j, &(start, _)) in spans.iter().enumerate() {
                if i == j {
                    continue;
                }
                seen[0] += usize::from(dma(i) && dma(j) && start == end);
                let same_writer = prog.instrs[i].op.unit() == prog.instrs[j].op.unit();
                let handed = writes(i)
                    .iter()
                    .any(|a| writes(j).iter().any(|b| a.region == b.region));
                seen[1] += usize::from(handed && !same_writer && start == end);
                let overlap = spans[i].0 < spans[j].1 && spans[j].0 < spans[i].1;
                let shared = reads(i)
                    .iter()
                    .any(|a| reads(j).iter().any(|b| a.region == b.region));
                seen[2] += usize::from(
                    overlap && shared && matches!(prog.instrs[i].op, Op::Prune { .. }) && dma(j),
                );
                let gemm = matches!(prog.instrs[i].op, Op::Gemm { .. });
                seen[3] += usize::from(overlap && gemm && prog.instrs[j].op.unit() != Unit::Array);
            }
        }
    }
    seen
}

#[test]
fn random_memory_programs_match_the_exact_simulator_on_sat_small_physical() {
    let runs = cosim_random(&sat_small_physical(), 300, 0..4);
    let seen = exercised(&runs);
    assert!(seen.iter().all(|&c| c > 0), "{seen:?}");
}

#[test]
fn random_memory_programs_match_on_8_banks_of_4_bytes_with_one_copy() {
    let runs = cosim_random(&eight_by_four_one_copy(), 150, 10..13);
    let seen = exercised(&runs);
    // One copy: a prune never reads a region while a store does.
    assert!(
        seen[0] > 0 && seen[1] > 0 && seen[2] == 0 && seen[3] > 0,
        "{seen:?}"
    );
}

/// The issue's GEMM, 37×29×45 at 2:8, on sat-small with every region physical: every y word and
/// every cycle as the exact simulator's.
#[test]
fn the_issue_gemm_matches_on_sat_small_physical() {
    let arch = sat_small_physical();
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    let nm = "2:8".parse().unwrap();
    let prog = gemm_program(&arch, (37, 29, 45), Some(nm)).unwrap();
    let c = cosim_program(&design, &arch, &prog, 1, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.mismatch, None);
    assert_eq!(c.rtl.cycles, c.exact_cycles);
}

/// A training iteration of the tiny MLP (FF, BP, WU and the SR-STE update, BDWP 2:8), compiled
/// for sat-small with every region physical: every cycle and every word as the exact
/// simulator's.
#[test]
fn a_tiny_mlp_iteration_matches_on_sat_small_physical() {
    let arch = sat_small_physical();
    let model = load_model("tiny-mlp").unwrap();
    let opts = TrainOptions::bdwp(8, Nm { n: 2, m: 8 });
    let prog = compile(&arch, &model, &opts).unwrap().program;
    for unit in [Unit::Load, Unit::Store, Unit::Array, Unit::Vector] {
        assert!(prog.instrs.iter().any(|i| i.op.unit() == unit), "{unit:?}");
    }
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    let c = cosim_program(&design, &arch, &prog, 3, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.mismatch, None);
    assert_eq!(c.rtl.cycles, c.exact_cycles);
    eprintln!("tiny-mlp on physical banks: {} cycles", c.rtl.cycles);
}

/// One-GEMM programs dense and at 1:4, 2:4, 2:8 and 1:8, at shapes that are not multiples of
/// the array, on the physical core of `sides`×`sides` PEs.
fn gemms_match_on_a_physical_core(sides: u64) {
    let mut arch = sat_small_physical();
    (arch.rows, arch.cols) = (sides, sides);
    arch.name = format!("sat-{sides}x{sides}-physical");
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    let patterns = [None, Some("1:4"), Some("2:4"), Some("2:8"), Some("1:8")];
    for (i, nm) in patterns.into_iter().enumerate() {
        let nm = nm.map(|s| s.parse().unwrap());
        for (j, dims) in [(37, 45, 29), (5, 3, 7), (2 * sides + 1, 19, 6)]
            .into_iter()
            .enumerate()
        {
            let prog = gemm_program(&arch, dims, nm).unwrap();
            let c = cosim_program(&design, &arch, &prog, (10 * i + j) as u64, None)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.mismatch, None, "{sides}×{sides} {dims:?} {nm:?}");
            assert_eq!(
                c.rtl.cycles, c.exact_cycles,
                "{sides}×{sides} {dims:?} {nm:?}"
            );
        }
    }
}

/// 2×2 and 8×8 (4×4 is sat-small-banked's, run above).
#[test]
fn gemms_match_on_physical_cores_of_2x2_and_8x8() {
    for sides in [2, 8] {
        gemms_match_on_a_physical_core(sides);
    }
}

/// The largest, whose 1:8 column sets take a sequencer's 128 entries; a test of its own so that
/// its Verilator build overlaps the others.
#[test]
fn gemms_match_on_a_16x16_physical_core() {
    gemms_match_on_a_physical_core(16);
}

/// What the physical core cannot build or run is refused with the reason: a GEMM activation or
/// result that would straddle two bank words, a region of 3 banks, some regions physical and
/// others ideal.
#[test]
fn unaligned_results_odd_banks_and_mixed_banking_are_refused() {
    let arch = sat_small_physical();
    let ideal = common::arch("sat-small");
    // An activation or a result that would straddle two bank words is refused; the ideal
    // crossbar takes it.
    for (operand, by, needs) in [("x", 1, "multiple of 2"), ("y", 2, "multiple of 4")] {
        let mut gemm = gemm_program(&arch, (4, 8, 4), None).unwrap();
        for i in &mut gemm.instrs {
            if let Op::Gemm { x, y, .. } = &mut i.op {
                let b = if operand == "x" { x } else { y };
                b.addr += by;
            }
        }
        let e = encode(&arch, &gemm).unwrap_err().to_string();
        assert!(e.contains(needs) && e.contains(operand), "{e}");
        encode(&ideal, &gemm).unwrap();
    }
    // A region the banked RTL cannot build is refused at its field.
    let mut odd = arch.clone();
    odd.output.banks = 3;
    match core_for(&odd).err().expect("3 banks have no core") {
        HwError::Unsupported { field, .. } => assert_eq!(field, "scratchpads.output.banks"),
        e => panic!("{e}"),
    }
    let mut mixed = arch.clone();
    mixed.input.banking = Banking::Ideal;
    match core_for(&mixed)
        .err()
        .expect("a mixed description has no core")
    {
        HwError::Unsupported {
            field,
            reason,
            allowed,
            ..
        } => {
            assert_eq!(field, "scratchpads.input.banking");
            assert!(reason.contains("weight region is physical"), "{reason}");
            assert!(allowed.contains("all ideal or all physical"), "{allowed}");
        }
        e => panic!("{e}"),
    }
}
