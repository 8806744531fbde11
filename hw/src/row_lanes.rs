//! The row reductions of the transformer operations beyond the exponential (which
//! [`crate::LossLanes`] computes, with the softmax's division): [`NormLanes`] (layer norm and
//! its gradient) and [`SoftmaxGradLanes`] (softmax's gradient from the recomputed softmax),
//! all lanes of one batch of a row at once, with the exact simulator's integers
//! (`nmsat_sim::exact` vector unit, whose module docs define them).
//!
//! ```text
//!  NormLanes:        x, dy, Σx, Σx², Σdy, Σdy·y, first ─► the sums with this batch,
//!                    (μ, σ) = moments(Σx, Σx², width), y = normalize(x), dx = norm_grad(dy, y)
//!  SoftmaxGradLanes: y, dy, Σdy·y, first             ─► the sum with this batch,
//!                    dx = sat(⌊y·(dy − ⌊Σdy·y⌉_f)⌉_f)
//! ```
//!
//! Combinational leaves written as Verilog text, like [`crate::LossLanes`]: they need 64-bit
//! products, divisions by the row's width and σ, and an integer square root. The divisions
//! are the Verilog operator and the square root a 32-step comparison chain, which Verilator
//! evaluates in one step — a synthesised unit would pipeline them into the unit's `latency`
//! (σ and the means change once a row, so a real unit computes them once, between passes).

use crate::vector_arith::{lane, sat, sat16_64, to_bus, BATCH_BITS};
use crate::vector_unit::MAX_VECTOR_LANES;
use nmsat_compiler::datapath::round_shift;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// `⌊a / b⌉`, rounding half up (0 for b = 0, which no row has).
fn div_round(a: i64, b: i64) -> i64 {
    if b == 0 {
        0
    } else {
        (2 * a + b).div_euclid(2 * b)
    }
}

/// `⌊√n⌋` of `n ≥ 0`, bit by bit as the Verilog does.
fn isqrt(n: i64) -> i64 {
    (0..32).rev().fold(0i64, |r, b| {
        let c = r | (1 << b);
        if c * c <= n {
            c
        } else {
            r
        }
    })
}

/// A 64-bit bus as a two's complement value (rust-hdl maps no 64-bit vector to an index).
fn signed64(b: Bits<64>) -> i64 {
    let half = |i: usize| b.get_bits::<32>(i).index() as u64;
    ((half(32) << 32) | half(0)) as i64
}

fn bits64(v: i64) -> Bits<64> {
    bits(v as u64 as LiteralType)
}

/// Verilog: the signed 64-bit wire `name` = `⌊num / den⌉` (den ≥ 0; 0 for den = 0).
fn div_round_v(v: &mut String, name: &str, num: &str, den: &str) {
    let _ = writeln!(
        v,
        "wire signed [63:0] {name}$n = ({num} <<< 1) + {den};\n\
         wire signed [63:0] {name}$d = {den} <<< 1;\n\
         wire signed [63:0] {name} = {name}$d == 64'sd0 ? 64'sd0 : {name}$n < 64'sd0 ? \
         -((-{name}$n + {name}$d - 64'sd1) / {name}$d) : {name}$n / {name}$d;"
    );
}

/// Verilog: the signed 64-bit wire `name` = `⌊expr⌉_s`, its own wire so that `>>>` is
/// arithmetic.
pub(crate) fn shift_v(v: &mut String, name: &str, expr: &str, s: u32) {
    let _ = if s == 0 {
        writeln!(v, "wire signed [63:0] {name} = {expr};")
    } else {
        writeln!(
            v,
            "wire signed [63:0] {name} = ({expr} + 64'sd{}) >>> {s};",
            1u64 << (s - 1)
        )
    };
}

/// Verilog: lane `l` of the bus `bus`, sign-extended to the signed 64-bit wire `name`.
pub(crate) fn lane_v(v: &mut String, name: &str, bus: &str, l: usize) {
    let _ = writeln!(
        v,
        "wire signed [63:0] {name} = {{{{48{{{bus}[{}]}}}}, {bus}[{} +: 16]}};",
        16 * l + 15,
        16 * l
    );
}

/// Verilog: the lanes of `buses` this unit does not have, marked deliberately unused.
pub(crate) fn unused_v(v: &mut String, lanes: usize, buses: &[&str]) {
    if lanes < MAX_VECTOR_LANES {
        let parts: Vec<String> = buses
            .iter()
            .map(|b| format!("{b}[{}:{}]", BATCH_BITS - 1, 16 * lanes))
            .collect();
        let _ = writeln!(v, "wire _unused_lanes = &{{1'b0, {}}};", parts.join(", "));
    }
}

