//! Timing equations of the PIUMA-like machine: small pure functions, each derived in its doc
//! comment. The machine ([`super::Machine`]) and the kernels use these and write no timing
//! formula of their own.

use nmsat_compiler::arch::piuma::{Piuma, Scratchpad};

/// Mesh coordinates `(row, col)` of block `b`: blocks are numbered row-major.
pub fn coords(p: &Piuma, b: u64) -> (u64, u64) {
    (b / p.mesh.cols, b % p.mesh.cols)
}

/// Hops from block `from` to block `to` under dimension-ordered routing on the 2D mesh:
///
/// ```text
/// |r_from − r_to| + |c_from − c_to|
/// ```
pub fn hops(p: &Piuma, from: u64, to: u64) -> u64 {
    let ((r0, c0), (r1, c1)) = (coords(p, from), coords(p, to));
    r0.abs_diff(r1) + c0.abs_diff(c1)
}

/// Cycles a request and its reply spend on the mesh: out and back, `hop_latency` per hop:
///
/// ```text
/// 2 · hops · hop_latency
/// ```
pub fn round_trip(p: &Piuma, from: u64, to: u64) -> u64 {
    2 * hops(p, from, to) * p.mesh.hop_latency
}

/// Load-to-use cycles of a scratchpad access from a thread on block `from` to the scratchpad
/// of block `to`: the bank's latency plus the mesh round trip (zero when local):
///
/// ```text
/// scratchpad.latency + 2 · hops · hop_latency
/// ```
pub fn spad_latency(p: &Piuma, from: u64, to: u64) -> u64 {
    p.scratchpad.latency + round_trip(p, from, to)
}

/// Cycles from issuing an atomic with a result (fetch-add, CAS) on block `from` to the result,
/// for an address in block `to`: the engine's latency plus the mesh round trip. Float adds are
/// posted: the thread does not wait, so they add nothing to its chain.
///
/// ```text
/// atomic.latency + 2 · hops · hop_latency
/// ```
pub fn atomic_latency(p: &Piuma, from: u64, to: u64) -> u64 {
    p.atomic.latency + round_trip(p, from, to)
}

/// Bank of a scratchpad byte offset: consecutive words go to consecutive banks:
///
/// ```text
/// ⌊offset / bank_width⌋ mod banks
/// ```
pub fn bank(p: &Piuma, offset: u64) -> u64 {
    spad_bank(&p.scratchpad, offset)
}

/// [`bank`] of any scratchpad `s` (a block's, or a SAT core's region).
pub fn spad_bank(s: &Scratchpad, offset: u64) -> u64 {
    let (w, b) = (s.bank_width_bytes, s.banks);
    // Powers of two (every shipped machine): a shift and a mask replace two divisions in the
    // kernels' innermost loops.
    if w.is_power_of_two() && b.is_power_of_two() {
        (offset >> w.trailing_zeros()) & (b - 1)
    } else {
        (offset / w) % b
    }
}

/// Cycles a contiguous, word-aligned stream of `bytes` takes through the banks of `s`: its
/// `⌈bytes / width⌉` words go round robin ([`range_per_bank`] from offset 0), so the busiest
/// bank serves `⌈bytes / (banks · width)⌉` of them, one a cycle:
///
/// ```text
/// ⌈bytes / bytes_per_cycle⌉
/// ```
pub fn stream_cycles(s: &Scratchpad, bytes: u64) -> u64 {
    bytes.div_ceil(s.bytes_per_cycle())
}

/// Accesses each bank serves when `bytes` at `offset` are read word by word. The range covers
/// words `w0 … w0+n−1` (`n = ⌈(offset+bytes)/width⌉ − ⌊offset/width⌋`); round robin gives every
/// bank `⌊n/B⌋` of them and the `n mod B` banks from `w0 mod B` on one more. Calls `f(bank,
/// count)` for every bank with a non-zero count.
pub fn range_per_bank(p: &Piuma, offset: u64, bytes: u64, mut f: impl FnMut(u64, u64)) {
    if bytes == 0 {
        return;
    }
    let (w, nb) = (p.scratchpad.bank_width_bytes, p.scratchpad.banks);
    let w0 = offset / w;
    let n = (offset + bytes).div_ceil(w) - w0;
    let (full, extra) = (n / nb, n % nb);
    for i in 0..nb.min(n) {
        f((w0 + i) % nb, full + (i < extra) as u64);
    }
}

