//! `BankedPruneUnit`: the [`PruneUnit`] on physically banked regions. Its memory side is a
//! [`BankReadSequencer`] on a read copy of the source region and a [`BankWriteSequencer`] on
//! the destination's write port; their per-bank bundles are the unit's ports, for a
//! [`RegionHub`](crate::RegionHub) (or a [`BankedRegion`](crate::BankedRegion)) to serve.
//!
//! # Steps
//!
//! The pipeline advances in steps `s = 0 … B` (B batches): step s reads batch s's read set (the
//! source words of its groups, one contiguous run: `nmsat_compiler::prune_sets`) and writes
//! batch s − 1's packed groups as its write set, with byte enables. A step lasts
//! `t_s = max(1, r_s, w_{s−1})` cycles, the degrees of the two sets, and the [`PruneUnit`] is
//! held (`hold`) until it ends, so the operation takes
//! `timing::prune_cycles_physical` = `latency − 1 + Σ t_s` cycles.
//!
//! ```text
//!  X_s       read sequencer starts batch s (its words from the unit's walker below)
//!  X_s + 1   write sequencer starts batch s − 1: the read words of batch s − 1 are all out
//!            (rdata_e), cut into the G groups, ranked and packed by the unit's networks
//!  X_s+1 … X_s+r_s           batch s read          X_s+2 … X_s+1+w_{s−1}   batch s − 1 written
//!  X_{s+1} = X_s + t_s       both sequencers are in their last serving cycle (or idle)
//! ```
//!
//! The write starts a cycle after the read because the write sequencer latches its set and the
//! read words arrive a cycle after the last row; so the step's end is decided a cycle before
//! the write set's last serving cycle, from the two degrees, which this unit computes for its
//! contiguous runs with [`run_degree`] (the sequencers then serve them in exactly that many
//! cycles). Issued at τ, X_0 = τ + 1 and the last write is served in cycle
//! X_{B+1} + 1 = τ + 2 + Σ t_s, so `done` comes `latency − 4` cycles later:
//! **the latency must be at least 4** (the ideal unit needs 2: its write port takes the packed
//! groups in the cycle they are ranked, while here each set is latched first). The model
//! charges a physical prune `timing::prune_latency_banked` = max(latency, 4), and
//! [`BankedPruneUnit::for_arch`] builds the unit with it.
//!
//! # The sets
//!
//! - Read: batch s's groups are elements `[E_s, E_{s+1})` of the dense source, `E_{s+1}` capped
//!   at `elems` (rows·k); a walker of its own (the lanes' additions, one batch ahead of lane 0)
//!   gives them. Entry e reads word `⌊(src + 2E_s)/W⌋ + e`.
//! - Gather: lane j's group starts `raddr_j − W·⌊(src + 2E_s)/W⌋` bytes into the words read.
//! - Write: batch s − 1's packed groups are bytes `[waddr_0, waddr_0 + count·gb)`; the groups
//!   are concatenated and shifted by `waddr_0 mod W` into the entries' words, each entry's byte
//!   enables the bytes of that range.

use crate::array::signals;
use crate::bank_sequencer::{BankReadSequencer, BankWriteSequencer, SequencerShape};
use crate::error::HwError;
use crate::prune_unit::PruneUnit;
use crate::rank_pack::{GROUP_BITS, LANE_BITS};
use crate::scratchpad::GROUP_PORTS;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::prune::{group_bytes, Nm};
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// The bank degree of the contiguous run of words `[a, a + n)` on `banks` skewed banks
/// (`arch::skewed_bank`: word w in bank `(w + ⌊w/B⌋) mod B`).
///
/// With `j = a mod B`, `t = j + n`, `q = ⌊t/B⌋` and `e = t mod B`, the run covers bank rows
/// from `a`'s: a first row from position j, then `q − 1` full rows, then e positions of row
/// `q` (relative). A full row touches every bank once. Relative to the first row's rotation,
/// the first row's banks are `{j … B−1}` and the last row's `{q … q+e−1} mod B`; they share a
/// bank iff `e > 0` and `(q mod B) + e > j` (the last row's set wraps past B − 1, or reaches
/// j). So the degree is `q + [e > 0 ∧ (q mod B) + e > j]`: `⌈n/B⌉` when `j = 0`, 1 for any
/// run shorter than B, 0 for none.
pub fn run_degree(a: u64, n: u64, banks: u64) -> u64 {
    let j = a % banks;
    let t = j + n;
    let (q, e) = (t / banks, t % banks);
    q + u64::from(e > 0 && q % banks + e > j)
}