/// Layer norm's lanes of one batch of a row; see the module docs. The sums are 64-bit two's
/// complement: Σx² of a row of 2^15 INT16 values is below 2^45.
#[derive(LogicBlock)]
pub struct NormLanes {
    /// Inputs.
    pub x: Signal<In, Bits<BATCH_BITS>>,
    /// Output gradients (the gradient only).
    pub dy: Signal<In, Bits<BATCH_BITS>>,
    /// Lanes holding an element of the row (the first `n`).
    pub n: Signal<In, Bits<4>>,
    /// This is the row's first batch: the sums start afresh.
    pub first: Signal<In, Bit>,
    /// Elements per row (N of the means).
    pub width: Signal<In, Bits<16>>,
    /// Σx of the row so far (the first pass), then of the row.
    pub sx: Signal<In, Bits<64>>,
    /// Σx², as `sx`.
    pub sq: Signal<In, Bits<64>>,
    /// Σdy of the row so far (the gradient's second pass), then of the row.
    pub sd: Signal<In, Bits<64>>,
    /// Σdy·y, as `sd`.
    pub sdy: Signal<In, Bits<64>>,
    /// `sx` with this batch.
    pub sx_next: Signal<Out, Bits<64>>,
    /// `sq` with this batch.
    pub sq_next: Signal<Out, Bits<64>>,
    /// `sd` with this batch.
    pub sd_next: Signal<Out, Bits<64>>,
    /// `sdy` with this batch.
    pub sdy_next: Signal<Out, Bits<64>>,
    /// The normalized inputs (from the row's Σx, Σx²).
    pub y: Signal<Out, Bits<BATCH_BITS>>,
    /// The input gradients (from the row's sums).
    pub dx: Signal<Out, Bits<BATCH_BITS>>,
    _lanes: usize,
    _frac_bits: u32,
}

impl NormLanes {
    /// `lanes` (1..=8) lanes for Q.`frac_bits` values (≤ 15).
    pub fn new(lanes: usize, frac_bits: u32) -> Self {
        Self {
            x: Default::default(),
            dy: Default::default(),
            n: Default::default(),
            first: Default::default(),
            width: Default::default(),
            sx: Default::default(),
            sq: Default::default(),
            sd: Default::default(),
            sdy: Default::default(),
            sx_next: Default::default(),
            sq_next: Default::default(),
            sd_next: Default::default(),
            sdy_next: Default::default(),
            y: Default::default(),
            dx: Default::default(),
            _lanes: lanes,
            _frac_bits: frac_bits,
        }
    }
}

impl Logic for NormLanes {
    fn update(&mut self) {
        let f = self._frac_bits;
        let n = (self.n.val().index()).min(self._lanes);
        let w = self.width.val().index() as i64;
        let (sx, sq, sd, sdy) = (
            signed64(self.sx.val()),
            signed64(self.sq.val()),
            signed64(self.sd.val()),
            signed64(self.sdy.val()),
        );
        // The exact simulator's `moments`, `normalize` and `norm_grad`.
        let mu = div_round(sx, w);
        let sigma = isqrt((div_round(sq, w) - mu * mu).max(0) + 1);
        let x: Vec<i64> = (0..self._lanes).map(|l| lane(self.x.val(), l)).collect();
        let dy: Vec<i64> = (0..self._lanes).map(|l| lane(self.dy.val(), l)).collect();
        let y: Vec<i64> = x
            .iter()
            .map(|&x| sat(div_round((x - mu) << f, sigma)))
            .collect();
        let (md, mdy) = (div_round(sd, w), div_round(sdy, w));
        let dx = dy.iter().zip(&y).map(|(&d, &y)| {
            let t = ((d - md) << f) - round_shift(y * mdy, f);
            sat(div_round(t, sigma))
        });
        let from = |s: i64| if self.first.val() { 0 } else { s };
        let sum = |g: &dyn Fn(usize) -> i64| (0..n).map(g).fold(0i64, i64::wrapping_add);
        self.sx_next.next = bits64(from(sx).wrapping_add(sum(&|l| x[l])));
        self.sq_next.next = bits64(from(sq).wrapping_add(sum(&|l| x[l] * x[l])));
        self.sd_next.next = bits64(from(sd).wrapping_add(sum(&|l| dy[l])));
        self.sdy_next.next = bits64(from(sdy).wrapping_add(sum(&|l| dy[l] * y[l])));
        self.y.next = to_bus(y.iter().copied());
        self.dx.next = to_bus(dx);
    }

