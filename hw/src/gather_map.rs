//! `GatherMap`: where the elements of one answered DRAM word of a gathering load (`Im2col`,
//! `ConvBp`) land in the scratchpad tile — every copy of each.
//!
//! ```text
//!  start ─► latch the transfer's gather fields (see [`field`])
//!  answered word: DRAM row, byte offset in the row, useful bytes ──► (comb.)
//!      ──► for each of 4 elements × 9 tap slots: write enable, scratchpad byte address
//! ```
//!
//! **Im2col.** The DMA streams the tile's [`gather_rows`] (whole image rows, the tile's
//! channels); row `i` is tensor pixel `first + i` = (img, h, w), and the word's element `e` is
//! channel `c = lo + col/2 + e` of the view. Through tap (u, v) it is the window element of
//! output pixel `(img, (h + pad_h − u)/s, (w + pad_w − v)/s)` when both divisions are exact
//! and inside the output grid, at reduction index `k` = [`blocked_index`]⁻¹(c, u·kw + v); the
//! copy is written when that pixel and `k` fall in the tile. Exact divisions leave only the
//! taps of the element's stride phase, `u ≡ h + pad_h (mod s)`: with the phase
//! `u0 = (h + pad_h) mod s` and `q0 = ⌊(h + pad_h)/s⌋` (likewise v0, p0 for the columns),
//! tap slot (i, j) < 3 × 3 is phase tap `(u0 + i·s, v0 + j·s)`, output row `q0 − i`, column
//! `p0 − j`: one address computation per element and slot. So a kernel runs whose phases have
//! at most 3 taps a side, `⌈kh/s⌉, ⌈kw/s⌉ ≤ 3` (3×3 at stride 1, 5×5 at 2, 7×7 at 3, a patch
//! embedding's kernel = stride with one copy); the encoder refuses the others (ResNet's 7×7
//! stride-2 stem has 4×4 phase taps).
//! The tile's padding comes from no DRAM word: from the cycle after `start` the map fills the
//! tile with the pad value, [`FILL_BYTES`] a cycle, while the answers arrive; the region leaves
//! the bytes this gather's replicating write has already set (see [`crate::Scratchpad`]), and
//! the fill ends within the transfer because no region is faster than it (`check_dma`).
//!
//! **ConvBp.** Row `i` is output channel `co = lo + i` and holds the weights `[ci][dy][dx]` of
//! the tile's input channels; element `j = col/2 + e` is `ci = r0 + j / (kh·kw)` at kernel
//! position (dy, dx), which the stride phase uses as tap `(ka−1−(dy−ph)/s, kb−1−(dx−pw)/s)`
//! when both differences are non-negative multiples of s: one copy, in slot 0, its tap
//! computed, not enumerated, so a phase may have any number of taps (ka, kb).
//!
//! **Why a replicating write.** An Im2col element lands in up to 9 places, and a word arrives
//! every cycle: writing its copies one port-width at a time would fall behind the DMA when the
//! DRAM side is the bottleneck (the model's scratchpad side is a fluid whose bytes follow the
//! arrived fraction, not the arrival order). The region's replicating port (see
//! [`crate::Scratchpad`]) takes all 36 copies in the answer's cycle; the engine then stays busy
//! for the scratchpad beats the model charges (see [`crate::Dma`]).
//!
//! [`gather_rows`]: nmsat_compiler::isa::Im2colTile::gather_rows
//! [`blocked_index`]: nmsat_compiler::isa::blocked_index

use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Tap slots: an Im2col element's copies, through at most 3 × 3 taps of its stride phase.
pub const TAP_SLOTS: usize = 9;
/// Elements of one DRAM word.
pub const WORD_ELEMS: usize = 4;
/// Copies the replicating write takes a cycle: slot `t`, element `e` is port `t·4 + e`.
pub const GATHER_PORTS: usize = TAP_SLOTS * WORD_ELEMS;
/// Bytes the fill port sets a cycle.
pub const FILL_BYTES: usize = 256;
/// Most taps a side of an Im2col stride phase may have (⌈kernel side / stride⌉).
pub const MAX_PHASE_TAPS: u64 = 3;

