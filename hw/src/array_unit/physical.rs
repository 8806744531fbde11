//! `PhysicalArrayUnit`: the array unit on physically banked input, weight and output regions —
//! the grid ([`WsArray`]) fed from two bank read sequencers ([`BankReadSequencer`]) that the
//! controller ([`FetchFeeder`]) runs one access set at a time, and its output buffer on a third
//! read sequencer and a [`BankWriteSequencer`]:
//!
//! ```text
//!  input region copy ─► x sequencer: column j's set, the words of x[q][j] for q in
//!                       `timing::ws_column_rows` (one entry a row)
//!        all held the cycle the slot enters row 0 ─► row i's lanes picked ─► i skew registers ─► row i
//!  weight region copy ─► w sequencer: a preload row's set, per array column the words of its
//!                       weight (2 bytes) and, packed, of its index bits (4 entries a column)
//!        all held the cycle the row enters column 0 ─► column c's weight ─► c skew registers ─► column c
//!  output region copy ─► y sequencer: slot j's C results, started with column j's x set
//!        held when the slot enters row 0 ─► column c's word down R−1+c registers ─► + result
//!        ─► de-skewed C−c registers ─► write wheel ─► y write sequencer ─► write port
//! ```
//!
//! The grid sees exactly the exact model's edges (`nmsat_sim::exact::array::WsEdges` with
//! `EdgeBeats` of the same `GemmPlacement`), two cycles late (see [`FetchFeeder`]), which the
//! model charges (`timing::ws_fetch_lead`): `done` is high in cycle `run_gemm(..).cycles − 1`
//! after the issue cycle 0, as the ideal unit's is.
//!
//! Row i of a slot takes the M-group of compressed position q0+i: the set's entries from
//! `⌊(q0 mod N + i)/N⌋·M` on (the set starts at the first row of q0's group), lane l ≥ M and
//! rows beyond x's k rows zero. Column c's weight lies at `w + (nb·C + c)·row + group + 2s` and
//! its index bits at bit `s·ib` of the group's index bytes; each is fetched as the word of its
//! first byte and the word of its last (the same word unless the piece straddles two, which
//! packed groups of odd size do), exactly the words `WsPlaced::preload_step` counts.
//!
//! # The output buffer
//!
//! Slot j's C results are one set of degree `d_j ≤ C` (an INT32 lies in one word of `W ≥ 4`
//! bytes). Its read set starts with the column's x set in the first cycle `A_j` of the
//! column's period `c_j = max(x_j, d_j)` (the column fires when both sequencers are through),
//! so every word is held when the slot enters row 0, at `X_j + 2` (`X_j = A_j + c_j − 1`, the
//! model's fire). Each column's word and the slot's degree go down with it to its result,
//! which leaves column c at `X_j + R + 1 + c`; the last column's leaves at
//! `E_j = A_j + c_j + R + C − 1`.
//!
//! **Forwarding.** The read is served from `A_j + 1`; the previous reduction fold's write of
//! the same words (slot j, exactly t slots earlier in every column's order) is served through
//! `E'_j + X' ≤ E'_j + 1 + C` (`timing::ws_output_tail`). Slots leave at least a cycle apart,
//! slot j `c_j` after the one before, so `E'_j ≤ E_j − c_j − (t − 1) = A_j + R + C − t`; the
//! write has landed before the read when `A_j + R + 2C + 1 − t ≤ A_j`, i.e. `t > R + 2C`.
//! For `t ≤ R + 2C` each column keeps its last `R + 2C` sums and, outside a block's first
//! reduction fold, adds to the sum t slots back instead of the read word (the same word: the
//! value is right whether or not the write has landed).
//!
//! **Writes.** The C sums are aligned at `E_j + 1` (column c's delayed `C − c` registers),
//! with the slot's degree; the write set starts at `E_j + X_j − d_j`, `X_j = 1 + max_{i≤j}
//! d_i`, through a wheel of C − 1 registers (an offset of 0 … C − 1 cycles), so it is served
//! through `E_j + X_j` and writes never overlap; `done` is the last slot's write's last
//! serving cycle, as `timing::ws_output_tail` charges.
//!
//! The unit's own Verilog (the picks, skews and wiring) is written out here, as the
//! sequencers' is; its rust-hdl `update` is empty, so it runs under Verilator, not under
//! rust-hdl's simulator.

use super::edges::BottomStep;
use super::fetch::FetchFeeder;
use super::fields::GEMM_FIELDS;
use crate::array::signals;
use crate::bank_sequencer::{BankReadSequencer, BankWriteSequencer, SequencerShape, MAX_ENTRIES};
use crate::banked_region::RegionShape;
use crate::pe::IDX_BITS;
use crate::ws_array::WsArray;
use crate::ws_pe::{DEST_BITS, FLAG_BITS};
use crate::HwError;
use nmsat_compiler::arch::{Arch, Banking, Dataflow, Region};
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Entries of the weight set per array column: the value's first and last word, the index
/// bits' first and last word.
const W_ENTRIES: usize = 4;

