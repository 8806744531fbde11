//! `random_program`: random programs of loads, stores, prunes, GEMMs and vector operations
//! (every kind of the ISA) — every unit of the RTL core — for co-simulation tests, `nmsat
//! cosim --random` and the RTL speed figure.
//!
//! Each transfer moves up to 8 rows of up to 64 bytes at unaligned DRAM addresses with
//! unaligned strides — or, a third of them, transposes a block of up to 8 × 24 INT16 elements
//! — or, a quarter of all, moves a random tile of a stride phase's grid pixels (`Scatter`)
//! — to or from a random region; a sixth of the loads gather a random window tile (`Im2col`)
//! and a sixth a tile of a convolution's BP weights (`ConvBp`), see [`im2col`] and
//! [`conv_bp`] (a store may requantize INT32 accumulators); each instruction
//! waits on a random earlier instruction of another queue, so loads and stores contend for
//! the DRAM and the controller's issue rules decide. Vector operations are element-wise (an
//! `Add` of one, two or three sources), SGD steps (random Q16.16 constants, with the SR-STE
//! term at every pattern of the description or without it), loss gradients (random classes
//! and batch divisor), and max and average pooling and their gradients (random windows,
//! kernels, strides and phases), `MaskDecay` (every pattern, with a decay factor or without)
//! on whatever the scratchpads hold, batch norm:
//! statistics from zero over a tile of random width and rows, then the tile normalized, or
//! its gradient, with statistics over as many rows, more, or far more (σ small: results
//! saturate), GELU and its gradient, and layer norm and the softmax and their gradients
//! (random row widths and rows).

use crate::group_window::unit_width;
use crate::vector_unit::{batch_fits, rows_fit};
use nmsat_compiler::arch::{Arch, Banking, RegionId};
use nmsat_compiler::isa::{
    phase_taps, Buf, ConvBp, ConvBpTile, DramRows, Im2col, Im2colTile, Instr, Op, Phase, PoolMode,
    Program, PruneAlong, SrSte, Tensor, Unit, VecOp, Xfer, XferShape, STATS_BYTES,
};
use nmsat_compiler::prune::{group_bytes, Nm};

/// The queues random programs use, in the order of their issue counts.
const QUEUES: [Unit; 5] = [
    Unit::Load,
    Unit::Store,
    Unit::Vector,
    Unit::Prune,
    Unit::Array,
];

/// DRAM bytes the random transfers address (the tensor `dram`; the scratchpads' final contents
/// follow it, in `scratchpads`).
pub const PROGRAM_DRAM_BYTES: u64 = 16384;

/// SplitMix64: deterministic random numbers without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn transfer(rng: &mut SplitMix, arch: &Arch, requant: bool) -> Xfer {
    if rng.below(4) == 0 {
        return scatter(rng, arch, requant);
    }
    // Requantized and transposed rows hold whole INT16 elements at even addresses.
    let transpose = rng.below(3) == 0;
    let whole = requant || transpose;
    let even = |v: u64| if whole { v & !1 } else { v };
    let rows = 1 + rng.below(8);
    let row_bytes = if whole {
        2 * (1 + rng.below(24))
    } else {
        1 + rng.below(64)
    };
    let stride = row_bytes + even(rng.below(40));
    let span = (rows - 1) * stride + row_bytes;
    let dram_addr = even(rng.below(PROGRAM_DRAM_BYTES - span));
    let sp_bytes = rows * row_bytes * if requant { 2 } else { 1 };
    let region = RegionId::ALL[rng.below(3) as usize];
    let align = if requant {
        !3
    } else if transpose {
        !1
    } else {
        !0
    };
    let sp_addr = rng.below(arch.region(region).bytes - sp_bytes) & align;
    Xfer {
        dram_addr,
        rows,
        row_bytes,
        dram_stride: stride,
        sp: Buf {
            region,
            addr: sp_addr,
            bytes: sp_bytes,
        },
        shape: if transpose {
            XferShape::Transpose
        } else {
            XferShape::Copy
        },
    }
}

