//! `StepReadServer` and `StepWriteServer`: serve the *live* access set of a held unit over a
//! [`BankedRegion`](crate::BankedRegion)'s banks, round by round, without latching it.
//!
//! A unit that is held while its step's accesses are served (the vector unit: its `hold`
//! repeats the step's addresses, sizes and write outputs) shows the same entries in every
//! cycle of the step, so a server can compute their ranks combinationally from its inputs
//! every cycle, as the latching sequencers of [`crate::bank_sequencer`] do from their latched
//! set, with the same logic (`rank_verilog`). A round counter `round`, which the unit's
//! wrapper shares among its servers and resets when the step ends, selects what the banks
//! serve: in round `k` every entry of rank `k` (ranks as [`ranks`]: first occurrences of a
//! word in its bank, duplicates riding along). `more` says an entry's rank is above `round`:
//! the step needs another round. A step of degree `d` thus takes `max(d, 1)` rounds, and its
//! owner holds the unit while any server has `more`.
//!
//! * Write: round `k` drives `wen`/`wrow`/`wdata` of each bank with an entry of rank `k`
//!   (entries of one word merged, the higher-numbered entry's byte winning); the region writes
//!   them at the edge that ends the round. Each word is written in its own round only.
//! * Read (one copy): round `k` drives `rrow` of each bank with an entry of rank `k`; each such
//!   entry's `rdata_e` shows its word in the next cycle, straight from the region's `rdata`,
//!   and keeps it in a register until the entry is served again.
//!
//! Rounds at or beyond `2^bits` for the ranks' width serve nothing and have no `more`.

use crate::array::signals;
use crate::bank_sequencer::{
    drive_writes, merge_write, rank_verilog, ranks, read_ports_verilog, round_bits, waive,
    write_ports_verilog, SequencerShape, WriteEntry, WORD_BITS,
};
use crate::banked_region::BankWrite;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Bits of the round counter.
pub const ROUND_BITS: usize = 8;

/// Per entry, the bank and row it is served on in `round`, if it is, and whether a later
/// round has an entry: the serving both servers' models share.
fn serve(
    s: &SequencerShape,
    words: &[Option<u16>],
    round: u64,
) -> (Vec<Option<(usize, u16)>>, bool) {
    let valid: Vec<u64> = words
        .iter()
        .flatten()
        .map(|&w| u64::from(w) % s.words())
        .collect();
    let mut r = ranks(&valid, s.banks() as u64).into_iter();
    let mut more = false;
    let at = words
        .iter()
        .map(|w| {
            let w = (*w)?;
            let rank = r.next().unwrap_or(0);
            more |= rank > round;
            (rank == round).then(|| s.locate(w))
        })
        .collect();
    (at, more)
}

/// The live entries and the round as the ranks see them (`qv`, `qw`, `busy`, `k`), shared by
/// both servers' Verilog.
fn live_verilog(s: &SequencerShape) -> String {
    let wb = s.row_bits() + s.banks().trailing_zeros() as usize;
    let cw = round_bits(s);
    let mut v = String::new();
    let busy = if cw >= ROUND_BITS {
        "1'b1".to_string()
    } else {
        format!("~|round[{}:{cw}]", ROUND_BITS - 1)
    };
    let _ = writeln!(
        v,
        "wire busy = {busy};\nwire [{}:0] k = round[{}:0];",
        cw - 1,
        cw - 1
    );
    for e in 0..s.entries() {
        let _ = writeln!(
            v,
            "wire qv{e} = valid${e};\nwire [{}:0] qw{e} = word${e}[{}:0];",
            wb - 1,
            wb - 1
        );
    }
    v.push_str(&rank_verilog(s));
    v.push_str("always @(*) more = pending & busy;\n");
    v
}

/// The input bits the servers ignore: word bits above the region's, for the `_unused` waiver.
fn unused_bits(s: &SequencerShape) -> Vec<String> {
    let wb = s.row_bits() + s.banks().trailing_zeros() as usize;
    let mut unused = vec!["fin".to_string()];
    if wb < WORD_BITS {
        unused.extend((0..s.entries()).map(|e| format!("word${e}[15:{wb}]")));
    }
    unused
}

/// Serves a held unit's live writes on a region's write port; see the module docs.
#[derive(LogicBlock)]
pub struct StepWriteServer {
    /// The round of the step.
    pub round: Signal<In, Bits<ROUND_BITS>>,
    /// Per entry: it is part of the step's set.
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
    /// An entry's rank is above the round.
    pub more: Signal<Out, Bit>,
    _shape: SequencerShape,
}

