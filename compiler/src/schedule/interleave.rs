//! Interleaves the tile steps of consecutive graph steps: independent GEMMs (BP and WU of a
//! layer) run side by side, and a consumer (a norm, an activation, the next GEMM) starts on
//! the tiles its producer has already stored, so DMA, array and vector work overlap.
//!
//! List scheduling over a window of consecutive steps — at most [`Window::limits`] steps of
//! each [`Kind`], so that their tiles fit the scratchpads together:
//! a tile is *ready* when no unemitted tile of an earlier step in the window writes DRAM bytes
//! it reads or writes, or reads bytes it writes — so the emitted order keeps every DRAM
//! dependency of program order. Among ready tiles, the step least far along in modelled time
//! goes next.

use super::lower_to_isa::Micro;
use crate::range_map::RangeMap;

/// What a step is, for the window's limits: the kinds use different scratchpad regions (vector
/// steps the input and output regions, prune steps the weight region), so they count apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gemm = 0,
    Vector = 1,
    Prune = 2,
}

/// How many steps of each kind may have tiles in flight together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Indexed by [`Kind`].
    pub limits: [usize; 3],
    /// One step at a time, whatever its kind.
    pub serial: bool,
}

impl Window {
    /// With interleaving: two GEMMs (BP beside WU, or a GEMM beside the next), three vector
    /// steps (the norm and activation between two GEMMs, and one more) and three prune steps.
    pub const INTERLEAVED: Window = Window {
        limits: [2, 3, 3],
        serial: false,
    };
    /// Without: one step at a time.
    pub const SERIAL: Window = Window {
        limits: [1, 1, 1],
        serial: true,
    };
}

/// DRAM byte ranges a tile step reads and writes.
#[derive(Debug, Clone, Default)]
pub struct TileRanges {
    pub reads: Vec<(u64, u64)>,
    pub writes: Vec<(u64, u64)>,
}

/// The tile steps of one graph step and its modelled cycles.
#[derive(Debug, Clone)]
pub struct StepTiles {
    pub tiles: Vec<TileRanges>,
    pub est: u64,
    pub kind: Kind,
}

/// The DRAM ranges of one tile step.
pub fn dram_ranges(micros: &[Micro]) -> TileRanges {
    let mut r = TileRanges::default();
    for m in micros {
        match m {
            Micro::Load { dram, .. } => r.reads.push(dram.span()),
            Micro::Store { dram, .. } => r.writes.push(dram.span()),
            _ => {}
        }
    }
    r
}

/// Tiles a producer keeps ahead of its consumers: a consumer's tile is ready only when the
/// tiles it depends on were emitted this many producer tiles ago, so that in every in-order
/// queue the consumer sits behind work that does not wait for it.
pub const RUN_AHEAD: usize = 4;

/// Per step in the window: the last of its tiles that writes, and that reads, each DRAM byte.
///
/// A step's tiles still *pending* for later steps are the unemitted ones and the last
/// [`RUN_AHEAD`] emitted (none once the step is done): always a suffix of its tiles. So a later
/// tile conflicts with a pending tile exactly when the last tile it conflicts with is pending,
/// and these maps, built once, answer that without being updated as tiles are emitted.
struct Last {
    writes: RangeMap<u32>,
    reads: RangeMap<u32>,
}

impl Last {
    fn new(tiles: &[TileRanges]) -> Self {
        let mut last = Last {
            writes: RangeMap::new(),
            reads: RangeMap::new(),
        };
        for (k, t) in tiles.iter().enumerate() {
            let k = k as u32;
            for &(a, b) in &t.writes {
                last.writes.update(a, b, |_| k);
            }
            for &(a, b) in &t.reads {
                last.reads.update(a, b, |_| k);
            }
        }
        last
    }

    /// The last tile of this step that writes DRAM bytes `t` reads or writes, or reads bytes
    /// `t` writes.
    fn conflict(&self, t: &TileRanges) -> Option<usize> {
        let mut last = None;
        let mut see = |_, _, &k: &u32| last = last.max(Some(k as usize));
        for &(a, b) in &t.reads {
            self.writes.for_each(a, b, &mut see);
        }
        for &(a, b) in &t.writes {
            self.writes.for_each(a, b, &mut see);
            self.reads.for_each(a, b, &mut see);
        }
        last
    }
}