/// A random `Scatter` transfer: the pixels of one stride phase's grid (up to 3 × 3 per image,
/// stride up to 3, up to 3 images) of a tensor of up to 16 channels a pixel, a random tile of
/// its channels and pixels, pixel- or channel-major in the scratchpad.
fn scatter(rng: &mut SplitMix, arch: &Arch, requant: bool) -> Xfer {
    // Pixel rows of whole words keep every pixel's alignment that of the rows charged.
    let pixel_elems = 4 * (1 + rng.below(4));
    let channels = 1 + rng.below(pixel_elems);
    let stride = 1 + rng.below(3);
    let (out_h, out_w) = (1 + rng.below(3), 1 + rng.below(3));
    let (a, b) = (rng.below(stride), rng.below(stride));
    let geom = Im2col {
        pixel_elems,
        channels,
        images: 1 + rng.below(3),
        in_h: (out_h - 1) * stride + a + 1 + rng.below(2),
        in_w: (out_w - 1) * stride + b + 1 + rng.below(2),
        out_h,
        out_w,
        kh: 1,
        kw: 1,
        stride,
        pad_h: -(a as i64),
        pad_w: -(b as i64),
        block: 1,
        pad_value: 0,
    };
    let tensor = geom.images * geom.in_h * geom.in_w * pixel_elems * 2;
    let k0 = rng.below(channels);
    let px0 = rng.below(geom.pixels());
    let t = Im2colTile {
        geom,
        base: rng.below(PROGRAM_DRAM_BYTES - tensor) & !1,
        ch0: rng.below(pixel_elems - channels + 1),
        k0,
        nk: 1 + rng.below(channels - k0),
        px0,
        npx: 1 + rng.below(geom.pixels() - px0),
        pixel_major: rng.below(2) == 0,
    };
    let sp_bytes = t.nk * t.npx * 2 * if requant { 2 } else { 1 };
    let align = if requant { !3 } else { !1 };
    shaped(
        rng,
        arch,
        t.scatter_rows(),
        sp_bytes,
        align,
        XferShape::Scatter(t),
    )
}

/// A random `Im2col` load: a tile of a window view (stride up to 4, kernel sides of 1 to 3
/// taps a stride phase — up to 12 × 12 —, padding from −1 to the kernel side less one, blocked
/// reduction order) of a tensor of up to 3 images of up to 17 × 17 pixels, starting
/// mid-tensor, `[k × px]` or `[px × k]`, with a random pad value.
fn im2col(rng: &mut SplitMix, arch: &Arch) -> Xfer {
    let pixel_elems = 1 + rng.below(8);
    let channels = 1 + rng.below(pixel_elems);
    let stride = 1 + rng.below(4);
    // ⌈k / stride⌉ = taps: the gather map's 3 slots a side.
    let kernel = |rng: &mut SplitMix| rng.below(3) * stride + 1 + rng.below(stride);
    let (kh, kw) = (kernel(rng), kernel(rng));
    let pad = |rng: &mut SplitMix, k: u64| rng.below(k + 1) as i64 - 1;
    let (pad_h, pad_w) = (pad(rng, kh), pad(rng, kw));
    // The input covers at least one window.
    let side = |rng: &mut SplitMix, k: u64, p: i64| (k as i64 - 2 * p).max(1) as u64 + rng.below(4);
    let (in_h, in_w) = (side(rng, kh, pad_h), side(rng, kw, pad_w));
    let out = |i: u64, k: u64, p: i64| ((i as i64 + 2 * p - k as i64) / stride as i64 + 1) as u64;
    let geom = Im2col {
        pixel_elems,
        channels,
        images: 1 + rng.below(3),
        in_h,
        in_w,
        out_h: out(in_h, kh, pad_h),
        out_w: out(in_w, kw, pad_w),
        kh,
        kw,
        stride,
        pad_h,
        pad_w,
        block: 1 + rng.below(channels),
        pad_value: rng.next() as i16,
    };
    let tensor = geom.images * in_h * in_w * pixel_elems * 2;
    let (k0, px0) = (rng.below(geom.k()), rng.below(geom.pixels()));
    let t = Im2colTile {
        geom,
        base: rng.below(PROGRAM_DRAM_BYTES - tensor) & !1,
        ch0: rng.below(pixel_elems - channels + 1),
        k0,
        nk: 1 + rng.below((geom.k() - k0).min(40)),
        px0,
        npx: 1 + rng.below((geom.pixels() - px0).min(40)),
        pixel_major: rng.below(2) == 0,
    };
    shaped(
        rng,
        arch,
        t.gather_rows(),
        t.nk * t.npx * 2,
        !1,
        XferShape::Im2col(t),
    )
}

