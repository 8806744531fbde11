//! `BatchLanes`: the lanes of batch norm — `BatchStats`, `BatchNorm`, `BatchGradStats` and
//! `BatchNormGrad` — over a block of up to `lanes` columns (channels), with the exact
//! simulator's semantics (`nmsat_sim::exact` vector unit, whose module docs define `moments`,
//! `normalize` and `norm_grad`).
//!
//! ```text
//!  row phase, a row of the block (a, b: lane l is column c0 + l):
//!    statistics:   state_l ─► (Σa + a_l, Σab + a_l·b_l)   (from zero on the block's first row)
//!    BatchNorm:    y_l = sat(⌊(a_l − μ_l)·2^f / σ_l⌉)
//!    BatchNormGrad y_l = sat(⌊((a_l − μdy_l)·2^f − ⌊b_l·μdyy_l⌉_f) / σ_l⌉)   (a = dy, b = y)
//!  column phase, column c0 + j (s: its 16 statistics bytes; b: its gradient statistics):
//!    statistics:   y = the accumulator s plus lane j's sums (two wrapping i64)
//!    BatchNorm:    state_j ─► (μ, σ) = moments(s, rows)
//!    BatchNormGrad state_j ─► (⌊Σdy/rows⌉, ⌊Σdy·y/rows⌉, σ of moments(s, rows))
//! ```
//!
//! Each lane keeps three i64 (`LANE_STATE` bits) in the unit's register, which feeds back.
//! A combinational leaf written as Verilog text with `update` the same integers in Rust, like
//! [`crate::LossLanes`]: the statistics are 64-bit, and the divisions (round half up) and the
//! integer square root are Verilog operators and loops, which Verilator evaluates in one
//! step — a synthesised unit would pipeline them into the unit's `latency`, as the loss's
//! division.

use crate::vector_arith::BATCH_BITS;
use crate::vector_unit::MAX_VECTOR_LANES;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Bits of one lane's state: three i64.
pub const LANE_STATE: usize = 192;
/// Bits of the lanes' state.
pub const STATE_BITS: usize = LANE_STATE * MAX_VECTOR_LANES;

/// The batch-norm lanes; see the module docs.
#[derive(LogicBlock)]
pub struct BatchLanes {
    /// Source 0's batch: x, or dy.
    pub a: Signal<In, Bits<BATCH_BITS>>,
    /// Source 1's batch: x again (`BatchStats`), y; in the column phase of `BatchNormGrad` the
    /// column's gradient statistics.
    pub b: Signal<In, Bits<BATCH_BITS>>,
    /// The column's statistics (or accumulator), two little-endian i64.
    pub s: Signal<In, Bits<BATCH_BITS>>,
    /// The lanes' state, lane l in bits 192l …: three i64 v0, v1, v2.
    pub state: Signal<In, Bits<STATE_BITS>>,
    /// A row of the block (else a column's statistics).
    pub row: Signal<In, Bit>,
    /// The block's first row: the sums start afresh.
    pub first: Signal<In, Bit>,
    /// The column within the block.
    pub j: Signal<In, Bits<3>>,
    /// Statistics (`BatchStats`, `BatchGradStats`), else their application.
    pub stats: Signal<In, Bit>,
    /// The gradient (`BatchGradStats`, `BatchNormGrad`).
    pub grad: Signal<In, Bit>,
    /// Rows the statistics are over, N.
    pub n: Signal<In, Bits<16>>,
    /// The state after this cycle.
    pub state_next: Signal<Out, Bits<STATE_BITS>>,
    /// Results of a row, or a column's updated accumulator.
    pub y: Signal<Out, Bits<BATCH_BITS>>,
    _frac_bits: u32,
}

impl BatchLanes {
    /// Lanes for Q.`frac_bits` values.
    pub fn new(frac_bits: u32) -> Self {
        Self {
            a: Default::default(),
            b: Default::default(),
            s: Default::default(),
            state: Default::default(),
            row: Default::default(),
            first: Default::default(),
            j: Default::default(),
            stats: Default::default(),
            grad: Default::default(),
            n: Default::default(),
            state_next: Default::default(),
            y: Default::default(),
            _frac_bits: frac_bits,
        }
    }
}

/// `⌊a / b⌉` rounding half up (b > 0), wrapping as the exact simulator's release build.
fn div_round(a: i64, b: i64) -> i64 {
    a.wrapping_mul(2).wrapping_add(b).div_euclid(2 * b)
}

