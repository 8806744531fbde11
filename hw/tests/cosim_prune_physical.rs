//! The prune unit on physically banked regions (`BankedPruneUnit`), Verilated with two
//! [`RegionHub`]s (the weight and the output region), against the exact simulator's prune unit
//! (`nmsat_sim::exact::prune_unit::run`) on the same `Arch` with every region physical: random
//! weights, random (also odd) addresses, source and destination in one region or two, every
//! pattern sat-small has; the destination region's bytes and the done cycle must be the
//! model's (`timing::prune_cycles_placed`).

mod common;

use common::{scratch, verilate, Rng};
use nmsat_compiler::arch::{Arch, Banking, RegionId};
use nmsat_compiler::isa::{Buf, Instr, Op, Phase, Program, PruneAlong};
use nmsat_compiler::prune::{group_bytes, Nm};
use nmsat_hw::{
    encode, settle, to_verilog, verilator_lint, write_verilog, yosys_check, BankWrite,
    BankedPruneUnit, BankedRegionModel, Model, PruneOp, RegionHub, RegionShape,
};
use nmsat_sim::exact::{prune_unit, Memory};
use nmsat_sim::piuma::Spad;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

const TOP: &str = "prune_physical";
/// Bytes of each region.
const REGION: u64 = 2048;
/// The op fields of the unit, as ports of the top.
const FIELDS: [&str; 15] = [
    "n", "m", "ib", "gb", "total", "per_row", "last_v", "qk", "rem", "remm", "pad", "dstep", "src",
    "dst", "elems",
];

/// The unit with the weight and output regions behind hubs of two units each: unit 0 is the
/// test's loader (its bundles are ports), unit 1 the prune unit. Verilator only: the wiring is
/// its Verilog.
#[derive(LogicBlock)]
struct Top {
    clock: Signal<In, Clock>,
    start: Signal<In, Bit>,
    fields: [Signal<In, Bits<16>>; 15],
    init_c: [Signal<In, Bits<16>>; 4],
    init_elem: [Signal<In, Bits<16>>; 4],
    init_dst: [Signal<In, Bits<16>>; 4],
    wgt_reading: Signal<In, Bits<8>>,
    wgt_writing: Signal<In, Bits<8>>,
    out_reading: Signal<In, Bits<8>>,
    out_writing: Signal<In, Bits<8>>,
    lwen: Vec<Signal<In, Bits<8>>>,
    lwrow: Vec<Signal<In, Bits<16>>>,
    lwdata: Vec<Signal<In, Bits<64>>>,
    lrrow: Vec<Signal<In, Bits<16>>>,
    lrdata: Vec<Signal<Out, Bits<64>>>,
    done: Signal<Out, Bit>,
    pru: BankedPruneUnit,
    wgt: RegionHub,
    out: RegionHub,
}