/// Entries of a column's x set on `arch`: R rows dense; for each N:M pattern the array runs,
/// every M-group that R compressed positions starting at the last slot of a group span,
/// `(⌊(N−1+R−1)/N⌋ + 1)·M`.
pub fn x_set_entries(arch: &Arch) -> u64 {
    let r = arch.rows;
    arch.patterns
        .iter()
        .map(|nm| ((nm.n - 1 + r - 1) / nm.n + 1) * nm.m)
        .fold(r, u64::max)
}

/// Slots of results each output column keeps for forwarding, `R + 2C` on an R×C array: the
/// same slot of the next reduction fold, `t` slots later, may read y before this one's write
/// has landed only when `t ≤ R + 2C` (see the module docs).
pub fn forward_depth(rows: usize, cols: usize) -> usize {
    rows + 2 * cols
}

/// The sizes the unit is built for, checked against what the RTL supports.
#[derive(Clone, Copy, Debug)]
struct Shape {
    rows: usize,
    cols: usize,
    x: SequencerShape,
    w: SequencerShape,
    y: SequencerShape,
}

fn sequencer(
    field: &'static str,
    region: &Region,
    entries: u64,
) -> Result<SequencerShape, HwError> {
    if region.banking != Banking::Physical {
        return Err(HwError::Unsupported {
            field,
            value: "ideal".into(),
            reason: "the physical array unit fetches this operand through a bank sequencer".into(),
            allowed: "physical".into(),
        });
    }
    if entries > MAX_ENTRIES as u64 {
        return Err(HwError::Unsupported {
            field,
            value: entries.to_string(),
            reason: format!(
                "a set of this array has {entries} entries, a sequencer at most {MAX_ENTRIES}"
            ),
            allowed: format!("≤ {MAX_ENTRIES} entries: a smaller array or fewer M-groups a column"),
        });
    }
    let (banks, width) = (region.banks as usize, region.bank_width_bytes as usize);
    let row_bits = RegionShape::new(region.bytes, banks, width, 1)?.row_bits();
    SequencerShape::new(entries as usize, banks, width, row_bits)
}

impl Shape {
    fn new(arch: &Arch) -> Result<Shape, HwError> {
        if arch.dataflow != Dataflow::WeightStationary {
            return Err(HwError::Unsupported {
                field: "array.dataflow",
                value: "output-stationary".into(),
                reason: "the RTL array is weight-stationary".into(),
                allowed: "weight-stationary".into(),
            });
        }
        if arch.output.bank_width_bytes < 4 {
            return Err(HwError::Unsupported {
                field: "scratchpads.output.bank_width_bytes",
                value: arch.output.bank_width_bytes.to_string(),
                reason: "a result (INT32) must lie in one bank word".into(),
                allowed: "4, 8".into(),
            });
        }
        if arch.input.bank_width_bytes < 2 {
            return Err(HwError::Unsupported {
                field: "scratchpads.input.bank_width_bytes",
                value: arch.input.bank_width_bytes.to_string(),
                reason: "an activation must lie in one bank word".into(),
                allowed: "2, 4, 8".into(),
            });
        }
        let (rows, cols) = (arch.rows as usize, arch.cols as usize);
        if !(2..(1 << DEST_BITS)).contains(&rows) || cols < 2 {
            return Err(HwError::Unsupported {
                field: "array.rows",
                value: format!("{rows}×{cols}"),
                reason: "the array unit needs a 2×2 grid or larger, and at most 31 rows".into(),
                allowed: "2 ..= 31 rows, 2 or more columns".into(),
            });
        }
        Ok(Shape {
            rows,
            cols,
            x: sequencer("scratchpads.input", &arch.input, x_set_entries(arch))?,
            w: sequencer(
                "scratchpads.weight",
                &arch.weight,
                (W_ENTRIES * cols) as u64,
            )?,
            y: sequencer("scratchpads.output", &arch.output, cols as u64)?,
        })
    }
}

/// The array unit on physical input and weight regions; see the module docs.
#[derive(LogicBlock)]
pub struct PhysicalArrayUnit<const L: usize> {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// The array queue issues a GEMM in this cycle.
    pub start: Signal<In, Bit>,
    /// Its fields ([`super::GemmOp`]), valid in the issue cycle.
    pub g: [Signal<In, Bits<16>>; GEMM_FIELDS],
    /// The GEMM's last result is written in this cycle.
    pub done: Signal<Out, Bit>,
    /// Per bank: the row the x sequencer reads from the input region's copy, and its answer.
    pub x_rrow: Vec<Signal<Out, Bits<16>>>,
    /// See `x_rrow`.
    pub x_rdata: Vec<Signal<In, Bits<64>>>,
    /// Per bank: the row the w sequencer reads from the weight region's copy, and its answer.
    pub w_rrow: Vec<Signal<Out, Bits<16>>>,
    /// See `w_rrow`.
    pub w_rdata: Vec<Signal<In, Bits<64>>>,
    /// Per bank: the row the y read sequencer reads from the output region's copy, and its
    /// answer.
    pub y_rrow: Vec<Signal<Out, Bits<16>>>,
    /// See `y_rrow`.
    pub y_rdata: Vec<Signal<In, Bits<64>>>,
    /// Per bank: the output region's write port (`BankedRegion`'s `wen`, `wrow`, `wdata`).
    pub y_wen: Vec<Signal<Out, Bits<8>>>,
    /// See `y_wen`.
    pub y_wrow: Vec<Signal<Out, Bits<16>>>,
    /// See `y_wen`.
    pub y_wdata: Vec<Signal<Out, Bits<64>>>,
    feeder: FetchFeeder,
    xseq: BankReadSequencer,
    wseq: BankReadSequencer,
    yseq: BankReadSequencer,
    ywseq: BankWriteSequencer,
    grid: WsArray<L>,
    bottom_step: Vec<BottomStep>,
    _shape: Shape,
}

