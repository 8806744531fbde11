//! `RankPack`: prunes one M-group to its N largest magnitudes and packs it in the compressed
//! form (`prune::pack_with_mask`), for an N:M pattern given at run time.
//!
//! ```text
//!  w[0..L], v (elements present) ─► rank_i = #{j < v : j beats i} ─► keep_i = i < v ∧ rank_i < n
//!        pos_i = #{j < i : keep_j} ─► slot k ◄ the kept w_i with pos_i = k (value, index i)
//!        out_bits = slot values (16 bits each, k < n) ‖ slot indices (ib bits each, LSB first)
//! ```
//!
//! `j beats i` is `|w_j| > |w_i|`, ties to the lower index, as in [`crate::Prune`]; `v < M` is
//! a row's last, partial group (the unit ranks what is there; missing slots pack as value 0 at
//! index 0, like `pack_row`). The packed group occupies `group_bytes(nm)` bytes from bit 0 of
//! `out_bits`; the bits above are zero. Combinational; written as Verilog text because the
//! ranks are sums over run-time-sized sets, with `update` the same algorithm in Rust.

use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Bits of the `out_bits` output: room for 15 values and 15 four-bit indices.
pub const GROUP_BITS: usize = 320;
/// Bits of the `w` input: 16 lanes of INT16, lane l in bits 16l … 16l+15.
pub const LANE_BITS: usize = 256;

/// Whether `a` (at index `ai` of its group) beats `b` (at `bi`): a larger magnitude, ties to
/// the lower index — the order the prune unit ranks by and the vector unit's SR-STE mask.
pub(crate) fn magnitude_beats(a: i16, ai: usize, b: i16, bi: usize) -> bool {
    let (ma, mb) = (a.unsigned_abs(), b.unsigned_abs());
    ma > mb || (ma == mb && ai < bi)
}

/// One group's rank network and packer, `L` lanes wide.
#[derive(LogicBlock)]
pub struct RankPack {
    /// The group, lane l in bits 16l … 16l+15 (lanes ≥ `v`, and ≥ the unit's lanes, are
    /// ignored): one bus, so that a parent can wire it as one signal.
    pub w: Signal<In, Bits<LANE_BITS>>,
    /// Kept values per group, N.
    pub n: Signal<In, Bits<5>>,
    /// Elements present, at most M.
    pub v: Signal<In, Bits<5>>,
    /// Bits per index, ⌈log2 M⌉.
    pub ib: Signal<In, Bits<3>>,
    /// The packed group, from bit 0 (`packed` is a SystemVerilog keyword).
    pub out_bits: Signal<Out, Bits<GROUP_BITS>>,
    _lanes: usize,
}

impl RankPack {
    /// A unit for groups of up to `lanes` (2..=16) elements.
    pub fn new(lanes: usize) -> Self {
        assert!(
            (2..=16).contains(&lanes),
            "a group has 2..=16 lanes, not {lanes}"
        );
        Self {
            w: Default::default(),
            n: Default::default(),
            _lanes: lanes,
            v: Default::default(),
            ib: Default::default(),
            out_bits: Default::default(),
        }
    }
}

impl Logic for RankPack {
    fn update(&mut self) {
        let l = self._lanes;
        let (n, v, ib) = (
            self.n.val().index(),
            self.v.val().index(),
            self.ib.val().index(),
        );
        let bus = self.w.val();
        let w: Vec<i16> = (0..l)
            .map(|i| bus.get_bits::<16>(16 * i).index() as u16 as i16)
            .collect();
        let mut slots = vec![(0i16, 0usize); l];
        let mut pos = 0;
        for i in 0..v.min(l) {
            let rank = (0..v.min(l))
                .filter(|&j| magnitude_beats(w[j], j, w[i], i))
                .count();
            if rank < n {
                slots[pos] = (w[i], i);
                pos += 1;
            }
        }
        let mut out: Bits<GROUP_BITS> = 0.into();
        for (k, &(value, index)) in slots.iter().enumerate().take(n.min(l)) {
            out =
                out | (bits::<GROUP_BITS>(value as u16 as LiteralType) << (16 * k as LiteralType));
            let at = 16 * n + k * ib;
            out = out | (bits::<GROUP_BITS>(index as LiteralType) << at as LiteralType);
        }
        self.out_bits.next = out;
    }

    fn connect(&mut self) {
        self.out_bits.connect();
    }

    fn hdl(&self) -> Verilog {
        let l = self._lanes;
        let mut v = String::new();
        for i in 0..l {
            // `-w` of a signed 16-bit value wraps -32768 to itself = 32768 unsigned.
            let _ = writeln!(
                v,
                "wire [15:0] w${i} = w[{lo} +: 16];\nwire [15:0] mag${i} = w${i}[15] ? -w${i} : w${i};",
                lo = 16 * i
            );
        }
        if l < 16 {
            // The bus is 16 lanes wide; Verilator's default `*unused*` pattern marks the lanes
            // this unit does not have as deliberately unused.
            let _ = writeln!(v, "wire _unused_lanes = &{{1'b0, w[255:{}]}};", 16 * l);
        }
        for i in 0..l {
            let beats: Vec<String> = (0..l)
                .filter(|&j| j != i)
                .map(|j| {
                    let op = if j < i { ">=" } else { ">" };
                    format!("{{4'd0, (5'd{j} < v) && (mag${j} {op} mag${i})}}")
                })
                .collect();
            let _ = writeln!(v, "wire [4:0] rank${i} = {};", beats.join(" + "));
            let _ = writeln!(v, "wire keep${i} = (5'd{i} < v) && (rank${i} < n);");
        }
        for i in 0..l {
            let before: Vec<String> = (0..i).map(|j| format!("{{4'd0, keep${j}}}")).collect();
            let sum = if before.is_empty() {
                "5'd0".to_string()
            } else {
                before.join(" + ")
            };
            let _ = writeln!(v, "wire [4:0] pos${i} = {sum};");
        }
        let _ = writeln!(
            v,
            "reg [15:0] val [0:{}];\nreg [3:0] idx [0:{}];",
            l - 1,
            l - 1
        );
        v.push_str("always @(*) begin\n");
        for k in 0..l {
            let _ = writeln!(v, "    val[{k}] = 16'd0;\n    idx[{k}] = 4'd0;");
            for i in k..l {
                let _ = writeln!(
                    v,
                    "    if (keep${i} && pos${i} == 5'd{k}) begin val[{k}] = w${i}; idx[{k}] = 4'd{i}; end"
                );
            }
        }
        let _ = writeln!(v, "    out_bits = {GROUP_BITS}'d0;");
        for k in 0..l {
            let _ = writeln!(
                v,
                "    if (5'd{k} < n) out_bits[{lo} +: 16] = val[{k}];",
                lo = 16 * k
            );
        }
        // Indices start after the n values; writing 4 bits of an index of `ib` bits leaves
        // zeros above it, which the next (ascending) index overwrites.
        for k in 0..l {
            let _ = writeln!(
                v,
                "    if (5'd{k} < n) out_bits[{{5'd0, n}} * 10'd16 + 10'd{k} * {{7'd0, ib}} +: 4] = idx[{k}];"
            );
        }
        v.push_str("end\n");
        Verilog::Custom(v)
    }
}