    fn connect(&mut self) {
        self.sx_next.connect();
        self.sq_next.connect();
        self.sd_next.connect();
        self.sdy_next.connect();
        self.y.connect();
        self.dx.connect();
    }

    fn hdl(&self) -> Verilog {
        let f = self._frac_bits;
        let mut v = String::new();
        let _ = writeln!(
            v,
            "wire signed [63:0] w64 = {{48'd0, width}};\n\
             wire signed [63:0] sx64 = sx;\n\
             wire signed [63:0] sq64 = sq;\n\
             wire signed [63:0] sd64 = sd;\n\
             wire signed [63:0] sdy64 = sdy;"
        );
        div_round_v(&mut v, "mu", "sx64", "w64");
        div_round_v(&mut v, "msq", "sq64", "w64");
        div_round_v(&mut v, "md", "sd64", "w64");
        div_round_v(&mut v, "mdy", "sdy64", "w64");
        let _ = writeln!(
            v,
            "wire signed [63:0] dv = msq - mu * mu;\n\
             wire [63:0] vr = (dv < 64'sd0 ? 64'd0 : dv) + 64'd1;\n\
             wire [31:0] r$32 = 32'd0;"
        );
        // ⌊√var⌋ bit by bit, from the top.
        for b in (0..32).rev() {
            let _ = writeln!(
                v,
                "wire [31:0] c${b} = r${p} | 32'd{bit};\n\
                 wire [63:0] cc${b} = {{32'd0, c${b}}} * {{32'd0, c${b}}};\n\
                 wire [31:0] r${b} = cc${b} <= vr ? c${b} : r${p};",
                p = b + 1,
                bit = 1u64 << b
            );
        }
        let _ = writeln!(v, "wire signed [63:0] sigma = {{32'd0, r$0}};");
        for l in 0..self._lanes {
            lane_v(&mut v, &format!("xe${l}"), "x", l);
            lane_v(&mut v, &format!("de${l}"), "dy", l);
            div_round_v(
                &mut v,
                &format!("yq${l}"),
                &format!("((xe${l} - mu) <<< {f})"),
                "sigma",
            );
            let _ = writeln!(v, "wire [15:0] y${l} = {};", sat16_64(&format!("yq${l}")));
            lane_v(&mut v, &format!("ye${l}"), &format!("y${l}"), 0);
            shift_v(&mut v, &format!("p${l}"), &format!("ye${l} * mdy"), f);
            div_round_v(
                &mut v,
                &format!("dq${l}"),
                &format!("(((de${l} - md) <<< {f}) - p${l})"),
                "sigma",
            );
        }
        v.push_str(
            "always @(*) begin\n    sx_next = first ? 64'd0 : sx;\n    sq_next = first ? 64'd0 : sq;\n    \
             sd_next = first ? 64'd0 : sd;\n    sdy_next = first ? 64'd0 : sdy;\n    y = 0;\n    dx = 0;\n",
        );
        for l in 0..self._lanes {
            let _ = writeln!(
                v,
                "    if (4'd{l} < n) begin\n\
                 \x20       sx_next = sx_next + xe${l};\n\
                 \x20       sq_next = sq_next + xe${l} * xe${l};\n\
                 \x20       sd_next = sd_next + de${l};\n\
                 \x20       sdy_next = sdy_next + de${l} * ye${l};\n\
                 \x20   end\n\
                 \x20   y[{lo} +: 16] = y${l};\n\
                 \x20   dx[{lo} +: 16] = {};",
                sat16_64(&format!("dq${l}")),
                lo = 16 * l
            );
        }
        v.push_str("end\n");
        unused_v(&mut v, self._lanes, &["x", "dy"]);
        Verilog::Custom(v)
    }
}

/// Softmax's gradient on the lanes of one batch of a row; see the module docs.
#[derive(LogicBlock)]
pub struct SoftmaxGradLanes {
    /// The recomputed softmax outputs.
    pub y: Signal<In, Bits<BATCH_BITS>>,
    /// The output gradients.
    pub dy: Signal<In, Bits<BATCH_BITS>>,
    /// Lanes holding an element of the row (the first `n`).
    pub n: Signal<In, Bits<4>>,
    /// This is the row's first batch: the sum starts afresh.
    pub first: Signal<In, Bit>,
    /// Σdy·y of the row so far (the third pass), then of the row (64-bit two's complement).
    pub acc: Signal<In, Bits<64>>,
    /// `acc` with this batch.
    pub acc_next: Signal<Out, Bits<64>>,
    /// The input gradients.
    pub dx: Signal<Out, Bits<BATCH_BITS>>,
    _lanes: usize,
    _frac_bits: u32,
}

