//! The ISA: the static program the compiler emits and the simulator and the RTL execute.
//!
//! The core has five units, each with its own in-order instruction queue: the DMA engine's load
//! and store sides, the prune (pre-generation) unit, the PE array and the vector unit. The two
//! DMA sides share the DRAM: one transfer at a time. A unit runs one instruction at
//! a time, in program order for that unit. An instruction starts when its unit is free and every
//! wait `(unit V, count c)` holds, i.e. at least `c` instructions of V have completed. Waits are
//! the only synchronisation; the [`crate::check`] pass proves them sufficient.
//!
//! # Layouts
//! - **Activations** (and their gradients) are INT16, pixel-major (NHWC):
//!   `[img][h][w][c]`, one *pixel row* of `C` channels per pixel; a token sequence is
//!   `[sample][token][feature]`. Flattening an image keeps this order (`(h, w, c)`).
//! - **Conv weights** are `[co][ci/g][kh][kw]` row-major (PyTorch order); a linear layer's are
//!   `[out][in]`. The FF GEMM of group `s` is `Y[co × px] = W[co × k] · X[k × px]` with the
//!   reduction index `k = (ci·kh + dy)·kw + dx`, and its N:M groups are M consecutive weights
//!   along that flattened `k` (a last partial group padded as [`crate::prune::pack_row`] does).
//! - **BP of a convolution** is a transposed convolution split into the s² *stride phases*
//!   (a, b) of the input (s = stride, p = padding): phase (a, b) produces the input positions
//!   with `(ih + p) mod s = a`, `(iw + p) mod s = b`, from the kernel taps `dy ≡ a`, `dx ≡ b`
//!   (mod s). Its `ka × kb` taps are numbered flipped, tap (u, v) being kernel position
//!   `(a + s·(ka−1−u), b + s·(kb−1−v))`, so that its input is an ordinary stride-1 window over
//!   dY ([`Im2col`] with `kh = ka`, `kw = kb`). Its reduction runs over (co, tap) in the
//!   *blocked* order of [`blocked_index`] with blocks of M output channels (sparse; 1 when
//!   dense): an N:M group of the BP form is M consecutive output channels of one (ci, tap)
//!   whenever `co/g` is a multiple of M (every zoo convolution); otherwise the last, shorter
//!   block's groups run on across taps. The BP weights are `W_b[ci][k] = W[co][ci][dy][dx]`
//!   ([`ConvBp`]). A linear layer is the 1×1 case: `W_b = Wᵀ`, groups along `out`.
//! - A phase's output pixels are stored to their real NHWC positions by a [`XferShape::Scatter`]
//!   store; positions that no phase's taps reach (a 1×1 stride-2 kernel) are zero-filled the
//!   same way.
//! - **Pooling** reads its windows through a channel-major [`Im2col`] view (padded with −32768
//!   for max, 0 for average); max pooling also stores each window's argmax (`dy·k + dx`, INT16,
//!   NHWC like its output), and the gradient splits into the same stride phases as a
//!   convolution's: per phase a vector operation over the phase's view of dY (and of the
//!   argmax), scattered to dX.
//! - **Batch norm** keeps per-channel statistics in DRAM ([`STATS_BYTES`] per channel), made by
//!   a reduction over all rows before the rows are normalized; its gradient likewise.
//!
//! # Instructions
//! **Load** — *Format* `Load { xfer }` · *Action* copy `xfer.rows` rows of `xfer.row_bytes` from
//! DRAM (`dram_addr`, rows `dram_stride` apart) into the scratchpad range `xfer.sp`, densely;
//! other shapes rearrange on the DMA write path: [`XferShape::Transpose`] lands the block
//! column-major, [`XferShape::Im2col`] gathers a window tile, [`XferShape::Scatter`] gathers the
//! pixels of a strided grid, [`XferShape::ConvBp`] gathers a tile of the BP view of conv weights
//! · *Notes* DRAM is read in whole `access_bytes` words; for the gathers, `rows × row_bytes` at
//! `dram_stride` are the DRAM rows the engine streams (what the timing charges), a superset of
//! the elements it keeps.
//!
//! **Store** — *Format* `Store { xfer, requant }` · *Action* the reverse copy (shapes `Copy`,
//! `Transpose` and `Scatter`); with `requant` the scratchpad holds INT32 accumulators and the
//! write path rounds and saturates them to INT16 (see `datapath`) · *Notes* DRAM writes are whole
//! words too.
//!
//! **Prune** — *Format* `Prune { src, dst, rows, k, nm, along }` · *Action* rank every M-group
//! along each of the `rows` rows of the dense `rows × k` INT16 matrix in `src` and write the kept
//! values and their indices to `dst` (see [`crate::prune::pack_row`]) · *Notes* `along` only
//! records which form this is: the DMA already lands the BP form's rows in `src` (a transposing
//! or [`XferShape::ConvBp`] load), so the unit always ranks along rows.
//!
//! **Gemm** — *Format* `Gemm { w, x, y, m, k, t, sparsity, accumulate }` · *Action*
//! `y[m×t] (+)= w[m×k] · x[k×t]`; with `sparsity`, `w` holds the N:M compressed form and each PE
//! selects its activation from an M-group · *Notes* `y` holds INT32 accumulators.
//!
//! **Vector** — *Format* `Vector { op, srcs, dst, elems, width }` · *Action* `op` over a tile
//! of `elems/width` rows of `width` elements (row-major in every buffer; a source of another
//! width, like the labels or a pooling window tile, has its own row length); a reduction's
//! accumulator is both its last source and its destination · *Notes* used for activations,
//! their gradients, norms, pooling, softmax and the weight update; the exact semantics of every
//! operation are defined in the simulator's vector unit.

