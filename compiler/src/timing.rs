//! Timing equations of every unit: small pure functions, each derived in its doc comment.
//!
//! The compiler's tile chooser, the simulator's fast mode and (as the property the exact mode is
//! tested against) the cycle-by-cycle simulator all use these functions; nothing else writes a
//! timing formula down.

use crate::arch::{Arch, Dataflow, Region};
use crate::isa::{Op, VecOp, Xfer};
use crate::prune::Nm;

/// Reduction length the array actually steps through: K itself for dense, ⌈K/M⌉·N for N:M.
pub fn effective_k(k: u64, sparsity: Option<Nm>) -> u64 {
    match sparsity {
        Some(nm) => nm.compressed_len(k),
        None => k,
    }
}

/// Cycles between two columns entering the array: the input scratchpad must deliver one
/// column of activations, `R` values dense or `⌈R/N⌉` M-groups sparse (the N rows that share a
/// group share its fetch), through `banks × width` bytes a cycle. A column that needs more
/// than that arrives every `⌈bytes / (banks·width)⌉` cycles: the bank-conflict term.
pub fn cycles_per_column(arch: &Arch, sparsity: Option<Nm>) -> u64 {
    let values = match sparsity {
        Some(nm) => arch.rows.div_ceil(nm.n) * nm.m,
        None => arch.rows,
    };
    (values * 2).div_ceil(arch.input.bytes_per_cycle()).max(1)
}

/// The named terms of a GEMM's cycles on the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmCycles {
    /// Folds (stationary tiles) the GEMM needs.
    pub folds: u64,
    /// Cycles one fold occupies the array in steady state.
    pub per_fold: u64,
    /// Exposed fill and drain: the first preload, the skew and the drain.
    pub fill_drain: u64,
    /// Of `folds · per_fold`, the cycles lost to input bandwidth (bank conflicts).
    pub bank_stall: u64,
}

impl GemmCycles {
    /// All cycles.
    pub fn total(&self) -> u64 {
        self.folds * self.per_fold + self.fill_drain
    }
}

/// Cycles of a GEMM `y[m×t] += w[m×k]·x[k×t]` on the R×C array.
///
/// Weight-stationary: a *fold* holds an R (reduction) × C (output) weight tile; there are
/// F = ⌈K'/R⌉·⌈m/C⌉ folds where K' is [`effective_k`]. Weights load one row a cycle into shadow
/// registers while the previous fold streams its t columns, one every p =
/// [`cycles_per_column`] cycles, so a fold occupies the array for max(p·t, R) cycles and only
/// the first preload and the last skew and drain are exposed:
///
/// ```text
/// preload R  +  F · max(p·t, R)  +  skew (R−1)  +  drain (C−1)
/// ```
///
/// Output-stationary: a fold computes an R×C output tile (R of m, C of t) over K' steps, one
/// every p cycles; results shift out through C columns while the next fold starts, so
/// `F · max(p·K', C) + skew (R−1) + (C−1) + drain C` with F = ⌈m/R⌉·⌈t/C⌉.
pub fn gemm_terms(arch: &Arch, m: u64, k: u64, t: u64, sparsity: Option<Nm>) -> GemmCycles {
    let (r, c) = (arch.rows, arch.cols);
    let kk = effective_k(k, sparsity);
    let p = cycles_per_column(arch, sparsity);
    match arch.dataflow {
        Dataflow::WeightStationary => GemmCycles {
            folds: kk.div_ceil(r) * m.div_ceil(c),
            per_fold: (p * t).max(r),
            fill_drain: r + (r - 1) + (c - 1),
            bank_stall: kk.div_ceil(r) * m.div_ceil(c) * ((p * t).max(r) - t.max(r)),
        },
        Dataflow::OutputStationary => GemmCycles {
            folds: m.div_ceil(r) * t.div_ceil(c),
            per_fold: (p * kk).max(c),
            fill_drain: (r - 1) + (c - 1) + c,
            bank_stall: m.div_ceil(r) * t.div_ceil(c) * ((p * kk).max(c) - kk.max(c)),
        },
    }
}

/// Total cycles of [`gemm_terms`].
pub fn gemm_cycles(arch: &Arch, m: u64, k: u64, t: u64, sparsity: Option<Nm>) -> u64 {
    gemm_terms(arch, m, k, t, sparsity).total()
}

/// DRAM bytes a transfer moves: every row touches whole `access_bytes` words, so a row at
/// address a of length L costs `(⌈(a+L)/w⌉ − ⌊a/w⌋)·w` bytes.
pub fn dram_bytes(arch: &Arch, x: &Xfer) -> u64 {
    let w = arch.dram.access_bytes;
    let row = |a: u64| ((a + x.row_bytes).div_ceil(w) - a / w) * w;
    if x.dram_stride.is_multiple_of(w) || x.rows <= 1 {
        // Every row has the same alignment.
        x.rows * row(x.dram_addr)
    } else {
        (0..x.rows)
            .map(|i| row(x.dram_addr + i * x.dram_stride))
            .sum()
    }
}