impl StepWriteServer {
    /// A server of a checked shape.
    pub fn from_shape(shape: SequencerShape) -> Self {
        let (n, b) = (shape.entries(), shape.banks());
        Self {
            round: Default::default(),
            valid: signals(n),
            word: signals(n),
            be: signals(n),
            data: signals(n),
            wen: signals(b),
            wrow: signals(b),
            wdata: signals(b),
            more: Default::default(),
            _shape: shape,
        }
    }

    /// The shape it was built with.
    pub fn shape(&self) -> SequencerShape {
        self._shape
    }

    /// This round's writes, one per bank, and `more`, for entries `set` (`None`: invalid):
    /// the server's model.
    pub fn model(
        shape: &SequencerShape,
        set: &[Option<WriteEntry>],
        round: u64,
    ) -> (Vec<BankWrite>, bool) {
        let words: Vec<Option<u16>> = set.iter().map(|x| x.map(|x| x.word)).collect();
        let (at, more) = serve(shape, &words, round);
        let full = ((1u16 << shape.width()) - 1) as u8;
        let mut writes = vec![BankWrite::default(); shape.banks()];
        for (x, (b, row)) in set
            .iter()
            .zip(&at)
            .filter_map(|(x, a)| Some(((*x)?, (*a)?)))
        {
            merge_write(&mut writes[b], row, &x, full);
        }
        (writes, more)
    }

    fn verilog(&self) -> String {
        let s = self._shape;
        let (n, w) = (s.entries(), s.width());
        let mut v = String::new();
        for e in 0..n {
            let _ = writeln!(
                v,
                "wire [{}:0] qbe{e} = be${e}[{}:0];\nwire [{}:0] qd{e} = data${e}[{}:0];",
                w - 1,
                w - 1,
                8 * w - 1,
                8 * w - 1
            );
        }
        v.push_str(&live_verilog(&s));
        v.push_str(&write_ports_verilog(&s));
        let mut unused = unused_bits(&s);
        if w < 8 {
            unused.extend((0..n).map(|e| format!("be${e}[7:{w}]")));
            unused.extend((0..n).map(|e| format!("data${e}[63:{}]", 8 * w)));
        }
        waive(&mut v, &unused);
        v
    }
}

impl Logic for StepWriteServer {
    fn update(&mut self) {
        let s = self._shape;
        let set: Vec<Option<WriteEntry>> = (0..s.entries())
            .map(|e| {
                self.valid[e].val().then(|| WriteEntry {
                    word: self.word[e].val().index() as u16,
                    be: self.be[e].val().index() as u8,
                    data: self.data[e].val().to_u64(),
                })
            })
            .collect();
        let (writes, more) = Self::model(&s, &set, self.round.val().index() as u64);
        drive_writes(&writes, &mut self.wen, &mut self.wrow, &mut self.wdata);
        self.more.next = more;
    }

    fn connect(&mut self) {
        self.wen.iter_mut().for_each(|s| s.connect());
        self.wrow.iter_mut().for_each(|s| s.connect());
        self.wdata.iter_mut().for_each(|s| s.connect());
        self.more.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}

/// Serves a held unit's live reads on one copy of a region; see the module docs.
#[derive(LogicBlock)]
pub struct StepReadServer {
    /// The clock of the collection.
    pub clock: Signal<In, Clock>,
    /// The round of the step.
    pub round: Signal<In, Bits<ROUND_BITS>>,
    /// Per entry: it is part of the step's set.
    pub valid: Vec<Signal<In, Bit>>,
    /// Per entry: the word index in the region.
    pub word: Vec<Signal<In, Bits<16>>>,
    /// Per bank: the copy's `rdata`, from the region.
    pub rdata: Vec<Signal<In, Bits<64>>>,
    /// Per bank: the copy's `rrow`, to the region.
    pub rrow: Vec<Signal<Out, Bits<16>>>,
    /// Per entry: its word (zero above `8·W` bits) from the cycle after the round that serves
    /// it until it is served again.
    pub rdata_e: Vec<Signal<Out, Bits<64>>>,
    /// An entry's rank is above the round.
    pub more: Signal<Out, Bit>,
    _shape: SequencerShape,
    /// Per entry: the bank it collects from this cycle, and its word held.
    _collect: Vec<Option<usize>>,
    _held: Vec<u64>,
}

impl StepReadServer {
    /// A server of a checked shape.
    pub fn from_shape(shape: SequencerShape) -> Self {
        let (n, b) = (shape.entries(), shape.banks());
        Self {
            clock: Default::default(),
            round: Default::default(),
            valid: signals(n),
            word: signals(n),
            rdata: signals(b),
            rrow: signals(b),
            rdata_e: signals(n),
            more: Default::default(),
            _shape: shape,
            _collect: vec![None; n],
            _held: vec![0; n],
        }
    }