use crate::arch::RegionId;
use crate::prune::Nm;
use serde::{Deserialize, Serialize};

/// The units with an instruction queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Unit {
    /// The DMA engine's read side: DRAM to scratchpad.
    Load,
    /// The DMA engine's write side: scratchpad to DRAM.
    Store,
    Prune,
    Array,
    Vector,
}

impl Unit {
    /// Every unit, in index order.
    pub const ALL: [Unit; Unit::COUNT] = [
        Unit::Load,
        Unit::Store,
        Unit::Prune,
        Unit::Array,
        Unit::Vector,
    ];
    /// Number of units.
    pub const COUNT: usize = 5;

    /// Dense index 0..COUNT.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A byte range of one scratchpad region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Buf {
    pub region: RegionId,
    pub addr: u64,
    pub bytes: u64,
}

impl Buf {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.addr + self.bytes
    }
}

/// Channel and tap of reduction index `k` of a window view over `channels` channels and `taps`
/// taps, in the *blocked* order: channels are cut into blocks of `block` (the last may be
/// shorter); blocks outer, taps inside a block, channels of the block inner:
///
/// ```text
/// k = b·block·taps + tap·len_b + (c − b·block),
///     b = ⌊c / block⌋,   len_b = min(block, channels − b·block)
/// ```
///
/// `block = 1` is channel-major, `k = c·taps + tap` (PyTorch's weight order); `block =
/// channels` is tap-major.
pub fn blocked_index(k: u64, channels: u64, taps: u64, block: u64) -> (u64, u64) {
    let per = block * taps;
    let b = k / per;
    let len = block.min(channels - b * block);
    let r = k - b * per;
    (b * block + r % len, r / len)
}

/// The channels `[lo, hi)` that reduction indices `k` in `ks` touch, in the order of
/// [`blocked_index`]: exact for channel-major views and for ranges of whole blocks, otherwise
/// the whole blocks they overlap.
pub fn blocked_channels(
    ks: std::ops::Range<u64>,
    channels: u64,
    taps: u64,
    block: u64,
) -> (u64, u64) {
    if ks.is_empty() {
        return (0, 0);
    }
    let per = block * taps;
    let (b0, b1) = (ks.start / per, (ks.end - 1) / per);
    if block == 1 {
        return (b0, b1 + 1);
    }
    (b0 * block, ((b1 + 1) * block).min(channels))
}

/// Taps of a kernel of `k` positions that stride phase `a` uses: positions a, a+s, … < k.
pub fn phase_taps(k: u64, a: u64, s: u64) -> u64 {
    if a < k {
        (k - a).div_ceil(s)
    } else {
        0
    }
}

