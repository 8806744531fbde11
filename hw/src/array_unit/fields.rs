//! The fields of a `Gemm` instruction as the array unit's instruction port carries them:
//! everything the unit needs precomputed, so that the RTL only adds and compares.
//!
//! Dense GEMMs are encoded as 1:1 groups: one lane, one weight per group of 2 bytes and no
//! index bits, so one set of address walks serves both modes.

use super::physical::x_set_entries;
use crate::HwError;
use nmsat_compiler::arch::{Arch, Banking};
use nmsat_compiler::prune::{group_bytes, Nm};
use nmsat_sim::piuma::timing::stream_cycles;

/// Fields on the instruction port, each 16 bits, in [`GemmOp`] order.
pub const GEMM_FIELDS: usize = 28;

/// A `Gemm` instruction, decoded for the array unit: 16-bit fields in port order (`g$0 …`),
/// byte offsets within the regions. In order:
///
/// | # | field | # | field |
/// |---|---|---|---|
/// | 0–2 | first byte of x (input region), w (weight), y (output) | 14 | `xg`: bytes of x from a group's first row to the next's, M·t·2 |
/// | 3–6 | t, m, k, K′ (`y[m×t] (+)= w[m×k]·x[k×t]`, K′ positions stepped) | 15–17 | a reduction fold's advance of its first group: ⌊R/N⌋ groups in bytes of x, in rows, and the residue R mod N that carries into one more |
/// | 7, 8 | folds in all, reduction folds ⌈K′/R⌉ per block of C output rows | 18, 19 | bytes of w per output row, per block of C rows |
/// | 9–12 | N, M (1 and 1 dense), index bits, bytes per packed group | 20 | a reduction fold's advance of the weight bus: ⌊R/N⌋ groups in bytes of w |
/// | 13 | N:M (1) or dense (0) | 21, 22 | group (bytes of w) and slot of position R−1, where a preload starts |
/// | | | 23 | bytes of y per block of C output rows, C·t·4 |
/// | 27 | accumulate into y (1) or overwrite (0) | 24–26 | what a column's fetch takes — beats on an ideal input region, rows of x on a physical one (the set the physical unit reads): the second when the fold starts at the third's slot of its group or later (its R positions then span one more group), else the first |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmOp(pub [u16; GEMM_FIELDS]);

impl GemmOp {
    /// Encodes `y[m×t] (+)= w[m×k]·x[k×t]` for `arch`'s array, or says which field the RTL
    /// cannot carry.
    #[allow(clippy::too_many_arguments)] // the Gemm instruction's own operand list
    pub fn new(
        arch: &Arch,
        (x_base, w_base, y_base): (u64, u64, u64),
        (m, k, t): (u64, u64, u64),
        sparsity: Option<Nm>,
        accumulate: bool,
    ) -> Result<GemmOp, HwError> {
        let (r, c) = (arch.rows, arch.cols);
        let (n, mm, ib, gb) = match sparsity {
            None => (1, 1, 0, 2),
            Some(nm) => (nm.n, nm.m, nm.index_bits() as u64, group_bytes(nm) as u64),
        };
        let groups = k.div_ceil(mm);
        let kk = groups * n;
        let k_folds = kk.div_ceil(r);
        let folds = k_folds * m.div_ceil(c);
        // A column fetches the M-groups its fold's R positions span: ⌊(a+R−1)/N⌋+1 for a fold
        // starting at slot a of its group, which takes at most two values. The ideal unit
        // counts the beats they take, the physical one fetches their rows as a set.
        let span_rows = |a: u64| mm * ((a + r - 1) / n + 1);
        let physical = arch.input.banking == Banking::Physical;
        if physical && span_rows(n - 1) > x_set_entries(arch) {
            return Err(HwError::Usage(format!(
                "{}:{} spans {} rows of x a column, the array unit's sets have {}",
                n,
                mm,
                span_rows(n - 1),
                x_set_entries(arch)
            )));
        }
        let span_beats = |a: u64| {
            if physical {
                return span_rows(a);
            }
            stream_cycles(&arch.input.scratchpad(), 2 * span_rows(a)).max(1)
        };
        let (lo, hi) = (span_beats(0), span_beats(n - 1));
        let th = (0..n).find(|&a| span_beats(a) == hi).unwrap_or(0);
        let fields = [
            ("x", x_base),
            ("w", w_base),
            ("y", y_base),
            ("t", t),
            ("m", m),
            ("k", k),
            ("K'", kk),
            ("folds", folds),
            ("k_folds", k_folds),
            ("n", n),
            ("m", mm),
            ("ib", ib),
            ("gb", gb),
            ("sparse", sparsity.is_some() as u64),
            ("M·t·2", mm * t * 2),
            ("x per fold", (r / n) * mm * t * 2),
            ("rows per fold", (r / n) * mm),
            ("R mod N", r % n),
            ("w row", groups * gb),
            ("w block", c * groups * gb),
            ("w per fold", (r / n) * gb),
            ("top group", ((r - 1) / n) * gb),
            ("top slot", (r - 1) % n),
            ("y block", c * t * 4),
            ("beats", lo),
            ("beats", hi),
            ("beats", th),
            ("accumulate", accumulate as u64),
        ];
        let mut v = [0u16; GEMM_FIELDS];
        for (slot, (name, value)) in v.iter_mut().zip(fields) {
            *slot = u16::try_from(value).map_err(|_| {
                HwError::Usage(format!(
                    "GEMM {m}×{k}×{t}: {name} = {value} does not fit the array unit's 16-bit field"
                ))
            })?;
        }
        Ok(GemmOp(v))
    }
}
