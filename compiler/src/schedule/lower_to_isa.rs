//! Lowers graph steps into tile-level micro-operations and emits them as ISA instructions with
//! buffers assigned and waits derived.

use super::assign_buffers::{Allocator, Hazards, Span, DRAM};
use super::choose_tiles::{LoopOrder, Tiling};
use crate::arch::{Arch, RegionId};
use crate::graph::{group_bytes, GemmStep, Layout, Operand, PruneStep, VecStep};
use crate::isa::{Buf, Instr, Op, Phase, PruneAlong, Unit, Xfer, XferShape};
use crate::prune::Nm;
use std::collections::HashMap;
use std::ops::Range;

/// Bytes of one INT16 element in DRAM and in the weight and input regions.
const ELEM: u64 = 2;
/// Bytes of one INT32 accumulator in the output region.
const ACC: u64 = 4;

/// Names a tile buffer while a step is being emitted.
pub type Slot = u32;

/// A DRAM-side description of one tile: the tensor base address plus the transfer shape.
#[derive(Debug, Clone, Copy)]
pub struct DramTile {
    pub addr: u64,
    pub rows: u64,
    pub row_bytes: u64,
    pub stride: u64,
    pub shape: XferShape,
}

impl DramTile {
    /// The DRAM bytes from the first to the last the transfer touches.
    pub fn span(&self) -> (u64, u64) {
        (
            self.addr,
            self.addr + (self.rows.max(1) - 1) * self.stride + self.row_bytes,
        )
    }
}

/// One tile-level operation, before buffers are assigned.
#[derive(Debug, Clone)]
pub enum Micro {
    Load {
        slot: Slot,
        region: RegionId,
        sp_bytes: u64,
        dram: DramTile,
    },
    /// Stores `bytes` of the slot's buffer from `offset` on.
    Store {
        slot: Slot,
        offset: u64,
        bytes: u64,
        dram: DramTile,
        requant: bool,
    },
    Prune {
        src: Slot,
        dst: Slot,
        dst_bytes: u64,
        rows: u64,
        k: u64,
        nm: Nm,
        along: PruneAlong,
    },
    Gemm {
        w: Slot,
        x: Slot,
        y: Slot,
        y_bytes: u64,
        m: u64,
        k: u64,
        t: u64,
        sparsity: Option<Nm>,
        accumulate: bool,
    },
    Vector {
        op: crate::isa::VecOp,
        srcs: Vec<Slot>,
        dst: Slot,
        dst_bytes: u64,
        elems: u64,
        width: u64,
    },
    /// The slot's buffer may be reused once its readers are done.
    Free { slot: Slot },
}

/// Where a GEMM operand lives: its tensor's address and size, the logical `rows × cols` of one
/// slice, and which slice of a batched GEMM (group, head) this is.
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    pub base: u64,
    pub tensor_bytes: u64,
    pub rows: u64,
    pub cols: u64,
    pub slice: u64,
}

/// The DRAM transfer of the `rows × cols` tile of an operand.
pub fn operand_tile(op: &Operand, at: Placed, rows: Range<u64>, cols: Range<u64>) -> DramTile {
    let (nr, nc) = (rows.end - rows.start, cols.end - cols.start);
    let slice_elems = at.slice * at.rows * at.cols;
    match op.layout {
        Layout::RowMajor { cols: c } => DramTile {
            addr: at.base + (slice_elems + rows.start * c + cols.start) * ELEM,
            rows: nr,
            row_bytes: nc * ELEM,
            stride: c * ELEM,
            shape: XferShape::Copy,
        },
        Layout::Transposed { cols: c } => DramTile {
            addr: at.base + (slice_elems + cols.start * c + rows.start) * ELEM,
            rows: nc,
            row_bytes: nr * ELEM,
            stride: c * ELEM,
            shape: XferShape::Transpose,
        },
        Layout::Compressed { nm, k } => {
            let gb = group_bytes(nm);
            let row = k.div_ceil(nm.m) * gb;
            DramTile {
                addr: at.base + (at.slice * at.rows + rows.start) * row + cols.start / nm.m * gb,
                rows: nr,
                row_bytes: nc.div_ceil(nm.m) * gb,
                stride: row,
                shape: XferShape::Copy,
            }
        }
        Layout::Im2col {
            geom,
            out_h,
            out_w,
            transposed,
        } => {
            // The reduction runs over (channel, kh, kw); the columns over output pixels. In the
            // pixel-major input, a tile reads, for every input pixel its output pixels see, the
            // tile's channels: rows are pixels, `C` channels apart.
            let (k, px) = if transposed {
                (cols, rows)
            } else {
                (rows, cols)
            };
            let k_total = if transposed { at.cols } else { at.rows };
            let per_ch = geom.kh * geom.kw;
            let ch0 = at.slice * (k_total / per_ch);
            let ch = ch0 + k.start / per_ch..ch0 + k.end.div_ceil(per_ch);
            let plane = (out_h * out_w).max(1);
            let in_plane = geom.in_h * geom.in_w;
            let in_row = |p: u64, last: bool| {
                let (img, oh) = (p / plane, p % plane / out_w.max(1));
                let r = if last {
                    (oh * geom.stride + geom.kh)
                        .saturating_sub(geom.padding)
                        .min(geom.in_h)
                } else {
                    (oh * geom.stride)
                        .saturating_sub(geom.padding)
                        .min(geom.in_h)
                };
                img * in_plane + r * geom.in_w
            };
            let (first, last) = (in_row(px.start, false), in_row(px.end - 1, true));
            DramTile {
                addr: at.base + (first * geom.channels + ch.start) * ELEM,
                rows: last.max(first + 1) - first,
                row_bytes: (ch.end - ch.start) * ELEM,
                stride: geom.channels * ELEM,
                shape: XferShape::Im2col(geom),
            }
        }
    }
}

