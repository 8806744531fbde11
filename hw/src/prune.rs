//! `Prune`: a combinational top-N-of-M unit for one N:M pattern chosen at run time.
//!
//! ```text
//!               ┌──────────────────────────────────────────┐
//!  w_in[0..M] ─►│ |w| ─► rank_i = Σ_j beats(j,i) ─► keep_i ├─► mask[0..M]
//!               │        pos_i  = Σ_{j<i} keep_j           │
//!               │        slot k ◄─ the kept w_i with pos k ├─► w_out[0..N], idx_out[0..N]
//!               └──────────────────────────────────────────┘   (no clock: one group per cycle
//!                                                                 whatever drives it)
//! ```
//!
//! Output: the N weights of largest magnitude in ascending index order with their 4-bit
//! in-group indices, plus the M-bit keep mask — the same choice as
//! [`nmsat_compiler::prune::nm_mask`], which the tests check it against. Ties go to the lower
//! index, so "beats" is a strict total order and exactly N weights are kept:
//!
//! * `beats(j, i) = |w_j| > |w_i| || (|w_j| == |w_i| && j < i)`: M·(M−1) comparators
//!   (M·(M−1)/2 distinct magnitude compares),
//! * `rank_i = Σ_j beats(j, i)`, kept iff `rank_i < N`,
//! * `pos_i = Σ_{j<i} kept_j`, and output slot k takes the kept weight whose `pos` is k.
//!
//! The magnitude is `|w|` as a 16-bit unsigned number, so |−32768| = 32768 is the largest.
//! Because M and N are run-time values, the Verilog is written out by hand
//! (`Verilog::Custom`) and `update` is the same algorithm in plain Rust.

use crate::array::signals;
use crate::error::HwError;
use crate::pe::{IDX_BITS, MAX_LANES};
use nmsat_compiler::prune::Nm;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Keeps the N largest-magnitude weights of every group of M.
#[derive(LogicBlock)]
pub struct Prune {
    /// One group of M weights.
    pub w_in: Vec<Signal<In, Signed<16>>>,
    /// The N kept weights, in ascending index order.
    pub w_out: Vec<Signal<Out, Signed<16>>>,
    /// Their in-group indices.
    pub idx_out: Vec<Signal<Out, Bits<IDX_BITS>>>,
    /// Bit i set iff `w_in[i]` is kept.
    pub mask: Vec<Signal<Out, Bit>>,
    _n: usize,
}

impl Prune {
    /// A unit for the pattern `nm` (1 ≤ N < M ≤ 16); call `connect_all()` before use.
    pub fn new(nm: Nm) -> Result<Self, HwError> {
        let (n, m) = (nm.n as usize, nm.m as usize);
        if !(1 <= n && n < m && m <= MAX_LANES) {
            return Err(HwError::Usage(format!(
                "{nm} pruning needs 1 <= N < M <= {MAX_LANES}"
            )));
        }
        Ok(Self {
            w_in: signals(m),
            w_out: signals(n),
            idx_out: signals(n),
            mask: signals(m),
            _n: n,
        })
    }

    fn m(&self) -> usize {
        self.w_in.len()
    }

    /// Bits that hold any count 0..=m.
    fn count_bits(&self) -> usize {
        (usize::BITS - self.m().leading_zeros()) as usize
    }
}

fn magnitude(x: Signed<16>) -> u16 {
    (x.inner().to_u16() as i16).unsigned_abs()
}

impl Logic for Prune {
    fn update(&mut self) {
        let (n, m) = (self._n, self.m());
        let mag: Vec<u16> = self.w_in.iter().map(|s| magnitude(s.val())).collect();
        let mut slot = 0;
        for i in 0..m {
            let rank = (0..m)
                .filter(|&j| mag[j] > mag[i] || (mag[j] == mag[i] && j < i))
                .count();
            let keep = rank < n;
            self.mask[i].next = keep;
            if keep {
                self.w_out[slot].next = self.w_in[i].val();
                self.idx_out[slot].next = bits(i as LiteralType);
                slot += 1;
            }
        }
    }

    fn connect(&mut self) {
        self.w_out.iter_mut().for_each(|s| s.connect());
        self.idx_out.iter_mut().for_each(|s| s.connect());
        self.mask.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        let (n, m, cw) = (self._n, self.m(), self.count_bits());
        // Zero-extends a 1-bit term to the count width: Verilator -Wall flags implicit
        // extension in an add (WIDTHEXPAND).
        let ext = |x: String| format!("{{{}'d0, {x}}}", cw - 1);
        // Sums 1-bit terms at the count width; an empty sum is a zero of that width.
        let sum = |terms: Vec<String>| {
            if terms.is_empty() {
                format!("{cw}'d0")
            } else {
                terms.join(" + ")
            }
        };
        let mut v = String::new();
        for i in 0..m {
            // `-w` of a signed 16-bit value wraps -32768 to itself = 32768 unsigned.
            let _ = writeln!(
                v,
                "wire [15:0] mag${i} = w_in${i}[15] ? $unsigned(-w_in${i}) : $unsigned(w_in${i});"
            );
        }
        for i in 0..m {
            let beats = (0..m)
                .filter(|&j| j != i)
                .map(|j| {
                    // Ties go to the lower index: a lower j wins on equal magnitude.
                    let op = if j < i { ">=" } else { ">" };
                    ext(format!("(mag${j} {op} mag${i})"))
                })
                .collect();
            let _ = writeln!(v, "wire [{}:0] rank${i} = {};", cw - 1, sum(beats));
            let _ = writeln!(v, "wire keep${i} = rank${i} < {cw}'d{n};");
        }
        for i in 0..m {
            let before = (0..i).map(|j| ext(format!("keep${j}"))).collect();
            let _ = writeln!(v, "wire [{}:0] pos${i} = {};", cw - 1, sum(before));
        }
        v.push_str("always @(*) begin\n");
        for k in 0..n {
            let _ = writeln!(
                v,
                "    w_out${k} = 16'sd0;\n    idx_out${k} = {IDX_BITS}'d0;"
            );
        }
        for i in 0..m {
            let _ = writeln!(v, "    mask${i} = keep${i};");
            // Weight i can only land in slots max(0, i-(m-n)) ..= min(i, n-1).
            for k in i.saturating_sub(m - n)..=i.min(n - 1) {
                let _ = writeln!(
                    v,
                    "    if (keep${i} && pos${i} == {cw}'d{k}) begin w_out${k} = w_in${i}; idx_out${k} = {IDX_BITS}'d{i}; end"
                );
            }
        }
        v.push_str("end\n");
        Verilog::Custom(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_patterns_the_index_cannot_address() {
        for (n, m) in [(0, 4), (4, 4), (5, 4), (2, 17)] {
            assert!(Prune::new(Nm { n, m }).is_err(), "{n}:{m}");
        }
        assert!(Prune::new(Nm { n: 15, m: 16 }).is_ok());
    }
}