/// Source elements a pooling operation reduces into each result: the window, or the taps
/// of its gradient's stride phase; `None` for the other operations.
pub fn pool_taps(op: VecOp) -> Option<u64> {
    match op {
        VecOp::Pool { window, .. } => Some(window),
        VecOp::PoolGrad {
            kernel,
            stride,
            phase_h,
            phase_w,
            ..
        } => Some(phase_taps(kernel, phase_h, stride) * phase_taps(kernel, phase_w, stride)),
        _ => None,
    }
}

/// A window view of a pixel-major tensor `[img][h][w][pixel_elems]` (see the module docs).
///
/// Output pixel `px` is `(img, qh, qw)` of an `images × out_h × out_w` grid; through tap (u, v)
/// it reads source pixel `(img, qh·stride + u − pad_h, qw·stride + v − pad_w)`, or `pad_value`
/// outside the `in_h × in_w` image. The reduction index `k` runs over (channel, tap) in the
/// order of [`blocked_index`] with taps `u·kw + v`. The FF and WU operands of a convolution, the
/// input of a BP stride phase (stride 1, signed padding) and pooling windows are such views; a
/// 1×1 view with stride s is the pixel grid of a stride phase, which a [`XferShape::Scatter`]
/// stores to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Im2col {
    /// Elements of one pixel of the tensor (its row width: all channels of all groups).
    pub pixel_elems: u64,
    /// Channels the reduction runs over (one group's).
    pub channels: u64,
    pub images: u64,
    pub in_h: u64,
    pub in_w: u64,
    pub out_h: u64,
    pub out_w: u64,
    pub kh: u64,
    pub kw: u64,
    pub stride: u64,
    pub pad_h: i64,
    pub pad_w: i64,
    /// Channels per block of the reduction order (1: channel-major).
    pub block: u64,
    /// The value of a tap that falls outside the image.
    pub pad_value: i16,
}

impl Im2col {
    /// Reduction length: channels × taps.
    pub fn k(&self) -> u64 {
        self.channels * self.kh * self.kw
    }

    /// Output pixels of all images.
    pub fn pixels(&self) -> u64 {
        self.images * self.out_h * self.out_w
    }

    /// Channel and tap (u, v) of reduction index `k`.
    pub fn k_index(&self, k: u64) -> (u64, u64, u64) {
        let (c, tap) = blocked_index(k, self.channels, self.kh * self.kw, self.block);
        (c, tap / self.kw, tap % self.kw)
    }

    /// The tensor pixel (images included) that output pixel `px` reads through tap (u, v), or
    /// `None` in the padding.
    pub fn source(&self, px: u64, u: u64, v: u64) -> Option<u64> {
        let plane = self.out_h * self.out_w;
        let (img, q) = (px / plane, px % plane);
        let h = (q / self.out_w * self.stride + u) as i64 - self.pad_h;
        let w = (q % self.out_w * self.stride + v) as i64 - self.pad_w;
        let inside = (0..self.in_h as i64).contains(&h) && (0..self.in_w as i64).contains(&w);
        inside.then(|| (img * self.in_h + h as u64) * self.in_w + w as u64)
    }

    /// Source rows (image rows of all images, `[first, last)`) that the windows of output
    /// pixels `px` cover, clamped to the tensor and never empty.
    fn rows_covered(&self, px: std::ops::Range<u64>) -> (u64, u64) {
        let plane = self.out_h * self.out_w;
        let row = |p: u64, end: bool| {
            let (img, qh) = (p / plane, p % plane / self.out_w);
            let r = (qh * self.stride) as i64 - self.pad_h + if end { self.kh as i64 } else { 0 };
            img * self.in_h + r.clamp(0, self.in_h as i64) as u64
        };
        let total = self.images * self.in_h;
        let first = row(px.start, false).min(total - 1);
        let last = row(px.end - 1, true).clamp(first + 1, total);
        (first, last)
    }
}

/// One tile of a window view: which elements of which tensor, and how they lie in the
/// scratchpad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Im2colTile {
    pub geom: Im2col,
    /// DRAM address of the tensor (image 0, pixel 0, channel 0).
    pub base: u64,
    /// First channel of the view within a pixel (a group's channels start at `group·channels`).
    pub ch0: u64,
    /// The reduction indices `[k0, k0 + nk)` of the tile.
    pub k0: u64,
    pub nk: u64,
    /// The output pixels `[px0, px0 + npx)` of the tile.
    pub px0: u64,
    pub npx: u64,
    /// The scratchpad holds `[npx × nk]` (a weight-update operand or a vector tile) instead of
    /// `[nk × npx]` (a GEMM's streamed operand or output).
    pub pixel_major: bool,
}