/// A random `ConvBp` load: a tile of one stride phase's BP weights of a grouped convolution of
/// up to 6 × 6 channels a group and a kernel of up to 7 × 7 (phases of up to 7 × 7 taps),
/// stride up to 4, blocked order.
fn conv_bp(rng: &mut SplitMix, arch: &Arch) -> Xfer {
    let (out_ch, in_ch) = (1 + rng.below(6), 1 + rng.below(6));
    let (kh, kw, stride) = (1 + rng.below(7), 1 + rng.below(7), 1 + rng.below(4));
    let geom = ConvBp {
        out_ch,
        in_ch,
        kh,
        kw,
        stride,
        phase_h: rng.below(stride.min(kh)),
        phase_w: rng.below(stride.min(kw)),
        block: 1 + rng.below(out_ch),
    };
    let groups = 1 + rng.below(2);
    let tensor = groups * out_ch * in_ch * kh * kw * 2;
    let (r0, k0) = (rng.below(in_ch), rng.below(geom.k()));
    let t = ConvBpTile {
        geom,
        base: rng.below(PROGRAM_DRAM_BYTES - tensor) & !1,
        group: rng.below(groups),
        r0,
        nr: 1 + rng.below(in_ch - r0),
        k0,
        nk: 1 + rng.below(geom.k() - k0),
    };
    shaped(
        rng,
        arch,
        t.dram_rows(),
        t.nr * t.nk * 2,
        !1,
        XferShape::ConvBp(t),
    )
}

/// A shaped transfer of `rows` to or from `bytes` of a random region, at an address masked
/// with `align`.
fn shaped(
    rng: &mut SplitMix,
    arch: &Arch,
    rows: DramRows,
    bytes: u64,
    align: u64,
    shape: XferShape,
) -> Xfer {
    let region = RegionId::ALL[rng.below(3) as usize];
    Xfer {
        dram_addr: rows.addr,
        rows: rows.rows,
        row_bytes: rows.row_bytes,
        dram_stride: rows.stride,
        sp: Buf {
            region,
            addr: rng.below(arch.region(region).bytes - bytes) & align,
            bytes,
        },
        shape,
    }
}

/// A random prune of up to 4 rows of up to 40 weights at one of `arch`'s patterns, into a
/// buffer apart from its source (the unit streams, see `encode`).
fn prune(rng: &mut SplitMix, arch: &Arch) -> Op {
    let nm = arch.patterns[rng.below(arch.patterns.len() as u64) as usize];
    let (rows, k) = (1 + rng.below(4), 1 + rng.below(40));
    let packed = rows * k.div_ceil(nm.m) * group_bytes(nm) as u64;
    let place = |rng: &mut SplitMix, bytes: u64, align: u64| {
        let region = RegionId::ALL[rng.below(3) as usize];
        Buf {
            region,
            addr: rng.below(arch.region(region).bytes - bytes) & !(align - 1),
            bytes,
        }
    };
    let src = place(rng, 2 * rows * k, 2);
    let dst = loop {
        let d = place(rng, packed, 1);
        if d.region != src.region || d.end() <= src.addr || src.end() <= d.addr {
            break d;
        }
    };
    Op::Prune {
        src,
        dst,
        rows,
        k,
        nm,
        along: PruneAlong::Input,
    }
}

/// A random GEMM of up to 12 × 24 × 12 (shapes that are rarely multiples of the array), dense
/// or at one of `arch`'s patterns whose M is a power of two (so that any index bits name a
/// lane of the group: the packed weights are whatever the weight region holds), accumulating
/// or not, with its operands where the array unit reads them.
fn gemm(rng: &mut SplitMix, arch: &Arch) -> Op {
    let (m, k, t) = (1 + rng.below(12), 1 + rng.below(24), 1 + rng.below(12));
    let patterns: Vec<Nm> = arch
        .patterns
        .iter()
        .copied()
        .filter(|nm| nm.m.is_power_of_two() && nm.m <= arch.mux_lanes)
        .collect();
    let sparsity = match rng.below(patterns.len() as u64 + 1) as usize {
        0 => None,
        i => Some(patterns[i - 1]),
    };
    let w_bytes = match sparsity {
        None => 2 * m * k,
        Some(nm) => m * k.div_ceil(nm.m) * group_bytes(nm) as u64,
    };
    // On physical banks an activation and a result must each lie in one bank word (the encoder
    // refuses others), so x and y are aligned there; the draws, and so the ideal core's
    // programs, are the same.
    let mut place = |region: RegionId, bytes: u64| {
        let addr = rng.below(arch.region(region).bytes - bytes);
        let align = match region {
            _ if arch.region(region).banking == Banking::Ideal => 1,
            RegionId::Input => 2,
            RegionId::Output => 4,
            RegionId::Weight => 1,
        };
        Buf {
            region,
            addr: addr / align * align,
            bytes,
        }
    };
    Op::Gemm {
        w: place(RegionId::Weight, w_bytes),
        x: place(RegionId::Input, 2 * k * t),
        y: place(RegionId::Output, 4 * m * t),
        m,
        k,
        t,
        sparsity,
        accumulate: rng.below(2) == 0,
    }
}

