//! `BankWriteSequencer` and `BankReadSequencer`: their Verilog passes the external checks, and
//! Verilator runs both, wired to a `BankedRegion` in one top, cycle for cycle like their models
//! and `BankedRegionModel` under random access sets: each set takes exactly its bank degree
//! (`nmsat_compiler::timing::bank_degree`) in cycles, the region's bytes follow the writes and
//! the reads return them. Bad sizes are refused with the parameter at fault.

mod common;

use common::{scratch, Rng};
use nmsat_compiler::arch::{Banking, Region};
use nmsat_compiler::timing::bank_degree;
use nmsat_hw::{
    to_verilog, verilator_lint, write_verilog, yosys_check, BankReadSequencer,
    BankReadSequencerModel, BankWriteSequencer, BankWriteSequencerModel, BankedRegion,
    BankedRegionModel, HwError, Model, RegionShape, SequencerShape, WriteEntry, MAX_ENTRIES,
};
use rust_hdl::prelude::*;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

const TOP: &str = "bank_seq_top";

/// The two sequencers and a two-copy region in one top: the write sequencer drives the write
/// port, the read sequencer copy 0, and copy 1 is a probe (`p_row`/`p_data`) the harness reads
/// the bytes through.
#[derive(LogicBlock)]
struct Top {
    clock: Signal<In, Clock>,
    w_start: Signal<In, Bit>,
    w_valid: Vec<Signal<In, Bit>>,
    w_word: Vec<Signal<In, Bits<16>>>,
    w_be: Vec<Signal<In, Bits<8>>>,
    w_data: Vec<Signal<In, Bits<64>>>,
    w_done: Signal<Out, Bit>,
    r_start: Signal<In, Bit>,
    r_valid: Vec<Signal<In, Bit>>,
    r_word: Vec<Signal<In, Bits<16>>>,
    r_data: Vec<Signal<Out, Bits<64>>>,
    r_last: Signal<Out, Bit>,
    r_done: Signal<Out, Bit>,
    p_row: Vec<Signal<In, Bits<16>>>,
    p_data: Vec<Signal<Out, Bits<64>>>,
    wseq: BankWriteSequencer,
    rseq: BankReadSequencer,
    region: BankedRegion,
}

fn sigs<T: Synth, D: Direction>(n: usize) -> Vec<Signal<D, T>> {
    (0..n).map(|_| Default::default()).collect()
}

impl Top {
    fn new(s: SequencerShape, r: RegionShape) -> Top {
        let (n, b) = (s.entries(), s.banks());
        Top {
            clock: Default::default(),
            w_start: Default::default(),
            w_valid: sigs(n),
            w_word: sigs(n),
            w_be: sigs(n),
            w_data: sigs(n),
            w_done: Default::default(),
            r_start: Default::default(),
            r_valid: sigs(n),
            r_word: sigs(n),
            r_data: sigs(n),
            r_last: Default::default(),
            r_done: Default::default(),
            p_row: sigs(b),
            p_data: sigs(b),
            wseq: BankWriteSequencer::from_shape(s),
            rseq: BankReadSequencer::from_shape(s),
            region: BankedRegion::from_shape(r).unwrap(),
        }
    }
}

impl Logic for Top {
    // Only the Verilog is simulated (Verilator); the wiring is the Verilog's.
    fn update(&mut self) {}

    fn connect(&mut self) {
        let (n, b) = (self.w_valid.len(), self.p_row.len());
        self.wseq.clock.connect();
        self.wseq.start.connect();
        self.rseq.clock.connect();
        self.rseq.start.connect();
        self.region.clock.connect();
        for e in 0..n {
            self.wseq.valid[e].connect();
            self.wseq.word[e].connect();
            self.wseq.be[e].connect();
            self.wseq.data[e].connect();
            self.rseq.valid[e].connect();
            self.rseq.word[e].connect();
            self.r_data[e].connect();
        }
        for k in 0..b {
            self.region.wen[k].connect();
            self.region.wrow[k].connect();
            self.region.wdata[k].connect();
            self.region.rrow[k].connect();
            self.region.rrow[b + k].connect();
            self.rseq.rdata[k].connect();
            self.p_data[k].connect();
        }
        self.w_done.connect();
        self.r_last.connect();
        self.r_done.connect();
    }

