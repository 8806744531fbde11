//! `DmaPhysical`: the DMA engine on a physically banked region ([`BankedRegion`]): each DRAM
//! beat's scratchpad bytes are one *access set*, written through a [`BankWriteSequencer`] on
//! the region's write port (loads) or read through a [`BankReadSequencer`] on one read copy
//! (stores), in the set's bank degree — the timing of `timing::dma_cycles_physical`.
//!
//! It reuses the ideal engine's blocks ([`crate::Dma`]): two [`RowWalker`]s (the request side
//! and the answer side of the same transfer), its [`GatherMap`] and four [`Requant`]s; only
//! the scratchpad side and its pacing are its own. It moves every shape the ideal engine does:
//! `Copy`, `Transpose` and `Scatter` (a plain or transposed block over a stride phase's grid),
//! loads and stores, stores requantizing INT32 accumulators to INT16 or not, and the gathering
//! loads `Im2col` (with its padding) and `ConvBp`, with the encoder's fields
//! ([`crate::encode_transfer`]).
//!
//! ```text
//!  load:  req walker ─► DRAM request (while fewer than Q = latency+1 beats are unfinished)
//!         DRAM answer ─► FIFO (Q words; bypassed when empty) ─► head word + rsp walker
//!             ─► 8 byte entries (word index, byte enable, data) ─┐
//!             ─► gather map: up to 36 element copies (gathers) ───┴► BankWriteSequencer ─► region
//!         Im2col padding: fill, one word of every bank a cycle, before the first beat ─► region
//!  store: req walker ─► 16 byte entries ─► BankReadSequencer ─► copy 0 of the region
//!             ─► bytes ─► [4 × Requant] ─► << 8·lo ─► DRAM write (the cycle after the last read)
//! ```
//!
//! # Sets
//!
//! A beat is one 8-byte DRAM word: `n` useful bytes from byte `lo` (the walker's). Its
//! scratchpad bytes are one entry each: byte `o` of the word is at
//!
//! ```text
//!   plain:       sp + o·1                  (sp: the walker's address of the first byte)
//!   transposed:  tsp + ⌊o/e⌋·estride + o mod e,   e = 2 (4 for a requantizing store)
//! ```
//!
//! and a requantizing store reads `2n` bytes (four INT32 per word, `scale` 2), so a plain load
//! has 8 entries and a store 16. Entry `o` is the byte's word `a / W` with the one byte
//! enabled; the sequencers merge entries of the same word, so a set's degree is the bank
//! degree of the words the beat touches (`dma_beats::beat_words`). A gather's entries are the
//! gather map's ports instead: each copy of each element, two bytes enabled (an element never
//! straddles two bank words: the encoder refuses a tile at an odd byte, and `W ≥ 2`), 36
//! entries. As in the ideal engine, a DRAM word holds whole elements of a transposed,
//! requantized or gathered row (even DRAM addresses and strides).
//!
//! **Fill.** An Im2col tile with padding (`field::FILL`) first sets its whole block
//! `[a, a + bytes)` to the pad value: words `w0 = ⌊a/W⌋ … w1 = ⌊(a+bytes−1)/W⌋`, bank `b`
//! writing its `k`-th of them in fill cycle `k` (row `⌊w0/B⌋ + k`, one more when its word of
//! that first row lies before `w0`; the edge words with their partial byte enables), so the
//! fill takes `timing::fill_cycles` cycles; the answers wait in the queue meanwhile.
//!
//! # Timing
//!
//! `start` is taken while idle or in the cycle `done` is high: cycle 0 of the transfer is the
//! cycle of `start`. With setup `S`, latency `L` and beat `i` of degree `d_i` (served
//! `max(d_i, 1)` cycles, as the model charges):
//!
//! * **Loads** request beat `i` in cycle `r_i = max(S + i, e_{i−Q})` — a request needs a beat
//!   fewer than `Q` to be unfinished, counting one that finishes in this very cycle — and the
//!   answer arrives in `a_i = r_i + L`. The write path latches beat `i`'s set in cycle
//!   `s_i = max(a_i, e_{i−1}, F)` (the answer itself when the FIFO is empty; `F` the fill's
//!   cycles, served in cycles `1 … F`) and writes it in
//!   cycles `s_i + 1 … e_i`, `e_i = s_i + max(d_i, 1)`: the model's recurrence
//!   (`timing::dma_cycles_physical`) with its write cycles one later, since the sequencer
//!   latches its set first. `done` is high in cycle `e_{n−1}`, the last write.
//! * **Stores** latch beat `i`'s read set in `c_i = max(S − 2, c_{i−1} + max(d_{i−1}, 1))`,
//!   read it in `c_i + 1 … c_i + d_i` (the model's `x_i = c_i + 1`: the first read in the last
//!   setup cycle) and request its DRAM write in `c_i + d_i + 1`, when every byte is in; the
//!   DRAM acknowledges `L` cycles later and `done` is high the cycle after the last
//!   acknowledgement.
//!
//! So `done` comes in cycle `transfer_cycles` after `start` for both directions, and a new
//! transfer may start in that cycle: transfers issued back to back start exactly
//! `timing::transfer_cycles` apart, as the model charges. (The ideal engine's `done` is a cycle
//! earlier, in its last busy cycle; it takes the next `start` the cycle after.) A new start
//! never meets the last write: the first scratchpad access of a transfer comes a cycle after
//! its start at the earliest (`S ≥ 3`).
//!
//! The engine is simulated through its Verilog only (Verilator): its `update` does nothing.