/// Whether two operations touch a common scratchpad byte, one of them writing it.
fn conflict(a: &Op, b: &Op) -> bool {
    let overlap = |x: &Buf, y: &Buf| x.region == y.region && x.addr < y.end() && y.addr < x.end();
    let any = |xs: &[Buf], ys: &[Buf]| xs.iter().any(|x| ys.iter().any(|y| overlap(x, y)));
    let (aw, bw) = (a.sp_writes(), b.sp_writes());
    any(&aw, &bw) || any(&aw, &b.sp_reads()) || any(&a.sp_reads(), &bw)
}

/// A buffer of `bytes` at an even address of a random region.
fn place(rng: &mut SplitMix, arch: &Arch, bytes: u64) -> Buf {
    let region = RegionId::ALL[rng.below(3) as usize];
    Buf {
        region,
        addr: rng.below(arch.region(region).bytes - bytes) & !1,
        bytes,
    }
}

/// A buffer of `bytes` that shares no byte with `dst`.
fn apart(rng: &mut SplitMix, arch: &Arch, bytes: u64, dst: &Buf) -> Buf {
    loop {
        let s = place(rng, arch, bytes);
        if s.region != dst.region || s.end() <= dst.addr || dst.end() <= s.addr {
            break s;
        }
    }
}

/// A buffer of `bytes` that shares no byte with any of `others`.
fn apart_all(rng: &mut SplitMix, arch: &Arch, bytes: u64, others: &[Buf]) -> Buf {
    loop {
        let s = place(rng, arch, bytes);
        if others
            .iter()
            .all(|o| s.region != o.region || s.end() <= o.addr || o.end() <= s.addr)
        {
            break s;
        }
    }
}

/// A Q16.16 constant of random magnitude: small ones as training uses, large ones that
/// saturate.
fn q16_constant(rng: &mut SplitMix) -> i32 {
    (rng.next() as i32) >> (4 + rng.below(20))
}

/// A random vector operation: element-wise of up to 64 elements (`Add` of up to three
/// sources, the third the destination), SGD (with the SR-STE term at one of `arch`'s
/// patterns, rows of up to 3 groups or ending in a short one, or without it), a loss gradient
/// of up to 4 rows, pooling or its gradient, `MaskDecay`, a batch norm's operations, GELU or
/// its gradient, or a row operation (layer norm, softmax, their gradients). The unit streams:
/// a destination meets a source only in place (see `encode`).
fn vector(rng: &mut SplitMix, arch: &Arch) -> Vec<Op> {
    let kind = rng.below(15);
    if kind >= 12 {
        return vec![transformer(rng, arch, kind == 12)];
    }
    if kind == 5 || kind == 6 {
        return vec![sgd(rng, arch, kind == 6 && !arch.patterns.is_empty())];
    }
    if kind == 7 {
        return vec![loss(rng, arch)];
    }
    if kind == 8 || kind == 9 {
        return vec![pool(rng, arch, kind == 9)];
    }
    if kind == 10 && !arch.patterns.is_empty() {
        return vec![mask_decay(rng, arch)];
    }
    if kind >= 10 {
        return batch_norm(rng, arch);
    }
    let elems = 1 + rng.below(64);
    let (op, sources) = match kind {
        0 => (VecOp::Relu, 1),
        1 => (VecOp::ReluGrad, 2),
        2 => (VecOp::Add, 1),
        3 => (VecOp::Add, 2),
        _ => (VecOp::Fill, 0),
    };
    let dst = place(rng, arch, 2 * elems);
    let mut srcs: Vec<Buf> = (0..sources)
        .map(|i| {
            if i == 0 && rng.below(4) == 0 {
                dst
            } else {
                apart(rng, arch, 2 * elems, &dst)
            }
        })
        .collect();
    // Two-source Adds of odd length add the destination's old contents as a third source, in
    // place: chosen without a draw, so the other operations' draws stay as they were.
    if kind == 3 && elems % 2 == 1 {
        srcs.push(dst);
    }
    vec![Op::Vector {
        op,
        srcs,
        dst,
        elems,
        width: elems,
    }]
}

