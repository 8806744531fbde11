//! Timing of the weight-gradient reduction across cores: small pure functions, each derived in
//! its doc comment from the PIUMA-like machine's numbers ([`crate::piuma::timing`]).
//!
//! The die here is the interconnect's description with each block's scratchpad and DMA
//! engine replaced by the SAT core's (see [`super::core_die`]): the cores' output regions,
//! where the INT32 gradient accumulators live, are the scratchpads the atomics land in.
//! Every figure is in cycles of the core clock.

use crate::piuma::timing::{atomic_engine_cycles, dma_cycles, hops, range_per_bank};
use nmsat_compiler::arch::piuma::Piuma;
use std::ops::Range;

/// Bytes of one INT32 gradient accumulator.
pub const WORD: u64 = 4;

/// Bytes a remote atomic add puts on the mesh: a 4-byte word offset and the 4-byte operand.
pub const ATOMIC_REQUEST_BYTES: u64 = 8;

/// What reducing one gradient tile costs and moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub cycles: u64,
    /// Bytes injected into the mesh, over all cores.
    pub bytes: u64,
    /// Remote atomic adds.
    pub atomics: u64,
}

/// Blocks of the die the `k` cores sit on, in ring order: the smallest sub-mesh `r × c` (from
/// the corner, `r·c ≥ k`, the squarer on ties) walked as a cycle — along row 0, snaking the
/// other rows over columns 1.., back up column 0 — when `r` is even, else row by row
/// alternating direction; the first `k` positions. Consecutive cores are then one hop apart,
/// and on an even-row sub-mesh the ring closes in one hop too.
pub fn placement(p: &Piuma, k: u64) -> Vec<u64> {
    let (rows, cols) = (p.mesh.rows, p.mesh.cols);
    let (r, c) = (1..=rows)
        .flat_map(|r| (1..=cols).map(move |c| (r, c)))
        .filter(|(r, c)| r * c >= k)
        .min_by_key(|&(r, c)| (r * c, r.abs_diff(c), r))
        .expect("validation keeps cores ≤ blocks");
    let at = |i: u64, j: u64| i * cols + j;
    let mut order = Vec::with_capacity((r * c) as usize);
    if r % 2 == 0 && c >= 2 {
        order.extend((0..c).map(|j| at(0, j)));
        for i in 1..r {
            if i % 2 == 1 {
                order.extend((1..c).rev().map(|j| at(i, j)));
            } else {
                order.extend((1..c).map(|j| at(i, j)));
            }
        }
        order.extend((1..r).rev().map(|i| at(i, 0)));
    } else {
        for i in 0..r {
            if i % 2 == 0 {
                order.extend((0..c).map(|j| at(i, j)));
            } else {
                order.extend((0..c).rev().map(|j| at(i, j)));
            }
        }
    }
    order.truncate(k as usize);
    order
}

/// Directed links a message from `from` to `to` crosses under dimension-ordered (X then Y)
/// routing, plus the source's injection and the destination's ejection port: `f(link)` for
/// each, with links numbered `6·block + {0: east, 1: west, 2: south, 3: north, 4: inject,
/// 5: eject}` by the block they leave.
pub fn route(p: &Piuma, from: u64, to: u64, mut f: impl FnMut(usize)) {
    let cols = p.mesh.cols;
    let (mut r, mut c) = (from / cols, from % cols);
    let (r1, c1) = (to / cols, to % cols);
    f(6 * from as usize + 4);
    while c != c1 {
        let dir = if c1 > c { 0 } else { 1 };
        f(6 * (r * cols + c) as usize + dir);
        c = if c1 > c { c + 1 } else { c - 1 };
    }
    while r != r1 {
        let dir = if r1 > r { 2 } else { 3 };
        f(6 * (r * cols + c) as usize + dir);
        r = if r1 > r { r + 1 } else { r - 1 };
    }
    f(6 * to as usize + 5);
}

/// Cycles the mesh needs to deliver `flows` `(from, to, bytes)` at once: the busiest link (or
/// injection/ejection port) decides, each moving `link_bytes_per_cycle`:
///
/// ```text
/// ⌈ max over links ℓ of Σ_{flows crossing ℓ} bytes  /  link_bytes_per_cycle ⌉
/// ```
///
/// then the farthest message's flight, `max hops · hop_latency`.
pub fn mesh_cycles(p: &Piuma, flows: &[(u64, u64, u64)]) -> u64 {
    let mut load = vec![0u64; 6 * p.blocks() as usize];
    let mut far = 0;
    for &(from, to, bytes) in flows {
        if bytes == 0 {
            continue;
        }
        route(p, from, to, |l| load[l] += bytes);
        far = far.max(hops(p, from, to));
    }
    let busiest = load.into_iter().max().unwrap_or(0);
    busiest.div_ceil(p.mesh.link_bytes_per_cycle) + far * p.mesh.hop_latency
}

