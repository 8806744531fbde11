//! The array unit on physically banked regions (`PhysicalArrayUnit`), Verilated in one top with
//! an input, a weight and an output `BankedRegion`, against the exact array (`run_gemm` with the
//! same `GemmPlacement`): random GEMMs (dense, 1:4, 2:4, 2:8; shapes that are not multiples of
//! the array; accumulating or not; t from 1 up to two bank rows of x) at random placements —
//! unaligned to bank rows, rows an odd or an even number of bank rows apart — on two array
//! sizes and two region shapes. Every word of y and the cycle of `done` must match: `done`
//! comes in cycle `run_gemm(..).cycles − 1` after the issue cycle 0, as the ideal unit's does
//! (the model charges the two cycles its fetches run late, `timing::ws_fetch_lead`, and the
//! output buffer's writes after the last result, `timing::ws_output_tail`). The harness loads
//! y through the output region's write port and reads it back through a second read copy.

mod common;

use common::{resized, scratch, Rng};
use nmsat_compiler::arch::{skewed_bank, Arch, Banking, Region};
use nmsat_compiler::prune::{self, Nm};
use nmsat_compiler::timing::{GemmPlacement, WsPlaced};
use nmsat_hw::{
    forward_depth, to_verilog, verilator_lint, write_verilog, yosys_check, BankedRegion, GemmOp,
    HwError, Model, PhysicalArrayUnit, GEMM_FIELDS,
};
use nmsat_sim::exact::array::run_gemm;
use rust_hdl::prelude::*;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

const TOP: &str = "phys_array_top";
const LANES: usize = 8;

/// The unit and its two regions; the harness loads a region through its write port (`xw_*`,
/// `ww_*`), which the unit never drives.
#[derive(LogicBlock)]
struct Top {
    clock: Signal<In, Clock>,
    start: Signal<In, Bit>,
    g: [Signal<In, Bits<16>>; GEMM_FIELDS],
    done: Signal<Out, Bit>,
    yr_rrow: Vec<Signal<In, Bits<16>>>,
    yr_rdata: Vec<Signal<Out, Bits<64>>>,
    yw_wen: Vec<Signal<In, Bits<8>>>,
    yw_wrow: Vec<Signal<In, Bits<16>>>,
    yw_wdata: Vec<Signal<In, Bits<64>>>,
    xw_wen: Vec<Signal<In, Bits<8>>>,
    xw_wrow: Vec<Signal<In, Bits<16>>>,
    xw_wdata: Vec<Signal<In, Bits<64>>>,
    ww_wen: Vec<Signal<In, Bits<8>>>,
    ww_wrow: Vec<Signal<In, Bits<16>>>,
    ww_wdata: Vec<Signal<In, Bits<64>>>,
    unit: PhysicalArrayUnit<LANES>,
    xreg: BankedRegion,
    wreg: BankedRegion,
    yreg: BankedRegion,
}

fn sigs<T: Synth, D: Direction>(n: usize) -> Vec<Signal<D, T>> {
    (0..n).map(|_| Default::default()).collect()
}

fn region(r: &Region, copies: usize) -> BankedRegion {
    BankedRegion::new(
        r.bytes,
        r.banks as usize,
        r.bank_width_bytes as usize,
        copies,
    )
    .unwrap()
}

impl Top {
    fn new(arch: &Arch) -> Top {
        let (xb, wb, yb) = (
            arch.input.banks as usize,
            arch.weight.banks as usize,
            arch.output.banks as usize,
        );
        Top {
            clock: Default::default(),
            start: Default::default(),
            g: Default::default(),
            done: Default::default(),
            yr_rrow: sigs(yb),
            yr_rdata: sigs(yb),
            yw_wen: sigs(yb),
            yw_wrow: sigs(yb),
            yw_wdata: sigs(yb),
            xw_wen: sigs(xb),
            xw_wrow: sigs(xb),
            xw_wdata: sigs(xb),
            ww_wen: sigs(wb),
            ww_wrow: sigs(wb),
            ww_wdata: sigs(wb),
            unit: PhysicalArrayUnit::new(arch).unwrap(),
            xreg: region(&arch.input, 1),
            wreg: region(&arch.weight, 1),
            yreg: region(&arch.output, 2),
        }
    }
}