impl SoftmaxGradLanes {
    /// `lanes` (1..=8) lanes for Q.`frac_bits` values (≤ 15).
    pub fn new(lanes: usize, frac_bits: u32) -> Self {
        Self {
            y: Default::default(),
            dy: Default::default(),
            n: Default::default(),
            first: Default::default(),
            acc: Default::default(),
            acc_next: Default::default(),
            dx: Default::default(),
            _lanes: lanes,
            _frac_bits: frac_bits,
        }
    }
}

impl Logic for SoftmaxGradLanes {
    fn update(&mut self) {
        let f = self._frac_bits;
        let n = (self.n.val().index()).min(self._lanes);
        let acc = signed64(self.acc.val());
        let s = round_shift(acc, f);
        let y: Vec<i64> = (0..self._lanes).map(|l| lane(self.y.val(), l)).collect();
        let dy: Vec<i64> = (0..self._lanes).map(|l| lane(self.dy.val(), l)).collect();
        let from = if self.first.val() { 0 } else { acc };
        let sum = (0..n).fold(from, |a, l| a.wrapping_add(dy[l] * y[l]));
        self.acc_next.next = bits64(sum);
        self.dx.next = to_bus(
            y.iter()
                .zip(&dy)
                .map(|(&y, &d)| sat(round_shift(y * (d - s), f))),
        );
    }

    fn connect(&mut self) {
        self.acc_next.connect();
        self.dx.connect();
    }