/// The gather fields of a load, in port order (`ld_gf$j`). Im2col reads them as named;
/// ConvBp reads `PLANE` as kh·kw, `IN_W` as kw, `PAD_H`/`PAD_W` as the phase, `KH`/`KW` as
/// the phase's taps (ka, kb) and `CHANNELS`/`LO` as output channels.
pub mod field {
    /// 0: no gather; [`super::IM2COL`] or [`super::CONV_BP`].
    pub const MODE: usize = 0;
    /// Scratchpad beats the model charges: ⌈sp bytes / (banks · width)⌉.
    pub const SP_BEATS: usize = 1;
    /// The tile is `[px × k]`.
    pub const PIXEL_MAJOR: usize = 2;
    pub const SP_ADDR: usize = 3;
    pub const SP_BYTES: usize = 4;
    /// Fill the tile with the pad value first: some element of the tile lies in the padding.
    pub const FILL: usize = 5;
    pub const PAD_VALUE: usize = 6;
    /// Tensor pixel of the first DRAM row.
    pub const FIRST: usize = 7;
    /// in_h · in_w.
    pub const PLANE: usize = 8;
    pub const IN_W: usize = 9;
    /// Two's complement.
    pub const PAD_H: usize = 10;
    /// Two's complement.
    pub const PAD_W: usize = 11;
    pub const STRIDE: usize = 12;
    pub const KH: usize = 13;
    pub const KW: usize = 14;
    pub const OUT_H: usize = 15;
    pub const OUT_W: usize = 16;
    pub const PX0: usize = 17;
    pub const NPX: usize = 18;
    pub const K0: usize = 19;
    pub const NK: usize = 20;
    pub const CHANNELS: usize = 21;
    pub const BLOCK: usize = 22;
    /// First channel of the DRAM rows.
    pub const LO: usize = 23;
    /// Bytes of a DRAM row.
    pub const ROW_BYTES: usize = 24;
}
/// Number of gather fields.
pub const GATHER_FIELDS: usize = 25;
/// `field::MODE` of an Im2col load.
pub const IM2COL: u32 = 1;
/// `field::MODE` of a ConvBp load.
pub const CONV_BP: u32 = 2;

/// Verilog's `/` and `%` on unsigned values, whose division by zero Verilator makes 0.
fn div(a: u32, b: u32) -> u32 {
    a.checked_div(b).unwrap_or(0)
}
fn rem(a: u32, b: u32) -> u32 {
    a.checked_rem(b).unwrap_or(0)
}

/// Reduction index of channel `c` at tap `tap` in the blocked order (the inverse of
/// `isa::blocked_index`), in 32-bit wrapping arithmetic as the Verilog computes it.
fn blocked_k(c: u32, tap: u32, channels: u32, taps: u32, block: u32) -> u32 {
    let bs = div(c, block).wrapping_mul(block);
    let left = channels.wrapping_sub(bs);
    let len = if left < block { left } else { block };
    bs.wrapping_mul(taps)
        .wrapping_add(tap.wrapping_mul(len))
        .wrapping_add(c.wrapping_sub(bs))
}

