//! Inner-product SpGEMM baseline: `C(i,j) = A(i,:) · B(:,j)` for every i and j.
//!
//! Each block holds a slice of B's columns (CSC) in its scratchpad, loaded by DMA in as many
//! chunks as the space left beside the threads' bitmaps requires. For every chunk, every row
//! of A is a task: the thread marks the row's k's in its bitmap, then walks every non-zero
//! `(k, j)` of the chunk and tests bit k (a *probe*); a hit multiplies and adds, and each
//! column with a hit yields one entry of C. The probes that miss are the kernel's cost: every
//! row probes all of B.
//!
//! The simulator counts the probes in closed form (a miss has no data effect) and forms the
//! hits row-wise, which yields each dot product's terms in the same ascending-k order.

use super::csr::{Csr, Spa};
use super::{partition, stats, DramLayout, Extra, Kernel, KernelRun, RowSink};
use crate::piuma::{self, timing, Machine, Step, Workload};
use nmsat_compiler::arch::piuma::{AtomicOp, Piuma};
use std::ops::Range;

/// Instructions per step.
mod instr {
    /// Grab a task.
    pub const GRAB: u64 = 2;
    /// Per k of the row of A: set (and later clear) its bit, stash its value.
    pub const MARK: u64 = 6;
    /// Per probe: load k, word address, load the bitmap word, test, branch.
    pub const PROBE: u64 = 5;
    /// Per hit: find the stashed value, load B's value, multiply-add.
    pub const HIT: u64 = 4;
    /// Per column: load its extent, loop.
    pub const COLUMN: u64 = 2;
    /// Per output entry: store column and value.
    pub const EMIT: u64 = 2;
}

/// Probes a thread keeps in flight (software-pipelined loads): the exposed latency per probe
/// is the scratchpad latency over this.
const PROBES_IN_FLIGHT: u64 = 4;

/// One chunk of B's columns resident in a block's scratchpad.
struct Chunk {
    cols: Range<usize>,
    /// Non-zeros of B in those columns (a range of B's transpose).
    nz: Range<usize>,
    /// Probes per bank of the bitmap word, for a bitmap at scratchpad offset 0.
    bank_hist: Vec<u64>,
}

enum Phase {
    Load,
    Loading,
    Rows,
}

struct Block {
    chunks: Vec<Chunk>,
    chunk: usize,
    phase: Phase,
    next_row: usize,
    outstanding: u64,
}

struct Inner<'a> {
    a: &'a Csr,
    b: &'a Csr,
    a_at: super::CsrAt,
    bt_at: super::CsrAt,
    blocks: Vec<Block>,
    running: Vec<bool>,
    bitmap_bytes: u64,
    spa: Spa,
    out_addr: Vec<u64>,
    cols: Vec<u32>,
    vals: Vec<f64>,
    peak: u64,
    /// Each block produces its slice of every row; slices ascend with the block number.
    sink: RowSink,
}

/// Runs the inner-product kernel for `a · b` on `p`.
pub fn run(p: &Piuma, a: &Csr, b: &Csr) -> Result<KernelRun, String> {
    super::csr::check_shapes(a, b)?;
    p.supports(AtomicOp::FetchAdd)?;
    let bt = b.transpose();
    let nb = p.blocks() as usize;
    let bitmap_bytes = b.nrows.div_ceil(64) as u64 * 8;
    let bitmaps = bitmap_bytes * p.threads_per_block();
    let room = p.scratchpad.bytes.saturating_sub(bitmaps);
    let col_bytes = |j: usize| 12 * bt.row_len(j) as u64 + 8;
    let per_col: Vec<u64> = (0..bt.nrows).map(|j| bt.row_len(j) as u64).collect();
    let mut blocks = Vec::new();
    for slice in partition(&per_col, nb) {
        let mut chunks = Vec::new();
        let mut start = slice.start;
        while start < slice.end {
            let (mut end, mut bytes) = (start, 8);
            while end < slice.end && bytes + col_bytes(end) <= room {
                bytes += col_bytes(end);
                end += 1;
            }
            if end == start {
                return Err(format!(
                    "column {start} of B ({} bytes) does not fit the {room} bytes of \
                     scratchpad left beside {} bitmaps of {bitmap_bytes} bytes",
                    col_bytes(start),
                    p.threads_per_block()
                ));
            }
            let nz = bt.rowptr[start]..bt.rowptr[end];
            let mut bank_hist = vec![0; p.scratchpad.banks as usize];
            for &k in &bt.cols[nz.clone()] {
                bank_hist[timing::bank(p, 8 * (k as u64 / 64)) as usize] += 1;
            }
            chunks.push(Chunk {
                cols: start..end,
                nz,
                bank_hist,
            });
            start = end;
        }
        blocks.push(Block {
            chunks,
            chunk: 0,
            phase: Phase::Load,
            next_row: 0,
            outstanding: 0,
        });
    }
    let mut lay = DramLayout::new();
    let a_at = lay.csr(a.nrows, a.nnz());
    let bt_at = lay.csr(bt.nrows, bt.nnz());
    let mut m = Machine::new(p);
    drop(bt);
    let mut w = Inner {
        a,
        b,
        a_at,
        bt_at,
        blocks,
        running: vec![false; m.threads() as usize],
        bitmap_bytes,
        spa: Spa::new(b.ncols),
        out_addr: (0..nb as u64).map(|i| (1 << 44) + (i << 38)).collect(),
        cols: Vec::new(),
        vals: Vec::new(),
        peak: 0,
        sink: RowSink::new(a.nrows, b.ncols),
    };
    let e = piuma::run(&mut m, &mut w)?;
    let extra = Extra {
        spad_peak_bytes: w.peak,
        ..Extra::default()
    };
    let c = w.sink.into_csr();
    let stats = stats(Kernel::Inner, &m, &e, a, b, &c, extra);
    Ok(KernelRun {
        kernel: Kernel::Inner,
        c,
        stats,
    })
}