impl Logic for Top {
    // Only the Verilog is simulated (Verilator); the wiring is the Verilog's.
    fn update(&mut self) {}

    fn connect(&mut self) {
        let u = &mut self.unit;
        u.clock.connect();
        u.start.connect();
        u.g.iter_mut().for_each(|s| s.connect());
        u.x_rdata.iter_mut().for_each(|s| s.connect());
        u.w_rdata.iter_mut().for_each(|s| s.connect());
        u.y_rdata.iter_mut().for_each(|s| s.connect());
        for r in [&mut self.xreg, &mut self.wreg, &mut self.yreg] {
            r.clock.connect();
            r.wen.iter_mut().for_each(|s| s.connect());
            r.wrow.iter_mut().for_each(|s| s.connect());
            r.wdata.iter_mut().for_each(|s| s.connect());
            r.rrow.iter_mut().for_each(|s| s.connect());
        }
        self.done.connect();
        self.yr_rdata.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        let mut v = String::from(
            "always @(*) begin\n    unit$clock = clock;\n    xreg$clock = clock;\n    \
             wreg$clock = clock;\n    yreg$clock = clock;\n    unit$start = start;\n    \
             done = unit$done;\n",
        );
        for i in 0..GEMM_FIELDS {
            let _ = writeln!(v, "    unit$g${i} = g${i};");
        }
        // The harness writes y only while the unit is idle.
        let yb = self.yw_wen.len();
        for b in 0..yb {
            let _ = writeln!(
                v,
                "    yreg$wen${b} = yw_wen${b} | unit$y_wen${b};\n    \
                 yreg$wrow${b} = (yw_wen${b} != 8'd0) ? yw_wrow${b} : unit$y_wrow${b};\n    \
                 yreg$wdata${b} = (yw_wen${b} != 8'd0) ? yw_wdata${b} : unit$y_wdata${b};\n    \
                 yreg$rrow${b} = unit$y_rrow${b};\n    unit$y_rdata${b} = yreg$rdata${b};\n    \
                 yreg$rrow${} = yr_rrow${b};\n    yr_rdata${b} = yreg$rdata${};",
                yb + b,
                yb + b
            );
        }
        for (reg, load, port) in [("xreg", "xw", "x"), ("wreg", "ww", "w")] {
            let banks = if port == "x" {
                self.xw_wen.len()
            } else {
                self.ww_wen.len()
            };
            for b in 0..banks {
                let _ = writeln!(
                    v,
                    "    {reg}$wen${b} = {load}_wen${b};\n    {reg}$wrow${b} = {load}_wrow${b};\n    \
                     {reg}$wdata${b} = {load}_wdata${b};\n    {reg}$rrow${b} = unit${port}_rrow${b};\n    \
                     unit${port}_rdata${b} = {reg}$rdata${b};"
                );
            }
        }
        v.push_str("end\n");
        Verilog::Custom(v)
    }
}

/// `sat-small` resized to `rows × cols` (8 lanes, the patterns the test runs), with its input
/// and weight regions physical and made of `banks` banks of `width` bytes, its output region
/// physical and made of `y_banks` banks of `y_width` bytes.
fn physical_arch(rows: u64, cols: u64, (banks, width): (u64, u64), y: (u64, u64)) -> Arch {
    let mut a = resized(rows, cols, LANES as u64);
    a.patterns
        .retain(|nm| [(1, 4), (2, 4), (2, 8)].contains(&(nm.n, nm.m)));
    for r in [&mut a.input, &mut a.weight] {
        (r.banks, r.bank_width_bytes, r.ports) = (banks, width, 1);
        r.banking = Banking::Physical;
    }
    (a.output.banks, a.output.bank_width_bytes, a.output.ports) = (y.0, y.1, 1);
    a.output.banking = Banking::Physical;
    a
}

/// The top of `arch`, Verilated (a missing Verilator fails with the install command).
fn verilated(arch: &Arch) -> Arc<nmsat_hw::Design> {
    let mut top = Top::new(arch);
    top.connect_all();
    common::verilate(&top, &format!("{TOP}_{}", arch.name.replace('-', "_")))
}

