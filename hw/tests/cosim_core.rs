//! The whole core (controller, DMA engine, prune unit, array unit, vector unit, scratchpad
//! regions) against the exact simulator on random programs of loads, stores, prunes at every
//! pattern of the description, GEMMs (dense and N:M, shapes that are not multiples of the
//! array) and element-wise vector operations with random waits, and on one-GEMM programs on
//! 2×2, 4×4 and 8×8 cores: every instruction issues and completes in the same cycles, and the DRAM
//! ends up the same.

mod common;

use common::{arch, options};
use nmsat_compiler::isa::{Op, XferShape};
use nmsat_hw::{build_core, cosim_program, first_mismatch, gemm_program, random_program, Mismatch};

#[test]
fn random_programs_match_the_exact_simulator() {
    let arch = arch("sat-small");
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    for seed in 0..6 {
        let prog = random_program(&arch, 160, 100 + seed);
        let shapes = |transpose: bool, requant: bool| {
            prog.instrs
                .iter()
                .filter(|i| match &i.op {
                    Op::Load { xfer } => {
                        (xfer.shape == XferShape::Transpose) == transpose && !requant
                    }
                    Op::Store { xfer, requant: r } => {
                        (xfer.shape == XferShape::Transpose) == transpose && *r == requant
                    }
                    _ => false,
                })
                .count()
        };
        // Every kind of transfer is exercised: rows as they are and transposed, with and
        // without requantization.
        assert!(shapes(true, false) > 0 && shapes(true, true) > 0 && shapes(false, true) > 0);
        let vectors = prog
            .instrs
            .iter()
            .filter(|i| matches!(i.op, Op::Vector { .. }))
            .count();
        assert!(vectors > 10, "{vectors} vector operations");
        let prunes = prog
            .instrs
            .iter()
            .filter(|i| matches!(i.op, Op::Prune { .. }))
            .count();
        assert!(prunes > 10, "{prunes} prune operations");
        let gemms = |sparse: bool| {
            prog.instrs
                .iter()
                .filter(
                    |i| matches!(i.op, Op::Gemm { sparsity, .. } if sparsity.is_some() == sparse),
                )
                .count()
        };
        assert!(gemms(false) > 2 && gemms(true) > 5, "GEMMs");
        let c = cosim_program(&design, &arch, &prog, seed, None).unwrap();
        assert_eq!(c.mismatch, None, "seed {seed}");
        assert_eq!(c.rtl.cycles, c.exact_cycles);
        // Loads and stores contend for the DRAM: the run is shorter than its transfers in
        // sequence only if the controller overlapped nothing it should not have.
        assert!(
            c.rtl.start.windows(2).any(|w| w[1] < w[0]),
            "some reordering"
        );
    }
}

/// One-GEMM programs (load, prune on chip, GEMM, store) dense and at 1:4, 2:4 and 2:8, at
/// shapes that are not multiples of the array, on cores of `sides`×`sides` PEs.
fn gemms_match_on(sides: usize) {
    let mut arch = arch("sat-small");
    (arch.rows, arch.cols) = (sides as u64, sides as u64);
    arch.name = format!("sat-{sides}x{sides}");
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    let patterns = [None, Some("1:4"), Some("2:4"), Some("2:8")];
    for (i, nm) in patterns.into_iter().enumerate() {
        let nm = nm.map(|s| s.parse().unwrap());
        for (j, dims) in [(37, 45, 29), (5, 3, 7), (2 * sides as u64 + 1, 19, 6)]
            .into_iter()
            .enumerate()
        {
            let prog = gemm_program(&arch, dims, nm).unwrap();
            let c = cosim_program(&design, &arch, &prog, (10 * i + j) as u64, None).unwrap();
            assert_eq!(c.mismatch, None, "{sides}×{sides} {dims:?} {nm:?}");
        }
    }
}

#[test]
fn gemms_match_the_exact_simulator_at_three_core_sizes() {
    for sides in [2, 4, 8] {
        gemms_match_on(sides);
    }
}

#[test]
fn a_wrong_result_is_reported_at_its_word_and_tensor() {
    let arch = arch("sat-small");
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    let prog = random_program(&arch, 20, 7);
    let c = cosim_program(&design, &arch, &prog, 1, None).unwrap();
    assert_eq!(c.mismatch, None);
    let (mut rtl, start, end) = (c.rtl.clone(), c.rtl.start.clone(), c.rtl.end.clone());
    let exact_dram = rtl.dram.clone();
    rtl.dram[1001] ^= 0x40;
    match first_mismatch(&prog, &rtl, &start, &end, &exact_dram) {
        Some(Mismatch::Data { addr, tensor, .. }) => {
            assert_eq!((addr, tensor.as_str()), (1000, "dram"))
        }
        other => panic!("{other:?}"),
    }
    rtl.end[7] += 1;
    match first_mismatch(&prog, &rtl, &start, &end, &exact_dram) {
        Some(Mismatch::Timing { index, .. }) => assert_eq!(index, 7),
        other => panic!("{other:?}"),
    }
}

#[test]
fn programs_with_units_the_core_lacks_are_refused() {
    let arch = arch("sat-small");
    let model = nmsat_compiler::model::load_model("tiny-mlp").unwrap();
    let opts = nmsat_compiler::graph::TrainOptions::dense(4);
    let prog = nmsat_compiler::schedule::compile(&arch, &model, &opts)
        .unwrap()
        .program;
    let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
    assert!(err.starts_with("instruction "), "{err}");
}

#[test]
fn descriptions_the_dma_cannot_time_exactly_are_refused() {
    // sat-vcu1525's link is 64 bytes a cycle: eight words, where the engine moves one.
    let text = nmsat_hw::core_for(&arch("sat-vcu1525"))
        .err()
        .expect("refused")
        .to_string();
    assert!(text.contains("dma.bytes_per_cycle"), "{text}");
    let mut a = arch("sat-small");
    a.dma.setup_cycles = 1;
    let text = nmsat_hw::core_for(&a).err().expect("refused").to_string();
    assert!(text.contains("dma.setup_cycles = 1"), "{text}");
}

#[test]
fn vector_operations_the_unit_cannot_stream_are_refused() {
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::{Buf, VecOp};
    let arch = arch("sat-small");
    let mut prog = nmsat_hw::random_program(&arch, 1, 1);
    let buf = |addr| Buf {
        region: RegionId::Input,
        addr,
        bytes: 64,
    };
    prog.instrs[0].op = Op::Vector {
        op: VecOp::Relu,
        srcs: vec![buf(0)],
        dst: buf(32),
        elems: 32,
        width: 32,
    };
    let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
    assert!(err.contains("overlaps a source"), "{err}");
    // In place is fine, and so are disjoint buffers.
    for dst in [0, 64] {
        if let Op::Vector { dst: d, .. } = &mut prog.instrs[0].op {
            *d = buf(dst);
        }
        nmsat_hw::encode(&arch, &prog).unwrap();
    }
    prog.instrs[0].op = Op::Vector {
        op: VecOp::Softmax,
        srcs: vec![buf(0)],
        dst: buf(64),
        elems: 32,
        width: 32,
    };
    let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
    assert!(err.contains("Relu, ReluGrad, Add and Fill"), "{err}");
}
