//! Outer-product SpGEMM (OuterSPACE-style baseline): partial products are materialised in
//! DRAM, then merged row by row.
//!
//! 1. **Multiply** (all blocks, then a die-wide barrier). A task is one k: column k of A
//!    times row k of B. For each `a_ik` the thread takes a slot in row i's list of partial
//!    lists (a fetch-add, remote when another block owns row i) and writes the scaled row
//!    `a_ik · B(k,:)` to DRAM with its 16-byte header.
//! 2. **Merge** (each block its rows). A task is one row i: read its headers and partial
//!    lists, merge them with a pairwise merge tree ([`timing::merge_moves`]) in the thread's
//!    share of the scratchpad, spilling every level but the last to DRAM when the row's
//!    partials do not fit, and write row i of C.
//!
//! The simulator does not store the partial-product matrix: it charges its bytes and
//! recomputes row i's partials when the merge needs them (the same values; a stable merge adds
//! equal columns in ascending k, which is what the row accumulator does).

use super::csr::{Csr, Spa};
use super::{partition, stats, CsrAt, DramLayout, Extra, Kernel, KernelRun, RowSink};
use crate::piuma::{self, timing, Machine, Step, Workload};
use nmsat_compiler::arch::piuma::{AtomicOp, Piuma};
use std::ops::Range;

/// Instructions per step.
mod instr {
    /// Grab a task.
    pub const GRAB: u64 = 2;
    /// Per `a_ik` of the column: slot fetch-add, header store, loop.
    pub const LIST: u64 = 6;
    /// Per product: multiply, store column, store value.
    pub const PRODUCT: u64 = 3;
    /// Per merge-tree move: compare, select, load, store, advance.
    pub const MOVE: u64 = 5;
    /// Per output entry: add duplicates, store column and value.
    pub const EMIT: u64 = 4;
}

#[derive(PartialEq)]
enum Phase {
    Multiply,
    Merge,
}

struct Outer<'a> {
    a: &'a Csr,
    at: &'a Csr,
    b: &'a Csr,
    addr: (CsrAt, CsrAt, CsrAt),
    /// DRAM offset of column k's partial lists, and of the headers.
    part_off: Vec<u64>,
    hdr: u64,
    owner: Vec<u32>,
    ks: Vec<Range<usize>>,
    rows: Vec<Range<usize>>,
    phase: Phase,
    outstanding: u64,
    running: Vec<bool>,
    spa: Spa,
    sink: RowSink,
    out_addr: Vec<u64>,
    share: u64,
    widest: u64,
    cols: Vec<u32>,
    vals: Vec<f64>,
}

/// Runs the outer-product kernel for `a · b` on `p`.
pub fn run(p: &Piuma, a: &Csr, b: &Csr) -> Result<KernelRun, String> {
    super::csr::check_shapes(a, b)?;
    p.supports(AtomicOp::FetchAdd)?;
    let at = a.transpose();
    let nb = p.blocks() as usize;
    let work: Vec<u64> = (0..at.nrows)
        .map(|k| at.row_len(k) as u64 * b.row_len(k) as u64)
        .collect();
    let mut part_off = Vec::with_capacity(at.nrows + 1);
    let mut acc = 0u64;
    for w in &work {
        part_off.push(acc);
        acc += 12 * w;
    }
    part_off.push(acc);
    let mut lay = DramLayout::new();
    let addr = (
        lay.csr(a.nrows, a.nnz()),
        lay.csr(at.nrows, at.nnz()),
        lay.csr(b.nrows, b.nnz()),
    );
    let hdr = lay.alloc(16 * a.nnz() as u64);
    let part = lay.alloc(acc);
    let part_off = part_off.into_iter().map(|o| part + o).collect();
    let rows = partition(&a.flops_per_row(b), nb);
    let mut owner = vec![0u32; a.nrows];
    for (bi, r) in rows.iter().enumerate() {
        owner[r.clone()].fill(bi as u32);
    }
    let mut m = Machine::new(p);
    let mut w = Outer {
        a,
        at: &at,
        b,
        addr,
        part_off,
        hdr,
        owner,
        ks: partition(&work, nb),
        rows,
        phase: Phase::Multiply,
        outstanding: 0,
        running: vec![false; m.threads() as usize],
        spa: Spa::new(b.ncols),
        sink: RowSink::new(a.nrows, b.ncols),
        out_addr: (0..nb as u64).map(|i| (1 << 44) + (i << 38)).collect(),
        share: p.scratchpad.bytes / p.threads_per_block(),
        widest: 0,
        cols: Vec::new(),
        vals: Vec::new(),
    };
    let e = piuma::run(&mut m, &mut w)?;
    let rows_per_block = w.rows.iter().map(|r| r.len()).max().unwrap_or(0) as u64;
    let extra = Extra {
        spad_peak_bytes: (8 * rows_per_block
            + p.threads_per_block() * (24 * w.widest).min(w.share))
        .min(p.scratchpad.bytes),
        ..Extra::default()
    };
    let c = w.sink.into_csr();
    let stats = stats(Kernel::Outer, &m, &e, a, b, &c, extra);
    Ok(KernelRun {
        kernel: Kernel::Outer,
        c,
        stats,
    })
}