use crate::array::signals;
use crate::bank_sequencer::{BankReadSequencer, BankWriteSequencer, SequencerShape};
use crate::banked_region::RegionShape;
use crate::dma::Requant;
use crate::error::HwError;
use crate::gather_map::{field, GatherMap, GATHER_FIELDS, GATHER_PORTS, IM2COL, WORD_ELEMS};
use crate::row_walker::RowWalker;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Write entries: one per byte of a DRAM word (plain and transposed loads), or one per copy of
/// each of its elements (gathers: the gather map's ports).
pub const LOAD_ENTRIES: usize = GATHER_PORTS;
/// The inputs that describe a transfer, in the order of [`crate::Transfer`]'s fields (after
/// `start`, `store`, `requant` and `transpose`, the walkers' own); then come `gf$0 …`.
pub const TRANSFER_INPUTS: [&str; 15] = [
    "start",
    "store",
    "requant",
    "transpose",
    "dram_addr",
    "rows",
    "row_bytes",
    "stride",
    "sp_addr",
    "grid_w",
    "grid_h",
    "grid_x0",
    "grid_y0",
    "row_jump",
    "img_jump",
];
/// Byte entries of a plain or transposed load.
const WORD_BYTES: usize = 8;
/// Read entries: a requantizing store reads two scratchpad bytes per DRAM byte.
pub const STORE_ENTRIES: usize = 16;