/// DRAM words an access of `bytes` at `addr` moves: every access touches whole words of
/// `access_bytes` (8 on PIUMA), so
///
/// ```text
/// ⌈(addr + bytes) / w⌉ − ⌊addr / w⌋
/// ```
pub fn dram_words(p: &Piuma, addr: u64, bytes: u64) -> u64 {
    if bytes == 0 {
        return 0;
    }
    let w = p.dram.access_bytes;
    (addr + bytes).div_ceil(w) - addr / w
}

/// Channel of a DRAM address: `interleave_bytes` chunks go round robin over the die's
/// channels, and channel `c` sits at block `⌊c / channels_per_block⌋`.
pub fn dram_channel(p: &Piuma, addr: u64) -> u64 {
    (addr / p.dram.interleave_bytes) % p.channels()
}

/// Block whose memory controller serves `channel`.
pub fn channel_block(p: &Piuma, channel: u64) -> u64 {
    channel / p.dram.channels_per_block
}

/// Splits an access of `bytes` at `addr` into the part each channel serves, in bytes moved
/// (whole words): calls `f(channel, bytes)` once per channel touched, with the sum over its
/// interleave chunks. The access covers chunks `q0 ..= q1`; the first and the last may be
/// partial, those between are whole (`interleave_bytes`, a multiple of the word). Chunk `q`
/// is on channel `q mod C`, so the `i`-th channel from `q0`'s (`i < min(C, q1 − q0 + 1)`)
/// holds the whole chunks `q0 + i + j·C` strictly between `q0` and `q1`:
///
/// ```text
/// i = 0:  ⌊(q1 − 1 − q0) / C⌋          i ≥ 1:  ⌊(q1 − 1 − q0 − i) / C⌋ + 1  (0 if q0 + i ≥ q1)
/// ```
///
/// which is the chunk-by-chunk sum in closed form (a long transfer costs O(C), not O(chunks)).
pub fn range_per_channel(p: &Piuma, addr: u64, bytes: u64, mut f: impl FnMut(u64, u64)) {
    if bytes == 0 {
        return;
    }
    let (il, nc) = (p.dram.interleave_bytes, p.channels());
    let end = addr + bytes;
    let (q0, q1) = (addr / il, (end - 1) / il);
    let piece = |a: u64, b: u64| dram_words(p, a, b - a) * p.dram.access_bytes;
    if q0 == q1 {
        f(q0 % nc, piece(addr, end));
        return;
    }
    let first = piece(addr, (q0 + 1) * il);
    let last = piece(q1 * il, end);
    for i in 0..nc.min(q1 - q0 + 1) {
        let whole = if i == 0 {
            (q1 - 1 - q0) / nc
        } else if q0 + i < q1 {
            (q1 - 1 - q0 - i) / nc + 1
        } else {
            0
        };
        let mut b = il * whole;
        if i == 0 {
            b += first;
        }
        if i == (q1 - q0) % nc {
            b += last;
        }
        f((q0 + i) % nc, b);
    }
}

/// Load-to-use cycles of a DRAM read from block `from` served by `channel`: the DRAM's latency
/// plus the mesh round trip to the channel's block.
///
/// ```text
/// dram.latency + 2 · hops(from, block of channel) · hop_latency
/// ```
pub fn dram_latency(p: &Piuma, from: u64, channel: u64) -> u64 {
    p.dram.latency + round_trip(p, from, channel_block(p, channel))
}

/// Cycles a channel is busy moving `bytes` (already whole words): `⌈bytes / bytes_per_cycle⌉`.
pub fn channel_cycles(p: &Piuma, bytes: u64) -> u64 {
    bytes.div_ceil(p.dram.bytes_per_cycle_per_channel)
}

/// Cycles the atomic engine is busy starting `ops` operations: `⌈ops / ops_per_cycle⌉`.
pub fn atomic_engine_cycles(p: &Piuma, ops: u64) -> u64 {
    ops.div_ceil(p.atomic.ops_per_cycle)
}

