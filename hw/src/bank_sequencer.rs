//! `BankWriteSequencer` and `BankReadSequencer`: serve one *access set* (the words a unit needs
//! at once) over a [`BankedRegion`](crate::BankedRegion)'s banks, one word per bank a cycle, in exactly the set's
//! bank degree (`nmsat_compiler::timing::bank_degree`) cycles. [`BankWriteSequencerModel`] and
//! [`BankReadSequencerModel`] are their cycle-exact references in plain Rust, both built on
//! [`ranks`].
//!
//! # The order
//!
//! A set is up to `N` entries, each `valid` with a 16-bit `word` index in the region. Word `w`
//! lives in bank `(w + w/B) mod B` at row `w/B` (the skewed banks of `RegionShape::locate`),
//! after wrapping `w` modulo the region's `B·2^row_bits` words. Entry `e` is served in cycle
//! `rank(e)`: the number of distinct words in `e`'s bank whose first valid occurrence comes
//! before that of `e`'s word. The first occurrence of a word (its *leader*) defines the rank;
//! later entries with the same word ride along in the same cycle. The ranks of a bank's words
//! are `0, 1, …`, so the set takes `max rank + 1` cycles: the bank degree.
//!
//! The hardware latches the set at `start` and computes the ranks combinationally from the
//! latched entries with `N·(N-1)/2` word and bank comparators (`lead`: no earlier valid entry
//! has the word; `lrank`: the leaders before it in its bank; a follower takes its leader's
//! `lrank`). In serving cycle `k`, bank `b` serves the entries of bank `b` and rank `k`, which
//! all hold the same word, and the set ends in the cycle in which no valid entry has a rank
//! above `k` — no degree is counted.
//!
//! # Timing
//!
//! `start` is sampled at a rising edge: the cycle in which it is high is cycle 0, and serving
//! cycle `k` is cycle `1 + k`. A set of degree `d` is served in cycles `1 ..= max(d, 1)`:
//! a set without a valid entry takes one cycle in which nothing is accessed, the way the
//! timing model charges a beat `max(d, 1)` cycles.
//!
//! * Writes: serving cycle `k` drives `wen`/`wrow`/`wdata` of every bank with a word of rank
//!   `k` (the others have `wen = 0`); the region writes them at the edge that ends the cycle.
//!   `done` is high in the last serving cycle, cycle `max(d, 1)`. Entries with the same word
//!   are one write: their byte enables are OR-ed and, where two enable the same byte, the
//!   higher-numbered entry's byte is written.
//! * Reads (one copy): serving cycle `k` drives `rrow` of every bank with a word of rank `k`
//!   (other banks' `rrow` is 0); the region answers a cycle later, and `rdata_e` of each entry
//!   of rank `k` shows its word in cycle `2 + k`, straight from the region's `rdata`, and keeps
//!   it from a register until a later set reads into that entry. A word the region writes in
//!   a serving cycle reads as it was before (the region reads first). `last` is high in the last serving cycle and `done` the
//!   cycle after, cycle `max(d, 1) + 1`, when every valid entry's `rdata_e` holds its word.
//!   Invalid entries keep their `rdata_e` of before.
//!
//! A new `start` may come in any cycle that serves nothing, or in the last serving cycle (the
//! write's `done`, the read's `last`): sets then follow each other without a gap, the read's
//! collection of one set overlapping the serving of the next. A `start` in an earlier serving
//! cycle abandons the rest of the set being served.
//!
//! # Widths
//!
//! The ports are as wide as the region's, so they wire straight across: byte enables 8 bits
//! (the low `W` used), data 64 bits (the low `8·W` used), rows 16 bits (the low `row_bits`
//! used, the rest zero). Word bits above the region's `row_bits + log2 B` are ignored (the
//! word wraps); the region's words must fit the 16-bit index.
//!
//! # Cost
//!
//! yosys 0.23 `synth -flatten` (generic gates), 16-row region:
//!
//! | N × B × W | write: cells, flip-flops | read: cells, flip-flops |
//! |---|---|---|
//! | 36 × 4 × 8 | 35,452, 2,851 | 42,413, 2,672 |
//! | 16 × 32 × 2 | 21,329, 454 | 28,553, 519 |
//!
//! The flip-flops are the latched set (write) and the held words (read, `N·8·W`). The logic is
//! the `B·N·8·W` byte selects and the ranks' `N²` comparators and adders; the rank adders are
//! a chain `N` deep, between the latched set and the region's ports.

