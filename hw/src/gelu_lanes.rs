//! `GeluLanes`: I-BERT's i-GELU and its gradient on every lane of a batch, with the exact
//! simulator's integers (`nmsat_sim::exact` vector unit, whose module docs define them).
//!
//! ```text
//!  x (Q.f) ─► xq = x·2^(16−f) ─► xs = ⌊xq/√2⌉₁₆, t = min(|xs|, −b) + b,
//!             L = sgn(xq)·(⌊a·⌊t²⌉₁₆⌉₁₆ + 1), at = ⌊a·t⌉₁₆
//!  Gelu:     y  = sat(⌊⌊xq·(1 + L)⌉₁₇⌉_(16−f))
//!  GeluGrad: dx = sat(⌊dy·(⌊1 + L⌉₁ + ⌊xs·at⌉₁₆)⌉₁₆)
//! ```
//!
//! A combinational leaf written as Verilog text, like [`crate::LossLanes`]: rust-hdl multiplies
//! only 16 × 16 bits and these products are up to 41 bits wide.

use crate::row_lanes::{lane_v, shift_v, unused_v};
use crate::vector_arith::{lane, sat, sat16_64, to_bus, BATCH_BITS};
use nmsat_compiler::datapath::round_shift;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// 1/√2, a = −0.2888 and −b = 1.769 in Q16 (the exact simulator's constants).
const ISQRT2: i64 = 46341;
const A: i64 = -18927;
const B: i64 = 115933;

/// i-GELU's terms of `x` (Q16): `L(x/√2)` with its sign, `x/√2`, and `⌊a·t⌉₁₆`.
fn gelu_terms(x: i64) -> (i64, i64, i64) {
    let xs = round_shift(x * ISQRT2, 16);
    let t = xs.abs().min(B) - B;
    let l = round_shift(A * round_shift(t * t, 16), 16) + (1 << 16);
    (x.signum() * l, xs, round_shift(A * t, 16))
}

/// i-GELU (or, with `grad`, its gradient) of every lane; see the module docs.
#[derive(LogicBlock)]
pub struct GeluLanes {
    /// The inputs x.
    pub x: Signal<In, Bits<BATCH_BITS>>,
    /// The output gradients dy (the gradient only).
    pub dy: Signal<In, Bits<BATCH_BITS>>,
    /// Compute the gradient `dx` rather than `gelu(x)`.
    pub grad: Signal<In, Bit>,
    /// The results.
    pub y: Signal<Out, Bits<BATCH_BITS>>,
    _lanes: usize,
    _frac_bits: u32,
}

impl GeluLanes {
    /// `lanes` (1..=8) lanes for Q.`frac_bits` values (≤ 15).
    pub fn new(lanes: usize, frac_bits: u32) -> Self {
        Self {
            x: Default::default(),
            dy: Default::default(),
            grad: Default::default(),
            y: Default::default(),
            _lanes: lanes,
            _frac_bits: frac_bits,
        }
    }
}

impl Logic for GeluLanes {
    fn update(&mut self) {
        let f = self._frac_bits;
        let grad = self.grad.val();
        self.y.next = to_bus((0..self._lanes).map(|l| {
            let xq = lane(self.x.val(), l) << (16 - f);
            let (l_, xs, at) = gelu_terms(xq);
            if grad {
                let d = round_shift((1 << 16) + l_, 1) + round_shift(xs * at, 16);
                sat(round_shift(lane(self.dy.val(), l) * d, 16))
            } else {
                sat(round_shift(round_shift(xq * ((1 << 16) + l_), 17), 16 - f))
            }
        }));
    }

    fn connect(&mut self) {
        self.y.connect();
    }

    fn hdl(&self) -> Verilog {
        let f = self._frac_bits;
        let mut v = String::new();
        for l in 0..self._lanes {
            lane_v(&mut v, &format!("xe${l}"), "x", l);
            lane_v(&mut v, &format!("de${l}"), "dy", l);
            let _ = writeln!(v, "wire signed [63:0] xq${l} = xe${l} <<< {};", 16 - f);
            shift_v(
                &mut v,
                &format!("xs${l}"),
                &format!("xq${l} * 64'sd{ISQRT2}"),
                16,
            );
            let _ = writeln!(
                v,
                "wire signed [63:0] ax${l} = xs${l} < 64'sd0 ? -xs${l} : xs${l};\n\
                 wire signed [63:0] t${l} = (ax${l} < 64'sd{B} ? ax${l} : 64'sd{B}) - 64'sd{B};"
            );
            shift_v(&mut v, &format!("tt${l}"), &format!("t${l} * t${l}"), 16);
            shift_v(
                &mut v,
                &format!("lp${l}"),
                &format!("-64'sd{} * tt${l}", -A),
                16,
            );
            shift_v(
                &mut v,
                &format!("at${l}"),
                &format!("-64'sd{} * t${l}", -A),
                16,
            );
            let _ = writeln!(
                v,
                "wire signed [63:0] l${l} = xq${l} < 64'sd0 ? -(lp${l} + 64'sd65536) : \
                 xq${l} == 64'sd0 ? 64'sd0 : lp${l} + 64'sd65536;"
            );
            shift_v(
                &mut v,
                &format!("g1${l}"),
                &format!("xq${l} * (64'sd65536 + l${l})"),
                17,
            );
            shift_v(&mut v, &format!("g${l}"), &format!("g1${l}"), 16 - f);
            shift_v(&mut v, &format!("h${l}"), &format!("64'sd65536 + l${l}"), 1);
            shift_v(&mut v, &format!("k${l}"), &format!("xs${l} * at${l}"), 16);
            shift_v(
                &mut v,
                &format!("dx${l}"),
                &format!("de${l} * (h${l} + k${l})"),
                16,
            );
        }
        v.push_str("always @(*) begin\n    y = 0;\n");
        for l in 0..self._lanes {
            let _ = writeln!(
                v,
                "    y[{lo} +: 16] = grad ? {} : {};",
                sat16_64(&format!("dx${l}")),
                sat16_64(&format!("g${l}")),
                lo = 16 * l
            );
        }
        v.push_str("end\n");
        unused_v(&mut v, self._lanes, &["x", "dy"]);
        Verilog::Custom(v)
    }
}