/// The DMA engine on a physically banked region; see the module docs.
#[derive(LogicBlock)]
pub struct DmaPhysical {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// Begin the transfer described by the inputs below (while idle, or in `done`'s cycle).
    pub start: Signal<In, Bit>,
    /// 1: scratchpad → DRAM; 0: DRAM → scratchpad.
    pub store: Signal<In, Bit>,
    /// Stores only: the scratchpad holds INT32 accumulators, written as INT16.
    pub requant: Signal<In, Bit>,
    /// The INT16 block lands (loads) or is read (stores) column-major.
    pub transpose: Signal<In, Bit>,
    /// First DRAM byte.
    pub dram_addr: Signal<In, Bits<32>>,
    /// Rows.
    pub rows: Signal<In, Bits<16>>,
    /// Bytes per DRAM row.
    pub row_bytes: Signal<In, Bits<16>>,
    /// DRAM bytes from one row to the next.
    pub stride: Signal<In, Bits<32>>,
    /// First scratchpad byte.
    pub sp_addr: Signal<In, Bits<16>>,
    /// A scatter's grid (see [`RowWalker`]).
    pub grid_w: Signal<In, Bits<16>>,
    /// See `grid_w`.
    pub grid_h: Signal<In, Bits<16>>,
    /// See `grid_w`.
    pub grid_x0: Signal<In, Bits<16>>,
    /// See `grid_w`.
    pub grid_y0: Signal<In, Bits<16>>,
    /// See `grid_w`.
    pub row_jump: Signal<In, Bits<32>>,
    /// See `grid_w`.
    pub img_jump: Signal<In, Bits<32>>,
    /// A gathering load's fields (see `gather_map::field`); zero otherwise.
    pub gf: [Signal<In, Bits<32>>; GATHER_FIELDS],
    /// The transfer is complete (see the module docs for the cycle).
    pub done: Signal<Out, Bit>,
    /// A DRAM request this cycle.
    pub mem_valid: Signal<Out, Bit>,
    /// It is a write.
    pub mem_write: Signal<Out, Bit>,
    /// Byte address of the requested word (a multiple of 8).
    pub mem_addr: Signal<Out, Bits<32>>,
    /// Write data.
    pub mem_wdata: Signal<Out, Bits<64>>,
    /// Write byte enables.
    pub mem_wmask: Signal<Out, Bits<8>>,
    /// The request is the transfer's last word.
    pub mem_last: Signal<Out, Bit>,
    /// The answer to the request made `latency` cycles ago.
    pub mem_rvalid: Signal<In, Bit>,
    /// Its read data.
    pub mem_rdata: Signal<In, Bits<64>>,
    /// Per bank: the region's write port (`BankedRegion::wen`).
    pub wen: Vec<Signal<Out, Bits<8>>>,
    /// Per bank: see `wen`.
    pub wrow: Vec<Signal<Out, Bits<16>>>,
    /// Per bank: see `wen`.
    pub wdata: Vec<Signal<Out, Bits<64>>>,
    /// Per bank: the row read from the engine's copy of the region.
    pub rrow: Vec<Signal<Out, Bits<16>>>,
    /// Per bank: that copy's `rdata`.
    pub rdata: Vec<Signal<In, Bits<64>>>,
    /// Walks the words as they are requested (stores: as their bytes are read).
    pub req: RowWalker,
    /// Walks the words as their sets are written (loads) or acknowledged (stores).
    pub rsp: RowWalker,
    /// Requantizes the four accumulators of one DRAM word.
    pub quant: [Requant; 4],
    /// Where a gathering load's elements land.
    pub gather: GatherMap,
    /// The write path.
    pub wseq: BankWriteSequencer,
    /// The read path.
    pub rseq: BankReadSequencer,
    _params: Params,
}

#[derive(Clone, Copy, Debug)]
struct Params {
    setup: u64,
    queue: u64,
    region: RegionShape,
}