use crate::array::signals;
use crate::banked_region::{BankWrite, MAX_BANKS, MAX_DEPTH, MIN_DEPTH};
use crate::error::HwError;
use nmsat_compiler::arch::skewed_bank;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Entries a set may have.
pub const MAX_ENTRIES: usize = 128;
/// Bits of an entry's word index.
pub const WORD_BITS: usize = 16;

/// The size of a sequencer (see the module docs), checked: only [`SequencerShape::new`] makes
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequencerShape {
    entries: usize,
    banks: usize,
    width: usize,
    row_bits: usize,
}

impl SequencerShape {
    /// The shape, if the RTL can build it; otherwise an [`HwError::Unsupported`] naming the
    /// parameter at fault.
    pub fn new(
        entries: usize,
        banks: usize,
        width: usize,
        row_bits: usize,
    ) -> Result<Self, HwError> {
        let unsupported = |field, value: usize, reason: &str, allowed: String| {
            Err(HwError::Unsupported {
                field,
                value: value.to_string(),
                reason: reason.into(),
                allowed,
            })
        };
        if !(1..=MAX_ENTRIES).contains(&entries) {
            return unsupported(
                "entries",
                entries,
                "a set has at least one entry and at most the entries its rank logic is built for",
                format!("1 ..= {MAX_ENTRIES}"),
            );
        }
        if !(banks.is_power_of_two() && banks <= MAX_BANKS) {
            return unsupported(
                "banks",
                banks,
                "banks must be a power of two no larger than a region's",
                format!("1, 2, 4, … {MAX_BANKS}"),
            );
        }
        if ![1, 2, 4, 8].contains(&width) {
            return unsupported(
                "width",
                width,
                "a bank word is 1, 2, 4 or 8 bytes",
                "1, 2, 4, 8".into(),
            );
        }
        let (lo, hi) = (
            MIN_DEPTH.trailing_zeros() as usize,
            MAX_DEPTH.trailing_zeros() as usize,
        );
        if !(lo..=hi).contains(&row_bits) {
            return unsupported(
                "row_bits",
                row_bits,
                "a region's banks are 16 ..= 65536 rows deep",
                format!("{lo} ..= {hi}"),
            );
        }
        let bank_bits = banks.trailing_zeros() as usize;
        if row_bits + bank_bits > WORD_BITS {
            return unsupported(
                "row_bits",
                row_bits,
                "the region's words do not fit the 16-bit word index",
                format!("{lo} ..= {}", WORD_BITS - bank_bits),
            );
        }
        Ok(Self {
            entries,
            banks,
            width,
            row_bits,
        })
    }

    /// Entries `N`.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Banks `B`.
    pub fn banks(&self) -> usize {
        self.banks
    }

    /// Bytes per bank word `W`.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Row bits: the region's banks are `2^row_bits` rows deep.
    pub fn row_bits(&self) -> usize {
        self.row_bits
    }

    /// Words in the region, `B·2^row_bits`: word indices wrap modulo this.
    pub fn words(&self) -> u64 {
        (self.banks as u64) << self.row_bits
    }

    /// The bank and row of word `word` (wrapped modulo the region).
    pub fn locate(&self, word: u16) -> (usize, u16) {
        let w = u64::from(word) % self.words();
        let b = self.banks as u64;
        (skewed_bank(w, b) as usize, (w / b) as u16)
    }

    fn bank_bits(&self) -> usize {
        self.banks.trailing_zeros() as usize
    }
}

/// Each word's serving cycle in a set of `words` (the valid entries, in entry order) over
/// `banks` skewed banks: the number of distinct words of its bank whose first occurrence comes
/// before its own word's. The set's bank degree is the largest rank plus one.
pub fn ranks(words: &[u64], banks: u64) -> Vec<u64> {
    let bank = |w: u64| skewed_bank(w, banks);
    let mut leaders: Vec<(u64, u64)> = Vec::new();
    words
        .iter()
        .map(|&w| {
            if let Some(&(_, r)) = leaders.iter().find(|&&(l, _)| l == w) {
                return r;
            }
            let r = leaders.iter().filter(|&&(l, _)| bank(l) == bank(w)).count() as u64;
            leaders.push((w, r));
            r
        })
        .collect()
}

/// The serving state both sequencers share: the latched set's banks, rows and ranks, and the
/// serving cycle.
#[derive(Clone, Debug)]
struct Serving {
    shape: SequencerShape,
    /// Per entry, when valid: bank, row, rank.
    set: Vec<Option<(usize, u16, u64)>>,
    busy: bool,
    k: u64,
}

impl Serving {
    fn new(shape: SequencerShape) -> Self {
        Self {
            shape,
            set: vec![None; shape.entries()],
            busy: false,
            k: 0,
        }
    }

