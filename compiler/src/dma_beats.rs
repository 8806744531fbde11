//! Which scratchpad words each DMA beat touches: the access sets a physically banked region
//! serves (docs/physical-banking.md).
//!
//! The engine streams a transfer's DRAM rows as whole `access_bytes` words, row after row,
//! `link` bytes a beat (the lower of the engine's and the DRAM's bytes a cycle). Beat `i` is
//! stream bytes `[i·link, (i+1)·link)`; its set is every scratchpad word that one of those bytes
//! lands on (a load) or comes from (a store). A gather repeats a DRAM element in the tile (up
//! to every tap of a window), so one element can bring many words into its beat's set.
//!
//! Every shape is described by the same [`Piece`]s as the exact simulator moves its data: a run
//! of DRAM bytes, given as (row, byte in the row) of the transfer's DRAM rows, and the
//! scratchpad bytes it becomes (`scale` of them per DRAM byte: 2 when a store requantizes INT32
//! accumulators).

use crate::arch::Arch;
use crate::isa::{DramRows, Xfer, XferShape};

/// A run of bytes a transfer moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// The DRAM side: row of the transfer's DRAM rows and byte within it; `None` for the
    /// padding of a window tile, which no DRAM byte fills.
    pub dram: Option<(u64, u64)>,
    /// DRAM bytes in the run.
    pub len: u64,
    /// Offset of the run's scratchpad bytes in the transfer's block (`len·scale` of them).
    pub sp: u64,
}

/// The DRAM rows the engine streams for `x` (a scatter's as charged: see `scatter_rows`).
pub fn dram_rows(x: &Xfer) -> DramRows {
    DramRows {
        addr: x.dram_addr,
        rows: x.rows,
        row_bytes: x.row_bytes,
        stride: x.dram_stride,
    }
}

/// The DRAM address of byte `col` of row `row` of `x`'s DRAM rows. A scatter's rows are its
/// grid's pixels, charged `stride` pixels apart though a grid row starts further on (see
/// `scatter_rows`); every other shape's rows are where [`dram_rows`] says.
pub fn dram_addr(x: &Xfer, row: u64, col: u64) -> u64 {
    match x.shape {
        XferShape::Scatter(t) => t.addr(t.scatter_pixel(t.px0 + row), t.channels().0) + col,
        _ => x.dram_addr + row * x.dram_stride + col,
    }
}

/// `x` moved so that its DRAM side starts within the first `access_bytes` word and its block
/// within the first row of the region's banks: the same beats, every set shifted by whole bank
/// rows, so the same bank degrees. Transfers that differ only in where they are share it (the
/// tiles of a layer), which lets a caller time each kind once.
pub fn timing_key(arch: &Arch, x: &Xfer) -> Xfer {
    let w = arch.dram.access_bytes;
    let region = arch.region(x.sp.region);
    let line = region.banks * region.bank_width_bytes;
    let mut k = *x;
    // A shaped transfer finds its elements from its tensor's base, which lies at or before
    // its first row; both move by the same whole words.
    let base = match &mut k.shape {
        XferShape::Im2col(t) | XferShape::Scatter(t) => Some(&mut t.base),
        XferShape::ConvBp(t) => Some(&mut t.base),
        _ => None,
    };
    let shift = match base {
        Some(b) => {
            let s = *b / w * w;
            *b -= s;
            s
        }
        None => x.dram_addr / w * w,
    };
    k.dram_addr -= shift;
    k.sp.addr %= line;
    k
}

/// The runs of `x`, in no particular order. The DRAM position of a gathered element is found
/// from its address; the shape's rows never overlap, so that is unique.
pub fn pieces(x: &Xfer, scale: u64) -> Vec<Piece> {
    let rows = dram_rows(x);
    let locate = |a: u64| -> (u64, u64) {
        let off = a - rows.addr;
        if rows.rows <= 1 || rows.stride == 0 {
            (0, off)
        } else {
            (off / rows.stride, off % rows.stride)
        }
    };
    let elem = |dram: Option<(u64, u64)>, at: u64| Piece {
        dram,
        len: 2,
        sp: 2 * scale * at,
    };
    match x.shape {
        XferShape::Copy if scale == 1 => (0..x.rows)
            .map(|i| Piece {
                dram: Some((i, 0)),
                len: x.row_bytes,
                sp: i * x.row_bytes,
            })
            .collect(),
        XferShape::Copy | XferShape::Transpose => {
            let per_row = x.row_bytes / 2;
            let mut v = Vec::with_capacity((x.rows * per_row) as usize);
            for i in 0..x.rows {
                for j in 0..per_row {
                    let at = if x.shape == XferShape::Transpose {
                        j * x.rows + i
                    } else {
                        i * per_row + j
                    };
                    v.push(elem(Some((i, 2 * j)), at));
                }
            }
            v
        }
        XferShape::Im2col(t) | XferShape::Scatter(t) => {
            let scatter = matches!(x.shape, XferShape::Scatter(_));
            let (lo, _) = t.channels();
            let mut v = Vec::with_capacity((t.nk * t.npx) as usize);
            for k in t.k0..t.k0 + t.nk {
                let (c, u, w) = t.geom.k_index(k);
                for px in t.px0..t.px0 + t.npx {
                    let dram = if scatter {
                        // Pixel by pixel, each a row of the charged rows.
                        Some((px - t.px0, 2 * (c - lo)))
                    } else {
                        t.geom.source(px, u, w).map(|p| locate(t.addr(p, c)))
                    };
                    v.push(elem(dram, t.sp_index(k, px) as u64));
                }
            }
            v
        }
        XferShape::ConvBp(t) => {
            let mut v = Vec::with_capacity((t.nr * t.nk) as usize);
            let mut at = 0;
            for ci in t.r0..t.r0 + t.nr {
                for k in t.k0..t.k0 + t.nk {
                    let (co, dy, dx) = t.geom.k_index(k);
                    v.push(elem(Some(locate(t.addr(co, ci, dy, dx))), at));
                    at += 1;
                }
            }
            v
        }
    }
}