/// Words `words` of a tile that core `s` of `k` owns (or, in a ring, chunk `s`): consecutive
/// slices of `⌈words / k⌉`, the last ones shorter or empty.
pub fn slice(words: u64, k: u64, s: u64) -> Range<u64> {
    let n = words.div_ceil(k);
    (s * n).min(words)..((s + 1) * n).min(words)
}

/// Cycles the owner's busiest bank spends on `adds` atomic adds to each word of `slice`: an
/// atomic reads and writes its bank word, and the slice's bank words go round robin over the
/// banks (`range_per_bank`), each holding `bank_width / 4` accumulators:
///
/// ```text
/// 2 · adds · (bank_width / 4) · max over banks of (bank words of the slice in it)
/// ```
pub fn bank_cycles(p: &Piuma, slice: &Range<u64>, adds: u64) -> u64 {
    let mut most = 0;
    range_per_bank(
        p,
        WORD * slice.start,
        WORD * (slice.end - slice.start),
        |_, n| most = most.max(n),
    );
    2 * adds * (p.scratchpad.bank_width_bytes / WORD).max(1) * most
}

/// Reducing a tile of `words` INT32 accumulators over the cores at `blocks` by remote atomic
/// adds, then returning the sums.
///
/// 1. **Reduce.** Core `s` owns slice `s`; each of the other `k − 1` cores sends one atomic add
///    per word of it (`ATOMIC_REQUEST_BYTES` on the mesh). All owners work at once; an owner
///    is bound by its atomic engine (`⌈(k−1)·S / ops_per_cycle⌉`), its banks
///    ([`bank_cycles`]), the `k − 1` adds to one address serialising
///    (`(k−1) · same_address_cycles`) and the mesh ([`mesh_cycles`]); the slowest bound
///    decides, plus one atomic's latency:
///
///    ```text
///    T₁ = max( max_s engine_s, max_s banks_s, (k−1)·same_address_cycles, mesh₁ ) + atomic.latency
///    ```
/// 2. **Return.** Each owner's DMA engine writes its summed slice (4 bytes a word) into the
///    other `k − 1` cores' accumulators, one descriptor each:
///
///    ```text
///    T₂ = max( max_s dma_cycles(k−1, (k−1)·4·S_s), mesh₂ ) + scratchpad.latency
///    ```
///
/// `T = T₁ + T₂` (one core: nothing to do).
pub fn atomic_cost(p: &Piuma, blocks: &[u64], words: u64) -> Cost {
    let k = blocks.len() as u64;
    if k <= 1 || words == 0 {
        return Cost::default();
    }
    let (mut reduce, mut back) = (Vec::new(), Vec::new());
    let (mut owner, mut dma) = (0u64, 0u64);
    for (s, &to) in blocks.iter().enumerate() {
        let sl = slice(words, k, s as u64);
        let n = sl.end - sl.start;
        if n == 0 {
            continue;
        }
        let adds = (k - 1) * n;
        owner = owner
            .max(atomic_engine_cycles(p, adds))
            .max(bank_cycles(p, &sl, k - 1));
        dma = dma.max(dma_cycles(p, k - 1, (k - 1) * WORD * n));
        for (c, &from) in blocks.iter().enumerate() {
            if c != s {
                reduce.push((from, to, ATOMIC_REQUEST_BYTES * n));
                back.push((to, from, WORD * n));
            }
        }
    }
    let chain = (k - 1) * p.atomic.same_address_cycles;
    let t1 = owner.max(chain).max(mesh_cycles(p, &reduce)) + p.atomic.latency;
    let t2 = dma.max(mesh_cycles(p, &back)) + p.scratchpad.latency;
    let sent = |f: &[(u64, u64, u64)]| f.iter().map(|x| x.2).sum::<u64>();
    Cost {
        cycles: t1 + t2,
        bytes: sent(&reduce) + sent(&back),
        atomics: (k - 1) * words,
    }
}