/// The unit; see the module docs.
#[derive(LogicBlock)]
pub struct BankedPruneUnit {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// Begin the operation described by the inputs below (those of [`PruneUnit`], and
    /// `elems`).
    pub start: Signal<In, Bit>,
    /// N.
    pub n: Signal<In, Bits<5>>,
    /// M.
    pub m: Signal<In, Bits<5>>,
    /// Bits per index.
    pub ib: Signal<In, Bits<3>>,
    /// Bytes of a packed group.
    pub gb: Signal<In, Bits<6>>,
    /// Groups in all.
    pub total: Signal<In, Bits<16>>,
    /// Groups per row, ⌈k/M⌉.
    pub per_row: Signal<In, Bits<16>>,
    /// Elements of a row's last group.
    pub last_v: Signal<In, Bits<5>>,
    /// Elements a lane advances for the whole rows of one batch.
    pub qk: Signal<In, Bits<16>>,
    /// Groups a lane advances within a row per batch.
    pub rem: Signal<In, Bits<16>>,
    /// The same in elements.
    pub remm: Signal<In, Bits<16>>,
    /// Padding of a row's last group (elements).
    pub pad: Signal<In, Bits<16>>,
    /// Destination bytes a lane advances per batch.
    pub dstep: Signal<In, Bits<16>>,
    /// First source byte.
    pub src: Signal<In, Bits<16>>,
    /// First destination byte.
    pub dst: Signal<In, Bits<16>>,
    /// Elements of the source, rows·k: where the last batch's read set ends.
    pub elems: Signal<In, Bits<16>>,
    /// Each lane's first group: its column in its row.
    pub init_c: [Signal<In, Bits<16>>; GROUP_PORTS],
    /// Its first element.
    pub init_elem: [Signal<In, Bits<16>>; GROUP_PORTS],
    /// Its destination offset.
    pub init_dst: [Signal<In, Bits<16>>; GROUP_PORTS],
    /// The operation completes in this cycle.
    pub done: Signal<Out, Bit>,
    /// Read bundle, per bank: the row read on the source's copy.
    pub rrow: Vec<Signal<Out, Bits<16>>>,
    /// Per bank: the copy's word, a cycle after its row.
    pub rdata: Vec<Signal<In, Bits<64>>>,
    /// Write bundle, per bank: byte enables on the destination's write port.
    pub wen: Vec<Signal<Out, Bits<8>>>,
    /// Per bank: the row written.
    pub wrow: Vec<Signal<Out, Bits<16>>>,
    /// Per bank: the bytes written.
    pub wdata: Vec<Signal<Out, Bits<64>>>,
    /// The ranking and packing pipeline, held step by step.
    pub unit: PruneUnit,
    /// Serves each batch's read set.
    pub rseq: BankReadSequencer,
    /// Serves each batch's write set.
    pub wseq: BankWriteSequencer,
    _p: Params,
    _s: Control,
    _next: Control,
}

/// Sizes fixed at build time.
#[derive(Clone, Copy, Debug)]
struct Params {
    groups: usize,
    latency: u64,
    banks: usize,
    width: usize,
}

impl Params {
    fn bank_bits(&self) -> usize {
        self.banks.trailing_zeros() as usize
    }
    fn width_bits(&self) -> usize {
        self.width.trailing_zeros() as usize
    }
}

/// The unit's own registers (module docs): their Verilog and this Rust model are the same.
#[derive(Clone, Copy, Debug, Default)]
struct Control {
    /// An operation is in progress; `first`: its first step starts now; `tail`: every set is
    /// served and the pipeline's remaining latency runs out; `lastq`: the step that writes
    /// the last batch; `wgo`: the write sequencer starts now.
    run: bool,
    first: bool,
    tail: bool,
    lastq: bool,
    wgo: bool,
    src: u16,
    elems: u16,
    per_row: u16,
    qk: u16,
    rem: u16,
    remm: u16,
    pad: u16,
    total_left: u16,
    /// The walker: column and element of the next batch's first group.
    wc: u16,
    we: u16,
    /// Cycles since the step began, and the degrees of its read and write sets.
    cnt: u16,
    r_deg: u16,
    w_deg: u16,
    /// First word of the read set being collected.
    rbase: u16,
    tcnt: u16,
    /// Each lane's group offset in the words read.
    goff: [u16; GROUP_PORTS],
}