impl Logic for Top {
    fn update(&mut self) {}
    fn connect(&mut self) {
        self.lrdata.iter_mut().for_each(|s| s.connect());
        self.done.connect();
        let p = &mut self.pru;
        p.n.connect();
        p.m.connect();
        p.ib.connect();
        p.gb.connect();
        p.last_v.connect();
        p.total.connect();
        p.per_row.connect();
        for s in [
            &mut p.qk,
            &mut p.rem,
            &mut p.remm,
            &mut p.pad,
            &mut p.dstep,
            &mut p.src,
            &mut p.dst,
            &mut p.elems,
        ] {
            s.connect();
        }
        p.clock.connect();
        p.start.connect();
        for j in 0..4 {
            p.init_c[j].connect();
            p.init_elem[j].connect();
            p.init_dst[j].connect();
        }
        p.rdata.iter_mut().for_each(|s| s.connect());
        for h in [&mut self.wgt, &mut self.out] {
            h.clock.connect();
            h.reading.connect();
            h.writing.connect();
            h.wen.iter_mut().for_each(|s| s.connect());
            h.wdata.iter_mut().for_each(|s| s.connect());
            h.wrow
                .iter_mut()
                .chain(&mut h.rrow)
                .for_each(|s| s.connect());
        }
    }
    fn hdl(&self) -> Verilog {
        let banks = self.lwen.len();
        let widths = [5, 5, 3, 6, 16, 16, 5, 16, 16, 16, 16, 16, 16, 16, 16];
        let mut v =
            String::from("always @(*) begin\n    pru$clock = clock;\n    pru$start = start;\n");
        for (i, (f, w)) in FIELDS.iter().zip(widths).enumerate() {
            let _ = writeln!(v, "    pru${f} = fields${i}[{}:0];", w - 1);
        }
        for j in 0..4 {
            for f in ["init_c", "init_elem", "init_dst"] {
                let _ = writeln!(v, "    pru${f}${j} = {f}${j};");
            }
        }
        for h in ["wgt", "out"] {
            let _ = writeln!(
                v,
                "    {h}$clock = clock;\n    {h}$reading = {h}_reading;\n    {h}$writing = {h}_writing;"
            );
            for b in 0..banks {
                let p = banks + b;
                let _ = writeln!(
                    v,
                    "    {h}$wen${b} = lwen${b};\n    {h}$wrow${b} = lwrow${b};\n    {h}$wdata${b} = lwdata${b};\n    {h}$rrow${b} = lrrow${b};\n\
                     \x20   {h}$wen${p} = pru$wen${b};\n    {h}$wrow${p} = pru$wrow${b};\n    {h}$wdata${p} = pru$wdata${b};\n    {h}$rrow${p} = pru$rrow${b};"
                );
            }
        }
        for b in 0..banks {
            let p = banks + b;
            let _ = writeln!(
                v,
                "    pru$rdata${b} = wgt$rdata${p} | out$rdata${p};\n    lrdata${b} = wgt$rdata${b} | out$rdata${b};"
            );
        }
        v.push_str("    done = pru$done;\nend\n");
        let narrow: Vec<String> = widths
            .iter()
            .enumerate()
            .filter(|(_, &w)| w < 16)
            .map(|(i, w)| format!("fields${i}[15:{w}]"))
            .collect();
        let _ = writeln!(
            v,
            "wire _unused_bits = &{{1'b0, wgt$fault, out$fault, {}}};",
            narrow.join(", ")
        );
        Verilog::Custom(v)
    }
}

fn top(arch: &Arch, shape: RegionShape) -> Top {
    let banks = shape.banks();
    let mut t = Top {
        clock: Default::default(),
        start: Default::default(),
        fields: Default::default(),
        init_c: Default::default(),
        init_elem: Default::default(),
        init_dst: Default::default(),
        wgt_reading: Default::default(),
        wgt_writing: Default::default(),
        out_reading: Default::default(),
        out_writing: Default::default(),
        lwen: (0..banks).map(|_| Default::default()).collect(),
        lwrow: (0..banks).map(|_| Default::default()).collect(),
        lwdata: (0..banks).map(|_| Default::default()).collect(),
        lrrow: (0..banks).map(|_| Default::default()).collect(),
        lrdata: (0..banks).map(|_| Default::default()).collect(),
        done: Default::default(),
        pru: BankedPruneUnit::for_arch(arch).unwrap_or_else(|e| panic!("{e}")),
        wgt: RegionHub::new(2, shape).unwrap(),
        out: RegionHub::new(2, shape).unwrap(),
    };
    t.connect_all();
    t
}

/// sat-small with every region physical, `banks` × `width`, and the prune unit's settings.
fn arch(banks: u64, width: u64, groups: u64, latency: u64) -> Arch {
    let mut a = common::arch("sat-small");
    for r in [&mut a.weight, &mut a.input, &mut a.output] {
        (r.banks, r.bank_width_bytes, r.bytes) = (banks, width, REGION);
        r.banking = Banking::Physical;
    }
    (a.prune_groups_per_cycle, a.prune_latency) = (groups, latency);
    a
}

/// The weight (0) and output (1) regions with the unit, on either simulation.
trait Bench {
    /// Writes every byte of a region.
    fn load(&mut self, region: usize, bytes: &[u8]);
    /// Every byte of a region.
    fn dump(&mut self, region: usize) -> Vec<u8>;
    /// Issues `op` (`elems` = rows·k) from region `src` to region `dst`, and returns the
    /// cycles to its `done`, issue cycle included.
    fn run(&mut self, op: &PruneOp, elems: u64, src: usize, dst: usize) -> u64;
}

/// The op's fields in the order of [`FIELDS`].
fn field_values(f: &PruneOp, elems: u64) -> [u16; 15] {
    [
        f.n.into(),
        f.m.into(),
        f.ib.into(),
        f.gb.into(),
        f.total,
        f.per_row,
        f.last_v.into(),
        f.qk,
        f.rem,
        f.remm,
        f.pad,
        f.dstep,
        f.src.1,
        f.dst.1,
        elems as u16,
    ]
}

