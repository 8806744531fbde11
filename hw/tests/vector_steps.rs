//! The vector unit's ports cycle by cycle against `nmsat_compiler::vector_steps`, the schedule
//! the model charges physically banked regions by: Verilator runs [`VectorUnit`] on the vector
//! instructions of random programs (every `VecOp`), encoded as the core encodes them. In every
//! cycle each read port and the window port the schedule names holds the address the schedule
//! says, each write port writes exactly the bytes it says (and nothing where it says nothing),
//! and `done` comes `vector_cycles` after the issue, after every step. Half the programs run
//! with `hold` raised at random: a held cycle repeats the outputs of the step it holds, never
//! completes the operation, and leaves the schedule after it unchanged.

mod common;

use common::{arch, verilate, Rng, VEC_OPS};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::{Op, Unit, VecOp};
use nmsat_compiler::timing::vector_cycles;
use nmsat_compiler::vector_steps::{steps, Port, Step};
use nmsat_hw::{encode, random_program, Model, VectorOp, VectorUnit};
use rust_hdl::prelude::*;
use std::collections::BTreeSet;

const TOP: &str = "vector_steps_top";

/// The unit with its instruction fields and its memory ports as ports, the wide data in 64-bit
/// pieces (low first).
#[derive(LogicBlock)]
struct Top {
    clock: Signal<In, Clock>,
    start: Signal<In, Bit>,
    hold: Signal<In, Bit>,
    op: Signal<In, Bits<5>>,
    src0: Signal<In, Bits<16>>,
    src1: Signal<In, Bits<16>>,
    src2: Signal<In, Bits<16>>,
    two: Signal<In, Bit>,
    dst: Signal<In, Bits<16>>,
    elems: Signal<In, Bits<16>>,
    lr: Signal<In, Bits<32>>,
    mu: Signal<In, Bits<32>>,
    lambda: Signal<In, Bits<32>>,
    recip: Signal<In, Bits<17>>,
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
    /// Ports 0, 1 and 2's data, two pieces each.
    rdata: [Signal<In, Bits<64>>; 6],
    rdata3: [Signal<In, Bits<64>>; 2],
    rbytes: [Signal<Out, Bits<5>>; 3],
    rsrc3: Signal<Out, Bit>,
    gaddr: Signal<Out, Bits<16>>,
    gbytes: Signal<Out, Bits<7>>,
    gdata: [Signal<In, Bits<64>>; 8],
    we: [Signal<Out, Bits<16>>; 2],
    waddr: [Signal<Out, Bits<16>>; 2],
    /// Write ports 0 and 1's data, two pieces each.
    wdata: [Signal<Out, Bits<64>>; 4],
    vu: VectorUnit,
}