    fn hdl(&self) -> Verilog {
        let (n, b) = (self.w_valid.len(), self.p_row.len());
        let mut v = String::from(
            "always @(*) begin\n    wseq$clock = clock;\n    rseq$clock = clock;\n    \
             region$clock = clock;\n    wseq$start = w_start;\n    rseq$start = r_start;\n",
        );
        for e in 0..n {
            let _ = writeln!(
                v,
                "    wseq$valid${e} = w_valid${e};\n    wseq$word${e} = w_word${e};\n    \
                 wseq$be${e} = w_be${e};\n    wseq$data${e} = w_data${e};\n    \
                 rseq$valid${e} = r_valid${e};\n    rseq$word${e} = r_word${e};\n    \
                 r_data${e} = rseq$rdata_e${e};"
            );
        }
        for k in 0..b {
            let _ = writeln!(
                v,
                "    region$wen${k} = wseq$wen${k};\n    region$wrow${k} = wseq$wrow${k};\n    \
                 region$wdata${k} = wseq$wdata${k};\n    region$rrow${k} = rseq$rrow${k};\n    \
                 rseq$rdata${k} = region$rdata${k};\n    region$rrow${p} = p_row${k};\n    \
                 p_data${k} = region$rdata${p};",
                p = b + k
            );
        }
        v.push_str(
            "    w_done = wseq$done;\n    r_last = rseq$last;\n    r_done = rseq$done;\nend\n",
        );
        Verilog::Custom(v)
    }
}

/// A sequencer shape and the region it serves, `2^row_bits` rows deep.
fn shapes(
    entries: usize,
    banks: usize,
    width: usize,
    row_bits: usize,
) -> (SequencerShape, RegionShape) {
    let s = SequencerShape::new(entries, banks, width, row_bits).unwrap();
    let bytes = ((banks * width) << row_bits) as u64;
    (s, RegionShape::new(bytes, banks, width, 2).unwrap())
}

/// Rows per bank of the region a sequencer serves.
fn depth(s: SequencerShape) -> u64 {
    1 << s.row_bits()
}

/// The timing model's region of the same banks and width.
fn timing_region(r: RegionShape) -> Region {
    Region {
        bytes: r.bytes(),
        banks: r.banks() as u64,
        bank_width_bytes: r.width() as u64,
        ports: r.copies() as u64,
        latency: 1,
        banking: Banking::Physical,
    }
}

/// What the RTL shows in one cycle.
#[derive(Debug, Default)]
struct Obs {
    w_done: bool,
    r_last: bool,
    r_done: bool,
    r_data: Vec<u64>,
}

/// The Verilated top beside the models, cycle by cycle.
struct Bench {
    m: Model,
    s: SequencerShape,
    wm: BankWriteSequencerModel,
    rm: BankReadSequencerModel,
    region: BankedRegionModel,
    cycle: u64,
    idx: std::collections::HashMap<String, usize>,
}

impl Bench {
    fn new(design: &Arc<nmsat_hw::Design>, s: SequencerShape, r: RegionShape) -> Bench {
        let m = design.instantiate();
        let mut idx = std::collections::HashMap::new();
        for p in design.inputs() {
            idx.insert(p.name.clone(), m.input(&p.name).unwrap());
        }
        for p in design.outputs() {
            idx.insert(p.name.clone(), m.output(&p.name).unwrap());
        }
        Bench {
            m,
            s,
            wm: BankWriteSequencerModel::new(s),
            rm: BankReadSequencerModel::new(s),
            region: BankedRegionModel::new(r),
            cycle: 0,
            idx,
        }
    }

    fn get(&self, name: &str) -> u64 {
        self.m.get(self.idx[name]) as u64
    }

    fn set(&mut self, name: &str, value: u64) {
        let i = self.idx[name];
        self.m.set(i, value as i64);
    }

