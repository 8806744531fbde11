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
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::Buf;
use nmsat_compiler::prune::{pack_with_mask, Nm};

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
    let mut packed = Vec::with_capacity(dst.bytes as usize);
    let (mut groups, mut cycles) = (0u64, 0u64);
    for r in 0..rows as usize {
        let row = &dense[r * k as usize..(r + 1) * k as usize];
        let mut keep = Vec::with_capacity(row.len());
        for g in row.chunks(nm.m as usize) {
            keep.extend(rank_group(g, nm.n as usize));
            // A new batch of groups enters the networks every cycle.
            if groups.is_multiple_of(arch.prune_groups_per_cycle) {
                cycles += 1;
            }
            groups += 1;
        }
        packed.extend(pack_with_mask(row, &keep, nm));
    }
    if packed.len() as u64 > dst.bytes {
        return Err(format!(
            "packed form of {} bytes overflows its {}-byte buffer",
            packed.len(),
            dst.bytes
        ));
    }
    mem.sp_mut(dst)[..packed.len()].copy_from_slice(&packed);
    Ok(OpCost {
        // The last batch leaves the pipeline `latency` cycles after it entered.
        cycles: cycles + arch.prune_latency,
        bank_stall: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmsat_compiler::prune::nm_mask;
    use proptest::prelude::*;

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