/// A 2-D DRAM access: `rows` rows of `row_bytes`, `stride` apart, from `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DramRows {
    pub addr: u64,
    pub rows: u64,
    pub row_bytes: u64,
    pub stride: u64,
}

impl Im2colTile {
    /// Element index in the scratchpad tile of reduction index `k` and output pixel `px`.
    pub fn sp_index(&self, k: u64, px: u64) -> usize {
        let (k, px) = (k - self.k0, px - self.px0);
        (if self.pixel_major {
            px * self.nk + k
        } else {
            k * self.npx + px
        }) as usize
    }

    /// DRAM byte address of channel `c` (of the view) of tensor pixel `pixel`.
    pub fn addr(&self, pixel: u64, c: u64) -> u64 {
        self.base + (pixel * self.geom.pixel_elems + self.ch0 + c) * 2
    }

    /// Channels `[lo, hi)` of the view the tile's reduction range touches.
    pub fn channels(&self) -> (u64, u64) {
        let g = &self.geom;
        blocked_channels(self.k0..self.k0 + self.nk, g.channels, g.kh * g.kw, g.block)
    }

    /// What a gather streams from DRAM: every pixel of the image rows its windows cover (all
    /// kernel rows, images back to back), with the channels it touches.
    pub fn gather_rows(&self) -> DramRows {
        let (first, last) = self.geom.rows_covered(self.px0..self.px0 + self.npx);
        let (lo, hi) = self.channels();
        DramRows {
            addr: self.addr(first * self.geom.in_w, lo),
            rows: (last - first) * self.geom.in_w,
            row_bytes: (hi - lo) * 2,
            stride: self.geom.pixel_elems * 2,
        }
    }

    /// What a scatter moves: one row of the tile's channels per pixel, charged as if the rows
    /// were `stride` pixels apart (true inside a grid row; a grid row starts further on).
    pub fn scatter_rows(&self) -> DramRows {
        let (lo, hi) = self.channels();
        let first = self.scatter_pixel(self.px0);
        DramRows {
            addr: self.addr(first, lo),
            rows: self.npx,
            row_bytes: (hi - lo) * 2,
            stride: self.geom.stride * self.geom.pixel_elems * 2,
        }
    }

    /// The tensor pixel a scatter moves for output pixel `px` (the view's tap (0, 0)).
    pub fn scatter_pixel(&self, px: u64) -> u64 {
        self.geom
            .source(px, 0, 0)
            .expect("a scatter grid lies inside its tensor")
    }

    /// DRAM bytes from the first to the last a scatter touches.
    pub fn scatter_span(&self) -> (u64, u64) {
        let (lo, hi) = self.channels();
        let last = self.scatter_pixel(self.px0 + self.npx - 1);
        (
            self.addr(self.scatter_pixel(self.px0), lo),
            self.addr(last, hi),
        )
    }
}

/// The BP weights of one stride phase of a convolution (see the module docs): row `ci`,
/// reduction index `k` ↦ (co, tap) in the order of [`blocked_index`] over the phase's
/// `ka × kb` taps, tap (u, v) being kernel position `(phase_h + s·(ka−1−u), phase_w +
/// s·(kb−1−v))`. For a 1×1 stride-1 kernel this is `Wᵀ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvBp {
    /// Output channels of one group (the reduction's channels).
    pub out_ch: u64,
    /// Input channels of one group (the rows).
    pub in_ch: u64,
    pub kh: u64,
    pub kw: u64,
    pub stride: u64,
    pub phase_h: u64,
    pub phase_w: u64,
    /// Output channels per block of the reduction order (M when sparse, 1 when dense).
    pub block: u64,
}

impl ConvBp {
    /// Taps of the phase: (ka, kb).
    pub fn taps(&self) -> (u64, u64) {
        (
            phase_taps(self.kh, self.phase_h, self.stride),
            phase_taps(self.kw, self.phase_w, self.stride),
        )
    }