/// Rows for an N:M mask at `nm`: up to 3 whole groups half the time, else a length from the
/// lanes to 3M + 1 that ends in a short group, where the RTL takes one (`unit_width`).
fn mask_rows(rng: &mut SplitMix, arch: &Arch, nm: Nm) -> u64 {
    let whole = nm.m * (1 + rng.below(3));
    let l = arch.vector_lanes;
    let short = l + rng.below(3 * nm.m + 2 - l.min(3 * nm.m + 1));
    let short = short + short.is_multiple_of(nm.m) as u64;
    match rng.below(2) {
        0 if unit_width(nm, short, l).is_some() => short,
        _ => whole,
    }
}

/// `MaskDecay` at one of `arch`'s patterns over rows of [`mask_rows`], with the decay factor
/// (whatever the scratchpad holds: negative and large ones saturate) half the time.
fn mask_decay(rng: &mut SplitMix, arch: &Arch) -> Op {
    let nm = arch.patterns[rng.below(arch.patterns.len() as u64) as usize];
    let width = mask_rows(rng, arch, nm);
    let elems = width * (1 + rng.below(3));
    let dst = place(rng, arch, 2 * elems);
    let mut srcs = vec![apart(rng, arch, 2 * elems, &dst)];
    if rng.below(2) == 0 {
        srcs.push(apart(rng, arch, 2, &dst));
    }
    Op::Vector {
        op: VecOp::MaskDecay { nm },
        srcs,
        dst,
        elems,
        width,
    }
}

/// A batch norm's operations on a tile of 1 to 12 columns (more where no tile of up to 16
/// rows keeps the model's time) and as many rows as the unit needs to (from 1 to 8): its statistics (accumulated from zero, so that they
/// are a tile's, not random bytes whose moments overflow), then the tile normalized (in place
/// or not) or the gradient's statistics (from zero) and the gradient, over N rows: the
/// tile's, a few tiles', or up to 65535 (σ small: the results saturate).
fn batch_norm(rng: &mut SplitMix, arch: &Arch) -> Vec<Op> {
    let mut width = 1 + rng.below(12);
    let mut rows = 1 + rng.below(8);
    // A width of `lanes` columns fits from `lanes` rows on.
    while !batch_fits(arch, VecOp::BatchStats, width * rows, width) {
        rows += 1;
        if rows > 16 {
            (width, rows) = (width + 1, 1);
        }
    }
    let elems = width * rows;
    let n = match rng.below(3) {
        0 => rows,
        1 => rows * (1 + rng.below(4)),
        _ => 1 + rng.below(65535),
    };
    let sb = width * STATS_BYTES;
    let stats = place(rng, arch, sb);
    let x = apart(rng, arch, 2 * elems, &stats);
    let op = |op, srcs, dst, elems, width| Op::Vector {
        op,
        srcs,
        dst,
        elems,
        width,
    };
    let fill = |b: Buf| op(VecOp::Fill, vec![], b, b.bytes / 2, b.bytes / 2);
    let mut ops = vec![
        fill(stats),
        op(VecOp::BatchStats, vec![x, stats], stats, elems, width),
    ];
    if rng.below(2) == 0 {
        let dst = if rng.below(3) == 0 {
            x
        } else {
            apart_all(rng, arch, 2 * elems, &[x, stats])
        };
        ops.push(op(
            VecOp::BatchNorm { rows: n },
            vec![x, stats],
            dst,
            elems,
            width,
        ));
    } else {
        let (dy, y) = (
            apart(rng, arch, 2 * elems, &stats),
            apart(rng, arch, 2 * elems, &stats),
        );
        let gstats = apart_all(rng, arch, sb, &[stats, dy, y]);
        let dst = apart_all(rng, arch, 2 * elems, &[dy, y, stats, gstats]);
        ops.extend([
            fill(gstats),
            op(
                VecOp::BatchGradStats,
                vec![dy, y, gstats],
                gstats,
                elems,
                width,
            ),
            op(
                VecOp::BatchNormGrad { rows: n },
                vec![dy, y, stats, gstats],
                dst,
                elems,
                width,
            ),
        ]);
    }
    ops
}

