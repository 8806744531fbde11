//! The N:M mask of SR-STE and `MaskDecay` in the vector unit: each lane's weight ranked in its
//! M-group, groups restarting at every row of `width` weights (the exact simulator's
//! `row.chunks(m)`: a row that is not whole groups ends in a short one).
//!
//! ```text
//!  read cycle:  lane 0's column c in its row, width, m ─► GroupPhase ─► o = c mod M (the
//!               window starts o weights before lane 0, at its group), rem = weights from
//!               the window's start to the row's end, lim = rem + width (the next row's end)
//!  next cycle:  the 32-weight window, n, m, o, rem, lim ─► GroupKeep ─► keep_l
//! ```
//!
//! Lane l is window element p = o + l. Before `rem` its group starts at p − p mod M (the
//! window starts at a group of its row) and ends at rem at the latest; from `rem` on it is in
//! the next row, whose groups start at rem: q = p − rem, group from rem + q − q mod M, ending
//! at `lim` at the latest. A batch meets at most two rows because the encoder keeps rows at
//! least `lanes` long, and the window holds every group it meets:
//! - rows of whole groups end on group boundaries, so the groups are the tensor's M-aligned
//!   ones and end by `p − p mod M + M ≤ (M−1) + (lanes−1) + 1 ≤ 32` for M ≤ 16, 8 lanes (the
//!   encoder passes a row length that is a multiple of M covering the lanes instead of the
//!   real one, which changes no group);
//! - other rows: a next-row group ends by `p + M ≤ 2M + lanes − 2`, which the encoder keeps
//!   within 32.
//!
//! Combinational leaves written as Verilog text with `update` the same integers in Rust, like
//! [`crate::RankPack`]: hdl_gen has no remainder and cannot index the window by a computed
//! position. `j beats i` as in [`crate::RankPack`].

use crate::rank_pack::magnitude_beats;
use crate::vector_unit::MAX_VECTOR_LANES;
use nmsat_compiler::prune::Nm;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Weights of the window: the groups of a batch's lanes; see the module docs.
pub const WINDOW: usize = 32;
/// Bits of the window.
pub const WINDOW_BITS: usize = 16 * WINDOW;
/// `rem` and `lim` saturate here: beyond the window, any value says the same.
const EDGE: u64 = 64;

/// The row length the unit walks for N:M groups in rows of `width` weights on `lanes` lanes, or
/// `None` where the window cannot hold a batch's groups: rows of whole groups walk a multiple of
/// M covering the lanes (any multiple of M gives the same groups); other rows need at least
/// `lanes` weights (a batch meets two rows at most) and `2M + lanes − 2 ≤ 32`.
pub fn unit_width(nm: Nm, width: u64, lanes: u64) -> Option<u64> {
    let m = nm.m;
    if width.is_multiple_of(m) {
        Some(m * lanes.div_ceil(m))
    } else if width >= lanes && 2 * m + lanes - 2 <= WINDOW as u64 {
        Some(width)
    } else {
        None
    }
}

/// The window's place for the batch being read; see the module docs.
#[derive(LogicBlock, Default)]
pub struct GroupPhase {
    /// Lane 0's column in its row (< `width`).
    pub col: Signal<In, Bits<16>>,
    /// Weights per row.
    pub width: Signal<In, Bits<16>>,
    /// M (0 reads as 1).
    pub m: Signal<In, Bits<5>>,
    /// `col mod M`: lane 0's place in the window.
    pub offset: Signal<Out, Bits<5>>,
    /// Window elements before the row's end (at most 64).
    pub rem: Signal<Out, Bits<7>>,
    /// Window elements before the next row's end (at most 64).
    pub lim: Signal<Out, Bits<7>>,
}

impl Logic for GroupPhase {
    fn update(&mut self) {
        let (col, width) = (self.col.val().index(), self.width.val().index());
        let o = col % self.m.val().index().max(1);
        let rem = (width.wrapping_sub(col) & 0xFFFF) + o;
        self.offset.next = bits(o as LiteralType);
        self.rem.next = bits(rem.min(EDGE as usize) as LiteralType);
        self.lim.next = bits((rem + width).min(EDGE as usize) as LiteralType);
    }