/// The Verilated top.
struct Verilated {
    m: Model,
    banks: usize,
    width: usize,
}

impl Verilated {
    fn set(&mut self, port: &str, value: u64) {
        let i = self.m.input(port).unwrap();
        self.m.set(i, value as i64);
    }

    fn hubs(&mut self, wgt: (u64, u64), out: (u64, u64)) {
        self.set("wgt_reading", wgt.0);
        self.set("wgt_writing", wgt.1);
        self.set("out_reading", out.0);
        self.set("out_writing", out.1);
    }
}

impl Bench for Verilated {
    /// Through the loader, a bank row a cycle.
    fn load(&mut self, region: usize, bytes: &[u8]) {
        let hub = 1u64 << region;
        self.hubs((0, hub & 1), (0, hub >> 1));
        let row_bytes = self.banks * self.width;
        for (row, chunk) in bytes.chunks(row_bytes).enumerate() {
            for b in 0..self.banks {
                // Bank b of this row holds the word whose skewed bank is b.
                let w = (0..self.banks)
                    .find(|&i| (i + row) % self.banks == b)
                    .unwrap();
                let word = &chunk[w * self.width..(w + 1) * self.width];
                let data = word
                    .iter()
                    .rev()
                    .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
                self.set(&format!("lwen${b}"), (1 << self.width) - 1);
                self.set(&format!("lwrow${b}"), row as u64);
                self.set(&format!("lwdata${b}"), data);
            }
            self.m.step(1);
        }
        for b in 0..self.banks {
            self.set(&format!("lwen${b}"), 0);
        }
        self.hubs((0, 0), (0, 0));
        self.m.step(1);
    }

    fn dump(&mut self, region: usize) -> Vec<u8> {
        let len = REGION as usize;
        let hub = 1u64 << region;
        self.hubs((hub & 1, 0), (hub >> 1, 0));
        let row_bytes = self.banks * self.width;
        let mut out = vec![0u8; len];
        for row in 0..len / row_bytes {
            for b in 0..self.banks {
                self.set(&format!("lrrow${b}"), row as u64);
            }
            self.m.step(1);
            for b in 0..self.banks {
                let data = self.m.get(self.m.output(&format!("lrdata${b}")).unwrap()) as u64;
                let w = (0..self.banks)
                    .find(|&i| (i + row) % self.banks == b)
                    .unwrap();
                for j in 0..self.width {
                    out[row * row_bytes + w * self.width + j] = (data >> (8 * j)) as u8;
                }
            }
        }
        self.hubs((0, 0), (0, 0));
        out
    }

    fn run(&mut self, op: &PruneOp, elems: u64, src: usize, dst: usize) -> u64 {
        let f = op;
        for (i, v) in field_values(f, elems).iter().enumerate() {
            self.set(&format!("fields${i}"), u64::from(*v));
        }
        for j in 0..4 {
            self.set(&format!("init_c${j}"), f.init_c[j].into());
            self.set(&format!("init_elem${j}"), f.init_elem[j].into());
            self.set(&format!("init_dst${j}"), f.init_dst[j].into());
        }
        // The unit is unit 1 of each hub: a read copy of the source, the destination's port.
        let (r, w) = (2u64, 2u64);
        let bit = |region: usize, want: usize, v: u64| if region == want { v } else { 0 };
        self.hubs(
            (bit(src, 0, r), bit(dst, 0, w)),
            (bit(src, 1, r), bit(dst, 1, w)),
        );
        self.set("start", 1);
        let done = self.m.output("done").unwrap();
        for cycle in 1..100_000 {
            self.m.eval();
            if cycle > 1 && self.m.get(done) == 1 {
                self.m.step(1);
                self.hubs((0, 0), (0, 0));
                return cycle;
            }
            self.m.step(1);
            self.set("start", 0);
        }
        panic!("the prune never completed");
    }
}

fn region_id(i: usize) -> RegionId {
    [RegionId::Weight, RegionId::Output][i]
}