fn sgd(rng: &mut SplitMix, arch: &Arch, decay: bool) -> Op {
    let srste = decay.then(|| SrSte {
        nm: arch.patterns[rng.below(arch.patterns.len() as u64) as usize],
        lambda_q16: q16_constant(rng),
    });
    let (elems, width) = match srste {
        Some(s) => {
            let width = mask_rows(rng, arch, s.nm);
            (width * (1 + rng.below(3)), width)
        }
        None => {
            let elems = 1 + rng.below(64);
            (elems, elems)
        }
    };
    // w′ then v′; the weights may be updated in place unless the SR-STE mask reads ahead.
    let dst = place(rng, arch, 4 * elems);
    let w = if srste.is_none() && rng.below(4) == 0 {
        Buf {
            bytes: 2 * elems,
            ..dst
        }
    } else {
        apart(rng, arch, 2 * elems, &dst)
    };
    let srcs = vec![
        w,
        apart(rng, arch, 2 * elems, &dst),
        apart(rng, arch, 2 * elems, &dst),
    ];
    Op::Vector {
        op: VecOp::Sgd {
            lr_q16: q16_constant(rng),
            momentum_q16: q16_constant(rng),
            srste,
        },
        srcs,
        dst,
        elems,
        width,
    }
}

/// Pooling of up to 24 results over windows of 1 to 9 elements, or (`grad`) its gradient for
/// a kernel of 1 to 3 at a stride of 1 to 3 and one of its phases that reaches some tap.
fn pool(rng: &mut SplitMix, arch: &Arch, grad: bool) -> Op {
    let mode = if rng.below(2) == 0 {
        PoolMode::Max
    } else {
        PoolMode::Avg
    };
    let elems = 1 + rng.below(24);
    let (op, taps, sources, outs) = if grad {
        let (kernel, stride) = (1 + rng.below(3), 1 + rng.below(3));
        let reach = kernel.min(stride);
        let (phase_h, phase_w) = (rng.below(reach), rng.below(reach));
        let taps = phase_taps(kernel, phase_h, stride) * phase_taps(kernel, phase_w, stride);
        let op = VecOp::PoolGrad {
            mode,
            kernel,
            stride,
            phase_h,
            phase_w,
        };
        (op, taps, 1 + (mode == PoolMode::Max) as u64, elems)
    } else {
        let window = 1 + rng.below(9);
        let outs = elems * (1 + (mode == PoolMode::Max) as u64);
        (VecOp::Pool { window, mode }, window, 1, outs)
    };
    let dst = place(rng, arch, 2 * outs);
    let srcs = (0..sources)
        .map(|_| apart(rng, arch, 2 * elems * taps, &dst))
        .collect();
    Op::Vector {
        op,
        srcs,
        dst,
        elems,
        width: elems,
    }
}

/// GELU or its gradient over up to 64 elements (`gelu`), or layer norm, the softmax or their
/// gradients over up to 4 rows of 1 to 24 elements, widened until the unit's passes fit the
/// model's time (the softmax gradient, whose four passes run two at a time, where some width
/// within 64 more fits: otherwise layer norm's gradient). The gradients' sources are (dy, x); the result may replace either.
fn transformer(rng: &mut SplitMix, arch: &Arch, gelu: bool) -> Op {
    let (op, elems, width) = if gelu {
        let op = [VecOp::Gelu, VecOp::GeluGrad][rng.below(2) as usize];
        let elems = 1 + rng.below(64);
        (op, elems, elems)
    } else {
        let ops = [
            VecOp::Norm,
            VecOp::NormGrad,
            VecOp::Softmax,
            VecOp::SoftmaxGrad,
        ];
        let mut op = ops[rng.below(4) as usize];
        let rows = 1 + rng.below(4);
        let mut width = 1 + rng.below(24);
        if op == VecOp::SoftmaxGrad && !(width..width + 64).any(|w| rows_fit(arch, op, rows * w, w))
        {
            op = VecOp::NormGrad;
        }
        while !rows_fit(arch, op, rows * width, width) {
            width += 1;
        }
        (op, rows * width, width)
    };
    let sources = 1 + matches!(op, VecOp::GeluGrad | VecOp::NormGrad | VecOp::SoftmaxGrad) as u64;
    let dst = place(rng, arch, 2 * elems);
    let in_place = rng.below(4 * sources);
    let srcs = (0..sources)
        .map(|i| {
            if i == in_place {
                dst
            } else {
                apart(rng, arch, 2 * elems, &dst)
            }
        })
        .collect();
    Op::Vector {
        op,
        srcs,
        dst,
        elems,
        width,
    }
}