impl BankedPruneUnit {
    /// A unit of `groups_per_cycle` (1..=4) group networks of `lanes` elements and a
    /// `latency`-deep pipeline (≥ 4), on regions of `banks` banks of `width`-byte words,
    /// `2^row_bits` rows deep.
    pub fn new(
        lanes: usize,
        groups_per_cycle: usize,
        latency: u64,
        banks: usize,
        width: usize,
        row_bits: usize,
    ) -> Result<Self, HwError> {
        let refuse = |field, value: u64, reason: &str, allowed: &str| {
            Err(HwError::Unsupported {
                field,
                value: value.to_string(),
                reason: reason.into(),
                allowed: allowed.into(),
            })
        };
        if !(1..=GROUP_PORTS).contains(&groups_per_cycle) {
            return refuse(
                "prune_unit.groups_per_cycle",
                groups_per_cycle as u64,
                "the RTL prune unit has up to 4 group networks",
                "1..=4",
            );
        }
        if !(2..=16).contains(&lanes) {
            return refuse(
                "sparsity.mux_lanes",
                lanes as u64,
                "a group network ranks 2 to 16 elements",
                "2..=16",
            );
        }
        if !(4..1 << 15).contains(&latency) {
            return refuse(
                "prune_unit.latency",
                latency,
                "on physical banks the read set is latched, read, ranked and packed, then the \
                 write set is latched and written: four stages",
                "≥ 4",
            );
        }
        let g = groups_per_cycle;
        // A run of n bytes from any byte of a word spans at most ⌈(n + W − 1)/W⌉ words.
        let span = |bytes: usize| (bytes + width.max(1) - 1).div_ceil(width.max(1));
        let widest = (2..=lanes as u64)
            .map(|m| group_bytes(Nm { n: m - 1, m }))
            .max()
            .unwrap_or(0);
        let read = SequencerShape::new(span(2 * g * lanes), banks, width, row_bits)?;
        let write = SequencerShape::new(span(g * widest), banks, width, row_bits)?;
        Ok(Self {
            clock: Default::default(),
            start: Default::default(),
            n: Default::default(),
            m: Default::default(),
            ib: Default::default(),
            gb: Default::default(),
            total: Default::default(),
            per_row: Default::default(),
            last_v: Default::default(),
            qk: Default::default(),
            rem: Default::default(),
            remm: Default::default(),
            pad: Default::default(),
            dstep: Default::default(),
            src: Default::default(),
            dst: Default::default(),
            elems: Default::default(),
            init_c: Default::default(),
            init_elem: Default::default(),
            init_dst: Default::default(),
            done: Default::default(),
            rrow: signals(banks),
            rdata: signals(banks),
            wen: signals(banks),
            wrow: signals(banks),
            wdata: signals(banks),
            unit: PruneUnit::new(lanes, g, latency),
            rseq: BankReadSequencer::from_shape(read),
            wseq: BankWriteSequencer::from_shape(write),
            _p: Params {
                groups: g,
                latency,
                banks,
                width,
            },
            _s: Control::default(),
            _next: Control::default(),
        })
    }

    /// The unit for `arch`, whose regions must all be physical with the same banks and width
    /// (the unit reads and writes any of them through one bundle each).
    pub fn for_arch(arch: &Arch) -> Result<Self, HwError> {
        let (banks, width, row_bits) = crate::banked_region::one_bank_shape(
            arch,
            "the banked prune unit serves every region through one read and one write bundle",
        )?;
        Self::new(
            arch.mux_lanes as usize,
            arch.prune_groups_per_cycle as usize,
            // A description's shorter latency runs at 4 here, as the model charges it.
            nmsat_compiler::timing::prune_latency_banked(arch),
            banks,
            width,
            row_bits,
        )
    }
}

/// What one cycle's logic sees besides the registers.
struct Seen {
    start: bool,
    total: u16,
    src: u16,
    elems: u16,
    per_row: u16,
    qk: u16,
    rem: u16,
    remm: u16,
    pad: u16,
    raddr: [u16; GROUP_PORTS],
    we: [bool; GROUP_PORTS],
    waddr0: u16,
    gb: u16,
}

/// The words of the byte range `[from, to)`: first word and count.
fn word_run(from: u16, to: u16, width_bits: usize) -> (u16, u16) {
    let first = from >> width_bits;
    let end = (u32::from(to) + (1 << width_bits) - 1) >> width_bits;
    (first, (end as u16).wrapping_sub(first))
}