impl Inner<'_> {
    /// Loads block `bi`'s current chunk of B into its scratchpad (one DMA per array).
    fn load(&mut self, m: &mut Machine, t: u64, bi: usize) {
        let blk = bi as u64;
        let pipe = m.place(t).pipe;
        let ch = &self.blocks[bi].chunks[self.blocks[bi].chunk];
        let (c0, ncols) = (ch.cols.start as u64, ch.cols.len() as u64);
        let (e0, nnz) = (ch.nz.start as u64, ch.nz.len() as u64);
        let base = self.bitmap_bytes * m.p.threads_per_block();
        let l = m
            .dma(blk, self.bt_at.ptr + 8 * c0, base, 8 * (ncols + 1), false)
            .max(m.dma(blk, self.bt_at.col + 4 * e0, base, 4 * nnz, false))
            .max(m.dma(blk, self.bt_at.val + 8 * e0, base, 8 * nnz, false));
        m.wait(l);
        m.issue(pipe, 12);
        self.peak = self.peak.max(base + 8 * (ncols + 1) + 12 * nnz);
    }

    /// Row `i` against block `bi`'s current chunk.
    fn row(&mut self, m: &mut Machine, t: u64, bi: usize, i: usize) {
        let p = m.p;
        let pl = m.place(t);
        let (blk, pipe) = (pl.block, pl.pipe);
        let lat = m.atomic(blk, blk, 0, AtomicOp::FetchAdd);
        m.wait(lat);
        m.issue(pipe, instr::GRAB);
        // Row i of A from DRAM.
        let (s, na) = (self.a.rowptr[i] as u64, self.a.row_len(i) as u64);
        let l = m.dram(blk, self.a_at.ptr + 8 * i as u64, 16, false);
        m.wait(l);
        let l = m
            .dram(blk, self.a_at.col + 4 * s, 4 * na, false)
            .max(m.dram(blk, self.a_at.val + 8 * s, 8 * na, false));
        m.wait(l);
        // Mark and later clear the row's bits in this thread's bitmap.
        let bitmap = (t % p.threads_per_block()) * self.bitmap_bytes;
        for &k in self.a.row(i).0 {
            m.spad(blk, blk, timing::bank(p, bitmap + 8 * (k as u64 / 64)), 2);
        }
        // Probe every non-zero of the chunk: read its k (consecutive words), test the bit.
        let ch = &self.blocks[bi].chunks[self.blocks[bi].chunk];
        let probes = ch.nz.len() as u64;
        let ncols = ch.cols.len() as u64;
        let base = self.bitmap_bytes * p.threads_per_block();
        m.spad_range(blk, blk, base, 8 * (ncols + 1));
        m.spad_range(blk, blk, base + 8 * (ncols + 1), 4 * probes);
        let shift = bitmap / p.scratchpad.bank_width_bytes;
        for (bank, &n) in ch.bank_hist.iter().enumerate() {
            m.spad(blk, blk, (bank as u64 + shift) % p.scratchpad.banks, n);
        }
        m.wait(probes.div_ceil(PROBES_IN_FLIGHT) * timing::spad_latency(p, blk, blk));
        // The hits.
        self.cols.clear();
        self.vals.clear();
        let cols = ch.cols.start as u32..ch.cols.end as u32;
        let hits = self
            .spa
            .row(self.a, self.b, i, cols, &mut self.cols, &mut self.vals);
        let out = self.cols.len() as u64;
        // B's values of the hits and the stashed A values (scratchpad), then C's entries.
        m.spad_range(blk, blk, base, 16 * hits);
        m.issue(
            pipe,
            instr::MARK * na
                + instr::PROBE * probes
                + instr::HIT * hits
                + instr::COLUMN * ncols
                + instr::EMIT * out,
        );
        let at = self.out_addr[bi];
        m.dram(blk, at, 12 * out + 8, true);
        self.out_addr[bi] = at + 12 * out + 8;
        self.sink.append_part(i, bi as u64, &self.cols, &self.vals);
    }
}

impl Workload for Inner<'_> {
    fn next(&mut self, m: &mut Machine, t: u64, now: u64) -> Step {
        let bi = m.place(t).block as usize;
        if std::mem::take(&mut self.running[t as usize]) {
            self.blocks[bi].outstanding -= 1;
        }
        let nrows = self.a.nrows;
        loop {
            let blk = &mut self.blocks[bi];
            if blk.chunk >= blk.chunks.len() {
                return Step::Done;
            }
            match blk.phase {
                Phase::Load => {
                    blk.phase = Phase::Loading;
                    blk.outstanding += 1;
                    self.running[t as usize] = true;
                    self.load(m, t, bi);
                    return Step::Ran(m.commit(now));
                }
                Phase::Loading if blk.outstanding > 0 => return Step::Park,
                Phase::Loading => {
                    // The chunk has landed: every thread may start on the rows.
                    blk.phase = Phase::Rows;
                    blk.next_row = 0;
                    m.wake(bi as u64);
                }
                Phase::Rows if blk.next_row < nrows => {
                    let i = blk.next_row;
                    blk.next_row += 1;
                    blk.outstanding += 1;
                    self.running[t as usize] = true;
                    self.row(m, t, bi, i);
                    return Step::Ran(m.commit(now));
                }
                Phase::Rows if blk.outstanding > 0 => return Step::Park,
                Phase::Rows => {
                    // Every row is done with this chunk: on to the next (or finish).
                    blk.chunk += 1;
                    blk.phase = Phase::Load;
                    m.wake(bi as u64);
                }
            }
        }
    }
}