/// Cycles the DMA engine is busy with transfers totalling `bytes` in `descriptors`
/// descriptors: each descriptor costs its setup, then the engine streams at its width:
///
/// ```text
/// descriptors · setup  +  ⌈bytes / dma.bytes_per_cycle⌉
/// ```
///
/// The channels it reads or writes are reserved separately, so the slower side decides.
pub fn dma_cycles(p: &Piuma, descriptors: u64, bytes: u64) -> u64 {
    descriptors * p.dma.setup_cycles + bytes.div_ceil(p.dma.bytes_per_cycle)
}

/// Element moves of a pairwise merge tree over `lists` sorted lists holding `n` elements in
/// all: each of the `⌈log2 lists⌉` levels moves every element once (duplicates are kept until
/// the last level adds them), so
///
/// ```text
/// n · ⌈log2 lists⌉
/// ```
pub fn merge_moves(n: u64, lists: u64) -> u64 {
    n * ceil_log2(lists)
}

/// Compare-and-move steps of a merge sort of `n` elements: `n · ⌈log2 n⌉`.
pub fn sort_steps(n: u64) -> u64 {
    n * ceil_log2(n)
}

/// `⌈log2 x⌉`, 0 for x ≤ 1.
pub fn ceil_log2(x: u64) -> u64 {
    if x <= 1 {
        0
    } else {
        64 - (x - 1).leading_zeros() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Piuma {
        Piuma::load("piuma-block").unwrap()
    }

    #[test]
    fn hops_on_a_two_by_four_mesh() {
        let p = p();
        assert_eq!(hops(&p, 0, 0), 0);
        assert_eq!(hops(&p, 0, 3), 3);
        assert_eq!(hops(&p, 0, 7), 4);
        assert_eq!(hops(&p, 5, 2), 2);
        assert_eq!(spad_latency(&p, 0, 7), p.scratchpad.latency + 16);
    }

    #[test]
    fn eight_byte_granularity() {
        let p = p();
        assert_eq!(dram_words(&p, 0, 8), 1);
        assert_eq!(dram_words(&p, 4, 8), 2);
        assert_eq!(dram_words(&p, 12, 4), 1);
        assert_eq!(dram_words(&p, 12, 0), 0);
        let mut per = vec![0; p.channels() as usize];
        range_per_channel(&p, 60, 72, |c, b| per[c as usize] += b);
        // Bytes 60..132: words 56..64 (chunk 0), 64..128 (chunk 1), 128..136 (chunk 2).
        assert_eq!(&per[..3], &[8, 64, 8]);
    }

    /// The closed form equals walking the access chunk by chunk.
    #[test]
    fn channel_split_equals_the_chunk_walk() {
        let p = p();
        let il = p.dram.interleave_bytes;
        for addr in (0..3 * il).step_by(4).chain([4096, 100_003]) {
            for bytes in (0..40 * il).step_by(12).chain([1, 7, 8, 9, 64 * il + 3]) {
                let mut want = vec![0; p.channels() as usize];
                let mut a = addr;
                while a < addr + bytes {
                    let stop = ((a / il) + 1) * il;
                    let piece = stop.min(addr + bytes) - a;
                    want[dram_channel(&p, a) as usize] +=
                        dram_words(&p, a, piece) * p.dram.access_bytes;
                    a = stop;
                }
                let mut got = vec![0; p.channels() as usize];
                range_per_channel(&p, addr, bytes, |c, b| {
                    assert!(
                        b > 0 && got[c as usize] == 0,
                        "one positive call per channel"
                    );
                    got[c as usize] += b;
                });
                assert_eq!(got, want, "addr {addr}, bytes {bytes}");
            }
        }
    }

    #[test]
    fn range_spreads_round_robin_over_banks() {
        let p = p();
        let mut per = [0; 16];
        range_per_bank(&p, 8 * 14, 8 * 20, |b, n| per[b as usize] += n);
        // Words 14..34: banks 14, 15 get two, 0, 1 two, the rest one.
        assert_eq!(per.iter().sum::<u64>(), 20);
        assert_eq!((per[14], per[15], per[0], per[1], per[2]), (2, 2, 2, 2, 1));
    }

    #[test]
    fn logs_and_merges() {
        assert_eq!(
            [0, 1, 2, 3, 4, 5, 1024, 1025].map(ceil_log2),
            [0, 0, 1, 2, 2, 3, 10, 11]
        );
        assert_eq!(merge_moves(100, 1), 0);
        assert_eq!(merge_moves(100, 5), 300);
        assert_eq!(sort_steps(8), 24);
    }
}