/// Cycles of one DMA transfer.
///
/// The engine moves data at the lowest of its own width, the DRAM channels' peak and the
/// scratchpad's banks; the transfer is exposed to setup and one DRAM round trip:
///
/// ```text
/// setup + latency + max(⌈dram_bytes / min(dma, dram)⌉, ⌈sp_bytes / (banks·width)⌉)
/// ```
pub fn dma_cycles(arch: &Arch, x: &Xfer) -> u64 {
    let link = arch.dma.bytes_per_cycle.min(arch.dram_bytes_per_cycle());
    let sp: &Region = arch.region(x.sp.region);
    let beats = dram_bytes(arch, x)
        .div_ceil(link)
        .max(x.sp.bytes.div_ceil(sp.bytes_per_cycle()));
    arch.dma.setup_cycles + arch.dram.latency + beats
}

/// Cycles of the prune unit ranking `groups` M-groups: pipeline fill plus one pass of
/// `groups_per_cycle` groups a cycle.
pub fn prune_cycles(arch: &Arch, groups: u64) -> u64 {
    arch.prune_latency + groups.div_ceil(arch.prune_groups_per_cycle)
}

/// Element operations the vector unit spends per output element of `op`.
///
/// Each is the number of passes a lane makes: e.g. a norm takes mean, variance, normalise and
/// scale-shift (4); SGD with momentum updates v then w (2, 3 with the SR-STE term).
pub fn vector_ops_per_elem(op: VecOp) -> u64 {
    match op {
        VecOp::Relu | VecOp::ReluGrad | VecOp::Add | VecOp::Fill => 1,
        VecOp::Gelu => 4,
        VecOp::GeluGrad => 5,
        VecOp::Norm => 4,
        VecOp::NormGrad => 6,
        VecOp::Softmax => 4,
        VecOp::SoftmaxGrad => 3,
        VecOp::Pool { window } => window.max(1),
        VecOp::Loss { .. } => 5,
        VecOp::Sgd { srste, .. } => 2 + srste.is_some() as u64,
    }
}

/// Cycles of a vector instruction: pipeline fill plus element operations over the lanes.
pub fn vector_cycles(arch: &Arch, op: VecOp, elems: u64) -> u64 {
    arch.vector_latency + (elems * vector_ops_per_elem(op)).div_ceil(arch.vector_lanes)
}

/// Cycles the unit that runs `op` is busy with it.
pub fn op_cycles(arch: &Arch, op: &Op) -> u64 {
    match op {
        Op::Load { xfer } | Op::Store { xfer, .. } => dma_cycles(arch, xfer),
        Op::Prune { rows, k, nm, .. } => prune_cycles(arch, rows * k.div_ceil(nm.m)),
        Op::Gemm {
            m, k, t, sparsity, ..
        } => gemm_cycles(arch, *m, *k, *t, *sparsity),
        Op::Vector { op, elems, .. } => vector_cycles(arch, *op, *elems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::RegionId;
    use crate::isa::{Buf, XferShape};

    fn arch() -> Arch {
        Arch::load("sat-small").unwrap()
    }

    #[test]
    fn ws_gemm_matches_hand_count() {
        let a = arch();
        // 4×4 array, m=8, k=8, t=10 dense: F = 2·2 = 4 folds; 4 + 4·10 + 3 + 3 = 50.
        assert_eq!(gemm_cycles(&a, 8, 8, 10, None), 50);
        // 2:8 on k=16: K' = 4 → 1 fold per column block, 2 blocks: 4 + 2·10 + 6 = 30.
        assert_eq!(gemm_cycles(&a, 8, 16, 10, Some(Nm { n: 2, m: 8 })), 30);
        // t shorter than R: the preload of the next fold is exposed.
        assert_eq!(gemm_cycles(&a, 4, 4, 1, None), 4 + 4 + 6);
    }

    #[test]
    fn dram_bytes_round_to_words() {
        let a = arch();
        let sp = Buf {
            region: RegionId::Input,
            addr: 0,
            bytes: 30,
        };
        let x = |addr, rows, row_bytes, stride| Xfer {
            dram_addr: addr,
            rows,
            row_bytes,
            dram_stride: stride,
            sp,
            shape: XferShape::Copy,
        };
        assert_eq!(dram_bytes(&a, &x(0, 1, 8, 0)), 8);
        assert_eq!(dram_bytes(&a, &x(4, 1, 8, 0)), 16);
        assert_eq!(dram_bytes(&a, &x(0, 3, 10, 16)), 48);
        // Stride 10 shifts the alignment row by row: [0,10) → 16, [10,20) → 16, [20,30) → 16.
        assert_eq!(dram_bytes(&a, &x(0, 3, 10, 10)), 48);
        assert_eq!(dram_bytes(&a, &x(2, 2, 4, 6)), 8 + 8);
    }

    #[test]
    fn dma_is_bound_by_the_slowest_link() {
        let a = arch();
        let sp = Buf {
            region: RegionId::Input,
            addr: 0,
            bytes: 64,
        };
        let x = Xfer {
            dram_addr: 0,
            rows: 1,
            row_bytes: 64,
            dram_stride: 64,
            sp,
            shape: XferShape::Copy,
        };
        // DRAM 8 B/cycle is the bottleneck: 4 setup + 10 latency + 8.
        assert_eq!(dma_cycles(&a, &x), 22);
    }
}
