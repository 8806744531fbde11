//! `encode`: a compiled [`Program`] as the core's five instruction queues.
//!
//! Each queue holds its unit's instructions in program order — the order the ISA says a unit
//! runs them — with every wait `(V, c)` as a per-queue count (the largest `c` for each V) and
//! the resources the instruction holds while in flight, computed by `nmsat_sim::machine`
//! itself: the scratchpad regions it reads or writes (on physical banks, a read copy of each
//! region it reads and the write port of each it writes), and the DRAM for a transfer. The operation's fields are the ISA's, checked against what the RTL's units
//! execute.

use crate::array_unit::GemmOp;
use crate::controller::{RESOURCES, UNITS};
use crate::gather_map::{field, CONV_BP, GATHER_FIELDS, IM2COL, MAX_PHASE_TAPS};
use crate::group_window::{unit_width, WINDOW};
use crate::scratchpad::GROUP_PORTS;
use crate::vector_unit::{
    batch_fits, rows_fit, VOP_ADD, VOP_ADD3, VOP_BATCH_GRAD_STATS, VOP_BATCH_NORM,
    VOP_BATCH_NORM_GRAD, VOP_BATCH_STATS, VOP_FILL, VOP_GELU, VOP_GELU_GRAD, VOP_LOSS,
    VOP_MASK_DECAY, VOP_NORM, VOP_NORM_GRAD, VOP_POOL_MAX, VOP_POOL_SUM, VOP_RELU, VOP_RELU_GRAD,
    VOP_SGD, VOP_SOFTMAX, VOP_SOFTMAX_GRAD,
};
use crate::HwError;
use nmsat_compiler::arch::{Arch, Banking, RegionId};
use nmsat_compiler::datapath::reciprocal_q16;
use nmsat_compiler::isa::{
    phase_taps, Buf, Instr, Op, PoolMode, Program, Unit, VecOp, Xfer, XferShape,
};
use nmsat_compiler::prune::{group_bytes, Nm};
use nmsat_sim::machine::resources;

/// The fields of a DMA transfer as the core's instruction port carries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// First DRAM byte.
    pub dram_addr: u32,
    /// Rows.
    pub rows: u16,
    /// Bytes per row.
    pub row_bytes: u16,
    /// DRAM bytes from row to row.
    pub stride: u32,
    /// Scratchpad region (0 weight, 1 input, 2 output).
    pub region: u8,
    /// First scratchpad byte.
    pub sp_addr: u16,
    /// Stores: requantize INT32 accumulators to INT16.
    pub requant: bool,
    /// The INT16 block lands (or is read) column-major.
    pub transpose: bool,
    /// The rows' grid (a scatter's; one grid row of all rows otherwise): rows per grid row,
    /// grid rows per image, the first row's position, and the DRAM bytes from a grid row's
    /// (an image's) last row to the next row.
    pub grid: Grid,
    /// A gathering load's fields (see `gather_map::field`); all zero otherwise.
    pub gather: [u32; GATHER_FIELDS],
}

/// See [`Transfer::grid`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Rows per grid row.
    pub w: u16,
    /// Grid rows per image.
    pub h: u16,
    /// Position of the first row.
    pub x0: u16,
    /// See `x0`.
    pub y0: u16,
    /// DRAM bytes from a grid row's last row to the next row.
    pub row_jump: u32,
    /// DRAM bytes from an image's last row to the next row.
    pub img_jump: u32,
}

/// The grid of a transfer's rows, checked to touch the DRAM words its charged rows (the
/// ISA's `rows` at `dram_stride`) do: every actual row has its charged row's alignment.
fn transfer_grid(index: usize, x: &Xfer) -> Result<Grid, HwError> {
    let XferShape::Scatter(t) = x.shape else {
        return Ok(Grid {
            w: narrow(x.rows, "rows", index)?,
            h: 1,
            x0: 0,
            y0: 0,
            row_jump: 0,
            img_jump: 0,
        });
    };
    let g = &t.geom;
    let refuse = |why: &str| {
        Err(HwError::Usage(format!(
            "instruction {index}: the RTL DMA engine cannot move this Scatter transfer: {why}"
        )))
    };
    let (lo, hi) = t.channels();
    if (lo, hi) != (t.k0, t.k0 + t.nk) || g.kh * g.kw != 1 {
        return refuse("its rows hold channels outside the tile");
    }
    let row_addr = |px: u64| t.addr(t.scatter_pixel(px), lo);
    for i in 0..t.npx {
        if row_addr(t.px0 + i) % 8 != (x.dram_addr + i * x.dram_stride) % 8 {
            return refuse("a pixel's row is aligned unlike the row the timing charges");
        }
    }
    // DRAM bytes to the next row from the last pixel of a grid row or of an image (at any
    // image, as the grid repeats), measured where the view has such a step.
    let (ow, oh) = (g.out_w, g.out_h);
    let step =
        |px: u64| (px + 1 < g.pixels()).then(|| row_addr(px + 1) as i64 - row_addr(px) as i64);
    let jump = |px: u64| -> Result<u32, HwError> {
        let d = step(px).unwrap_or(0);
        narrow(
            u64::try_from(d).unwrap_or(u64::MAX),
            "a scatter's row jump",
            index,
        )
    };
    let q = t.px0 % (ow * oh);
    Ok(Grid {
        w: narrow(ow, "a scatter's grid width", index)?,
        h: narrow(oh, "a scatter's grid height", index)?,
        x0: narrow(q % ow, "a scatter's grid position", index)?,
        y0: narrow(q / ow, "a scatter's grid position", index)?,
        row_jump: jump(ow - 1)?,
        img_jump: jump(ow * oh - 1)?,
    })
}