    /// This cycle's outputs, checked against the models; the first difference as an error.
    fn observe(&self) -> Result<Obs, String> {
        let (n, b) = (self.s.entries(), self.s.banks());
        let rdata: Vec<u64> = (0..b).map(|k| self.region.rdata(0, k)).collect();
        let want_data = self.rm.rdata_e(&rdata);
        let (want_last, want_rdone) = self.rm.last_done();
        let obs = Obs {
            w_done: self.get("w_done") == 1,
            r_last: self.get("r_last") == 1,
            r_done: self.get("r_done") == 1,
            r_data: (0..n).map(|e| self.get(&format!("r_data${e}"))).collect(),
        };
        let c = self.cycle;
        let (_, want_wdone) = self.wm.outputs();
        if (obs.w_done, obs.r_last, obs.r_done) != (want_wdone, want_last, want_rdone) {
            return Err(format!(
                "cycle {c}: w_done, r_last, r_done {:?}, expected {:?}",
                (obs.w_done, obs.r_last, obs.r_done),
                (want_wdone, want_last, want_rdone)
            ));
        }
        for (e, (got, want)) in obs.r_data.iter().zip(&want_data).enumerate() {
            if got != want {
                return Err(format!(
                    "cycle {c}: r_data {e} = {got:#x}, expected {want:#x}"
                ));
            }
        }
        for k in 0..b {
            let (got, want) = (self.get(&format!("p_data${k}")), self.region.rdata(1, k));
            if got != want {
                return Err(format!(
                    "cycle {c}: bank {k} holds {got:#x} at the probed row, expected {want:#x}"
                ));
            }
        }
        Ok(obs)
    }

    /// One cycle with these inputs (`None`: no start), then the rising edge.
    fn step(
        &mut self,
        wstart: Option<&[Option<WriteEntry>]>,
        rstart: Option<&[Option<u16>]>,
        probe: &[u16],
    ) {
        let (n, b) = (self.s.entries(), self.s.banks());
        self.set("w_start", u64::from(wstart.is_some()));
        self.set("r_start", u64::from(rstart.is_some()));
        for e in 0..n {
            let w = wstart.and_then(|set| set.get(e).copied().flatten());
            self.set(&format!("w_valid${e}"), u64::from(w.is_some()));
            let w = w.unwrap_or_default();
            self.set(&format!("w_word${e}"), u64::from(w.word));
            self.set(&format!("w_be${e}"), u64::from(w.be));
            self.set(&format!("w_data${e}"), w.data);
            let r = rstart.and_then(|set| set.get(e).copied().flatten());
            self.set(&format!("r_valid${e}"), u64::from(r.is_some()));
            self.set(&format!("r_word${e}"), u64::from(r.unwrap_or(0)));
        }
        for (k, &row) in probe.iter().enumerate() {
            self.set(&format!("p_row${k}"), u64::from(row));
        }
        self.m.step(1);
        let (writes, _) = self.wm.outputs();
        let mut reads = self.rm.rrow();
        reads.extend_from_slice(probe);
        let rdata: Vec<u64> = (0..b).map(|k| self.region.rdata(0, k)).collect();
        self.wm.edge(wstart);
        self.rm.edge(rstart, &rdata);
        self.region.step(&writes, &reads).unwrap();
        self.cycle += 1;
    }
}

/// A random set: up to `n` entries, some invalid, words mostly from a span of about three bank
/// rows (so that banks conflict and words repeat), a few anywhere in 16 bits (they wrap); one
/// set in eight has all its words in one bank, for degrees up to the entries or the depth.
fn random_words(rng: &mut Rng, s: SequencerShape) -> Vec<Option<u16>> {
    let len = (rng.next_u64() % (s.entries() as u64 + 1)) as usize;
    let b = s.banks() as u64;
    if rng.next_u64().is_multiple_of(8) {
        let bank = rng.next_u64() % b;
        return (0..len)
            .map(|_| {
                let row = rng.next_u64() % depth(s);
                Some((row * b + (bank + b - row % b) % b) as u16)
            })
            .collect();
    }
    let span = 3 * b + 1;
    let base = rng.next_u64() % s.words();
    (0..len)
        .map(|_| match rng.next_u64() % 16 {
            0 => None,
            1 => Some(rng.next_u64() as u16),
            _ => Some(((base + rng.next_u64() % span) % s.words()) as u16),
        })
        .collect()
}

fn random_writes(rng: &mut Rng, s: SequencerShape) -> Vec<Option<WriteEntry>> {
    random_words(rng, s)
        .into_iter()
        .map(|w| {
            w.map(|word| WriteEntry {
                word,
                be: if rng.next_u64().is_multiple_of(4) {
                    0xff
                } else {
                    rng.next_u64() as u8
                },
                data: rng.next_u64(),
            })
        })
        .collect()
}