    /// Entry `e`'s bank and row if it is served this cycle.
    fn at(&self, e: usize) -> Option<(usize, u16)> {
        match self.set[e] {
            Some((b, row, r)) if self.busy && r == self.k => Some((b, row)),
            _ => None,
        }
    }

    /// This is the last serving cycle.
    fn last(&self) -> bool {
        self.busy && self.set.iter().flatten().all(|&(_, _, r)| r <= self.k)
    }

    /// The clock edge; `start` carries the words of the entries (`None`: invalid) when high.
    fn edge(&mut self, start: Option<&[Option<u16>]>) {
        if let Some(words) = start {
            let s = self.shape;
            let valid: Vec<u64> = words
                .iter()
                .flatten()
                .map(|&w| u64::from(w) % s.words())
                .collect();
            let mut r = ranks(&valid, s.banks() as u64).into_iter();
            self.set = words
                .iter()
                .map(|w| {
                    w.map(|w| {
                        let (b, row) = s.locate(w);
                        (b, row, r.next().unwrap_or(0))
                    })
                })
                .collect();
            self.set.resize(s.entries(), None);
            (self.busy, self.k) = (true, 0);
        } else if self.busy {
            self.busy = !self.last();
            self.k += 1;
        }
    }
}

/// One entry of a write set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteEntry {
    /// The word index in the region.
    pub word: u16,
    /// Byte enables (the low `W` bits are used).
    pub be: u8,
    /// The bytes, byte `j` in bits `8j … 8j+7`.
    pub data: u64,
}

/// Entry `x`'s enabled bytes (of `full`, the word's) into `w`, a bank's write at `row`: the
/// entries of one word merge, a later entry's byte replacing an earlier one's.
pub(crate) fn merge_write(w: &mut BankWrite, row: u16, x: &WriteEntry, full: u8) {
    w.row = row;
    for j in (0..8).filter(|j| ((x.be & full) >> j) & 1 == 1) {
        w.enables |= 1 << j;
        w.data = (w.data & !(0xff << (8 * j))) | (x.data & (0xff << (8 * j)));
    }
}

/// Drives a write bundle (`wen`, `wrow`, `wdata` per bank) with a cycle's writes.
pub(crate) fn drive_writes(
    writes: &[BankWrite],
    wen: &mut [Signal<Out, Bits<8>>],
    wrow: &mut [Signal<Out, Bits<16>>],
    wdata: &mut [Signal<Out, Bits<64>>],
) {
    for (b, x) in writes.iter().enumerate() {
        wen[b].next = bits(u64::from(x.enables));
        wrow[b].next = bits(u64::from(x.row));
        wdata[b].next = bits(x.data);
    }
}

/// [`BankWriteSequencer`] in plain Rust, cycle for cycle.
#[derive(Clone, Debug)]
pub struct BankWriteSequencerModel {
    serving: Serving,
    entries: Vec<WriteEntry>,
}

impl BankWriteSequencerModel {
    /// An idle sequencer of `shape`.
    pub fn new(shape: SequencerShape) -> Self {
        Self {
            serving: Serving::new(shape),
            entries: vec![WriteEntry::default(); shape.entries()],
        }
    }

    /// This cycle's writes, one per bank (the region's `wen`/`wrow`/`wdata`), and `done`.
    pub fn outputs(&self) -> (Vec<BankWrite>, bool) {
        let s = self.serving.shape;
        let full = ((1u16 << s.width()) - 1) as u8;
        let mut writes = vec![BankWrite::default(); s.banks()];
        for (e, x) in self.entries.iter().enumerate() {
            if let Some((b, row)) = self.serving.at(e) {
                merge_write(&mut writes[b], row, x, full);
            }
        }
        (writes, self.serving.last())
    }

    /// The clock edge; `start` carries the set (one per entry, `None`: invalid) when high.
    pub fn edge(&mut self, start: Option<&[Option<WriteEntry>]>) {
        match start {
            Some(set) => {
                let words: Vec<Option<u16>> = set.iter().map(|x| x.map(|x| x.word)).collect();
                for (e, x) in set.iter().enumerate().take(self.entries.len()) {
                    self.entries[e] = x.unwrap_or_default();
                }
                self.serving.edge(Some(&words));
            }
            None => self.serving.edge(None),
        }
    }
}

/// [`BankReadSequencer`] in plain Rust, cycle for cycle.
#[derive(Clone, Debug)]
pub struct BankReadSequencerModel {
    serving: Serving,
    /// Per entry: the bank it collects from this cycle.
    collect: Vec<Option<usize>>,
    held: Vec<u64>,
    done: bool,
}