impl Outer<'_> {
    fn multiply(&mut self, m: &mut Machine, t: u64, k: usize) {
        let p = m.p;
        let pl = m.place(t);
        let (blk, pipe) = (pl.block, pl.pipe);
        let (_, ta, ba) = self.addr;
        let lat = m.atomic(blk, blk, 0, AtomicOp::FetchAdd);
        m.wait(lat);
        m.issue(pipe, instr::GRAB);
        let l = m.dram(blk, ta.ptr + 8 * k as u64, 16, false).max(m.dram(
            blk,
            ba.ptr + 8 * k as u64,
            16,
            false,
        ));
        m.wait(l);
        let (sa, na) = (self.at.rowptr[k] as u64, self.at.row_len(k) as u64);
        let (sb, nb) = (self.b.rowptr[k] as u64, self.b.row_len(k) as u64);
        let l = m
            .dram(blk, ta.col + 4 * sa, 4 * na, false)
            .max(m.dram(blk, ta.val + 8 * sa, 8 * na, false))
            .max(m.dram(blk, ba.col + 4 * sb, 4 * nb, false))
            .max(m.dram(blk, ba.val + 8 * sb, 8 * nb, false));
        m.wait(l);
        m.issue(pipe, (12 * (na + nb)).div_ceil(8));
        for (pos, &i) in self.at.row(k).0.iter().enumerate() {
            // A slot in row i's list of partial lists, in its owner's scratchpad.
            let owner = self.owner[i as usize] as u64;
            let local = i as u64 - self.rows[owner as usize].start as u64;
            let lat = m.atomic(blk, owner, timing::bank(p, 8 * local), AtomicOp::FetchAdd);
            m.wait(lat);
            let at = self.part_off[k] + 12 * nb * pos as u64;
            m.dram(blk, at, 12 * nb, true);
            m.dram(blk, self.hdr + 16 * (sa + pos as u64), 16, true);
            m.issue(pipe, instr::LIST + instr::PRODUCT * nb);
        }
    }

    fn merge(&mut self, m: &mut Machine, t: u64, i: usize) {
        let p = m.p;
        let pl = m.place(t);
        let (blk, pipe) = (pl.block, pl.pipe);
        let lat = m.atomic(blk, blk, 0, AtomicOp::FetchAdd);
        m.wait(lat);
        m.issue(pipe, instr::GRAB);
        let (ks, _) = self.a.row(i);
        let lists = ks.len() as u64;
        // Headers, then every partial list (found through A's transpose).
        let l = m.dram(
            blk,
            self.hdr + 16 * self.a.rowptr[i] as u64,
            16 * lists,
            false,
        );
        m.wait(l);
        let mut n = 0u64;
        let mut lat = 0;
        for &k in ks {
            let k = k as usize;
            let pos = self.at.row(k).0.partition_point(|&r| (r as usize) < i) as u64;
            let len = self.b.row_len(k) as u64;
            lat = lat.max(m.dram(blk, self.part_off[k] + 12 * len * pos, 12 * len, false));
            n += len;
        }
        m.wait(lat);
        // The merge tree: in the thread's scratchpad share if the row's partials (double
        // buffered) fit, else every level but the last streams through DRAM.
        self.widest = self.widest.max(n);
        let levels = timing::ceil_log2(lists);
        let staging = (t % p.threads_per_block()) * self.share;
        let spill = 24 * n > self.share;
        for level in 0..levels {
            if spill && level + 1 < levels {
                let at = (1 << 43) + (t << 32);
                let l = m.dram(blk, at, 12 * n, false);
                m.dram(blk, at, 12 * n, true);
                m.wait(l);
            } else {
                m.spad_range(blk, blk, staging, 12 * n);
                m.spad_range(blk, blk, staging, 12 * n);
                m.wait(timing::spad_latency(p, blk, blk));
            }
        }
        self.cols.clear();
        self.vals.clear();
        let products = self.spa.row(
            self.a,
            self.b,
            i,
            0..self.b.ncols as u32,
            &mut self.cols,
            &mut self.vals,
        );
        debug_assert_eq!(products, n);
        let out = self.cols.len() as u64;
        m.issue(
            pipe,
            instr::MOVE * timing::merge_moves(n, lists) + instr::EMIT * n.max(out),
        );
        let at = self.out_addr[blk as usize];
        m.dram(blk, at, 12 * out + 8, true);
        self.out_addr[blk as usize] = at + 12 * out + 8;
        self.sink.append(i, &self.cols, &self.vals);
    }
}

impl Workload for Outer<'_> {
    fn next(&mut self, m: &mut Machine, t: u64, now: u64) -> Step {
        let bi = m.place(t).block as usize;
        if std::mem::take(&mut self.running[t as usize]) {
            self.outstanding -= 1;
        }
        if self.phase == Phase::Multiply {
            if let Some(k) = self.ks[bi].next() {
                self.outstanding += 1;
                self.running[t as usize] = true;
                self.multiply(m, t, k);
                return Step::Ran(m.commit(now));
            }
            if self.outstanding > 0 || self.ks.iter().any(|r| !r.is_empty()) {
                return Step::Park;
            }
            // The last multiply task has ended: every partial list is written.
            self.phase = Phase::Merge;
            m.wake_everyone();
        }
        match self.rows[bi].next() {
            Some(i) => {
                self.merge(m, t, i);
                Step::Ran(m.commit(now))
            }
            None => Step::Done,
        }
    }
}
