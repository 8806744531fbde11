//! SMASH-style row-wise SpGEMM: partial products merged as they are produced, by atomics into
//! a hash table in each block's scratchpad; no partial-product matrix exists.
//!
//! Rows of A are split over the blocks in contiguous ranges of about equal work. A block takes
//! its rows in *windows*: consecutive rows whose distinct-column bound `u_i = min(flops_i,
//! ncols)` sums to at most `max_load · slots`, so the window's entries cannot overflow the
//! table. A row whose own bound exceeds that is the overflow case: it runs alone in
//! `⌈ncols / (max_load · slots)⌉` *column passes*, each keeping only the products whose column
//! falls in its range (every pass re-reads the row's B rows; that is the price of overflow).
//!
//! Per window two phases, with a block barrier after each:
//!
//! 1. **Multiply.** A task is one non-zero `a_ik` times a chunk of at most [`CHUNK`] entries of
//!    row k of B (long rows are split so that no task holds a window's barrier alone): fetch
//!    `a_ik`, fetch the chunk (8-byte DRAM words), and for each `b_kj` insert key `(i, j)`: CAS the slot `hash(key)` from empty to
//!    the key (linear probing on a slot holding another key: a *collision*), and on a new key
//!    append the slot to row i's claim list (fetch-add on the row's counter); then a posted
//!    float add of `a_ik·b_kj` into the slot's value. Atomics to one word serialize.
//! 2. **Drain.** A task is one row, or for a row with more than [`CHUNK`] entries one
//!    [`SEGMENT_COLS`]-column segment of it (a wide row's claims are kept per segment, so its
//!    drain runs in parallel): read the claim list and slots, sort by column in the
//!    scratchpad, write the entries to C at the segment's offset (from the row's segment
//!    counters) and empty the slots.

use super::csr::Csr;
use super::{partition, stats, CsrAt, DramLayout, Extra, Kernel, KernelRun, RowSink};
use crate::piuma::{self, timing, Machine, Step, Workload};
use nmsat_compiler::arch::piuma::{AtomicOp, Piuma};
use std::ops::Range;

/// Sizing of the hash table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmashOptions {
    /// Scratchpad bytes per block for the table (16-byte slots; rounded down to a power of two
    /// of slots). `None`: half the scratchpad.
    pub table_bytes: Option<u64>,
    /// Largest fraction of the slots a window may fill (by its bound).
    pub max_load: f64,
}

impl Default for SmashOptions {
    fn default() -> Self {
        SmashOptions {
            table_bytes: None,
            max_load: 0.5,
        }
    }
}

/// Most products one multiply task forms; rows with more entries drain by segments.
pub const CHUNK: usize = 256;

/// Columns per drain segment of a wide row.
pub const SEGMENT_COLS: u32 = 2048;

const EMPTY: u64 = u64::MAX;
const SLOT_BYTES: u64 = 16;

/// Instructions per step, as a simple in-order RISC pipeline would issue them.
mod instr {
    /// Grab a task: address arithmetic and the fetch-add.
    pub const GRAB: u64 = 2;
    /// Per product: multiply, hash (multiply, shift), slot address, CAS, compare, branch.
    pub const PRODUCT: u64 = 7;
    /// Per product outside the current column pass: compare and branch.
    pub const SKIP: u64 = 2;
    /// Per collision: next slot, CAS, compare.
    pub const PROBE: u64 = 3;
    /// Per claimed slot: fetch-add on the row counter, store into the claim list.
    pub const CLAIM: u64 = 3;
    /// Per product: the float add.
    pub const ADD: u64 = 1;
    /// Per drained entry: load slot index, key and value, extract the column.
    pub const GATHER: u64 = 4;
    /// Per merge-sort step: compare, select, store.
    pub const SORT: u64 = 4;
    /// Per drained entry: reset the slot, store column and value to C.
    pub const EMIT: u64 = 4;
}

#[derive(Clone, Copy)]
struct Slot {
    key: u64,
    val: f64,
    key_ready: u64,
    val_ready: u64,
}

#[derive(PartialEq)]
enum Phase {
    Multiply,
    Drain,
    Done,
}

struct Block {
    rows: Range<usize>,
    cursor: usize,
    /// The wide row being processed in column passes: (row, next pass, passes).
    wide: Option<(usize, u64, u64)>,
    r0: usize,
    cols: Range<u32>,
    phase: Phase,
    next: usize,
    end: usize,
    outstanding: u64,
    /// Per row of the window, its claimed slots as (column, slot): the column is kept where
    /// the host has it at hand, not re-read from the table.
    claims: Vec<Vec<(u32, u32)>>,
    /// The window's multiply tasks: (non-zero of A, first entry of B's row).
    tasks: Vec<(u32, u32)>,
    /// The window's drain tasks: (row in window, range of its claim list, segments of the row).
    drain: Vec<(usize, Range<usize>, u64)>,
    /// The current window's number (windows of all blocks are numbered in opening order).
    window: u64,
    claimed: u64,
    out_addr: u64,
}

