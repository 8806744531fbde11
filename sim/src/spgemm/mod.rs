//! SpGEMM on the PIUMA-like machine: three kernels, each producing the exact product and the
//! statistics of its run.
//!
//! - [`Kernel::Smash`]: row-wise (Gustavson); partial products merged as they are produced by
//!   atomic CAS and float adds into a hash table in each block's scratchpad (no partial-product
//!   matrix), rows taken in windows that fit the table ([`smash`]).
//! - [`Kernel::Inner`]: inner product; each block holds a column slice of B in its scratchpad
//!   and intersects every row of A with it through a bitmap ([`inner`]).
//! - [`Kernel::Outer`]: outer product; column k of A times row k of B written to DRAM as
//!   partial lists, then merged row by row ([`outer`]).
//!
//! Inputs come from Matrix Market files ([`mtx`]) or the R-MAT generator ([`rmat`]); every
//! kernel is checked against [`csr::spgemm_reference`].
pub mod csr;
pub mod inner;
pub mod mtx;
pub mod outer;
pub mod rmat;
pub mod smash;

use crate::piuma::{EngineRun, Machine};
use csr::Csr;
use nmsat_compiler::arch::piuma::Piuma;
use serde::Serialize;

/// The SpGEMM kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kernel {
    Smash,
    Inner,
    Outer,
}

impl Kernel {
    /// Every kernel.
    pub const ALL: [Kernel; 3] = [Kernel::Smash, Kernel::Inner, Kernel::Outer];

    /// The kernel's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Smash => "smash",
            Kernel::Inner => "inner",
            Kernel::Outer => "outer",
        }
    }

    /// Parses a name (`smash`, `inner`, `outer`).
    pub fn parse(s: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Statistics of one kernel run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelStats {
    pub kernel: &'static str,
    pub cycles: u64,
    /// Multiplications performed (`Σ_i Σ_k∈A(i,:) nnz(B(k,:))`).
    pub flops: u64,
    pub nnz_out: u64,
    pub dram_bytes: u64,
    pub dram_read_bytes: u64,
    pub dram_write_bytes: u64,
    pub atomics: u64,
    pub fetch_adds: u64,
    pub float_adds: u64,
    pub cas: u64,
    pub remote_atomics: u64,
    /// Cycles threads waited for an address held by an earlier atomic.
    pub same_address_wait: u64,
    /// Probes that found a slot holding another key (SMASH only).
    pub hash_collisions: u64,
    /// Hash-table windows (SMASH only).
    pub windows: u64,
    /// Extra column passes over rows too wide for the table (SMASH only).
    pub overflow_passes: u64,
    /// Peak scratchpad bytes in use on any block.
    pub spad_peak_bytes: u64,
    /// That peak over the scratchpad's size.
    pub spad_occupancy: f64,
    /// Peak fraction of hash-table slots holding a key (SMASH only).
    pub hash_load_peak: f64,
    pub spad_accesses: u64,
    pub instructions: u64,
    pub tasks: u64,
    /// Cycles threads ran tasks over threads × cycles.
    pub thread_utilization: f64,
    /// Instructions issued over pipelines × cycles.
    pub issue_utilization: f64,
    /// Bytes the channels moved over their peak × cycles.
    pub dram_utilization: f64,
    /// Simulated seconds at the description's clock.
    pub seconds: f64,
}

/// A kernel's product and statistics.
#[derive(Debug, Clone)]
pub struct KernelRun {
    pub kernel: Kernel,
    pub c: Csr,
    pub stats: KernelStats,
}

/// Kernel-specific numbers the common statistics do not cover.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extra {
    pub hash_collisions: u64,
    pub windows: u64,
    pub overflow_passes: u64,
    pub spad_peak_bytes: u64,
    pub hash_load_peak: f64,
}

/// Runs `kernel` for `a · b` on the machine `p`.
pub fn run_kernel(p: &Piuma, kernel: Kernel, a: &Csr, b: &Csr) -> Result<KernelRun, String> {
    csr::check_shapes(a, b)?;
    match kernel {
        Kernel::Smash => smash::run(p, a, b, &smash::SmashOptions::default()),
        Kernel::Inner => inner::run(p, a, b),
        Kernel::Outer => outer::run(p, a, b),
    }
}

/// Builds the statistics from the machine's counters and the engine's measurements.
pub(crate) fn stats(
    kernel: Kernel,
    m: &Machine,
    e: &EngineRun,
    a: &Csr,
    b: &Csr,
    c: &Csr,
    x: Extra,
) -> KernelStats {
    let p = m.p;
    let k = &m.counters;
    let cycles = e.cycles.max(1);
    let [issued, ..] = m.busy_by_kind();
    let pipes = p.blocks() * p.pipelines_per_block();
    let dram_bytes = k.dram_read_bytes + k.dram_write_bytes;
    let peak = (p.channels() * p.dram.bytes_per_cycle_per_channel) as f64 * cycles as f64;
    KernelStats {
        kernel: kernel.name(),
        cycles: e.cycles,
        flops: a.flops_per_row(b).iter().sum(),
        nnz_out: c.nnz() as u64,
        dram_bytes,
        dram_read_bytes: k.dram_read_bytes,
        dram_write_bytes: k.dram_write_bytes,
        atomics: k.atomics(),
        fetch_adds: k.fetch_adds,
        float_adds: k.float_adds,
        cas: k.cas,
        remote_atomics: k.remote_atomics,
        same_address_wait: k.same_address_wait,
        hash_collisions: x.hash_collisions,
        windows: x.windows,
        overflow_passes: x.overflow_passes,
        spad_peak_bytes: x.spad_peak_bytes,
        spad_occupancy: x.spad_peak_bytes as f64 / p.scratchpad.bytes as f64,
        hash_load_peak: x.hash_load_peak,
        spad_accesses: k.spad_accesses,
        instructions: k.instructions,
        tasks: e.tasks,
        thread_utilization: e.busy_thread_cycles as f64 / (m.threads() * cycles) as f64,
        issue_utilization: issued as f64 / (pipes * cycles) as f64,
        dram_utilization: dram_bytes as f64 / peak,
        seconds: e.cycles as f64 / (p.clock_mhz * 1e6),
    }
}