impl DmaPhysical {
    /// An engine with `setup_cycles` of setup, a DRAM of `latency` cycles, the datapath's
    /// `frac_bits`, on a region of `region`'s banks; refused with the parameter at fault where
    /// the RTL cannot build it.
    pub fn new(
        setup_cycles: u64,
        latency: u64,
        frac_bits: u32,
        region: RegionShape,
    ) -> Result<Self, HwError> {
        let unsupported = |field, value: u64, reason: &str, allowed: &str| {
            Err(HwError::Unsupported {
                field,
                value: value.to_string(),
                reason: reason.into(),
                allowed: allowed.into(),
            })
        };
        if !(3..=1 << 15).contains(&setup_cycles) {
            return unsupported(
                "dma.setup_cycles",
                setup_cycles,
                "a store latches its first read set two cycles before the setup ends, a cycle \
                 after its start at the earliest",
                "3 ..= 32768",
            );
        }
        if !(1..=1 << 14).contains(&latency) {
            return unsupported(
                "dram.latency",
                latency,
                "the DRAM answers the cycle after a request at the earliest, and the answer \
                 queue holds latency + 1 words",
                "1 ..= 16384",
            );
        }
        if region.bytes() > 1 << 16 {
            return unsupported(
                "bytes",
                region.bytes(),
                "scratchpad addresses are 16 bits in the RTL",
                "≤ 65536",
            );
        }
        if region.width() < 2 {
            return unsupported(
                "width",
                region.width() as u64,
                "a gathered element is one write entry, so a bank word must hold one",
                "2, 4 or 8",
            );
        }
        let (b, w, rb) = (region.banks(), region.width(), region.row_bits());
        let wshape = SequencerShape::new(LOAD_ENTRIES, b, w, rb)?;
        let rshape = SequencerShape::new(STORE_ENTRIES, b, w, rb)?;
        Ok(Self {
            clock: Default::default(),
            start: Default::default(),
            store: Default::default(),
            requant: Default::default(),
            transpose: Default::default(),
            dram_addr: Default::default(),
            rows: Default::default(),
            row_bytes: Default::default(),
            stride: Default::default(),
            sp_addr: Default::default(),
            grid_w: Default::default(),
            grid_h: Default::default(),
            grid_x0: Default::default(),
            grid_y0: Default::default(),
            row_jump: Default::default(),
            img_jump: Default::default(),
            gf: Default::default(),
            done: Default::default(),
            mem_valid: Default::default(),
            mem_write: Default::default(),
            mem_addr: Default::default(),
            mem_wdata: Default::default(),
            mem_wmask: Default::default(),
            mem_last: Default::default(),
            mem_rvalid: Default::default(),
            mem_rdata: Default::default(),
            wen: signals(b),
            wrow: signals(b),
            wdata: signals(b),
            rrow: signals(b),
            rdata: signals(b),
            req: Default::default(),
            rsp: Default::default(),
            quant: std::array::from_fn(|_| Requant::new(frac_bits)),
            gather: Default::default(),
            wseq: BankWriteSequencer::from_shape(wshape),
            rseq: BankReadSequencer::from_shape(rshape),
            _params: Params {
                setup: setup_cycles,
                queue: latency + 1,
                region,
            },
        })
    }

    /// The region shape it was built for.
    pub fn region(&self) -> RegionShape {
        self._params.region
    }