/// Random prunes: each op's destination region and done cycle against the model.
fn random_prunes(bench: &mut dyn Bench, arch: &Arch, ops: usize, seed: u64) {
    let arch = arch.clone();
    let (banks, width) = (arch.weight.banks, arch.weight.bank_width_bytes);
    let (groups, latency) = (arch.prune_groups_per_cycle, arch.prune_latency);
    let mut rng = Rng(seed);
    let mut mem = Memory {
        dram: Vec::new(),
        sp: RegionId::ALL.map(|r| Spad::new(arch.region(r).scratchpad())),
    };
    for r in 0..2 {
        let bytes: Vec<u8> = (0..REGION).map(|_| rng.next_u64() as u8).collect();
        let whole = Buf {
            region: region_id(r),
            addr: 0,
            bytes: REGION,
        };
        mem.sp_mut(&whole).copy_from_slice(&bytes);
        bench.load(r, &bytes);
    }
    let patterns: Vec<Nm> = arch.patterns.clone();
    let mut slow = 0;
    for i in 0..ops {
        let nm = patterns[i % patterns.len()];
        let rows = 1 + rng.next_u64() % 7;
        let k = 1 + rng.next_u64() % 45;
        let dense = 2 * rows * k;
        let packed = rows * k.div_ceil(nm.m) * group_bytes(nm) as u64;
        let (src, dst) = ((rng.next_u64() % 2) as usize, (rng.next_u64() % 2) as usize);
        let src_addr = rng.next_u64() % (REGION / 2 - dense);
        // In one region the destination lies in the other half, so the two never overlap.
        let dst_addr = if src == dst {
            REGION / 2 + rng.next_u64() % (REGION / 2 - packed)
        } else {
            rng.next_u64() % (REGION - packed)
        };
        let src_buf = Buf {
            region: region_id(src),
            addr: src_addr,
            bytes: dense,
        };
        let dst_buf = Buf {
            region: region_id(dst),
            addr: dst_addr,
            bytes: packed,
        };
        let op = Op::Prune {
            src: src_buf,
            dst: dst_buf,
            rows,
            k,
            nm,
            along: PruneAlong::Input,
        };
        let prog = Program {
            arch: arch.name.clone(),
            model: "random".into(),
            batch: 1,
            nm: None,
            layers: Vec::new(),
            tensors: Vec::new(),
            instrs: vec![Instr {
                op,
                waits: Vec::new(),
                layer: 0,
                phase: Phase::Prune,
            }],
        };
        let queued = encode(&arch, &prog).unwrap_or_else(|e| panic!("{e}"));
        let fields = queued
            .0
            .iter()
            .flatten()
            .find_map(|q| q.prune)
            .expect("a prune");
        let want = prune_unit::run(&arch, &mut mem, &src_buf, &dst_buf, rows, k, nm).unwrap();
        let cycles = bench.run(&fields, rows * k, src, dst);
        let what = format!(
            "op {i}: {nm} {rows}×{k} from {src}:{src_addr} to {dst}:{dst_addr} on {banks}×{width}, \
             G {groups}, latency {latency}"
        );
        assert_eq!(cycles, want.cycles, "{what}: cycles");
        slow += u64::from(want.bank_stall > 0);
        let whole = Buf {
            region: region_id(dst),
            addr: 0,
            bytes: REGION,
        };
        let got = bench.dump(dst);
        let expect = mem.sp(&whole);
        if let Some(at) = (0..REGION as usize).find(|&a| got[a] != expect[a]) {
            panic!(
                "{what}: byte {at} is {:#04x}, the model's {:#04x}",
                got[at], expect[at]
            );
        }
    }
    // The runs must exercise the stalls, not only single-cycle steps.
    assert!(slow * 4 > ops as u64, "only {slow} of {ops} ops stalled");
}

/// Verilates the top of `arch`'s unit and runs `ops` random prunes on it.
fn verilated_prunes(arch: &Arch, ops: usize, seed: u64) {
    let (banks, width) = (
        arch.weight.banks as usize,
        arch.weight.bank_width_bytes as usize,
    );
    let shape = RegionShape::new(REGION, banks, width, 2).unwrap();
    let design = verilate(&top(arch, shape), TOP);
    let mut bench = Verilated {
        m: design.instantiate(),
        banks,
        width,
    };
    random_prunes(&mut bench, arch, ops, seed);
}

/// sat-small's unit: its latency of 2 runs at the banked 4 (`timing::prune_latency_banked`).
#[test]
fn four_banks_of_8_bytes_four_groups_latency_2() {
    verilated_prunes(&arch(4, 8, 4, 2), 60, 1);
}

#[test]
fn eight_banks_of_4_bytes_two_groups_latency_6() {
    verilated_prunes(&arch(8, 4, 2, 6), 60, 2);
}

/// The unit on rust-hdl's simulation, its regions [`BankedRegionModel`]s of one copy.
struct Simulated {
    uut: BankedPruneUnit,
    regions: [BankedRegionModel; 2],
}

