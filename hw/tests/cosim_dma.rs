//! The RTL DMA engine and scratchpad against the exact simulator: random loads and stores
//! (unaligned rows, strides, requantizing stores) leave the same DRAM bytes, and every
//! transfer starts and ends in the cycles the exact simulator's schedule gives.

mod common;

use common::{arch, verilate, Rng};
use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::isa::{Buf, Instr, Op, Phase, Program, Tensor, Unit, Xfer, XferShape};
use nmsat_hw::DmaRegion;
use nmsat_sim::exact::Memory;
use rust_hdl::prelude::*;
use std::collections::VecDeque;

const DRAM_BYTES: u64 = 8192;

/// A random transfer between DRAM and the input region.
fn transfer(rng: &mut Rng, requant: bool) -> Xfer {
    let rows = 1 + rng.next_u64() % 6;
    // Requantized rows hold whole INT16 elements, at even addresses.
    let row_bytes = if requant {
        2 * (1 + rng.next_u64() % 20)
    } else {
        1 + rng.next_u64() % 40
    };
    let pad = rng.next_u64() % 24;
    let stride = row_bytes + if requant { pad & !1 } else { pad };
    let span = (rows - 1) * stride + row_bytes;
    let mut dram_addr = rng.next_u64() % (DRAM_BYTES - span);
    if requant {
        dram_addr &= !1;
    }
    let sp_bytes = rows * row_bytes * if requant { 2 } else { 1 };
    let sp_addr = (rng.next_u64() % (4096 - sp_bytes)) & if requant { !3 } else { !0 };
    Xfer {
        dram_addr,
        rows,
        row_bytes,
        dram_stride: stride,
        sp: Buf {
            region: RegionId::Input,
            addr: sp_addr,
            bytes: sp_bytes,
        },
        shape: XferShape::Copy,
    }
}

/// Loads and stores, each waiting for the one before it.
fn program(rng: &mut Rng, pairs: usize) -> Program {
    let mut instrs = Vec::new();
    let (mut loads, mut stores) = (0u32, 0u32);
    for _ in 0..pairs {
        let requant = rng.next_u64().is_multiple_of(3);
        let load = transfer(rng, false);
        // The store reads back a block of the region: the load's, or (requantizing) a wider
        // block at the same place, so accumulators come from loaded bytes.
        let mut store = transfer(rng, requant);
        store.sp.addr = load.sp.addr & !3;
        instrs.push(Instr {
            op: Op::Load { xfer: load },
            waits: vec![(Unit::Store, stores)],
            layer: 0,
            phase: Phase::Ff,
        });
        loads += 1;
        instrs.push(Instr {
            op: Op::Store {
                xfer: store,
                requant,
            },
            waits: vec![(Unit::Load, loads)],
            layer: 0,
            phase: Phase::Ff,
        });
        stores += 1;
    }
    Program {
        arch: "sat-small".into(),
        model: "dma-test".into(),
        batch: 1,
        nm: None,
        layers: vec!["dma".into()],
        tensors: vec![Tensor {
            name: "dram".into(),
            addr: 0,
            bytes: DRAM_BYTES,
            host_init: true,
        }],
        instrs,
    }
}