impl Logic for Top {
    #[hdl_gen]
    fn update(&mut self) {
        self.vu.clock.next = self.clock.val();
        self.vu.start.next = self.start.val();
        self.vu.hold.next = self.hold.val();
        self.vu.op.next = self.op.val();
        self.vu.src0.next = self.src0.val();
        self.vu.src1.next = self.src1.val();
        self.vu.src2.next = self.src2.val();
        self.vu.two.next = self.two.val();
        self.vu.dst.next = self.dst.val();
        self.vu.elems.next = self.elems.val();
        self.vu.lr.next = self.lr.val();
        self.vu.mu.next = self.mu.val();
        self.vu.lambda.next = self.lambda.val();
        self.vu.srste.next = self.srste.val();
        self.vu.n.next = self.n.val();
        self.vu.m.next = self.m.val();
        self.vu.classes.next = self.classes.val();
        self.vu.batch.next = self.batch.val();
        self.vu.taps.next = self.taps.val();
        self.vu.total.next = self.total.val();
        self.vu.recip.next = self.recip.val();
        self.vu.pbase.next = self.pbase.val();
        self.vu.pstep.next = self.pstep.val();
        self.vu.prow.next = self.prow.val();
        self.vu.kb.next = self.kb.val();
        self.vu.src3.next = self.src3.val();
        self.vu.width.next = self.width.val();
        self.vu.trows.next = self.trows.val();
        self.vu.rows.next = self.rows.val();
        for p in 0..3 {
            self.raddr[p].next = self.vu.raddr[p].val();
            self.rbytes[p].next = self.vu.rbytes[p].val();
        }
        self.rsrc3.next = self.vu.rsrc3.val();
        self.gbytes.next = self.vu.gbytes.val();
        self.vu.rdata[0].next = bit_cast::<128, 64>(self.rdata[0].val())
            | (bit_cast::<128, 64>(self.rdata[1].val()) << 64);
        self.vu.rdata[1].next = bit_cast::<128, 64>(self.rdata[2].val())
            | (bit_cast::<128, 64>(self.rdata[3].val()) << 64);
        self.vu.rdata[2].next = bit_cast::<128, 64>(self.rdata[4].val())
            | (bit_cast::<128, 64>(self.rdata[5].val()) << 64);
        self.vu.rdata3.next = bit_cast::<128, 64>(self.rdata3[0].val())
            | (bit_cast::<128, 64>(self.rdata3[1].val()) << 64);
        self.vu.gdata.next = bit_cast::<512, 64>(self.gdata[0].val())
            | (bit_cast::<512, 64>(self.gdata[1].val()) << 64)
            | (bit_cast::<512, 64>(self.gdata[2].val()) << 128)
            | (bit_cast::<512, 64>(self.gdata[3].val()) << 192)
            | (bit_cast::<512, 64>(self.gdata[4].val()) << 256)
            | (bit_cast::<512, 64>(self.gdata[5].val()) << 320)
            | (bit_cast::<512, 64>(self.gdata[6].val()) << 384)
            | (bit_cast::<512, 64>(self.gdata[7].val()) << 448);
        self.gaddr.next = self.vu.gaddr.val();
        for w in 0..2 {
            self.we[w].next = self.vu.we[w].val();
            self.waddr[w].next = self.vu.waddr[w].val();
        }
        self.wdata[0].next = self.vu.wdata[0].val().get_bits::<64>(0);
        self.wdata[1].next = self.vu.wdata[0].val().get_bits::<64>(64);
        self.wdata[2].next = self.vu.wdata[1].val().get_bits::<64>(0);
        self.wdata[3].next = self.vu.wdata[1].val().get_bits::<64>(64);
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
        ("lr", (v.lr as u32).into()),
        ("mu", (v.mu as u32).into()),
        ("lambda", (v.lambda as u32).into()),
        ("recip", p.recip.into()),
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

/// Runs `op` (encoded as `v`), checking every cycle against its steps; with `holds`, each
/// step is first held for 0 to 2 cycles drawn from it.
fn check(model: &mut Model, arch: &Arch, op: &Op, v: &VectorOp, mut holds: Option<&mut Rng>) {
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
    let total = vector_cycles(arch, *vop, *elems);
    assert!(
        sched.steps.len() < total as usize,
        "{vop:?}: steps outlast the operation"
    );
    let stats_on_1 = matches!(vop, VecOp::BatchNormGrad { .. });
    let hold = input(model, "hold");
    for c in 1..total {
        let held = holds.as_mut().map_or(0, |r| r.next_u64() % 5 / 2);
        for h in (0..=held).rev() {
            model.set(hold, (h > 0).into());
            model.eval();
            step_ports(model, &sched.steps, stats_on_1, c, total, h > 0, || {
                format!("{vop:?} of {elems} (width {width}), cycle τ+{c}, {h} held left")
            });
            model.step(1);
        }
    }
    model.set(hold, 0);
}

/// The ports in cycle τ+`c` of an operation of `total` cycles: the accesses of its step
/// `c − 1` (`stats_on_1`: batch norm's gradient, whose port 1 reads source 3 beside port 2)
/// and, unless `held`, `done` exactly in the last cycle.
fn step_ports(
    model: &mut Model,
    steps: &[Step],
    stats_on_1: bool,
    c: u64,
    total: u64,
    held: bool,
    what: impl Fn() -> String,
) {
    let out = |m: &Model, name: &str| m.get(m.output(name).unwrap()) as u64;
    let s = steps
        .get(c as usize - 1)
        .map_or(&[][..], |s| &s.accesses[..]);
    let at = |port: Port| s.iter().find(|a| a.port == port);
    let ctx = || format!("{}: {s:?}", what());
    for p in 0..3 {
        if let Some(a) = at(Port::Read(p)) {
            let got = out(model, &format!("raddr${p}"));
            assert_eq!(got, a.addr & 0xFFFF, "read port {p}: {}", ctx());
        }
        let bytes = at(Port::Read(p)).map_or(0, |a| a.bytes);
        let got = out(model, &format!("rbytes${p}"));
        assert_eq!(got, bytes, "read port {p}'s bytes: {}", ctx());
    }
    // Only batch norm's gradient reads port 1 beside port 2: its gradient statistics.
    let src3 = stats_on_1 && at(Port::Read(2)).is_some() && at(Port::Read(1)).is_some();
    assert_eq!(
        out(model, "rsrc3") == 1,
        src3,
        "source 3 on port 1: {}",
        ctx()
    );
    if let Some(a) = at(Port::Window) {
        assert_eq!(out(model, "gaddr"), a.addr & 0xFFFF, "window: {}", ctx());
    }
    let bytes = at(Port::Window).map_or(0, |a| a.bytes);
    assert_eq!(out(model, "gbytes"), bytes, "window bytes: {}", ctx());
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
    assert_eq!(
        out(model, "done") == 1,
        !held && c == total - 1,
        "done: {}",
        ctx()
    );
}

/// The unit of `arch`, wrapped.
fn top(arch: &Arch) -> Top {
    Top {
        clock: Default::default(),
        start: Default::default(),
        hold: Default::default(),
        op: Default::default(),
        src0: Default::default(),
        src1: Default::default(),
        src2: Default::default(),
        two: Default::default(),
        dst: Default::default(),
        elems: Default::default(),
        lr: Default::default(),
        mu: Default::default(),
        lambda: Default::default(),
        recip: Default::default(),
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
        rdata: Default::default(),
        rdata3: Default::default(),
        rbytes: Default::default(),
        rsrc3: Default::default(),
        gaddr: Default::default(),
        gbytes: Default::default(),
        gdata: Default::default(),
        we: Default::default(),
        waddr: Default::default(),
        wdata: Default::default(),
        vu: VectorUnit::new(arch.vector_lanes, arch.vector_latency, arch.frac_bits),
    }
}

#[test]
fn the_unit_reads_and_writes_what_vector_steps_schedules() {
    let mut covered = BTreeSet::new();
    let mut rng = Rng(7);
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
                let holds = (seed % 2 == 1).then_some(&mut rng);
                check(&mut model, &arch, op, q.vector.as_ref().unwrap(), holds);
                if let Op::Vector { op, .. } = op {
                    let name = format!("{op:?}");
                    covered.insert(name[..name.find([' ', '{']).unwrap_or(name.len())].to_string());
                }
            }
        }
    }
    let all = VEC_OPS;
    let missing: Vec<_> = all.iter().filter(|o| !covered.contains(**o)).collect();
    assert!(missing.is_empty(), "not drawn: {missing:?}");
}