    fn hdl(&self) -> Verilog {
        let f = self._frac_bits;
        let mut v = String::new();
        let _ = writeln!(v, "wire signed [63:0] acc64 = acc;");
        shift_v(&mut v, "s", "acc64", f);
        for l in 0..self._lanes {
            lane_v(&mut v, &format!("ye${l}"), "y", l);
            lane_v(&mut v, &format!("de${l}"), "dy", l);
            shift_v(
                &mut v,
                &format!("q${l}"),
                &format!("ye${l} * (de${l} - s)"),
                f,
            );
        }
        v.push_str("always @(*) begin\n    acc_next = first ? 64'd0 : acc;\n    dx = 0;\n");
        for l in 0..self._lanes {
            let _ = writeln!(
                v,
                "    if (4'd{l} < n) acc_next = acc_next + de${l} * ye${l};\n\
                 \x20   dx[{lo} +: 16] = {};",
                sat16_64(&format!("q${l}")),
                lo = 16 * l
            );
        }
        v.push_str("end\n");
        unused_v(&mut v, self._lanes, &["y", "dy"]);
        Verilog::Custom(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gelu_lanes::GeluLanes;
    use crate::vector_arith::tests::{bus, exact, unbus, values};
    use crate::LossLanes;
    use nmsat_compiler::arch::Arch;
    use nmsat_compiler::isa::VecOp;
    use rust_hdl::core::simulate::simulate;

    /// `rows × width` inputs: values of every magnitude, the first row all zeros (ties, and
    /// σ = 1) and the second of −2 … 2 (a variance of about 2: the epsilon decides σ), and output
    /// gradients.
    fn rows_of(rows: usize, width: usize) -> (Vec<i16>, Vec<i16>) {
        let mut x: Vec<i16> = values(21, rows * width).iter().map(|v| v / 64).collect();
        x[..width].fill(0);
        for (i, v) in x[width..2 * width].iter_mut().enumerate() {
            *v = (i % 5) as i16 - 2;
        }
        (x, values(22, rows * width))
    }

    /// `f(col, n)` for each batch of `lanes` of a row of `width`.
    fn batches(width: usize, lanes: usize, mut f: impl FnMut(usize, usize)) {
        for col in (0..width).step_by(lanes) {
            f(col, lanes.min(width - col));
        }
    }

    fn pad(v: &[i16], lanes: usize) -> Bits<BATCH_BITS> {
        let mut v = v.to_vec();
        v.resize(lanes, 0);
        bus(&v)
    }

    #[test]
    fn norm_lanes_equal_the_exact_simulator() {
        let arch = Arch::load("sat-small").unwrap();
        let l = arch.vector_lanes as usize;
        let (rows, width) = (4, 11);
        let (x, dy) = rows_of(rows, width);
        let y_exact = exact(
            &arch,
            VecOp::Norm,
            std::slice::from_ref(&x),
            x.len(),
            width as u64,
        );
        let dx_exact = exact(
            &arch,
            VecOp::NormGrad,
            &[dy.clone(), x.clone()],
            x.len(),
            width as u64,
        );
        let mut norm = NormLanes::new(l, arch.frac_bits);
        norm.connect_all();
        norm.width.next = bits(width as LiteralType);
        for r in 0..rows {
            let row = r * width..(r + 1) * width;
            // The passes: Σx and Σx², then y with Σdy and Σdy·y, then dx.
            for pass in 0..3 {
                batches(width, l, |col, n| {
                    let at = row.start + col;
                    norm.x.next = pad(&x[at..at + n], l);
                    norm.dy.next = pad(&dy[at..at + n], l);
                    norm.n.next = bits(n as LiteralType);
                    norm.first.next = col == 0;
                    assert!(simulate(&mut norm, 10));
                    match pass {
                        0 => {
                            norm.sx.next = norm.sx_next.val();
                            norm.sq.next = norm.sq_next.val();
                        }
                        1 => {
                            assert_eq!(unbus(norm.y.val(), n), y_exact[at..at + n], "y at {at}");
                            norm.sd.next = norm.sd_next.val();
                            norm.sdy.next = norm.sdy_next.val();
                        }
                        _ => {
                            assert_eq!(unbus(norm.dx.val(), n), dx_exact[at..at + n], "dx at {at}")
                        }
                    }
                });
            }
        }
    }

    #[test]
    fn softmax_gradient_lanes_equal_the_exact_simulator() {
        let arch = Arch::load("sat-small").unwrap();
        let l = arch.vector_lanes as usize;
        let (rows, width) = (4, 7);
        let (x, dy) = rows_of(rows, width);
        let dx_exact = exact(
            &arch,
            VecOp::SoftmaxGrad,
            &[dy.clone(), x.clone()],
            x.len(),
            width as u64,
        );
        let mut loss = LossLanes::new(l, arch.frac_bits);
        let mut smg = SoftmaxGradLanes::new(l, arch.frac_bits);
        loss.connect_all();
        smg.connect_all();
        loss.batch.next = bits(1);
        for r in 0..rows {
            let row = r * width..(r + 1) * width;
            // The passes: max, Σe, Σdy·y of the recomputed softmax, dx.
            for pass in 0..4 {
                batches(width, l, |col, n| {
                    let at = row.start + col;
                    loss.x.next = pad(&x[at..at + n], l);
                    loss.n.next = bits(n as LiteralType);
                    loss.first.next = col == 0;
                    loss.col.next = bits(col as LiteralType);
                    assert!(simulate(&mut loss, 10));
                    smg.y.next = loss.g.val();
                    smg.dy.next = pad(&dy[at..at + n], l);
                    smg.n.next = bits(n as LiteralType);
                    smg.first.next = col == 0;
                    assert!(simulate(&mut smg, 10));
                    match pass {
                        0 => loss.max.next = loss.max_next.val(),
                        1 => loss.sum.next = loss.sum_next.val(),
                        2 => smg.acc.next = smg.acc_next.val(),
                        _ => assert_eq!(unbus(smg.dx.val(), n), dx_exact[at..at + n], "dx at {at}"),
                    }
                });
            }
        }
    }

    #[test]
    fn gelu_lanes_equal_the_exact_simulator() {
        let arch = Arch::load("sat-small").unwrap();
        let l = arch.vector_lanes as usize;
        let (x, dy) = rows_of(2, 41);
        // Full-range inputs too: GELU's clamp and large products.
        let x: Vec<i16> = x
            .iter()
            .zip(values(23, 82))
            .flat_map(|(&a, b)| [a, b])
            .collect();
        let dy: Vec<i16> = dy.iter().chain(&dy).copied().collect();
        let n = x.len();
        let y_exact = exact(&arch, VecOp::Gelu, std::slice::from_ref(&x), n, n as u64);
        let dx_exact = exact(
            &arch,
            VecOp::GeluGrad,
            &[dy.clone(), x.clone()],
            n,
            n as u64,
        );
        let mut gelu = GeluLanes::new(l, arch.frac_bits);
        gelu.connect_all();
        batches(n, l, |at, k| {
            gelu.x.next = pad(&x[at..at + k], l);
            gelu.dy.next = pad(&dy[at..at + k], l);
            for grad in [false, true] {
                gelu.grad.next = grad;
                assert!(simulate(&mut gelu, 10));
                let want = if grad { &dx_exact } else { &y_exact };
                assert_eq!(
                    unbus(gelu.y.val(), k),
                    want[at..at + k],
                    "grad {grad} at {at}"
                );
            }
        });
    }
}
