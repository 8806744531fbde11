//! Scratchpad buffer assignment and the waits it implies.
//!
//! [`Allocator`] places tiles first-fit from a rotating head, so consecutive tiles land in
//! different places and double buffering falls out of the region's size; it never hands out
//! bytes of a live tile. [`Hazards`] derives each instruction's waits from the exact byte
//! ranges it touches: a read waits for the last writer, a write for the last writer and the
//! latest reader of every other unit.

use crate::isa::{Buf, Unit};
use crate::range_map::RangeMap;

/// First-fit allocation over one region, searching from a head that moves past each tile.
#[derive(Debug, Clone)]
pub struct Allocator {
    size: u64,
    /// Search from a moving head (double buffering) or always from 0 (single buffering: a
    /// freed tile's bytes are reused at once, so the next load waits for its readers).
    rotate: bool,
    head: u64,
    /// Live `[start, end)` ranges, sorted.
    live: Vec<(u64, u64)>,
    /// Highest byte ever allocated (for the summary).
    pub peak: u64,
}

/// Tiles start on this boundary, a whole bank word of every shipped description.
const ALIGN: u64 = 8;

impl Allocator {
    /// An allocator over `size` bytes.
    pub fn new(size: u64, rotate: bool) -> Self {
        Allocator {
            size,
            rotate,
            head: 0,
            live: Vec::new(),
            peak: 0,
        }
    }

    /// Reserves `bytes`, or `None` when no gap is large enough.
    pub fn alloc(&mut self, bytes: u64) -> Option<u64> {
        let bytes = bytes.div_ceil(ALIGN) * ALIGN;
        let fits = |start: u64, live: &[(u64, u64)]| {
            let end = start + bytes;
            end <= self.size && live.iter().all(|&(s, e)| end <= s || start >= e)
        };
        let head = if self.rotate { self.head } else { 0 };
        // Candidates: the head, 0 and every live tile's end, those at or after the head first,
        // each part ascending (live tiles are disjoint and sorted, so their ends are too).
        let ends = self.live.iter().map(|&(_, e)| e);
        let from_head = std::iter::once(head).chain(ends.clone().filter(|&e| e >= head));
        let wrapped = std::iter::once(0)
            .chain(ends.filter(|&e| e < head))
            .filter(|_| head > 0);
        let start = from_head.chain(wrapped).find(|&c| fits(c, &self.live))?;
        self.live.push((start, start + bytes));
        self.live.sort_unstable();
        self.head = start + bytes;
        self.peak = self.peak.max(start + bytes);
        Some(start)
    }

    /// Returns a tile's bytes.
    pub fn free(&mut self, start: u64) {
        self.live.retain(|&(s, _)| s != start);
    }
}

/// Who touched a byte range last.
#[derive(Debug, Clone, Default, PartialEq)]
struct Touch {
    writer: Option<(Unit, u32)>,
    readers: [Option<u32>; Unit::COUNT],
}

/// A byte range in one address space: a scratchpad region, or DRAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// `RegionId as usize` for a scratchpad, [`DRAM`] for DRAM.
    pub space: usize,
    pub start: u64,
    pub end: u64,
}

/// The address space of DRAM in a [`Span`].
pub const DRAM: usize = 3;

impl From<&Buf> for Span {
    fn from(b: &Buf) -> Span {
        Span {
            space: b.region as usize,
            start: b.addr,
            end: b.end(),
        }
    }
}

/// Derives waits from the byte ranges each instruction reads and writes.
#[derive(Debug, Clone)]
pub struct Hazards {
    maps: Vec<RangeMap<Touch>>,
}

impl Default for Hazards {
    fn default() -> Self {
        Hazards {
            maps: (0..=DRAM).map(|_| RangeMap::new()).collect(),
        }
    }
}

impl Hazards {
    /// Empty shadow state for every region and DRAM.
    pub fn new() -> Self {
        Hazards::default()
    }

    /// The waits of instruction number `seq` of `unit`, and records its accesses.
    ///
    /// Each range is scanned while it is recorded (one pass over the shadow state instead of
    /// two). That sees the same hazards as scanning everything first: what this instruction
    /// recorded is its own unit's, which never makes a wait — except where two of its writes
    /// overlap (a write records a new writer), so then every write is scanned before any is
    /// recorded.
    pub fn waits(
        &mut self,
        unit: Unit,
        seq: u32,
        reads: &[Span],
        writes: &[Span],
    ) -> Vec<(Unit, u32)> {
        let need = std::cell::Cell::new([0u32; Unit::COUNT]);
        let dep = |u: Unit, s: u32| {
            if u != unit {
                let mut n = need.get();
                n[u.index()] = n[u.index()].max(s + 1);
                need.set(n);
            }
        };
        let on_write = |t: &Touch| {
            if let Some((u, s)) = t.writer {
                dep(u, s);
            }
            for (v, r) in t.readers.iter().enumerate() {
                if let Some(s) = r {
                    dep(Unit::ALL[v], *s);
                }
            }
        };
        for b in reads {
            self.maps[b.space].update(b.start, b.end, |old| {
                let mut t = old.cloned().unwrap_or_default();
                if let Some((u, s)) = t.writer {
                    dep(u, s);
                }
                t.readers[unit.index()] = Some(seq);
                t
            });
        }
        let overlap = |i: usize| {
            writes[..i].iter().any(|w| {
                let b = &writes[i];
                w.space == b.space && w.start < b.end && b.start < w.end
            })
        };
        let fused = (0..writes.len()).all(|i| !overlap(i));
        if !fused {
            for b in writes {
                self.maps[b.space].for_each(b.start, b.end, |_, _, t| on_write(t));
            }
        }
        for b in writes {
            self.maps[b.space].update(b.start, b.end, |old| {
                if let (true, Some(t)) = (fused, old) {
                    on_write(t);
                }
                Touch {
                    writer: Some((unit, seq)),
                    readers: Default::default(),
                }
            });
        }
        let need = need.get();
        Unit::ALL
            .iter()
            .filter(|u| need[u.index()] > 0)
            .map(|&u| (u, need[u.index()]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocator_rotates_and_never_overlaps_live_tiles() {
        let mut a = Allocator::new(100, true);
        let x = a.alloc(40).unwrap();
        let y = a.alloc(40).unwrap();
        assert_eq!((x, y), (0, 40));
        assert_eq!(a.alloc(40), None);
        a.free(x);
        assert_eq!(a.alloc(30), Some(0));
        a.free(y);
        // The head is at 32: the next tile goes after the last one, not back to 0.
        assert_eq!(a.alloc(8), Some(32));
    }

    #[test]
    fn hazards_wait_for_writer_and_readers() {
        let mut h = Hazards::new();
        let b = |addr, bytes| {
            Span::from(&Buf {
                region: crate::arch::RegionId::Input,
                addr,
                bytes,
            })
        };
        assert!(h.waits(Unit::Load, 0, &[], &[b(0, 64)]).is_empty());
        assert_eq!(
            h.waits(Unit::Array, 0, &[b(0, 32)], &[]),
            vec![(Unit::Load, 1)]
        );
        // The next load into those bytes waits for the array to have read them.
        assert_eq!(
            h.waits(Unit::Load, 1, &[], &[b(16, 8)]),
            vec![(Unit::Array, 1)]
        );
        // Bytes 32..64 were written but never read: only the (own-unit) writer matters.
        assert!(h.waits(Unit::Load, 2, &[], &[b(40, 8)]).is_empty());
    }
}