/// Allocates slot numbers for one compilation.
#[derive(Debug, Default)]
pub struct Slots(Slot);

impl Slots {
    /// A fresh slot.
    pub fn next(&mut self) -> Slot {
        self.0 += 1;
        self.0
    }
}

/// Where each operand of a GEMM lives in DRAM, by slice.
pub struct GemmPlacement {
    pub w: (u64, u64),
    pub x: (u64, u64),
    pub y: (u64, u64),
}

/// Bytes of a `rows × k` weight tile in the weight region for the operand's layout.
pub fn weight_tile_bytes(layout: &Layout, rows: u64, k: u64) -> u64 {
    match layout {
        Layout::Compressed { nm, .. } => rows * k.div_ceil(nm.m) * group_bytes(*nm),
        _ => rows * k * ELEM,
    }
}

/// The tile steps of a GEMM: each inner list ends with the tile's `Gemm` (and the store and
/// frees that follow it), so that two GEMMs can be interleaved step by step.
pub fn gemm_micros(
    g: &GemmStep,
    tiling: &Tiling,
    at: &GemmPlacement,
    slots: &mut Slots,
) -> Vec<Vec<Micro>> {
    let Tiling { tm, tk, tt, order } = *tiling;
    let ranges =
        |n: u64, step: u64| (0..n.div_ceil(step)).map(move |i| i * step..(i * step + step).min(n));
    let place = |(base, bytes): (u64, u64), rows, cols, slice| Placed {
        base,
        tensor_bytes: bytes,
        rows,
        cols,
        slice,
    };
    let nk = g.k.div_ceil(tk);
    let mut steps: Vec<Vec<Micro>> = Vec::new();
    let mut cur: Vec<Micro> = Vec::new();
    // Loads the weight tile (m-range, k-range), pruning it on the fly when asked to.
    let load_w =
        |cur: &mut Vec<Micro>, slots: &mut Slots, s, mr: &Range<u64>, kr: &Range<u64>| -> Slot {
            let (rows, k) = (mr.end - mr.start, kr.end - kr.start);
            let dram = operand_tile(&g.w, place(at.w, g.m, g.k, s), mr.clone(), kr.clone());
            let slot = slots.next();
            let bytes = weight_tile_bytes(&g.w.layout, rows, k);
            cur.push(Micro::Load {
                slot,
                region: RegionId::Weight,
                sp_bytes: bytes,
                dram,
            });
            match (g.prune_from, g.sparsity) {
                (Some((_, along)), Some(nm)) => {
                    let dst = slots.next();
                    let dst_bytes = weight_tile_bytes(&Layout::Compressed { nm, k: g.k }, rows, k);
                    cur.push(Micro::Prune {
                        src: slot,
                        dst,
                        dst_bytes,
                        rows,
                        k,
                        nm,
                        along,
                    });
                    cur.push(Micro::Free { slot });
                    dst
                }
                _ => slot,
            }
        };
    let load_x =
        |cur: &mut Vec<Micro>, slots: &mut Slots, s, kr: &Range<u64>, tr: &Range<u64>| -> Slot {
            let dram = operand_tile(&g.x, place(at.x, g.k, g.t, s), kr.clone(), tr.clone());
            let slot = slots.next();
            let sp_bytes = (kr.end - kr.start) * (tr.end - tr.start) * ELEM;
            cur.push(Micro::Load {
                slot,
                region: RegionId::Input,
                sp_bytes,
                dram,
            });
            slot
        };
    let y_layout = Operand {
        tensor: g.y,
        layout: g.y_layout,
    };
    for s in 0..g.count {
        let (outer, inner) = match order {
            LoopOrder::WeightsOuter => (
                ranges(g.m, tm).collect::<Vec<_>>(),
                ranges(g.t, tt).collect::<Vec<_>>(),
            ),
            LoopOrder::ActsOuter => (ranges(g.t, tt).collect(), ranges(g.m, tm).collect()),
        };
        for o in &outer {
            // A tile that spans the whole reduction stays resident across the inner loop.
            let resident = (nk == 1).then(|| match order {
                LoopOrder::WeightsOuter => load_w(&mut cur, slots, s, o, &(0..g.k)),
                LoopOrder::ActsOuter => load_x(&mut cur, slots, s, &(0..g.k), o),
            });
            for i in &inner {
                let (mr, tr) = match order {
                    LoopOrder::WeightsOuter => (o, i),
                    LoopOrder::ActsOuter => (i, o),
                };
                let y = slots.next();
                let y_bytes = (mr.end - mr.start) * (tr.end - tr.start) * ACC;
                for (ki, kr) in ranges(g.k, tk).enumerate() {
                    let (w, x) = match (resident, order) {
                        (Some(r), LoopOrder::WeightsOuter) => {
                            (r, load_x(&mut cur, slots, s, &kr, tr))
                        }
                        (Some(r), LoopOrder::ActsOuter) => (load_w(&mut cur, slots, s, mr, &kr), r),
                        (None, _) => {
                            let w = load_w(&mut cur, slots, s, mr, &kr);
                            (w, load_x(&mut cur, slots, s, &kr, tr))
                        }
                    };
                    cur.push(Micro::Gemm {
                        w,
                        x,
                        y,
                        y_bytes,
                        m: mr.end - mr.start,
                        k: kr.end - kr.start,
                        t: tr.end - tr.start,
                        sparsity: g.sparsity,
                        accumulate: ki > 0,
                    });
                    for slot in [w, x] {
                        if Some(slot) != resident {
                            cur.push(Micro::Free { slot });
                        }
                    }
                    if ki + 1 < nk as usize {
                        steps.push(std::mem::take(&mut cur));
                    }
                }
                let y_at = (at.y.0 + g.y_offset * ELEM, at.y.1);
                let dram =
                    operand_tile(&y_layout, place(y_at, g.m, g.t, s), mr.clone(), tr.clone());
                cur.push(Micro::Store {
                    slot: y,
                    offset: 0,
                    bytes: y_bytes,
                    dram,
                    requant: true,
                });
                cur.push(Micro::Free { slot: y });
                steps.push(std::mem::take(&mut cur));
            }
            if let Some(slot) = resident {
                cur.push(Micro::Free { slot });
            }
        }
    }
    if !cur.is_empty() {
        steps.push(cur);
    }
    steps
}