impl Simulated {
    fn cycle(&mut self, writes: usize, reads: usize) {
        let (uut, banks) = (&mut self.uut, self.regions[0].shape().banks());
        uut.clock.next = false.into();
        settle(uut);
        let rows: Vec<u16> = uut.rrow.iter().map(|s| s.val().index() as u16).collect();
        let bundle: Vec<BankWrite> = (0..banks)
            .map(|b| BankWrite {
                enables: uut.wen[b].val().index() as u8,
                row: uut.wrow[b].val().index() as u16,
                data: uut.wdata[b].val().to_u64(),
            })
            .collect();
        let none = vec![BankWrite::default(); banks];
        for (r, region) in self.regions.iter_mut().enumerate() {
            let w = if r == writes { &bundle } else { &none };
            let rd = if r == reads {
                rows.clone()
            } else {
                vec![0; banks]
            };
            region.step(w, &rd).unwrap();
        }
        uut.clock.next = true.into();
        settle(uut);
        for b in 0..banks {
            uut.rdata[b].next = bits(self.regions[reads].rdata(0, b));
        }
    }
}

impl Bench for Simulated {
    fn load(&mut self, region: usize, bytes: &[u8]) {
        let m = &mut self.regions[region];
        let s = m.shape();
        for row in 0..s.depth() {
            let writes: Vec<BankWrite> = (0..s.banks())
                .map(|b| BankWrite {
                    enables: 0xff,
                    row: row as u16,
                    data: (0..s.width()).fold(0, |acc, j| {
                        acc | u64::from(bytes[s.address(b, row, j) as usize]) << (8 * j)
                    }),
                })
                .collect();
            m.step(&writes, &vec![0; s.banks()]).unwrap();
        }
    }

    fn dump(&mut self, region: usize) -> Vec<u8> {
        (0..REGION)
            .map(|a| self.regions[region].byte(0, a))
            .collect()
    }

    fn run(&mut self, op: &PruneOp, elems: u64, src: usize, dst: usize) -> u64 {
        let u = &mut self.uut;
        let v = field_values(op, elems).map(u64::from);
        (u.n.next, u.m.next, u.ib.next) = (bits(v[0]), bits(v[1]), bits(v[2]));
        (u.gb.next, u.total.next, u.per_row.next) = (bits(v[3]), bits(v[4]), bits(v[5]));
        (u.last_v.next, u.qk.next, u.rem.next) = (bits(v[6]), bits(v[7]), bits(v[8]));
        (u.remm.next, u.pad.next, u.dstep.next) = (bits(v[9]), bits(v[10]), bits(v[11]));
        (u.src.next, u.dst.next, u.elems.next) = (bits(v[12]), bits(v[13]), bits(v[14]));
        for j in 0..4 {
            u.init_c[j].next = bits(op.init_c[j].into());
            u.init_elem[j].next = bits(op.init_elem[j].into());
            u.init_dst[j].next = bits(op.init_dst[j].into());
        }
        u.start.next = true;
        for cycle in 1..100_000 {
            self.uut.clock.next = false.into();
            settle(&mut self.uut);
            let done = cycle > 1 && self.uut.done.val();
            self.cycle(dst, src);
            self.uut.start.next = false;
            if done {
                return cycle;
            }
        }
        panic!("the prune never completed");
    }
}

#[test]
fn rust_hdl_simulation_matches_the_model_on_two_banks_of_8_bytes() {
    let arch = arch(2, 8, 3, 5);
    let shape = RegionShape::new(REGION, 2, 8, 1).unwrap();
    let mut uut = BankedPruneUnit::for_arch(&arch).unwrap();
    uut.connect_all();
    let mut bench = Simulated {
        uut,
        regions: [BankedRegionModel::new(shape), BankedRegionModel::new(shape)],
    };
    random_prunes(&mut bench, &arch, 12, 3);
}

#[test]
fn a_banked_prune_unit_passes_the_external_checks() {
    let arch = arch(2, 8, 3, 5);
    let shape = RegionShape::new(REGION, 2, 8, 2).unwrap();
    let uut = top(&arch, shape);
    let file = scratch("prune_physical").join(format!("{TOP}.v"));
    write_verilog(&to_verilog(&uut, TOP).unwrap(), &file).unwrap();
    let files = [file];
    verilator_lint(&files, TOP).unwrap_or_else(|e| panic!("{e}"));
    yosys_check(&files, TOP).unwrap_or_else(|e| panic!("{e}"));
}