impl<const L: usize> PhysicalArrayUnit<L> {
    /// The unit for `arch`'s array and regions, all three physical; otherwise an error naming
    /// the field at fault.
    pub fn new(arch: &Arch) -> Result<Self, HwError> {
        if let Some(nm) = arch.patterns.iter().find(|nm| nm.m as usize > L) {
            return Err(HwError::Unsupported {
                field: "array.patterns",
                value: nm.to_string(),
                reason: format!("the unit is built with {L} lanes a PE"),
                allowed: format!("M ≤ {L}"),
            });
        }
        let s = Shape::new(arch)?;
        let (r, c) = (s.rows, s.cols);
        Ok(Self {
            clock: Default::default(),
            start: Default::default(),
            g: Default::default(),
            done: Default::default(),
            x_rrow: signals(s.x.banks()),
            x_rdata: signals(s.x.banks()),
            w_rrow: signals(s.w.banks()),
            w_rdata: signals(s.w.banks()),
            y_rrow: signals(s.y.banks()),
            y_rdata: signals(s.y.banks()),
            y_wen: signals(s.y.banks()),
            y_wrow: signals(s.y.banks()),
            y_wdata: signals(s.y.banks()),
            feeder: Default::default(),
            xseq: BankReadSequencer::from_shape(s.x),
            wseq: BankReadSequencer::from_shape(s.w),
            yseq: BankReadSequencer::from_shape(s.y),
            ywseq: BankWriteSequencer::from_shape(s.y),
            grid: WsArray::new(r, c),
            bottom_step: (0..c - 1).map(|_| BottomStep::default()).collect(),
            _shape: s,
        })
    }

    fn verilog(&self) -> String {
        let Shape {
            rows,
            cols,
            x,
            w,
            y,
        } = self._shape;
        let mut v = Text::default();
        v.fields(rows, cols);
        v.x_set(x);
        v.y_set(y);
        v.rows(rows, x.entries(), L);
        v.w_set(w, cols);
        v.output(rows, cols, y);
        v.wiring(cols, x.banks(), w.banks(), y.banks());
        v.finish()
    }
}

/// Bits of a byte offset within a `width`-byte word (at least one).
fn offset_bits(width: usize) -> usize {
    (width.trailing_zeros() as usize).max(1)
}

/// The byte offset of `addr` within its word, `offset_bits(width)` wide.
fn offset(width: usize, addr: &str) -> String {
    if width == 1 {
        "1'b0".into()
    } else {
        format!("{addr}[{}:0]", width.trailing_zeros() - 1)
    }
}

/// The word index of byte `addr`.
fn word(width: usize, addr: &str) -> String {
    let lw = width.trailing_zeros();
    if lw == 0 {
        addr.into()
    } else {
        format!("{{{lw}'d0, {addr}[15:{lw}]}}")
    }
}

/// The unit's Verilog as it is written: declarations and logic in `body`, the children's
/// inputs and the unit's outputs in one combinational block, bits never read in `unused`.
#[derive(Default)]
struct Text {
    body: String,
    comb: String,
    unused: Vec<String>,
}

impl Text {
    fn fields(&mut self, rows: usize, cols: usize) {
        let c = &mut self.comb;
        let _ = writeln!(
            c,
            "    feeder$clock = clock;\n    feeder$start = start;\n    feeder$rows = 16'd{rows};\n    \
             feeder$cols = 16'd{cols};\n    feeder$drain = 16'd{};\n    \
             feeder$x_last = xseq$last;\n    feeder$y_last = yseq$last;\n    feeder$w_last = wseq$last;\n    \
             xseq$clock = clock;\n    xseq$start = feeder$xs_start;\n    yseq$clock = clock;\n    \
             yseq$start = feeder$xs_start;\n    ywseq$clock = clock;\n    wseq$clock = clock;\n    \
             wseq$start = feeder$ws_start;\n    grid$clock = clock;\n    grid$sparse = feeder$sparse;",
            rows + cols - 2
        );
        for i in 0..GEMM_FIELDS {
            let _ = writeln!(c, "    feeder$g${i} = g${i};");
        }
        self.unused
            .extend(["xseq$done".into(), "wseq$done".into(), "yseq$done".into()]);
    }