/// `max(bank_degree, 1)` of a set's valid words (wrapped into the region), and the degree.
fn serving_cycles(r: &Region, s: SequencerShape, words: &[Option<u16>]) -> (u64, u64) {
    let d = bank_degree(r, words.iter().flatten().map(|&w| u64::from(w) % s.words()));
    (d.max(1), d)
}

fn random_probe(rng: &mut Rng, s: SequencerShape) -> Vec<u16> {
    (0..s.banks())
        .map(|_| (rng.next_u64() % depth(s)) as u16)
        .collect()
}

fn build(s: SequencerShape, r: RegionShape) -> Arc<nmsat_hw::Design> {
    let mut top = Top::new(s, r);
    top.connect_all();
    common::verilate(&top, TOP)
}

/// What the runs met: the checks are only as good as the cases.
#[derive(Debug, Default)]
struct Coverage {
    sets: usize,
    empty: usize,
    /// Sets of degree 2 or more.
    conflicts: usize,
    /// Sets with a repeated word.
    repeats: usize,
    back_to_back: usize,
    max_degree: u64,
}

impl Coverage {
    fn count(&mut self, words: &[Option<u16>], s: SequencerShape, degree: u64, b2b: bool) {
        let mut v: Vec<u64> = words
            .iter()
            .flatten()
            .map(|&w| u64::from(w) % s.words())
            .collect();
        let n = v.len();
        v.sort_unstable();
        v.dedup();
        self.sets += 1;
        self.empty += usize::from(n == 0);
        self.conflicts += usize::from(degree > 1);
        self.repeats += usize::from(v.len() < n);
        self.back_to_back += usize::from(b2b);
        self.max_degree = self.max_degree.max(degree);
    }

    fn assert_good(&self, sets: usize) {
        assert!(self.sets >= sets, "{self:?}");
        assert!(self.empty > 0, "{self:?}");
        assert!(self.conflicts > sets / 3, "{self:?}");
        assert!(self.repeats > sets / 4, "{self:?}");
        assert!(self.back_to_back > sets / 4, "{self:?}");
        assert!(self.max_degree >= 3, "{self:?}");
    }
}

/// `sets` random write sets through the write sequencer: each takes `max(bank_degree, 1)`
/// cycles from `start` to `done`, the RTL follows the models every cycle (the probe reads
/// random rows of copy 1), and at the end every word of the region equals the model's.
fn write_run(
    design: &Arc<nmsat_hw::Design>,
    (s, r): (SequencerShape, RegionShape),
    sets: usize,
    seed: u64,
) -> Result<Coverage, String> {
    let banks = s.banks();
    let tr = timing_region(r);
    let mut bench = Bench::new(design, s, r);
    let mut rng = Rng(seed);
    let mut cov = Coverage::default();
    // The set being served: its start cycle and serving cycles.
    let mut pending: Option<(u64, u64)> = None;
    let mut gap = 0u64;
    let mut b2b = false;
    while cov.sets < sets || pending.is_some() {
        let obs = bench.observe()?;
        let mut start = None;
        if let Some((t0, want)) = pending {
            if obs.w_done {
                let got = bench.cycle - t0;
                if got != want {
                    return Err(format!(
                        "a set started in cycle {t0} took {got} cycles, expected {want}"
                    ));
                }
                pending = None;
                b2b = rng.next_u64().is_multiple_of(2);
                gap = if b2b { 0 } else { 1 + rng.next_u64() % 3 };
            }
        }
        if pending.is_none() && cov.sets < sets {
            if gap == 0 {
                let set = random_writes(&mut rng, s);
                let words: Vec<Option<u16>> = set.iter().map(|x| x.map(|x| x.word)).collect();
                let (want, d) = serving_cycles(&tr, s, &words);
                cov.count(&words, s, d, b2b);
                pending = Some((bench.cycle, want));
                start = Some(set);
            } else {
                gap -= 1;
            }
        }
        let probe = random_probe(&mut rng, s);
        bench.step(start.as_deref(), None, &probe);
    }
    // Every word of the region, through the probe copy.
    for row in 0..depth(s) as u16 {
        bench.step(None, None, &vec![row; banks]);
        bench.observe()?;
    }
    Ok(cov)
}