impl BankReadSequencerModel {
    /// An idle sequencer of `shape`, every `rdata_e` zero.
    pub fn new(shape: SequencerShape) -> Self {
        Self {
            serving: Serving::new(shape),
            collect: vec![None; shape.entries()],
            held: vec![0; shape.entries()],
            done: false,
        }
    }

    /// This cycle's row per bank (`rrow`), the region's rows presented this cycle.
    pub fn rrow(&self) -> Vec<u16> {
        let mut rows = vec![0; self.serving.shape.banks()];
        for e in 0..self.collect.len() {
            if let Some((b, row)) = self.serving.at(e) {
                rows[b] = row;
            }
        }
        rows
    }

    /// Each entry's `rdata_e` this cycle, given the region's `rdata` of the copy (per bank).
    pub fn rdata_e(&self, rdata: &[u64]) -> Vec<u64> {
        let mask = u64::MAX >> (64 - 8 * self.serving.shape.width());
        (0..self.held.len())
            .map(|e| match self.collect[e] {
                Some(b) => rdata[b] & mask,
                None => self.held[e],
            })
            .collect()
    }

    /// `last` (the last serving cycle) and `done` (every valid entry's data is out).
    pub fn last_done(&self) -> (bool, bool) {
        (self.serving.last(), self.done)
    }

    /// The clock edge, given the region's `rdata` this cycle; `start` carries the set's words
    /// (`None`: invalid) when high.
    pub fn edge(&mut self, start: Option<&[Option<u16>]>, rdata: &[u64]) {
        self.held = self.rdata_e(rdata);
        self.done = self.serving.last();
        self.collect = (0..self.held.len())
            .map(|e| self.serving.at(e).map(|(b, _)| b))
            .collect();
        self.serving.edge(start);
    }
}

/// `expr` padded with zeros from `width` to `total` bits.
pub(crate) fn pad(total: usize, width: usize, expr: &str) -> String {
    if total == width {
        expr.to_string()
    } else {
        format!("{{{}'d0, {expr}}}", total - width)
    }
}

/// An OR of `terms`, or a zero of `width` bits when there are none.
fn or(terms: &[String], width: usize) -> String {
    if terms.is_empty() {
        format!("{width}'d0")
    } else {
        terms.join(" | ")
    }
}

/// The width of the serving cycle `k` and of the ranks of a set of `s.entries()`: ranks are
/// below N, and `k` counts up to the degree, at most N.
pub(crate) fn round_bits(s: &SequencerShape) -> usize {
    (usize::BITS - s.entries().leading_zeros()) as usize
}

/// The serving logic both sequencers share: the latched words `qv$e`/`qw$e`, the `busy`/`k`
/// state, and [`rank_verilog`] on them. `latch` is extra lines of the `start` branch.
fn serving_verilog(s: &SequencerShape, latch: &str) -> String {
    let n = s.entries();
    let wb = s.row_bits() + s.bank_bits();
    let cw = round_bits(s);
    let mut v = format!("reg busy;\nreg [{}:0] k;\n", cw - 1);
    for e in 0..n {
        let _ = writeln!(v, "reg qv{e};\nreg [{}:0] qw{e};", wb - 1);
    }
    v.push_str("always @(posedge clock) begin\n    if (start) begin\n");
    let _ = writeln!(v, "        busy <= 1'b1;\n        k <= {cw}'d0;");
    for e in 0..n {
        let _ = writeln!(
            v,
            "        qv{e} <= valid${e};\n        qw{e} <= word${e}[{}:0];",
            wb - 1
        );
    }
    v.push_str(latch);
    let _ = writeln!(
        v,
        "    end else if (busy) begin\n        busy <= !fin;\n        k <= k + {cw}'d1;\n    end\nend"
    );
    v.push_str(&rank_verilog(s));
    v
}