    /// A read set's entries on sequencer `{p}seq`: entry e at byte `first + e·step`
    /// (`{p}a{e}`), part of the set when `valid(e)` (`{p}v{e}`); its byte offset latched with
    /// the set (`{p}oa{e}`, at `start`) and again in its last serving cycle (`{p}ob{e}`), so
    /// that it is still there the cycle after, when the words are all held; `{p}s{e}` is the
    /// word shifted down to the entry's bytes.
    fn read_entries(
        &mut self,
        p: &str,
        shape: SequencerShape,
        (first, step): (&str, &str),
        valid: &dyn Fn(usize) -> String,
    ) {
        let wd = shape.width();
        let h = offset_bits(wd) - 1;
        for e in 0..shape.entries() {
            let addr = match e {
                0 => first.to_string(),
                _ => format!("{p}a{} + {step}", e - 1),
            };
            let _ = writeln!(
                self.body,
                "wire [15:0] {p}a{e} = {addr};\nwire {p}v{e} = {};\n\
                 reg [{h}:0] {p}oa{e};\nreg [{h}:0] {p}ob{e};\n\
                 always @(posedge clock) begin\n    if (feeder$xs_start) {p}oa{e} <= {off};\n    \
                 if ({p}seq$last) {p}ob{e} <= {p}oa{e};\nend\n\
                 wire [63:0] {p}s{e} = {p}seq$rdata_e${e} >> {{{p}ob{e}, 3'b000}};",
                valid(e),
                off = offset(wd, &format!("{p}a{e}")),
            );
            let _ = writeln!(
                self.comb,
                "    {p}seq$valid${e} = {p}v{e};\n    {p}seq$word${e} = {};",
                word(wd, &format!("{p}a{e}"))
            );
        }
    }

    /// Column j's x set: entry e is row `xs_row + e` at byte `xs_addr + e·2t`; its validity is
    /// latched as its offset is.
    fn x_set(&mut self, x: SequencerShape) {
        let valid = |e| format!("(feeder$xs_row + 16'd{e}) < feeder$xs_end");
        self.read_entries("x", x, ("feeder$xs_addr", "feeder$t2"), &valid);
        for e in 0..x.entries() {
            let _ = writeln!(
                self.body,
                "reg xva{e};\nreg xvb{e};\n\
                 always @(posedge clock) begin\n    if (feeder$xs_start) xva{e} <= xv{e};\n    \
                 if (xseq$last) xvb{e} <= xva{e};\nend\n\
                 wire [15:0] xel{e} = xvb{e} ? xs{e}[15:0] : 16'd0;"
            );
            self.unused.push(format!("xs{e}[63:16]"));
        }
    }

    /// Each row's lanes, picked from the held x words in the cycle the slot enters row 0,
    /// then delayed i cycles to row i; the slot's flags and output part go down a register
    /// a row.
    fn rows(&mut self, rows: usize, entries: usize, l: usize) {
        let b = &mut self.body;
        let _ = writeln!(
            b,
            "wire [15:0] rr0 = feeder$s_res;\nwire [15:0] rb0 = 16'd0;\n\
             wire sv0 = feeder$s_valid;\nwire ss0 = feeder$s_sw;\n\
             wire [15:0] syo0 = feeder$s_yo;\nwire [15:0] soc0 = feeder$s_oc;\nwire sow0 = feeder$s_ow;"
        );
        for i in 1..rows {
            let p = i - 1;
            let _ = writeln!(
                b,
                "wire wrap{i} = (rr{p} + 16'd1) == feeder$n;\n\
                 wire [15:0] rb{i} = wrap{i} ? rb{p} + feeder$mm : rb{p};"
            );
            if i + 1 < rows {
                let _ = writeln!(b, "wire [15:0] rr{i} = wrap{i} ? 16'd0 : rr{p} + 16'd1;");
            }
            let _ = writeln!(
                b,
                "reg sv{i};\nreg ss{i};\nreg [15:0] syo{i};\nreg [15:0] soc{i};\nreg sow{i};\n\
                 always @(posedge clock) begin\n    sv{i} <= sv{p};\n    ss{i} <= ss{p};\n    \
                 syo{i} <= syo{p};\n    soc{i} <= soc{p};\n    sow{i} <= sow{p};\nend"
            );
        }
        for i in 0..rows {
            let _ = writeln!(
                self.comb,
                "    grid$fl_in${i} = {};",
                flags(&format!("ss{i}"), &format!("sv{i}"))
            );
            for lane in 0..l {
                let _ = writeln!(
                    b,
                    "reg [15:0] ln{i}_{lane};\nalways @(*) begin\n    ln{i}_{lane} = 16'd0;\n    \
                     if (sv0 && (16'd{lane} < feeder$mm)) begin"
                );
                for e in 0..entries {
                    let _ = writeln!(
                        b,
                        "        if (rb{i} + 16'd{lane} == 16'd{e}) ln{i}_{lane} = xel{e};"
                    );
                }
                let _ = writeln!(b, "    end\nend");
                for s in 1..=i {
                    let src = if s == 1 {
                        format!("ln{i}_{lane}")
                    } else {
                        format!("sk{i}_{lane}_{}", s - 1)
                    };
                    let _ = writeln!(
                        b,
                        "reg [15:0] sk{i}_{lane}_{s};\nalways @(posedge clock) sk{i}_{lane}_{s} <= {src};"
                    );
                }
                let lane_in = if i == 0 {
                    format!("ln0_{lane}")
                } else {
                    format!("sk{i}_{lane}_{i}")
                };
                let _ = writeln!(self.comb, "    grid$a_in${} = {lane_in};", i * l + lane);
            }
        }
        // The last row's slot is the bottom edge's; its own output part goes unused above it.
        let last = rows - 1;
        let _ = writeln!(
            self.comb,
            "    bottom_step$0$b_valid = sv{last};\n    bottom_step$0$b_yo = syo{last};\n    \
             bottom_step$0$b_oc = soc{last};\n    bottom_step$0$b_ow = sow{last};"
        );
    }

