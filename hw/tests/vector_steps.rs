//! The vector unit's ports cycle by cycle against `nmsat_compiler::vector_steps`, the schedule
//! the model charges physically banked regions by: Verilator runs [`VectorUnit`] on the vector
//! instructions of random programs (every `VecOp`), encoded as the core encodes them. In every
//! cycle each read port and the window port the schedule names holds the address the schedule
//! says, each write port writes exactly the bytes it says (and nothing where it says nothing),
//! and `done` comes `vector_cycles` after the issue, after every step.

mod common;

use common::{arch, verilate};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::{Op, Unit};
use nmsat_compiler::timing::vector_cycles;
use nmsat_compiler::vector_steps::{steps, Port};
use nmsat_hw::{encode, random_program, Model, VectorOp, VectorUnit};
use rust_hdl::prelude::*;
use std::collections::BTreeSet;

const TOP: &str = "vector_steps_top";

/// The unit with its instruction fields as ports, its read data tied to zero (addresses do not
/// depend on data) and its address and write-enable outputs.
#[derive(LogicBlock)]
struct Top {
    clock: Signal<In, Clock>,
    start: Signal<In, Bit>,
    op: Signal<In, Bits<5>>,
    src0: Signal<In, Bits<16>>,
    src1: Signal<In, Bits<16>>,
    src2: Signal<In, Bits<16>>,
    two: Signal<In, Bit>,
    dst: Signal<In, Bits<16>>,
    elems: Signal<In, Bits<16>>,
    srste: Signal<In, Bit>,
    n: Signal<In, Bits<5>>,
    m: Signal<In, Bits<5>>,
    classes: Signal<In, Bits<16>>,
    batch: Signal<In, Bits<16>>,
    taps: Signal<In, Bits<8>>,
    total: Signal<In, Bits<16>>,
    pbase: Signal<In, Bits<8>>,
    pstep: Signal<In, Bits<8>>,
    prow: Signal<In, Bits<8>>,
    kb: Signal<In, Bits<8>>,
    src3: Signal<In, Bits<16>>,
    width: Signal<In, Bits<16>>,
    trows: Signal<In, Bits<16>>,
    rows: Signal<In, Bits<16>>,
    done: Signal<Out, Bit>,
    raddr: [Signal<Out, Bits<16>>; 3],
    gaddr: Signal<Out, Bits<16>>,
    we: [Signal<Out, Bits<16>>; 2],
    waddr: [Signal<Out, Bits<16>>; 2],
    vu: VectorUnit,
}

impl Logic for Top {
    #[hdl_gen]
    fn update(&mut self) {
        self.vu.clock.next = self.clock.val();
        self.vu.start.next = self.start.val();
        self.vu.op.next = self.op.val();
        self.vu.src0.next = self.src0.val();
        self.vu.src1.next = self.src1.val();
        self.vu.src2.next = self.src2.val();
        self.vu.two.next = self.two.val();
        self.vu.dst.next = self.dst.val();
        self.vu.elems.next = self.elems.val();
        self.vu.lr.next = 0.into();
        self.vu.mu.next = 0.into();
        self.vu.lambda.next = 0.into();
        self.vu.srste.next = self.srste.val();
        self.vu.n.next = self.n.val();
        self.vu.m.next = self.m.val();
        self.vu.classes.next = self.classes.val();
        self.vu.batch.next = self.batch.val();
        self.vu.taps.next = self.taps.val();
        self.vu.total.next = self.total.val();
        self.vu.recip.next = 0.into();
        self.vu.pbase.next = self.pbase.val();
        self.vu.pstep.next = self.pstep.val();
        self.vu.prow.next = self.prow.val();
        self.vu.kb.next = self.kb.val();
        self.vu.src3.next = self.src3.val();
        self.vu.width.next = self.width.val();
        self.vu.trows.next = self.trows.val();
        self.vu.rows.next = self.rows.val();
        for p in 0..3 {
            self.vu.rdata[p].next = 0.into();
            self.raddr[p].next = self.vu.raddr[p].val();
        }
        self.vu.rdata3.next = 0.into();
        self.vu.gdata.next = 0.into();
        self.gaddr.next = self.vu.gaddr.val();
        for w in 0..2 {
            self.we[w].next = self.vu.we[w].val();
            self.waddr[w].next = self.vu.waddr[w].val();
        }
        self.done.next = self.vu.done.val();
    }
}

fn fields(v: &VectorOp) -> Vec<(&'static str, i64)> {
    let s = v.srste.map_or((0, 0), |s| (s.n, s.m));
    let p = v.pool.unwrap_or_default();
    vec![
        ("op", v.op.into()),
        ("src0", v.src0.1.into()),
        ("src1", v.src1.unwrap_or((0, 0)).1.into()),
        ("src2", v.src2.unwrap_or((0, 0)).1.into()),
        ("two", v.src1.is_some().into()),
        ("dst", v.dst.1.into()),
        ("elems", v.elems.into()),
        ("srste", v.srste.is_some().into()),
        ("n", s.0.into()),
        ("m", s.1.into()),
        ("classes", v.classes.into()),
        ("batch", v.batch.into()),
        ("taps", p.taps.into()),
        ("total", p.total.into()),
        ("pbase", p.base.into()),
        ("pstep", p.step.into()),
        ("prow", p.row.into()),
        ("kb", p.kb.into()),
        ("src3", v.src3.unwrap_or((0, 0)).1.into()),
        ("width", v.width.into()),
        ("trows", v.trows.into()),
        ("rows", v.rows.into()),
    ]
}