/// A read set in flight: its start cycle, serving cycles plus the read latency, and words.
struct ReadSet {
    t0: u64,
    want: u64,
    words: Vec<Option<u16>>,
}

/// `sets` random read sets through the read sequencer, mixed with write sets (a third of the
/// sets) that fill the region. Each read set takes `max(bank_degree, 1) + 1` cycles from
/// `start` to `done`, and the RTL follows the models every cycle. With `exclusive`, reads and
/// writes take turns, and at `done` each valid entry's `rdata_e` must also equal its word as
/// the byte-level model holds it (located by `RegionShape`, not by the sequencer's model); a
/// read set may start in the previous one's `last` cycle, a write set in a read set's `done`
/// cycle and a read set in a write set's. Without it they run independently and overlap.
fn read_run(
    design: &Arc<nmsat_hw::Design>,
    (s, r): (SequencerShape, RegionShape),
    sets: usize,
    seed: u64,
    exclusive: bool,
) -> Result<Coverage, String> {
    let tr = timing_region(r);
    let mut bench = Bench::new(design, s, r);
    let mut rng = Rng(seed);
    let mut cov = Coverage::default();
    let mut reads: VecDeque<ReadSet> = VecDeque::new();
    let mut write: Option<(u64, u64)> = None;
    let mut overlaps = 0;
    while cov.sets < sets || !reads.is_empty() || write.is_some() {
        let obs = bench.observe()?;
        if obs.r_done {
            let set = reads.pop_front().ok_or("done without a read set")?;
            let got = bench.cycle - set.t0;
            if got != set.want {
                return Err(format!(
                    "a read set started in cycle {} took {got} cycles, expected {}",
                    set.t0, set.want
                ));
            }
            for (e, w) in set.words.iter().enumerate() {
                let Some(w) = *w else { continue };
                let (bank, row, _) = r.locate(u64::from(w) * r.width() as u64);
                let want = bench.region.word(0, bank, row as u16);
                if exclusive && obs.r_data[e] != want {
                    return Err(format!(
                        "cycle {}: entry {e} (word {w}) read {:#x}, the region holds {want:#x}",
                        bench.cycle, obs.r_data[e]
                    ));
                }
            }
        }
        if write.is_some_and(|_| obs.w_done) {
            let (t0, want) = write.take().unwrap();
            let got = bench.cycle - t0;
            if got != want {
                return Err(format!(
                    "a write set started in cycle {t0} took {got} cycles, expected {want}"
                ));
            }
        }
        overlaps += usize::from(write.is_some() && !reads.is_empty());
        let (mut wstart, mut rstart) = (None, None);
        let reads_free = reads.is_empty() || reads.len() == 1 && obs.r_last;
        let go = cov.sets < sets;
        if go
            && rng.next_u64().is_multiple_of(4)
            && write.is_none()
            && (!exclusive || reads.is_empty())
        {
            let set = random_writes(&mut rng, s);
            let words: Vec<Option<u16>> = set.iter().map(|x| x.map(|x| x.word)).collect();
            let (want, _) = serving_cycles(&tr, s, &words);
            write = Some((bench.cycle, want));
            wstart = Some(set);
        }
        if go && rng.next_u64().is_multiple_of(2) && reads_free && (!exclusive || write.is_none()) {
            let words = random_words(&mut rng, s);
            let (want, d) = serving_cycles(&tr, s, &words);
            cov.count(&words, s, d, !reads.is_empty());
            reads.push_back(ReadSet {
                t0: bench.cycle,
                want: want + 1,
                words: words.clone(),
            });
            rstart = Some(words);
        }
        let probe = random_probe(&mut rng, s);
        bench.step(wstart.as_deref(), rstart.as_deref(), &probe);
    }
    if !exclusive && overlaps < sets / 8 {
        return Err(format!("only {overlaps} cycles overlap reads and writes"));
    }
    Ok(cov)
}