    /// A preload row's w set: column c's value and index pieces (entries 4c … 4c+3), their
    /// offsets latched as the x set's are; the weight picked the cycle the row enters column
    /// 0, then delayed c cycles to column c with its destination.
    fn w_set(&mut self, w: SequencerShape, cols: usize) {
        let wd = w.width();
        let ob = offset_bits(wd);
        let top = wd - 1;
        let b = &mut self.body;
        // s·ib for ib ≤ 3 without a multiplier; the index bits' first and last byte.
        let _ = writeln!(
            b,
            "wire [15:0] sib = (feeder$ib == 16'd1) ? feeder$ws_s : (feeder$ib == 16'd2) ? \
             {{feeder$ws_s[14:0], 1'b0}} : (feeder$ib == 16'd3) ? ({{feeder$ws_s[14:0], 1'b0}} + feeder$ws_s) : 16'd0;\n\
             wire [15:0] ib_end = sib + feeder$ib - 16'd1;\nwire ixv = feeder$ib != 16'd0;\n\
             reg [2:0] isha;\nreg [2:0] ishb;\n\
             always @(posedge clock) begin\n    if (feeder$ws_start) isha <= sib[2:0];\n    \
             if (wseq$last) ishb <= isha;\nend"
        );
        for c in 0..cols {
            let wo = if c == 0 {
                "feeder$ws_wo".to_string()
            } else {
                format!("wo{} + feeder$wstride", c - 1)
            };
            let _ = writeln!(
                b,
                "wire [15:0] wo{c} = {wo};\n\
                 wire wg{c} = feeder$ws_qv & ((feeder$ws_oc + 16'd{c}) < feeder$m);\n\
                 wire [15:0] va{c} = feeder$w_base + wo{c} + {{feeder$ws_s[14:0], 1'b0}};\n\
                 wire [15:0] vz{c} = va{c} + 16'd1;\n\
                 wire [15:0] ig{c} = feeder$w_base + wo{c} + {{feeder$n[14:0], 1'b0}};\n\
                 wire [15:0] ia{c} = ig{c} + {{3'd0, sib[15:3]}};\n\
                 wire [15:0] iz{c} = ig{c} + {{3'd0, ib_end[15:3]}};\n\
                 reg [{h}:0] voa{c};\nreg [{h}:0] vob{c};\nreg [{h}:0] ioa{c};\nreg [{h}:0] iob{c};\n\
                 reg wga{c};\nreg wgb{c};\n\
                 always @(posedge clock) begin\n    if (feeder$ws_start) begin\n        \
                 voa{c} <= {vo};\n        ioa{c} <= {io};\n        wga{c} <= wg{c};\n    end\n    \
                 if (wseq$last) begin\n        vob{c} <= voa{c};\n        iob{c} <= ioa{c};\n        \
                 wgb{c} <= wga{c};\n    end\nend\n\
                 wire [63:0] vlo{c} = wseq$rdata_e${e0} >> {{vob{c}, 3'b000}};\n\
                 wire [15:0] v{c} = (vob{c} == {ob}'d{top}) ? {{wseq$rdata_e${e1}[7:0], vlo{c}[7:0]}} : vlo{c}[15:0];\n\
                 wire [63:0] ilo{c} = wseq$rdata_e${e2} >> {{iob{c}, 3'b000}};\n\
                 wire [15:0] iw{c} = (iob{c} == {ob}'d{top}) ? {{wseq$rdata_e${e3}[7:0], ilo{c}[7:0]}} : ilo{c}[15:0];\n\
                 wire [15:0] is{c} = iw{c} >> ishb;\n\
                 wire [{ib}:0] sel{c} = (feeder$ib == 16'd1) ? {{{i1}'d0, is{c}[0]}} : (feeder$ib == 16'd2) ? \
                 {{{i2}'d0, is{c}[1:0]}} : (feeder$ib == 16'd3) ? {{{i3}'d0, is{c}[2:0]}} : {idx}'d0;\n\
                 wire on{c} = feeder$p_on & wgb{c};\n\
                 wire [15:0] wv{c} = on{c} ? v{c} : 16'd0;\n\
                 wire [{ib}:0] wsel{c} = on{c} ? sel{c} : {idx}'d0;\n\
                 wire [{db}:0] wd{c} = feeder$p_on ? feeder$p_dd : {dest}'d0;",
                h = ob - 1,
                vo = offset(wd, &format!("va{c}")),
                io = offset(wd, &format!("ia{c}")),
                e0 = W_ENTRIES * c,
                e1 = W_ENTRIES * c + 1,
                e2 = W_ENTRIES * c + 2,
                e3 = W_ENTRIES * c + 3,
                ib = IDX_BITS - 1,
                idx = IDX_BITS,
                i1 = IDX_BITS - 1,
                i2 = IDX_BITS - 2,
                i3 = IDX_BITS - 3,
                db = DEST_BITS - 1,
                dest = DEST_BITS,
            );
            for (k, (addr, valid)) in [
                (format!("va{c}"), format!("wg{c}")),
                (format!("vz{c}"), format!("wg{c}")),
                (format!("ia{c}"), format!("wg{c} & ixv")),
                (format!("iz{c}"), format!("wg{c} & ixv")),
            ]
            .iter()
            .enumerate()
            {
                let e = W_ENTRIES * c + k;
                let _ = writeln!(
                    self.comb,
                    "    wseq$valid${e} = {valid};\n    wseq$word${e} = {};",
                    word(wd, addr)
                );
            }
            for s in 1..=c {
                for (name, width) in [("wv", 16), ("wsel", IDX_BITS), ("wd", DEST_BITS)] {
                    let src = if s == 1 {
                        format!("{name}{c}")
                    } else {
                        format!("{name}{c}_{}", s - 1)
                    };
                    let _ = writeln!(
                        b,
                        "reg [{}:0] {name}{c}_{s};\nalways @(posedge clock) {name}{c}_{s} <= {src};",
                        width - 1
                    );
                }
            }
            let at = |name: &str| {
                if c == 0 {
                    format!("{name}0")
                } else {
                    format!("{name}{c}_{c}")
                }
            };
            let _ = writeln!(
                self.comb,
                "    grid$sh_in${c} = {};\n    grid$sh_sel_in${c} = {};\n    grid$sh_dest_in${c} = {};\n    \
                 grid$ps_in${c} = 32'd0;",
                at("wv"),
                at("wsel"),
                at("wd")
            );
            self.unused.extend([
                format!("vlo{c}[63:16]"),
                format!("ilo{c}[63:16]"),
                format!("is{c}[15:3]"),
                format!("wseq$rdata_e${}[63:8]", W_ENTRIES * c + 1),
                format!("wseq$rdata_e${}[63:8]", W_ENTRIES * c + 3),
            ]);
            if wd > 1 {
                // The last byte's word is all that is needed of it.
                let h = wd.trailing_zeros() - 1;
                self.unused
                    .extend([format!("vz{c}[{h}:0]"), format!("iz{c}[{h}:0]")]);
            }
        }
        self.unused.push("ib_end[2:0]".into());
    }