/// The gather fields of a load: zero but the scratchpad beats for the shapes the walkers move
/// alone, the window or BP-weight geometry for `Im2col` and `ConvBp` (see
/// [`crate::gather_map`]), refused where the gather map has no slot for a copy.
fn gather_fields(arch: &Arch, index: usize, x: &Xfer) -> Result<[u32; GATHER_FIELDS], HwError> {
    let refuse = |why: String| {
        Err(HwError::Usage(format!(
            "instruction {index}: the RTL DMA engine cannot gather this {:?} load: {why}",
            x.shape
        )))
    };
    let beats =
        x.sp.bytes
            .div_ceil(arch.region(x.sp.region).bytes_per_cycle());
    let sp_addr: u32 = narrow(x.sp.addr, "the scratchpad address", index)?;
    let sp_bytes: u32 = narrow(x.sp.bytes, "the scratchpad bytes", index)?;
    let beats: u32 = narrow(beats, "the scratchpad beats", index)?;
    let mut f = [0u32; GATHER_FIELDS];
    f[field::SP_BEATS] = beats;
    if matches!(x.shape, XferShape::Im2col(_) | XferShape::ConvBp(_)) {
        // The map reads a word's row and column off the response walker's address of the rows
        // laid end to end.
        if x.rows * x.row_bytes > 1 << 16 {
            return refuse(format!(
                "its {} DRAM rows of {} bytes exceed the walker's 16-bit address",
                x.rows, x.row_bytes
            ));
        }
        f[field::ROW_BYTES] = x.row_bytes as u32;
    }
    let fits = |v: u64, what: &str| -> Result<u32, HwError> {
        if v >= 1 << 30 {
            return Err(HwError::Usage(format!(
                "instruction {index}: {what} = {v} does not fit the gather map's 30 bits"
            )));
        }
        Ok(v as u32)
    };
    match x.shape {
        XferShape::Im2col(t) => {
            let g = &t.geom;
            // An element meets only the taps of its stride phase, one a slot (see `gather_map`).
            let (ta, tb) = (g.kh.div_ceil(g.stride), g.kw.div_ceil(g.stride));
            if ta > MAX_PHASE_TAPS || tb > MAX_PHASE_TAPS {
                return refuse(format!(
                    "its {}×{} kernel at stride {} puts an input element in up to {ta}×{tb} \
                     places (⌈kernel/stride⌉ taps a side), more than the gather map's 3×3 \
                     phase-tap slots",
                    g.kh, g.kw, g.stride
                ));
            }
            if !x.sp.addr.is_multiple_of(2) {
                return refuse("its tile starts at an odd scratchpad byte".into());
            }
            for v in [g.pixels(), g.k(), g.images * g.in_h * g.in_w, x.sp.bytes] {
                fits(v, "a window view's size")?;
            }
            let f = gather_fields_im2col(&t, sp_addr, beats, sp_bytes, f[field::ROW_BYTES]);
            Ok(f)
        }
        XferShape::ConvBp(t) => {
            let g = &t.geom;
            let (ka, kb) = g.taps();
            let (lo, _) = nmsat_compiler::isa::blocked_channels(
                t.k0..t.k0 + t.nk,
                g.out_ch,
                ka * kb,
                g.block,
            );
            for v in [g.out_ch * ka * kb, g.in_ch * g.kh * g.kw, x.sp.bytes] {
                fits(v, "a BP view's size")?;
            }
            f[field::MODE] = CONV_BP;
            f[field::PIXEL_MAJOR] = 1;
            f[field::SP_ADDR] = sp_addr;
            f[field::SP_BYTES] = sp_bytes;
            f[field::PLANE] = (g.kh * g.kw) as u32;
            f[field::IN_W] = g.kw as u32;
            f[field::PAD_H] = g.phase_h as u32;
            f[field::PAD_W] = g.phase_w as u32;
            f[field::STRIDE] = g.stride as u32;
            f[field::KH] = ka as u32;
            f[field::KW] = kb as u32;
            f[field::K0] = t.k0 as u32;
            f[field::NK] = t.nk as u32;
            f[field::CHANNELS] = g.out_ch as u32;
            f[field::BLOCK] = g.block as u32;
            f[field::LO] = lo as u32;
            Ok(f)
        }
        _ => Ok(f),
    }
}

