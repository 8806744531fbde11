//! Which scratchpad words each batch of the prune unit touches: the access sets a physically
//! banked region serves (docs/physical-banking.md).
//!
//! The unit ranks `G = groups_per_cycle` M-groups a batch, taking the `rows·⌈k/M⌉` groups row
//! after row (`hw/src/prune_unit.rs`): batch b is groups `b·G … b·G + G − 1`, and group g is
//! (r, c) = (g div ⌈k/M⌉, g mod ⌈k/M⌉).
//!
//! - **Read set:** every source word of its groups. Group (r, c) is the `min(M, k − c·M)`
//!   INT16 elements from element `r·k + c·M`.
//! - **Write set:** every destination word of its packed groups. Group (r, c) is
//!   `gb = prune::group_bytes` bytes at byte `(r·⌈k/M⌉ + c)·gb`, the layout of
//!   [`crate::prune::pack_with_mask`] row after row.
//!
//! A word is `byte / bank_width_bytes` of the buffer's region, as [`crate::timing::bank_degree`]
//! takes it.

use crate::arch::Arch;
use crate::isa::Buf;
use crate::prune::{group_bytes, Nm};

/// The words one batch reads and writes, each sorted and distinct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSets {
    /// Words of the source region.
    pub read: Vec<u64>,
    /// Words of the destination region.
    pub write: Vec<u64>,
}

/// The words of bytes `[from, to)` of a region of `width`-byte words.
fn words(width: u64, from: u64, to: u64) -> std::ops::Range<u64> {
    if from >= to {
        return 0..0;
    }
    from / width..to.div_ceil(width)
}

/// The sets of every batch of the prune of `rows × k` elements from `src` to `dst`, in order.
pub fn batches(arch: &Arch, src: &Buf, dst: &Buf, rows: u64, k: u64, nm: Nm) -> Vec<BatchSets> {
    let per_row = k.div_ceil(nm.m.max(1));
    let total = rows * per_row;
    let g = arch.prune_groups_per_cycle.max(1);
    let gb = group_bytes(nm) as u64;
    let (rw, ww) = (
        arch.region(src.region).bank_width_bytes,
        arch.region(dst.region).bank_width_bytes,
    );
    (0..total.div_ceil(g))
        .map(|b| {
            let mut sets = BatchSets {
                read: Vec::new(),
                write: Vec::new(),
            };
            for group in b * g..((b + 1) * g).min(total) {
                let (r, c) = (group / per_row, group % per_row);
                let first = r * k + c * nm.m;
                let len = nm.m.min(k - c * nm.m);
                let at = src.addr + 2 * first;
                sets.read.extend(words(rw, at, at + 2 * len));
                let at = dst.addr + group * gb;
                sets.write.extend(words(ww, at, at + gb));
            }
            for s in [&mut sets.read, &mut sets.write] {
                s.sort_unstable();
                s.dedup();
            }
            sets
        })
        .collect()
}