    /// Slot j's y set, started with its x set: column c's result at byte `y + ys_yo + c·4t`,
    /// valid below m; and the set's degree, the cycles from its start to its last serving cycle.
    fn y_set(&mut self, y: SequencerShape) {
        let valid = |e| format!("(feeder$ys_oc + 16'd{e}) < feeder$m");
        self.read_entries(
            "y",
            y,
            ("feeder$y_base + feeder$ys_yo", "feeder$t4"),
            &valid,
        );
        for e in 0..y.entries() {
            self.unused.push(format!("ys{e}[63:32]"));
        }
        let _ = writeln!(
            self.body,
            "reg [7:0] yc;\nreg [7:0] ydeg;\nalways @(posedge clock) begin\n    \
             if (feeder$xs_start) yc <= 8'd1; else yc <= yc + 8'd1;\n    \
             if (yseq$last) ydeg <= yc;\nend"
        );
    }

    /// The output buffer (see the module docs): each column's read word (and, with the last
    /// column, the slot's degree) goes down with the slot to its result; the sum takes the
    /// word, the sum t slots back (forwarded) or nothing (overwrite); the C sums are aligned a
    /// cycle after the last column's, and their write set starts through a wheel.
    fn output(&mut self, rows: usize, cols: usize, y: SequencerShape) {
        let depth = forward_depth(rows, cols);
        let last = rows - 1;
        let b = &mut self.body;
        let _ = writeln!(
            b,
            "wire [15:0] tq = {{2'b00, feeder$t4[15:2]}};\nwire tsmall = tq <= 16'd{depth};"
        );
        self.unused.push("feeder$t4[1:0]".into());
        for c in 0..cols {
            let (bits, cap) = if c + 1 == cols {
                (41, format!("{{feeder$s_first, ydeg, ys{c}[31:0]}}"))
            } else {
                (33, format!("{{feeder$s_first, ys{c}[31:0]}}"))
            };
            let stages = last + c;
            let _ = writeln!(b, "wire [{}:0] yp{c}_0 = {cap};", bits - 1);
            for st in 1..=stages {
                let _ = writeln!(
                    b,
                    "reg [{}:0] yp{c}_{st};\nalways @(posedge clock) yp{c}_{st} <= yp{c}_{};",
                    bits - 1,
                    st - 1
                );
            }
            let (bv, byo, boc, bow) = if c == 0 {
                (
                    format!("sv{last}"),
                    format!("syo{last}"),
                    format!("soc{last}"),
                    format!("sow{last}"),
                )
            } else {
                let p = c - 1;
                (
                    format!("bottom_step${p}$q_valid"),
                    format!("bottom_step${p}$q_yo"),
                    format!("bottom_step${p}$q_oc"),
                    format!("bottom_step${p}$q_ow"),
                )
            };
            let _ = writeln!(
                b,
                "wire bv{c} = {bv};\nwire [{h}:0] ye{c} = yp{c}_{stages};\nwire yf{c} = ye{c}[{h}];\n\
                 reg [31:0] hs{c};\n\
                 wire [31:0] base{c} = {bow} ? 32'd0 : ((!yf{c} && tsmall) ? hs{c} : ye{c}[31:0]);\n\
                 wire [31:0] sum{c} = base{c} + grid$ps_out${c};\n\
                 wire bin{c} = bv{c} & ({boc} < feeder$m);\n\
                 wire [15:0] yad{c} = feeder$y_base + {byo};",
                h = bits - 1,
            );
            let mut sel = format!("always @(*) begin\n    hs{c} = h{c}_0;\n");
            let mut shift =
                format!("always @(posedge clock) if (bv{c}) begin\n    h{c}_0 <= sum{c};\n");
            for i in 0..depth {
                let _ = writeln!(b, "reg [31:0] h{c}_{i};");
                if i > 0 {
                    let _ = writeln!(sel, "    if (tq == 16'd{}) hs{c} = h{c}_{i};", i + 1);
                    let _ = writeln!(shift, "    h{c}_{i} <= h{c}_{};", i - 1);
                }
            }
            let _ = writeln!(b, "{sel}end\n{shift}end");
            // Aligned a cycle after the last column's result: C − c registers.
            let _ = writeln!(
                b,
                "reg [48:0] dq{c}_1;\nalways @(posedge clock) dq{c}_1 <= {{bin{c}, yad{c}, sum{c}}};"
            );
            for st in 2..=cols - c {
                let _ = writeln!(
                    b,
                    "reg [48:0] dq{c}_{st};\nalways @(posedge clock) dq{c}_{st} <= dq{c}_{};",
                    st - 1
                );
            }
        }
        // The slot, aligned: its write ends X_j = 1 + max d cycles after its last result.
        let lc = cols - 1;
        let pay = 1 + 49 * cols;
        let parts: Vec<String> = (0..cols).map(|c| format!("dq{c}_{}", cols - c)).collect();
        let _ = writeln!(
            b,
            "reg qv;\nreg [7:0] qdeg;\nreg qlast;\nreg [7:0] xrun;\n\
             always @(posedge clock) begin\n    qv <= bv{lc};\n    qdeg <= ye{lc}[39:32];\n    \
             qlast <= feeder$done;\nend\n\
             wire [7:0] qd1 = qdeg + 8'd1;\nwire [7:0] xj = (xrun > qd1) ? xrun : qd1;\n\
             wire [7:0] pdel = xj - qd1;\n\
             always @(posedge clock) begin\n    if (start) xrun <= 8'd0;\n    \
             else if (qv) xrun <= xj;\nend\n\
             wire [{p}:0] qpay = {{qlast, {}}};",
            parts.join(", "),
            p = pay - 1,
        );
        for k in (1..cols).rev() {
            let (nv, np) = if k + 1 < cols {
                (format!("whv{}", k + 1), format!("whp{}", k + 1))
            } else {
                ("1'b0".into(), format!("{pay}'d0"))
            };
            let _ = writeln!(
                b,
                "reg whv{k};\nreg [{p}:0] whp{k};\nalways @(posedge clock) begin\n    \
                 whv{k} <= (qv && pdel == 8'd{k}) ? 1'b1 : {nv};\n    \
                 whp{k} <= (qv && pdel == 8'd{k}) ? qpay : {np};\nend",
                p = pay - 1,
            );
        }
        let _ = writeln!(
            b,
            "wire go = (qv && pdel == 8'd0) | whv1;\n\
             wire [{p}:0] gp = (qv && pdel == 8'd0) ? qpay : whp1;\n\
             reg wl;\nalways @(posedge clock) if (go) wl <= gp[{p}];",
            p = pay - 1,
        );
        let wd = y.width();
        for c in 0..cols {
            let lo = 49 * (cols - 1 - c);
            let _ = writeln!(
                b,
                "wire gbin{c} = gp[{}];\nwire [15:0] gad{c} = gp[{}:{}];\nwire [31:0] gsum{c} = gp[{}:{lo}];",
                lo + 48,
                lo + 47,
                lo + 32,
                lo + 31,
            );
            let off = offset(wd, &format!("gad{c}"));
            let _ = writeln!(
                self.comb,
                "    ywseq$valid${c} = gbin{c};\n    ywseq$word${c} = {};\n    \
                 ywseq$be${c} = 8'hf << {off};\n    ywseq$data${c} = {{32'd0, gsum{c}}} << {{{off}, 3'b000}};",
                word(wd, &format!("gad{c}"))
            );
        }
        let _ = writeln!(
            self.comb,
            "    ywseq$start = go;\n    done = ywseq$done & wl;"
        );
    }