/// The gather fields of an Im2col tile at `sp_addr`.
pub(crate) fn gather_fields_im2col(
    t: &nmsat_compiler::isa::Im2colTile,
    sp_addr: u32,
    beats: u32,
    sp_bytes: u32,
    row_bytes: u32,
) -> [u32; GATHER_FIELDS] {
    let g = &t.geom;
    let mut f = [0u32; GATHER_FIELDS];
    f[field::ROW_BYTES] = row_bytes;
    // Some element of the tile (a reduction index and pixel of it) lies in the padding: the
    // bytes no DRAM word sets, as `dma_beats::beat_words` finds them.
    let has_pad = (t.k0..t.k0 + t.nk).any(|k| {
        let (_, u, v) = g.k_index(k);
        (t.px0..t.px0 + t.npx).any(|px| g.source(px, u, v).is_none())
    });
    f[field::MODE] = IM2COL;
    f[field::SP_BEATS] = beats;
    f[field::PIXEL_MAJOR] = t.pixel_major as u32;
    f[field::SP_ADDR] = sp_addr;
    f[field::SP_BYTES] = sp_bytes;
    f[field::FILL] = has_pad as u32;
    f[field::PAD_VALUE] = g.pad_value as u16 as u32;
    f[field::FIRST] =
        (t.gather_rows().addr - t.addr(0, t.channels().0)) as u32 / 2 / g.pixel_elems as u32;
    f[field::PLANE] = (g.in_h * g.in_w) as u32;
    f[field::IN_W] = g.in_w as u32;
    f[field::PAD_H] = g.pad_h as u32;
    f[field::PAD_W] = g.pad_w as u32;
    f[field::STRIDE] = g.stride as u32;
    f[field::KH] = g.kh as u32;
    f[field::KW] = g.kw as u32;
    f[field::OUT_H] = g.out_h as u32;
    f[field::OUT_W] = g.out_w as u32;
    f[field::PX0] = t.px0 as u32;
    f[field::NPX] = t.npx as u32;
    f[field::K0] = t.k0 as u32;
    f[field::NK] = t.nk as u32;
    f[field::CHANNELS] = g.channels as u32;
    f[field::BLOCK] = g.block as u32;
    f[field::LO] = t.channels().0 as u32;
    f
}

/// One instruction of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuedInstr {
    /// Index in the program.
    pub index: usize,
    /// At least `waits[v]` instructions of queue `v` completed before it issues.
    pub waits: [u16; UNITS],
    /// Resources held in flight (bit r).
    pub res: u8,
    /// The transfer (load and store queues).
    pub transfer: Option<Transfer>,
    /// The vector operation (vector queue).
    pub vector: Option<VectorOp>,
    /// The prune operation (prune queue).
    pub prune: Option<PruneOp>,
    /// The GEMM (array queue).
    pub gemm: Option<GemmOp>,
}

/// The fields of a prune operation as the core's instruction port carries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneOp {
    /// N, M, bits per index, bytes per packed group.
    pub n: u8,
    /// See `n`.
    pub m: u8,
    /// See `n`.
    pub ib: u8,
    /// See `n`.
    pub gb: u8,
    /// Groups in all, per row, and the elements of a row's last group.
    pub total: u16,
    /// See `total`.
    pub per_row: u16,
    /// See `total`.
    pub last_v: u8,
    /// A lane's advance per batch: whole rows (elements), columns, columns as elements, the
    /// padding subtracted on a carry, packed bytes.
    pub qk: u16,
    /// See `qk`.
    pub rem: u16,
    /// See `qk`.
    pub remm: u16,
    /// See `qk`.
    pub pad: u16,
    /// See `qk`.
    pub dstep: u16,
    /// The source's region and first byte.
    pub src: (u8, u16),
    /// The destination's region and first byte.
    pub dst: (u8, u16),
    /// Each lane's first group: column, element, packed offset.
    pub init_c: [u16; GROUP_PORTS],
    /// See `init_c`.
    pub init_elem: [u16; GROUP_PORTS],
    /// See `init_c`.
    pub init_dst: [u16; GROUP_PORTS],
}

