//! The vector unit on physically banked regions (`BankedVectorUnit`), Verilated with a
//! [`BankedRegion`] per region (two copies: the unit's, and one the test dumps through),
//! against the exact simulator's vector unit (`nmsat_sim::exact::vector_unit::run`) on the
//! same `Arch` with every region physical: the vector instructions of random programs (every
//! `VecOp` the encoder accepts; sources in one region and in several, even addresses at any
//! byte of a bank word, element counts of any remainder by the lanes) on random bytes. Every
//! byte of every region and the done cycle (`timing::vector_cycles_banked`) must be the
//! model's.

mod common;

use common::{scratch, verilate, Rng, VEC_OPS};
use nmsat_compiler::arch::{Arch, Banking, RegionId};
use nmsat_compiler::isa::{Buf, Op, Unit};
use nmsat_hw::{
    core_vector_fields, encode, random_program, to_verilog, verilator_lint, write_verilog,
    yosys_check, BankedRegion, BankedVectorUnit, Model, VectorOp, CORE_VECTOR_FIELDS,
    VECTOR_FIELDS,
};
use nmsat_sim::exact::{vector_unit, Memory};
use nmsat_sim::piuma::Spad;
use rust_hdl::prelude::*;
use std::collections::BTreeSet;
use std::fmt::Write as _;

const TOP: &str = "vector_physical";
/// Bytes of each region.
const REGION: u64 = 2048;

/// The unit with a region per region id: the unit reads copy 0, the test copy 1, and the
/// test's loader writes the regions `lsel` picks in place of the unit. Verilator only: the
/// wiring is its Verilog.
#[derive(LogicBlock)]
struct Top {
    clock: Signal<In, Clock>,
    start: Signal<In, Bit>,
    fields: [Signal<In, Bits<32>>; 26],
    region: [Signal<In, Bits<2>>; 5],
    lsel: Signal<In, Bits<3>>,
    lwen: Vec<Signal<In, Bits<8>>>,
    lwrow: Vec<Signal<In, Bits<16>>>,
    lwdata: Vec<Signal<In, Bits<64>>>,
    lrrow: Vec<Signal<In, Bits<16>>>,
    /// Region r's bank b (copy 1) at `r·B + b`.
    lrdata: Vec<Signal<Out, Bits<64>>>,
    done: Signal<Out, Bit>,
    bvu: BankedVectorUnit,
    rg0: BankedRegion,
    rg1: BankedRegion,
    rg2: BankedRegion,
}

impl Logic for Top {
    fn update(&mut self) {}
    fn connect(&mut self) {
        self.lrdata.iter_mut().for_each(|s| s.connect());
        self.done.connect();
        self.bvu.connect_inputs();
        for r in [&mut self.rg0, &mut self.rg1, &mut self.rg2] {
            r.clock.connect();
            r.wen.iter_mut().for_each(|s| s.connect());
            r.wrow.iter_mut().for_each(|s| s.connect());
            r.wdata.iter_mut().for_each(|s| s.connect());
            r.rrow.iter_mut().for_each(|s| s.connect());
        }
    }
    fn hdl(&self) -> Verilog {
        let banks = self.lwen.len();
        let mut v =
            String::from("always @(*) begin\n    bvu$clock = clock;\n    bvu$start = start;\n");
        let mut unused = Vec::new();
        for (i, (f, w)) in VECTOR_FIELDS.iter().enumerate() {
            let _ = writeln!(v, "    bvu${f} = fields${i}[{}:0];", w - 1);
            if *w < 32 {
                unused.push(format!("fields${i}[31:{w}]"));
            }
        }
        for k in 0..5 {
            let _ = writeln!(v, "    bvu$region${k} = region${k};");
        }
        for r in 0..3 {
            let _ = writeln!(v, "    rg{r}$clock = clock;");
            for b in 0..banks {
                let (i, c1) = (r * banks + b, banks + b);
                let _ = writeln!(
                    v,
                    "    rg{r}$wen${b} = lsel[{r}] ? lwen${b} : bvu$wen${i};\n\
                     \x20   rg{r}$wrow${b} = lsel[{r}] ? lwrow${b} : bvu$wrow${i};\n\
                     \x20   rg{r}$wdata${b} = lsel[{r}] ? lwdata${b} : bvu$wdata${i};\n\
                     \x20   rg{r}$rrow${b} = bvu$rrow${i};\n    rg{r}$rrow${c1} = lrrow${b};\n\
                     \x20   bvu$rdata${i} = rg{r}$rdata${b};\n    lrdata${i} = rg{r}$rdata${c1};"
                );
            }
        }
        v.push_str("    done = bvu$done;\nend\n");
        let _ = writeln!(v, "wire _unused_bits = &{{1'b0, {}}};", unused.join(", "));
        Verilog::Custom(v)
    }
}