    fn verilog(&self) -> String {
        let p = self._params;
        let (banks, w) = (p.region.banks(), p.region.width());
        let lw = w.trailing_zeros() as usize;
        let (setup, q) = (p.setup, p.queue);
        let mut v = String::new();
        // Transfer state; the answer FIFO; the store's two stages of beat descriptors (A:
        // the set being read, B: the set whose bytes are in, written to DRAM this cycle).
        let _ = writeln!(
            v,
            "reg busy;\nreg is_store;\nreg is_wide;\nreg is_tr;\nreg [15:0] age;\nreg [15:0] outst;\n\
             reg wbusy;\nreg rbusy;\nreg lastset;\nreg done_st;\n\
             reg [63:0] fifo [0:{}];\nreg [15:0] qh;\nreg [15:0] qt;\nreg [15:0] qn;\n\
             reg [31:0] a_word;\nreg [3:0] a_lo;\nreg [3:0] a_n;\nreg a_last;\n\
             reg [31:0] b_word;\nreg [3:0] b_lo;\nreg [3:0] b_n;\nreg b_last;",
            q - 1
        );
        let off = |e: usize| match lw {
            0 => "3'd0".to_string(),
            3 => format!("b_off{e}"),
            _ => format!("{{{}'d0, b_off{e}}}", 3 - lw),
        };
        if lw > 0 {
            for o in 0..STORE_ENTRIES {
                let _ = writeln!(
                    v,
                    "reg [{}:0] a_off{o};\nreg [{}:0] b_off{o};",
                    lw - 1,
                    lw - 1
                );
            }
        }
        let _ = writeln!(
            v,
            "wire wfin = wseq$done;\n\
             wire fin = busy & (is_store ? done_st : lastset & wfin);\n\
             wire take = start & (!busy | fin);\n\
             wire fetch_ld = busy & !is_store & (age >= 16'd{setup}) & req$more & \
             (outst < 16'd{q} + {{15'd0, wfin}});\n\
             wire fetch_st = busy & is_store & (age >= 16'd{}) & req$more & (!rbusy | rseq$last);\n\
             wire fetch = fetch_ld | fetch_st;\n\
             wire queued = qn != 16'd0;\n\
             wire [63:0] head = queued ? fifo[qh] : mem_rdata;\n\
             wire pop = busy & !is_store & rsp$more & (queued | mem_rvalid) & (!wbusy | wfin) & \
             (!fbusy | ffin);\n\
             wire push = busy & !is_store & mem_rvalid & !(pop & !queued);\n\
             wire [63:0] lsh = head >> {{rsp$lo, 3'd0}};\n\
             wire st_write = busy & is_store & rseq$done;",
            setup - 2
        );
        // Each entry's byte address: the write side from the answer walker, the read side
        // from the request walker.
        let addr = |walker: &str, o: usize| {
            format!(
                "is_tr ? {walker}$tsp + {walker}$estride * (is_wide ? 16'd{} : 16'd{}) + \
                 (is_wide ? 16'd{} : 16'd{}) : {walker}$sp + 16'd{o}",
                o / 4,
                o / 2,
                o % 4,
                o % 2
            )
        };
        for o in 0..WORD_BYTES {
            let _ = writeln!(v, "wire [15:0] la{o} = {};", addr("rsp", o));
        }
        v.push_str(&fill_verilog(&p));
        for o in 0..STORE_ENTRIES {
            let _ = writeln!(v, "wire [15:0] sa{o} = {};", addr("req", o));
            let _ = writeln!(
                v,
                "wire [7:0] rsh{o} = rseq$rdata_e${o} >> {{{}, 3'd0}};",
                off(o)
            );
        }
        let byte = |o: usize| format!("rsh{o}");
        let plain: Vec<String> = (0..8).rev().map(byte).collect();
        let quant: Vec<String> = (0..4).rev().map(|k| format!("quant${k}$y")).collect();
        let _ = writeln!(
            v,
            "wire [63:0] st_data = is_wide ? {{{}}} : {{{}}};\n\
             wire [8:0] st_mask = (9'd1 << b_n) - 9'd1;",
            quant.join(", "),
            plain.join(", ")
        );
        let wrap = |r: &str| format!("({r} == 16'd{}) ? 16'd0 : {r} + 16'd1", q - 1);
        let _ = writeln!(
            v,
            "always @(posedge clock) begin\n\
             \x20   if (take) begin\n\
             \x20       busy <= 1'b1;\n        is_store <= store;\n        is_wide <= requant;\n\
             \x20       is_tr <= transpose;\n\
             \x20       age <= 16'd1;\n        outst <= 16'd0;\n        lastset <= 1'b0;\n\
             \x20       done_st <= 1'b0;\n        qh <= 16'd0;\n        qt <= 16'd0;\n        qn <= 16'd0;\n\
             \x20   end else begin\n\
             \x20       if (fin) busy <= 1'b0;\n\
             \x20       if (busy & (age < 16'd{setup})) age <= age + 16'd1;\n\
             \x20       outst <= outst + {{15'd0, fetch_ld}} - {{15'd0, wfin & !is_store}};\n\
             \x20       done_st <= busy & is_store & mem_rvalid & rsp$last;\n\
             \x20       if (pop & rsp$last) lastset <= 1'b1;\n\
             \x20       if (push) begin\n            fifo[qt] <= mem_rdata;\n            qt <= {};\n        end\n\
             \x20       if (pop & queued) qh <= {};\n\
             \x20       qn <= qn + {{15'd0, push}} - {{15'd0, pop & queued}};\n\
             \x20   end\n\
             \x20   if (pop) wbusy <= 1'b1;\n    else if (wfin) wbusy <= 1'b0;\n\
             \x20   if (fetch_st) rbusy <= 1'b1;\n    else if (rseq$last) rbusy <= 1'b0;\n\
             \x20   if (fetch_st) begin\n\
             \x20       a_word <= req$word;\n        a_lo <= req$lo;\n        a_n <= req$n;\n        a_last <= req$last;",
            wrap("qt"),
            wrap("qh")
        );
        if lw > 0 {
            for o in 0..STORE_ENTRIES {
                let _ = writeln!(v, "        a_off{o} <= sa{o}[{}:0];", lw - 1);
            }
        }
        v.push_str("    end\n    if (rseq$last) begin\n        b_word <= a_word;\n        b_lo <= a_lo;\n        b_n <= a_n;\n        b_last <= a_last;\n");
        if lw > 0 {
            for o in 0..STORE_ENTRIES {
                let _ = writeln!(v, "        b_off{o} <= a_off{o};");
            }
        }
        v.push_str("    end\nend\n");
        v.push_str("always @(*) begin\n");
        for c in ["req", "rsp", "wseq", "rseq"] {
            let _ = writeln!(v, "    {c}$clock = clock;");
        }
        for c in ["req", "rsp"] {
            let _ = writeln!(v, "    {c}$start = take;");
            for f in &TRANSFER_INPUTS[4..] {
                let _ = writeln!(v, "    {c}${f} = {f};");
            }
            let _ = writeln!(v, "    {c}$wide = requant;");
        }
        v.push_str(
            "    req$advance = fetch;\n    rsp$advance = pop | (busy & is_store & mem_rvalid);\n",
        );
        for k in 0..4 {
            let b: Vec<String> = (4 * k..4 * k + 4).rev().map(byte).collect();
            let _ = writeln!(v, "    quant${k}$x = {{{}}};", b.join(", "));
        }
        let low = |a: &str| {
            if lw == 0 {
                "3'd0".to_string()
            } else {
                format!("{a}[{}:0]", lw - 1)
            }
        };
        v.push_str("    wseq$start = pop;\n    gather$clock = clock;\n    gather$start = take;\n    gather$sp = rsp$sp;\n    gather$n = rsp$n;\n");
        for j in 0..GATHER_FIELDS {
            let _ = writeln!(v, "    gather$f${j} = gf${j};");
        }
        for o in 0..WORD_BYTES {
            let _ = writeln!(
                v,
                "    wseq$valid${o} = 4'd{o} < rsp$n;\n    wseq$word${o} = la{o} >> {lw};\n    \
                 wseq$be${o} = 8'd1 << {};\n    wseq$data${o} = {{56'd0, lsh[{}:{}]}} << {{{}, 3'd0}};",
                low(&format!("la{o}")),
                8 * o + 7,
                8 * o,
                low(&format!("la{o}"))
            );
        }
        for o in WORD_BYTES..LOAD_ENTRIES {
            v.push_str(&format!(
                "    wseq$valid${o} = 1'b0;\n    wseq$word${o} = 16'd0;\n    wseq$be${o} = 8'd0;\n    wseq$data${o} = 64'd0;\n"
            ));
        }
        // A gather: every copy of the word's elements, one entry each (an element is aligned,
        // so it lies in one bank word).
        v.push_str("    if (gather$active) begin\n");
        for j in 0..GATHER_PORTS {
            let e = j % WORD_ELEMS;
            let a = format!("gather$addr${j}");
            let _ = writeln!(
                v,
                "        wseq$valid${j} = gather$we[{j}];\n        wseq$word${j} = {a} >> {lw};\n        \
                 wseq$be${j} = 8'd3 << {};\n        wseq$data${j} = {{48'd0, lsh[{}:{}]}} << {{{}, 3'd0}};",
                low(&a),
                16 * e + 15,
                16 * e,
                low(&a)
            );
        }
        v.push_str("    end\n");
        v.push_str("    rseq$start = fetch_st;\n");
        for o in 0..STORE_ENTRIES {
            let _ = writeln!(
                v,
                "    rseq$valid${o} = 5'd{o} < ({{1'b0, req$n}} << is_wide);\n    \
                 rseq$word${o} = sa{o} >> {lw};"
            );
        }
        for b in 0..banks {
            let _ = writeln!(
                v,
                "    wen${b} = fbusy ? fwen{b} : wseq$wen${b};\n    \
                 wrow${b} = fbusy ? frow{b} : wseq$wrow${b};\n    \
                 wdata${b} = fbusy ? fdata : wseq$wdata${b};\n    rrow${b} = rseq$rrow${b};\n    \
                 rseq$rdata${b} = rdata${b};"
            );
        }
        v.push_str(
            "    done = fin;\n    mem_valid = fetch_ld | st_write;\n    mem_write = st_write;\n\
             \x20   mem_addr = is_store ? b_word : req$word;\n    mem_last = is_store ? b_last : req$last;\n\
             \x20   mem_wdata = st_write ? st_data << {b_lo, 3'd0} : 64'd0;\n\
             \x20   mem_wmask = st_write ? st_mask[7:0] << b_lo : 8'd0;\nend\n",
        );
        // The answer walker's word address and the mask's carry bit are not needed.
        // The answer walker's word address, the mask's carry bit, and the ideal engine's pacing
        // and fill ports of the gather map are not needed.
        v.push_str(
            "wire _unused_bits = &{1'b0, rsp$word, st_mask[8], gather$sp_beats, gather$fill, \
             gather$fill_addr, gather$fill_n, gather$fill_value};\n",
        );
        v
    }
}