/// The tile steps of an element-wise step: blocks of `chunk` rows of every tensor (one
/// contiguous range each) loaded, the operation, and the blocks of every destination stored. A
/// source with more or fewer rows than the step (the input of a pooling layer) is read in
/// proportion, so block i of the step reads block i of it.
pub fn vector_micros(
    v: &VecStep,
    at: &dyn Fn(usize) -> (u64, u64),
    chunk: u64,
    slots: &mut Slots,
) -> Vec<Vec<Micro>> {
    let mut steps = Vec::new();
    let mut r0 = 0;
    while r0 < v.count {
        let n = chunk.min(v.count - r0);
        let mut cur = Vec::new();
        // Rows [r0, r0+n) of the step are rows [lo, hi) of a tensor of `width`-element rows.
        let block = |t: usize, width: u64, offset: u64| {
            let (addr, bytes) = at(t);
            let rows = (bytes / ELEM - offset) / width;
            let lo = r0 * rows / v.count;
            let hi = ((r0 + n) * rows).div_ceil(v.count).max(lo + 1).min(rows);
            DramTile {
                addr: addr + (offset + lo * width) * ELEM,
                rows: 1,
                row_bytes: (hi - lo) * width * ELEM,
                stride: (hi - lo) * width * ELEM,
                shape: XferShape::Copy,
            }
        };
        let mut srcs = Vec::new();
        for &(t, width) in &v.srcs {
            let slot = slots.next();
            let dram = block(t, width, 0);
            cur.push(Micro::Load {
                slot,
                region: RegionId::Input,
                sp_bytes: dram.row_bytes,
                dram,
            });
            srcs.push(slot);
        }
        let dst = slots.next();
        let tile = n * v.width * ELEM;
        cur.push(Micro::Vector {
            op: v.op,
            srcs: srcs.clone(),
            dst,
            dst_bytes: v.dst.len() as u64 * tile,
            elems: n * v.width,
            width: v.width,
        });
        for slot in srcs {
            cur.push(Micro::Free { slot });
        }
        for (i, &t) in v.dst.iter().enumerate() {
            let dram = block(t, v.width, v.dst_offset);
            cur.push(Micro::Store {
                slot: dst,
                offset: i as u64 * tile,
                bytes: tile,
                dram,
                requant: false,
            });
        }
        cur.push(Micro::Free { slot: dst });
        steps.push(cur);
        r0 += n;
    }
    steps
}

