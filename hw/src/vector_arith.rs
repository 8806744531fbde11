//! The vector unit's wide arithmetic, all lanes of one batch at once: [`SgdLanes`] (the SGD
//! step with momentum and the SR-STE decay), [`LossLanes`] (I-BERT's exponential and the
//! loss gradient's division) and [`PoolLanes`] (pooling and its gradients: reductions over
//! groups of taps); the SR-STE keep bits come from [`crate::GroupKeep`].
//!
//! ```text
//!  SgdLanes:  w, dw, v, keep, lr, μ, λ ─► v′ = sat(⌊μv⌉₁₆ + dw [+ ⌊λw⌉₁₆ if !keep]),
//!                                         w′ = sat(w − ⌊lr·v′⌉₁₆)
//!  LossLanes: x, max, S, batch, label  ─► e = iexp(x − max), max′, S′ (the row's running
//!                                         reductions), g = sat(⌊(e − [label]·S)·2^f / (S·batch)⌉)
//!                                         (without a label and batch 1: the softmax)
//!  PoolLanes: x, arg, the group so far  ─► per group of taps ending in the batch, packed from
//!                                         lane 0: the max and its tap (first on ties), or
//!                                         sat(⌊Σx·r⌉₁₆) (gradient of max: the taps whose arg
//!                                         is their position); the group so far after it
//! ```
//!
//! Combinational leaves written as Verilog text with `update` the same integers in Rust, like
//! [`crate::RankPack`]: rust-hdl multiplies only 16 × 16 bits, and these need 32 × 16-bit
//! products, a division by ln 2 and a 64-bit division (and pooling, lane chains and packing
//! that hdl_gen's indexing cannot express). The semantics are the exact
//! simulator's vector unit (`nmsat_sim::exact`, whose module docs define them); the divisions
//! are the Verilog operator, which Verilator evaluates in one step — a synthesised unit would
//! pipeline them into the unit's `latency`.

use crate::vector_unit::MAX_VECTOR_LANES;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Bits of a batch bus: `MAX_VECTOR_LANES` INT16 lanes, lane l in bits 16l … 16l+15.
pub const BATCH_BITS: usize = 16 * MAX_VECTOR_LANES;

pub(crate) fn lane(bus: Bits<BATCH_BITS>, l: usize) -> i64 {
    bus.get_bits::<16>(16 * l).index() as u16 as i16 as i64
}

pub(crate) fn to_bus(values: impl Iterator<Item = i64>) -> Bits<BATCH_BITS> {
    values.enumerate().fold(bits(0), |acc, (l, v)| {
        acc | (bits::<BATCH_BITS>(v as u16 as LiteralType) << (16 * l as LiteralType))
    })
}

/// `x` saturated to INT16.
pub(crate) fn sat(x: i64) -> i64 {
    x.clamp(i16::MIN as i64, i16::MAX as i64)
}

/// `⌊x⌉₁₆`: a round-half-up shift by 16.
fn round16(x: i64) -> i64 {
    (x + (1 << 15)) >> 16
}

/// Verilog: the wire `name`, the 48-bit sign extension of the `bits`-bit `value`.
fn sext48(v: &mut String, name: &str, value: &str, bits: usize) {
    let _ = writeln!(
        v,
        "wire [47:0] {name} = {{{{{}{{{value}[{}]}}}}, {value}}};",
        48 - bits,
        bits - 1
    );
}

/// Verilog: INT16 saturation of the 48-bit two's complement `x`.
fn sat16(x: &str) -> String {
    format!(
        "(({x}[47:15] == 33'h0 || {x}[47:15] == 33'h1ffffffff) ? {x}[15:0] : ({x}[47] ? 16'h8000 : 16'h7fff))"
    )
}

/// The SGD step of every lane; see the module docs.
#[derive(LogicBlock)]
pub struct SgdLanes {
    /// Weights.
    pub w: Signal<In, Bits<BATCH_BITS>>,
    /// Their gradients.
    pub dw: Signal<In, Bits<BATCH_BITS>>,
    /// Their momenta.
    pub v: Signal<In, Bits<BATCH_BITS>>,
    /// Bit l: lane l's weight is kept (no decay term); all ones without SR-STE.
    pub keep: Signal<In, Bits<MAX_VECTOR_LANES>>,
    /// Learning rate, Q16.16.
    pub lr: Signal<In, Bits<32>>,
    /// Momentum, Q16.16.
    pub mu: Signal<In, Bits<32>>,
    /// SR-STE decay, Q16.16.
    pub lambda: Signal<In, Bits<32>>,
    /// Updated weights.
    pub w2: Signal<Out, Bits<BATCH_BITS>>,
    /// Updated momenta.
    pub v2: Signal<Out, Bits<BATCH_BITS>>,
    _lanes: usize,
}

impl SgdLanes {
    /// `lanes` (1..=8) lanes; the others output zeros.
    pub fn new(lanes: usize) -> Self {
        Self {
            w: Default::default(),
            dw: Default::default(),
            v: Default::default(),
            keep: Default::default(),
            lr: Default::default(),
            mu: Default::default(),
            lambda: Default::default(),
            w2: Default::default(),
            v2: Default::default(),
            _lanes: lanes,
        }
    }
}

