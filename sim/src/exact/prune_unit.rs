//! The prune (pre-generation) unit: `groups_per_cycle` top-N-of-M rank networks in a pipeline.
//!
//! ```text
//!  M weights ─► |w| ─► pairwise compare (M·(M−1)) ─► rank_i = #{j beats i} ─► keep if rank < N
//!                         j beats i  ⇔  |w_j| > |w_i|  or  (|w_j| = |w_i| and j < i)
//! ```
//! This is the comparator network the RTL builds, written independently of the reference
//! [`nmsat_compiler::prune::nm_mask`] (a sort) and tested against it.

use super::{i16s, Memory};
use crate::machine::OpCost;
use nmsat_compiler::arch::{Arch, Banking, Region};
use nmsat_compiler::isa::Buf;
use nmsat_compiler::prune::{pack_with_mask, Nm};
use nmsat_compiler::timing;

/// Keep-mask of one group by ranking: |−32768| is the largest magnitude.
pub fn rank_group(group: &[i16], n: usize) -> Vec<bool> {
    let mag = |v: i16| (v as i32).abs();
    (0..group.len())
        .map(|i| {
            let rank = (0..group.len())
                .filter(|&j| {
                    mag(group[j]) > mag(group[i]) || (mag(group[j]) == mag(group[i]) && j < i)
                })
                .count();
            rank < n
        })
        .collect()
}

/// The words one batch of groups reads (source region) and writes (destination region).
#[derive(Default)]
struct Batch {
    read: Vec<u64>,
    write: Vec<u64>,
}

/// Words left to serve, by bank, of a set on a physically banked region (each bank serves one
/// a cycle); empty on an ideal region, which serves a batch in its one cycle.
fn pending(region: &Region, words: &[u64]) -> Vec<u64> {
    if region.banking == Banking::Ideal {
        return Vec::new();
    }
    let mut words = words.to_vec();
    words.sort_unstable();
    words.dedup();
    let mut left = vec![0; region.banks as usize];
    for w in words {
        left[region.bank(w) as usize] += 1;
    }
    left
}

/// Cycles the pipeline's steps take beyond one each: step s reads batch s and writes batch
/// s − 1 (the write trails the read by one stage), and the global enable holds the pipeline
/// until the bank sequencers have served both sets, one word of every bank a cycle on the
/// read copy and the write port together.
fn step_stalls(arch: &Arch, src: &Buf, dst: &Buf, batches: &[Batch]) -> u64 {
    let (from, to) = (arch.region(src.region), arch.region(dst.region));
    let mut stall = 0;
    for s in 0..=batches.len() {
        let mut read = batches
            .get(s)
            .map_or(Vec::new(), |b| pending(from, &b.read));
        let mut write = s
            .checked_sub(1)
            .map_or(Vec::new(), |p| pending(to, &batches[p].write));
        let mut cycles = 0;
        loop {
            cycles += 1;
            for left in read.iter_mut().chain(write.iter_mut()) {
                *left = left.saturating_sub(1);
            }
            if read.iter().chain(&write).all(|&l| l == 0) {
                break;
            }
        }
        stall += cycles - 1;
    }
    stall
}

