//! A map from disjoint byte ranges to values: the shadow memory of the scheduler's hazard
//! tracking, of the list scheduler's pending DRAM accesses and of the program checker.
//!
//! The segments live in a sorted vector cut into short chunks: a lookup is two binary searches
//! and an update rewrites a few neighbouring entries of one chunk in place. (The DRAM shadow of
//! a ResNet-18 iteration holds ~15,000 segments; one flat vector would move them all on every
//! insertion, and a `BTreeMap` spent most of the compiler's time in node searches, removals and
//! re-insertions.)

/// One mapped range `[start, end)` and its value.
#[derive(Debug, Clone, PartialEq)]
struct Seg<V> {
    start: u64,
    end: u64,
    value: V,
}

/// Chunks are split once they exceed twice this many segments.
const CHUNK: usize = 32;

/// Disjoint half-open ranges `[start, end)` each with a value; unmapped bytes have none.
///
/// Invariants: the segments, read chunk after chunk, are non-empty, disjoint and in ascending
/// order; no chunk is empty or longer than `2 * CHUNK` after an update; two adjacent segments
/// (one ending where the next starts) never hold equal values.
#[derive(Debug, Clone)]
pub struct RangeMap<V> {
    chunks: Vec<Vec<Seg<V>>>,
    /// Reused buffer for the segments an update writes.
    scratch: Vec<Seg<V>>,
}

impl<V> Default for RangeMap<V> {
    fn default() -> Self {
        RangeMap {
            chunks: Vec::new(),
            scratch: Vec::new(),
        }
    }
}