fn isqrt(n: u64) -> u64 {
    (0..32).rev().fold(0u64, |r, i| {
        let c = r | 1 << i;
        if c * c <= n {
            c
        } else {
            r
        }
    })
}

fn round_shift(x: i64, f: u32) -> i64 {
    if f == 0 {
        x
    } else {
        x.wrapping_add(1 << (f - 1)) >> f
    }
}

fn sat(x: i64) -> i64 {
    x.clamp(i16::MIN as i64, i16::MAX as i64)
}

/// Mean and standard deviation from Σx, Σx² over `n` rows.
fn moments(sum: i64, sumsq: i64, n: i64) -> (i64, i64) {
    let mu = div_round(sum, n);
    let var = (div_round(sumsq, n).wrapping_sub(mu.wrapping_mul(mu))).max(0) + 1;
    (mu, isqrt(var as u64) as i64)
}

fn word(b: &Bits<BATCH_BITS>, k: usize) -> i64 {
    b.get_bits::<64>(64 * k).index() as u64 as i64
}

fn lane(b: &Bits<BATCH_BITS>, l: usize) -> i64 {
    b.get_bits::<16>(16 * l).index() as u16 as i16 as i64
}

impl Logic for BatchLanes {
    fn update(&mut self) {
        let f = self._frac_bits;
        let (a, b, s) = (self.a.val(), self.b.val(), self.s.val());
        let state = self.state.val();
        let v = |l: usize, k: usize| {
            state.get_bits::<64>(LANE_STATE * l + 64 * k).index() as u64 as i64
        };
        let n = (self.n.val().index() as i64).max(1);
        let j = self.j.val().index();
        let (row, stats, grad) = (self.row.val(), self.stats.val(), self.grad.val());
        let mut next = state;
        let mut y = Bits::<BATCH_BITS>::default();
        let put = |next: &mut Bits<STATE_BITS>, l: usize, k: usize, x: i64| {
            next.set_bits::<64>(LANE_STATE * l + 64 * k, bits(x as u64));
        };
        match (row, stats) {
            (true, true) => {
                for l in 0..MAX_VECTOR_LANES {
                    let keep = !self.first.val();
                    let (s0, s1) = if keep { (v(l, 0), v(l, 1)) } else { (0, 0) };
                    put(&mut next, l, 0, s0.wrapping_add(lane(&a, l)));
                    put(&mut next, l, 1, s1.wrapping_add(lane(&a, l) * lane(&b, l)));
                }
            }
            (false, true) => {
                y.set_bits::<64>(0, bits(word(&s, 0).wrapping_add(v(j, 0)) as u64));
                y.set_bits::<64>(64, bits(word(&s, 1).wrapping_add(v(j, 1)) as u64));
            }
            (false, false) => {
                let (mu, sigma) = moments(word(&s, 0), word(&s, 1), n);
                if grad {
                    put(&mut next, j, 0, div_round(word(&b, 0), n));
                    put(&mut next, j, 1, div_round(word(&b, 1), n));
                    put(&mut next, j, 2, sigma);
                } else {
                    put(&mut next, j, 0, mu);
                    put(&mut next, j, 1, sigma);
                }
            }
            (true, false) => {
                for l in 0..MAX_VECTOR_LANES {
                    let (x, sigma) = (lane(&a, l), v(l, 1 + grad as usize));
                    let t = if grad {
                        (x.wrapping_sub(v(l, 0)) << f)
                            .wrapping_sub(round_shift(lane(&b, l).wrapping_mul(v(l, 1)), f))
                    } else {
                        x.wrapping_sub(v(l, 0)) << f
                    };
                    let r = if sigma > 0 { div_round(t, sigma) } else { 0 };
                    y.set_bits::<16>(16 * l, bits(sat(r) as u16 as LiteralType));
                }
            }
        }
        self.state_next.next = next;
        self.y.next = y;
    }

    fn connect(&mut self) {
        self.state_next.connect();
        self.y.connect();
    }