    /// The children's remaining inputs and the unit's outputs: the regions' rows and answers,
    /// and the output region's write port.
    fn wiring(&mut self, cols: usize, xb: usize, wb: usize, yb: usize) {
        let c = &mut self.comb;
        for k in 0..xb {
            let _ = writeln!(
                c,
                "    x_rrow${k} = xseq$rrow${k};\n    xseq$rdata${k} = x_rdata${k};"
            );
        }
        for k in 0..wb {
            let _ = writeln!(
                c,
                "    w_rrow${k} = wseq$rrow${k};\n    wseq$rdata${k} = w_rdata${k};"
            );
        }
        for k in 0..yb {
            let _ = writeln!(
                c,
                "    y_rrow${k} = yseq$rrow${k};\n    yseq$rdata${k} = y_rdata${k};\n    \
                 y_wen${k} = ywseq$wen${k};\n    y_wrow${k} = ywseq$wrow${k};\n    \
                 y_wdata${k} = ywseq$wdata${k};"
            );
        }
        for i in 0..cols - 1 {
            let _ = writeln!(
                c,
                "    bottom_step${i}$clock = clock;\n    bottom_step${i}$t4 = feeder$t4;"
            );
        }
        for i in 1..cols - 1 {
            let p = i - 1;
            let _ = writeln!(
                c,
                "    bottom_step${i}$b_valid = bottom_step${p}$q_valid;\n    \
                 bottom_step${i}$b_yo = bottom_step${p}$q_yo;\n    \
                 bottom_step${i}$b_oc = bottom_step${p}$q_oc;\n    \
                 bottom_step${i}$b_ow = bottom_step${p}$q_ow;"
            );
        }
    }