impl<V: Clone + PartialEq> RangeMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        RangeMap::default()
    }

    /// The first segment ending after `at`, as (chunk, index), or `None` when every segment
    /// ends at or before `at`.
    fn locate(&self, at: u64) -> Option<(usize, usize)> {
        let c = self
            .chunks
            .partition_point(|c| c.last().expect("no chunk is empty").end <= at);
        let chunk = self.chunks.get(c)?;
        Some((c, chunk.partition_point(|s| s.end <= at)))
    }

    /// The segments overlapping `[start, end)`, in ascending order.
    fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Seg<V>> {
        let (first, rest): (&[Seg<V>], &[Vec<Seg<V>>]) = match self.locate(start) {
            Some((c, i)) => (&self.chunks[c][i..], &self.chunks[c + 1..]),
            None => (&[], &[]),
        };
        first
            .iter()
            .chain(rest.iter().flatten())
            .take_while(move |s| s.start < end)
    }

    /// Calls `f` with every mapped piece overlapping `[start, end)` (clipped) and its value, in
    /// ascending order.
    pub fn for_each(&self, start: u64, end: u64, mut f: impl FnMut(u64, u64, &V)) {
        for s in self.overlapping(start, end) {
            f(s.start.max(start), s.end.min(end), &s.value);
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

    /// Moves the first segment of chunk `c + 1` to the end of chunk `c`, dropping chunk
    /// `c + 1` if that empties it. (Moving single segments keeps the chunk list itself, which
    /// has hundreds of entries, from being shifted on every update near a chunk boundary.)
    fn borrow_next(&mut self, c: usize) {
        let s = self.chunks[c + 1].remove(0);
        self.chunks[c].push(s);
        if self.chunks[c + 1].is_empty() {
            self.chunks.remove(c + 1);
        }
    }

    /// Replaces every value in `[start, end)` by `f(old)` (`None` where unmapped), so the whole
    /// range becomes mapped.
    pub fn update(&mut self, start: u64, end: u64, f: impl Fn(Option<&V>) -> V) {
        if start >= end {
            return;
        }
        // The common case: the range is exactly one segment (a tile read after it was written)
        // and its new value merges with neither neighbour: rewrite the value in place.
        if let Some((c, i)) = self.locate(start) {
            let chunk = &self.chunks[c];
            let seg = &chunk[i];
            if seg.start == start && seg.end == end {
                let value = f(Some(&seg.value));
                let prev = match i {
                    0 => c.checked_sub(1).and_then(|p| self.chunks[p].last()),
                    _ => chunk.get(i - 1),
                };
                let next = chunk.get(i + 1).or_else(|| self.chunks.get(c + 1)?.first());
                let merges = prev.is_some_and(|p| p.end == start && p.value == value)
                    || next.is_some_and(|n| n.start == end && n.value == value);
                if !merges {
                    self.chunks[c][i].value = value;
                } else {
                    self.rewrite(start, end, |_| value.clone());
                }
                return;
            }
        }
        self.rewrite(start, end, f);
    }

    /// [`RangeMap::update`] in general: rewrites the segments around `[start, end)`.
    fn rewrite(&mut self, start: u64, end: u64, f: impl Fn(Option<&V>) -> V) {
        if self.chunks.is_empty() {
            self.chunks.push(vec![Seg {
                start,
                end,
                value: f(None),
            }]);
            return;
        }
        // The first segment that may overlap, in chunk `c` at `i` (past the end of the last
        // chunk when none does).
        let (mut c, mut i) = self.locate(start).unwrap_or_else(|| {
            let c = self.chunks.len() - 1;
            (c, self.chunks[c].len())
        });
        // Bring the segment before it into the same chunk, so that a merge with it is local.
        if i == 0 && c > 0 {
            let prev = self.chunks[c - 1].pop().expect("no chunk is empty");
            self.chunks[c].insert(0, prev);
            i = 1;
            if self.chunks[c - 1].is_empty() {
                self.chunks.remove(c - 1);
                c -= 1;
            }
        }
        // `j`: the first segment at or after `end`; the one there, if any, shares the chunk.
        let mut j = i;
        loop {
            let chunk = &self.chunks[c];
            while j < chunk.len() && chunk[j].start < end {
                j += 1;
            }
            if j < chunk.len() || c + 1 == self.chunks.len() {
                break;
            }
            self.borrow_next(c);
        }
        let chunk = &mut self.chunks[c];
        // Rewrite [lo, hi): the neighbours before and after, the overlapped segments (their
        // parts outside the range keep their values), and the unmapped gaps in between.
        let lo = i.saturating_sub(1);
        let hi = (j + 1).min(chunk.len());
        let out = &mut self.scratch;
        out.clear();
        let mut push = |s: Seg<V>| match out.last_mut() {
            Some(l) if l.end == s.start && l.value == s.value => l.end = s.end,
            _ => out.push(s),
        };
        if lo < i {
            push(chunk[lo].clone());
        }
        let mut cursor = start;
        for s in &chunk[i..j] {
            if s.start < start {
                push(Seg {
                    start: s.start,
                    end: start,
                    value: s.value.clone(),
                });
            }
            if s.start > cursor {
                push(Seg {
                    start: cursor,
                    end: s.start,
                    value: f(None),
                });
            }
            let e = s.end.min(end);
            push(Seg {
                start: s.start.max(start),
                end: e,
                value: f(Some(&s.value)),
            });
            cursor = e;
            if s.end > end {
                push(Seg {
                    start: end,
                    end: s.end,
                    value: s.value.clone(),
                });
            }
        }
        if cursor < end {
            push(Seg {
                start: cursor,
                end,
                value: f(None),
            });
        }
        if j < hi {
            push(chunk[j].clone());
        }
        if out.len() == hi - lo {
            // The common case (a segment rewritten whole): no element moves.
            for (slot, s) in chunk[lo..hi].iter_mut().zip(out.drain(..)) {
                *slot = s;
            }
        } else {
            chunk.splice(lo..hi, out.drain(..));
        }
        if chunk.len() > 2 * CHUNK {
            let rest: Vec<Vec<Seg<V>>> = chunk
                .split_off(CHUNK)
                .chunks(CHUNK)
                .map(<[Seg<V>]>::to_vec)
                .collect();
            self.chunks.splice(c + 1..c + 1, rest);
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

    /// Random updates against a byte array, over enough segments to span many chunks: every
    /// query sees the same values, adjacent segments never hold equal values, and the chunks
    /// keep their bounds.
    #[test]
    fn agrees_with_a_byte_array() {
        const N: usize = 3000;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut m = RangeMap::new();
        let mut bytes: Vec<Option<u32>> = vec![None; N];
        for step in 0..4000u32 {
            let len = if step % 50 == 0 {
                1 + rand(600)
            } else {
                1 + rand(12)
            };
            let s = rand(N as u64 - len);
            let e = s + len;
            // A few values only, so that neighbours often match and merge.
            let v = (rand(3) as u32) * 100;
            let f = move |old: Option<&u32>| old.map_or(v, |o| (o + v) % 400);
            m.update(s, e, f);
            for b in &mut bytes[s as usize..e as usize] {
                *b = Some(f(b.as_ref()));
            }
            let (qs, qe) = (rand(N as u64), rand(N as u64));
            let (qs, qe) = (qs.min(qe), qs.max(qe) + 1);
            let mut seen: Vec<Option<u32>> = vec![None; (qe - qs) as usize];
            let mut last = qs;
            m.for_each(qs, qe, |a, b, x| {
                assert!(a >= last && a < b && b <= qe);
                last = b;
                for y in &mut seen[(a - qs) as usize..(b - qs) as usize] {
                    *y = Some(*x);
                }
            });
            assert_eq!(seen, bytes[qs as usize..qe as usize]);
            assert_eq!(
                m.has_gap(qs, qe),
                bytes[qs as usize..qe as usize].contains(&None)
            );
        }
        let segs: Vec<&Seg<u32>> = m.chunks.iter().flatten().collect();
        assert!(segs.len() > 4 * CHUNK, "{} segments", segs.len());
        assert!(m
            .chunks
            .iter()
            .all(|c| !c.is_empty() && c.len() <= 2 * CHUNK));
        for w in segs.windows(2) {
            assert!(w[0].start < w[0].end && w[0].end <= w[1].start);
            assert!(w[0].end < w[1].start || w[0].value != w[1].value);
        }
    }
}