impl Logic for SgdLanes {
    fn update(&mut self) {
        let signed = |b: Bits<32>| b.index() as u32 as i32 as i64;
        let (lr, mu, lambda) = (
            signed(self.lr.val()),
            signed(self.mu.val()),
            signed(self.lambda.val()),
        );
        let keep = self.keep.val().index();
        let steps: Vec<(i64, i64)> = (0..self._lanes)
            .map(|l| {
                let (w, dw, v) = (
                    lane(self.w.val(), l),
                    lane(self.dw.val(), l),
                    lane(self.v.val(), l),
                );
                let decay = if keep >> l & 1 == 1 {
                    0
                } else {
                    round16(lambda * w)
                };
                let v2 = sat(round16(mu * v) + dw + decay);
                (sat(w - round16(lr * v2)), v2)
            })
            .collect();
        self.w2.next = to_bus(steps.iter().map(|s| s.0));
        self.v2.next = to_bus(steps.iter().map(|s| s.1));
    }

    fn connect(&mut self) {
        self.w2.connect();
        self.v2.connect();
    }

    fn hdl(&self) -> Verilog {
        let mut v = String::new();
        for c in ["lr", "mu", "lambda"] {
            sext48(&mut v, &format!("{c}48"), c, 32);
        }
        for l in 0..self._lanes {
            for s in ["w", "dw", "v"] {
                let _ = writeln!(v, "wire [15:0] {s}${l} = {s}[{} +: 16];", 16 * l);
                sext48(&mut v, &format!("{s}48${l}"), &format!("{s}${l}"), 16);
            }
            // Products of sign-extended operands: the low 48 bits are the signed product. Each
            // arithmetic shift is a wire of its own: inside a wider unsigned expression `>>>`
            // would shift logically.
            let _ = writeln!(
                v,
                "wire [47:0] mv${l} = mu48 * v48${l} + 48'd32768;\n\
                 wire [47:0] lw${l} = lambda48 * w48${l} + 48'd32768;\n\
                 wire [47:0] mvs${l} = $signed(mv${l}) >>> 16;\n\
                 wire [47:0] lws${l} = $signed(lw${l}) >>> 16;\n\
                 wire [47:0] vs${l} = mvs${l} + dw48${l} + (keep[{l}] ? 48'd0 : lws${l});\n\
                 wire [15:0] v2${l} = {};",
                sat16(&format!("vs${l}"))
            );
            sext48(&mut v, &format!("v248${l}"), &format!("v2${l}"), 16);
            let _ = writeln!(
                v,
                "wire [47:0] lv${l} = lr48 * v248${l} + 48'd32768;\n\
                 wire [47:0] lvs${l} = $signed(lv${l}) >>> 16;\n\
                 wire [47:0] ws${l} = w48${l} - lvs${l};"
            );
        }
        v.push_str("always @(*) begin\n    w2 = 0;\n    v2 = 0;\n");
        for l in 0..self._lanes {
            let _ = writeln!(
                v,
                "    w2[{lo} +: 16] = {};\n    v2[{lo} +: 16] = v2${l};",
                sat16(&format!("ws${l}")),
                lo = 16 * l
            );
        }
        v.push_str("end\n");
        unused_inputs(&mut v, self._lanes, &["w", "dw", "v"], "keep");
        Verilog::Custom(v)
    }
}

/// Verilog: marks the lanes of `buses` (and the bits of the per-lane `flags`) this unit does
/// not have as deliberately unused, for Verilator's `*unused*` pattern.
fn unused_inputs(v: &mut String, lanes: usize, buses: &[&str], flags: &str) {
    if lanes == MAX_VECTOR_LANES {
        return;
    }
    let mut parts: Vec<String> = buses
        .iter()
        .map(|b| format!("{b}[{}:{}]", BATCH_BITS - 1, 16 * lanes))
        .collect();
    parts.push(format!("{flags}[{}:{lanes}]", MAX_VECTOR_LANES - 1));
    let _ = writeln!(v, "wire _unused_lanes = &{{1'b0, {}}};", parts.join(", "));
}

/// I-BERT's `e^x` of `x = d·2^(16−f) ≤ 0` given `a = −d ≥ 0` (Q.f): `x = p − z·ln 2` with
/// `z = ⌊−x / ln 2⌋`, so `p + 1.353 = 1.353 − (−x mod ln 2)`; Q16 out.
fn iexp(a: i64, f: u32) -> i64 {
    let ax = a << (16 - f);
    let z = ax / LN2;
    let t = B - ax % LN2;
    let e = round16(A * round16(t * t)) + C;
    if z > 16 {
        0
    } else {
        e >> z
    }
}

/// ln 2, 0.3585, 1.353 and 0.344 in Q16 (the exact simulator's constants).
const LN2: i64 = 45426;
const A: i64 = 23495;
const B: i64 = 88670;
const C: i64 = 22544;