/// The ranks of the entries `qv$e` (valid) and `qw$e` (word, `row_bits + log2 B` bits), and
/// what serving cycle `k` ([`round_bits`] wide) serves while `busy`: the entries' `row$e`,
/// `bank$e`, `rank$e`, `at$e` (served this cycle), `hit$b$e` (bank `b` serves entry `e`),
/// `pending` (a valid entry's rank is above `k`) and `fin` (`busy`, nothing pending: the last
/// serving cycle). The latching sequencers and the live step servers
/// ([`crate::step_server`]) both serve by it.
pub(crate) fn rank_verilog(s: &SequencerShape) -> String {
    let (n, lb, rb) = (s.entries(), s.bank_bits(), s.row_bits());
    let wb = rb + lb;
    let bw = lb.max(1);
    let cw = round_bits(s);
    let mut v = String::new();
    for e in 0..n {
        let _ = writeln!(v, "wire [{}:0] row{e} = qw{e}[{}:{lb}];", rb - 1, wb - 1);
        if lb == 0 {
            let _ = writeln!(v, "wire [0:0] bank{e} = 1'b0;");
        } else {
            let high = if rb >= lb {
                format!("row{e}[{}:0]", lb - 1)
            } else {
                pad(lb, rb, &format!("row{e}"))
            };
            let _ = writeln!(
                v,
                "wire [{}:0] bank{e} = qw{e}[{}:0] + {high};",
                lb - 1,
                lb - 1
            );
        }
    }
    for e in 0..n {
        for f in 0..e {
            let _ = writeln!(v, "wire eq{f}_{e} = qv{f} & (qw{f} == qw{e});");
        }
        let earlier: Vec<String> = (0..e).map(|f| format!("eq{f}_{e}")).collect();
        if earlier.is_empty() {
            let _ = writeln!(v, "wire lead{e} = qv{e};");
        } else {
            let _ = writeln!(v, "wire lead{e} = qv{e} & !({});", earlier.join(" | "));
        }
        let before: Vec<String> = (0..e)
            .map(|f| pad(cw, 1, &format!("(lead{f} & (bank{f} == bank{e}))")))
            .collect();
        let sum = if before.is_empty() {
            format!("{cw}'d0")
        } else {
            before.join(" + ")
        };
        let _ = writeln!(v, "wire [{}:0] lrank{e} = {sum};", cw - 1);
        let follow: Vec<String> = (0..e)
            .map(|f| format!("({{{cw}{{lead{f} & eq{f}_{e}}}}} & lrank{f})"))
            .collect();
        let _ = writeln!(
            v,
            "wire [{}:0] rank{e} = lead{e} ? lrank{e} : {};",
            cw - 1,
            or(&follow, cw)
        );
        let _ = writeln!(v, "wire at{e} = busy & qv{e} & (rank{e} == k);");
        for b in 0..s.banks() {
            let _ = writeln!(v, "wire hit{b}_{e} = at{e} & (bank{e} == {bw}'d{b});");
        }
    }
    // Entry 0's rank is always 0.
    let later: Vec<String> = (1..n).map(|e| format!("(qv{e} & (rank{e} > k))")).collect();
    let _ = writeln!(v, "wire pending = {};", or(&later, 1));
    v.push_str("wire fin = busy & !pending;\n");
    v
}

/// The write port of a region from the served entries (`hit$b$e`, `row$e` of
/// [`rank_verilog`], and each entry's byte enables `qbe$e` and bytes `qd$e`): per bank
/// `wen`, `wrow`, `wdata`, the entries with the same word merged, the higher-numbered entry's
/// byte winning.
pub(crate) fn write_ports_verilog(s: &SequencerShape) -> String {
    let (n, w, rb) = (s.entries(), s.width(), s.row_bits());
    let mut v = String::new();
    for b in 0..s.banks() {
        // Ascending entries: the higher-numbered entry's byte is the one that stays.
        let _ = writeln!(
            v,
            "reg [{}:0] wd{b};\nalways @(*) begin\n    wd{b} = {}'d0;",
            8 * w - 1,
            8 * w
        );
        for e in 0..n {
            for j in 0..w {
                let _ = writeln!(
                    v,
                    "    if (hit{b}_{e} & qbe{e}[{j}]) wd{b}[{hi}:{lo}] = qd{e}[{hi}:{lo}];",
                    hi = 8 * j + 7,
                    lo = 8 * j
                );
            }
        }
        v.push_str("end\n");
    }
    v.push_str("always @(*) begin\n");
    for b in 0..s.banks() {
        let en: Vec<String> = (0..n)
            .map(|e| format!("({{{w}{{hit{b}_{e}}}}} & qbe{e})"))
            .collect();
        let rows: Vec<String> = (0..n)
            .map(|e| format!("({{{rb}{{hit{b}_{e}}}}} & row{e})"))
            .collect();
        let _ = writeln!(
            v,
            "    wen${b} = {};",
            pad(8, w, &format!("({})", en.join(" | ")))
        );
        let _ = writeln!(
            v,
            "    wrow${b} = {};",
            pad(16, rb, &format!("({})", rows.join(" | ")))
        );
        let _ = writeln!(v, "    wdata${b} = {};", pad(64, 8 * w, &format!("wd{b}")));
    }
    v.push_str("end\n");
    v
}