/// The fields of a vector operation as the core's instruction port carries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorOp {
    /// Operation code (`VOP_*`).
    pub op: u8,
    /// Source 0's region and first byte.
    pub src0: (u8, u16),
    /// Source 1's region and first byte, if there is one.
    pub src1: Option<(u8, u16)>,
    /// Source 2's region and first byte (SGD's momenta), if there is one.
    pub src2: Option<(u8, u16)>,
    /// The destination's region and first byte.
    pub dst: (u8, u16),
    /// Elements.
    pub elems: u16,
    /// SGD: learning rate, momentum and SR-STE decay, Q16.16 (0 where unused).
    pub lr: i32,
    /// See `lr`.
    pub mu: i32,
    /// See `lr`.
    pub lambda: i32,
    /// SGD with SR-STE and MaskDecay: N and M (their row length in `width`); `None`
    /// otherwise.
    pub srste: Option<SrSteFields>,
    /// Loss: classes per row and the mean's divisor; the softmax: elements per row and 1;
    /// layer norm: elements per row (0 otherwise).
    pub classes: u16,
    /// See `classes`.
    pub batch: u16,
    /// Pooling and its gradients; `None` otherwise.
    pub pool: Option<PoolFields>,
    /// Batch norm: source 3's region and first byte (`BatchNormGrad`'s gradient statistics).
    pub src3: Option<(u8, u16)>,
    /// Batch norm: the tile's columns and rows, and the rows N of the statistics; SR-STE and
    /// MaskDecay: the row length the groups restart at (see `GroupPhase`); 0 otherwise.
    pub width: u16,
    /// See `width`.
    pub trows: u16,
    /// See `width`.
    pub rows: u16,
}

/// The fields of a pooling operation; see [`VectorOp::pool`] and `PoolLanes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolFields {
    /// Elements per result: the window, or the gradient's phase taps.
    pub taps: u8,
    /// Source elements, `elems · taps`.
    pub total: u16,
    /// A sum's scale, Q16.16: `⌊2^16/window⌉` (average), 2^16 (gradient of max).
    pub recip: u32,
    /// Gradient of max: tap 0's window position.
    pub base: u8,
    /// Gradient of max: the position's step back along a tap row (the stride).
    pub step: u8,
    /// Gradient of max: the position's step back from a tap row's end to the next row.
    pub row: u8,
    /// Gradient of max: taps per tap row.
    pub kb: u8,
}

/// The SR-STE fields of an SGD operation; see [`VectorOp::srste`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SrSteFields {
    /// N.
    pub n: u8,
    /// M.
    pub m: u8,
}

/// The five queues of a program, in [`Unit::ALL`] order.
#[derive(Clone, Debug, Default)]
pub struct Queues(pub [Vec<QueuedInstr>; UNITS]);

fn narrow<T: TryFrom<u64>>(value: u64, what: &str, index: usize) -> Result<T, HwError> {
    T::try_from(value).map_err(|_| {
        HwError::Usage(format!(
            "instruction {index}: {what} = {value} does not fit the core's instruction field"
        ))
    })
}

/// Encodes `prog` for the core of `arch`, or says which instruction it cannot run and why.
pub fn encode(arch: &Arch, prog: &Program) -> Result<Queues, HwError> {
    let mut q = Queues::default();
    for (index, ins) in prog.instrs.iter().enumerate() {
        let queued = encode_one(arch, index, ins)?;
        q.0[ins.op.unit().index()].push(queued);
    }
    for (u, list) in q.0.iter().enumerate() {
        narrow::<u16>(
            list.len() as u64,
            &format!("{:?} queue length", Unit::ALL[u]),
            0,
        )?;
    }
    Ok(q)
}

/// The fields of instruction `index`'s transfer `xfer` (`requant`: a store of INT32
/// accumulators as INT16), as the DMA engine takes them; refused where the engine cannot move
/// it.
pub fn encode_transfer(
    arch: &Arch,
    index: usize,
    xfer: &Xfer,
    requant: bool,
) -> Result<Transfer, HwError> {
    if xfer.rows == 0 || xfer.row_bytes == 0 {
        return Err(HwError::Usage(format!(
            "instruction {index}: an empty transfer"
        )));
    }
    Ok(Transfer {
        dram_addr: narrow(xfer.dram_addr, "dram_addr", index)?,
        rows: narrow(xfer.rows, "rows", index)?,
        row_bytes: narrow(xfer.row_bytes, "row_bytes", index)?,
        stride: narrow(xfer.dram_stride, "dram_stride", index)?,
        region: xfer.sp.region as u8,
        // A gather's walkers lay its rows end to end from 0 (see `gather_map`).
        sp_addr: if matches!(xfer.shape, XferShape::Im2col(_) | XferShape::ConvBp(_)) {
            0
        } else {
            narrow(xfer.sp.addr, "the scratchpad address", index)?
        },
        requant,
        transpose: match xfer.shape {
            XferShape::Transpose => true,
            XferShape::Scatter(t) => !t.pixel_major,
            _ => false,
        },
        grid: transfer_grid(index, xfer)?,
        gather: gather_fields(arch, index, xfer)?,
    })
}