    /// Reduction length: out_ch × ka × kb.
    pub fn k(&self) -> u64 {
        let (ka, kb) = self.taps();
        self.out_ch * ka * kb
    }

    /// Output channel and kernel position (dy, dx) of reduction index `k`.
    pub fn k_index(&self, k: u64) -> (u64, u64, u64) {
        let (ka, kb) = self.taps();
        let (co, tap) = blocked_index(k, self.out_ch, ka * kb, self.block);
        let (u, v) = (tap / kb, tap % kb);
        (
            co,
            self.phase_h + self.stride * (ka - 1 - u),
            self.phase_w + self.stride * (kb - 1 - v),
        )
    }
}

/// One tile of the BP view of a dense conv weight tensor: rows (input channels) `[r0, r0+nr)`
/// of group `group`, reduction indices `[k0, k0+nk)`, landing `[nr × nk]` in the scratchpad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvBpTile {
    pub geom: ConvBp,
    /// DRAM address of the weight tensor.
    pub base: u64,
    pub group: u64,
    pub r0: u64,
    pub nr: u64,
    pub k0: u64,
    pub nk: u64,
}

impl ConvBpTile {
    /// DRAM byte address of weight `[co][ci][dy][dx]` of the tile's group.
    pub fn addr(&self, co: u64, ci: u64, dy: u64, dx: u64) -> u64 {
        let g = &self.geom;
        self.base + ((((self.group * g.out_ch + co) * g.in_ch + ci) * g.kh + dy) * g.kw + dx) * 2
    }

    /// What the gather streams: for every output channel the tile touches, the rows' weights of
    /// all kernel positions (one contiguous run each).
    pub fn dram_rows(&self) -> DramRows {
        let g = &self.geom;
        let (ka, kb) = g.taps();
        let (lo, hi) = blocked_channels(self.k0..self.k0 + self.nk, g.out_ch, ka * kb, g.block);
        DramRows {
            addr: self.addr(lo, self.r0, 0, 0),
            rows: hi - lo,
            row_bytes: self.nr * g.kh * g.kw * 2,
            stride: g.in_ch * g.kh * g.kw * 2,
        }
    }
}

/// How the DMA write path arranges a transfer's elements in the scratchpad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum XferShape {
    /// Rows land one after another, as in DRAM.
    Copy,
    /// The `rows × row_bytes/2` INT16 block lands transposed (column-major).
    Transpose,
    /// A gather (loads only): the window tile lands as `[k × px]` (or `[px × k]`), each element
    /// the tensor's value or the view's pad value.
    Im2col(Im2colTile),
    /// The pixels of a 1×1 view's grid (a stride phase) in their tensor, moved pixel by pixel:
    /// a store writes element (c, px) of the tile to channel c of its grid pixel.
    Scatter(Im2colTile),
    /// A gather (loads only) of a tile of the BP weights of a convolution.
    ConvBp(ConvBpTile),
}

impl XferShape {
    /// The shape's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            XferShape::Copy => "copy",
            XferShape::Transpose => "transpose",
            XferShape::Im2col(_) => "im2col",
            XferShape::Scatter(_) => "scatter",
            XferShape::ConvBp(_) => "conv-bp",
        }
    }

    /// The DRAM bytes `[start, end)` a transfer of this shape may touch, given its DRAM rows.
    pub fn dram_span(&self, addr: u64, rows: u64, row_bytes: u64, stride: u64) -> (u64, u64) {
        match self {
            XferShape::Scatter(t) => t.scatter_span(),
            _ => (addr, addr + (rows.max(1) - 1) * stride + row_bytes),
        }
    }
}

/// A 2-D transfer between DRAM and a scratchpad range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Xfer {
    pub dram_addr: u64,
    pub rows: u64,
    pub row_bytes: u64,
    pub dram_stride: u64,
    pub sp: Buf,
    pub shape: XferShape,
}

impl Xfer {
    /// The DRAM byte range the transfer touches (first to last byte, strides included).
    pub fn dram_span(&self) -> (u64, u64) {
        self.shape
            .dram_span(self.dram_addr, self.rows, self.row_bytes, self.dram_stride)
    }
}

