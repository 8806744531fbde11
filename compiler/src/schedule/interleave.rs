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

/// Per step in the window: how many of its tiles, unemitted or emitted within the last
/// [`RUN_AHEAD`], write and read each byte.
struct Pending {
    writes: RangeMap<u32>,
    reads: RangeMap<u32>,
    /// Emitted tiles still counted, oldest first.
    lagging: std::collections::VecDeque<usize>,
}

/// Tiles a producer keeps ahead of its consumers: a consumer's tile is ready only when the
/// tiles it depends on were emitted this many producer tiles ago, so that in every in-order
/// queue the consumer sits behind work that does not wait for it.
pub const RUN_AHEAD: usize = 4;

impl Pending {
    fn new(tiles: &[TileRanges]) -> Self {
        let mut p = Pending {
            writes: RangeMap::new(),
            reads: RangeMap::new(),
            lagging: Default::default(),
        };
        for t in tiles {
            p.add(t, 1);
        }
        p
    }

    fn add(&mut self, t: &TileRanges, d: i64) {
        let f = |old: Option<&u32>| (*old.unwrap_or(&0) as i64 + d) as u32;
        for &(a, b) in &t.writes {
            self.writes.update(a, b, f);
        }
        for &(a, b) in &t.reads {
            self.reads.update(a, b, f);
        }
    }
}

fn busy(map: &RangeMap<u32>, (a, b): (u64, u64)) -> bool {
    let mut hit = false;
    map.for_each(a, b, |_, _, &c| hit |= c > 0);
    hit
}

/// The emission order of all tiles of `steps`, as `(step, tile)` pairs.
pub fn interleave(steps: &[StepTiles], window: Window) -> Vec<(usize, usize)> {
    let total: usize = steps.iter().map(|s| s.tiles.len()).sum();
    let mut order = Vec::with_capacity(total);
    let mut next = vec![0usize; steps.len()];
    let mut pending: Vec<Option<Pending>> = (0..steps.len()).map(|_| None).collect();
    let mut lo = 0;
    while order.len() < total {
        while next[lo] == steps[lo].tiles.len() {
            pending[lo] = None;
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
            if pending[s].is_none() {
                pending[s] = Some(Pending::new(&steps[s].tiles));
            }
        }
        let ready = |s: usize| {
            let Some(t) = steps[s].tiles.get(next[s]) else {
                return false;
            };
            (lo..s).all(|e| {
                let p = pending[e].as_ref().expect("window steps are tracked");
                t.reads.iter().all(|&r| !busy(&p.writes, r))
                    && t.writes
                        .iter()
                        .all(|&w| !busy(&p.writes, w) && !busy(&p.reads, w))
            })
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
        let t = next[s];
        let p = pending[s].as_mut().expect("tracked");
        p.lagging.push_back(t);
        let done = next[s] + 1 == steps[s].tiles.len();
        while p.lagging.len() > RUN_AHEAD || (done && !p.lagging.is_empty()) {
            let old = p.lagging.pop_front().expect("non-empty");
            p.add(&steps[s].tiles[old], -1);
        }
        order.push((s, t));
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