/// One GEMM: its shape, operands and where they lie.
#[derive(Debug, Clone)]
struct Gemm {
    m: usize,
    k: usize,
    t: usize,
    nm: Option<Nm>,
    accumulate: bool,
    x_at: u64,
    w_at: u64,
    y_at: u64,
}

/// The Verilated top with byte images of the three regions.
struct Bench {
    m: Model,
    idx: HashMap<String, usize>,
    arch: Arch,
}

impl Bench {
    fn get(&self, name: &str) -> u64 {
        self.m.get(self.idx[name]) as u64
    }

    fn set(&mut self, name: &str, value: u64) {
        let i = self.idx[name];
        self.m.set(i, value as i64);
    }

    /// Writes `bytes` at byte `at` of a region through its write port, a word a cycle.
    fn load(&mut self, port: &str, r: &Region, image: &[u8], at: u64, len: u64) {
        let (w, b) = (r.bank_width_bytes, r.banks);
        for word in at / w..(at + len).div_ceil(w) {
            let bank = skewed_bank(word, b);
            let mut data = 0u64;
            for j in 0..w {
                data |= u64::from(image[(word * w + j) as usize]) << (8 * j);
            }
            self.set(&format!("{port}_wen${bank}"), (1 << w) - 1);
            self.set(&format!("{port}_wrow${bank}"), word / b);
            self.set(&format!("{port}_wdata${bank}"), data);
            self.m.step(1);
            self.set(&format!("{port}_wen${bank}"), 0);
        }
    }

    /// Runs `op` to its `done`; the cycle of `done`.
    fn run(&mut self, op: &GemmOp) -> Result<u64, String> {
        self.set("start", 1);
        for (i, &f) in op.0.iter().enumerate() {
            self.set(&format!("g${i}"), u64::from(f));
        }
        for cycle in 0..200_000u64 {
            self.m.eval();
            let done = self.get("done") == 1;
            self.m.step(1);
            self.set("start", 0);
            if done {
                return Ok(cycle);
            }
        }
        Err("no done in 200000 cycles".into())
    }

    /// `len` bytes from byte `at` of the output region, read a word a cycle through its
    /// second copy.
    fn read_y(&mut self, at: u64, len: u64) -> Vec<u8> {
        let (w, b) = (self.arch.output.bank_width_bytes, self.arch.output.banks);
        let mut bytes = Vec::new();
        for word in at / w..(at + len).div_ceil(w) {
            let bank = skewed_bank(word, b);
            self.set(&format!("yr_rrow${bank}"), word / b);
            self.m.step(1);
            self.m.eval();
            let data = self.get(&format!("yr_rdata${bank}"));
            bytes.extend((0..w).map(|j| (data >> (8 * j)) as u8));
        }
        bytes[(at % w) as usize..][..len as usize].to_vec()
    }
}

fn bench(arch: &Arch) -> Bench {
    let design = verilated(arch);
    let m = design.instantiate();
    let mut idx = HashMap::new();
    for p in design.inputs().iter().chain(design.outputs()) {
        let i = m.input(&p.name).or_else(|_| m.output(&p.name)).unwrap();
        idx.insert(p.name.clone(), i);
    }
    Bench {
        m,
        idx,
        arch: arch.clone(),
    }
}