/// One cycle of the control: the signals it drives and the registers' next values.
struct Cycle {
    rstart: bool,
    rword: (u16, u16),
    wword: (u16, u16),
    count: u16,
    lead: u16,
    hold: bool,
    done: bool,
    next: Control,
}

impl Params {
    /// The control in state `s`: the Verilog's wires and its `always @(posedge clock)` block.
    fn cycle(&self, s: &Control, x: &Seen) -> Cycle {
        let banks = self.banks as u64;
        let deg = |(a, n): (u16, u16)| run_degree(u64::from(a), u64::from(n), banks) as u16;
        let nc = s.wc.wrapping_add(s.rem);
        let carry = nc >= s.per_row;
        let ne =
            s.we.wrapping_add(s.qk)
                .wrapping_add(s.remm)
                .wrapping_sub(if carry { s.pad } else { 0 });
        let rb0 = s.src.wrapping_add(s.we << 1);
        let rb1 = s.src.wrapping_add(ne.min(s.elems) << 1);
        let rword = word_run(rb0, rb1, self.width_bits());
        let count = x.we.iter().filter(|&&w| w).count() as u16;
        let wb1 = x.waddr0.wrapping_add(count * x.gb);
        let wword = word_run(x.waddr0, wb1, self.width_bits());
        let wdeg = deg(wword);
        let w_eff = if s.wgo { wdeg } else { s.w_deg };
        // A step boundary (X_s): the first after issue, then once the step has lasted both
        // of its degrees (`cnt` counts from 1 in its first cycle).
        let bnd = s.first || (s.run && !s.tail && s.cnt >= s.r_deg && s.cnt >= w_eff);
        let reading = s.total_left != 0;
        let rstart = bnd && !s.lastq && reading;
        let done = s.tail && s.tcnt == 1;
        let mut n = *s;
        n.wgo = false;
        n.cnt = s.cnt.wrapping_add(1);
        if s.wgo {
            n.w_deg = wdeg;
        }
        if bnd {
            n.first = false;
            // After the step that writes the last batch only the pipeline's tail is left.
            if s.lastq {
                n.tail = true;
                n.tcnt = (self.latency - 3) as u16;
            } else {
                n.wgo = !s.first;
                n.w_deg = 0;
                n.cnt = 1;
                n.r_deg = if reading { deg(rword) } else { 0 };
                n.lastq = !reading;
                n.rbase = rword.0;
                for j in 0..GROUP_PORTS {
                    n.goff[j] = x.raddr[j].wrapping_sub(s.rbase << self.width_bits());
                }
            }
            if rstart {
                n.wc = if carry {
                    nc.wrapping_sub(s.per_row)
                } else {
                    nc
                };
                n.we = ne;
                n.total_left = s.total_left.saturating_sub(self.groups as u16);
            }
        }
        if s.tail {
            n.tcnt = s.tcnt.wrapping_sub(1);
        }
        if done {
            n.run = false;
            n.tail = false;
        }
        if x.start {
            n = Control {
                run: true,
                first: true,
                src: x.src,
                elems: x.elems,
                per_row: x.per_row,
                qk: x.qk,
                rem: x.rem,
                remm: x.remm,
                pad: x.pad,
                total_left: x.total,
                ..Control::default()
            };
        }
        Cycle {
            rstart,
            rword,
            wword,
            count,
            lead: x.waddr0 & (self.width as u16 - 1),
            hold: s.run && (s.first || !bnd),
            done,
            next: n,
        }
    }
}

/// The bytes of a value, lowest first.
fn bytes_of<const N: usize>(v: Bits<N>) -> Vec<u8> {
    (0..N / 8)
        .map(|i| v.get_bits::<8>(8 * i).index() as u8)
        .collect()
}

/// A value of `b`'s bytes, lowest first.
fn from_bytes<const N: usize>(b: &[u8]) -> Bits<N> {
    let mut v: Bits<N> = 0.into();
    for (i, &x) in b.iter().enumerate().take(N / 8) {
        v = v | (bits::<N>(u64::from(x)) << (8 * i as LiteralType));
    }
    v
}