fn top(arch: &Arch) -> Top {
    let (banks, width) = (
        arch.weight.banks as usize,
        arch.weight.bank_width_bytes as usize,
    );
    let region = || BankedRegion::new(REGION, banks, width, 2).unwrap();
    let mut t = Top {
        clock: Default::default(),
        start: Default::default(),
        fields: Default::default(),
        region: Default::default(),
        lsel: Default::default(),
        lwen: (0..banks).map(|_| Default::default()).collect(),
        lwrow: (0..banks).map(|_| Default::default()).collect(),
        lwdata: (0..banks).map(|_| Default::default()).collect(),
        lrrow: (0..banks).map(|_| Default::default()).collect(),
        lrdata: (0..3 * banks).map(|_| Default::default()).collect(),
        done: Default::default(),
        bvu: BankedVectorUnit::for_arch(arch).unwrap_or_else(|e| panic!("{e}")),
        rg0: region(),
        rg1: region(),
        rg2: region(),
    };
    t.connect_all();
    t
}

/// sat-small with every region physical, `banks` × `width`, and `lanes` vector lanes.
fn arch(banks: u64, width: u64, lanes: u64) -> Arch {
    let mut a = common::arch("sat-small");
    for r in [&mut a.weight, &mut a.input, &mut a.output] {
        (r.banks, r.bank_width_bytes, r.bytes) = (banks, width, REGION);
        r.banking = Banking::Physical;
    }
    a.vector_lanes = lanes;
    a
}