/// Three 64 KiB regions behind the unit, read and written the way a held step is: the reads of
/// a released cycle (the last cycle of a step) are answered for the whole next step, and only
/// a released cycle writes.
struct Regions(Vec<Vec<u8>>);

impl Regions {
    fn random(rng: &mut Rng) -> Self {
        Self(
            (0..3)
                .map(|_| (0..1 << 16).map(|_| rng.next_u64() as u8).collect())
                .collect(),
        )
    }

    /// `n` bytes of `region` from `addr` (16-bit addresses wrap), little-endian pieces.
    fn pieces(&self, region: u8, addr: u64, n: usize) -> Vec<i64> {
        let r = &self.0[region as usize];
        (0..n / 8)
            .map(|k| {
                let b = |i: usize| u64::from(r[(addr as usize + 8 * k + i) & 0xFFFF]) << (8 * i);
                (0..8).map(b).fold(0, |a, x| a | x) as i64
            })
            .collect()
    }
}

/// The operation `op` (encoded as `v`) from its issue to its completion on `mem`, each step
/// held for 0 to 2 cycles drawn from `holds` (if any): the cycles it takes without the held
/// ones. A released cycle's ports must be its step's, a held cycle's those of the cycle that
/// releases it (but `done`), and a held cycle never completes.
fn run_data(
    model: &mut Model,
    arch: &Arch,
    op: &Op,
    v: &VectorOp,
    mem: &mut Regions,
    mut holds: Option<&mut Rng>,
) -> u64 {
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
    let total = vector_cycles(arch, *vop, *elems);
    let stats_on_1 = matches!(vop, VecOp::BatchNormGrad { .. });
    let input = |m: &Model, name: &str| m.input(name).unwrap();
    let out = |m: &Model, name: &str| m.get(m.output(name).unwrap());
    for (name, value) in fields(v) {
        let i = input(model, name);
        model.set(i, value);
    }
    let region = |b: Option<(u8, u16)>| b.map_or(0, |b| b.0);
    let (r0, r1, r2, r3, rd) = (
        Some(v.src0).map(|b| b.0).unwrap_or(0),
        region(v.src1),
        region(v.src2),
        region(v.src3),
        v.dst.0,
    );
    let names: Vec<String> = ["raddr$0", "raddr$1", "raddr$2", "gaddr"]
        .into_iter()
        .map(String::from)
        .chain((0..2).flat_map(|w| [format!("we${w}"), format!("waddr${w}")]))
        .chain((0..4).map(|k| format!("wdata${k}")))
        .collect();
    let (start, hold) = (input(model, "start"), input(model, "hold"));
    model.set(start, 1);
    let mut cycles = 0;
    loop {
        let held = holds.as_mut().map_or(0, |r| r.next_u64() % 5 / 2);
        let mut seen: Option<Vec<i64>> = None;
        for h in (0..=held).rev() {
            model.set(hold, (h > 0 && cycles > 0).into());
            model.eval();
            let now: Vec<i64> = names.iter().map(|n| out(model, n)).collect();
            if let Some(before) = &seen {
                assert_eq!(
                    before, &now,
                    "a held cycle of {v:?} differs from its release"
                );
            }
            if h > 0 && cycles > 0 {
                assert_eq!(out(model, "done"), 0, "{v:?} completed in a held cycle");
                seen = Some(now);
                model.step(1);
            }
        }
        // Released: the step's ports are the schedule's whatever the data (a unit with its data
        // tied to zero can walk the addresses ahead of one that computes), and the reads of
        // this cycle (before its writes) answer the next step.
        if cycles > 0 {
            step_ports(
                model,
                &sched.steps,
                stats_on_1,
                cycles,
                total,
                false,
                || format!("{vop:?} of {elems} (width {width}) on data, cycle τ+{cycles}"),
            );
        }
        let addr = |m: &Model, n: &str| out(m, n) as u64 & 0xFFFF;
        let (a0, a1, a2, g) = (
            addr(model, "raddr$0"),
            addr(model, "raddr$1"),
            addr(model, "raddr$2"),
            addr(model, "gaddr"),
        );
        let answers = [
            (
                "rdata",
                [
                    mem.pieces(r0, a0, 16),
                    mem.pieces(r1, a1, 16),
                    mem.pieces(r2, a2, 16),
                ]
                .concat(),
            ),
            ("rdata3", mem.pieces(r3, a1, 16)),
            ("gdata", mem.pieces(r0, g, 64)),
        ];
        for w in 0..2 {
            let we = out(model, &format!("we${w}")) as u64;
            let base = addr(model, &format!("waddr${w}"));
            let data = [0, 1].map(|k| out(model, &format!("wdata${}", 2 * w + k)) as u64);
            for i in (0..16).filter(|i| we >> i & 1 == 1) {
                mem.0[rd as usize][(base as usize + i) & 0xFFFF] =
                    (data[i / 8] >> (8 * (i % 8))) as u8;
            }
        }
        let done = out(model, "done") == 1 && cycles > 0;
        model.set(hold, 0);
        model.step(1);
        model.set(start, 0);
        cycles += 1;
        if done {
            return cycles;
        }
        assert!(cycles < 1 << 16, "{v:?} never completes");
        for (port, pieces) in answers {
            for (k, x) in pieces.into_iter().enumerate() {
                let i = input(model, &format!("{port}${k}"));
                model.set(i, x);
            }
        }
    }
}

