//! Chooses each GEMM's tile sizes and loop order: the candidate that fits the scratchpad budget
//! and minimises the modelled cycles of the [`crate::timing`] equations.

use super::lower_to_isa::{operand_tile, weight_tile_bytes, Placed};
use crate::arch::{Arch, Banking, RegionId};
use crate::graph::{GemmStep, Layout};
use crate::isa::{Buf, Xfer, XferShape};
use crate::timing;

/// Which operand tile stays resident when the reduction fits one tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopOrder {
    /// m-tiles outside, t-tiles inside: a whole-K weight tile is loaded once per m-tile.
    WeightsOuter,
    /// t-tiles outside, m-tiles inside: a whole-K activation tile is loaded once per t-tile.
    ActsOuter,
}

/// Tile sizes along m (outputs), k (reduction, dense elements) and t (streamed columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    pub tm: u64,
    pub tk: u64,
    pub tt: u64,
    pub order: LoopOrder,
}

/// A GEMM whose smallest tile does not fit: which region, how much it needs and has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoFit {
    pub region: RegionId,
    pub need: u64,
    pub have: u64,
}

/// Bytes of one tile in each region.
fn tile_bytes(g: &GemmStep, tm: u64, tk: u64, tt: u64) -> [(RegionId, u64); 3] {
    let mut w = weight_tile_bytes(&g.w.layout, tm, tk);
    if let (Some(_), Some(nm)) = (g.prune_from, g.sparsity) {
        // Pruning on the fly holds the dense tile and its compressed form at once.
        w += weight_tile_bytes(&Layout::Compressed { nm, k: g.k }, tm, tk);
    }
    [
        (RegionId::Weight, w),
        (RegionId::Input, tk * tt * 2),
        (RegionId::Output, tm * tt * 4),
    ]
}

/// Candidate sizes along one dimension: multiples of `unit` doubling up to `n`, plus `n`.
fn candidates(n: u64, unit: u64) -> Vec<u64> {
    let mut v = Vec::new();
    let mut c = unit.max(1);
    while c < n {
        v.push(c);
        c *= 2;
    }
    v.push(n);
    v
}

/// Candidate tile widths t: [`candidates`]; on a physically banked input region also each
/// one less half a bank row of elements (h = banks·width/2), an odd multiple of h when the
/// candidate is a power-of-two multiple of it, whose `[k × t]` rows are then an odd number of
/// bank rows apart, which the skewed banks serve a column of in one cycle per `banks` rows
/// (`timing::ws_column_degree`); the estimate picks between them.
fn t_candidates(arch: &Arch, n: u64, unit: u64) -> Vec<u64> {
    let mut v = candidates(n, unit);
    if arch.input.banking == Banking::Physical {
        let h = (arch.input.banks * arch.input.bank_width_bytes / 2).max(1);
        let odd: Vec<u64> = v.iter().filter(|&&c| c > h).map(|&c| c - h).collect();
        v.extend(odd);
        v.sort_unstable();
        v.dedup();
    }
    v
}

/// The terms of a tiling's estimate that do not depend on its loop order: tile counts along m,
/// k and t, and the cycles of one tile's weight load, activation load, store, GEMM and prune.
struct TileCosts {
    nm: u64,
    nk: u64,
    nt: u64,
    w_load: u64,
    x_load: u64,
    store: u64,
    gemm: u64,
    prune: u64,
}

fn tile_costs(
    arch: &Arch,
    g: &GemmStep,
    t: (u64, u64, u64),
    at_w: Placed,
    at_x: Placed,
) -> TileCosts {
    let (nm, nk, nt) = (g.m.div_ceil(t.0), g.k.div_ceil(t.1), g.t.div_ceil(t.2));
    let (tm, tk, tt) = (t.0.min(g.m), t.1.min(g.k), t.2.min(g.t));
    let sp = |region, bytes| Buf {
        region,
        addr: 0,
        bytes,
    };
    let xfer = |d: super::lower_to_isa::DramTile, region, bytes| Xfer {
        dram_addr: d.addr,
        rows: d.rows,
        row_bytes: d.row_bytes,
        dram_stride: d.stride,
        sp: sp(region, bytes),
        shape: d.shape,
    };
    let [(_, wb), (_, xb), (_, yb)] = tile_bytes(g, tm, tk, tt);
    let w_load = timing::dma_cycles(
        arch,
        &xfer(operand_tile(&g.w, at_w, 0..tm, 0..tk), RegionId::Weight, wb),
    );
    let x_load = timing::dma_cycles(
        arch,
        &xfer(operand_tile(&g.x, at_x, 0..tk, 0..tt), RegionId::Input, xb),
    );
    let y_dram = super::lower_to_isa::DramTile {
        addr: 0,
        rows: tm,
        row_bytes: tt * 2,
        stride: g.t * 2,
        shape: XferShape::Copy,
    };
    let store = timing::dma_cycles(arch, &xfer(y_dram, RegionId::Output, yb));
    // On physical banks where the operands lie within a bank row matters; tiles start
    // wherever the buffers put them, so the estimate takes the row's start.
    let at = timing::GemmPlacement {
        w: (&arch.weight, 0),
        x: (&arch.input, 0),
        y: (&arch.output, 0),
    };
    let gemm = timing::gemm_terms_placed(arch, tm, tk, tt, g.sparsity, Some(at)).total;
    let prune = match (g.prune_from, g.sparsity) {
        (Some(_), Some(nm)) => timing::prune_cycles(arch, tm * tk.div_ceil(nm.m)),
        _ => 0,
    };
    TileCosts {
        nm,
        nk,
        nt,
        w_load,
        x_load,
        store,
        gemm,
        prune,
    }
}