    /// The shape it was built with.
    pub fn shape(&self) -> SequencerShape {
        self._shape
    }

    fn served(&self) -> (Vec<Option<(usize, u16)>>, bool) {
        let words: Vec<Option<u16>> = (0..self._shape.entries())
            .map(|e| {
                self.valid[e]
                    .val()
                    .then(|| self.word[e].val().index() as u16)
            })
            .collect();
        serve(&self._shape, &words, self.round.val().index() as u64)
    }

    fn rdata_e_now(&self) -> Vec<u64> {
        let mask = u64::MAX >> (64 - 8 * self._shape.width());
        (0..self._held.len())
            .map(|e| match self._collect[e] {
                Some(b) => self.rdata[b].val().to_u64() & mask,
                None => self._held[e],
            })
            .collect()
    }

    fn verilog(&self) -> String {
        let s = self._shape;
        let dw = 8 * s.width();
        let mut v = live_verilog(&s);
        v.push_str(&read_ports_verilog(&s));
        let mut unused = unused_bits(&s);
        if dw < 64 {
            unused.extend((0..s.banks()).map(|b| format!("rdata${b}[63:{dw}]")));
        }
        waive(&mut v, &unused);
        v
    }
}

impl Logic for StepReadServer {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self._held = self.rdata_e_now();
            self._collect = self.served().0.iter().map(|a| a.map(|(b, _)| b)).collect();
        }
        let (at, more) = self.served();
        let mut rows = vec![0u16; self._shape.banks()];
        for (b, row) in at.into_iter().flatten() {
            rows[b] = row;
        }
        for (b, row) in rows.into_iter().enumerate() {
            self.rrow[b].next = bits(u64::from(row));
        }
        for (e, x) in self.rdata_e_now().into_iter().enumerate() {
            self.rdata_e[e].next = bits(x);
        }
        self.more.next = more;
    }

    fn connect(&mut self) {
        self.rrow.iter_mut().for_each(|s| s.connect());
        self.rdata_e.iter_mut().for_each(|s| s.connect());
        self.more.connect();
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

    #[test]
    fn step_servers_serve_each_entry_once_in_the_bank_degree() {
        let mut x: u64 = 7;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for banks in [1usize, 2, 4, 8] {
            let s = SequencerShape::new(20, banks, 4, 6).unwrap();
            let region = Region {
                bytes: 4096,
                banks: banks as u64,
                bank_width_bytes: 4,
                ports: 1,
                latency: 1,
                banking: Banking::Physical,
            };
            for _ in 0..500 {
                let words: Vec<Option<u16>> = (0..20)
                    .map(|_| (next(3) > 0).then(|| next(48) as u16))
                    .collect();
                let degree = bank_degree(&region, words.iter().flatten().map(|&w| u64::from(w)));
                let mut served = vec![0; words.len()];
                for round in 0..24 {
                    let (at, more) = serve(&s, &words, round);
                    assert_eq!(more, round + 1 < degree, "{words:?} round {round}");
                    let mut bank_word = vec![None; banks];
                    for (e, a) in at.iter().enumerate() {
                        if let Some((b, row)) = *a {
                            let w = words[e].unwrap();
                            assert_eq!((b, row), s.locate(w));
                            // A bank serves one word a round; duplicates ride along.
                            assert!(bank_word[b].is_none_or(|v| v == w), "{words:?}");
                            bank_word[b] = Some(w);
                            served[e] += 1;
                        }
                    }
                }
                for (e, w) in words.iter().enumerate() {
                    assert_eq!(served[e], usize::from(w.is_some()), "{words:?} entry {e}");
                }
            }
        }
    }

    #[test]
    fn a_step_write_merges_one_word_and_the_later_entry_wins() {
        let s = SequencerShape::new(3, 2, 4, 4).unwrap();
        let entry = |word, be, data| Some(WriteEntry { word, be, data });
        let set = [
            entry(5, 0b0011, 0x1111),
            None,
            entry(5, 0b0110, 0x4433_2200),
        ];
        // Word 5 is bank (5 + 2) mod 2 = 1, row 2, served in round 0 only.
        let (writes, more) = StepWriteServer::model(&s, &set, 0);
        assert!(!more);
        assert_eq!(writes[0], BankWrite::default());
        assert_eq!(
            writes[1],
            BankWrite {
                enables: 0b0111,
                row: 2,
                // Byte 0 from the first entry, bytes 1 and 2 from the later one.
                data: 0x0033_2211
            }
        );
        assert_eq!(
            StepWriteServer::model(&s, &set, 1).0[1],
            BankWrite::default()
        );
    }
}