impl Logic for DmaPhysical {
    // Only the Verilog is simulated (see the module docs).
    fn update(&mut self) {}

    fn connect(&mut self) {
        self.done.connect();
        self.mem_valid.connect();
        self.mem_write.connect();
        self.mem_addr.connect();
        self.mem_wdata.connect();
        self.mem_wmask.connect();
        self.mem_last.connect();
        self.wen.iter_mut().for_each(|s| s.connect());
        self.wdata.iter_mut().for_each(|s| s.connect());
        self.wrow.iter_mut().for_each(|s| s.connect());
        self.rrow.iter_mut().for_each(|s| s.connect());
        for r in [&mut self.req, &mut self.rsp] {
            r.clock.connect();
            r.start.connect();
            r.advance.connect();
            r.dram_addr.connect();
            r.rows.connect();
            r.row_bytes.connect();
            r.stride.connect();
            r.sp_addr.connect();
            r.wide.connect();
            r.grid_w.connect();
            r.grid_h.connect();
            r.grid_x0.connect();
            r.grid_y0.connect();
            r.row_jump.connect();
            r.img_jump.connect();
        }
        for k in &mut self.quant {
            k.x.connect();
        }
        self.gather.clock.connect();
        self.gather.start.connect();
        self.gather.sp.connect();
        self.gather.n.connect();
        self.gather.f.iter_mut().for_each(|s| s.connect());
        self.wseq.clock.connect();
        self.wseq.start.connect();
        for e in 0..LOAD_ENTRIES {
            self.wseq.valid[e].connect();
            self.wseq.word[e].connect();
            self.wseq.be[e].connect();
            self.wseq.data[e].connect();
        }
        self.rseq.clock.connect();
        self.rseq.start.connect();
        for e in 0..STORE_ENTRIES {
            self.rseq.valid[e].connect();
            self.rseq.word[e].connect();
        }
        self.rseq.rdata.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}

/// The padding's fill (see the module docs): registers `fbusy` and its cycle `fk`, and per bank
/// `fwen$b`/`frow$b` with the pattern `fdata` of the pad value, and `ffin` (its last cycle).
fn fill_verilog(p: &Params) -> String {
    let (banks, w) = (p.region.banks(), p.region.width());
    let (lb, lw) = (banks.trailing_zeros() as usize, w.trailing_zeros() as usize);
    let (addr, bytes, pad) = (
        format!("gf${}", field::SP_ADDR),
        format!("gf${}", field::SP_BYTES),
        format!("gf${}", field::PAD_VALUE),
    );
    let full = (1u32 << w) - 1;
    let mut v = format!(
        "reg fbusy;\nreg [15:0] fk;\nreg [15:0] fw0;\nreg [15:0] fw1;\nreg [15:0] fpad;\n\
         reg [7:0] fbe0;\nreg [7:0] fbe1;\n\
         wire [15:0] fend = {addr}[15:0] + {bytes}[15:0] - 16'd1;\n\
         always @(posedge clock) begin\n\
         \x20   if (take) begin\n\
         \x20       fbusy <= !store & (gf${mode} == 32'd{IM2COL}) & (gf${fill} != 32'd0);\n\
         \x20       fk <= 16'd0;\n        fw0 <= {addr}[15:0] >> {lw};\n        fw1 <= fend >> {lw};\n\
         \x20       fpad <= {addr}[0] ? {{{pad}[7:0], {pad}[15:8]}} : {pad}[15:0];\n\
         \x20       fbe0 <= 8'd{full} << {lo};\n        fbe1 <= 8'd{full} >> (4'd{hi} - {{1'b0, {end}}});\n\
         \x20   end else if (fbusy) begin\n        fbusy <= !ffin;\n        fk <= fk + 16'd1;\n    end\nend\n",
        mode = field::MODE,
        fill = field::FILL,
        lo = if lw == 0 { "3'd0".to_string() } else { format!("{addr}[{}:0]", lw - 1) },
        hi = w - 1,
        end = if lw == 0 { "3'd0".to_string() } else { format!("fend[{}:0]", lw - 1) },
    );
    let reps = vec!["fpad"; w / 2].join(", ");
    let _ = writeln!(v, "wire [63:0] fdata = {{{reps}}};");
    // Bank b's k-th word of the range lies in bank row r0 + k (+1 if its word of row r0 comes
    // before the range): word = row·B + ((b − row) mod B).
    let _ = writeln!(v, "wire [15:0] fr0 = fw0 >> {lb};");
    let mut later = Vec::new();
    for b in 0..banks {
        let low = |row: &str| {
            if lb == 0 {
                String::new()
            } else {
                format!(" + {{{}'d0, {lb}'d{b} - {row}[{}:0]}}", 16 - lb, lb - 1)
            }
        };
        let _ = writeln!(
            v,
            "wire [15:0] fs{b} = (fr0 << {lb}){} < fw0 ? 16'd1 : 16'd0;\n\
             wire [15:0] frow{b} = fr0 + fk + fs{b};\n\
             wire [15:0] fword{b} = (frow{b} << {lb}){};\n\
             wire [15:0] frowp{b} = frow{b} + 16'd1;\n\
             wire [15:0] fnext{b} = (frowp{b} << {lb}){};\n\
             wire [7:0] fwen{b} = (fbusy & (fword{b} <= fw1)) ? \
             (8'd{full} & (fword{b} == fw0 ? fbe0 : 8'd255) & (fword{b} == fw1 ? fbe1 : 8'd255)) : 8'd0;",
            low("fr0"),
            low(&format!("frow{b}")),
            low(&format!("frowp{b}")),
        );
        later.push(format!("(fnext{b} <= fw1)"));
    }
    let _ = writeln!(v, "wire ffin = fbusy & !({});", later.join(" | "));
    v
}