/// The scratchpad side of a transfer, beat by beat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeatWords {
    /// Each beat's words (region word index `byte / bank_width_bytes`), sorted and distinct;
    /// `⌈stream bytes / link⌉` beats.
    pub beats: Vec<Vec<u64>>,
    /// Some scratchpad byte of the block comes from no DRAM byte (a window tile's padding).
    pub padded: bool,
}

/// Each beat's words, sorted and distinct (beat `i`'s are `words[i]`), and whether some byte
/// of the block comes from no DRAM byte (`scale` as in [`pieces`]).
fn beat_sets(arch: &Arch, x: &Xfer, scale: u64) -> (Flat, bool) {
    let w = arch.dram.access_bytes;
    let link = arch.dma.bytes_per_cycle.min(arch.dram_bytes_per_cycle());
    let word = arch.region(x.sp.region).bank_width_bytes;
    let rows = dram_rows(x);
    // Stream offset of each row's first (word-aligned) byte.
    let mut start = Vec::with_capacity(rows.rows as usize);
    let mut acc = 0;
    for r in 0..rows.rows {
        start.push(acc);
        let a = rows.addr + r * rows.stride;
        acc += ((a + rows.row_bytes).div_ceil(w) - a / w) * w;
    }
    let mut pairs = Vec::new();
    let mut padded = false;
    for p in pieces(x, scale) {
        let Some((r, c)) = p.dram else {
            padded = true;
            continue;
        };
        let first = start[r as usize] + (rows.addr + r * rows.stride) % w + c;
        // Split the run at beat boundaries; each part's scratchpad bytes follow it, `scale` a
        // DRAM byte.
        let mut o = first;
        while o < first + p.len {
            let beat = o / link;
            let end = ((beat + 1) * link).min(first + p.len);
            let s0 = x.sp.addr + p.sp + (o - first) * scale;
            let s1 = x.sp.addr + p.sp + (end - first) * scale;
            pairs.extend((s0 / word..s1.div_ceil(word)).map(|wd| (beat, wd)));
            o = end;
        }
    }
    (Flat::by_beat(&pairs, acc.div_ceil(link) as usize), padded)
}

/// Words grouped by beat in one allocation (fast mode's hot path on physical banks: no set
/// per beat and no sort of the whole transfer).
struct Flat {
    /// Beat i's words are `words[start[i] .. start[i] + len[i]]`.
    start: Vec<usize>,
    len: Vec<usize>,
    words: Vec<u64>,
}

impl Flat {
    /// `(beat, word)` pairs bucketed by beat, each beat's words sorted and distinct.
    fn by_beat(pairs: &[(u64, u64)], beats: usize) -> Flat {
        let mut start = vec![0; beats + 1];
        for &(b, _) in pairs {
            start[b as usize + 1] += 1;
        }
        for i in 0..beats {
            start[i + 1] += start[i];
        }
        let mut next = start.clone();
        let mut words = vec![0; pairs.len()];
        for &(b, w) in pairs {
            words[next[b as usize]] = w;
            next[b as usize] += 1;
        }
        let len = (0..beats)
            .map(|i| {
                let set = &mut words[start[i]..start[i + 1]];
                set.sort_unstable();
                let mut n = 0;
                for j in 0..set.len() {
                    if j == 0 || set[j] != set[n - 1] {
                        set[n] = set[j];
                        n += 1;
                    }
                }
                n
            })
            .collect();
        start.pop();
        Flat { start, len, words }
    }

    fn beat(&self, i: usize) -> &[u64] {
        &self.words[self.start[i]..self.start[i] + self.len[i]]
    }
}

/// The sets of every beat of `x` on its region (`scale` as in [`pieces`]).
pub fn beat_words(arch: &Arch, x: &Xfer, scale: u64) -> BeatWords {
    let (sets, padded) = beat_sets(arch, x, scale);
    BeatWords {
        beats: (0..sets.len.len()).map(|i| sets.beat(i).to_vec()).collect(),
        padded,
    }
}

/// Each beat's [`crate::timing::bank_degree`] on `x`'s region, and whether the block is
/// padded: what [`beat_words`] gives, counted bank by bank without a set per beat.
pub fn beat_degrees(arch: &Arch, x: &Xfer, scale: u64) -> (Vec<u64>, bool) {
    let region = arch.region(x.sp.region);
    let (sets, padded) = beat_sets(arch, x, scale);
    let mut count = vec![0u64; region.banks as usize];
    let degrees = (0..sets.len.len())
        .map(|i| {
            let banks = sets.beat(i).iter().map(|&w| region.bank(w) as usize);
            let mut degree = 0;
            for b in banks.clone() {
                count[b] += 1;
                degree = degree.max(count[b]);
            }
            banks.for_each(|b| count[b] = 0);
            degree
        })
        .collect();
    (degrees, padded)
}