/// Speedup of every kernel over every other: `(kernel, over, cycles(over) / cycles(kernel))`.
pub fn speedups(runs: &[KernelStats]) -> Vec<(&'static str, &'static str, f64)> {
    let mut out = Vec::new();
    for x in runs {
        for y in runs {
            if x.kernel != y.kernel {
                out.push((x.kernel, y.kernel, y.cycles as f64 / x.cycles.max(1) as f64));
            }
        }
    }
    out
}

/// Where the kernels keep their arrays in DRAM: each array starts on its own interleave
/// chunk, one after the other.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CsrAt {
    pub ptr: u64,
    pub col: u64,
    pub val: u64,
}

/// Bump allocator over the DRAM address space.
pub(crate) struct DramLayout {
    next: u64,
}

impl DramLayout {
    pub fn new() -> Self {
        DramLayout { next: 0 }
    }

    /// `bytes` starting on a 4 KiB boundary.
    pub fn alloc(&mut self, bytes: u64) -> u64 {
        let at = self.next;
        self.next = (at + bytes).div_ceil(4096) * 4096;
        at
    }

    /// A CSR matrix: 8-byte row pointers, 4-byte column indices, 8-byte values.
    pub fn csr(&mut self, rows: usize, nnz: usize) -> CsrAt {
        CsrAt {
            ptr: self.alloc(8 * (rows as u64 + 1)),
            col: self.alloc(4 * nnz as u64),
            val: self.alloc(8 * nnz as u64),
        }
    }
}

/// Splits `0..weights.len()` into `parts` contiguous ranges of about equal total weight (each
/// item counts at least 1, so empty rows are spread too).
pub(crate) fn partition(weights: &[u64], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: u64 = weights.iter().map(|w| w.max(&1)).sum();
    let mut out = Vec::with_capacity(parts);
    let (mut start, mut acc) = (0usize, 0u64);
    for (i, w) in weights.iter().enumerate() {
        acc += (*w).max(1);
        let want = total * (out.len() as u64 + 1) / parts as u64;
        if acc >= want && out.len() + 1 < parts {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    out.push(start..weights.len());
    while out.len() < parts {
        out.push(weights.len()..weights.len());
    }
    out
}

/// Rows of the product as the kernels finish them, in any order; then one CSR.
///
/// Pieces of rows go into one arena as they come (no vector per row); [`RowSink::into_csr`]
/// orders them by row, then by part, then by arrival, and copies each once.
pub(crate) struct RowSink {
    nrows: usize,
    ncols: usize,
    cols: Vec<u32>,
    vals: Vec<f64>,
    /// (row, part, start in the arena, length).
    pieces: Vec<(u32, u64, usize, usize)>,
}

impl RowSink {
    pub fn new(nrows: usize, ncols: usize) -> Self {
        RowSink {
            nrows,
            ncols,
            cols: Vec::new(),
            vals: Vec::new(),
            pieces: Vec::new(),
        }
    }

    /// Appends entries (ascending, after any already there) to row `i`.
    pub fn append(&mut self, i: usize, cols: &[u32], vals: &[f64]) {
        self.append_part(i, 0, cols, vals);
    }

    /// Appends entries (ascending) to row `i`, before those of any higher `part` and after
    /// those already appended with `part` or lower.
    pub fn append_part(&mut self, i: usize, part: u64, cols: &[u32], vals: &[f64]) {
        debug_assert!(cols.windows(2).all(|w| w[0] < w[1]));
        if cols.is_empty() {
            return;
        }
        self.pieces
            .push((i as u32, part, self.cols.len(), cols.len()));
        self.cols.extend_from_slice(cols);
        self.vals.extend_from_slice(vals);
    }

    pub fn into_csr(mut self) -> Csr {
        // Stable: pieces of one row and part keep their arrival order.
        self.pieces.sort_by_key(|p| (p.0, p.1));
        let mut c = Csr::empty(self.nrows, self.ncols);
        c.cols.reserve_exact(self.cols.len());
        c.vals.reserve_exact(self.vals.len());
        let mut row = 0;
        for &(i, _, at, n) in &self.pieces {
            while row < i as usize {
                row += 1;
                c.rowptr[row] = c.cols.len();
            }
            debug_assert!(c.cols.len() == c.rowptr[row] || c.cols.last() < Some(&self.cols[at]));
            c.cols.extend_from_slice(&self.cols[at..at + n]);
            c.vals.extend_from_slice(&self.vals[at..at + n]);
        }
        while row < self.nrows {
            row += 1;
            c.rowptr[row] = c.cols.len();
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_balances_weight() {
        assert_eq!(partition(&[5, 1, 1, 1, 1, 1], 2), vec![0..1, 1..6]);
        assert_eq!(partition(&[1; 8], 4), vec![0..2, 2..4, 4..6, 6..8]);
        assert_eq!(partition(&[1, 1], 4), vec![0..1, 1..2, 2..2, 2..2]);
        assert_eq!(partition(&[], 2), vec![0..0, 0..0]);
    }
}