/// A random GEMM on `arch`: shapes up to a few folds; x 2-byte and y 4-byte aligned anywhere
/// in their regions, w at any byte; the pitch of x (2t bytes) often a whole number of bank
/// rows, odd or even, so that a column's words meet in a bank.
fn random_gemm(rng: &mut Rng, arch: &Arch) -> Gemm {
    let (r, c) = (arch.rows as usize, arch.cols as usize);
    let line = (arch.input.banks * arch.input.bank_width_bytes) as usize;
    let nm = match rng.next_u64() % 4 {
        0 => None,
        1 => Some(Nm { n: 1, m: 4 }),
        2 => Some(Nm { n: 2, m: 4 }),
        _ => Some(Nm { n: 2, m: 8 }),
    };
    let m = 1 + (rng.next_u64() as usize) % (2 * c + 1);
    let k = 1
        + (rng.next_u64() as usize)
            % (3 * r * nm.map_or(1, |nm| nm.m as usize / nm.n as usize) + 2);
    let t = match rng.next_u64() % 4 {
        0 => line / 2,
        1 => line,
        2 => 1 + (rng.next_u64() as usize) % 4,
        _ => 1 + (rng.next_u64() as usize) % (2 * r + 3),
    };
    let x_bytes = (2 * k * t) as u64;
    let groups = nm.map_or(k, |nm| k.div_ceil(nm.m as usize));
    let gb = nm.map_or(2, prune::group_bytes);
    let w_bytes = (m * groups * gb) as u64;
    let at = |rng: &mut Rng, bytes: u64, region: u64, align: u64| {
        (rng.next_u64() % ((region - bytes) / align)) * align
    };
    Gemm {
        m,
        k,
        t,
        nm,
        accumulate: rng.next_u64().is_multiple_of(2),
        x_at: at(rng, x_bytes, arch.input.bytes, 2),
        w_at: at(rng, w_bytes + 8, arch.weight.bytes, 1),
        y_at: at(rng, (4 * m * t) as u64, arch.output.bytes, 4),
    }
}

/// Runs `gemms` random GEMMs on `arch`'s unit and checks each against `run_gemm`.
fn run(arch: &Arch, seed: u64, gemms: usize) {
    let mut rng = Rng(seed);
    let mut b = bench(arch);
    let mut x_img = vec![0u8; arch.input.bytes as usize];
    let mut w_img = vec![0u8; arch.weight.bytes as usize];
    let mut y_img = vec![0u8; arch.output.bytes as usize];
    // Cover what the physical banks change: columns and preload rows of degree above one, y
    // sets of degree above one, and a reduction fold reading y before the previous fold's write
    // of it may have landed (forwarded).
    let (mut stalled, mut slow_preload, mut slow_y, mut forwarded) = (0, 0, 0, 0);
    let depth = forward_depth(arch.rows as usize, arch.cols as usize);
    for i in 0..gemms {
        let g = random_gemm(&mut rng, arch);
        let w = rng.vec_i16(g.m * g.k);
        let x = rng.vec_i16(g.k * g.t);
        let y0 = rng.vec_i32(g.m * g.t);
        let wb: Vec<u8> = match g.nm {
            None => w.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Some(nm) => w
                .chunks(g.k)
                .flat_map(|row| prune::pack_row(row, nm))
                .collect(),
        };
        for (j, v) in x.iter().enumerate() {
            let a = g.x_at as usize + 2 * j;
            x_img[a..a + 2].copy_from_slice(&v.to_le_bytes());
        }
        w_img[g.w_at as usize..g.w_at as usize + wb.len()].copy_from_slice(&wb);
        for (j, v) in y0.iter().enumerate() {
            let a = g.y_at as usize + 4 * j;
            y_img[a..a + 4].copy_from_slice(&v.to_le_bytes());
        }
        let (input, weight, output) = (arch.input, arch.weight, arch.output);
        let y_len = 4 * (g.m * g.t) as u64;
        b.load("xw", &input, &x_img, g.x_at, 2 * (g.k * g.t) as u64);
        b.load("ww", &weight, &w_img, g.w_at, wb.len() as u64);
        b.load("yw", &output, &y_img, g.y_at, y_len);
        let mut want = y0.clone();
        let placed = GemmPlacement {
            w: (&arch.weight, g.w_at),
            x: (&arch.input, g.x_at),
            y: (&arch.output, g.y_at),
        };
        let model = run_gemm(
            arch,
            g.m,
            g.k,
            g.t,
            g.nm,
            &wb,
            &x,
            &mut want,
            g.accumulate,
            Some(placed),
        );
        let placed = WsPlaced {
            arch,
            m: g.m as u64,
            k: g.k as u64,
            t: g.t as u64,
            sparsity: g.nm,
            at: placed,
        };
        stalled += usize::from(model.bank_stall > 0);
        slow_preload +=
            usize::from((0..placed.folds()).any(|f| placed.fold_preload(f) > arch.rows));
        let blocks = g.m.div_ceil(arch.cols as usize) as u64;
        slow_y += usize::from((0..blocks).any(|nb| placed.y_degree(nb, 0) > 1));
        forwarded += usize::from(g.t <= depth && placed.folds() > blocks);
        let op = GemmOp::new(
            arch,
            (g.x_at, g.w_at, g.y_at),
            (g.m as u64, g.k as u64, g.t as u64),
            g.nm,
            g.accumulate,
        )
        .unwrap();
        let done = b.run(&op).unwrap_or_else(|e| panic!("GEMM {i} {g:?}: {e}"));
        let got: Vec<i32> = b
            .read_y(g.y_at, y_len)
            .chunks(4)
            .map(|v| i32::from_le_bytes(v.try_into().unwrap()))
            .collect();
        assert_eq!(got, want, "GEMM {i} {g:?}: y");
        assert_eq!(done, model.cycles - 1, "GEMM {i} {g:?}: the cycle of done");
        // The next GEMM accumulates onto what this one wrote.
        for (j, v) in want.iter().enumerate() {
            let a = g.y_at as usize + 4 * j;
            y_img[a..a + 4].copy_from_slice(&v.to_le_bytes());
        }
        // A few idle cycles between GEMMs: nothing may carry over.
        b.m.step(3);
    }
    eprintln!(
        "{}: {stalled} of {gemms} GEMMs stalled on x, {slow_preload} on w, {slow_y} had y \
         sets of degree above one, {forwarded} forwarded",
        arch.name
    );
    assert!(
        stalled >= gemms / 4
            && slow_preload >= gemms / 4
            && slow_y >= gemms / 4
            && forwarded >= gemms / 4,
        "{stalled} {slow_preload} {slow_y} {forwarded}"
    );
}

