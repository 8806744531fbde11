//! `DecayLanes`: the lanes of `MaskDecay` — each weight the rows' N:M mask keeps passes, each
//! other one is scaled by the decay factor d (Q.f): `sat(⌊w·d⌉_f)`, the exact simulator's
//! semantics (`nmsat_sim::exact` vector unit). Which weights are kept comes from
//! [`crate::GroupKeep`], as for SR-STE.
//!
//! ```text
//!  w (a batch), d, keep ─► y_l = keep_l ? w_l : sat(⌊w_l·d⌉_f)
//! ```
//!
//! A combinational leaf written as Verilog text with `update` the same integers in Rust, like
//! [`crate::SgdLanes`]: the product is signed 16 × 16 bits, which rust-hdl does not multiply.

use crate::vector_arith::BATCH_BITS;
use crate::vector_unit::MAX_VECTOR_LANES;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// The decay lanes of one batch; see the module docs.
#[derive(LogicBlock)]
pub struct DecayLanes {
    /// The weights.
    pub w: Signal<In, Bits<BATCH_BITS>>,
    /// The decay factor (INT16, Q.f).
    pub d: Signal<In, Bits<16>>,
    /// Bit l: lane l's weight is kept.
    pub keep: Signal<In, Bits<MAX_VECTOR_LANES>>,
    /// The masked weights.
    pub y: Signal<Out, Bits<BATCH_BITS>>,
    _frac_bits: u32,
}

impl DecayLanes {
    /// Lanes for Q.`frac_bits` values (≤ 15).
    pub fn new(frac_bits: u32) -> Self {
        Self {
            w: Default::default(),
            d: Default::default(),
            keep: Default::default(),
            y: Default::default(),
            _frac_bits: frac_bits,
        }
    }
}

/// `⌊x⌉_f`, rounding half up.
fn round_shift(x: i64, f: u32) -> i64 {
    if f == 0 {
        x
    } else {
        (x + (1 << (f - 1))) >> f
    }
}

impl Logic for DecayLanes {
    fn update(&mut self) {
        let d = self.d.val().index() as u16 as i16 as i64;
        let keep = self.keep.val().index();
        let mut y = Bits::<BATCH_BITS>::default();
        for l in 0..MAX_VECTOR_LANES {
            let w = self.w.val().get_bits::<16>(16 * l).index() as u16 as i16 as i64;
            let v = if keep >> l & 1 == 1 {
                w
            } else {
                round_shift(w * d, self._frac_bits).clamp(i16::MIN as i64, i16::MAX as i64)
            };
            y.set_bits::<16>(16 * l, bits(v as u16 as LiteralType));
        }
        self.y.next = y;
    }

    fn connect(&mut self) {
        self.y.connect();
    }

    fn hdl(&self) -> Verilog {
        let f = self._frac_bits;
        let half = if f == 0 { 0 } else { 1u32 << (f - 1) };
        let mut v = String::new();
        for l in 0..MAX_VECTOR_LANES {
            let _ = writeln!(
                v,
                "wire signed [15:0] w${l} = w[{lo} +: 16];\n\
                 wire signed [31:0] p${l} = w${l} * $signed(d);\n\
                 wire signed [31:0] r${l} = (p${l} + 32'sd{half}) >>> {f};",
                lo = 16 * l
            );
        }
        v.push_str("always @(*) begin\n");
        for l in 0..MAX_VECTOR_LANES {
            // r fits INT16 iff its bits 31…15 agree.
            let _ = writeln!(
                v,
                "    y[{lo} +: 16] = keep[{l}] ? w${l} : \
                 ((r${l}[31:15] == 17'h0 || r${l}[31:15] == 17'h1ffff) ? r${l}[15:0] : \
                 (r${l}[31] ? 16'h8000 : 16'h7fff));",
                lo = 16 * l
            );
        }
        v.push_str("end\n");
        Verilog::Custom(v)
    }
}