/// The scratchpad byte address of every copy of the word's elements (port `t·4 + e`), or
/// `None`: the model of the Verilog, integer for integer.
pub fn targets(
    f: &[u32; GATHER_FIELDS],
    row: u32,
    col: u32,
    n: u32,
) -> [Option<u16>; GATHER_PORTS] {
    use field::*;
    let mut out = [None; GATHER_PORTS];
    let elems = n / 2;
    let half = col >> 1;
    let at = |k: u32, px_or_row: u32, pixel_major: bool| -> Option<u16> {
        let (k_rel, p_rel) = (k.wrapping_sub(f[K0]), px_or_row);
        let idx = if pixel_major {
            p_rel.wrapping_mul(f[NK]).wrapping_add(k_rel)
        } else {
            k_rel.wrapping_mul(f[NPX]).wrapping_add(p_rel)
        };
        Some(f[SP_ADDR].wrapping_add(idx << 1) as u16)
    };
    let k_in = |k: u32| k >= f[K0] && k < f[K0].wrapping_add(f[NK]);
    if f[MODE] == IM2COL {
        let s = f[STRIDE];
        let p = f[FIRST].wrapping_add(row);
        let (img, r) = (div(p, f[PLANE]), rem(p, f[PLANE]));
        let (h, w) = (div(r, f[IN_W]), rem(r, f[IN_W]));
        let taps = f[KH].wrapping_mul(f[KW]);
        // The element's phases (u0, v0) and the output row and column through tap (u0, v0);
        // slot (i, j) is tap (u0 + i·s, v0 + j·s), one output row and column earlier each.
        let (hp, wp) = (h.wrapping_add(f[PAD_H]), w.wrapping_add(f[PAD_W]));
        let (u0, qh0, v0, qw0) = (rem(hp, s), div(hp, s), rem(wp, s), div(wp, s));
        for i in 0..3u32 {
            let u = u0.wrapping_add(i.wrapping_mul(s));
            let qh = qh0.wrapping_sub(i);
            let vh = hp >> 31 == 0 && qh < f[OUT_H] && u < f[KH];
            for j in 0..3u32 {
                let v = v0.wrapping_add(j.wrapping_mul(s));
                let qw = qw0.wrapping_sub(j);
                let vw = wp >> 31 == 0 && qw < f[OUT_W] && v < f[KW];
                let px = img
                    .wrapping_mul(f[OUT_H])
                    .wrapping_mul(f[OUT_W])
                    .wrapping_add(qh.wrapping_mul(f[OUT_W]))
                    .wrapping_add(qw);
                let vpx = vh && vw && px >= f[PX0] && px < f[PX0].wrapping_add(f[NPX]);
                let tap = u.wrapping_mul(f[KW]).wrapping_add(v);
                for e in 0..WORD_ELEMS as u32 {
                    let c = f[LO].wrapping_add(half).wrapping_add(e);
                    let k = blocked_k(c, tap, f[CHANNELS], taps, f[BLOCK]);
                    if e < elems && vpx && k_in(k) {
                        let slot = (i * 3 + j) as usize * WORD_ELEMS + e as usize;
                        out[slot] = at(k, px.wrapping_sub(f[PX0]), f[PIXEL_MAJOR] != 0);
                    }
                }
            }
        }
    }
    if f[MODE] == CONV_BP {
        let s = f[STRIDE];
        let co = f[LO].wrapping_add(row);
        let taps = f[KH].wrapping_mul(f[KW]);
        for e in 0..WORD_ELEMS as u32 {
            let j = half.wrapping_add(e);
            let (ci, pos) = (div(j, f[PLANE]), rem(j, f[PLANE]));
            let (dy, dx) = (div(pos, f[IN_W]), rem(pos, f[IN_W]));
            let (ddy, ddx) = (dy.wrapping_sub(f[PAD_H]), dx.wrapping_sub(f[PAD_W]));
            let ok = ddy >> 31 == 0 && ddx >> 31 == 0 && rem(ddy, s) == 0 && rem(ddx, s) == 0;
            let u = f[KH].wrapping_sub(1).wrapping_sub(div(ddy, s));
            let v = f[KW].wrapping_sub(1).wrapping_sub(div(ddx, s));
            let tap = u.wrapping_mul(f[KW]).wrapping_add(v);
            let k = blocked_k(co, tap, f[CHANNELS], taps, f[BLOCK]);
            if e < elems && ok && k_in(k) {
                out[e as usize] = at(k, ci, true);
            }
        }
    }
    out
}

/// The gather map of the DMA engine; see the module docs.
#[derive(LogicBlock)]
pub struct GatherMap {
    /// The clock of the latched fields.
    pub clock: Signal<In, Clock>,
    /// Latch `f` (a transfer starts).
    pub start: Signal<In, Bit>,
    /// The transfer's gather fields ([`field`]); all zero for other transfers.
    pub f: [Signal<In, Bits<32>>; GATHER_FIELDS],
    /// The answered word's first useful byte in the transfer's rows laid end to end (the
    /// response walker's scratchpad address of a plain copy to address 0): row `sp / row_bytes`,
    /// byte `sp mod row_bytes` of it.
    pub sp: Signal<In, Bits<16>>,
    /// Its useful bytes.
    pub n: Signal<In, Bits<4>>,
    /// Bit `t·4 + e`: element e's copy through slot t is written.
    pub we: Signal<Out, Bits<GATHER_PORTS>>,
    /// Its scratchpad byte address.
    pub addr: [Signal<Out, Bits<16>>; GATHER_PORTS],
    /// The transfer gathers (its words go through this map, not the plain write).
    pub active: Signal<Out, Bit>,
    /// Scratchpad beats the model charges the transfer.
    pub sp_beats: Signal<Out, Bits<32>>,
    /// Set the `fill_n` scratchpad bytes from `fill_addr` to `fill_value` (this cycle).
    pub fill: Signal<Out, Bit>,
    /// See `fill`.
    pub fill_addr: Signal<Out, Bits<16>>,
    /// See `fill`.
    pub fill_n: Signal<Out, Bits<9>>,
    /// See `fill`.
    pub fill_value: Signal<Out, Bits<16>>,
    _q: [u32; GATHER_FIELDS],
    _fill_at: u32,
    _fill_left: u32,
}