#[test]
fn verilog_passes_verilator_lint_and_yosys_check() {
    // One entry, one bank, and word indices that use all 16 bits (no word bit left over).
    for (n, b, w, rb) in [
        (4, 4, 8, 4),
        (36, 4, 8, 4),
        (16, 32, 2, 4),
        (3, 1, 1, 4),
        (1, 2, 1, 4),
        (2, 1, 1, 16),
        (5, 32, 4, 11),
    ] {
        let s = SequencerShape::new(n, b, w, rb).unwrap();
        let name = format!("bank-seq-{n}x{b}x{w}-{rb}");
        let dir = scratch(&name);
        let mut ws = BankWriteSequencer::from_shape(s);
        ws.connect_all();
        let mut rs = BankReadSequencer::from_shape(s);
        rs.connect_all();
        for (top, verilog) in [
            ("bank_write_seq", to_verilog(&ws, "bank_write_seq").unwrap()),
            ("bank_read_seq", to_verilog(&rs, "bank_read_seq").unwrap()),
        ] {
            let file = dir.join(format!("{top}.v"));
            write_verilog(&verilog, &file).unwrap();
            let files = [file];
            verilator_lint(&files, top).unwrap_or_else(|e| panic!("{name} {top}: {e}"));
            yosys_check(&files, top).unwrap_or_else(|e| panic!("{name} {top}: {e}"));
        }
    }
    // The test top too: the sequencers' ports wire straight across to a region's.
    let (s, r) = shapes(8, 4, 8, 4);
    let mut top = Top::new(s, r);
    top.connect_all();
    let file = scratch("bank-seq-top").join(format!("{TOP}.v"));
    write_verilog(&to_verilog(&top, TOP).unwrap(), &file).unwrap();
    let files = [file];
    verilator_lint(&files, TOP).unwrap_or_else(|e| panic!("top: {e}"));
    yosys_check(&files, TOP).unwrap_or_else(|e| panic!("top: {e}"));
}

#[test]
fn write_sets_take_their_bank_degree_and_land_in_the_region() {
    // The last two reach degrees 16 and above 32 (all of a set in one bank).
    for (n, b, w, rb, seed) in [
        (8, 4, 8, 4, 1),
        (16, 8, 2, 4, 2),
        (5, 1, 1, 4, 3),
        (12, 2, 4, 4, 4),
        (36, 4, 8, 4, 5),
        (64, 2, 1, 6, 6),
    ] {
        let (s, r) = shapes(n, b, w, rb);
        let design = build(s, r);
        let cov =
            write_run(&design, (s, r), 1500, seed).unwrap_or_else(|e| panic!("{n}x{b}x{w}: {e}"));
        eprintln!("writes {n}x{b}x{w}: {cov:?}");
        if b > 1 {
            cov.assert_good(1500);
        }
        assert!(
            cov.max_degree >= (n as u64 / 2).min(depth(s)).min(40),
            "{cov:?}"
        );
    }
}

#[test]
fn read_sets_take_their_bank_degree_plus_one_and_return_the_region_bytes() {
    for (n, b, w, rb, seed) in [
        (8, 4, 8, 4, 11),
        (16, 8, 2, 4, 12),
        (5, 1, 1, 4, 13),
        (12, 2, 4, 4, 14),
        (36, 4, 8, 4, 15),
        (64, 2, 1, 6, 16),
    ] {
        let (s, r) = shapes(n, b, w, rb);
        let design = build(s, r);
        let cov = read_run(&design, (s, r), 1500, seed, true)
            .unwrap_or_else(|e| panic!("{n}x{b}x{w}: {e}"));
        eprintln!("reads {n}x{b}x{w}: {cov:?}");
        if b > 1 {
            cov.assert_good(1000);
        }
        assert!(
            cov.max_degree >= (n as u64 / 2).min(depth(s)).min(40),
            "{cov:?}"
        );
    }
}

#[test]
fn overlapping_reads_and_writes_follow_the_models() {
    // Reads of words written in the same cycle see the bytes from before (read-first).
    for (n, b, w, seed) in [(8, 4, 8, 21), (6, 2, 2, 22)] {
        let (s, r) = shapes(n, b, w, 4);
        let design = build(s, r);
        read_run(&design, (s, r), 1500, seed, false).unwrap_or_else(|e| panic!("{n}x{b}x{w}: {e}"));
    }
}