/// Which N:M form a prune produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PruneAlong {
    /// Along the reduction (input) dimension: the FF form, rows of the dense weights as stored.
    Input,
    /// Along the output dimension: the BP form, whose rows (`Wᵀ`, or [`ConvBp`] for a
    /// convolution) the load that feeds the prune unit gathers.
    Output,
}

/// Which reduction a pooling window makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PoolMode {
    Max,
    Avg,
}

/// Element-wise operations of the vector unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VecOp {
    Relu,
    ReluGrad,
    Gelu,
    GeluGrad,
    Add,
    /// Layer norm: each row normalized by its own mean and variance.
    Norm,
    NormGrad,
    Softmax,
    SoftmaxGrad,
    /// Batch-norm statistics: adds each column's (channel's) Σx and Σx² over the tile's rows
    /// to the accumulator (last source, also the destination).
    BatchStats,
    /// Batch norm: each column normalized by the mean and variance of its statistics over
    /// `rows` rows (sources: the tile, the statistics).
    BatchNorm {
        rows: u64,
    },
    /// Batch-norm gradient statistics: adds each column's Σdy and Σdy·y over the tile's rows
    /// to the accumulator (sources: dy, y, the accumulator).
    BatchGradStats,
    /// Batch-norm gradient (sources: dy, y, the statistics, the gradient statistics).
    BatchNormGrad {
        rows: u64,
    },
    /// Forward pooling: each output element reduces `window` consecutive elements of its
    /// source row (a channel-major window tile); max pooling also writes each window's argmax.
    Pool {
        window: u64,
        mode: PoolMode,
    },
    /// Pooling gradient of one stride phase (kernel, stride, phase as for a convolution's BP):
    /// each input-gradient element gathers from the windows that saw it.
    PoolGrad {
        mode: PoolMode,
        kernel: u64,
        stride: u64,
        phase_h: u64,
        phase_w: u64,
    },
    /// Writes zeros (the input-gradient positions no stride phase reaches; a reduction's
    /// accumulator before its first block).
    Fill,
    /// Gradient of the mean softmax cross-entropy: per row, the `classes` logits (source 0)
    /// against the INT16 class label (source 1): `(softmax − onehot) / batch`.
    Loss {
        classes: u64,
        /// Samples of the whole batch (a tile may hold fewer): the mean's divisor.
        batch: u64,
    },
    /// SGD with momentum (sources w, dw, v; destinations w, v): `v ← μv + dw
    /// (+ λ(1−mask)⊙w)`, `w ← w − lr·v`. Constants are Q16.16; the SR-STE mask is the FF N:M
    /// mask along each row of the tile (tiles hold whole M-groups).
    Sgd {
        lr_q16: i32,
        momentum_q16: i32,
        srste: Option<SrSte>,
    },
    /// Masked weights (sources: the dense weights and, for MDGF, the decay factor `d`, one Q.f
    /// value the host writes; without it `d = 0`): along each row of the tile, the weights the
    /// FF N:M mask keeps pass unchanged and the others are scaled by `d` (tiles hold whole
    /// M-groups). SR-STE's BP reads the FF-masked weights so made; MDGF's FF and BP the decayed.
    MaskDecay {
        nm: Nm,
    },
}

/// Bytes of one column's batch-norm statistics: two little-endian i64 sums (Σx and Σx², or
/// Σdy and Σdy·y), as the vector unit accumulates them.
pub const STATS_BYTES: u64 = 16;

/// The SR-STE decay term of an update: `λ` (Q16.16) on the weights the N:M mask drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SrSte {
    pub nm: Nm,
    pub lambda_q16: i32,
}

/// A real constant in Q16.16, as the vector unit holds it.
pub fn q16(x: f64) -> i32 {
    (x * 65536.0).round() as i32
}

/// One instruction's operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Load {
        xfer: Xfer,
    },
    Store {
        xfer: Xfer,
        requant: bool,
    },
    Prune {
        src: Buf,
        dst: Buf,
        rows: u64,
        k: u64,
        nm: Nm,
        along: PruneAlong,
    },
    Gemm {
        w: Buf,
        x: Buf,
        y: Buf,
        m: u64,
        k: u64,
        t: u64,
        sparsity: Option<Nm>,
        accumulate: bool,
    },
    Vector {
        op: VecOp,
        srcs: Vec<Buf>,
        dst: Buf,
        elems: u64,
        width: u64,
    },
}