    fn connect(&mut self) {
        self.offset.connect();
        self.rem.connect();
        self.lim.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "wire [15:0] m16 = {{11'd0, m == 5'd0 ? 5'd1 : m}};\n\
             wire [15:0] o16 = col % m16;\n\
             wire [16:0] r17 = {{1'b0, width - col}} + {{1'b0, o16}};\n\
             wire [17:0] l18 = {{1'b0, r17}} + {{2'b0, width}};\n\
             always @(*) begin\n\
             \x20   offset = o16[4:0];\n\
             \x20   rem = r17 > 17'd{EDGE} ? 7'd{EDGE} : r17[6:0];\n\
             \x20   lim = l18 > 18'd{EDGE} ? 7'd{EDGE} : l18[6:0];\n\
             end\n"
        ))
    }
}

/// Each lane's weight ranked in its N:M group; see the module docs.
#[derive(LogicBlock)]
pub struct GroupKeep {
    /// The window, element k in bits 16k … 16k+15.
    pub win: Signal<In, Bits<WINDOW_BITS>>,
    /// Kept weights per group, N.
    pub n: Signal<In, Bits<5>>,
    /// Group size M (2..=16).
    pub m: Signal<In, Bits<5>>,
    /// Lane 0's weight in the window (< M).
    pub offset: Signal<In, Bits<5>>,
    /// Window elements before the row's end.
    pub rem: Signal<In, Bits<7>>,
    /// Window elements before the next row's end.
    pub lim: Signal<In, Bits<7>>,
    /// Bit l: lane l's weight is among its group's N largest magnitudes.
    pub keep: Signal<Out, Bits<MAX_VECTOR_LANES>>,
    _lanes: usize,
}

impl GroupKeep {
    /// `lanes` (1..=8) lanes.
    pub fn new(lanes: usize) -> Self {
        Self {
            win: Default::default(),
            n: Default::default(),
            m: Default::default(),
            offset: Default::default(),
            rem: Default::default(),
            lim: Default::default(),
            keep: Default::default(),
            _lanes: lanes,
        }
    }
}

/// Lane at window element `p`: its group's first element and the bound its group ends by.
fn group_of(p: usize, m: usize, rem: usize, lim: usize) -> (usize, usize) {
    if p < rem {
        (p - p % m, rem)
    } else {
        let q = p - rem;
        (rem + q - q % m, lim)
    }
}

impl Logic for GroupKeep {
    fn update(&mut self) {
        let (n, m, offset) = (
            self.n.val().index(),
            self.m.val().index().max(1),
            self.offset.val().index(),
        );
        let (rem, lim) = (self.rem.val().index(), self.lim.val().index());
        let win: Vec<i16> = (0..WINDOW)
            .map(|k| self.win.val().get_bits::<16>(16 * k).index() as u16 as i16)
            .collect();
        let mut keep = 0;
        for l in 0..self._lanes {
            let p = offset + l;
            let (base, end) = group_of(p, m, rem, lim);
            let rank = (base..(base + m).min(end).min(WINDOW))
                .filter(|&q| magnitude_beats(win[q], q, win[p], p))
                .count();
            if rank < n {
                keep |= 1 << l;
            }
        }
        self.keep.next = bits(keep);
    }

    fn connect(&mut self) {
        self.keep.connect();
    }