/// Prunes `rows × k` dense weights from `src` into the packed N:M form in `dst`.
pub fn run(
    arch: &Arch,
    mem: &mut Memory,
    src: &Buf,
    dst: &Buf,
    rows: u64,
    k: u64,
    nm: Nm,
) -> Result<OpCost, String> {
    let dense = i16s(mem.sp(src));
    if dense.len() < (rows * k) as usize {
        return Err(format!(
            "prune of {rows}×{k} reads a {}-byte buffer",
            src.bytes
        ));
    }
    let (rw, ww) = (
        arch.region(src.region).bank_width_bytes,
        arch.region(dst.region).bank_width_bytes,
    );
    let mut packed = Vec::with_capacity(dst.bytes as usize);
    let mut batches: Vec<Batch> = Vec::new();
    let mut groups = 0u64;
    for r in 0..rows as usize {
        let first = r * k as usize;
        for (c, g) in dense[first..first + k as usize]
            .chunks(nm.m as usize)
            .enumerate()
        {
            // A new batch of groups enters the networks every cycle.
            if groups.is_multiple_of(arch.prune_groups_per_cycle) {
                batches.push(Batch::default());
            }
            groups += 1;
            let batch = batches.last_mut().expect("pushed above");
            let at = src.addr + 2 * (first + c * nm.m as usize) as u64;
            batch
                .read
                .extend(at / rw..(at + 2 * g.len() as u64).div_ceil(rw));
            let at = dst.addr + packed.len() as u64;
            packed.extend(pack_with_mask(g, &rank_group(g, nm.n as usize), nm));
            batch
                .write
                .extend(at / ww..(dst.addr + packed.len() as u64).div_ceil(ww));
        }
    }
    if packed.len() as u64 > dst.bytes {
        return Err(format!(
            "packed form of {} bytes overflows its {}-byte buffer",
            packed.len(),
            dst.bytes
        ));
    }
    mem.sp_mut(dst)[..packed.len()].copy_from_slice(&packed);
    let bank_stall = step_stalls(arch, src, dst, &batches);
    // On physical banks the sequencers' latching lengthens the pipeline.
    let latency = timing::prune_latency_at(arch, src, dst);
    Ok(OpCost {
        // The last batch leaves the pipeline `latency` cycles after it entered.
        cycles: batches.len() as u64 + latency + bank_stall,
        bank_stall,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piuma::Spad;
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::Op;
    use nmsat_compiler::prune::nm_mask;
    use nmsat_compiler::prune_sets::batches;
    use nmsat_compiler::timing;
    use proptest::prelude::*;

    fn sat_small(physical: bool) -> Arch {
        let mut a = Arch::load("sat-small").unwrap();
        if physical {
            for r in [&mut a.weight, &mut a.input, &mut a.output] {
                r.banking = Banking::Physical;
            }
        }
        a
    }

    fn memory(arch: &Arch) -> Memory {
        Memory {
            dram: Vec::new(),
            sp: RegionId::ALL.map(|r| Spad::new(arch.region(r).scratchpad())),
        }
    }

    /// sat-small's regions (4 banks of 8-byte words, bank of word w = (w + w/4) mod 4), G = 4
    /// groups a batch, latency 2. A 4:8 prune of 2 × 20 elements has ⌈20/8⌉ = 3 groups a row
    /// (8, 8 and 4 elements), 6 in all, so B = 2 batches; a packed group is gb = 4·2 + ⌈4·3/8⌉
    /// = 10 bytes. Source and destination share the weight region, 1024 bytes (32 bank rows)
    /// apart: the write port and the read copy serve them at once.
    ///
    /// - batch 0 reads groups (0,0) (0,1) (0,2) (1,0): elements 0..28, bytes 0..56, words 0..=6
    ///   in banks 0 1 2 3 1 2 3: **degree 2** (the run of 7 words crosses a bank row);
    /// - batch 1 reads (1,1) (1,2): elements 28..40, bytes 56..80, words 7 8 9 in banks 0 2 3:
    ///   degree 1;
    /// - batch 0 writes 4 groups, bytes 1024..1064, words 128..=132 in banks 0 1 2 3 1:
    ///   **degree 2**;
    /// - batch 1 writes 2 groups, bytes 1064..1084, words 133 134 135 in banks 2 3 0: degree 1.
    ///
    /// Steps: read b0 (2), read b1 with write b0 (max(1, 2) = 2), write b1 (1): 5 cycles, two
    /// more than the ideal 3; on physical banks the pipeline is `prune_latency_banked` = max(2, 4)
    /// = 4 deep, so 4 − 1 + 5 = 8 cycles (stall 2) where the ideal unit takes 2 + 2 = 4.
    #[test]
    fn a_prune_on_physical_banks_waits_for_its_hand_counted_degrees() {
        let nm = Nm::new(4, 8).unwrap();
        let src = Buf {
            region: RegionId::Weight,
            addr: 0,
            bytes: 80,
        };
        let dst = Buf {
            region: RegionId::Weight,
            addr: 1024,
            bytes: 60,
        };
        let sets = batches(&sat_small(true), &src, &dst, 2, 20, nm);
        let words: Vec<(Vec<u64>, Vec<u64>)> =
            sets.into_iter().map(|b| (b.read, b.write)).collect();
        assert_eq!(
            words,
            [
                ((0..7).collect(), (128..133).collect()),
                ((7..10).collect(), (133..136).collect())
            ]
        );
        let op = Op::Prune {
            src,
            dst,
            rows: 2,
            k: 20,
            nm,
            along: nmsat_compiler::isa::PruneAlong::Input,
        };
        for (physical, want) in [(true, (8, 2)), (false, (4, 0))] {
            let arch = sat_small(physical);
            let mut mem = memory(&arch);
            let cost = run(&arch, &mut mem, &src, &dst, 2, 20, nm).unwrap();
            assert_eq!((cost.cycles, cost.bank_stall), want, "physical: {physical}");
            assert_eq!(
                timing::op_cycles(&arch, &op),
                Ok(want.0),
                "physical: {physical}"
            );
        }
    }

    /// The packed groups the unit writes one by one are the rows `pack_row` packs.
    #[test]
    fn group_by_group_packing_is_the_packed_rows() {
        let arch = sat_small(true);
        let mut mem = memory(&arch);
        let nm = Nm::new(2, 8).unwrap();
        let (rows, k) = (3usize, 19usize);
        let dense: Vec<i16> = (0..rows * k).map(|i| (i as i16 * 37) % 23 - 11).collect();
        let src = Buf {
            region: RegionId::Input,
            addr: 40,
            bytes: 2 * (rows * k) as u64,
        };
        super::super::put_i16s(mem.sp_mut(&src), &dense);
        let want: Vec<u8> = dense
            .chunks(k)
            .flat_map(|r| nmsat_compiler::prune::pack_row(r, nm))
            .collect();
        let dst = Buf {
            region: RegionId::Output,
            addr: 13,
            bytes: want.len() as u64,
        };
        run(&arch, &mut mem, &src, &dst, rows as u64, k as u64, nm).unwrap();
        assert_eq!(mem.sp(&dst), &want[..]);
    }

    proptest! {
        #[test]
        fn rank_network_equals_the_reference_pruning(
            g in prop::collection::vec(prop::sample::select(vec![i16::MIN, -3, -1, 0, 1, 3, 7, i16::MAX]), 1..16), n in 1usize..8) {
            let m = g.len().max(n + 1).min(16);
            let nm = Nm::new(n as u64, m as u64).unwrap();
            prop_assert_eq!(rank_group(&g, n), nm_mask(&g, nm));
        }
    }
}