#[test]
fn a_held_unit_computes_and_writes_what_it_does_unheld() {
    let mut rng = Rng(11);
    let mut codes = BTreeSet::new();
    for (lanes, seeds) in [(4, 0..6), (8, 6..9)] {
        let mut arch = arch("sat-small");
        arch.vector_lanes = lanes;
        let mut top = top(&arch);
        top.connect_all();
        let design = verilate(&top, TOP);
        let (mut free, mut held) = (design.instantiate(), design.instantiate());
        for seed in seeds {
            let prog = random_program(&arch, 60, seed);
            let queues = encode(&arch, &prog).unwrap();
            let mut a = Regions::random(&mut rng);
            let mut b = Regions(a.0.clone());
            for q in &queues.0[Unit::Vector.index()] {
                let (op, v) = (&prog.instrs[q.index].op, q.vector.as_ref().unwrap());
                codes.insert(v.op);
                let plain = run_data(&mut free, &arch, op, v, &mut a, None);
                let stretched = run_data(&mut held, &arch, op, v, &mut b, Some(&mut rng));
                assert_eq!(plain, stretched, "{v:?}: cycles without the held ones");
                assert!(a.0 == b.0, "{v:?}: held, the unit wrote other bytes");
            }
        }
    }
    assert_eq!(codes.len(), 20, "operation codes drawn: {codes:?}");
}