    fn hdl(&self) -> Verilog {
        let mut v = String::from("wire [15:0] mag [0:31];\n");
        for k in 0..WINDOW {
            let _ = writeln!(
                v,
                "wire [15:0] w${k} = win[{} +: 16];\nassign mag[{k}] = w${k}[15] ? -w${k} : w${k};",
                16 * k
            );
        }
        let _ = writeln!(v, "wire [6:0] m7 = {{2'b0, m == 5'd0 ? 5'd1 : m}};");
        for l in 0..self._lanes {
            // As `group_of`: the group's first element b and the bound e it ends by.
            let _ = writeln!(
                v,
                "wire [6:0] p${l} = {{2'b0, offset}} + 7'd{l};\n\
                 wire in${l} = p${l} < rem;\n\
                 wire [6:0] q${l} = p${l} - rem;\n\
                 wire [6:0] b${l} = in${l} ? p${l} - p${l} % m7 : rem + q${l} - q${l} % m7;\n\
                 wire [6:0] e${l} = in${l} ? rem : lim;"
            );
            let mut beats = vec![];
            for j in 0..16 {
                // Element b + j of the window, when the group has it.
                let _ = writeln!(
                    v,
                    "wire [6:0] x${l}${j} = b${l} + 7'd{j};\n\
                     wire beat${l}${j} = 7'd{j} < m7 && x${l}${j} < e${l} && x${l}${j} < 7'd{WINDOW} && \
                     (mag[x${l}${j}[4:0]] > mag[p${l}[4:0]] || \
                     (mag[x${l}${j}[4:0]] == mag[p${l}[4:0]] && x${l}${j} < p${l}));"
                );
                beats.push(format!("{{4'd0, beat${l}${j}}}"));
            }
            let _ = writeln!(v, "wire [4:0] rank${l} = {};", beats.join(" + "));
        }
        v.push_str("always @(*) begin\n    keep = 0;\n");
        for l in 0..self._lanes {
            let _ = writeln!(v, "    keep[{l}] = rank${l} < n;");
        }
        v.push_str("end\n");
        Verilog::Custom(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask_decay::DecayLanes;
    use crate::vector_arith::tests::{bus, exact, unbus, values};
    use crate::vector_arith::SgdLanes;
    use nmsat_compiler::arch::Arch;
    use nmsat_compiler::isa::{SrSte, VecOp};
    use nmsat_compiler::vector_steps;
    use rust_hdl::core::simulate::simulate;

    /// The keep bits of each batch of `w` in rows of `width`, as the vector unit forms them:
    /// lane 0's column advancing by `lanes` and wrapping at the row, the window read from lane
    /// 0's group on.
    fn keep_bits(w: &[i16], width: u64, nm: Nm, lanes: usize) -> Vec<u64> {
        let mut phase = GroupPhase::default();
        let mut keeper = GroupKeep::new(lanes);
        phase.connect_all();
        keeper.connect_all();
        let uw = unit_width(nm, width, lanes as u64).unwrap();
        let mut col = 0u64;
        let mut out = vec![];
        for b in (0..w.len()).step_by(lanes) {
            phase.col.next = bits(col as LiteralType);
            phase.width.next = bits(uw as LiteralType);
            phase.m.next = bits(nm.m);
            assert!(simulate(&mut phase, 10));
            let start = b - phase.offset.val().index();
            let mut win: Bits<WINDOW_BITS> = 0.into();
            for (k, &x) in w[start..].iter().take(WINDOW).enumerate() {
                win =
                    win | (bits::<WINDOW_BITS>(x as u16 as LiteralType) << (16 * k as LiteralType));
            }
            keeper.win.next = win;
            keeper.n.next = bits(nm.n);
            keeper.m.next = bits(nm.m);
            keeper.offset.next = phase.offset.val();
            keeper.rem.next = phase.rem.val();
            keeper.lim.next = phase.lim.val();
            assert!(simulate(&mut keeper, 10));
            out.push(keeper.keep.val().index() as u64);
            col += lanes as u64;
            if col >= uw {
                col -= uw;
            }
        }
        out
    }

    #[test]
    fn sgd_lanes_and_group_keep_equal_the_exact_simulator() {
        let arch = Arch::load("sat-small").unwrap();
        let l = arch.vector_lanes as usize;
        for (seed, nm, width) in [
            (1, Nm { n: 2, m: 8 }, 16),
            (2, Nm { n: 1, m: 4 }, 16),
            // Rows that are not whole groups: the digits CNN's conv1 (9 weights a row).
            (3, Nm { n: 2, m: 8 }, 9),
            (4, Nm { n: 2, m: 4 }, 10),
        ] {
            let elems = 4 * width as usize;
            let (w, dw, v) = (
                values(seed, elems),
                values(seed + 10, elems),
                values(seed + 20, elems),
            );
            let (lr, mu, lambda) = (40_000, -70_000, 1 << 15);
            let op = VecOp::Sgd {
                lr_q16: lr,
                momentum_q16: mu,
                srste: Some(SrSte {
                    nm,
                    lambda_q16: lambda,
                }),
            };
            let expected = exact(
                &arch,
                op,
                &[w.clone(), dw.clone(), v.clone()],
                2 * elems,
                width,
            );
            let mut sgd = SgdLanes::new(l);
            sgd.connect_all();
            for (i, keep) in keep_bits(&w, width, nm, l).into_iter().enumerate() {
                let b = i * l;
                let n = l.min(elems - b);
                let lanes = |x: &[i16]| {
                    let mut batch = x[b..b + n].to_vec();
                    batch.resize(l, 0);
                    bus(&batch)
                };
                sgd.w.next = lanes(&w);
                sgd.dw.next = lanes(&dw);
                sgd.v.next = lanes(&v);
                sgd.keep.next = bits(keep as LiteralType);
                sgd.lr.next = bits(lr as u32 as LiteralType);
                sgd.mu.next = bits(mu as u32 as LiteralType);
                sgd.lambda.next = bits(lambda as u32 as LiteralType);
                assert!(simulate(&mut sgd, 10));
                assert_eq!(
                    unbus(sgd.w2.val(), n),
                    expected[b..b + n],
                    "{nm} rows of {width}: w′ at {b}"
                );
                assert_eq!(
                    unbus(sgd.v2.val(), n),
                    expected[elems + b..elems + b + n],
                    "{nm} rows of {width}: v′ at {b}"
                );
            }
        }
    }

    /// Every row length from the lanes up, whole groups or not, against the exact
    /// simulator's `MaskDecay` (decay 0: a dropped weight reads 0, and no weight is 0).
    #[test]
    fn group_keep_restarts_groups_at_every_row() {
        let arch = Arch::load("sat-small").unwrap();
        for lanes in [arch.vector_lanes as usize, 8] {
            for nm in [
                Nm { n: 2, m: 8 },
                Nm { n: 1, m: 4 },
                Nm { n: 3, m: 8 },
                Nm { n: 1, m: 2 },
            ] {
                // Rows of other lengths need 2M + lanes − 2 ≤ 32.
                for width in lanes as u64..=3 * nm.m + 1 {
                    let elems = 3 * width as usize;
                    let w: Vec<i16> = values(width + nm.m, elems)
                        .into_iter()
                        .map(|x| if x == 0 { 1 } else { x })
                        .collect();
                    let y = exact(
                        &arch,
                        VecOp::MaskDecay { nm },
                        &[w.clone(), vec![0]],
                        elems,
                        width,
                    );
                    let mut decay = DecayLanes::new(arch.frac_bits);
                    decay.connect_all();
                    for (i, keep) in keep_bits(&w, width, nm, lanes).into_iter().enumerate() {
                        let b = i * lanes;
                        let n = lanes.min(elems - b);
                        let want: u64 = (0..n).map(|k| ((y[b + k] != 0) as u64) << k).sum();
                        assert_eq!(
                            keep & ((1 << n) - 1),
                            want,
                            "{nm} rows of {width} on {lanes} lanes: batch at {b}"
                        );
                        decay.w.next = bus(&w[b..b + n]);
                        decay.keep.next = bits(keep as LiteralType);
                        assert!(simulate(&mut decay, 10));
                        assert_eq!(unbus(decay.y.val(), n), y[b..b + n], "{nm} rows of {width}");
                    }
                }
            }
        }
    }

    /// The window's bytes for every batch of rows of `width` (whole groups or not) on 2, 4 and
    /// 8 lanes, as the unit walks them (`GroupPhase` at lane 0's column in the walked row,
    /// `left` elements from lane 0 on), are `vector_steps::window`'s.
    #[test]
    fn window_span_is_the_schedules_window() {
        let mut phase = GroupPhase::default();
        let mut span = WindowSpan::default();
        phase.connect_all();
        span.connect_all();
        for lanes in [2u64, 4, 8] {
            for (n, m) in [(1, 2), (2, 4), (1, 8), (4, 8), (3, 12)] {
                let nm = Nm { n, m };
                for width in lanes..=3 * m + 1 {
                    let Some(uw) = unit_width(nm, width, lanes) else {
                        continue;
                    };
                    let elems = 3 * width;
                    let mut col = 0;
                    for first in (0..elems).step_by(lanes as usize) {
                        let take = lanes.min(elems - first);
                        phase.col.next = bits(col as LiteralType);
                        phase.width.next = bits(uw as LiteralType);
                        phase.m.next = bits(m);
                        assert!(simulate(&mut phase, 10));
                        span.offset.next = phase.offset.val();
                        span.rem.next = phase.rem.val();
                        span.lim.next = phase.lim.val();
                        span.m.next = bits(m);
                        span.take.next = bits(take as LiteralType);
                        span.left.next = bits((elems - first) as LiteralType);
                        assert!(simulate(&mut span, 10));
                        let (start, len) = vector_steps::window(m, width, elems, first, take);
                        let ctx = format!("{nm:?}, width {width}, {lanes} lanes, from {first}");
                        assert_eq!(phase.offset.val().index() as u64, first - start, "{ctx}");
                        assert_eq!(span.bytes.val().index() as u64, 2 * len, "{ctx}");
                        col = (col + lanes) % uw;
                    }
                }
            }
        }
    }
}

/// The bytes of the window a batch's ranking uses: from the window's start (lane 0's group) to
/// the end of the last lane's group, which every other lane's ends by (groups are in order),
/// capped at its row's end (`rem`, or `lim` in the next row) and at the operation's last
/// element — `nmsat_compiler::vector_steps::window`, the words a bank sequencer fetches where
/// the unit's port reads 64 bytes.
#[derive(LogicBlock, Default)]
pub struct WindowSpan {
    /// Lane 0's place in the window ([`GroupPhase::offset`]).
    pub offset: Signal<In, Bits<5>>,
    /// [`GroupPhase::rem`].
    pub rem: Signal<In, Bits<7>>,
    /// [`GroupPhase::lim`].
    pub lim: Signal<In, Bits<7>>,
    /// M (0 reads as 1).
    pub m: Signal<In, Bits<5>>,
    /// Lanes the batch takes (1..=8).
    pub take: Signal<In, Bits<4>>,
    /// Elements left from lane 0 on.
    pub left: Signal<In, Bits<16>>,
    /// Bytes of the window from its start (at most 64).
    pub bytes: Signal<Out, Bits<7>>,
}

/// [`WindowSpan`]'s elements from the window's start, in plain integers.
pub fn window_span(offset: u64, rem: u64, lim: u64, m: u64, take: u64, left: u64) -> u64 {
    let m = m.max(1);
    let p = (offset + take).wrapping_sub(1) & 0xFF;
    let end = if p < rem {
        (p - p % m + m).min(rem)
    } else {
        let q = p - rem;
        (rem + q - q % m + m).min(lim)
    };
    end.min(offset + left)
}

impl Logic for WindowSpan {
    fn update(&mut self) {
        let e = window_span(
            self.offset.val().index() as u64,
            self.rem.val().index() as u64,
            self.lim.val().index() as u64,
            self.m.val().index() as u64,
            self.take.val().index() as u64,
            self.left.val().index() as u64,
        );
        self.bytes.next = bits((2 * (e & 0x3F)) as LiteralType);
    }

    fn connect(&mut self) {
        self.bytes.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "wire [7:0] m8 = {3'd0, m == 5'd0 ? 5'd1 : m};\n\
             wire [7:0] p = {3'd0, offset} + {4'd0, take} - 8'd1;\n\
             wire [7:0] r8 = {1'b0, rem};\n\
             wire [7:0] q = p - r8;\n\
             wire [7:0] a = p < r8 ? p - p % m8 + m8 : r8 + q - q % m8 + m8;\n\
             wire [7:0] cap = p < r8 ? r8 : {1'b0, lim};\n\
             wire [7:0] e1 = a < cap ? a : cap;\n\
             wire [16:0] rest = {12'd0, offset} + {1'b0, left};\n\
             wire [16:0] e = {9'd0, e1} < rest ? {9'd0, e1} : rest;\n\
             wire _unused_bits = &{1'b0, e[16:6]};\n\
             always @(*) bytes = {e[5:0], 1'b0};\n"
                .into(),
        )
    }
}