fn loss(rng: &mut SplitMix, arch: &Arch) -> Op {
    let (rows, batch) = (1 + rng.below(4), 1 + rng.below(64));
    let mut classes = 2 + rng.below(13);
    // Few classes on many lanes: more, until the unit's three passes fit the model's time.
    while !rows_fit(
        arch,
        VecOp::Loss { classes, batch },
        rows * classes,
        classes,
    ) {
        classes += 1;
    }
    let op = VecOp::Loss { classes, batch };
    let elems = rows * classes;
    let dst = place(rng, arch, 2 * elems);
    let logits = if rng.below(4) == 0 {
        dst
    } else {
        apart(rng, arch, 2 * elems, &dst)
    };
    Op::Vector {
        op,
        srcs: vec![logits, apart(rng, arch, 2 * rows, &dst)],
        dst,
        elems,
        width: classes,
    }
}

/// `n` random loads, stores and vector operations for `arch` (whose regions must hold 768
/// bytes), from `seed`; a batch norm makes a few vector operations in a row.
pub fn random_program(arch: &Arch, n: usize, seed: u64) -> Program {
    let name = format!("random-{n}-seed-{seed}");
    programme(arch, n, seed, name, |rng| match rng.below(5) {
        3 if arch.patterns.is_empty() => 2,
        q => q as usize,
    })
}

/// `n` random instructions, each on the queue `pick` draws (an index of [`QUEUES`]).
fn programme(
    arch: &Arch,
    n: usize,
    seed: u64,
    name: String,
    pick: impl Fn(&mut SplitMix) -> usize,
) -> Program {
    let mut rng = SplitMix(seed);
    let mut instrs: Vec<Instr> = Vec::with_capacity(n);
    let queues = QUEUES;
    let mut issued = [0u32; QUEUES.len()];
    // Each instruction's place in its queue.
    let mut position: Vec<u32> = Vec::with_capacity(n);
    for _ in 0..n {
        let q = pick(&mut rng);
        // Random waits, raised so that every earlier instruction of another queue whose
        // scratchpad accesses conflict with this one's completes first: like a compiled
        // program, a random one is free of races, so its result does not depend on how long
        // an operation takes to apply its effects.
        let mut random_wait = [0u32; QUEUES.len()];
        for (v, w) in random_wait.iter_mut().enumerate() {
            if issued[v] > 0 && rng.below(2) == 1 {
                *w = 1 + rng.below(u64::from(issued[v])) as u32;
            }
        }
        // One operation, or a batch norm's few in a row on the vector queue.
        let ops = match queues[q] {
            Unit::Store => {
                let requant = rng.below(3) == 0;
                vec![Op::Store {
                    xfer: transfer(&mut rng, arch, requant),
                    requant,
                }]
            }
            Unit::Load => vec![Op::Load {
                xfer: match rng.below(6) {
                    0 => im2col(&mut rng, arch),
                    1 => conv_bp(&mut rng, arch),
                    _ => transfer(&mut rng, arch, false),
                },
            }],
            Unit::Vector => vector(&mut rng, arch),
            Unit::Prune => vec![prune(&mut rng, arch)],
            _ => vec![gemm(&mut rng, arch)],
        };
        for op in ops {
            let mut wait = random_wait;
            for (i, earlier) in instrs.iter().enumerate() {
                let v = queues
                    .iter()
                    .position(|&u| u == earlier.op.unit())
                    .expect("one of the five queues");
                if v != q && conflict(&earlier.op, &op) {
                    wait[v] = wait[v].max(position[i] + 1);
                }
            }
            position.push(issued[q]);
            issued[q] += 1;
            let waits = queues
                .iter()
                .zip(wait)
                .filter(|&(_, c)| c > 0)
                .map(|(&u, c)| (u, c))
                .collect();
            instrs.push(Instr {
                op,
                waits,
                layer: 0,
                phase: Phase::Ff,
            });
        }
    }
    with_region_dumps(arch, instrs, issued, name)
}