/// Runs the program's transfers on the RTL back to back; returns (start, end) per transfer.
fn run_rtl(arch: &Arch, prog: &Program, dram: &mut [u8]) -> Vec<(u64, u64)> {
    let mut uut = DmaRegion::new(arch, arch.input.bytes).unwrap();
    uut.connect_all();
    let design = verilate(&uut, "nmsat_dma");
    let mut m = design.instantiate();
    let port = |name: &str| m.input(name).unwrap();
    let [start, store, requant, dram_addr, rows, row_bytes, stride, sp_addr, rvalid, rdata] = [
        "start",
        "store",
        "requant",
        "dram_addr",
        "rows",
        "row_bytes",
        "stride",
        "sp_addr",
        "mem_rvalid",
        "mem_rdata",
    ]
    .map(port);
    let out = |name: &str| m.output(name).unwrap();
    let [valid, write, addr, wdata, wmask, done] = [
        "mem_valid",
        "mem_write",
        "mem_addr",
        "mem_wdata",
        "mem_wmask",
        "done",
    ]
    .map(out);
    let latency = arch.dram.latency;
    let mut answers: VecDeque<(u64, u64, bool)> = VecDeque::new();
    let mut spans = Vec::new();
    let mut next = 0;
    let mut begun = None;
    let mut cycle = 0u64;
    while spans.len() < prog.instrs.len() {
        assert!(cycle < 1_000_000, "the RTL DMA never finished");
        let answer = answers.front().filter(|a| a.0 == cycle).copied();
        if answer.is_some() {
            answers.pop_front();
        }
        m.set(rvalid, answer.is_some() as i64);
        m.set(
            rdata,
            answer.map_or(0, |(_, a, w)| if w { 0 } else { word(dram, a) }) as i64,
        );
        let issue = begun.is_none() && next < prog.instrs.len();
        m.set(start, issue as i64);
        if issue {
            let (x, is_store, rq) = match &prog.instrs[next].op {
                Op::Load { xfer } => (xfer, false, false),
                Op::Store { xfer, requant } => (xfer, true, *requant),
                other => panic!("not a transfer: {other:?}"),
            };
            m.set(store, is_store as i64);
            m.set(requant, rq as i64);
            m.set(dram_addr, x.dram_addr as i64);
            m.set(rows, x.rows as i64);
            m.set(row_bytes, x.row_bytes as i64);
            m.set(stride, x.dram_stride as i64);
            m.set(sp_addr, x.sp.addr as i64);
            begun = Some(cycle);
            next += 1;
        }
        m.eval();
        if m.get(valid) == 1 {
            let a = m.get(addr) as u64;
            let is_write = m.get(write) == 1;
            if is_write {
                let (data, mask) = (m.get(wdata) as u64, m.get(wmask) as u64);
                for j in 0..8 {
                    if mask >> j & 1 == 1 {
                        dram[(a + j) as usize] = (data >> (8 * j)) as u8;
                    }
                }
            }
            answers.push_back((cycle + latency, a, is_write));
        }
        if m.get(done) == 1 {
            spans.push((begun.take().expect("done while idle"), cycle + 1));
        }
        m.step(1);
        cycle += 1;
    }
    spans
}

fn word(dram: &[u8], a: u64) -> u64 {
    u64::from_le_bytes(dram[a as usize..a as usize + 8].try_into().unwrap())
}

#[test]
fn random_transfers_match_the_exact_simulator() {
    let arch = arch("sat-small");
    let mut rng = Rng(5);
    let prog = program(&mut rng, 120);
    let mut mem = Memory::new(&arch, &prog);
    for b in mem.dram.iter_mut() {
        *b = rng.next_u64() as u8;
    }
    let mut dram = mem.dram.clone();
    let run = nmsat_sim::simulate_exact_on(&arch, &prog, &mut mem).unwrap();
    let spans = run_rtl(&arch, &prog, &mut dram);
    for (j, &(s, e)) in spans.iter().enumerate() {
        assert_eq!(
            (s, e),
            (run.schedule.start[j], run.schedule.end[j]),
            "transfer {j}: {:?}",
            prog.instrs[j].op
        );
    }
    let first = (0..dram.len()).find(|&i| dram[i] != mem.dram[i]);
    assert_eq!(first, None, "first differing DRAM byte");
}

#[test]
fn descriptions_the_engine_cannot_time_exactly_are_refused() {
    // sat-vcu1525's link is 64 bytes a cycle: eight words, where the engine moves one.
    let err = DmaRegion::new(&arch("sat-vcu1525"), 4096)
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(text.contains("dma.bytes_per_cycle"), "{text}");
    let mut a = arch("sat-small");
    a.dma.setup_cycles = 1;
    let text = DmaRegion::new(&a, 4096).err().expect("refused").to_string();
    assert!(text.contains("dma.setup_cycles = 1"), "{text}");
}
