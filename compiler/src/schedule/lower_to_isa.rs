//! Lowers graph steps into tile-level micro-operations and emits them as ISA instructions with
//! buffers assigned and waits derived.

use super::assign_buffers::{Allocator, Hazards, Span, DRAM};
use super::choose_tiles::{LoopOrder, Tiling};
use crate::arch::{Arch, RegionId};
use crate::graph::{group_bytes, GemmStep, Layout, Operand, PruneStep, SrcView, VecStep};
use crate::isa::{
    Buf, ConvBpTile, DramRows, Im2colTile, Instr, Op, Phase, PruneAlong, Unit, Xfer, XferShape,
};
use crate::prune::Nm;
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
    fn new(r: DramRows, shape: XferShape) -> DramTile {
        DramTile {
            addr: r.addr,
            rows: r.rows,
            row_bytes: r.row_bytes,
            stride: r.stride,
            shape,
        }
    }

    /// The DRAM bytes from the first to the last the transfer touches.
    pub fn span(&self) -> (u64, u64) {
        self.shape
            .dram_span(self.addr, self.rows, self.row_bytes, self.stride)
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

/// The DRAM transfer that loads the `rows × cols` tile of an operand.
pub fn operand_tile(op: &Operand, at: Placed, rows: Range<u64>, cols: Range<u64>) -> DramTile {
    let (nr, nc) = (rows.end - rows.start, cols.end - cols.start);
    match op.layout {
        Layout::RowMajor { cols: c } => DramTile {
            addr: at.base + (at.slice * at.rows * at.cols + rows.start * c + cols.start) * ELEM,
            rows: nr,
            row_bytes: nc * ELEM,
            stride: c * ELEM,
            shape: XferShape::Copy,
        },
        Layout::Transposed {
            cols: c,
            slice_elems,
        } => DramTile {
            addr: at.base + (at.slice * slice_elems + cols.start * c + rows.start) * ELEM,
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
        Layout::Im2col { .. } => {
            let t = window_tile(op, at, rows, cols);
            DramTile::new(t.gather_rows(), XferShape::Im2col(t))
        }
        Layout::ConvBp(geom) => {
            let t = ConvBpTile {
                geom,
                base: at.base,
                group: at.slice,
                r0: rows.start,
                nr,
                k0: cols.start,
                nk: nc,
            };
            DramTile::new(t.dram_rows(), XferShape::ConvBp(t))
        }
    }
}

/// The tile of a window-view operand: rows × cols are k × pixels, or pixels × k when
/// pixel-major; slice `s` reads the channels of group `s`.
fn window_tile(op: &Operand, at: Placed, rows: Range<u64>, cols: Range<u64>) -> Im2colTile {
    let Layout::Im2col { geom, pixel_major } = op.layout else {
        unreachable!("called on window views only")
    };
    let (k, px) = if pixel_major {
        (cols, rows)
    } else {
        (rows, cols)
    };
    Im2colTile {
        geom,
        base: at.base,
        ch0: at.slice * geom.channels,
        k0: k.start,
        nk: k.end - k.start,
        px0: px.start,
        npx: px.end - px.start,
        pixel_major,
    }
}

/// The DRAM transfer that stores the `rows × cols` tile of a GEMM output: the reverse of its
/// load, except that the pixels of a window view (a 1×1 grid) are scattered to their places.
pub fn output_tile(op: &Operand, at: Placed, rows: Range<u64>, cols: Range<u64>) -> DramTile {
    match op.layout {
        Layout::Im2col { .. } => {
            let t = window_tile(op, at, rows, cols);
            DramTile::new(t.scatter_rows(), XferShape::Scatter(t))
        }
        _ => operand_tile(op, at, rows, cols),
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
                let dram = output_tile(&y_layout, place(at.y, g.m, g.t, s), mr.clone(), tr.clone());
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

/// Rows of a vector step per block: as many as fit `budget` bytes of the input and output
/// regions next to what every block holds whatever its size (a whole-tensor source, the
/// accumulator of a reduction of `acc_bytes`); 0 if not even one row fits.
pub fn vector_chunk(v: &VecStep, acc_bytes: u64, budget: [u64; 3]) -> u64 {
    let (mut per_row, mut fixed) = (0, 0);
    for s in &v.srcs {
        match s.view {
            SrcView::Whole => fixed += s.width * ELEM,
            _ => per_row += s.width * ELEM,
        }
    }
    let (out_row, out_fixed) = if v.reduce {
        (0, acc_bytes)
    } else {
        (v.dst.len() as u64 * v.width * ELEM, 0)
    };
    let fit = |budget: u64, fixed: u64, row: u64| match budget.checked_sub(fixed) {
        None => 0,
        Some(_) if row == 0 => u64::MAX,
        Some(room) => room / row,
    };
    fit(budget[RegionId::Input as usize], fixed, per_row).min(fit(
        budget[RegionId::Output as usize],
        out_fixed,
        out_row,
    ))
}

/// The tile steps of an element-wise step: blocks of `chunk` rows of every tensor loaded (one
/// contiguous range each, a window tile, or a whole small tensor), the operation, and the
/// blocks of every destination stored (contiguous, or scattered to the pixels of the step's
/// grid). A reduction zeroes its accumulator before the first block, adds every block to it,
/// and stores it after the last.
pub fn vector_micros(
    v: &VecStep,
    at: &dyn Fn(usize) -> (u64, u64),
    chunk: u64,
    slots: &mut Slots,
) -> Vec<Vec<Micro>> {
    let mut steps = Vec::new();
    let acc = v.reduce.then(|| (slots.next(), at(v.dst[0]).1));
    let mut r0 = 0;
    while r0 < v.count {
        let n = chunk.min(v.count - r0);
        let mut cur = Vec::new();
        // Rows [r0, r0+n) of a tensor of `width`-element rows.
        let block = |t: usize, width: u64| {
            let bytes = n * width * ELEM;
            DramTile {
                addr: at(t).0 + r0 * width * ELEM,
                rows: 1,
                row_bytes: bytes,
                stride: bytes,
                shape: XferShape::Copy,
            }
        };
        let window = |t: usize, geom, width| Im2colTile {
            geom,
            base: at(t).0,
            ch0: 0,
            k0: 0,
            nk: width,
            px0: r0,
            npx: n,
            pixel_major: true,
        };
        if let (Some((slot, bytes)), 0) = (acc, r0) {
            cur.push(Micro::Vector {
                op: crate::isa::VecOp::Fill,
                srcs: vec![],
                dst: slot,
                dst_bytes: bytes,
                elems: bytes / ELEM,
                width: bytes / ELEM,
            });
        }
        let mut srcs = Vec::new();
        for s in &v.srcs {
            let slot = slots.next();
            let dram = match s.view {
                SrcView::Rows => block(s.tensor, s.width),
                SrcView::Window(geom) => {
                    let t = window(s.tensor, geom, s.width);
                    DramTile::new(t.gather_rows(), XferShape::Im2col(t))
                }
                SrcView::Whole => DramTile {
                    addr: at(s.tensor).0,
                    rows: 1,
                    row_bytes: s.width * ELEM,
                    stride: s.width * ELEM,
                    shape: XferShape::Copy,
                },
            };
            cur.push(Micro::Load {
                slot,
                region: RegionId::Input,
                sp_bytes: s.block_elems(n) * ELEM,
                dram,
            });
            srcs.push(slot);
        }
        let tile = n * v.width * ELEM;
        let (dst, dst_bytes) = match acc {
            Some(acc) => acc,
            None => (slots.next(), v.dst.len() as u64 * tile),
        };
        let mut op_srcs = srcs.clone();
        op_srcs.extend(acc.map(|(slot, _)| slot));
        cur.push(Micro::Vector {
            op: v.op,
            srcs: op_srcs,
            dst,
            dst_bytes,
            elems: n * v.width,
            width: v.width,
        });
        for slot in srcs {
            cur.push(Micro::Free { slot });
        }
        if acc.is_some() && r0 + n < v.count {
            steps.push(cur);
            r0 += n;
            continue;
        }
        for (i, &t) in v.dst.iter().enumerate() {
            let dram = match (v.reduce, v.dst_grid) {
                (true, _) => DramTile {
                    addr: at(t).0,
                    rows: 1,
                    row_bytes: dst_bytes,
                    stride: dst_bytes,
                    shape: XferShape::Copy,
                },
                (false, None) => block(t, v.width),
                (false, Some(geom)) => {
                    let t = window(t, geom, v.width);
                    DramTile::new(t.scatter_rows(), XferShape::Scatter(t))
                }
            };
            cur.push(Micro::Store {
                slot: dst,
                offset: i as u64 * tile,
                bytes: if v.reduce { dst_bytes } else { tile },
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

/// The tile steps of pre-generating one N:M weight form, `rows_per_chunk` rows at a time (never
/// across two slices of the view).
///
/// The FF form prunes rows of the dense `[out × k]` weights as stored. The BP form's rows are
/// gathered by the load from the dense weights: `Wᵀ` for a linear layer, the [`ConvBp`] view of
/// a stride phase for a convolution.
///
/// [`ConvBp`]: crate::isa::ConvBp
pub fn prune_micros(
    p: &PruneStep,
    src: (u64, u64),
    dst: u64,
    rows_per_chunk: u64,
    slots: &mut Slots,
) -> Vec<Vec<Micro>> {
    let row_packed = p.k.div_ceil(p.nm.m) * group_bytes(p.nm);
    let mut steps = Vec::new();
    let mut r = 0;
    while r < p.rows {
        let (slice, r_in) = (r / p.slice_rows, r % p.slice_rows);
        let n = rows_per_chunk.min(p.rows - r).min(p.slice_rows - r_in);
        let (s, d) = (slots.next(), slots.next());
        let dense = match p.along {
            // Whole rows as stored: one contiguous block.
            PruneAlong::Input => DramTile {
                addr: src.0 + r * p.k * ELEM,
                rows: 1,
                row_bytes: n * p.k * ELEM,
                stride: n * p.k * ELEM,
                shape: XferShape::Copy,
            },
            PruneAlong::Output => {
                let at = Placed {
                    base: src.0,
                    tensor_bytes: src.1,
                    rows: p.slice_rows,
                    cols: p.k,
                    slice,
                };
                operand_tile(&p.src, at, r_in..r_in + n, 0..p.k)
            }
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
    /// The buffer of each live slot, indexed by slot number (slots are numbered densely).
    bufs: Vec<Option<Buf>>,
    /// Reused lists of the ranges an instruction reads and writes.
    reads: Vec<Span>,
    writes: Vec<Span>,
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
            bufs: Vec::new(),
            reads: Vec::new(),
            writes: Vec::new(),
        }
    }

    fn buf(&self, slot: Slot) -> Buf {
        self.live(slot).expect("a slot is placed before it is used")
    }

    /// The buffer of `slot`, if it is placed.
    fn live(&self, slot: Slot) -> Option<Buf> {
        self.bufs.get(slot as usize).copied().flatten()
    }

    fn place(&mut self, slot: Slot, b: Buf) {
        let i = slot as usize;
        if i >= self.bufs.len() {
            self.bufs.resize(i + 1, None);
        }
        self.bufs[i] = Some(b);
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
        self.place(slot, b);
        Ok(b)
    }

    fn push(&mut self, op: Op, layer: usize, phase: Phase) {
        let u = op.unit();
        let seq = self.counts[u.index()];
        let (mut reads, mut writes) = (
            std::mem::take(&mut self.reads),
            std::mem::take(&mut self.writes),
        );
        reads.clear();
        writes.clear();
        reads.extend(op.sp_reads().iter().map(Span::from));
        writes.extend(op.sp_writes().iter().map(Span::from));
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
        (self.reads, self.writes) = (reads, writes);
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
                let y = match self.live(*y) {
                    Some(b) => b,
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
                // An accumulator stays where its first operation put it.
                let dst = match self.live(*dst) {
                    Some(b) => b,
                    None => self.alloc(*dst, RegionId::Output, *dst_bytes)?,
                };
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
                let b = self
                    .bufs
                    .get_mut(*slot as usize)
                    .and_then(Option::take)
                    .expect("every slot is freed once");
                self.alloc[b.region as usize].free(b.addr);
            }
        }
        Ok(())
    }
}