impl Op {
    /// The unit whose queue runs this operation.
    pub fn unit(&self) -> Unit {
        match self {
            Op::Load { .. } => Unit::Load,
            Op::Store { .. } => Unit::Store,
            Op::Prune { .. } => Unit::Prune,
            Op::Gemm { .. } => Unit::Array,
            Op::Vector { .. } => Unit::Vector,
        }
    }

    /// Scratchpad ranges read.
    pub fn sp_reads(&self) -> Vec<Buf> {
        match self {
            Op::Load { .. } => vec![],
            Op::Store { xfer, .. } => vec![xfer.sp],
            Op::Prune { src, .. } => vec![*src],
            Op::Gemm {
                w,
                x,
                y,
                accumulate,
                ..
            } => {
                let mut r = vec![*w, *x];
                if *accumulate {
                    r.push(*y);
                }
                r
            }
            Op::Vector { srcs, .. } => srcs.clone(),
        }
    }

    /// Scratchpad ranges written.
    pub fn sp_writes(&self) -> Vec<Buf> {
        match self {
            Op::Load { xfer } => vec![xfer.sp],
            Op::Store { .. } => vec![],
            Op::Prune { dst, .. } => vec![*dst],
            Op::Gemm { y, .. } => vec![*y],
            Op::Vector { dst, .. } => vec![*dst],
        }
    }
}

/// Training phase an instruction belongs to, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    /// Forward pass.
    Ff,
    /// Backward pass: activation gradients.
    Bp,
    /// Weight update: weight gradients.
    Wu,
    /// Pruning / pre-generation of the N:M weight forms.
    Prune,
    /// The optimizer step.
    Update,
}

impl Phase {
    /// Every phase, in report order.
    pub const ALL: [Phase; 5] = [Phase::Ff, Phase::Bp, Phase::Wu, Phase::Prune, Phase::Update];

    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Ff => "FF",
            Phase::Bp => "BP",
            Phase::Wu => "WU",
            Phase::Prune => "prune",
            Phase::Update => "update",
        }
    }
}

/// A scheduled instruction: its operation, what it waits for, and what it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instr {
    pub op: Op,
    /// Wait until at least `count` instructions of `unit` have completed.
    pub waits: Vec<(Unit, u32)>,
    /// Index into [`Program::layers`].
    pub layer: u32,
    pub phase: Phase,
}

/// A named DRAM tensor of the program's memory map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tensor {
    pub name: String,
    pub addr: u64,
    pub bytes: u64,
    /// Provided by the host before the iteration (input batch, weights, optimizer state).
    pub host_init: bool,
}

/// A whole compiled training iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// Name of the accelerator description it was compiled for.
    pub arch: String,
    /// Name of the model.
    pub model: String,
    pub batch: u64,
    /// The sparsity pattern (None for dense training).
    pub nm: Option<Nm>,
    /// Layer names, indexed by [`Instr::layer`].
    pub layers: Vec<String>,
    /// The DRAM memory map.
    pub tensors: Vec<Tensor>,
    pub instrs: Vec<Instr>,
}

impl Program {
    /// Number of instructions per unit.
    pub fn unit_counts(&self) -> [u64; Unit::COUNT] {
        let mut c = [0; Unit::COUNT];
        for i in &self.instrs {
            c[i.op.unit().index()] += 1;
        }
        c
    }

    /// JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a Program always serializes")
    }

    /// Parses the JSON form.
    pub fn from_json(text: &str) -> Result<Program, String> {
        serde_json::from_str(text).map_err(|e| format!("not a program: {e}"))
    }

    /// Compact binary form (postcard, prefixed with a magic and a format version).
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(postcard::to_allocvec(self).expect("a Program always serializes"));
        out
    }

    /// Parses the binary form.
    pub fn from_binary(bytes: &[u8]) -> Result<Program, String> {
        let body = bytes
            .strip_prefix(MAGIC)
            .ok_or("not an nmsat binary program (bad magic or version)")?;
        postcard::from_bytes(body).map_err(|e| format!("corrupt binary program: {e}"))
    }
}

/// "NMSP" and format version 2 (exact window, scatter and BP-weight transfers).
const MAGIC: &[u8] = b"NMSP\x02";