fn encode_one(arch: &Arch, index: usize, ins: &Instr) -> Result<QueuedInstr, HwError> {
    let mut waits = [0u16; UNITS];
    for &(v, c) in &ins.waits {
        let c: u16 = narrow(u64::from(c), "a wait count", index)?;
        waits[v.index()] = waits[v.index()].max(c);
    }
    // The resources the exact simulator's issue model has the instruction hold.
    let res = resources(arch, ins)
        .into_iter()
        .fold(0u8, |bits, r| bits | 1 << r.index());
    let transfer = match &ins.op {
        Op::Load { xfer } => Some(encode_transfer(arch, index, xfer, false)?),
        Op::Store { xfer, requant } => Some(encode_transfer(arch, index, xfer, *requant)?),
        _ => None,
    };
    let prune = match &ins.op {
        Op::Prune {
            src,
            dst,
            rows,
            k,
            nm,
            ..
        } => Some(encode_prune(arch, index, src, dst, *rows, *k, *nm)?),
        _ => None,
    };
    let gemm = match &ins.op {
        Op::Gemm {
            w,
            x,
            y,
            m,
            k,
            t,
            sparsity,
            accumulate,
        } => Some(encode_gemm(
            arch,
            index,
            [w, x, y],
            (*m, *k, *t),
            *sparsity,
            *accumulate,
        )?),
        _ => None,
    };
    let vector = match &ins.op {
        Op::Load { .. } | Op::Store { .. } | Op::Prune { .. } | Op::Gemm { .. } => None,
        Op::Vector {
            op,
            srcs,
            dst,
            elems,
            width,
        } => Some(encode_vector(arch, index, *op, srcs, dst, *elems, *width)?),
    };
    debug_assert!(res < 1 << RESOURCES);
    Ok(QueuedInstr {
        index,
        waits,
        res,
        transfer,
        vector,
        prune,
        gemm,
    })
}

/// The array unit's fields, once the operands are where its ports read them: w in the weight
/// region, x in the input region, y in the output region.
fn encode_gemm(
    arch: &Arch,
    index: usize,
    [w, x, y]: [&Buf; 3],
    (m, k, t): (u64, u64, u64),
    sparsity: Option<Nm>,
    accumulate: bool,
) -> Result<GemmOp, HwError> {
    for (b, want, what) in [
        (w, RegionId::Weight, "w"),
        (x, RegionId::Input, "x"),
        (y, RegionId::Output, "y"),
    ] {
        if b.region != want {
            return Err(HwError::Usage(format!(
                "instruction {index}: GEMM operand {what} is in the {} region; the array unit \
                 reads it from the {} region",
                b.region.name(),
                want.name()
            )));
        }
    }
    // On physical banks the array unit fetches an activation, and reads and writes a result,
    // as one bank word each.
    for (b, what, size) in [(x, "input x", 2), (y, "output y", 4)] {
        if arch.region(b.region).banking == Banking::Physical && b.addr % size != 0 {
            return Err(HwError::Usage(format!(
                "instruction {index}: GEMM {what} at byte {} of the {} region: on physically \
                 banked regions the array unit takes each {size}-byte element from one bank \
                 word, so it must start at a multiple of {size} bytes",
                b.addr,
                b.region.name()
            )));
        }
    }
    if let Some(nm) = sparsity {
        if nm.m > arch.mux_lanes {
            return Err(HwError::Usage(format!(
                "instruction {index}: a {nm} GEMM needs {}-lane activation muxes; the array has {}",
                nm.m, arch.mux_lanes
            )));
        }
    }
    if m == 0 || k == 0 || t == 0 || x.bytes < 2 * k * t || y.bytes < 4 * m * t {
        return Err(HwError::Usage(format!(
            "instruction {index}: GEMM {m}×{k}×{t} with operands of {} (x) and {} (y) bytes",
            x.bytes, y.bytes
        )));
    }
    GemmOp::new(
        arch,
        (x.addr, w.addr, y.addr),
        (m, k, t),
        sparsity,
        accumulate,
    )
    .map_err(|e| HwError::Usage(format!("instruction {index}: {e}")))
}

/// The prune unit's fields: see [`crate::PruneUnit`] for how a lane walks the groups.
fn encode_prune(
    arch: &Arch,
    index: usize,
    src: &Buf,
    dst: &Buf,
    rows: u64,
    k: u64,
    nm: Nm,
) -> Result<PruneOp, HwError> {
    let (n, m) = (nm.n, nm.m);
    if !(1 <= n && n < m && m <= arch.mux_lanes) || rows == 0 || k == 0 {
        return Err(HwError::Usage(format!(
            "instruction {index}: prune {rows}×{k} at {nm} on {}-lane group networks",
            arch.mux_lanes
        )));
    }
    let per_row = k.div_ceil(m);
    let gb = group_bytes(nm) as u64;
    let g = arch.prune_groups_per_cycle;
    let field = |v: u64, what: &str| narrow::<u16>(v, what, index);
    let lane = |j: u64| ((j / per_row) * k + (j % per_row) * m, j % per_row, j * gb);
    let mut init_c = [0; GROUP_PORTS];
    let mut init_elem = [0; GROUP_PORTS];
    let mut init_dst = [0; GROUP_PORTS];
    for j in 0..(g as usize).min(GROUP_PORTS) {
        let (e, c, d) = lane(j as u64);
        (init_elem[j], init_c[j], init_dst[j]) = (
            field(e, "a group offset")?,
            field(c, "a column")?,
            field(d, "a packed offset")?,
        );
    }
    let at = |b: &Buf| -> Result<(u8, u16), HwError> {
        Ok((
            b.region as u8,
            narrow(b.addr, "a scratchpad address", index)?,
        ))
    };
    Ok(PruneOp {
        n: n as u8,
        m: m as u8,
        ib: nm.index_bits() as u8,
        gb: gb as u8,
        total: field(rows * per_row, "the group count")?,
        per_row: field(per_row, "groups per row")?,
        last_v: (k - (per_row - 1) * m) as u8,
        qk: field((g / per_row) * k, "a row advance")?,
        rem: field(g % per_row, "a column advance")?,
        remm: field((g % per_row) * m, "a column advance")?,
        pad: field(per_row * m - k, "a row's padding")?,
        dstep: field(g * gb, "a packed advance")?,
        src: at(src)?,
        dst: at(dst)?,
        init_c,
        init_elem,
        init_dst,
    })
}

