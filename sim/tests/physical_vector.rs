//! The vector unit on physically banked regions: a hand-counted conflict, the fast mode's cache
//! of vector operations (buffers of one region move together), and the refusal of what the unit
//! has no schedule for.

use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::isa::{Buf, Instr, Op, Phase, Program, VecOp};
use nmsat_compiler::timing::{op_cycles, vector_cycles};
use nmsat_sim::exact::{Exact, Memory};
use nmsat_sim::fast::Fast;
use nmsat_sim::machine::{run, Schedule};

fn sat_small_physical() -> Arch {
    let text = include_str!("../../configs/arch/sat-small.yaml")
        .replace("latency: 1}", "latency: 1, banking: physical}");
    Arch::parse("sat-small.yaml", &text).unwrap()
}

fn buf(region: RegionId, addr: u64, elems: u64) -> Buf {
    Buf {
        region,
        addr,
        bytes: 2 * elems,
    }
}

fn program(ops: Vec<Op>) -> Program {
    Program {
        arch: "sat-small".into(),
        model: "vector".into(),
        batch: 1,
        nm: None,
        layers: vec!["vector".into()],
        tensors: vec![],
        instrs: ops
            .into_iter()
            .map(|op| Instr {
                op,
                waits: vec![],
                layer: 0,
                phase: Phase::Ff,
            })
            .collect(),
    }
}

/// Fast and exact schedules of `prog`, asserted equal.
fn both(arch: &Arch, prog: &Program) -> Schedule {
    let fast = run(arch, prog, &mut Fast::new(arch)).unwrap();
    let mut mem = Memory::new(arch, prog);
    let exact = run(
        arch,
        prog,
        &mut Exact {
            arch,
            mem: &mut mem,
        },
    )
    .unwrap();
    assert_eq!(fast, exact);
    fast
}

/// An `Add` of two 8-element sources of the input region into the output region.
fn add(b_addr: u64) -> Op {
    Op::Vector {
        op: VecOp::Add,
        srcs: vec![buf(RegionId::Input, 0, 8), buf(RegionId::Input, b_addr, 8)],
        dst: buf(RegionId::Output, 0, 8),
        elems: 8,
        width: 8,
    }
}

/// sat-small's regions: 4 banks of 8 bytes (word w in bank (w + ⌊w/4⌋) mod 4), 4 lanes, so a
/// batch is one word of each source. With b at byte 80 (word 10, bank 0), batch 0 reads words
/// 0 and 10 — both bank 0 — and batch 1 words 1 and 11 — both bank 1: each read step takes 2
/// cycles on the one read copy the Add holds of the input region. The writes (words 0 and 1 of
/// the output region, a cycle later) conflict with nothing. So 4 (`vector_cycles`: latency 2 +
/// ⌈8/4⌉) + 2. With b one bank row on (byte 112, words 14 and 15, banks 1 and 2) every set
/// is served in a cycle; the fast mode's cache must not take the two for one kind (their
/// buffers are each the same within a bank row, but not apart from each other).
#[test]
fn conflicting_sources_take_their_bank_degree() {
    let arch = sat_small_physical();
    assert_eq!(vector_cycles(&arch, VecOp::Add, 8), 4);
    let s = both(&arch, &program(vec![add(80), add(112)]));
    assert_eq!(s.end[0] - s.start[0], 6);
    assert_eq!(s.bank_stall[0], 2);
    assert_eq!(s.end[1] - s.start[1], 4);
    assert_eq!(s.bank_stall[1], 0);
    assert_eq!(op_cycles(&arch, &add(80)), Ok(6));
    // On ideal banks the same operations take `vector_cycles` wherever they lie.
    let ideal = Arch::load("sat-small").unwrap();
    assert_eq!(op_cycles(&ideal, &add(80)), Ok(4));
}

/// An `Add` of four sources has no schedule on the unit's three read ports: on physical banks
/// both modes refuse it, saying why, rather than charge it ideal cycles.
#[test]
fn what_the_unit_cannot_run_is_refused_on_physical_banks() {
    let arch = sat_small_physical();
    let four = Op::Vector {
        op: VecOp::Add,
        srcs: (0..4).map(|i| buf(RegionId::Input, 64 * i, 8)).collect(),
        dst: buf(RegionId::Output, 0, 8),
        elems: 8,
        width: 8,
    };
    let err = op_cycles(&arch, &four).unwrap_err();
    assert!(err.contains("at most three"), "{err}");
    let prog = program(vec![four]);
    let fast = run(&arch, &prog, &mut Fast::new(&arch)).unwrap_err();
    assert!(fast.contains("physically banked"), "{fast}");
    let mut mem = Memory::new(&arch, &prog);
    let exact = run(
        &arch,
        &prog,
        &mut Exact {
            arch: &arch,
            mem: &mut mem,
        },
    )
    .unwrap_err();
    assert!(exact.contains("physically banked"), "{exact}");
}