/// The loads `xfers` in order on the load queue, then every region stored: transfers of
/// chosen shapes (gathers of chosen kernels, say) from the DRAM's random bytes.
pub fn load_program(arch: &Arch, xfers: &[Xfer], name: &str) -> Program {
    let instrs = xfers
        .iter()
        .map(|&xfer| Instr {
            op: Op::Load { xfer },
            waits: vec![],
            layer: 0,
            phase: Phase::Ff,
        })
        .collect();
    let issued = [xfers.len() as u32, 0, 0, 0, 0];
    with_region_dumps(arch, instrs, issued, name.into())
}

/// `instrs` (issued to the [`QUEUES`] `issued` times) followed by
/// every region stored whole behind the program's DRAM, after everything else, so that
/// comparing the DRAM compares the scratchpads too.
fn with_region_dumps(
    arch: &Arch,
    mut instrs: Vec<Instr>,
    mut issued: [u32; QUEUES.len()],
    model: String,
) -> Program {
    let queues = QUEUES;
    let mut dump_at = PROGRAM_DRAM_BYTES;
    for region in RegionId::ALL {
        let bytes = arch.region(region).bytes;
        let row = 256.min(bytes);
        instrs.push(Instr {
            op: Op::Store {
                xfer: Xfer {
                    dram_addr: dump_at,
                    rows: bytes / row,
                    row_bytes: row,
                    dram_stride: row,
                    sp: Buf {
                        region,
                        addr: 0,
                        bytes: bytes / row * row,
                    },
                    shape: XferShape::Copy,
                },
                requant: false,
            },
            waits: queues.iter().zip(&issued).map(|(&u, &c)| (u, c)).collect(),
            layer: 0,
            phase: Phase::Ff,
        });
        issued[1] += 1;
        dump_at += bytes;
    }
    Program {
        arch: arch.name.clone(),
        model,
        batch: 1,
        nm: None,
        layers: vec!["random".into()],
        tensors: vec![
            Tensor {
                name: "dram".into(),
                addr: 0,
                bytes: PROGRAM_DRAM_BYTES,
                host_init: true,
            },
            Tensor {
                name: "scratchpads".into(),
                addr: PROGRAM_DRAM_BYTES,
                bytes: dump_at - PROGRAM_DRAM_BYTES,
                host_init: false,
            },
        ],
        instrs,
    }
}

/// The vector operations `ops` in order, on sources loaded from the DRAM's random bytes first
/// (a load per source buffer, each at a random even DRAM address), then every region stored:
/// vector operations on chosen data, such as the SR-STE tie cases random data never makes.
pub fn vector_program(arch: &Arch, ops: &[Op], seed: u64) -> Program {
    let mut rng = SplitMix(seed);
    let mut instrs = Vec::new();
    let mut loads = 0u32;
    for op in ops {
        for b in op.sp_reads() {
            let dram_addr = rng.below(PROGRAM_DRAM_BYTES - b.bytes) & !1;
            instrs.push(Instr {
                op: Op::Load {
                    xfer: Xfer {
                        dram_addr,
                        rows: 1,
                        row_bytes: b.bytes,
                        dram_stride: b.bytes,
                        sp: b,
                        shape: XferShape::Copy,
                    },
                },
                waits: vec![],
                layer: 0,
                phase: Phase::Ff,
            });
            loads += 1;
        }
    }
    // Every operation after every load: the loads may share buffers with the operations'
    // destinations, and the vector queue runs in order.
    for op in ops {
        instrs.push(Instr {
            op: op.clone(),
            waits: vec![(Unit::Load, loads)],
            layer: 0,
            phase: Phase::Update,
        });
    }
    let issued = [loads, 0, ops.len() as u32, 0, 0];
    debug_assert!(loads > 0, "operations with sources");
    with_region_dumps(arch, instrs, issued, format!("vector-ops-seed-{seed}"))
}