/// The loss lanes of one batch of a row; see the module docs.
#[derive(LogicBlock)]
pub struct LossLanes {
    /// Logits.
    pub x: Signal<In, Bits<BATCH_BITS>>,
    /// Lanes holding a class of the row (the first `n`).
    pub n: Signal<In, Bits<4>>,
    /// The row's maximum so far (pass 1), then its maximum.
    pub max: Signal<In, Bits<16>>,
    /// The row's Σe so far (pass 2), then its sum.
    pub sum: Signal<In, Bits<32>>,
    /// This is the row's first batch: the reductions start afresh.
    pub first: Signal<In, Bit>,
    /// The class of lane 0.
    pub col: Signal<In, Bits<16>>,
    /// The row's label (INT16).
    pub label: Signal<In, Bits<16>>,
    /// There is a label: the loss (otherwise no class is hit: the softmax, with a batch of 1).
    pub labelled: Signal<In, Bit>,
    /// The mean's divisor.
    pub batch: Signal<In, Bits<16>>,
    /// `max` with this batch's logits.
    pub max_next: Signal<Out, Bits<16>>,
    /// `sum` with this batch's exponentials.
    pub sum_next: Signal<Out, Bits<32>>,
    /// The gradients.
    pub g: Signal<Out, Bits<BATCH_BITS>>,
    _lanes: usize,
    _frac_bits: u32,
}

impl LossLanes {
    /// `lanes` (1..=8) lanes for Q.`frac_bits` values (≤ 15).
    pub fn new(lanes: usize, frac_bits: u32) -> Self {
        Self {
            x: Default::default(),
            n: Default::default(),
            max: Default::default(),
            sum: Default::default(),
            first: Default::default(),
            col: Default::default(),
            label: Default::default(),
            labelled: Default::default(),
            batch: Default::default(),
            max_next: Default::default(),
            sum_next: Default::default(),
            g: Default::default(),
            _lanes: lanes,
            _frac_bits: frac_bits,
        }
    }
}

impl Logic for LossLanes {
    fn update(&mut self) {
        let f = self._frac_bits;
        let n = (self.n.val().index()).min(self._lanes);
        let max = self.max.val().index() as u16 as i16 as i64;
        let sum = self.sum.val().index() as i64;
        let (col, label) = (
            self.col.val().index() as i64,
            self.label.val().index() as i64,
        );
        let batch = self.batch.val().index() as i64;
        let x: Vec<i64> = (0..self._lanes).map(|l| lane(self.x.val(), l)).collect();
        let e: Vec<i64> = x.iter().map(|&x| iexp((max - x).max(0), f)).collect();
        let (max_next, sum_next) = reduce_row(&x[..n], &e[..n], max, sum, self.first.val());
        self.max_next.next = bits(max_next as u16 as LiteralType);
        self.sum_next.next = bits(sum_next as u32 as LiteralType);
        // ⌊num / d⌉ rounding half up is ⌊(2·num + d) / 2d⌋.
        let d = sum * batch;
        self.g.next = to_bus(e.iter().enumerate().map(|(l, &e)| {
            let hit = self.labelled.val() && (col + l as i64) == label;
            let num = (e - hit as i64 * sum) << f;
            if d == 0 {
                0
            } else {
                sat((2 * num + d).div_euclid(2 * d))
            }
        }));
    }

    fn connect(&mut self) {
        self.max_next.connect();
        self.sum_next.connect();
        self.g.connect();
    }

    fn hdl(&self) -> Verilog {
        let f = self._frac_bits;
        let mut v = String::new();
        let _ = writeln!(
            v,
            "wire [63:0] s64 = {{32'd0, sum}};\n\
             wire [63:0] d64 = s64 * {{48'd0, batch}};\n\
             wire [63:0] dd64 = d64 << 1;"
        );
        for l in 0..self._lanes {
            iexp_wires(&mut v, l, f);
            let _ = writeln!(
                v,
                "wire hit${l} = labelled && col + 16'd{l} == label;\n\
                 wire [63:0] num${l} = {{24'd0, e${l}}} - (hit${l} ? s64 : 64'd0);\n\
                 wire [63:0] q${l} = (num${l} << {f1}) + d64;\n\
                 wire [63:0] g${l} = dd64 == 64'd0 ? 64'd0 : q${l}[63] ? \
                 64'd0 - ((64'd0 - q${l} + dd64 - 64'd1) / dd64) : q${l} / dd64;",
                f1 = f + 1,
            );
        }
        reduce_row_always(&mut v, self._lanes, "    g = 0;\n");
        for l in 0..self._lanes {
            let _ = writeln!(
                v,
                "    g[{lo} +: 16] = {};",
                sat16_64(&format!("g${l}")),
                lo = 16 * l
            );
        }
        v.push_str("end\n");
        unused_lanes(&mut v, self._lanes);
        Verilog::Custom(v)
    }
}

/// A row's running maximum and Σe after a batch of logits `x` and their exponentials `e`
/// (against the maximum so far): the batch's own when it is the row's first.
fn reduce_row(x: &[i64], e: &[i64], max: i64, sum: i64, first: bool) -> (i64, i64) {
    let bmax = x.iter().copied().max().unwrap_or(max);
    let esum: i64 = e.iter().sum();
    if first {
        (bmax, esum)
    } else {
        (bmax.max(max), sum + esum)
    }
}