#[test]
fn physical_array_4x4_on_4_banks_of_8_bytes() {
    run(&physical_arch(4, 4, (4, 8), (4, 8)), 1, 40);
}

#[test]
fn physical_array_8x4_on_8_banks_of_2_bytes_and_y_on_2_banks_of_4() {
    let mut a = physical_arch(8, 4, (8, 2), (2, 4));
    (a.input.bytes, a.weight.bytes, a.output.bytes) = (4096, 4096, 4096);
    run(&a, 2, 30);
}

#[test]
fn physical_array_verilog_passes_the_external_checks() {
    let arch = physical_arch(4, 4, (4, 8), (4, 8));
    let mut top = Top::new(&arch);
    top.connect_all();
    let dir = scratch("phys_array_lint");
    let path = dir.join(format!("{TOP}.v"));
    write_verilog(&to_verilog(&top, TOP).unwrap(), &path).unwrap();
    verilator_lint(std::slice::from_ref(&path), TOP).unwrap_or_else(|e| panic!("{e}"));
    yosys_check(&[path], TOP).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn physical_array_refuses_what_it_does_not_build() {
    let refused = |a: &Arch| match PhysicalArrayUnit::<LANES>::new(a) {
        Err(HwError::Unsupported { field, .. }) => field,
        other => panic!("{:?}", other.map(|_| ())),
    };
    let mut a = physical_arch(4, 4, (4, 8), (4, 8));
    a.output.banking = Banking::Ideal;
    assert_eq!(refused(&a), "scratchpads.output");
    let a = physical_arch(4, 4, (4, 8), (8, 2));
    assert_eq!(refused(&a), "scratchpads.output.bank_width_bytes");
    let mut a = physical_arch(4, 4, (4, 8), (4, 8));
    a.weight.banking = Banking::Ideal;
    assert!(matches!(
        PhysicalArrayUnit::<LANES>::new(&a),
        Err(HwError::Unsupported {
            field: "scratchpads.weight",
            ..
        })
    ));
    let mut a = physical_arch(32, 32, (4, 8), (4, 8));
    a.patterns.clear();
    assert!(matches!(
        PhysicalArrayUnit::<LANES>::new(&a),
        Err(HwError::Unsupported { .. })
    ));
}
