//! N:M patterns and the reference pruning function every other part is checked against.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An N:M pattern: at most `n` non-zeros in every group of `m` consecutive weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Nm {
    pub n: u64,
    pub m: u64,
}

impl Nm {
    /// Creates a pattern, checking 1 ≤ N < M ≤ 16.
    pub fn new(n: u64, m: u64) -> Result<Nm, String> {
        if m > 16 {
            return Err(format!("M = {m} is larger than 16"));
        }
        if n == 0 {
            return Err("N must be at least 1".into());
        }
        if n >= m {
            return Err(format!("N = {n} must be smaller than M = {m}"));
        }
        Ok(Nm { n, m })
    }

    /// Bits of one index into an M-group: ⌈log2 M⌉.
    pub fn index_bits(&self) -> u32 {
        64 - (self.m - 1).leading_zeros()
    }

    /// Kept weights out of a reduction of length `k` (padded with zeros to whole groups).
    pub fn compressed_len(&self, k: u64) -> u64 {
        k.div_ceil(self.m) * self.n
    }
}

impl fmt::Display for Nm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.n, self.m)
    }
}

impl FromStr for Nm {
    type Err = String;
    fn from_str(s: &str) -> Result<Nm, String> {
        let (n, m) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not of the form N:M"))?;
        let parse = |x: &str| {
            x.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{s}` is not of the form N:M with whole numbers"))
        };
        Nm::new(parse(n)?, parse(m)?)
    }
}

/// Keep-mask of N:M pruning over consecutive groups of `nm.m` values: in each group the `nm.n`
/// largest magnitudes survive; on equal magnitude the lower index wins, so the result is
/// deterministic and the same in the simulator and the RTL's comparator network. A last partial
/// group keeps min(N, its length) values.
pub fn nm_mask<T: Copy + Into<f64>>(values: &[T], nm: Nm) -> Vec<bool> {
    let mut keep = vec![false; values.len()];
    for (g, group) in values.chunks(nm.m as usize).enumerate() {
        let mut order: Vec<usize> = (0..group.len()).collect();
        // Stable sort by descending magnitude keeps lower indices first among equals.
        order.sort_by(|&a, &b| {
            let (x, y): (f64, f64) = (group[a].into().abs(), group[b].into().abs());
            y.total_cmp(&x)
        });
        for &i in order.iter().take(nm.n as usize) {
            keep[g * nm.m as usize + i] = true;
        }
    }
    keep
}

/// The pruned copy of `values` (zeros where the mask drops).
pub fn nm_prune<T: Copy + Into<f64> + Default>(values: &[T], nm: Nm) -> Vec<T> {
    nm_mask(values, nm)
        .into_iter()
        .zip(values)
        .map(|(k, &v)| if k { v } else { T::default() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("2:8".parse::<Nm>(), Ok(Nm { n: 2, m: 8 }));
        for (s, needle) in [
            ("8:8", "smaller"),
            ("0:4", "at least 1"),
            ("2:32", "larger than 16"),
            ("2-8", "form"),
            ("a:4", "whole"),
        ] {
            let e = s.parse::<Nm>().unwrap_err();
            assert!(e.contains(needle), "{s}: {e}");
        }
    }

    #[test]
    fn index_bits() {
        let bits: Vec<u32> = [2, 3, 4, 8, 16]
            .iter()
            .map(|&m| Nm { n: 1, m }.index_bits())
            .collect();
        assert_eq!(bits, vec![1, 2, 2, 3, 4]);
    }

    #[test]
    fn keeps_largest_magnitudes_with_low_index_tie_break() {
        let w: [i16; 8] = [1, -7, 3, 7, 0, 2, -2, 2];
        // Group 0: |-7| and |7| tie, both kept; group 1: 2, -2, 2 tie → indices 5 and 6.
        let mask = nm_mask(&w, Nm { n: 2, m: 4 });
        assert_eq!(mask, [false, true, false, true, false, true, true, false]);
        assert_eq!(nm_prune(&w, Nm { n: 2, m: 4 }), [0, -7, 0, 7, 0, 2, -2, 0]);
        // Partial last group of length 1 keeps its one value.
        assert_eq!(
            nm_mask(&[5i16, 1, 2, 3, 4], Nm { n: 1, m: 4 }),
            [true, false, false, false, true]
        );
    }

    proptest! {
        #[test]
        fn every_group_keeps_n_and_nothing_dropped_beats_a_kept_one(
            w in prop::collection::vec(-100i16..100, 0..200), n in 1u64..8, extra in 1u64..8) {
            let nm = Nm::new(n, (n + extra).min(16)).unwrap();
            let mask = nm_mask(&w, nm);
            for (g, (ws, ms)) in w.chunks(nm.m as usize).zip(mask.chunks(nm.m as usize)).enumerate() {
                let kept = ms.iter().filter(|&&k| k).count();
                prop_assert_eq!(kept, (nm.n as usize).min(ws.len()), "group {}", g);
                let min_kept = ws.iter().zip(ms).filter(|(_, &k)| k).map(|(v, _)| v.abs()).min();
                let max_dropped = ws.iter().zip(ms).filter(|(_, &k)| !k).map(|(v, _)| v.abs()).max();
                if let (Some(a), Some(b)) = (min_kept, max_dropped) {
                    prop_assert!(a >= b);
                }
            }
        }
    }
}

/// Bytes of one compressed M-group: N INT16 values, then N indices of ⌈log2 M⌉ bits packed
/// LSB-first.
pub fn group_bytes(nm: Nm) -> usize {
    (nm.n * 2 + (nm.n * nm.index_bits() as u64).div_ceil(8)) as usize
}

/// Packs one dense row into the compressed N:M form the prune unit writes and the PE array
/// reads: per group, the kept values in ascending index order and their indices. The row is
/// padded with zeros to whole groups; a group with fewer than N kept values (a partial last
/// group) is padded with value 0 at index 0, which adds nothing.
pub fn pack_row(row: &[i16], nm: Nm) -> Vec<u8> {
    pack_with_mask(row, &nm_mask(row, nm), nm)
}

/// Packs one row whose keep-mask is given (at most N per group).
pub fn pack_with_mask(row: &[i16], keep: &[bool], nm: Nm) -> Vec<u8> {
    let (n, m, bits) = (nm.n as usize, nm.m as usize, nm.index_bits());
    let mut out = Vec::with_capacity(row.len().div_ceil(m) * group_bytes(nm));
    for (g, vals) in row.chunks(m).enumerate() {
        let mut kept: Vec<(usize, i16)> = (0..vals.len())
            .filter(|&i| keep[g * m + i])
            .map(|i| (i, vals[i]))
            .collect();
        kept.resize(n, (0, 0));
        for &(_, v) in &kept {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let mut packed = vec![0u8; (n * bits as usize).div_ceil(8)];
        for (j, &(i, _)) in kept.iter().enumerate() {
            for b in 0..bits as usize {
                if (i >> b) & 1 == 1 {
                    let pos = j * bits as usize + b;
                    packed[pos / 8] |= 1 << (pos % 8);
                }
            }
        }
        out.extend_from_slice(&packed);
    }
    out
}

/// Reads group `g` of a packed row: `(index within the group, value)` for each of the N slots.
pub fn unpack_group(packed: &[u8], nm: Nm, g: usize) -> Vec<(usize, i16)> {
    let (n, bits) = (nm.n as usize, nm.index_bits() as usize);
    let base = g * group_bytes(nm);
    let idx_base = base + n * 2;
    (0..n)
        .map(|j| {
            let v = i16::from_le_bytes([packed[base + 2 * j], packed[base + 2 * j + 1]]);
            let mut i = 0;
            for b in 0..bits {
                let pos = j * bits + b;
                i |= (((packed[idx_base + pos / 8] >> (pos % 8)) & 1) as usize) << b;
            }
            (i, v)
        })
        .collect()
}

#[cfg(test)]
mod pack_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn unpacking_a_packed_row_gives_the_pruned_row(
            row in prop::collection::vec(any::<i16>(), 1..40), n in 1u64..4, extra in 1u64..6) {
            let nm = Nm::new(n, (n + extra).min(16)).unwrap();
            let packed = pack_row(&row, nm);
            let groups = row.len().div_ceil(nm.m as usize);
            prop_assert_eq!(packed.len(), groups * group_bytes(nm));
            let mut dense = vec![0i16; groups * nm.m as usize];
            for g in 0..groups {
                for (i, v) in unpack_group(&packed, nm, g) {
                    dense[g * nm.m as usize + i] += v;
                }
            }
            let pruned = nm_prune(&row, nm);
            prop_assert_eq!(&dense[..row.len()], &pruned[..]);
        }
    }
}