/// Reducing a tile of `words` INT32 accumulators by a ring all-reduce over the cores at
/// `blocks` (in ring order): the tile is cut into `k` chunks of `S = ⌈words / k⌉`; in each of
/// `k − 1` reduce-scatter steps every core sends one chunk to its successor, whose DMA engine
/// adds it into its accumulators as it streams in (near-memory arithmetic), and in each of
/// `k − 1` all-gather steps forwards a summed chunk. A step moves `4·S` bytes per core at
/// once; the mesh ([`mesh_cycles`] of the `k` neighbour messages) or the DMA engine
/// (`dma_cycles(1, 4·S)`) bounds it, and the data is usable a scratchpad latency later:
///
/// ```text
/// T = 2 · (k − 1) · ( max(mesh_step, dma_cycles(1, 4·S)) + scratchpad.latency )
/// ```
pub fn ring_cost(p: &Piuma, blocks: &[u64], words: u64) -> Cost {
    let k = blocks.len() as u64;
    if k <= 1 || words == 0 {
        return Cost::default();
    }
    let chunk = WORD * words.div_ceil(k);
    let flows: Vec<(u64, u64, u64)> = (0..blocks.len())
        .map(|r| (blocks[r], blocks[(r + 1) % blocks.len()], chunk))
        .collect();
    let step = mesh_cycles(p, &flows).max(dma_cycles(p, 1, chunk)) + p.scratchpad.latency;
    Cost {
        cycles: 2 * (k - 1) * step,
        bytes: 2 * (k - 1) * k * chunk,
        atomics: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Piuma {
        Piuma::load("piuma-block").unwrap()
    }

    #[test]
    fn rings_are_compact_and_close_in_one_hop() {
        let p = p();
        assert_eq!(placement(&p, 1), vec![0]);
        assert_eq!(placement(&p, 2), vec![0, 1]);
        // 2 × 2 in the corner of the 2 × 4 mesh.
        assert_eq!(placement(&p, 4), vec![0, 1, 5, 4]);
        assert_eq!(placement(&p, 8), vec![0, 1, 2, 3, 7, 6, 5, 4]);
        for k in [4, 6, 8] {
            let b = placement(&p, k);
            for i in 0..b.len() {
                assert_eq!(hops(&p, b[i], b[(i + 1) % b.len()]), 1, "k = {k}");
            }
        }
    }

    #[test]
    fn routes_go_x_then_y_through_the_ports() {
        let p = p();
        let mut links = vec![];
        route(&p, 0, 6, |l| links.push(l));
        // Inject at 0, east 0→1→2, south 2→6, eject at 6.
        assert_eq!(links, vec![4, 0, 6, 12 + 2, 36 + 5]);
        // Two 64-byte messages sharing link 0→1: 128 bytes at 32 a cycle, then 2 hops × 2.
        assert_eq!(mesh_cycles(&p, &[(0, 2, 64), (0, 1, 64)]), 4 + 4);
    }

    #[test]
    fn slices_cover_the_tile_once() {
        for (w, k) in [(10, 3), (7, 8), (0, 2), (64, 4)] {
            let mut next = 0;
            for s in 0..k {
                let r = slice(w, k, s);
                assert_eq!(r.start, next.min(w));
                next = r.end.max(next);
            }
            assert_eq!(next, w);
        }
    }

    #[test]
    fn atomic_reduction_is_engine_bound_and_ring_link_bound() {
        let mut p = p();
        // The SAT core's output region: 32 banks of 8 bytes, 2-cycle latency.
        p.scratchpad.banks = 32;
        p.scratchpad.latency = 2;
        p.dma.bytes_per_cycle = 256;
        let blocks = placement(&p, 4);
        let words = 1 << 16;
        let a = atomic_cost(&p, &blocks, words);
        // Each owner takes 3 · 16384 adds at one a cycle.
        assert!(
            a.cycles >= 3 * 16384 && a.cycles < 3 * 16384 + 8192,
            "{a:?}"
        );
        assert_eq!(a.atomics, 3 * words);
        assert_eq!(a.bytes, 3 * words * (ATOMIC_REQUEST_BYTES + WORD));
        let r = ring_cost(&p, &blocks, words);
        // 6 steps of a 64 KiB chunk over 32-byte links: 2048 cycles + 1 hop + latency.
        assert_eq!(r.cycles, 6 * (2048 + 2 + 2));
        assert_eq!(r.bytes, 6 * 4 * 65536);
        assert_eq!(atomic_cost(&p, &blocks[..1], words), Cost::default());
        // Two cores, one word: the same-address chain and latencies show.
        let one = atomic_cost(&p, &blocks[..2], 1);
        assert!(one.cycles >= p.atomic.same_address_cycles + p.atomic.latency);
    }
}