struct Smash<'a> {
    a: &'a Csr,
    b: &'a Csr,
    at: (CsrAt, CsrAt),
    bound: Vec<u64>,
    slots: u64,
    window_cap: u64,
    blocks: Vec<Block>,
    tables: Vec<Vec<Slot>>,
    running: Vec<bool>,
    sink: RowSink,
    extra: Extra,
    bank_key: Vec<u64>,
    bank_val: Vec<u64>,
    staging: Vec<(u32, f64)>,
    cols: Vec<u32>,
    vals: Vec<f64>,
    hashes: Vec<u64>,
}

/// Runs SMASH for `a · b` on `p`.
pub fn run(p: &Piuma, a: &Csr, b: &Csr, o: &SmashOptions) -> Result<KernelRun, String> {
    super::csr::check_shapes(a, b)?;
    for op in [AtomicOp::Cas, AtomicOp::FloatAdd, AtomicOp::FetchAdd] {
        p.supports(op)?;
    }
    if !(o.max_load > 0.0 && o.max_load <= 1.0) {
        return Err(format!("max_load {} is outside (0, 1]", o.max_load));
    }
    let table_bytes = o.table_bytes.unwrap_or(p.scratchpad.bytes / 2);
    let slots = prev_power_of_two(table_bytes / SLOT_BYTES);
    let window_cap = (slots as f64 * o.max_load) as u64;
    if slots < 2 || window_cap < 1 || slots * SLOT_BYTES > p.scratchpad.bytes / 2 {
        return Err(format!(
            "a hash table of {table_bytes} bytes does not fit: at least 2 slots of 16 bytes \
             and at most half of the {}-byte scratchpad",
            p.scratchpad.bytes
        ));
    }
    let flops = a.flops_per_row(b);
    let bound: Vec<u64> = flops.iter().map(|&f| f.min(b.ncols as u64)).collect();
    let mut lay = DramLayout::new();
    let at = (lay.csr(a.nrows, a.nnz()), lay.csr(b.nrows, b.nnz()));
    let nb = p.blocks() as usize;
    let blocks = partition(&flops, nb)
        .into_iter()
        .enumerate()
        .map(|(i, rows)| Block {
            cursor: rows.start,
            rows,
            wide: None,
            r0: 0,
            cols: 0..0,
            phase: Phase::Drain,
            next: 0,
            end: 0,
            outstanding: 0,
            claims: Vec::new(),
            tasks: Vec::new(),
            drain: Vec::new(),
            window: 0,
            claimed: 0,
            out_addr: (1 << 44) + ((i as u64) << 38),
        })
        .collect();
    let empty = Slot {
        key: EMPTY,
        val: 0.0,
        key_ready: 0,
        val_ready: 0,
    };
    let mut m = Machine::new(p);
    let mut w = Smash {
        a,
        b,
        at,
        bound,
        slots,
        window_cap,
        blocks,
        tables: vec![vec![empty; slots as usize]; nb],
        running: vec![false; m.threads() as usize],
        sink: RowSink::new(a.nrows, b.ncols),
        extra: Extra::default(),
        bank_key: vec![0; p.scratchpad.banks as usize],
        bank_val: vec![0; p.scratchpad.banks as usize],
        staging: Vec::new(),
        cols: Vec::new(),
        vals: Vec::new(),
        hashes: Vec::new(),
    };
    let e = piuma::run(&mut m, &mut w)?;
    let extra = w.extra;
    let c = w.sink.into_csr();
    let stats = stats(Kernel::Smash, &m, &e, a, b, &c, extra);
    Ok(KernelRun {
        kernel: Kernel::Smash,
        c,
        stats,
    })
}

fn prev_power_of_two(x: u64) -> u64 {
    if x == 0 {
        0
    } else {
        1 << (63 - x.leading_zeros())
    }
}

fn hash(key: u64, slots: u64) -> u64 {
    key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - slots.trailing_zeros())
}