/// The read side of one copy of a region from the served entries (`at$e`, `hit$b$e`, `row$e`,
/// `bank$e` of [`rank_verilog`]): per bank `rrow`, and per entry `rdata_e` — its word from
/// the copy's `rdata` in the cycle after it is served, and kept in `held$e` until the entry is
/// served again (a collection a cycle behind the serving).
pub(crate) fn read_ports_verilog(s: &SequencerShape) -> String {
    let (n, w, rb, lb) = (s.entries(), s.width(), s.row_bits(), s.bank_bits());
    let dw = 8 * w;
    let mut v = String::new();
    for e in 0..n {
        let _ = writeln!(v, "reg cs{e};\nreg [{}:0] held{e};", dw - 1);
        if lb > 0 {
            let _ = writeln!(v, "reg [{}:0] cb{e};", lb - 1);
        }
    }
    v.push_str("always @(posedge clock) begin\n");
    for e in 0..n {
        let _ = writeln!(v, "    cs{e} <= at{e};\n    held{e} <= pick{e};");
        if lb > 0 {
            let _ = writeln!(v, "    cb{e} <= bank{e};");
        }
    }
    v.push_str("end\n");
    for e in 0..n {
        let word = if lb == 0 {
            format!("rdata$0[{}:0]", dw - 1)
        } else {
            let terms: Vec<String> = (0..s.banks())
                .map(|b| format!("({{{dw}{{cb{e} == {lb}'d{b}}}}} & rdata${b}[{}:0])", dw - 1))
                .collect();
            format!("({})", terms.join(" | "))
        };
        let _ = writeln!(v, "wire [{}:0] pick{e} = cs{e} ? {word} : held{e};", dw - 1);
    }
    v.push_str("always @(*) begin\n");
    for b in 0..s.banks() {
        let rows: Vec<String> = (0..n)
            .map(|e| format!("({{{rb}{{hit{b}_{e}}}}} & row{e})"))
            .collect();
        let _ = writeln!(
            v,
            "    rrow${b} = {};",
            pad(16, rb, &format!("({})", rows.join(" | ")))
        );
    }
    for e in 0..n {
        let _ = writeln!(v, "    rdata_e${e} = {};", pad(64, dw, &format!("pick{e}")));
    }
    v.push_str("end\n");
    v
}

/// The word inputs' bits above the region's words, for the `_unused` waiver.
fn unused_word_bits(s: &SequencerShape, unused: &mut Vec<String>) {
    let wb = s.row_bits() + s.bank_bits();
    if wb < WORD_BITS {
        unused.extend((0..s.entries()).map(|e| format!("word${e}[15:{wb}]")));
    }
}

/// Reads the ignored input bits into one `_unused_*` wire, which Verilator's `-Wall` waives.
pub(crate) fn waive(v: &mut String, unused: &[String]) {
    if !unused.is_empty() {
        let _ = writeln!(v, "wire _unused_bits = &{{1'b0, {}}};", unused.join(", "));
    }
}

/// Serves a set of writes over a region's banks; see the module docs.
#[derive(LogicBlock)]
pub struct BankWriteSequencer {
    /// The clock.
    pub clock: Signal<In, Clock>,
    /// Latch the entries: a set begins.
    pub start: Signal<In, Bit>,
    /// Per entry: it is part of the set.
    pub valid: Vec<Signal<In, Bit>>,
    /// Per entry: the word index in the region.
    pub word: Vec<Signal<In, Bits<16>>>,
    /// Per entry: byte enables (the low `W` bits are used).
    pub be: Vec<Signal<In, Bits<8>>>,
    /// Per entry: the bytes (byte `j` in bits `8j … 8j+7`, the low `8·W` bits used).
    pub data: Vec<Signal<In, Bits<64>>>,
    /// Per bank: the region's `wen`.
    pub wen: Vec<Signal<Out, Bits<8>>>,
    /// Per bank: the region's `wrow`.
    pub wrow: Vec<Signal<Out, Bits<16>>>,
    /// Per bank: the region's `wdata`.
    pub wdata: Vec<Signal<Out, Bits<64>>>,
    /// The last serving cycle of the set.
    pub done: Signal<Out, Bit>,
    _model: BankWriteSequencerModel,
    _shape: SequencerShape,
}

impl BankWriteSequencer {
    /// A sequencer of `entries` entries over `banks` banks of `width`-byte words, `2^row_bits`
    /// rows deep (see [`SequencerShape::new`] for what is supported).
    pub fn new(
        entries: usize,
        banks: usize,
        width: usize,
        row_bits: usize,
    ) -> Result<Self, HwError> {
        Ok(Self::from_shape(SequencerShape::new(
            entries, banks, width, row_bits,
        )?))
    }