impl Default for GatherMap {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            f: Default::default(),
            sp: Default::default(),
            n: Default::default(),
            we: Default::default(),
            addr: std::array::from_fn(|_| Default::default()),
            active: Default::default(),
            sp_beats: Default::default(),
            fill: Default::default(),
            fill_addr: Default::default(),
            fill_n: Default::default(),
            fill_value: Default::default(),
            _q: [0; GATHER_FIELDS],
            _fill_at: 0,
            _fill_left: 0,
        }
    }
}

impl Logic for GatherMap {
    fn update(&mut self) {
        use field::*;
        if self.clock.pos_edge() {
            let step = self._fill_left.min(FILL_BYTES as u32);
            self._fill_at = self._fill_at.wrapping_add(step);
            self._fill_left -= step;
            if self.start.val() {
                let fill =
                    self.f[MODE].val().index() as u32 == IM2COL && self.f[FILL].val().index() != 0;
                self._fill_at = self.f[SP_ADDR].val().index() as u32;
                self._fill_left = if fill {
                    self.f[SP_BYTES].val().index() as u32
                } else {
                    0
                };
                for j in 0..GATHER_FIELDS {
                    self._q[j] = self.f[j].val().index() as u32;
                }
            }
        }
        let q = self._q;
        let sp = self.sp.val().index() as u32;
        let t = targets(
            &q,
            div(sp, q[ROW_BYTES]),
            rem(sp, q[ROW_BYTES]),
            self.n.val().index() as u32,
        );
        let mut we = 0u64;
        for (j, a) in t.iter().enumerate() {
            if a.is_some() {
                we |= 1 << j;
            }
            self.addr[j].next = bits(a.unwrap_or(0) as LiteralType);
        }
        self.we.next = bits(we as LiteralType);
        self.active.next = q[MODE] != 0;
        self.sp_beats.next = bits(q[SP_BEATS] as LiteralType);
        self.fill.next = self._fill_left != 0;
        self.fill_addr.next = bits((self._fill_at & 0xFFFF) as LiteralType);
        self.fill_n.next = bits(self._fill_left.min(FILL_BYTES as u32) as LiteralType);
        self.fill_value.next = bits((q[PAD_VALUE] & 0xFFFF) as LiteralType);
    }

    fn connect(&mut self) {
        self.we.connect();
        self.addr.iter_mut().for_each(|s| s.connect());
        self.active.connect();
        self.sp_beats.connect();
        self.fill.connect();
        self.fill_addr.connect();
        self.fill_n.connect();
        self.fill_value.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(verilog())
    }
}