impl Logic for BankedPruneUnit {
    fn update(&mut self) {
        self.unit.clock.next = self.clock.val();
        self.rseq.clock.next = self.clock.val();
        self.wseq.clock.next = self.clock.val();
        if self.clock.pos_edge() {
            // The children see this edge a pass later, with their inputs as they were before it:
            // leave them until then.
            self._s = self._next;
            return;
        }
        let p = self._p;
        let u16v = |s: &Signal<In, Bits<16>>| s.val().index() as u16;
        let seen = Seen {
            start: self.start.val(),
            total: u16v(&self.total),
            src: u16v(&self.src),
            elems: u16v(&self.elems),
            per_row: u16v(&self.per_row),
            qk: u16v(&self.qk),
            rem: u16v(&self.rem),
            remm: u16v(&self.remm),
            pad: u16v(&self.pad),
            raddr: std::array::from_fn(|j| self.unit.raddr[j].val().index() as u16),
            we: std::array::from_fn(|j| self.unit.we[j].val()),
            waddr0: self.unit.waddr[0].val().index() as u16,
            gb: self.unit.wlen.val().index() as u16,
        };
        let c = p.cycle(&self._s, &seen);
        self._next = c.next;
        // The PruneUnit's inputs pass through; it is held between steps.
        let u = &mut self.unit;
        u.start.next = self.start.val();
        u.hold.next = c.hold;
        u.n.next = self.n.val();
        u.m.next = self.m.val();
        u.ib.next = self.ib.val();
        u.gb.next = self.gb.val();
        u.total.next = self.total.val();
        u.per_row.next = self.per_row.val();
        u.last_v.next = self.last_v.val();
        u.qk.next = self.qk.val();
        u.rem.next = self.rem.val();
        u.remm.next = self.remm.val();
        u.pad.next = self.pad.val();
        u.dstep.next = self.dstep.val();
        u.src.next = self.src.val();
        u.dst.next = self.dst.val();
        for j in 0..GROUP_PORTS {
            u.init_c[j].next = self.init_c[j].val();
            u.init_elem[j].next = self.init_elem[j].val();
            u.init_dst[j].next = self.init_dst[j].val();
        }
        // Read side: the run of words, and the groups cut out of what it returns.
        let (rs, ws) = (self.rseq.shape(), self.wseq.shape());
        self.rseq.start.next = c.rstart;
        for e in 0..rs.entries() {
            self.rseq.valid[e].next = (e as u16) < c.rword.1;
            self.rseq.word[e].next = bits(u64::from(c.rword.0.wrapping_add(e as u16)));
        }
        let mut words: Vec<u8> = Vec::new();
        for e in 0..rs.entries() {
            words.extend(&bytes_of(self.rseq.rdata_e[e].val())[..p.width]);
        }
        for j in 0..GROUP_PORTS {
            let at = usize::from(self._s.goff[j]);
            let group: Vec<u8> = (0..LANE_BITS / 8)
                .map(|i| words.get(at + i).copied().unwrap_or(0))
                .collect();
            self.unit.rdata[j].next = from_bytes(&group);
        }
        for b in 0..p.banks {
            self.rseq.rdata[b].next = self.rdata[b].val();
            self.rrow[b].next = self.rseq.rrow[b].val();
        }
        // Write side: the packed groups concatenated from the run's first byte.
        let gb = usize::from(seen.gb);
        let mut stream = vec![0u8; ws.entries() * p.width];
        let mut enabled = vec![false; stream.len()];
        for j in 0..usize::from(c.count) {
            let packed = bytes_of(self.unit.wdata[j].val());
            for i in 0..gb {
                if let Some(slot) = stream.get_mut(usize::from(c.lead) + j * gb + i) {
                    *slot = packed[i];
                    enabled[usize::from(c.lead) + j * gb + i] = true;
                }
            }
        }
        self.wseq.start.next = self._s.wgo;
        for e in 0..ws.entries() {
            let at = e * p.width;
            let be = (0..p.width).fold(0u64, |m, i| m | (u64::from(enabled[at + i]) << i));
            self.wseq.valid[e].next = (e as u16) < c.wword.1;
            self.wseq.word[e].next = bits(u64::from(c.wword.0.wrapping_add(e as u16)));
            self.wseq.be[e].next = bits(be);
            self.wseq.data[e].next = from_bytes(&stream[at..at + p.width]);
        }
        for b in 0..p.banks {
            self.wen[b].next = self.wseq.wen[b].val();
            self.wrow[b].next = self.wseq.wrow[b].val();
            self.wdata[b].next = self.wseq.wdata[b].val();
        }
        self.done.next = c.done;
    }