/// Verilog: lane `l`'s logit `x$l` and `e$l` = [`iexp`] of it against `max` (Q16).
fn iexp_wires(v: &mut String, l: usize, f: u32) {
    // −(x − max) ≥ 0 as 17 bits, then Q16 (40 bits hold 2^16 · 2^16).
    let _ = writeln!(
        v,
        "wire [15:0] x${l} = x[{lo} +: 16];\n\
         wire [16:0] a${l} = {{max[15], max}} - {{x${l}[15], x${l}}};\n\
         wire [39:0] ax${l} = {{23'd0, a${l}[16] ? 17'd0 : a${l}}} << {sh};\n\
         wire [39:0] z${l} = ax${l} / 40'd{LN2};\n\
         wire [39:0] t${l} = 40'd{B} - ax${l} % 40'd{LN2};\n\
         wire [39:0] tt${l} = (t${l} * t${l} + 40'd32768) >> 16;\n\
         wire [39:0] e0${l} = ((40'd{A} * tt${l} + 40'd32768) >> 16) + 40'd{C};\n\
         wire [39:0] e${l} = z${l} > 40'd16 ? 40'd0 : e0${l} >> z${l}[4:0];",
        lo = 16 * l,
        sh = 16 - f,
    );
}

/// Verilog: an `always` block opening with [`reduce_row`] into `max_next` and `sum_next`
/// over the first `n` lanes, after `init`; the caller closes it.
fn reduce_row_always(v: &mut String, lanes: usize, init: &str) {
    v.push_str("always @(*) begin\n    max_next = first ? x$0 : max;\n    sum_next = first ? 32'd0 : sum;\n");
    v.push_str(init);
    for l in 0..lanes {
        let _ = writeln!(
            v,
            "    if (4'd{l} < n) begin\n\
             \x20       if ($signed(x${l}) > $signed(max_next)) max_next = x${l};\n\
             \x20       sum_next = sum_next + e${l}[31:0];\n\
             \x20   end"
        );
    }
}

/// Verilog: the bus lanes beyond `lanes` marked used (Verilator's lint).
fn unused_lanes(v: &mut String, lanes: usize) {
    if lanes < MAX_VECTOR_LANES {
        let _ = writeln!(
            v,
            "wire _unused_lanes = &{{1'b0, x[{}:{}]}};",
            BATCH_BITS - 1,
            16 * lanes
        );
    }
}

/// A row's running maximum and Σe over one batch, as [`LossLanes`] forms them: the softmax
/// gradient's second set, which reduces the next row while the loss lanes recompute this
/// row's softmax (see `VectorUnit`).
#[derive(LogicBlock)]
pub struct ExpSumLanes {
    /// Logits.
    pub x: Signal<In, Bits<BATCH_BITS>>,
    /// Lanes holding an element of the row (the first `n`).
    pub n: Signal<In, Bits<4>>,
    /// The row's maximum so far (its first pass), then its maximum.
    pub max: Signal<In, Bits<16>>,
    /// The row's Σe so far (its second pass).
    pub sum: Signal<In, Bits<32>>,
    /// This is the row's first batch of a pass: the reduction starts afresh.
    pub first: Signal<In, Bit>,
    /// `max` with this batch's logits.
    pub max_next: Signal<Out, Bits<16>>,
    /// `sum` with this batch's exponentials.
    pub sum_next: Signal<Out, Bits<32>>,
    _lanes: usize,
    _frac_bits: u32,
}

impl ExpSumLanes {
    /// `lanes` (1..=8) lanes for Q.`frac_bits` values (≤ 15).
    pub fn new(lanes: usize, frac_bits: u32) -> Self {
        Self {
            x: Default::default(),
            n: Default::default(),
            max: Default::default(),
            sum: Default::default(),
            first: Default::default(),
            max_next: Default::default(),
            sum_next: Default::default(),
            _lanes: lanes,
            _frac_bits: frac_bits,
        }
    }
}

impl Logic for ExpSumLanes {
    fn update(&mut self) {
        let n = (self.n.val().index()).min(self._lanes);
        let max = self.max.val().index() as u16 as i16 as i64;
        let x: Vec<i64> = (0..n).map(|l| lane(self.x.val(), l)).collect();
        let e: Vec<i64> = x
            .iter()
            .map(|&x| iexp((max - x).max(0), self._frac_bits))
            .collect();
        let sum = self.sum.val().index() as i64;
        let (max_next, sum_next) = reduce_row(&x, &e, max, sum, self.first.val());
        self.max_next.next = bits(max_next as u16 as LiteralType);
        self.sum_next.next = bits(sum_next as u32 as LiteralType);
    }

    fn connect(&mut self) {
        self.max_next.connect();
        self.sum_next.connect();
    }