#[test]
fn bad_sizes_are_unsupported_with_the_field_at_fault() {
    let cases: [(usize, usize, usize, usize, &str); 10] = [
        (0, 4, 8, 4, "entries"),
        (MAX_ENTRIES + 1, 4, 8, 4, "entries"),
        (4, 0, 8, 4, "banks"),
        (4, 6, 8, 4, "banks"),
        (4, 64, 8, 4, "banks"),
        (4, 4, 3, 4, "width"),
        (4, 4, 16, 4, "width"),
        (4, 4, 8, 2, "row_bits"),
        (4, 4, 8, 17, "row_bits"),
        (4, 32, 8, 12, "row_bits"),
    ];
    for (n, b, w, rb, field) in cases {
        for e in [
            BankWriteSequencer::new(n, b, w, rb).err(),
            BankReadSequencer::new(n, b, w, rb).err(),
        ] {
            match e {
                Some(HwError::Unsupported { field: f, .. }) => {
                    assert_eq!(f, field, "{n} {b} {w} {rb}")
                }
                other => panic!("{n} {b} {w} {rb}: {other:?}"),
            }
        }
    }
    assert!(BankWriteSequencer::new(64, 32, 8, 11).is_ok());
    assert!(BankReadSequencer::new(1, 1, 1, 16).is_ok());
}

#[test]
fn rust_hdl_simulates_update_like_the_models() {
    // rust-hdl's own simulation of the hand-written `update`s, with starts at random cycles
    // (also mid-set, which abandons the set) and random region answers.
    let s = SequencerShape::new(8, 4, 2, 4).unwrap();
    let (mut ws, mut rs) = (
        BankWriteSequencer::from_shape(s),
        BankReadSequencer::from_shape(s),
    );
    ws.connect_all();
    rs.connect_all();
    let (mut wm, mut rm) = (
        BankWriteSequencerModel::new(s),
        BankReadSequencerModel::new(s),
    );
    let mut rng = Rng(41);
    for cycle in 0..3000 {
        let wset = rng
            .next_u64()
            .is_multiple_of(3)
            .then(|| random_writes(&mut rng, s));
        let rset = rng
            .next_u64()
            .is_multiple_of(3)
            .then(|| random_words(&mut rng, s));
        let rdata: Vec<u64> = (0..s.banks()).map(|_| rng.next_u64()).collect();
        ws.start.next = wset.is_some();
        rs.start.next = rset.is_some();
        for e in 0..s.entries() {
            let w = wset.as_ref().and_then(|x| x.get(e).copied().flatten());
            ws.valid[e].next = w.is_some();
            let w = w.unwrap_or_default();
            ws.word[e].next = bits(u64::from(w.word));
            ws.be[e].next = bits(u64::from(w.be));
            ws.data[e].next = bits(w.data);
            let r = rset.as_ref().and_then(|x| x.get(e).copied().flatten());
            rs.valid[e].next = r.is_some();
            rs.word[e].next = bits(u64::from(r.unwrap_or(0)));
        }
        for (k, &x) in rdata.iter().enumerate() {
            rs.rdata[k].next = bits(x);
        }
        ws.clock.next = false.into();
        rs.clock.next = false.into();
        nmsat_hw::settle(&mut ws);
        nmsat_hw::settle(&mut rs);
        let (writes, done) = wm.outputs();
        for (k, x) in writes.iter().enumerate() {
            let got = (
                ws.wen[k].val().to_u64() as u8,
                ws.wrow[k].val().to_u64() as u16,
                ws.wdata[k].val().to_u64(),
            );
            assert_eq!(got, (x.enables, x.row, x.data), "cycle {cycle}, bank {k}");
        }
        assert_eq!(ws.done.val(), done, "cycle {cycle}");
        let rows: Vec<u16> = rs.rrow.iter().map(|x| x.val().to_u64() as u16).collect();
        assert_eq!(rows, rm.rrow(), "cycle {cycle}");
        let got: Vec<u64> = rs.rdata_e.iter().map(|x| x.val().to_u64()).collect();
        assert_eq!(got, rm.rdata_e(&rdata), "cycle {cycle}");
        assert_eq!(
            (rs.last.val(), rs.done.val()),
            rm.last_done(),
            "cycle {cycle}"
        );
        ws.clock.next = true.into();
        rs.clock.next = true.into();
        nmsat_hw::settle(&mut ws);
        nmsat_hw::settle(&mut rs);
        wm.edge(wset.as_deref());
        rm.edge(rset.as_deref(), &rdata);
    }
}