    fn hdl(&self) -> Verilog {
        let f = self._frac_bits;
        let half = if f == 0 { 0 } else { 1u64 << (f - 1) };
        let mut v = String::from(
            "// ⌊a / b⌉ rounding half up, b > 0: ⌊(2a + b) / 2b⌋ on 64-bit two's complement.\n\
             function automatic [63:0] divr(input [63:0] num0, input [63:0] den0);\n\
             \x20   reg [63:0] num, den;\n\
             \x20   begin\n\
             \x20       num = (num0 << 1) + den0;\n\
             \x20       den = den0 << 1;\n\
             \x20       divr = den0 == 64'd0 ? 64'd0 : num[63] ? \
             64'd0 - ((64'd0 - num + den - 64'd1) / den) : num / den;\n\
             \x20   end\n\
             endfunction\n\
             // ⌊√v⌋ bit by bit from the top.\n\
             function automatic [63:0] isqrt(input [63:0] v);\n\
             \x20   reg [63:0] r, c;\n\
             \x20   integer i;\n\
             \x20   begin\n\
             \x20       r = 64'd0;\n\
             \x20       for (i = 31; i >= 0; i = i - 1) begin\n\
             \x20           c = r | (64'd1 << i);\n\
             \x20           if (c * c <= v) r = c;\n\
             \x20       end\n\
             \x20       isqrt = r;\n\
             \x20   end\n\
             endfunction\n\
             wire [63:0] n64 = {48'd0, n == 16'd0 ? 16'd1 : n};\n\
             wire [191:0] vj = state[j * 192 +: 192];\n\
             wire [63:0] mu = divr(s[63:0], n64);\n\
             wire [63:0] ex2 = divr(s[127:64], n64) - mu * mu;\n\
             wire [63:0] sigma = isqrt((ex2[63] ? 64'd0 : ex2) + 64'd1);\n\
             wire [63:0] mdy = divr(b[63:0], n64);\n\
             wire [63:0] mdyy = divr(b[127:64], n64);\n",
        );
        for l in 0..MAX_VECTOR_LANES {
            let (lo, st) = (16 * l, LANE_STATE * l);
            let _ = writeln!(
                v,
                "wire [63:0] a${l} = {{{{48{{a[{hi}]}}}}, a[{lo} +: 16]}};\n\
                 wire [63:0] b${l} = {{{{48{{b[{hi}]}}}}, b[{lo} +: 16]}};\n\
                 wire [63:0] v0${l} = state[{st} +: 64];\n\
                 wire [63:0] v1${l} = state[{st1} +: 64];\n\
                 wire [63:0] v2${l} = state[{st2} +: 64];\n\
                 wire [63:0] s0${l} = first ? 64'd0 : v0${l};\n\
                 wire [63:0] s1${l} = first ? 64'd0 : v1${l};\n\
                 wire signed [63:0] by${l} = $signed(b${l} * v1${l} + 64'd{half}) >>> {f};\n\
                 wire [63:0] t${l} = grad ? ((a${l} - v0${l}) << {f}) - by${l} : \
                 (a${l} - v0${l}) << {f};\n\
                 wire [63:0] q${l} = divr(t${l}, grad ? v2${l} : v1${l});",
                hi = lo + 15,
                st1 = st + 64,
                st2 = st + 128,
            );
        }
        v.push_str("always @(*) begin\n    state_next = state;\n    y = 0;\n");
        v.push_str("    if (row && stats) begin\n");
        for l in 0..MAX_VECTOR_LANES {
            let st = LANE_STATE * l;
            let _ = writeln!(
                v,
                "        state_next[{st} +: 64] = s0${l} + a${l};\n\
                 \x20       state_next[{st1} +: 64] = s1${l} + a${l} * b${l};",
                st1 = st + 64
            );
        }
        v.push_str(
            "    end else if (stats) begin\n\
             \x20       y = {s[127:64] + vj[127:64], s[63:0] + vj[63:0]};\n\
             \x20   end else if (!row) begin\n\
             \x20       state_next[j * 192 +: 192] = grad ? {sigma, mdyy, mdy} : {vj[191:128], sigma, mu};\n\
             \x20   end else begin\n",
        );
        for l in 0..MAX_VECTOR_LANES {
            let _ = writeln!(
                v,
                "        y[{lo} +: 16] = {};",
                sat16_64(&format!("q${l}")),
                lo = 16 * l
            );
        }
        v.push_str("    end\nend\n");
        Verilog::Custom(v)
    }
}

/// Verilog: INT16 saturation of the 64-bit two's complement `x`.
fn sat16_64(x: &str) -> String {
    format!(
        "(({x}[63:15] == 49'h0 || {x}[63:15] == 49'h1ffffffffffff) ? {x}[15:0] : ({x}[63] ? 16'h8000 : 16'h7fff))"
    )
}