    fn hdl(&self) -> Verilog {
        let mut v = String::new();
        for l in 0..self._lanes {
            iexp_wires(&mut v, l, self._frac_bits);
        }
        reduce_row_always(&mut v, self._lanes, "");
        v.push_str("end\n");
        unused_lanes(&mut v, self._lanes);
        // e ≤ 1.353 in Q16 fits Σe's 32 bits; the loss lanes use all 40 in their gradients.
        let high: Vec<String> = (0..self._lanes).map(|l| format!("e${l}[39:32]")).collect();
        let _ = writeln!(v, "wire _unused_e = &{{1'b0, {}}};", high.join(", "));
        Verilog::Custom(v)
    }
}

/// Verilog: INT16 saturation of the 64-bit two's complement `x`.
pub(crate) fn sat16_64(x: &str) -> String {
    format!(
        "(({x}[63:15] == 49'h0 || {x}[63:15] == 49'h1ffffffffffff) ? {x}[15:0] : ({x}[63] ? 16'h8000 : 16'h7fff))"
    )
}

/// The pooling lanes of one batch; see the module docs.
///
/// The batch's elements continue the stream of groups of `taps` elements (a pooling window, or
/// a gradient element's phase taps) where the previous batch left it: `j` is the tap of the
/// element before lane 0 (`taps − 1` at the start), `carry` and `carry_at` the reduction of its
/// group so far, `v` and `pos` its tap column and window position (`PoolGrad` max).
#[derive(LogicBlock)]
pub struct PoolLanes {
    /// The elements (`Pool`'s window values, `PoolGrad`'s dY taps).
    pub x: Signal<In, Bits<BATCH_BITS>>,
    /// `PoolGrad` max: the argmax of each tap's window.
    pub arg: Signal<In, Bits<BATCH_BITS>>,
    /// Lanes holding an element (the first `n`).
    pub n: Signal<In, Bits<4>>,
    /// Reduce to the maximum and its tap (else to the sum, scaled by `recip`).
    pub max: Signal<In, Bit>,
    /// Sum only the taps whose window's argmax is their position (`PoolGrad` max).
    pub masked: Signal<In, Bit>,
    /// Elements per group.
    pub taps: Signal<In, Bits<8>>,
    /// The scale of a sum, Q16.16 (`⌊2^16/window⌉`; 2^16 for `PoolGrad` max).
    pub recip: Signal<In, Bits<17>>,
    /// `PoolGrad` max: tap 0's window position, its step along a tap row, and the step from
    /// the end of a tap row to the next one's start (both subtracted).
    pub base: Signal<In, Bits<8>>,
    /// See `base`.
    pub step: Signal<In, Bits<8>>,
    /// See `base`.
    pub row: Signal<In, Bits<8>>,
    /// `PoolGrad` max: taps per tap row.
    pub kb: Signal<In, Bits<8>>,
    /// The tap of the element before lane 0.
    pub j: Signal<In, Bits<8>>,
    /// Its tap column.
    pub v: Signal<In, Bits<8>>,
    /// Its window position.
    pub pos: Signal<In, Bits<8>>,
    /// Its group's maximum or sum so far (a maximum in the low 16 bits).
    pub carry: Signal<In, Bits<32>>,
    /// The tap of that maximum.
    pub carry_at: Signal<In, Bits<8>>,
    /// The results of the groups ending in this batch, from lane 0 on.
    pub y: Signal<Out, Bits<BATCH_BITS>>,
    /// Their maxima's taps.
    pub at: Signal<Out, Bits<BATCH_BITS>>,
    /// How many groups end in this batch.
    pub count: Signal<Out, Bits<4>>,
    /// `j` after this batch.
    pub j_next: Signal<Out, Bits<8>>,
    /// `v` after this batch.
    pub v_next: Signal<Out, Bits<8>>,
    /// `pos` after this batch.
    pub pos_next: Signal<Out, Bits<8>>,
    /// `carry` after this batch.
    pub carry_next: Signal<Out, Bits<32>>,
    /// `carry_at` after this batch.
    pub at_next: Signal<Out, Bits<8>>,
    _lanes: usize,
}

impl PoolLanes {
    /// `lanes` (1..=8) lanes.
    pub fn new(lanes: usize) -> Self {
        Self {
            x: Default::default(),
            arg: Default::default(),
            n: Default::default(),
            max: Default::default(),
            masked: Default::default(),
            taps: Default::default(),
            recip: Default::default(),
            base: Default::default(),
            step: Default::default(),
            row: Default::default(),
            kb: Default::default(),
            j: Default::default(),
            v: Default::default(),
            pos: Default::default(),
            carry: Default::default(),
            carry_at: Default::default(),
            y: Default::default(),
            at: Default::default(),
            count: Default::default(),
            j_next: Default::default(),
            v_next: Default::default(),
            pos_next: Default::default(),
            carry_next: Default::default(),
            at_next: Default::default(),
            _lanes: lanes,
        }
    }
}