/// The estimate of [`estimate`] from the order-independent terms.
fn order_cost(arch: &Arch, g: &GemmStep, c: &TileCosts, order: LoopOrder) -> u64 {
    let tiles = c.nm * c.nt * c.nk;
    let (w_loads, x_loads) = match (c.nk == 1, order) {
        (true, LoopOrder::WeightsOuter) => (c.nm, tiles),
        (true, LoopOrder::ActsOuter) => (tiles, c.nt),
        (false, _) => (tiles, tiles),
    };
    let prune = w_loads * c.prune;
    let dma = w_loads * c.w_load + x_loads * c.x_load + c.nm * c.nt * c.store;
    let array = tiles * c.gemm;
    let per = if arch.opt.double_buffer {
        dma.max(array).max(prune) + c.w_load + c.x_load + c.gemm + c.store
    } else {
        dma + array + prune
    };
    per * g.count
}

/// Modelled cycles of a GEMM under `tiling`, from the unit timing equations.
///
/// With double buffering the DMA, prune and array streams overlap and the slowest one bounds
/// the GEMM, plus one tile's exposed load, compute and store; without it they add up.
pub fn estimate(arch: &Arch, g: &GemmStep, t: &Tiling, at_w: Placed, at_x: Placed) -> u64 {
    let costs = tile_costs(arch, g, (t.tm, t.tk, t.tt), at_w, at_x);
    order_cost(arch, g, &costs, t.order)
}

/// The best tiling of `g` whose tiles fit `budget[region]` bytes each.
pub fn choose_tiles(
    arch: &Arch,
    g: &GemmStep,
    budget: [u64; 3],
    at_w: Placed,
    at_x: Placed,
) -> Result<Tiling, NoFit> {
    // Whole folds: C outputs per fold; R array rows of reduction, i.e. R·M/N dense elements
    // when sparse; window tiles cover whole channel blocks of the kernel (whole channels in
    // PyTorch order), so that a tile reads each window row once for a range of channels.
    let unit_k = {
        let rows = match g.sparsity {
            Some(nm) => arch.rows.div_ceil(nm.n) * nm.m,
            None => arch.rows,
        };
        let per_block = match g.x.layout {
            Layout::Im2col {
                geom,
                pixel_major: false,
            } => geom.block * geom.kh * geom.kw,
            _ => 1,
        };
        super::lcm(rows, per_block)
    };
    let unit_m = arch.cols.min(g.m);
    let min_t = 8.min(g.t);
    let smallest = tile_bytes(g, unit_m, unit_k.min(g.k), min_t);
    for (i, (region, need)) in smallest.iter().enumerate() {
        if *need > budget[i] {
            return Err(NoFit {
                region: *region,
                need: *need,
                have: budget[i],
            });
        }
    }
    let mut best: Option<(u64, Tiling)> = None;
    for &tm in &candidates(g.m, unit_m) {
        for &tk in &candidates(g.k, unit_k) {
            for &tt in &t_candidates(arch, g.t, min_t) {
                let fits = tile_bytes(g, tm, tk, tt)
                    .iter()
                    .zip(budget)
                    .all(|((_, b), cap)| *b <= cap);
                if !fits {
                    continue;
                }
                // The DMA, GEMM and prune terms are shared by both loop orders.
                let costs = tile_costs(arch, g, (tm, tk, tt), at_w, at_x);
                for order in [LoopOrder::WeightsOuter, LoopOrder::ActsOuter] {
                    let t = Tiling { tm, tk, tt, order };
                    let cost = order_cost(arch, g, &costs, order);
                    if best.is_none_or(|(c, _)| cost < c) {
                        best = Some((cost, t));
                    }
                }
            }
        }
    }
    Ok(best
        .expect("the smallest tile fits, so some candidate does")
        .1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On sat-small's physical input region (4 banks × 8 bytes: half a bank row is 16
    /// elements), each power-of-two width above 16 gains the odd multiple of 16 below it.
    #[test]
    fn physical_banks_add_widths_of_an_odd_number_of_bank_rows() {
        let text = include_str!("../../../configs/arch/sat-small.yaml");
        let ideal = Arch::parse("i.yaml", text).unwrap();
        assert_eq!(t_candidates(&ideal, 100, 8), [8, 16, 32, 64, 100]);
        let physical = Arch::parse(
            "p.yaml",
            &text.replace("latency: 1}", "latency: 1, banking: physical}"),
        )
        .unwrap();
        assert_eq!(
            t_candidates(&physical, 100, 8),
            [8, 16, 32, 48, 64, 84, 100]
        );
        for t in [16u64, 48] {
            assert_eq!((2 * t / 32) % 2, 1, "{t}: an odd number of bank rows");
        }
    }
}