/// The tile steps of pre-generating one N:M weight form, `rows_per_chunk` rows at a time.
///
/// The FF form prunes rows of the dense `[out × k]` weights as stored. The BP form's rows are
/// the dense matrix's columns: its chunk is loaded transposed from the weights viewed as
/// `[k × rows]` (exactly `Wᵀ` for a linear layer).
pub fn prune_micros(
    p: &PruneStep,
    src: u64,
    dst: u64,
    rows_per_chunk: u64,
    slots: &mut Slots,
) -> Vec<Vec<Micro>> {
    let row_packed = p.k.div_ceil(p.nm.m) * group_bytes(p.nm);
    let mut steps = Vec::new();
    let mut r = 0;
    while r < p.rows {
        let n = rows_per_chunk.min(p.rows - r);
        let (s, d) = (slots.next(), slots.next());
        let dense = match p.along {
            PruneAlong::Input => DramTile {
                addr: src + r * p.k * ELEM,
                rows: 1,
                row_bytes: n * p.k * ELEM,
                stride: n * p.k * ELEM,
                shape: XferShape::Copy,
            },
            PruneAlong::Output => DramTile {
                addr: src + r * ELEM,
                rows: p.k,
                row_bytes: n * ELEM,
                stride: p.rows * ELEM,
                shape: XferShape::Transpose,
            },
        };
        let packed = DramTile {
            addr: dst + r * row_packed,
            rows: 1,
            row_bytes: n * row_packed,
            stride: n * row_packed,
            shape: XferShape::Copy,
        };
        steps.push(vec![
            Micro::Load {
                slot: s,
                region: RegionId::Weight,
                sp_bytes: n * p.k * ELEM,
                dram: dense,
            },
            Micro::Prune {
                src: s,
                dst: d,
                dst_bytes: n * row_packed,
                rows: n,
                k: p.k,
                nm: p.nm,
                along: p.along,
            },
            Micro::Free { slot: s },
            Micro::Store {
                slot: d,
                offset: 0,
                bytes: n * row_packed,
                dram: packed,
                requant: false,
            },
            Micro::Free { slot: d },
        ]);
        r += n;
    }
    steps
}

/// Emits micro-operations as instructions: assigns buffers and derives waits.
pub struct Emitter<'a> {
    arch: &'a Arch,
    pub instrs: Vec<Instr>,
    pub alloc: [Allocator; 3],
    hazards: Hazards,
    counts: [u32; Unit::COUNT],
    bufs: HashMap<Slot, Buf>,
}

impl<'a> Emitter<'a> {
    /// An emitter over the scratchpads of `arch`.
    pub fn new(arch: &'a Arch) -> Self {
        Emitter {
            arch,
            instrs: Vec::new(),
            alloc: RegionId::ALL
                .map(|r| Allocator::new(arch.region(r).bytes, arch.opt.double_buffer)),
            hazards: Hazards::new(),
            counts: [0; Unit::COUNT],
            bufs: HashMap::new(),
        }
    }

    fn buf(&self, slot: Slot) -> Buf {
        self.bufs[&slot]
    }