fn check(model: &mut Model, arch: &Arch, op: &Op, v: &VectorOp) {
    let Op::Vector {
        op: vop,
        srcs,
        dst,
        elems,
        width,
    } = op
    else {
        unreachable!("the vector queue holds vector operations")
    };
    let sched = steps(arch, *vop, srcs, dst, *elems, *width).unwrap();
    let input = |m: &Model, name: &str| m.input(name).unwrap();
    for (name, value) in fields(v) {
        let i = input(model, name);
        model.set(i, value);
    }
    let start = input(model, "start");
    model.set(start, 1);
    model.step(1);
    model.set(start, 0);
    model.eval();
    let out = |m: &Model, name: &str| m.get(m.output(name).unwrap()) as u64;
    let total = vector_cycles(arch, *vop, *elems);
    assert!(
        sched.steps.len() < total as usize,
        "{vop:?}: steps outlast the operation"
    );
    for c in 1..total {
        let s = sched
            .steps
            .get(c as usize - 1)
            .map_or(&[][..], |s| &s.accesses[..]);
        let at = |port: Port| s.iter().find(|a| a.port == port);
        let ctx = || format!("{vop:?} of {elems} (width {width}), cycle τ+{c}: {s:?}");
        for p in 0..3 {
            if let Some(a) = at(Port::Read(p)) {
                let got = out(model, &format!("raddr${p}"));
                assert_eq!(got, a.addr & 0xFFFF, "read port {p}: {}", ctx());
            }
        }
        if let Some(a) = at(Port::Window) {
            assert_eq!(out(model, "gaddr"), a.addr & 0xFFFF, "window: {}", ctx());
        }
        for w in 0..2 {
            let (we, addr) = (
                out(model, &format!("we${w}")),
                out(model, &format!("waddr${w}")),
            );
            match at(Port::Write(w)) {
                Some(a) => assert_eq!(
                    (addr, we),
                    (a.addr & 0xFFFF, (1 << a.bytes) - 1),
                    "write port {w}: {}",
                    ctx()
                ),
                None => assert_eq!(we, 0, "write port {w} unscheduled: {}", ctx()),
            }
        }
        assert_eq!(out(model, "done") == 1, c == total - 1, "done: {}", ctx());
        model.step(1);
    }
}

/// The unit of `arch`, wrapped.
fn top(arch: &Arch) -> Top {
    Top {
        clock: Default::default(),
        start: Default::default(),
        op: Default::default(),
        src0: Default::default(),
        src1: Default::default(),
        src2: Default::default(),
        two: Default::default(),
        dst: Default::default(),
        elems: Default::default(),
        srste: Default::default(),
        n: Default::default(),
        m: Default::default(),
        classes: Default::default(),
        batch: Default::default(),
        taps: Default::default(),
        total: Default::default(),
        pbase: Default::default(),
        pstep: Default::default(),
        prow: Default::default(),
        kb: Default::default(),
        src3: Default::default(),
        width: Default::default(),
        trows: Default::default(),
        rows: Default::default(),
        done: Default::default(),
        raddr: Default::default(),
        gaddr: Default::default(),
        we: Default::default(),
        waddr: Default::default(),
        vu: VectorUnit::new(arch.vector_lanes, arch.vector_latency, arch.frac_bits),
    }
}

#[test]
fn the_unit_reads_and_writes_what_vector_steps_schedules() {
    let mut covered = BTreeSet::new();
    for (lanes, seeds) in [(4, 0..10), (8, 10..16), (2, 16..20)] {
        let mut arch = arch("sat-small");
        arch.vector_lanes = lanes;
        let mut top = top(&arch);
        top.connect_all();
        let design = verilate(&top, TOP);
        let mut model = design.instantiate();
        for seed in seeds {
            let prog = random_program(&arch, 60, seed);
            let queues = encode(&arch, &prog).unwrap();
            for q in &queues.0[Unit::Vector.index()] {
                let op = &prog.instrs[q.index].op;
                check(&mut model, &arch, op, q.vector.as_ref().unwrap());
                if let Op::Vector { op, .. } = op {
                    let name = format!("{op:?}");
                    covered.insert(name[..name.find([' ', '{']).unwrap_or(name.len())].to_string());
                }
            }
        }
    }
    let all = [
        "Add",
        "BatchGradStats",
        "BatchNorm",
        "BatchNormGrad",
        "BatchStats",
        "Fill",
        "Gelu",
        "GeluGrad",
        "Loss",
        "MaskDecay",
        "Norm",
        "NormGrad",
        "Pool",
        "PoolGrad",
        "Relu",
        "ReluGrad",
        "Sgd",
        "Softmax",
        "SoftmaxGrad",
    ];
    let missing: Vec<_> = all.iter().filter(|o| !covered.contains(**o)).collect();
    assert!(missing.is_empty(), "not drawn: {missing:?}");
}
