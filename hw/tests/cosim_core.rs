//! The whole core (controller, DMA engine, scratchpad regions) against the exact simulator on
//! random programs of loads and stores with random waits: every instruction issues and
//! completes in the same cycles, and the DRAM ends up the same.

mod common;

use common::{arch, options};
use nmsat_compiler::isa::{Op, XferShape};
use nmsat_hw::{build_core, cosim_program, first_mismatch, transfer_program, Mismatch};

#[test]
fn random_transfer_programs_match_the_exact_simulator() {
    let arch = arch("sat-small");
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    for seed in 0..6 {
        let prog = transfer_program(&arch, 60, 100 + seed);
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

#[test]
fn a_wrong_result_is_reported_at_its_word_and_tensor() {
    let arch = arch("sat-small");
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    let prog = transfer_program(&arch, 20, 7);
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
    let err = nmsat_hw::encode(&prog).unwrap_err().to_string();
    assert!(err.starts_with("instruction "), "{err}");
}

#[test]
fn descriptions_the_dma_cannot_time_exactly_are_refused() {
    // sat-vcu1525's link is 64 bytes a cycle: eight words, where the engine moves one.
    let text = nmsat_hw::Core::new(&arch("sat-vcu1525"))
        .err()
        .expect("refused")
        .to_string();
    assert!(text.contains("dma.bytes_per_cycle"), "{text}");
    let mut a = arch("sat-small");
    a.dma.setup_cycles = 1;
    let text = nmsat_hw::Core::new(&a).err().expect("refused").to_string();
    assert!(text.contains("dma.setup_cycles = 1"), "{text}");
}