    fn alloc(&mut self, slot: Slot, region: RegionId, bytes: u64) -> Result<Buf, String> {
        let addr = self.alloc[region as usize].alloc(bytes).ok_or_else(|| {
            format!(
                "no room for a {bytes}-byte tile in the {} scratchpad ({} bytes)",
                region.name(),
                self.arch.region(region).bytes
            )
        })?;
        let b = Buf {
            region,
            addr,
            bytes,
        };
        self.bufs.insert(slot, b);
        Ok(b)
    }

    fn push(&mut self, op: Op, layer: usize, phase: Phase) {
        let u = op.unit();
        let seq = self.counts[u.index()];
        let mut reads: Vec<Span> = op.sp_reads().iter().map(Span::from).collect();
        let mut writes: Vec<Span> = op.sp_writes().iter().map(Span::from).collect();
        // The load and store queues order their DRAM accesses through waits too.
        match &op {
            Op::Load { xfer } | Op::Store { xfer, .. } => {
                let (start, end) = xfer.dram_span();
                let span = Span {
                    space: DRAM,
                    start,
                    end,
                };
                if matches!(op, Op::Load { .. }) {
                    reads.push(span);
                } else {
                    writes.push(span);
                }
            }
            _ => {}
        }
        let waits = self.hazards.waits(u, seq, &reads, &writes);
        self.counts[u.index()] += 1;
        self.instrs.push(Instr {
            op,
            waits,
            layer: layer as u32,
            phase,
        });
    }

    /// Emits micro-operations in order.
    pub fn emit_all(&mut self, micros: &[Micro], layer: usize, phase: Phase) -> Result<(), String> {
        micros.iter().try_for_each(|m| self.emit(m, layer, phase))
    }

    /// Emits one micro-operation; a buffer that cannot be placed changes nothing.
    pub fn emit(&mut self, m: &Micro, layer: usize, phase: Phase) -> Result<(), String> {
        let xfer = |sp: Buf, d: &DramTile| Xfer {
            dram_addr: d.addr,
            rows: d.rows,
            row_bytes: d.row_bytes,
            dram_stride: d.stride,
            sp,
            shape: d.shape,
        };
        match m {
            Micro::Load {
                slot,
                region,
                sp_bytes,
                dram,
            } => {
                let sp = self.alloc(*slot, *region, *sp_bytes)?;
                self.push(
                    Op::Load {
                        xfer: xfer(sp, dram),
                    },
                    layer,
                    phase,
                );
            }
            Micro::Store {
                slot,
                offset,
                bytes,
                dram,
                requant,
            } => {
                let b = self.buf(*slot);
                let sp = Buf {
                    region: b.region,
                    addr: b.addr + offset,
                    bytes: *bytes,
                };
                self.push(
                    Op::Store {
                        xfer: xfer(sp, dram),
                        requant: *requant,
                    },
                    layer,
                    phase,
                );
            }
            Micro::Prune {
                src,
                dst,
                dst_bytes,
                rows,
                k,
                nm,
                along,
            } => {
                let src = self.buf(*src);
                let dst = self.alloc(*dst, RegionId::Weight, *dst_bytes)?;
                self.push(
                    Op::Prune {
                        src,
                        dst,
                        rows: *rows,
                        k: *k,
                        nm: *nm,
                        along: *along,
                    },
                    layer,
                    phase,
                );
            }
            Micro::Gemm {
                w,
                x,
                y,
                y_bytes,
                m,
                k,
                t,
                sparsity,
                accumulate,
            } => {
                let y = match self.bufs.get(y) {
                    Some(b) => *b,
                    None => self.alloc(*y, RegionId::Output, *y_bytes)?,
                };
                let op = Op::Gemm {
                    w: self.buf(*w),
                    x: self.buf(*x),
                    y,
                    m: *m,
                    k: *k,
                    t: *t,
                    sparsity: *sparsity,
                    accumulate: *accumulate,
                };
                self.push(op, layer, phase);
            }
            Micro::Vector {
                op,
                srcs,
                dst,
                dst_bytes,
                elems,
                width,
            } => {
                let srcs = srcs.iter().map(|s| self.buf(*s)).collect();
                let dst = self.alloc(*dst, RegionId::Output, *dst_bytes)?;
                self.push(
                    Op::Vector {
                        op: *op,
                        srcs,
                        dst,
                        elems: *elems,
                        width: *width,
                    },
                    layer,
                    phase,
                );
            }
            Micro::Free { slot } => {
                let b = self.bufs.remove(slot).expect("every slot is freed once");
                self.alloc[b.region as usize].free(b.addr);
            }
        }
        Ok(())
    }
}