/// The op's field values in the order of [`VECTOR_FIELDS`], and its five regions: the core's
/// instruction fields of the same names (`v_<field>`, `v_<buffer>_region`).
fn field_values(v: &VectorOp) -> (Vec<u64>, Vec<u64>) {
    let core = core_vector_fields(v);
    let value = |name: String| {
        let i = CORE_VECTOR_FIELDS.iter().position(|&n| n == name);
        core[i.unwrap_or_else(|| panic!("no core field {name}"))] as u64
    };
    (
        VECTOR_FIELDS
            .iter()
            .map(|(f, _)| value(format!("v_{f}")))
            .collect(),
        ["src0", "src1", "src2", "src3", "dst"]
            .iter()
            .map(|b| value(format!("v_{b}_region")))
            .collect(),
    )
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

    /// The word of a bank row that bank `b` holds (skewed: row `row` rotated by `row`).
    fn word_in(&self, row: usize, b: usize) -> usize {
        (0..self.banks)
            .find(|&i| (i + row) % self.banks == b)
            .unwrap()
    }

    /// Writes every byte of a region, a bank row a cycle.
    fn load(&mut self, region: usize, bytes: &[u8]) {
        self.set("lsel", 1 << region);
        let row_bytes = self.banks * self.width;
        for (row, chunk) in bytes.chunks(row_bytes).enumerate() {
            for b in 0..self.banks {
                let w = self.word_in(row, b);
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
        self.set("lsel", 0);
    }

    /// Every byte of a region, through its second copy.
    fn dump(&mut self, region: usize) -> Vec<u8> {
        let row_bytes = self.banks * self.width;
        let mut out = vec![0u8; REGION as usize];
        for row in 0..REGION as usize / row_bytes {
            for b in 0..self.banks {
                self.set(&format!("lrrow${b}"), row as u64);
            }
            self.m.step(1);
            for b in 0..self.banks {
                let name = format!("lrdata${}", region * self.banks + b);
                let data = self.m.get(self.m.output(&name).unwrap()) as u64;
                let w = self.word_in(row, b);
                for j in 0..self.width {
                    out[row * row_bytes + w * self.width + j] = (data >> (8 * j)) as u8;
                }
            }
        }
        out
    }

    /// Issues `v` and returns the cycles to its `done`, issue cycle included.
    fn run(&mut self, v: &VectorOp) -> u64 {
        let (fields, regions) = field_values(v);
        for (i, x) in fields.iter().enumerate() {
            self.set(&format!("fields${i}"), *x);
        }
        for (k, r) in regions.iter().enumerate() {
            self.set(&format!("region${k}"), *r);
        }
        self.set("start", 1);
        let done = self.m.output("done").unwrap();
        for cycle in 1..100_000 {
            self.m.eval();
            if cycle > 1 && self.m.get(done) == 1 {
                self.m.step(1);
                return cycle;
            }
            self.m.step(1);
            self.set("start", 0);
        }
        panic!("{v:?} never completed");
    }
}

/// The name of a `VecOp` without its fields.
fn kind(op: &Op) -> String {
    let name = match op {
        Op::Vector { op, .. } => format!("{op:?}"),
        _ => unreachable!("the vector queue holds vector operations"),
    };
    name[..name.find([' ', '{']).unwrap_or(name.len())].to_string()
}

/// The vector instructions of random programs `seeds` on `arch`'s unit, on random bytes: the
/// regions' bytes and the done cycle after each against the exact simulator; the operations
/// drawn go into `covered`.
fn random_vectors(arch: &Arch, seeds: std::ops::Range<u64>, covered: &mut BTreeSet<String>) {
    let (banks, width) = (
        arch.weight.banks as usize,
        arch.weight.bank_width_bytes as usize,
    );
    let design = verilate(&top(arch), TOP);
    let mut bench = Verilated {
        m: design.instantiate(),
        banks,
        width,
    };
    let mut rng = Rng(seeds.start);
    let mut mem = Memory {
        dram: Vec::new(),
        sp: RegionId::ALL.map(|r| Spad::new(arch.region(r).scratchpad())),
    };
    let whole = |r: usize| Buf {
        region: RegionId::ALL[r],
        addr: 0,
        bytes: REGION,
    };
    for r in 0..3 {
        assert_eq!(RegionId::ALL[r] as usize, r, "the encoder's region codes");
        let bytes: Vec<u8> = (0..REGION).map(|_| rng.next_u64() as u8).collect();
        mem.sp_mut(&whole(r)).copy_from_slice(&bytes);
        bench.load(r, &bytes);
    }
    let (mut ops, mut slow) = (0, 0);
    for seed in seeds {
        let prog = random_program(arch, 60, seed);
        let queues = encode(arch, &prog).unwrap_or_else(|e| panic!("{e}"));
        for q in &queues.0[Unit::Vector.index()] {
            let (op, v) = (&prog.instrs[q.index].op, q.vector.as_ref().unwrap());
            let Op::Vector {
                op: vop,
                srcs,
                dst,
                elems,
                width: w,
            } = op
            else {
                unreachable!()
            };
            let want = vector_unit::run(arch, &mut mem, *vop, srcs, dst, *elems, *w)
                .unwrap_or_else(|e| panic!("{e}"));
            let cycles = bench.run(v);
            let what = format!(
                "seed {seed}: {op:?} on {banks}×{width}, {} lanes",
                arch.vector_lanes
            );
            assert_eq!(cycles, want.cycles, "{what}: cycles");
            for r in 0..3 {
                let got = bench.dump(r);
                let expect = mem.sp(&whole(r));
                if let Some(at) = (0..REGION as usize).find(|&a| got[a] != expect[a]) {
                    panic!(
                        "{what}: region {r} byte {at} is {:#04x}, the model's {:#04x}",
                        got[at], expect[at]
                    );
                }
            }
            covered.insert(kind(op));
            // Port 1 switching regions within an operation: source 3 apart from source 1.
            if v.src3.is_some_and(|s3| Some(s3.0) != v.src1.map(|s1| s1.0)) {
                covered.insert("source 3 in its own region".into());
            }
            let regions: BTreeSet<_> = srcs.iter().chain([dst]).map(|b| b.region).collect();
            covered.insert(format!("{} regions", regions.len().min(2)));
            ops += 1;
            slow += u64::from(want.bank_stall > 0);
        }
    }
    // The runs must exercise steps of several rounds, not only single-cycle ones: random
    // programs' operations are short, and a fifth of them stall on the wider banks.
    assert!(slow * 5 > ops, "only {slow} of {ops} ops stalled");
    eprintln!("{banks}×{width}: {slow} of {ops} ops stalled");
}

#[test]
fn banked_vector_unit_matches_the_exact_simulator() {
    let mut covered = BTreeSet::new();
    random_vectors(&arch(4, 8, 4), 0..40, &mut covered);
    random_vectors(&arch(8, 4, 8), 40..70, &mut covered);
    random_vectors(&arch(2, 8, 8), 70..90, &mut covered);
    let all =
        VEC_OPS
            .iter()
            .copied()
            .chain(["source 3 in its own region", "1 regions", "2 regions"]);
    let missing: Vec<_> = all.filter(|o| !covered.contains(*o)).collect();
    assert!(missing.is_empty(), "not drawn: {missing:?}");
}

#[test]
fn banked_vector_unit_passes_the_external_checks() {
    // Whole 8-byte words, and 4-byte ones whose upper port bits the servers waive.
    for (banks, width, lanes) in [(2, 8, 2), (8, 4, 8)] {
        let uut = top(&arch(banks, width, lanes));
        let file = scratch(&format!("vector_physical_{banks}x{width}")).join(format!("{TOP}.v"));
        write_verilog(&to_verilog(&uut, TOP).unwrap(), &file).unwrap();
        let files = [file];
        verilator_lint(&files, TOP).unwrap_or_else(|e| panic!("{e}"));
        yosys_check(&files, TOP).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_bank_word_of_one_byte_is_refused() {
    match BankedVectorUnit::for_arch(&arch(4, 1, 4)) {
        Err(e) => assert!(e.to_string().contains("bank_width_bytes"), "{e}"),
        Ok(_) => panic!("one-byte words accepted"),
    }
}