    fn connect(&mut self) {
        self.done.connect();
        self.rrow.iter_mut().for_each(|s| s.connect());
        self.wen.iter_mut().for_each(|s| s.connect());
        self.wrow.iter_mut().for_each(|s| s.connect());
        self.wdata.iter_mut().for_each(|s| s.connect());
        let u = &mut self.unit;
        u.clock.connect();
        u.start.connect();
        u.hold.connect();
        u.n.connect();
        u.m.connect();
        u.ib.connect();
        u.gb.connect();
        u.total.connect();
        u.per_row.connect();
        u.last_v.connect();
        u.qk.connect();
        u.rem.connect();
        u.remm.connect();
        u.pad.connect();
        u.dstep.connect();
        u.src.connect();
        u.dst.connect();
        for j in 0..GROUP_PORTS {
            u.init_c[j].connect();
            u.init_elem[j].connect();
            u.init_dst[j].connect();
            u.rdata[j].connect();
        }
        let (r, w) = (&mut self.rseq, &mut self.wseq);
        r.clock.connect();
        r.start.connect();
        r.valid.iter_mut().for_each(|s| s.connect());
        r.word.iter_mut().for_each(|s| s.connect());
        r.rdata.iter_mut().for_each(|s| s.connect());
        w.clock.connect();
        w.start.connect();
        w.valid.iter_mut().for_each(|s| s.connect());
        w.word.iter_mut().for_each(|s| s.connect());
        w.be.iter_mut().for_each(|s| s.connect());
        w.data.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}

impl BankedPruneUnit {
    fn verilog(&self) -> String {
        let p = self._p;
        let (nr, nw) = (self.rseq.shape().entries(), self.wseq.shape().entries());
        let (w, lw, lb) = (p.width, p.width_bits(), p.bank_bits());
        let dw = 8 * w;
        let mut v = String::new();
        let _ = writeln!(
            v,
            "reg run, first, tail, lastq, wgo;\n\
             reg [15:0] src_q, elems_q, per_row_q, qk_q, rem_q, remm_q, pad_q, left, wc, we_q;\n\
             reg [15:0] cnt, r_deg, w_deg, rbase, tcnt;\n\
             reg [15:0] goff0, goff1, goff2, goff3;"
        );
        // The degree of a contiguous run of words (`run_degree`).
        let _ = writeln!(
            v,
            "function [15:0] degree;\n\
             \x20   input [15:0] first_word;\n\
             \x20   input [15:0] words;\n\
             \x20   reg [15:0] j, t, q, e;\n\
             \x20   begin\n\
             \x20       j = first_word & 16'd{bm};\n\
             \x20       t = words + j;\n\
             \x20       q = t >> {lb};\n\
             \x20       e = t & 16'd{bm};\n\
             \x20       degree = q + {{15'd0, (e != 16'd0) && ((q & 16'd{bm}) + e > j)}};\n\
             \x20   end\n\
             endfunction",
            bm = p.banks - 1
        );
        let _ = writeln!(
            v,
            "wire [15:0] nc = wc + rem_q;\n\
             wire carry = nc >= per_row_q;\n\
             wire [15:0] ne = we_q + qk_q + remm_q - (carry ? pad_q : 16'd0);\n\
             wire [15:0] rlim = (ne < elems_q) ? ne : elems_q;\n\
             wire [15:0] rb0 = src_q + (we_q << 1);\n\
             wire [15:0] rb1 = src_q + (rlim << 1);\n\
             wire [15:0] ra = rb0 >> {lw};\n\
             wire [15:0] rn = ((rb1 + 16'd{wm}) >> {lw}) - ra;\n\
             wire [2:0] count = {{2'd0, unit$we$0}} + {{2'd0, unit$we$1}} + {{2'd0, unit$we$2}} + {{2'd0, unit$we$3}};\n\
             wire [15:0] wb1 = unit$waddr$0 + {{13'd0, count}} * {{10'd0, unit$wlen}};\n\
             wire [15:0] wa = unit$waddr$0 >> {lw};\n\
             wire [15:0] wn = ((wb1 + 16'd{wm}) >> {lw}) - wa;\n\
             wire [15:0] wdeg = degree(wa, wn);\n\
             wire [15:0] w_eff = wgo ? wdeg : w_deg;\n\
             wire bnd = first | (run & !tail & (cnt >= r_deg) & (cnt >= w_eff));\n\
             wire reading = left != 16'd0;\n\
             wire rstart = bnd & !lastq & reading;\n\
             wire fin = tail & (tcnt == 16'd1);",
            wm = w - 1
        );
        v.push_str("always @(posedge clock) begin\n    wgo <= 1'b0;\n    cnt <= cnt + 16'd1;\n");
        v.push_str("    if (wgo) w_deg <= wdeg;\n    if (bnd) begin\n        first <= 1'b0;\n");
        let _ = writeln!(
            v,
            "        if (lastq) begin\n            tail <= 1'b1;\n            tcnt <= 16'd{};\n        end else begin",
            p.latency - 3
        );
        v.push_str(
            "            wgo <= !first;\n            w_deg <= 16'd0;\n            cnt <= 16'd1;\n\
             \x20           r_deg <= reading ? degree(ra, rn) : 16'd0;\n\
             \x20           lastq <= !reading;\n            rbase <= ra;\n",
        );
        for j in 0..GROUP_PORTS {
            let _ = writeln!(
                v,
                "            goff{j} <= unit$raddr${j} - (rbase << {lw});"
            );
        }
        let _ = writeln!(
            v,
            "        end\n        if (rstart) begin\n\
             \x20           wc <= carry ? nc - per_row_q : nc;\n            we_q <= ne;\n\
             \x20           left <= (left > 16'd{g}) ? left - 16'd{g} : 16'd0;\n        end\n    end",
            g = p.groups
        );
        v.push_str(
            "    if (tail) tcnt <= tcnt - 16'd1;\n    if (fin) begin\n        run <= 1'b0;\n        tail <= 1'b0;\n    end\n\
             \x20   if (start) begin\n        run <= 1'b1;\n        first <= 1'b1;\n        tail <= 1'b0;\n\
             \x20       lastq <= 1'b0;\n        wgo <= 1'b0;\n        src_q <= src;\n        elems_q <= elems;\n\
             \x20       per_row_q <= per_row;\n        qk_q <= qk;\n        rem_q <= rem;\n        remm_q <= remm;\n\
             \x20       pad_q <= pad;\n        left <= total;\n        wc <= 16'd0;\n        we_q <= 16'd0;\n\
             \x20       cnt <= 16'd0;\n        r_deg <= 16'd0;\n        w_deg <= 16'd0;\n        rbase <= 16'd0;\n\
             \x20       tcnt <= 16'd0;\n",
        );
        for j in 0..GROUP_PORTS {
            let _ = writeln!(v, "        goff{j} <= 16'd0;");
        }
        v.push_str("    end\nend\n");
        // Gather: the words read, lowest first, and each lane's group cut out at its offset.
        let rbw = nr * dw + LANE_BITS;
        let words: Vec<String> = (0..nr)
            .rev()
            .map(|e| format!("rseq$rdata_e${e}[{}:0]", dw - 1))
            .collect();
        let _ = writeln!(
            v,
            "wire [{}:0] rbuf = {{{LANE_BITS}'d0, {}}};",
            rbw - 1,
            words.join(", ")
        );
        for j in 0..GROUP_PORTS {
            let _ = writeln!(
                v,
                "wire [{}:0] cut{j} = rbuf >> {{goff{j}, 3'd0}};",
                rbw - 1
            );
        }
        // Scatter: the packed groups end to end, moved to the first byte's place in its word.
        let sw = (nw * dw).max(GROUP_BITS * GROUP_PORTS) + 64;
        let gbits = sw - GROUP_BITS;
        for j in 0..GROUP_PORTS {
            let _ = writeln!(
                v,
                "wire [{}:0] pk{j} = (count > 3'd{j}) ? {{{gbits}'d0, unit$wdata${j}}} : {sw}'d0;",
                sw - 1
            );
        }
        let lead = if lw == 0 {
            "16'd0".to_string()
        } else {
            format!("{{{}'d0, unit$waddr$0[{}:0]}}", 16 - lw, lw - 1)
        };
        let _ = writeln!(
            v,
            "wire [15:0] lead = {lead};\n\
             wire [15:0] gbb = {{10'd0, unit$wlen}};\n\
             wire [{top}:0] stream = (pk0 | (pk1 << {{gbb, 3'd0}}) | (pk2 << {{gbb * 16'd2, 3'd0}}) | (pk3 << {{gbb * 16'd3, 3'd0}})) << {{lead, 3'd0}};\n\
             wire [{bt}:0] one = {bw}'d1;\n\
             wire [{bt}:0] bem = ((one << ({{13'd0, count}} * gbb)) - one) << lead;",
            top = sw - 1,
            bw = sw / 8,
            bt = sw / 8 - 1
        );
        v.push_str("always @(*) begin\n");
        v.push_str(
            "    unit$clock = clock;\n    unit$start = start;\n    unit$hold = run & !(bnd & !first);\n",
        );
        for f in [
            "n", "m", "ib", "gb", "total", "per_row", "last_v", "qk", "rem", "remm", "pad",
            "dstep", "src", "dst",
        ] {
            let _ = writeln!(v, "    unit${f} = {f};");
        }
        for j in 0..GROUP_PORTS {
            for f in ["init_c", "init_elem", "init_dst"] {
                let _ = writeln!(v, "    unit${f}${j} = {f}${j};");
            }
            let _ = writeln!(v, "    unit$rdata${j} = cut{j}[{}:0];", LANE_BITS - 1);
        }
        v.push_str("    rseq$clock = clock;\n    rseq$start = rstart;\n");
        for e in 0..nr {
            let _ = writeln!(
                v,
                "    rseq$valid${e} = 16'd{e} < rn;\n    rseq$word${e} = ra + 16'd{e};"
            );
        }
        v.push_str("    wseq$clock = clock;\n    wseq$start = wgo;\n");
        let pad = |total: usize, width: usize, expr: String| {
            if total == width {
                expr
            } else {
                format!("{{{}'d0, {expr}}}", total - width)
            }
        };
        for e in 0..nw {
            let _ = writeln!(
                v,
                "    wseq$valid${e} = 16'd{e} < wn;\n    wseq$word${e} = wa + 16'd{e};\n    wseq$be${e} = {};\n    wseq$data${e} = {};",
                pad(8, w, format!("bem[{}:{}]", e * w + w - 1, e * w)),
                pad(64, dw, format!("stream[{}:{}]", e * dw + dw - 1, e * dw)),
            );
        }
        for b in 0..p.banks {
            let _ = writeln!(
                v,
                "    rseq$rdata${b} = rdata${b};\n    rrow${b} = rseq$rrow${b};\n\
                 \x20   wen${b} = wseq$wen${b};\n    wrow${b} = wseq$wrow${b};\n    wdata${b} = wseq$wdata${b};"
            );
        }
        v.push_str("    done = fin;\nend\n");
        let mut unused = vec![
            "unit$done".to_string(),
            "unit$waddr$1".into(),
            "unit$waddr$2".into(),
            "unit$waddr$3".into(),
            "rseq$last".into(),
            "rseq$done".into(),
            "wseq$done".into(),
            format!("stream[{}:{}]", sw - 1, nw * dw),
            format!("bem[{}:{}]", sw / 8 - 1, nw * w),
        ];
        for j in 0..GROUP_PORTS {
            unused.push(format!("cut{j}[{}:{LANE_BITS}]", rbw - 1));
        }
        if dw < 64 {
            unused.extend((0..nr).map(|e| format!("rseq$rdata_e${e}[63:{dw}]")));
        }
        let _ = writeln!(v, "wire _unused_bits = &{{1'b0, {}}};", unused.join(", "));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmsat_compiler::arch::{Banking, Region};
    use nmsat_compiler::timing::bank_degree;

    #[test]
    fn run_degree_is_the_bank_degree_of_the_run() {
        for banks in [1u64, 2, 4, 8, 16] {
            let region = Region {
                bytes: 1 << 16,
                banks,
                bank_width_bytes: 4,
                ports: 1,
                latency: 1,
                banking: Banking::Physical,
            };
            for a in 0..4 * banks {
                for n in 0..6 * banks {
                    assert_eq!(
                        run_degree(a, n, banks),
                        bank_degree(&region, a..a + n),
                        "banks {banks}, words {a}..{}",
                        a + n
                    );
                }
            }
        }
    }

    #[test]
    fn a_latency_below_four_or_mixed_regions_are_refused() {
        let e = BankedPruneUnit::new(8, 4, 3, 4, 8, 6)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("latency"), "{e}");
        let arch = Arch::load("sat-small").unwrap();
        let e = BankedPruneUnit::for_arch(&arch).err().expect("refused");
        assert!(e.to_string().contains("physical"), "{e}");
    }
}