impl Logic for PoolLanes {
    fn update(&mut self) {
        let u = |b: usize| b as i64;
        let n = self.n.val().index().min(self._lanes);
        let (taps, kb) = (u(self.taps.val().index()), u(self.kb.val().index()));
        let (base, step, row) = (
            u(self.base.val().index()),
            u(self.step.val().index()),
            u(self.row.val().index()),
        );
        let recip = u(self.recip.val().index());
        let (mut j, mut v, mut pos) = (
            u(self.j.val().index()),
            u(self.v.val().index()),
            u(self.pos.val().index()),
        );
        let mut acc = self.carry.val().index() as u32 as i32 as i64;
        if self.max.val() {
            acc = acc as i16 as i64;
        }
        let mut at = u(self.carry_at.val().index());
        let (mut ys, mut ats) = (vec![], vec![]);
        for l in 0..n {
            let x = lane(self.x.val(), l);
            if j + 1 == taps {
                (j, v, pos) = (0, 0, base);
            } else if v + 1 == kb {
                (j, v, pos) = (j + 1, 0, (pos - row) & 0xFF);
            } else {
                (j, v, pos) = (j + 1, v + 1, (pos - step) & 0xFF);
            }
            let term = if self.masked.val() && lane(self.arg.val(), l) != pos {
                0
            } else {
                x
            };
            if self.max.val() {
                // The first maximum: a later equal value does not replace it.
                if j == 0 || x > acc {
                    (acc, at) = (x, j);
                }
            } else {
                acc = if j == 0 { term } else { acc + term };
            }
            if j + 1 == taps {
                ys.push(if self.max.val() {
                    acc
                } else {
                    sat(round16(acc * recip))
                });
                ats.push(at);
            }
        }
        self.count.next = bits(ys.len() as LiteralType);
        self.y.next = to_bus(ys.into_iter());
        self.at.next = to_bus(ats.into_iter());
        self.j_next.next = bits(j as LiteralType);
        self.v_next.next = bits(v as LiteralType);
        self.pos_next.next = bits(pos as LiteralType);
        self.carry_next.next = bits(acc as u32 as LiteralType);
        self.at_next.next = bits(at as LiteralType);
    }

    fn connect(&mut self) {
        self.y.connect();
        self.at.connect();
        self.count.connect();
        self.j_next.connect();
        self.v_next.connect();
        self.pos_next.connect();
        self.carry_next.connect();
        self.at_next.connect();
    }

