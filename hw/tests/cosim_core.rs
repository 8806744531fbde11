//! The whole core (controller, DMA engine, scratchpad regions) against the exact simulator on
//! random programs of loads and stores with random waits: every instruction issues and
//! completes in the same cycles, and the DRAM ends up the same.

mod common;

use common::{arch, options, Rng};
use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::isa::{Buf, Instr, Op, Phase, Program, Tensor, Unit, Xfer, XferShape};
use nmsat_hw::{build_core, first_mismatch, run_core, Mismatch};
use nmsat_sim::exact::Memory;

const DRAM_BYTES: u64 = 16384;

fn transfer(rng: &mut Rng, requant: bool) -> Xfer {
    let rows = 1 + rng.next_u64() % 8;
    let row_bytes = if requant {
        2 * (1 + rng.next_u64() % 24)
    } else {
        1 + rng.next_u64() % 64
    };
    let pad = rng.next_u64() % 40;
    let stride = row_bytes + if requant { pad & !1 } else { pad };
    let span = (rows - 1) * stride + row_bytes;
    let dram_addr = (rng.next_u64() % (DRAM_BYTES - span)) & if requant { !1 } else { !0 };
    let sp_bytes = rows * row_bytes * if requant { 2 } else { 1 };
    let region = RegionId::ALL[rng.next_u64() as usize % 3];
    let sp_addr = (rng.next_u64() % (8192 - sp_bytes)) & if requant { !3 } else { !0 };
    Xfer {
        dram_addr,
        rows,
        row_bytes,
        dram_stride: stride,
        sp: Buf {
            region,
            addr: sp_addr,
            bytes: sp_bytes,
        },
        shape: XferShape::Copy,
    }
}

/// `n` loads and stores; each waits on random earlier instructions of either queue.
fn program(rng: &mut Rng, n: usize) -> Program {
    let mut instrs = Vec::new();
    let mut done = [0u32; 2];
    for _ in 0..n {
        let store = rng.next_u64().is_multiple_of(2);
        let mut waits = Vec::new();
        for (q, unit) in [Unit::Load, Unit::Store].into_iter().enumerate() {
            if done[q] > 0 && rng.next_u64().is_multiple_of(2) {
                waits.push((unit, 1 + (rng.next_u64() % u64::from(done[q])) as u32));
            }
        }
        let op = if store {
            let requant = rng.next_u64().is_multiple_of(3);
            Op::Store {
                xfer: transfer(rng, requant),
                requant,
            }
        } else {
            Op::Load {
                xfer: transfer(rng, false),
            }
        };
        done[store as usize] += 1;
        instrs.push(Instr {
            op,
            waits,
            layer: 0,
            phase: Phase::Ff,
        });
    }
    Program {
        arch: "sat-small".into(),
        model: "transfers".into(),
        batch: 1,
        nm: None,
        layers: vec!["transfers".into()],
        tensors: vec![Tensor {
            name: "dram".into(),
            addr: 0,
            bytes: DRAM_BYTES,
            host_init: true,
        }],
        instrs,
    }
}

fn exact(arch: &Arch, prog: &Program, rng: &mut Rng) -> (Vec<u8>, Memory, Vec<u64>, Vec<u64>) {
    let mut mem = Memory::new(arch, prog);
    for b in mem.dram.iter_mut() {
        *b = rng.next_u64() as u8;
    }
    let init = mem.dram.clone();
    let run = nmsat_sim::simulate_exact_on(arch, prog, &mut mem).unwrap();
    (init, mem, run.schedule.start, run.schedule.end)
}

#[test]
fn random_transfer_programs_match_the_exact_simulator() {
    let arch = arch("sat-small");
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Rng(21);
    for case in 0..6 {
        let prog = program(&mut rng, 60);
        let (init, mem, start, end) = exact(&arch, &prog, &mut rng);
        let rtl = run_core(&design, &arch, &prog, init, None).unwrap();
        assert_eq!(
            first_mismatch(&prog, &rtl, &start, &end, &mem.dram),
            None,
            "case {case}"
        );
        // Loads and stores contend for the DRAM: the run is not just a sum of transfers.
        assert_eq!(rtl.cycles, *end.iter().max().unwrap());
    }
}

#[test]
fn a_wrong_result_is_reported_at_its_word_and_tensor() {
    let arch = arch("sat-small");
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Rng(3);
    let prog = program(&mut rng, 20);
    let (init, mem, start, end) = exact(&arch, &prog, &mut rng);
    let mut rtl = run_core(&design, &arch, &prog, init, None).unwrap();
    rtl.dram[1001] ^= 0x40;
    match first_mismatch(&prog, &rtl, &start, &end, &mem.dram) {
        Some(Mismatch::Data { addr, tensor, .. }) => {
            assert_eq!((addr, tensor.as_str()), (1000, "dram"))
        }
        other => panic!("{other:?}"),
    }
    rtl.end[7] += 1;
    match first_mismatch(&prog, &rtl, &start, &end, &mem.dram) {
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