/// The leaf's Verilog: [`targets`] term for term, in 32-bit unsigned arithmetic.
fn verilog() -> String {
    use field::*;
    let mut v = String::new();
    // The fill's fields act at `start`; the others are latched.
    let latched = || (0..GATHER_FIELDS).filter(|&j| j != FILL && j != SP_BYTES);
    for j in latched() {
        let _ = writeln!(v, "reg [31:0] q{j};");
    }
    let _ = writeln!(
        v,
        "reg [31:0] fill_at;\nreg [31:0] fill_left;\n\
         wire [31:0] fill_step = fill_left < 32'd{FILL_BYTES} ? fill_left : 32'd{FILL_BYTES};\n\
         always @(posedge clock) begin\n    fill_at <= fill_at + fill_step;\n    fill_left <= fill_left - fill_step;\n    \
         if (start) begin\n        fill_at <= f${SP_ADDR};\n        \
         fill_left <= (f${MODE} == 32'd{IM2COL} && f${FILL} != 32'd0) ? f${SP_BYTES} : 32'd0;\n    end"
    );
    v.push_str("    if (start) begin\n");
    for j in latched() {
        let _ = writeln!(v, "        q{j} <= f${j};");
    }
    v.push_str("    end\nend\n");
    let q = |j: usize| format!("q{j}");
    let (s, kw, kh) = (q(STRIDE), q(KW), q(KH));
    let _ = writeln!(
        v,
        "wire [31:0] row = {{16'd0, sp}} / {rb};\n\
         wire [31:0] col = {{16'd0, sp}} % {rb};\n\
         wire [31:0] half = {{1'b0, col[31:1]}};\n\
         wire [31:0] elems = {{29'd0, n[3:1]}};\n\
         wire [31:0] taps = {kh} * {kw};\n\
         wire [31:0] k_end = {k0} + {nk};\n\
         wire [31:0] px_end = {px0} + {npx};",
        k0 = q(K0),
        nk = q(NK),
        px0 = q(PX0),
        npx = q(NPX),
        rb = q(ROW_BYTES)
    );
    // The blocked order's reduction index of channel `c` at tap `tap`.
    let blocked = |v: &mut String, name: &str, c: &str, tap: &str| {
        let _ = writeln!(
            v,
            "wire [31:0] {name}_bs = ({c} / {b}) * {b};\n\
             wire [31:0] {name}_left = {ch} - {name}_bs;\n\
             wire [31:0] {name}_len = {name}_left < {b} ? {name}_left : {b};\n\
             wire [31:0] {name} = {name}_bs * taps + {tap} * {name}_len + ({c} - {name}_bs);",
            b = q(BLOCK),
            ch = q(CHANNELS)
        );
    };
    let address = |v: &mut String, name: &str, k: &str, p: &str, pm: &str| {
        let _ = writeln!(
            v,
            "wire [31:0] {name}_idx = {pm} ? {p} * {nk} + ({k} - {k0}) : ({k} - {k0}) * {npx} + {p};\n\
             wire [31:0] {name}_a = {sp} + ({name}_idx << 1);",
            nk = q(NK),
            k0 = q(K0),
            npx = q(NPX),
            sp = q(SP_ADDR)
        );
    };
    // Im2col.
    let _ = writeln!(
        v,
        "wire [31:0] p = {first} + row;\n\
         wire [31:0] img = p / {plane};\n\
         wire [31:0] rem_p = p % {plane};\n\
         wire [31:0] h = rem_p / {in_w};\n\
         wire [31:0] w = rem_p % {in_w};",
        first = q(FIRST),
        plane = q(PLANE),
        in_w = q(IN_W)
    );
    // The element's phases and the output row and column through its first phase tap.
    let _ = writeln!(
        v,
        "wire [31:0] hp = h + {ph};\n\
         wire [31:0] uph = hp % {s};\n\
         wire [31:0] qhp = hp / {s};\n\
         wire [31:0] wp = w + {pw};\n\
         wire [31:0] vph = wp % {s};\n\
         wire [31:0] qwp = wp / {s};",
        ph = q(PAD_H),
        pw = q(PAD_W)
    );
    for i in 0..3 {
        let _ = writeln!(
            v,
            "wire [31:0] u{i} = uph + 32'd{i} * {s};\n\
             wire [31:0] qh{i} = qhp - 32'd{i};\n\
             wire vh{i} = !hp[31] && qh{i} < {oh} && u{i} < {kh};\n\
             wire [31:0] v{i} = vph + 32'd{i} * {s};\n\
             wire [31:0] qw{i} = qwp - 32'd{i};\n\
             wire vw{i} = !wp[31] && qw{i} < {ow} && v{i} < {kw};",
            oh = q(OUT_H),
            ow = q(OUT_W)
        );
    }
    for e in 0..WORD_ELEMS {
        let _ = writeln!(v, "wire [31:0] c{e} = {lo} + half + 32'd{e};", lo = q(LO));
    }
    for i in 0..3 {
        for j in 0..3 {
            let t = i * 3 + j;
            let _ = writeln!(
                v,
                "wire [31:0] px{t} = img * {oh} * {ow} + qh{i} * {ow} + qw{j};\n\
                 wire vpx{t} = vh{i} && vw{j} && px{t} >= {px0} && px{t} < px_end;\n\
                 wire [31:0] tap{t} = u{i} * {kw} + v{j};\n\
                 wire [31:0] pr{t} = px{t} - {px0};",
                oh = q(OUT_H),
                ow = q(OUT_W),
                px0 = q(PX0)
            );
            for e in 0..WORD_ELEMS {
                let name = format!("k{t}_{e}");
                blocked(&mut v, &name, &format!("c{e}"), &format!("tap{t}"));
                address(
                    &mut v,
                    &name,
                    &name,
                    &format!("pr{t}"),
                    &format!("{}[0]", q(PIXEL_MAJOR)),
                );
                let _ = writeln!(
                    v,
                    "wire ok{t}_{e} = 32'd{e} < elems && vpx{t} && {name} >= {k0} && {name} < k_end;",
                    k0 = q(K0)
                );
            }
        }
    }
    // ConvBp.
    let _ = writeln!(v, "wire [31:0] co = {lo} + row;", lo = q(LO));
    for e in 0..WORD_ELEMS {
        let _ = writeln!(
            v,
            "wire [31:0] j{e} = half + 32'd{e};\n\
             wire [31:0] ci{e} = j{e} / {plane};\n\
             wire [31:0] pos{e} = j{e} % {plane};\n\
             wire [31:0] ddy{e} = pos{e} / {in_w} - {ph};\n\
             wire [31:0] ddx{e} = pos{e} % {in_w} - {pw};\n\
             wire bok{e} = !ddy{e}[31] && !ddx{e}[31] && ddy{e} % {s} == 32'd0 && ddx{e} % {s} == 32'd0;\n\
             wire [31:0] btap{e} = ({kh} - 32'd1 - ddy{e} / {s}) * {kw} + ({kw} - 32'd1 - ddx{e} / {s});",
            plane = q(PLANE),
            in_w = q(IN_W),
            ph = q(PAD_H),
            pw = q(PAD_W)
        );
        let name = format!("bk{e}");
        blocked(&mut v, &name, "co", &format!("btap{e}"));
        address(&mut v, &name, &name, &format!("ci{e}"), "1'b1");
        let _ = writeln!(
            v,
            "wire bw{e} = 32'd{e} < elems && bok{e} && {name} >= {k0} && {name} < k_end;",
            k0 = q(K0)
        );
    }
    v.push_str("always @(*) begin\n    we = 0;\n");
    for t in 0..TAP_SLOTS {
        for e in 0..WORD_ELEMS {
            let j = t * WORD_ELEMS + e;
            let _ = writeln!(
                v,
                "    we[{j}] = {mode} == 32'd{IM2COL} && ok{t}_{e};\n    addr${j} = k{t}_{e}_a[15:0];",
                mode = q(MODE)
            );
        }
    }
    let _ = writeln!(v, "    if ({mode} == 32'd{CONV_BP}) begin", mode = q(MODE));
    for e in 0..WORD_ELEMS {
        let _ = writeln!(
            v,
            "        we[{e}] = bw{e};\n        addr${e} = bk{e}_a[15:0];"
        );
    }
    let _ = writeln!(
        v,
        "    end\n    active = {mode} != 32'd0;\n    sp_beats = {beats};\n    \
         fill = fill_left != 32'd0;\n    fill_addr = fill_at[15:0];\n    fill_n = fill_step[8:0];\n    fill_value = {pad}[15:0];\nend\n\
         wire _unused_bits = &{{1'b0, col[0], n[0], {pm}[31:1], {pad}[31:16], fill_at[31:16], fill_step[31:9], {addrs}}};",
        pm = q(PIXEL_MAJOR),
        addrs = (0..TAP_SLOTS)
            .flat_map(|t| (0..WORD_ELEMS).map(move |e| format!("k{t}_{e}_a[31:16]")))
            .chain((0..WORD_ELEMS).map(|e| format!("bk{e}_a[31:16]")))
            .collect::<Vec<_>>()
            .join(", "),
        mode = q(MODE),
        beats = q(SP_BEATS),
        pad = q(PAD_VALUE)
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmsat_compiler::isa::{Im2col, Im2colTile};

    /// Field values of an Im2col tile, as the encoder computes them.
    fn im2col_fields(t: &Im2colTile, sp_addr: u32) -> [u32; GATHER_FIELDS] {
        crate::encode::gather_fields_im2col(t, sp_addr, 0, 0, t.gather_rows().row_bytes as u32)
    }

    /// Every tile element lands where `Im2colTile::sp_index` puts it, from the DRAM element
    /// `Im2colTile::addr(source, c)`, and nothing else is written.
    #[test]
    fn targets_cover_the_tile_exactly() {
        let mut checked = 0;
        // Kernels of up to 3 × 3 taps a stride phase: 3×3 at stride 1, ViT patch embeddings
        // (kernel = stride), 5×5 and 6×6 at stride 2, 7×7 and 9×6 at stride 3, kernels smaller
        // than their stride (elements of some phases land nowhere), negative padding.
        for (kh, kw, s, ph, pw, block, pm, in_h, in_w) in [
            (3, 3, 1, 1, 1, 1, false, 5, 4),
            (3, 3, 1, 1, 1, 1, true, 5, 4),
            (2, 2, 2, 0, 0, 1, true, 5, 4),
            (3, 2, 2, 1, 0, 2, false, 5, 4),
            (1, 1, 1, 0, 0, 1, true, 5, 4),
            (3, 3, 1, 2, 0, 3, true, 5, 4),
            (2, 3, 3, -1, 1, 1, false, 5, 4),
            (3, 3, 2, 1, 1, 1, true, 7, 6),
            (4, 4, 4, 0, 0, 1, false, 8, 8),
            (4, 4, 4, 0, 0, 5, true, 8, 12),
            (8, 8, 8, 0, 0, 2, false, 16, 8),
            (5, 5, 2, 2, 2, 2, false, 9, 8),
            (5, 3, 2, -1, 1, 1, true, 8, 7),
            (6, 6, 2, 1, 2, 3, false, 9, 8),
            (7, 7, 3, 3, 3, 1, false, 10, 9),
            (7, 5, 3, 1, 2, 5, true, 9, 8),
            (9, 6, 3, 1, 2, 1, true, 11, 10),
            (1, 1, 2, 0, 0, 1, false, 5, 4),
        ] {
            let geom = Im2col {
                pixel_elems: 7,
                channels: 5,
                images: 2,
                in_h,
                in_w,
                out_h: ((in_h as i64 + 2 * ph - kh as i64) / s as i64 + 1) as u64,
                out_w: ((in_w as i64 + 2 * pw - kw as i64) / s as i64 + 1) as u64,
                kh,
                kw,
                stride: s,
                pad_h: ph,
                pad_w: pw,
                block,
                pad_value: 0,
            };
            for (k0, nk, px0, npx) in [(0, geom.k(), 0, geom.pixels()), (3, 11, 5, 9), (7, 4, 2, 3)]
            {
                if px0 >= geom.pixels() || k0 >= geom.k() {
                    continue;
                }
                let (nk, npx) = (nk.min(geom.k() - k0), npx.min(geom.pixels() - px0));
                let t = Im2colTile {
                    geom,
                    base: 0,
                    ch0: 1,
                    k0,
                    nk,
                    px0,
                    npx,
                    pixel_major: pm,
                };
                let rows = t.gather_rows();
                let f = im2col_fields(&t, 64);
                let mut want = std::collections::BTreeMap::new();
                for k in k0..k0 + nk {
                    let (c, u, v) = geom.k_index(k);
                    for px in px0..px0 + npx {
                        if let Some(p) = geom.source(px, u, v) {
                            want.insert(64 + 2 * t.sp_index(k, px) as u64, t.addr(p, c));
                        }
                    }
                }
                let mut got = std::collections::BTreeMap::new();
                for i in 0..rows.rows {
                    // Whole rows, one element at a time and in words of up to 4.
                    let mut col = 0;
                    while col < rows.row_bytes {
                        let n = (rows.row_bytes - col).min(8);
                        for (j, a) in targets(&f, i as u32, col as u32, n as u32)
                            .iter()
                            .enumerate()
                        {
                            if let Some(a) = a {
                                let e = (j % WORD_ELEMS) as u64;
                                let src = rows.addr + i * rows.stride + col + 2 * e;
                                assert_eq!(got.insert(*a as u64, src), None, "written twice");
                            }
                        }
                        col += n;
                    }
                }
                assert_eq!(got, want, "{t:?}");
                checked += 1;
            }
        }
        assert!(checked >= 50, "{checked}");
    }

    /// Every element of a ConvBp tile lands where the exact DMA puts it (`[nr × nk]`, row
    /// `ci − r0`), from weight `[co][ci][dy][dx]`, at every stride phase and block size.
    #[test]
    fn conv_bp_targets_cover_the_tile_exactly() {
        use nmsat_compiler::isa::{ConvBp, ConvBpTile};
        let mut checked = 0;
        // Phases of up to 7 × 7 taps: one copy an element, whatever the phase's taps.
        for (kh, kw, stride, block) in [
            (3, 3, 1, 1),
            (3, 3, 2, 2),
            (2, 3, 3, 3),
            (1, 1, 1, 1),
            (5, 5, 1, 2),
            (7, 7, 2, 1),
            (7, 6, 3, 3),
            (4, 4, 4, 1),
            (7, 7, 1, 5),
        ] {
            for (phase_h, phase_w) in [(0, 0), (1, 0), (1, 2), (3, 1)] {
                if phase_h >= stride.min(kh) || phase_w >= stride.min(kw) {
                    continue;
                }
                let geom = ConvBp {
                    out_ch: 5,
                    in_ch: 4,
                    kh,
                    kw,
                    stride,
                    phase_h,
                    phase_w,
                    block,
                };
                for (r0, nr, k0, nk) in [(0, 4, 0, geom.k()), (1, 2, 3, geom.k() - 3), (3, 1, 1, 2)]
                {
                    let t = ConvBpTile {
                        geom,
                        base: 10,
                        group: 1,
                        r0,
                        nr,
                        k0,
                        nk,
                    };
                    let rows = t.dram_rows();
                    let mut f = [0u32; GATHER_FIELDS];
                    let (ka, kb) = geom.taps();
                    let (lo, _) = nmsat_compiler::isa::blocked_channels(
                        k0..k0 + nk,
                        geom.out_ch,
                        ka * kb,
                        block,
                    );
                    for (j, v) in [
                        (field::MODE, CONV_BP),
                        (field::SP_ADDR, 32),
                        (field::PLANE, (kh * kw) as u32),
                        (field::IN_W, kw as u32),
                        (field::PAD_H, phase_h as u32),
                        (field::PAD_W, phase_w as u32),
                        (field::STRIDE, stride as u32),
                        (field::KH, ka as u32),
                        (field::KW, kb as u32),
                        (field::K0, k0 as u32),
                        (field::NK, nk as u32),
                        (field::CHANNELS, geom.out_ch as u32),
                        (field::BLOCK, block as u32),
                        (field::LO, lo as u32),
                    ] {
                        f[j] = v;
                    }
                    let mut want = std::collections::BTreeMap::new();
                    for ci in r0..r0 + nr {
                        for k in k0..k0 + nk {
                            let (co, dy, dx) = geom.k_index(k);
                            let at = 32 + 2 * ((ci - r0) * nk + k - k0);
                            want.insert(at, t.addr(co, ci, dy, dx));
                        }
                    }
                    let mut got = std::collections::BTreeMap::new();
                    for i in 0..rows.rows {
                        let mut col = 0;
                        while col < rows.row_bytes {
                            let n = (rows.row_bytes - col).min(8);
                            let at = targets(&f, i as u32, col as u32, n as u32);
                            for (j, a) in at.iter().enumerate() {
                                if let Some(a) = a {
                                    let src = rows.addr + i * rows.stride + col + 2 * j as u64;
                                    assert!(j < WORD_ELEMS, "ConvBp uses slot 0 only");
                                    assert_eq!(got.insert(*a as u64, src), None, "written twice");
                                }
                            }
                            col += n;
                        }
                    }
                    assert_eq!(got, want, "{t:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked >= 50, "{checked}");
    }
}