    fn hdl(&self) -> Verilog {
        let mut v = String::new();
        // Lane −1 is the element before the batch; a lane past `n` passes its state on.
        let _ = writeln!(
            v,
            "wire [7:0] j$m = j;\nwire [7:0] v$m = v;\nwire [7:0] p$m = pos;\n\
             wire [31:0] s$m = carry;\nwire [7:0] a$m = carry_at;\nwire [3:0] c$m = 4'd0;\n\
             wire [63:0] r64 = {{47'd0, recip}};"
        );
        for l in 0..self._lanes {
            let p = if l == 0 {
                "$m".to_string()
            } else {
                format!("{}", l - 1)
            };
            let _ = writeln!(
                v,
                "wire on{l} = 4'd{l} < n;\n\
                 wire [15:0] x{l} = x[{lo} +: 16];\n\
                 wire wrap{l} = j{p} + 8'd1 == taps;\n\
                 wire rend{l} = v{p} + 8'd1 == kb;\n\
                 wire [7:0] jj{l} = wrap{l} ? 8'd0 : j{p} + 8'd1;\n\
                 wire [7:0] vv{l} = (wrap{l} | rend{l}) ? 8'd0 : v{p} + 8'd1;\n\
                 wire [7:0] pp{l} = wrap{l} ? base : p{p} - (rend{l} ? row : step);\n\
                 wire [15:0] t{l} = (masked && arg[{lo} +: 16] != {{8'd0, pp{l}}}) ? 16'd0 : x{l};\n\
                 wire [31:0] tt{l} = {{{{16{{t{l}[15]}}}}, t{l}}};\n\
                 wire beats{l} = jj{l} == 8'd0 || $signed(x{l}) > $signed(s{p}[15:0]);\n\
                 wire [31:0] ss{l} = max ? (beats{l} ? {{16'd0, x{l}}} : s{p}) \
                 : (jj{l} == 8'd0 ? tt{l} : s{p} + tt{l});\n\
                 wire [7:0] aa{l} = (max && beats{l}) ? jj{l} : a{p};\n\
                 wire end{l} = on{l} && jj{l} + 8'd1 == taps;\n\
                 wire [63:0] q{l} = {{{{32{{ss{l}[31]}}}}, ss{l}}} * r64 + 64'd32768;\n\
                 wire [63:0] qs{l} = $signed(q{l}) >>> 16;\n\
                 wire [15:0] res{l} = max ? ss{l}[15:0] : {sat};\n\
                 wire [7:0] j{l} = on{l} ? jj{l} : j{p};\n\
                 wire [7:0] v{l} = on{l} ? vv{l} : v{p};\n\
                 wire [7:0] p{l} = on{l} ? pp{l} : p{p};\n\
                 wire [31:0] s{l} = on{l} ? ss{l} : s{p};\n\
                 wire [7:0] a{l} = on{l} ? aa{l} : a{p};\n\
                 wire [3:0] c{l} = c{p} + {{3'd0, end{l}}};",
                lo = 16 * l,
                sat = sat16_64(&format!("qs{l}")),
            );
        }
        let last = self._lanes - 1;
        let _ = writeln!(
            v,
            "always @(*) begin\n    y = 0;\n    at = 0;\n    count = c{last};\n    \
             j_next = j{last};\n    v_next = v{last};\n    pos_next = p{last};\n    \
             carry_next = s{last};\n    at_next = a{last};"
        );
        // Group k's result is that of the lane where the k-th group ends.
        for l in 0..self._lanes {
            let p = if l == 0 {
                "$m".to_string()
            } else {
                format!("{}", l - 1)
            };
            for k in 0..=l {
                let _ = writeln!(
                    v,
                    "    if (end{l} && c{p} == 4'd{k}) begin y[{lo} +: 16] = res{l}; \
                     at[{lo} +: 16] = {{8'd0, aa{l}}}; end",
                    lo = 16 * k
                );
            }
        }
        v.push_str("end\n");
        if self._lanes < MAX_VECTOR_LANES {
            let _ = writeln!(
                v,
                "wire _unused_lanes = &{{1'b0, x[{hi}:{lo}], arg[{hi}:{lo}]}};",
                hi = BATCH_BITS - 1,
                lo = 16 * self._lanes
            );
        }
        Verilog::Custom(v)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use nmsat_compiler::arch::{Arch, RegionId};
    use nmsat_compiler::isa::{Buf, Instr, Op, Phase, Program, VecOp};
    use rust_hdl::core::simulate::simulate;

    #[test]
    fn iexp_matches_the_exact_simulators_form() {
        // The exact simulator computes z = −x / ln 2 and p + b = x + z·ln 2 + b.
        for a in [0i64, 1, 2, 100, 177, 178, 255, 256, 4000, 65535] {
            let x = -(a << 8);
            let z = -x / LN2;
            let t = x + z * LN2 + B;
            let e = round16(A * round16(t * t)) + C;
            let reference = if z >= 63 { 0 } else { e >> z };
            assert_eq!(iexp(a, 8), reference, "a = {a}");
        }
    }

    /// `op` over the INT16 sources `srcs` in the exact simulator: its destination's values.
    pub(crate) fn exact(
        arch: &Arch,
        op: VecOp,
        srcs: &[Vec<i16>],
        out: usize,
        width: u64,
    ) -> Vec<i16> {
        exact_of(arch, op, srcs, out, width, srcs[0].len() as u64)
    }

    /// [`exact`] of `elems` elements.
    fn exact_of(
        arch: &Arch,
        op: VecOp,
        srcs: &[Vec<i16>],
        out: usize,
        width: u64,
        elems: u64,
    ) -> Vec<i16> {
        let buf = |k: u64, elems: usize| Buf {
            region: RegionId::Input,
            addr: 2048 * k,
            bytes: 2 * elems as u64,
        };
        let bufs: Vec<Buf> = (0..srcs.len())
            .map(|k| buf(k as u64, srcs[k].len()))
            .collect();
        let dst = buf(srcs.len() as u64, out);
        let prog = Program {
            arch: arch.name.clone(),
            model: "leaf".into(),
            batch: 1,
            nm: None,
            layers: vec!["leaf".into()],
            tensors: vec![],
            instrs: vec![Instr {
                op: Op::Vector {
                    op,
                    srcs: bufs.clone(),
                    dst,
                    elems,
                    width,
                },
                waits: vec![],
                layer: 0,
                phase: Phase::Update,
            }],
        };
        let mut mem = nmsat_sim::exact::Memory::new(arch, &prog);
        let bytes = |v: &[i16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        for (b, values) in bufs.iter().zip(srcs) {
            mem.sp_mut(b).copy_from_slice(&bytes(values));
        }
        nmsat_sim::simulate_exact_on(arch, &prog, &mut mem).unwrap();
        mem.sp(&dst)
            .chunks(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    /// Deterministic values: a few small ones (ties, zeros) among full-range ones.
    pub(crate) fn values(seed: u64, n: usize) -> Vec<i16> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let x = (s >> 40) as i16;
                if i % 3 == 0 {
                    x % 4
                } else {
                    x
                }
            })
            .collect()
    }

    pub(crate) fn bus(v: &[i16]) -> Bits<BATCH_BITS> {
        to_bus(v.iter().map(|&x| x as i64))
    }

    pub(crate) fn unbus(b: Bits<BATCH_BITS>, n: usize) -> Vec<i16> {
        (0..n).map(|l| lane(b, l) as i16).collect()
    }

    #[test]
    fn loss_lanes_equal_the_exact_simulator() {
        let arch = Arch::load("sat-small").unwrap();
        let l = arch.vector_lanes as usize;
        let (classes, rows, batch) = (10, 3, 8);
        let logits: Vec<i16> = values(7, classes * rows).iter().map(|x| x / 16).collect();
        let labels = vec![3i16, 0, -1];
        let op = VecOp::Loss {
            classes: classes as u64,
            batch,
        };
        let expected = exact(
            &arch,
            op,
            &[logits.clone(), labels.clone()],
            classes * rows,
            classes as u64,
        );
        let mut loss = LossLanes::new(l, arch.frac_bits);
        loss.connect_all();
        loss.batch.next = bits(batch);
        loss.labelled.next = true;
        for (r, row) in logits.chunks(classes).enumerate() {
            loss.label.next = bits(labels[r] as u16 as LiteralType);
            // The three passes: the maximum, Σe, the gradients.
            let (mut max, mut sum) = (0.into(), 0.into());
            for pass in 0..3 {
                for col in (0..classes).step_by(l) {
                    let n = l.min(classes - col);
                    let mut x = row[col..col + n].to_vec();
                    x.resize(l, 0);
                    loss.x.next = bus(&x);
                    loss.n.next = bits(n as LiteralType);
                    loss.first.next = col == 0;
                    loss.col.next = bits(col as LiteralType);
                    loss.max.next = max;
                    loss.sum.next = sum;
                    assert!(simulate(&mut loss, 10));
                    match pass {
                        0 => max = loss.max_next.val(),
                        1 => sum = loss.sum_next.val(),
                        _ => assert_eq!(
                            unbus(loss.g.val(), n),
                            expected[r * classes + col..r * classes + col + n],
                            "row {r} from class {col}"
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn pool_lanes_equal_the_exact_simulator() {
        use crate::encode::encode;
        use nmsat_compiler::isa::PoolMode;
        let arch = Arch::load("sat-small").unwrap();
        let l = arch.vector_lanes as usize;
        let elems = 10;
        let ops = [
            VecOp::Pool {
                window: 3,
                mode: PoolMode::Max,
            },
            VecOp::Pool {
                window: 5,
                mode: PoolMode::Avg,
            },
            VecOp::PoolGrad {
                mode: PoolMode::Max,
                kernel: 3,
                stride: 2,
                phase_h: 0,
                phase_w: 1,
            },
        ];
        for op in ops {
            // The encoder's fields, from a program of this one operation.
            let grad = matches!(op, VecOp::PoolGrad { .. });
            let mut prog = crate::random_program(&arch, 1, 1);
            let buf = |addr, elems: usize| Buf {
                region: RegionId::Input,
                addr,
                bytes: 2 * elems as u64,
            };
            let taps = nmsat_compiler::timing::vector_ops_per_elem(op) as usize;
            let mut srcs = vec![buf(0, elems * taps)];
            if grad {
                srcs.push(buf(1024, elems * taps));
            }
            prog.instrs[0].op = Op::Vector {
                op,
                srcs,
                dst: buf(2048, 2 * elems),
                elems: elems as u64,
                width: elems as u64,
            };
            let queues = encode(&arch, &prog).unwrap();
            let p = queues
                .0
                .iter()
                .flatten()
                .find_map(|q| q.vector)
                .unwrap()
                .pool
                .unwrap();
            // Ties and window positions: values from few levels, arguments among them.
            let x: Vec<i16> = values(3, elems * taps).iter().map(|v| v % 3).collect();
            let arg: Vec<i16> = values(4, elems * taps)
                .iter()
                .map(|v| v.rem_euclid(9))
                .collect();
            let mut sources = vec![x.clone()];
            if grad {
                sources.push(arg.clone());
            }
            let out = if grad { elems } else { 2 * elems };
            let expected = exact_of(&arch, op, &sources, out, elems as u64, elems as u64);
            let mut pool = PoolLanes::new(l);
            pool.connect_all();
            pool.max.next = matches!(
                op,
                VecOp::Pool {
                    mode: PoolMode::Max,
                    ..
                }
            );
            pool.masked.next = grad;
            pool.taps.next = bits(p.taps as LiteralType);
            pool.recip.next = bits(p.recip as LiteralType);
            pool.base.next = bits(p.base as LiteralType);
            pool.step.next = bits(p.step as LiteralType);
            pool.row.next = bits(p.row as LiteralType);
            pool.kb.next = bits(p.kb as LiteralType);
            pool.j.next = bits(taps as LiteralType - 1);
            let (mut ys, mut ats) = (vec![], vec![]);
            for b in (0..elems * taps).step_by(l) {
                let n = l.min(elems * taps - b);
                let pad = |v: &[i16]| {
                    let mut v = v[b..b + n].to_vec();
                    v.resize(l, 0);
                    bus(&v)
                };
                pool.x.next = pad(&x);
                pool.arg.next = pad(&arg);
                pool.n.next = bits(n as LiteralType);
                assert!(simulate(&mut pool, 10));
                let count = pool.count.val().index();
                ys.extend(unbus(pool.y.val(), count));
                ats.extend(unbus(pool.at.val(), count));
                pool.j.next = pool.j_next.val();
                pool.v.next = pool.v_next.val();
                pool.pos.next = pool.pos_next.val();
                pool.carry.next = pool.carry_next.val();
                pool.carry_at.next = pool.at_next.val();
            }
            if !grad && pool.max.val() {
                ys.extend(ats);
            }
            assert_eq!(ys, expected[..ys.len()], "{op:?}");
            assert_eq!(ys.len(), if pool.max.val() { 2 * elems } else { elems });
        }
    }
}