impl Smash<'_> {
    /// Scratchpad offsets of the block's regions: table, claim lists, row counters, staging.
    fn claims_off(&self) -> u64 {
        self.slots * SLOT_BYTES
    }

    fn counters_off(&self) -> u64 {
        self.claims_off() + 4 * self.window_cap
    }

    /// Opens the block's next window (or pass), or marks it done.
    fn open_window(&mut self, bi: usize) {
        let ncols = self.b.ncols as u64;
        let cap = self.window_cap;
        let blk = &mut self.blocks[bi];
        let (r0, r1, cols) = if let Some((row, pass, passes)) = blk.wide {
            let width = ncols.div_ceil(passes);
            blk.wide = (pass + 1 < passes).then_some((row, pass + 1, passes));
            let lo = pass * width;
            (row, row + 1, lo as u32..(lo + width).min(ncols) as u32)
        } else if blk.cursor >= blk.rows.end {
            blk.phase = Phase::Done;
            return;
        } else if self.bound[blk.cursor] > cap {
            let passes = ncols.div_ceil(cap);
            self.extra.overflow_passes += passes - 1;
            let width = ncols.div_ceil(passes);
            blk.wide = Some((blk.cursor, 1, passes));
            blk.cursor += 1;
            (blk.cursor - 1, blk.cursor, 0..width as u32)
        } else {
            let (start, mut sum) = (blk.cursor, 0);
            while blk.cursor < blk.rows.end && sum + self.bound[blk.cursor] <= cap {
                sum += self.bound[blk.cursor];
                blk.cursor += 1;
            }
            (start, blk.cursor, 0..ncols as u32)
        };
        blk.window = self.extra.windows;
        self.extra.windows += 1;
        blk.r0 = r0;
        blk.cols = cols;
        blk.phase = Phase::Multiply;
        blk.tasks.clear();
        for e in self.a.rowptr[r0]..self.a.rowptr[r1] {
            let n = self.b.row_len(self.a.cols[e] as usize);
            blk.tasks
                .extend((0..n.max(1)).step_by(CHUNK).map(|s| (e as u32, s as u32)));
        }
        blk.next = 0;
        blk.end = blk.tasks.len();
        blk.claims.clear();
        blk.claims.resize(r1 - r0, Vec::new());
        blk.claimed = 0;
    }

    /// Ends the current phase of block `bi` and starts the next.
    fn advance(&mut self, bi: usize) {
        let blk = &mut self.blocks[bi];
        match blk.phase {
            Phase::Multiply => {
                blk.phase = Phase::Drain;
                blk.drain.clear();
                for (r, list) in blk.claims.iter_mut().enumerate() {
                    if list.len() <= CHUNK {
                        if !list.is_empty() {
                            blk.drain.push((r, 0..list.len(), 1));
                        }
                        continue;
                    }
                    // A wide row: its claims by segment (the per-segment lists, in order);
                    // columns are distinct within a row, so the order is unique.
                    list.sort_unstable();
                    let mut cuts = vec![0];
                    for i in 1..list.len() {
                        if list[i].0 / SEGMENT_COLS != list[i - 1].0 / SEGMENT_COLS {
                            cuts.push(i);
                        }
                    }
                    cuts.push(list.len());
                    let segs = cuts.len() as u64 - 1;
                    for w in cuts.windows(2) {
                        blk.drain.push((r, w[0]..w[1], segs));
                    }
                }
                blk.next = 0;
                blk.end = blk.drain.len();
                let p = self.slots as f64;
                self.extra.hash_load_peak = self.extra.hash_load_peak.max(blk.claimed as f64 / p);
                let widest = blk.claims.iter().map(Vec::len).max().unwrap_or(0) as u64;
                let used = self.slots * SLOT_BYTES
                    + 4 * blk.claimed
                    + 8 * blk.claims.len() as u64
                    + SLOT_BYTES * widest;
                self.extra.spad_peak_bytes = self.extra.spad_peak_bytes.max(used);
            }
            Phase::Drain => self.open_window(bi),
            Phase::Done => {}
        }
    }

    /// Runs the multiply task of non-zero `e` of A times entries `from..from + CHUNK` of its
    /// row of B; returns when its last posted add lands.
    fn multiply(&mut self, m: &mut Machine, t: u64, now: u64, e: usize, from: usize) -> u64 {
        let p = m.p;
        let pl = m.place(t);
        let (blk, pipe) = (pl.block, pl.pipe);
        let bi = blk as usize;
        let (a, b) = (self.a, self.b);
        let (aa, ba) = self.at;
        // Grab the task and fetch a_ik, then row k's extent, then row k.
        let lat = m.atomic(blk, blk, 0, AtomicOp::FetchAdd);
        m.wait(lat);
        m.issue(pipe, instr::GRAB);
        let k = a.cols[e] as usize;
        let x = a.vals[e];
        let i = match a.rowptr.binary_search(&e) {
            Ok(mut r) => {
                // Skip empty rows that share this row pointer.
                while a.rowptr[r + 1] == e {
                    r += 1;
                }
                r
            }
            Err(r) => r - 1,
        };
        let l = m.dram(blk, aa.col + 4 * e as u64, 4, false).max(m.dram(
            blk,
            aa.val + 8 * e as u64,
            8,
            false,
        ));
        m.wait(l);
        m.issue(pipe, 2);
        let l = m.dram(blk, ba.ptr + 8 * k as u64, 16, false);
        m.wait(l);
        m.issue(pipe, 2);
        let row = b.rowptr[k]..b.rowptr[k + 1];
        let s = row.start + from;
        let n = (row.end - s).min(CHUNK);
        if n > 0 {
            let l = m
                .dram(blk, ba.col + 4 * s as u64, 4 * n as u64, false)
                .max(m.dram(blk, ba.val + 8 * s as u64, 8 * n as u64, false));
            m.wait(l);
            m.issue(pipe, (12 * n as u64).div_ceil(8));
        }

        let blkst = &mut self.blocks[bi];
        let table = &mut self.tables[bi];
        let (r, cols) = ((i - blkst.r0) as u64, blkst.cols.clone());
        let lat_cas = timing::atomic_latency(p, blk, blk);
        let rmw = p.atomic.same_address_cycles;
        let mask = self.slots - 1;
        let claims_off = self.slots * SLOT_BYTES;
        let counter_bank = timing::bank(p, claims_off + 4 * self.window_cap + 8 * r);
        let (mut instrs, mut exposed, mut held) = (0u64, 0u64, 0u64);
        let (mut cas, mut claims, mut last_add) = (0u64, 0u64, 0u64);
        let mut t_op = now + m.elapsed();
        let (jb, vb) = (&b.cols[s..s + n], &b.vals[s..s + n]);
        // Hash the whole row first and touch its slots: independent loads let the host
        // overlap its cache misses (the simulated machine is unaffected).
        self.hashes.clear();
        let mut touch = 0u64;
        for &j in jb {
            let h = hash((r << 32) | j as u64, self.slots);
            touch ^= table[h as usize].key_ready;
            self.hashes.push(h);
        }
        std::hint::black_box(touch);
        for ((&j, &y), &h0) in jb.iter().zip(vb).zip(&self.hashes) {
            if !cols.contains(&j) {
                instrs += instr::SKIP;
                t_op += instr::SKIP;
                continue;
            }
            instrs += instr::PRODUCT;
            t_op += instr::PRODUCT;
            let key = (r << 32) | j as u64;
            let mut h = h0;
            loop {
                cas += 1;
                self.bank_key[timing::bank(p, h * SLOT_BYTES) as usize] += 1;
                let slot = &mut table[h as usize];
                let start = t_op.max(slot.key_ready);
                held += start - t_op;
                slot.key_ready = start + rmw;
                t_op = start + lat_cas;
                exposed += lat_cas;
                if slot.key == EMPTY {
                    slot.key = key;
                    claims += 1;
                    blkst.claims[r as usize].push((j, h as u32));
                    blkst.claimed += 1;
                    instrs += instr::CLAIM;
                    exposed += lat_cas;
                    t_op += instr::CLAIM + lat_cas;
                    break;
                }
                if slot.key == key {
                    break;
                }
                self.extra.hash_collisions += 1;
                instrs += instr::PROBE;
                t_op += instr::PROBE;
                h = (h + 1) & mask;
            }
            let slot = &mut table[h as usize];
            self.bank_val[timing::bank(p, h * SLOT_BYTES + 8) as usize] += 1;
            let start = t_op.max(slot.val_ready);
            slot.val_ready = start + rmw;
            last_add = last_add.max(start + p.atomic.latency);
            slot.val += x * y;
            instrs += instr::ADD;
            t_op += instr::ADD;
        }
        debug_assert!(cas >= claims);
        m.issue(pipe, instrs);
        m.wait(exposed);
        m.same_address_wait(held);
        for bank in 0..self.bank_key.len() {
            let (nk, nv) = (self.bank_key[bank], self.bank_val[bank]);
            m.atomics(blk, blk, bank as u64, AtomicOp::Cas, nk);
            m.atomics(blk, blk, bank as u64, AtomicOp::FloatAdd, nv);
            self.bank_key[bank] = 0;
            self.bank_val[bank] = 0;
        }
        m.atomics(blk, blk, counter_bank, AtomicOp::FetchAdd, claims);
        // The claim-list stores go to consecutive words.
        m.spad_range(blk, blk, claims_off, 4 * claims);
        last_add
    }

    /// Runs a drain task: entries `range` of window row `r`'s claim list (one of the row's
    /// `segs` segments): gather, sort, write to C, empty the slots.
    fn drain(&mut self, m: &mut Machine, t: u64, r: usize, range: Range<usize>, segs: u64) {
        let p = m.p;
        let pl = m.place(t);
        let (blk, pipe) = (pl.block, pl.pipe);
        let bi = blk as usize;
        let lat = m.atomic(blk, blk, 0, AtomicOp::FetchAdd);
        m.wait(lat);
        m.issue(pipe, instr::GRAB);
        let n = range.len() as u64;
        // The row's segment counters give this piece's offset in C; then read the claim list
        // (consecutive words) and each slot's key and value.
        let counters = self.counters_off() + 8 * r as u64;
        m.spad_range(blk, blk, counters, 8 * segs);
        let lat = m.spad_range(blk, blk, self.claims_off(), 4 * n);
        m.wait(2 * lat);
        m.issue(pipe, segs);
        let table = &mut self.tables[bi];
        let list = &self.blocks[bi].claims[r][range.clone()];
        self.staging.clear();
        let touch = list
            .iter()
            .fold(0u64, |x, &(_, h)| x ^ table[h as usize].key);
        std::hint::black_box(touch);
        for &(_, h) in list {
            let h = h as u64;
            let slot = &mut table[h as usize];
            self.staging
                .push(((slot.key & 0xffff_ffff) as u32, slot.val));
            slot.key = EMPTY;
            slot.val = 0.0;
            self.bank_key[timing::bank(p, h * SLOT_BYTES) as usize] += 2;
            self.bank_val[timing::bank(p, h * SLOT_BYTES + 8) as usize] += 1;
        }
        for bank in 0..self.bank_key.len() {
            let n =
                std::mem::take(&mut self.bank_key[bank]) + std::mem::take(&mut self.bank_val[bank]);
            m.spad(blk, blk, bank as u64, n);
        }
        // Merge sort by column in the staging area: every level reads and writes each entry.
        let levels = timing::ceil_log2(n);
        let staging_off = self.counters_off() + 8 * self.blocks[bi].claims.len() as u64;
        for _ in 0..2 * levels {
            m.spad_range(blk, blk, staging_off, SLOT_BYTES * n);
        }
        m.wait(levels * timing::spad_latency(p, blk, blk));
        m.issue(
            pipe,
            instr::GATHER * n + instr::SORT * timing::sort_steps(n) + instr::EMIT * n,
        );
        self.staging.sort_unstable_by_key(|e| e.0);
        // Write the entries to C: columns, values and the row pointer (posted stores).
        let at = self.blocks[bi].out_addr;
        m.dram(blk, at, 4 * n, true);
        m.dram(blk, at + 4 * n, 8 * n, true);
        if range.start == 0 {
            m.dram(blk, at + 12 * n, 8, true);
        }
        self.blocks[bi].out_addr = at + 12 * n + 8;
        let i = self.blocks[bi].r0 + r;
        // A row's pieces go to C by window (a wide row's column passes), then by segment.
        let part = (self.blocks[bi].window << 32) | range.start as u64;
        self.cols.clear();
        self.vals.clear();
        self.cols.extend(self.staging.iter().map(|e| e.0));
        self.vals.extend(self.staging.iter().map(|e| e.1));
        self.sink.append_part(i, part, &self.cols, &self.vals);
    }
}

impl Workload for Smash<'_> {
    fn next(&mut self, m: &mut Machine, t: u64, now: u64) -> Step {
        let bi = m.place(t).block as usize;
        if std::mem::take(&mut self.running[t as usize]) {
            self.blocks[bi].outstanding -= 1;
        }
        loop {
            let blk = &mut self.blocks[bi];
            match blk.phase {
                Phase::Done => return Step::Done,
                _ if blk.next < blk.end => {
                    let task = blk.next;
                    blk.next += 1;
                    blk.outstanding += 1;
                    self.running[t as usize] = true;
                    let end = if blk.phase == Phase::Multiply {
                        let (e, from) = blk.tasks[task];
                        let landed = self.multiply(m, t, now, e as usize, from as usize);
                        m.commit(now).max(landed)
                    } else {
                        let (r, range, segs) = blk.drain[task].clone();
                        self.drain(m, t, r, range, segs);
                        m.commit(now)
                    };
                    return Step::Ran(end);
                }
                _ if blk.outstanding > 0 => return Step::Park,
                _ => {
                    // This thread finished the phase's last task: the barrier is reached.
                    self.advance(bi);
                    m.wake(bi as u64);
                }
            }
        }
    }
}