    fn finish(self) -> String {
        let mut v = self.body;
        let _ = writeln!(v, "always @(*) begin\n{}end", self.comb);
        let _ = writeln!(
            v,
            "wire _unused_bits = &{{1'b0, {}}};",
            self.unused.join(", ")
        );
        v
    }
}

/// A row's flags: bit 0 valid, bit 1 switch.
fn flags(switch: &str, valid: &str) -> String {
    if FLAG_BITS == 2 {
        format!("{{{switch}, {valid}}}")
    } else {
        format!("{{{}'d0, {switch}, {valid}}}", FLAG_BITS - 2)
    }
}

impl<const L: usize> Logic for PhysicalArrayUnit<L> {
    // Only the Verilog is simulated (Verilator); the wiring is the Verilog's.
    fn update(&mut self) {}

    fn connect(&mut self) {
        let f = &mut self.feeder;
        f.clock.connect();
        f.start.connect();
        f.g.iter_mut().for_each(|s| s.connect());
        f.rows.connect();
        f.cols.connect();
        f.drain.connect();
        f.x_last.connect();
        f.y_last.connect();
        f.w_last.connect();
        for seq in [&mut self.xseq, &mut self.wseq, &mut self.yseq] {
            seq.clock.connect();
            seq.start.connect();
            seq.valid.iter_mut().for_each(|s| s.connect());
            seq.word.iter_mut().for_each(|s| s.connect());
            seq.rdata.iter_mut().for_each(|s| s.connect());
        }
        let g = &mut self.grid;
        g.clock.connect();
        g.sparse.connect();
        g.a_in.iter_mut().for_each(|s| s.connect());
        g.fl_in.iter_mut().for_each(|s| s.connect());
        g.sh_in.iter_mut().for_each(|s| s.connect());
        g.sh_sel_in.iter_mut().for_each(|s| s.connect());
        g.sh_dest_in.iter_mut().for_each(|s| s.connect());
        g.ps_in.iter_mut().for_each(|s| s.connect());
        let yw = &mut self.ywseq;
        yw.clock.connect();
        yw.start.connect();
        yw.valid.iter_mut().for_each(|s| s.connect());
        yw.word.iter_mut().for_each(|s| s.connect());
        yw.be.iter_mut().for_each(|s| s.connect());
        yw.data.iter_mut().for_each(|s| s.connect());
        for s in &mut self.bottom_step {
            s.clock.connect();
            s.t4.connect();
            s.b_valid.connect();
            s.b_yo.connect();
            s.b_oc.connect();
            s.b_ow.connect();
        }
        self.done.connect();
        self.x_rrow.iter_mut().for_each(|s| s.connect());
        self.w_rrow.iter_mut().for_each(|s| s.connect());
        self.y_rrow.iter_mut().for_each(|s| s.connect());
        self.y_wen.iter_mut().for_each(|s| s.connect());
        self.y_wrow.iter_mut().for_each(|s| s.connect());
        self.y_wdata.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}