fn encode_vector(
    arch: &Arch,
    index: usize,
    op: VecOp,
    srcs: &[Buf],
    dst: &Buf,
    elems: u64,
    width: u64,
) -> Result<VectorOp, HwError> {
    let usage = |why: String| HwError::Usage(format!("instruction {index}: {op:?} {why}"));
    let refuse = |why: String| Err(usage(why));
    let (code, sources) = match op {
        VecOp::Relu => (VOP_RELU, 1..=1),
        VecOp::ReluGrad => (VOP_RELU_GRAD, 2..=2),
        VecOp::Add if srcs.len() == 3 => (VOP_ADD3, 3..=3),
        VecOp::Add => (VOP_ADD, 1..=2),
        VecOp::Fill => (VOP_FILL, 0..=0),
        VecOp::Sgd { .. } => (VOP_SGD, 3..=3),
        VecOp::Loss { .. } => (VOP_LOSS, 2..=2),
        VecOp::Pool {
            mode: PoolMode::Max,
            ..
        } => (VOP_POOL_MAX, 1..=1),
        VecOp::Pool { .. }
        | VecOp::PoolGrad {
            mode: PoolMode::Avg,
            ..
        } => (VOP_POOL_SUM, 1..=1),
        VecOp::PoolGrad { .. } => (VOP_POOL_SUM, 2..=2),
        VecOp::MaskDecay { .. } => (VOP_MASK_DECAY, 1..=2),
        VecOp::BatchStats => (VOP_BATCH_STATS, 2..=2),
        VecOp::BatchNorm { .. } => (VOP_BATCH_NORM, 2..=2),
        VecOp::BatchGradStats => (VOP_BATCH_GRAD_STATS, 3..=3),
        VecOp::BatchNormGrad { .. } => (VOP_BATCH_NORM_GRAD, 4..=4),
        VecOp::Norm => (VOP_NORM, 1..=1),
        VecOp::NormGrad => (VOP_NORM_GRAD, 2..=2),
        VecOp::Softmax => (VOP_SOFTMAX, 1..=1),
        VecOp::SoftmaxGrad => (VOP_SOFTMAX_GRAD, 2..=2),
        VecOp::Gelu => (VOP_GELU, 1..=1),
        VecOp::GeluGrad => (VOP_GELU_GRAD, 2..=2),
    };
    if op == VecOp::Add && srcs.len() > 3 {
        return refuse(format!(
            "of {} sources: the RTL vector unit reads at most three sources a batch (sum more \
             in steps of up to three)",
            srcs.len()
        ));
    }
    if !sources.contains(&srcs.len()) || elems == 0 {
        return refuse(format!("of {elems} elements with {} sources", srcs.len()));
    }
    // The unit streams batch by batch, so a destination that overlaps a source without being
    // it would overwrite elements before they are read.
    let overlaps = |s: &Buf| s.region == dst.region && s.addr < dst.end() && dst.addr < s.end();
    if srcs.iter().any(|s| overlaps(s) && s.addr != dst.addr) {
        return refuse(
            "has a destination that overlaps a source without coinciding with it; the RTL \
             vector unit streams, so it runs in place or between disjoint buffers"
                .into(),
        );
    }
    let field = |v: u64, what: &str| narrow::<u16>(v, what, index);
    let (mut lr, mut mu, mut lambda, mut srste, mut classes, mut batch) = (0, 0, 0, None, 0, 0);
    let mut pool = None;
    let (mut src3, mut width_field, mut trows, mut bn_rows) = (None, 0, 0, 0);
    // The sources on the unit's three read ports.
    let mut ports = [srcs.first(), srcs.get(1), srcs.get(2)];
    // A pooling source is read ahead of the results it makes (max pooling's taps go `elems`
    // results further on), so the destination must be apart from it.
    let pooling = |taps: u64, fields: PoolFields| -> Result<Option<PoolFields>, HwError> {
        if srcs.iter().any(overlaps) {
            return Err(usage(
                "has a destination that meets a source; the RTL vector unit pools between \
                 disjoint buffers"
                    .into(),
            ));
        }
        if !(1..=255).contains(&taps) {
            return Err(usage(format!(
                "of {taps} elements per result: the RTL pooling groups 1 to 255"
            )));
        }
        let total = field(elems * taps, "the pooled elements")?;
        if matches!(
            op,
            VecOp::Pool {
                mode: PoolMode::Max,
                ..
            }
        ) {
            field(2 * elems, "the taps' offset")?;
        }
        Ok(Some(PoolFields {
            taps: taps as u8,
            total,
            ..fields
        }))
    };
    // The N:M mask of SR-STE and MaskDecay: groups restart at every row (see `GroupPhase`),
    // and the unit's row length is the real one only where rows are not whole groups.
    let group_mask = |nm: Nm| -> Result<(SrSteFields, u16), HwError> {
        let (n, m, l) = (nm.n, nm.m, arch.vector_lanes);
        if !(1..=m).contains(&n) || m > WINDOW as u64 / 2 {
            return Err(usage(format!(
                "at {n}:{m}: the RTL N:M mask ranks groups of up to 16 weights"
            )));
        }
        if width == 0 || !elems.is_multiple_of(width) || overlaps(&srcs[0]) {
            return Err(usage(format!(
                "of {elems} elements in rows of {width}: the RTL N:M mask needs whole rows, and \
                 the weights apart from the destination (it reads their groups ahead of the \
                 batch)"
            )));
        }
        let Some(unit_width) = unit_width(nm, width, l) else {
            return Err(usage(format!(
                "at {n}:{m} over rows of {width}: where rows are not whole groups, the RTL N:M \
                 mask needs rows of at least the {l} lanes and 2M + lanes − 2 ≤ {WINDOW} (its \
                 window holds a batch's groups in two rows)"
            )));
        };
        Ok((
            SrSteFields {
                n: n as u8,
                m: m as u8,
            },
            field(unit_width, "the row width")?,
        ))
    };
    match op {
        VecOp::Pool { window, mode } => {
            let recip = if mode == PoolMode::Avg && window > 0 {
                reciprocal_q16(window) as u32
            } else {
                0
            };
            pool = pooling(
                window,
                PoolFields {
                    recip,
                    ..Default::default()
                },
            )?;
        }
        VecOp::PoolGrad {
            mode,
            kernel,
            stride,
            phase_h,
            phase_w,
        } => {
            // Window positions (< kernel²) and their steps (≤ stride·kernel) are 8-bit.
            if stride == 0 || kernel == 0 || kernel * kernel > 256 || stride * kernel > 255 {
                return refuse(format!(
                    "with a {kernel}×{kernel} kernel at stride {stride}: the RTL pooling \
                     gradient takes window positions and steps below 256"
                ));
            }
            let (ka, kb) = (
                phase_taps(kernel, phase_h, stride),
                phase_taps(kernel, phase_w, stride),
            );
            let fields = match mode {
                PoolMode::Avg => PoolFields {
                    recip: reciprocal_q16(kernel * kernel) as u32,
                    ..Default::default()
                },
                // Tap (u, v) is window position (a + s(ka−1−u))·k + b + s(kb−1−v).
                PoolMode::Max => PoolFields {
                    recip: 1 << 16,
                    base: ((phase_h + stride * (ka.max(1) - 1)) * kernel
                        + phase_w
                        + stride * (kb.max(1) - 1)) as u8,
                    step: stride as u8,
                    row: (stride * kernel - stride * (kb.max(1) - 1)) as u8,
                    kb: kb as u8,
                    ..Default::default()
                },
            };
            pool = pooling(ka * kb, fields)?;
        }
        VecOp::Sgd {
            lr_q16,
            momentum_q16,
            srste: decay,
        } => {
            (lr, mu) = (lr_q16, momentum_q16);
            if let Some(d) = decay {
                let (fields, w) = group_mask(d.nm)?;
                (srste, width_field) = (Some(fields), w);
                lambda = d.lambda_q16;
            }
            // v′ follows w′ at byte 2·elems of the destination.
            field(2 * elems, "the momenta's offset")?;
        }
        VecOp::MaskDecay { nm } => {
            let (fields, w) = group_mask(nm)?;
            (srste, width_field) = (Some(fields), w);
        }
        VecOp::BatchStats
        | VecOp::BatchNorm { .. }
        | VecOp::BatchGradStats
        | VecOp::BatchNormGrad { .. } => {
            let n = match op {
                VecOp::BatchNorm { rows } | VecOp::BatchNormGrad { rows } => rows,
                _ => 1,
            };
            if width == 0 || !elems.is_multiple_of(width) || n == 0 {
                return refuse(format!(
                    "of {elems} elements in rows of {width} over {n} rows: the RTL batch norm \
                     takes whole rows and statistics of at least one row"
                ));
            }
            if !batch_fits(arch, op, elems, width) {
                return refuse(format!(
                    "of {elems} elements in rows of {width}: a row read and a column's \
                     statistics read per block of {} columns outlast the {} cycles the model \
                     charges (the tile needs at least as many rows as lanes, about)",
                    arch.vector_lanes,
                    nmsat_compiler::timing::vector_cycles(arch, op, elems)
                ));
            }
            // The statistics are read and written a column at a time, after or before the
            // block's rows: an accumulator is updated in place or into a buffer apart from the
            // rows; results land in place of a row source or apart from the statistics.
            let stats_op = matches!(op, VecOp::BatchStats | VecOp::BatchGradStats);
            let k = 1 + matches!(op, VecOp::BatchGradStats | VecOp::BatchNormGrad { .. }) as usize;
            if srcs
                .iter()
                .enumerate()
                .any(|(i, s)| overlaps(s) && stats_op == (i < k))
            {
                return refuse(format!(
                    "has a destination that meets {}; the RTL batch norm streams a block's \
                     rows and its columns' statistics apart",
                    if stats_op {
                        "its rows"
                    } else {
                        "its statistics"
                    }
                ));
            }
            // Ports 0 and 1 read the rows (x twice for BatchStats), port 2 the statistics or
            // the accumulator, and port 1 BatchNormGrad's gradient statistics (source 3).
            ports = [Some(&srcs[0]), Some(&srcs[k - 1]), Some(&srcs[k])];
            src3 = srcs.get(k + 1);
            width_field = field(width, "width")?;
            trows = field(elems / width, "the tile's rows")?;
            bn_rows = field(n, "rows")?;
        }
        VecOp::Loss {
            classes: c,
            batch: b,
        } => {
            // Σe of a row stays below 2^32 for up to 2^15 classes of e ≤ 2^17.
            if !(1..=1 << 15).contains(&c) || b == 0 || !elems.is_multiple_of(c) {
                return refuse(format!(
                    "of {elems} elements: the RTL loss takes whole rows of 1 to 32768 classes \
                     and a batch ≥ 1"
                ));
            }
            if !rows_fit(arch, op, elems, c) {
                return refuse(format!(
                    "of {elems} elements: its three passes over rows of {c} classes on {} lanes \
                     outlast the {} cycles the model charges",
                    arch.vector_lanes,
                    nmsat_compiler::timing::vector_cycles(arch, op, elems)
                ));
            }
            if overlaps(&srcs[1]) {
                return refuse(
                    "has a destination that meets its labels; the RTL loss reads a row's label \
                     after writing earlier rows"
                        .into(),
                );
            }
            (classes, batch) = (field(c, "classes")?, field(b, "batch")?);
        }
        VecOp::Norm | VecOp::NormGrad | VecOp::Softmax | VecOp::SoftmaxGrad => {
            // Σe of a softmax row stays below 2^32 for up to 2^15 elements of e ≤ 2^17.
            if !(1..=1 << 15).contains(&width) || !elems.is_multiple_of(width) {
                return refuse(format!(
                    "of {elems} elements in rows of {width}: the RTL unit takes whole rows of 1 \
                     to 32768 elements"
                ));
            }
            if !rows_fit(arch, op, elems, width) {
                let passes = crate::vector_unit::row_passes(op).unwrap_or(0);
                let reads =
                    crate::vector_unit::row_reads(op, elems / width, width, arch.vector_lanes)
                        .unwrap_or(0);
                return refuse(format!(
                    "of {elems} elements: its {passes} passes over rows of {width} on {} lanes \
                     ({reads} batches read) outlast the {} cycles the model charges",
                    arch.vector_lanes,
                    nmsat_compiler::timing::vector_cycles(arch, op, elems),
                ));
            }
            (classes, batch) = (field(width, "the row width")?, 1);
        }
        _ => {}
    }
    // The gradients' ISA sources are (dy, x); the unit reads x on port 0 and dy on port 1.
    if matches!(op, VecOp::NormGrad | VecOp::SoftmaxGrad | VecOp::GeluGrad) {
        ports.swap(0, 1);
    }
    // The softmax gradient reads the next row's x on port 2, from a row before the first.
    if op == VecOp::SoftmaxGrad {
        ports[2] = ports[0];
        field(elems + width, "the elements and a row")?;
    }
    let at = |b: &Buf| -> Result<(u8, u16), HwError> {
        Ok((
            b.region as u8,
            narrow(b.addr, "a scratchpad address", index)?,
        ))
    };
    let [src0, src1, src2] = ports;
    Ok(VectorOp {
        op: code as u8,
        src0: src0.map(at).transpose()?.unwrap_or((0, 0)),
        src1: src1.map(at).transpose()?,
        src2: src2.map(at).transpose()?,
        dst: at(dst)?,
        elems: field(elems, "elems")?,
        lr,
        mu,
        lambda,
        srste,
        classes,
        batch,
        pool,
        src3: src3.map(at).transpose()?,
        width: width_field,
        trows,
        rows: bn_rows,
    })
}