    /// A sequencer of a checked shape.
    pub fn from_shape(shape: SequencerShape) -> Self {
        let (n, b) = (shape.entries(), shape.banks());
        Self {
            clock: Default::default(),
            start: Default::default(),
            valid: signals(n),
            word: signals(n),
            be: signals(n),
            data: signals(n),
            wen: signals(b),
            wrow: signals(b),
            wdata: signals(b),
            done: Default::default(),
            _model: BankWriteSequencerModel::new(shape),
            _shape: shape,
        }
    }

    /// The shape it was built with.
    pub fn shape(&self) -> SequencerShape {
        self._shape
    }

    fn verilog(&self) -> String {
        let s = self._shape;
        let (n, w) = (s.entries(), s.width());
        let mut latch = String::new();
        for e in 0..n {
            let _ = writeln!(
                latch,
                "        qbe{e} <= be${e}[{}:0];\n        qd{e} <= data${e}[{}:0];",
                w - 1,
                8 * w - 1
            );
        }
        let mut v = String::new();
        for e in 0..n {
            let _ = writeln!(v, "reg [{}:0] qbe{e};\nreg [{}:0] qd{e};", w - 1, 8 * w - 1);
        }
        v.push_str(&serving_verilog(&s, &latch));
        v.push_str(&write_ports_verilog(&s));
        v.push_str("always @(*) done = fin;\n");
        let mut unused = Vec::new();
        unused_word_bits(&s, &mut unused);
        if w < 8 {
            unused.extend((0..n).map(|e| format!("be${e}[7:{w}]")));
            unused.extend((0..n).map(|e| format!("data${e}[63:{}]", 8 * w)));
        }
        waive(&mut v, &unused);
        v
    }
}

impl Logic for BankWriteSequencer {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let set: Option<Vec<Option<WriteEntry>>> = self.start.val().then(|| {
                (0..self._shape.entries())
                    .map(|e| {
                        self.valid[e].val().then(|| WriteEntry {
                            word: self.word[e].val().index() as u16,
                            be: self.be[e].val().index() as u8,
                            data: self.data[e].val().to_u64(),
                        })
                    })
                    .collect()
            });
            self._model.edge(set.as_deref());
        }
        let (writes, done) = self._model.outputs();
        drive_writes(&writes, &mut self.wen, &mut self.wrow, &mut self.wdata);
        self.done.next = done;
    }

    fn connect(&mut self) {
        self.wen.iter_mut().for_each(|s| s.connect());
        self.wrow.iter_mut().for_each(|s| s.connect());
        self.wdata.iter_mut().for_each(|s| s.connect());
        self.done.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}

/// Serves a set of reads over one copy of a region's banks; see the module docs.
#[derive(LogicBlock)]
pub struct BankReadSequencer {
    /// The clock.
    pub clock: Signal<In, Clock>,
    /// Latch the entries: a set begins.
    pub start: Signal<In, Bit>,
    /// Per entry: it is part of the set.
    pub valid: Vec<Signal<In, Bit>>,
    /// Per entry: the word index in the region.
    pub word: Vec<Signal<In, Bits<16>>>,
    /// Per bank: the copy's `rdata`, from the region.
    pub rdata: Vec<Signal<In, Bits<64>>>,
    /// Per bank: the copy's `rrow`, to the region.
    pub rrow: Vec<Signal<Out, Bits<16>>>,
    /// Per entry: its word (zero above `8·W` bits), from the cycle its bank answers on.
    pub rdata_e: Vec<Signal<Out, Bits<64>>>,
    /// The last serving cycle: the next set may start.
    pub last: Signal<Out, Bit>,
    /// Every valid entry's `rdata_e` holds its word (the cycle after `last`).
    pub done: Signal<Out, Bit>,
    _model: BankReadSequencerModel,
    _shape: SequencerShape,
}

impl BankReadSequencer {
    /// A sequencer of `entries` entries over `banks` banks of `width`-byte words, `2^row_bits`
    /// rows deep (see [`SequencerShape::new`] for what is supported).
    pub fn new(
        entries: usize,
        banks: usize,
        width: usize,
        row_bits: usize,
    ) -> Result<Self, HwError> {
        Ok(Self::from_shape(SequencerShape::new(
            entries, banks, width, row_bits,
        )?))
    }

    /// A sequencer of a checked shape.
    pub fn from_shape(shape: SequencerShape) -> Self {
        let (n, b) = (shape.entries(), shape.banks());
        Self {
            clock: Default::default(),
            start: Default::default(),
            valid: signals(n),
            word: signals(n),
            rdata: signals(b),
            rrow: signals(b),
            rdata_e: signals(n),
            last: Default::default(),
            done: Default::default(),
            _model: BankReadSequencerModel::new(shape),
            _shape: shape,
        }
    }