/// The emission order of all tiles of `steps`, as `(step, tile)` pairs.
pub fn interleave(steps: &[StepTiles], window: Window) -> Vec<(usize, usize)> {
    let total: usize = steps.iter().map(|s| s.tiles.len()).sum();
    let mut order = Vec::with_capacity(total);
    let mut next = vec![0usize; steps.len()];
    let mut last: Vec<Option<Last>> = (0..steps.len()).map(|_| None).collect();
    // Per step: the tile its entry is for, and the last conflicting tile of each earlier step in
    // the window. Neither the maps nor the window's earlier steps change while a tile waits (a
    // step leaves the window only when done, and then no longer blocks anything).
    let mut blockers: Vec<(usize, Vec<(usize, usize)>)> =
        vec![(usize::MAX, Vec::new()); steps.len()];
    let mut lo = 0;
    while order.len() < total {
        while next[lo] == steps[lo].tiles.len() {
            last[lo] = None;
            lo += 1;
        }
        // Admit steps in order while the window has room for their kind.
        let mut hi = lo;
        let mut count = [0usize; 3];
        while hi < steps.len() {
            let kind = steps[hi].kind as usize;
            if (window.serial && hi > lo) || count[kind] == window.limits[kind] {
                break;
            }
            count[kind] += 1;
            hi += 1;
        }
        for s in lo..hi {
            if last[s].is_none() {
                last[s] = Some(Last::new(&steps[s].tiles));
            }
            let Some(t) = steps[s].tiles.get(next[s]) else {
                continue;
            };
            if blockers[s].0 != next[s] {
                let list = (lo..s)
                    .filter_map(|e| {
                        let l = last[e].as_ref().expect("window steps are tracked");
                        l.conflict(t).map(|k| (e, k))
                    })
                    .collect();
                blockers[s] = (next[s], list);
            }
        }
        // The tiles of step e no longer pending: all once it is done, else those emitted more
        // than RUN_AHEAD tiles ago.
        let settled = |e: usize| {
            if next[e] == steps[e].tiles.len() {
                next[e]
            } else {
                next[e].saturating_sub(RUN_AHEAD)
            }
        };
        let ready = |s: usize| {
            next[s] < steps[s].tiles.len() && blockers[s].1.iter().all(|&(e, k)| k < settled(e))
        };
        // Modelled time at which step s's next tile would end, taking its tiles as equal.
        let finish = |s: usize| {
            (next[s] as u128 + 1) * steps[s].est.max(1) as u128 * 1_000_000
                / steps[s].tiles.len() as u128
        };
        let s = (lo..hi)
            .filter(|&s| ready(s))
            .min_by_key(|&s| (finish(s), s))
            .expect("the lowest unfinished step is always ready");
        order.push((s, next[s]));
        next[s] += 1;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    type Ranges = Vec<(u64, u64)>;

    fn step(tiles: Vec<(Ranges, Ranges)>, est: u64) -> StepTiles {
        StepTiles {
            tiles: tiles
                .into_iter()
                .map(|(reads, writes)| TileRanges { reads, writes })
                .collect(),
            est,
            kind: Kind::Vector,
        }
    }

    #[test]
    fn independent_steps_progress_together() {
        let a = step(vec![(vec![], vec![(0, 10)]); 2], 100);
        let b = step(vec![(vec![], vec![(100, 110)]); 6], 100);
        let order = interleave(&[a, b], Window::INTERLEAVED);
        assert_eq!(
            order,
            vec![
                (1, 0),
                (1, 1),
                (0, 0),
                (1, 2),
                (1, 3),
                (1, 4),
                (0, 1),
                (1, 5)
            ]
        );
    }

    #[test]
    fn a_consumer_waits_for_its_tiles_plus_the_run_ahead() {
        // The producer writes [10i, 10i+10); consumer tile j reads producer tile j's bytes and
        // becomes ready once RUN_AHEAD more producer tiles have been emitted.
        let p = step(
            (0..8)
                .map(|i| (vec![], vec![(10 * i, 10 * i + 10)]))
                .collect(),
            10,
        );
        let c = step(
            vec![
                (vec![(0, 10)], vec![(500, 510)]),
                (vec![(10, 20)], vec![(510, 520)]),
            ],
            1,
        );
        let order = interleave(&[p, c], Window::INTERLEAVED);
        assert_eq!(RUN_AHEAD, 4);
        assert_eq!(
            order,
            vec![
                (0, 0),
                (0, 1),
                (0, 2),
                (0, 3),
                (0, 4),
                (1, 0),
                (0, 5),
                (1, 1),
                (0, 6),
                (0, 7)
            ]
        );
        // With a serial window, steps run back to back.
        let p = step(vec![(vec![], vec![(0, 10)]), (vec![], vec![(10, 20)])], 10);
        let c = step(vec![(vec![(0, 10)], vec![])], 1);
        assert_eq!(
            interleave(&[p, c], Window::SERIAL),
            vec![(0, 0), (0, 1), (1, 0)]
        );
    }

    #[test]
    fn a_later_write_waits_for_earlier_reads() {
        let r = step(vec![(vec![(0, 10)], vec![]), (vec![(0, 10)], vec![])], 1000);
        let w = step(vec![(vec![], vec![(5, 6)])], 1);
        assert_eq!(
            interleave(&[r, w], Window::INTERLEAVED),
            vec![(0, 0), (0, 1), (1, 0)]
        );
    }
}
