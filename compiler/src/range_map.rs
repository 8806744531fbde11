//! A map from disjoint byte ranges to values: the shadow memory of the scheduler's hazard
//! tracking and of the program checker.

use std::collections::BTreeMap;

/// Disjoint half-open ranges `[start, end)` each with a value; unmapped bytes have none.
#[derive(Debug, Clone, Default)]
pub struct RangeMap<V> {
    /// start → (end, value)
    segs: BTreeMap<u64, (u64, V)>,
}

impl<V: Clone + PartialEq> RangeMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        RangeMap {
            segs: BTreeMap::new(),
        }
    }

    /// Splits any segment that straddles `at`, so that `at` is a segment boundary.
    fn split_at(&mut self, at: u64) {
        let hit = self
            .segs
            .range(..at)
            .next_back()
            .filter(|(_, (end, _))| *end > at)
            .map(|(&s, (e, v))| (s, *e, v.clone()));
        if let Some((s, e, v)) = hit {
            self.segs.insert(s, (at, v.clone()));
            self.segs.insert(at, (e, v));
        }
    }

    /// Calls `f` with every mapped piece overlapping `[start, end)` (clipped) and its value.
    pub fn for_each(&self, start: u64, end: u64, mut f: impl FnMut(u64, u64, &V)) {
        let first = self
            .segs
            .range(..=start)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(start);
        for (&s, (e, v)) in self.segs.range(first..end) {
            if *e > start {
                f(s.max(start), (*e).min(end), v);
            }
        }
    }

    /// Whether some byte of `[start, end)` is unmapped.
    pub fn has_gap(&self, start: u64, end: u64) -> bool {
        let mut cursor = start;
        let mut gap = false;
        self.for_each(start, end, |s, e, _| {
            gap |= s > cursor;
            cursor = e;
        });
        gap || cursor < end
    }

    /// Replaces every value in `[start, end)` by `f(old)` (`None` where unmapped), so the whole
    /// range becomes mapped.
    pub fn update(&mut self, start: u64, end: u64, f: impl Fn(Option<&V>) -> V) {
        if start >= end {
            return;
        }
        self.split_at(start);
        self.split_at(end);
        let mut pieces = Vec::new();
        let mut cursor = start;
        for (&s, (e, v)) in self.segs.range(start..end) {
            if s > cursor {
                pieces.push((cursor, s, f(None)));
            }
            pieces.push((s, *e, f(Some(v))));
            cursor = *e;
        }
        if cursor < end {
            pieces.push((cursor, end, f(None)));
        }
        // Neighbours with equal values merge, so that maps whose ranges are updated alike (many
        // tiles over one span) stay small.
        let mut merged: Vec<(u64, u64, V)> = Vec::with_capacity(pieces.len());
        for (s, e, v) in pieces {
            match merged.last_mut() {
                Some((_, le, lv)) if *le == s && *lv == v => *le = e,
                _ => merged.push((s, e, v)),
            }
        }
        let stale: Vec<u64> = self.segs.range(start..end).map(|(&s, _)| s).collect();
        for s in stale {
            self.segs.remove(&s);
        }
        for (s, e, v) in merged {
            self.segs.insert(s, (e, v));
        }
        self.merge_at(start);
        self.merge_at(end);
    }

    /// Merges the segment ending at `at` with the one starting there when their values match.
    fn merge_at(&mut self, at: u64) {
        let Some((&ls, (le, lv))) = self.segs.range(..at).next_back() else {
            return;
        };
        if *le != at {
            return;
        }
        let Some((re, rv)) = self.segs.get(&at) else {
            return;
        };
        if lv == rv {
            let re = *re;
            self.segs.remove(&at);
            if let Some(seg) = self.segs.get_mut(&ls) {
                seg.0 = re;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(m: &RangeMap<u32>, s: u64, e: u64) -> Vec<(u64, u64, u32)> {
        let mut v = Vec::new();
        m.for_each(s, e, |a, b, x| v.push((a, b, *x)));
        v
    }

    #[test]
    fn update_splits_and_fills_gaps() {
        let mut m = RangeMap::new();
        m.update(10, 20, |_| 1);
        m.update(15, 30, |old| old.map_or(7, |v| v + 1));
        assert_eq!(
            dump(&m, 0, 100),
            vec![(10, 15, 1), (15, 20, 2), (20, 30, 7)]
        );
        assert_eq!(dump(&m, 12, 16), vec![(12, 15, 1), (15, 16, 2)]);
        assert!(m.has_gap(5, 12));
        assert!(!m.has_gap(10, 30));
        assert!(m.has_gap(25, 31));
    }

    #[test]
    fn equal_neighbours_merge() {
        let mut m = RangeMap::new();
        for i in 0..100 {
            m.update(i * 10, i * 10 + 10, |_| 1u32);
        }
        assert_eq!(dump(&m, 0, 2000), vec![(0, 1000, 1)]);
        m.update(500, 510, |_| 2);
        assert_eq!(
            dump(&m, 0, 2000),
            vec![(0, 500, 1), (500, 510, 2), (510, 1000, 1)]
        );
        m.update(500, 510, |_| 1);
        assert_eq!(dump(&m, 0, 2000), vec![(0, 1000, 1)]);
    }
}