    /// The shape it was built with.
    pub fn shape(&self) -> SequencerShape {
        self._shape
    }

    fn verilog(&self) -> String {
        let s = self._shape;
        let w = s.width();
        let dw = 8 * w;
        let mut v = serving_verilog(&s, "");
        v.push_str(&read_ports_verilog(&s));
        v.push_str(
            "reg cdone;\nalways @(posedge clock) cdone <= fin;\n\
             always @(*) begin\n    last = fin;\n    done = cdone;\nend\n",
        );
        let mut unused = Vec::new();
        unused_word_bits(&s, &mut unused);
        if w < 8 {
            unused.extend((0..s.banks()).map(|b| format!("rdata${b}[63:{dw}]")));
        }
        waive(&mut v, &unused);
        v
    }
}

impl Logic for BankReadSequencer {
    fn update(&mut self) {
        let rdata: Vec<u64> = self.rdata.iter().map(|s| s.val().to_u64()).collect();
        if self.clock.pos_edge() {
            let words: Option<Vec<Option<u16>>> = self.start.val().then(|| {
                (0..self._shape.entries())
                    .map(|e| {
                        self.valid[e]
                            .val()
                            .then(|| self.word[e].val().index() as u16)
                    })
                    .collect()
            });
            self._model.edge(words.as_deref(), &rdata);
        }
        for (b, row) in self._model.rrow().into_iter().enumerate() {
            self.rrow[b].next = bits(u64::from(row));
        }
        for (e, x) in self._model.rdata_e(&rdata).into_iter().enumerate() {
            self.rdata_e[e].next = bits(x);
        }
        let (last, done) = self._model.last_done();
        self.last.next = last;
        self.done.next = done;
    }

    fn connect(&mut self) {
        self.rrow.iter_mut().for_each(|s| s.connect());
        self.rdata_e.iter_mut().for_each(|s| s.connect());
        self.last.connect();
        self.done.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmsat_compiler::arch::{Banking, Region};
    use nmsat_compiler::timing::bank_degree;

    fn region(banks: u64) -> Region {
        Region {
            bytes: 4096,
            banks,
            bank_width_bytes: 8,
            ports: 1,
            latency: 1,
            banking: Banking::Physical,
        }
    }

    #[test]
    fn bank_sequencer_ranks_follow_first_occurrences() {
        // 4 skewed banks: words 0, 5, 10, 3, 4 are in banks 0, 2, 0 (row 2 rotated by two),
        // 3 and 1; 10 comes second in bank 0, and the second 10 rides with the first.
        assert_eq!(ranks(&[0, 5, 10, 3, 10, 4], 4), vec![0, 0, 1, 0, 1, 0]);
        // Words 7, 0 and 13 are all in bank 0; the repeated 7 keeps its rank.
        assert_eq!(ranks(&[7, 0, 13, 7], 4), vec![0, 1, 2, 0]);
        assert_eq!(ranks(&[], 4), Vec::<u64>::new());
        assert_eq!(ranks(&[9, 9, 9], 1), vec![0, 0, 0]);
    }

    #[test]
    fn bank_sequencer_degree_is_the_bank_degree() {
        let mut x: u64 = 1;
        for banks in [1u64, 2, 4, 8, 32] {
            for _ in 0..2000 {
                let mut words = Vec::new();
                for _ in 0..(x % 20) {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    words.push((x >> 33) % 40);
                }
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = ranks(&words, banks);
                let degree = r.iter().max().map_or(0, |m| m + 1);
                assert_eq!(
                    degree,
                    bank_degree(&region(banks), words.clone()),
                    "{words:?}"
                );
            }
        }
    }

    #[test]
    fn bank_sequencer_shapes_wrap_words_and_refuse_sizes() {
        let s = SequencerShape::new(4, 4, 8, 4).unwrap();
        assert_eq!(s.words(), 64);
        assert_eq!(s.locate(4), (1, 1));
        assert_eq!(s.locate(64 + 4), (1, 1));
        for (n, b, w, r, field) in [
            (0, 4, 8, 4, "entries"),
            (MAX_ENTRIES + 1, 4, 8, 4, "entries"),
            (4, 3, 8, 4, "banks"),
            (4, 64, 8, 4, "banks"),
            (4, 4, 3, 4, "width"),
            (4, 4, 16, 4, "width"),
            (4, 4, 8, 3, "row_bits"),
            (4, 4, 8, 17, "row_bits"),
            (4, 4, 8, 15, "row_bits"),
        ] {
            match SequencerShape::new(n, b, w, r) {
                Err(HwError::Unsupported { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{n} {b} {w} {r}: {other:?}"),
            }
        }
    }
}
