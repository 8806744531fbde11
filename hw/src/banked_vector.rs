//! `BankedVectorUnit`: the [`VectorUnit`] on physically banked regions. Its memory side is a
//! [`StepReadServer`] on a read copy of each region and a [`StepWriteServer`] on the
//! destination's write port; their per-bank bundles are the unit's ports, for a
//! [`RegionHub`](crate::RegionHub) (or a [`BankedRegion`](crate::BankedRegion)) to serve.
//!
//! # Steps
//!
//! The unit's cycle after its issue is a *step* (`nmsat_compiler::vector_steps`): it shows a
//! batch's read addresses (`raddr`, and `rbytes` of each port used; the SR-STE window's
//! `gaddr`, `gbytes`) and the previous batch's writes (`we`, `waddr`, `wdata`). Held, it
//! shows them unchanged, so the servers take them live, without latching:
//!
//! - the read server of region r: each read port's words `[raddr, raddr + rbytes)` when the
//!   port's region is r (port 0: source 0's, port 1: source 1's or, while `rsrc3`, source
//!   3's, port 2: source 2's), and the window's words (source 0's region); one set, on the
//!   op's one read copy of r;
//! - the write server: both write ports' words with their byte enables, on the destination
//!   region's write port;
//! - the step's degree `D = max(1, every server's degree)`: a round counter `k` shared by
//!   the servers runs `0 … D − 1`, the unit is held while a server has an entry of a rank
//!   above `k` (`hold = k < D − 1`), advances in round `D − 1`, and `k` returns to 0.
//!
//! So a step takes `max(1, d_s)` cycles and the operation `vector_cycles + Σ (max(1, d_s) − 1)`
//! (`timing::vector_cycles_banked`), with no change to the unit's own timing.
//!
//! # Data
//!
//! Round k's words arrive a cycle after it; the read servers keep each entry's word. The
//! unit expects a port's data the cycle after it shows the address and, held, keeps using it
//! (its writes are computed from it) for the whole next step. So in the first cycle of a step
//! each port's bytes are cut from its entries' words (the last round's straight from the
//! region, a bypass) at the previous step's byte offset and region, and registered for the
//! step's later cycles, in which the servers collect the new step's words into the entries.
//!
//! # Reads during writes
//!
//! The write server writes round k's words in round k, when a read server may read the same
//! word (a window over the weights an in-place SGD wrote a batch earlier): the region reads
//! first, so a read in the round of a write, or before it, sees the old bytes and one after it
//! the new ones. The exact simulator computes an operation from its sources as they were
//! before it. They agree on every operation the encoder accepts: in-place operations stream,
//! so a step's reads and the previous batch's writes share words but never bytes, and the
//! encoder refuses reads that run ahead of writes over the same bytes (an SR-STE or
//! `MaskDecay` window over in-place weights, pooling in place). `hw/tests/cosim_vector_physical.rs`
//! checks every byte against the exact simulator.
//!
//! The wrapper is Verilator only (its `update` does nothing): the [`VectorUnit`] inside has
//! no working rust-hdl simulation to check a Rust model of it against.

use crate::array::signals;
use crate::bank_sequencer::{pad, waive, SequencerShape};
use crate::error::HwError;
use crate::step_server::{StepReadServer, StepWriteServer, ROUND_BITS};
use crate::vector_unit::VectorUnit;
use nmsat_compiler::arch::Arch;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// The instruction fields the unit passes to [`VectorUnit`], with their widths.
pub const VECTOR_FIELDS: [(&str, usize); 26] = [
    ("op", 5),
    ("src0", 16),
    ("src1", 16),
    ("src2", 16),
    ("two", 1),
    ("dst", 16),
    ("elems", 16),
    ("lr", 32),
    ("mu", 32),
    ("lambda", 32),
    ("srste", 1),
    ("n", 5),
    ("m", 5),
    ("classes", 16),
    ("batch", 16),
    ("taps", 8),
    ("total", 16),
    ("recip", 17),
    ("pbase", 8),
    ("pstep", 8),
    ("prow", 8),
    ("kb", 8),
    ("src3", 16),
    ("width", 16),
    ("trows", 16),
    ("rows", 16),
];

/// Regions a unit reads and writes.
const REGIONS: usize = 3;
/// Bytes of a read port, of the window and of a write port.
const PORT_BYTES: usize = 16;
const WINDOW_BYTES: usize = 64;

/// The unit; see the module docs.
#[derive(LogicBlock)]
pub struct BankedVectorUnit {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// Begin the operation described by the inputs below.
    pub start: Signal<In, Bit>,
    /// The fields of [`VectorUnit`], in the order of [`VECTOR_FIELDS`].
    pub op: Signal<In, Bits<5>>,
    /// See [`VectorUnit::src0`].
    pub src0: Signal<In, Bits<16>>,
    /// See [`VectorUnit::src1`].
    pub src1: Signal<In, Bits<16>>,
    /// See [`VectorUnit::src2`].
    pub src2: Signal<In, Bits<16>>,
    /// See [`VectorUnit::two`].
    pub two: Signal<In, Bit>,
    /// See [`VectorUnit::dst`].
    pub dst: Signal<In, Bits<16>>,
    /// See [`VectorUnit::elems`].
    pub elems: Signal<In, Bits<16>>,
    /// See [`VectorUnit::lr`].
    pub lr: Signal<In, Bits<32>>,
    /// See [`VectorUnit::mu`].
    pub mu: Signal<In, Bits<32>>,
    /// See [`VectorUnit::lambda`].
    pub lambda: Signal<In, Bits<32>>,
    /// See [`VectorUnit::srste`].
    pub srste: Signal<In, Bit>,
    /// See [`VectorUnit::n`].
    pub n: Signal<In, Bits<5>>,
    /// See [`VectorUnit::m`].
    pub m: Signal<In, Bits<5>>,
    /// See [`VectorUnit::classes`].
    pub classes: Signal<In, Bits<16>>,
    /// See [`VectorUnit::batch`].
    pub batch: Signal<In, Bits<16>>,
    /// See [`VectorUnit::taps`].
    pub taps: Signal<In, Bits<8>>,
    /// See [`VectorUnit::total`].
    pub total: Signal<In, Bits<16>>,
    /// See [`VectorUnit::recip`].
    pub recip: Signal<In, Bits<17>>,
    /// See [`VectorUnit::pbase`].
    pub pbase: Signal<In, Bits<8>>,
    /// See [`VectorUnit::pstep`].
    pub pstep: Signal<In, Bits<8>>,
    /// See [`VectorUnit::prow`].
    pub prow: Signal<In, Bits<8>>,
    /// See [`VectorUnit::kb`].
    pub kb: Signal<In, Bits<8>>,
    /// See [`VectorUnit::src3`].
    pub src3: Signal<In, Bits<16>>,
    /// See [`VectorUnit::width`].
    pub width: Signal<In, Bits<16>>,
    /// See [`VectorUnit::trows`].
    pub trows: Signal<In, Bits<16>>,
    /// See [`VectorUnit::rows`].
    pub rows: Signal<In, Bits<16>>,
    /// The regions (0 weight, 1 input, 2 output) of sources 0 … 3 and of the destination,
    /// latched at `start`.
    pub region: [Signal<In, Bits<2>>; 5],
    /// The operation completes in this cycle.
    pub done: Signal<Out, Bit>,
    /// Read bundles, region r's bank b at `r·B + b`: the row read on the unit's copy.
    pub rrow: Vec<Signal<Out, Bits<16>>>,
    /// The copy's word, a cycle after its row.
    pub rdata: Vec<Signal<In, Bits<64>>>,
    /// Write bundles, region r's bank b at `r·B + b`: byte enables on its write port.
    pub wen: Vec<Signal<Out, Bits<8>>>,
    /// The row written.
    pub wrow: Vec<Signal<Out, Bits<16>>>,
    /// The bytes written.
    pub wdata: Vec<Signal<Out, Bits<64>>>,
    /// The unit, held while a step's sets are served.
    pub unit: VectorUnit,
    /// A read server per region.
    pub reads: Vec<StepReadServer>,
    /// The write server.
    pub writes: StepWriteServer,
    _banks: usize,
}

/// Entries a port of `bytes` bytes needs on words of `width` bytes, from any byte of a word.
fn span(bytes: usize, width: usize) -> usize {
    (bytes + width - 1).div_ceil(width)
}

impl BankedVectorUnit {
    /// A unit of `lanes` lanes, a `latency`-deep pipeline and Q.`frac_bits` values (see
    /// [`VectorUnit::new`]) on regions of `banks` banks of `width`-byte words, `2^row_bits`
    /// rows deep.
    pub fn new(
        lanes: u64,
        latency: u64,
        frac_bits: u32,
        banks: usize,
        width: usize,
        row_bits: usize,
    ) -> Result<Self, HwError> {
        if width < 2 {
            return Err(HwError::Unsupported {
                field: "bank_width_bytes",
                value: width.to_string(),
                reason: "a step's reads of one region (three 16-byte ports and the 64-byte \
                         window) take a word of at least 2 bytes an entry; one word per byte \
                         would need 112 entries"
                    .into(),
                allowed: "2, 4, 8".into(),
            });
        }
        let j = span(PORT_BYTES, width);
        let read = SequencerShape::new(3 * j + span(WINDOW_BYTES, width), banks, width, row_bits)?;
        let write = SequencerShape::new(2 * j, banks, width, row_bits)?;
        Ok(Self {
            clock: Default::default(),
            start: Default::default(),
            op: Default::default(),
            src0: Default::default(),
            src1: Default::default(),
            src2: Default::default(),
            two: Default::default(),
            dst: Default::default(),
            elems: Default::default(),
            lr: Default::default(),
            mu: Default::default(),
            lambda: Default::default(),
            srste: Default::default(),
            n: Default::default(),
            m: Default::default(),
            classes: Default::default(),
            batch: Default::default(),
            taps: Default::default(),
            total: Default::default(),
            recip: Default::default(),
            pbase: Default::default(),
            pstep: Default::default(),
            prow: Default::default(),
            kb: Default::default(),
            src3: Default::default(),
            width: Default::default(),
            trows: Default::default(),
            rows: Default::default(),
            region: Default::default(),
            done: Default::default(),
            rrow: signals(REGIONS * banks),
            rdata: signals(REGIONS * banks),
            wen: signals(REGIONS * banks),
            wrow: signals(REGIONS * banks),
            wdata: signals(REGIONS * banks),
            unit: VectorUnit::new(lanes, latency, frac_bits),
            reads: (0..REGIONS)
                .map(|_| StepReadServer::from_shape(read))
                .collect(),
            writes: StepWriteServer::from_shape(write),
            _banks: banks,
        })
    }

    /// The unit for `arch`, whose regions must all be physical with the same banks and width
    /// (each has a read and a write bundle of that shape).
    pub fn for_arch(arch: &Arch) -> Result<Self, HwError> {
        let (banks, width, row_bits) = crate::banked_region::one_bank_shape(
            arch,
            "the banked vector unit has a read and a write bundle of one shape per region",
        )?;
        Self::new(
            arch.vector_lanes,
            arch.vector_latency,
            arch.frac_bits,
            banks,
            width,
            row_bits,
        )
    }

    fn verilog(&self) -> String {
        let s = self.reads[0].shape();
        let (banks, w) = (s.banks(), s.width());
        let (lw, dw) = (w.trailing_zeros() as usize, 8 * w);
        let (j, g) = (span(PORT_BYTES, w), span(WINDOW_BYTES, w));
        let mut v = format!(
            "reg [1:0] q0, q1, q2, q3, qd;\nreg [{}:0] round;\nreg first;\n\
             wire hold = reads$0$more | reads$1$more | reads$2$more | writes$more;\n\
             wire [1:0] reg1 = unit$rsrc3 ? q3 : q1;\n",
            ROUND_BITS - 1
        );
        // At a step's end: each port's region and byte offset, for its data in the next step.
        let mut latch = String::new();
        // In a step's first cycle: each port's bytes, kept for the step's later cycles.
        let mut keep = String::new();
        let mut comb = String::new();
        let mut unused: Vec<String> = Vec::new();
        // Read ports 0 … 2 and the window (3): (address, size, its width, region, bytes, entries).
        let ports = [
            ("unit$raddr$0", "unit$rbytes$0", 5, "q0", PORT_BYTES, j),
            ("unit$raddr$1", "unit$rbytes$1", 5, "reg1", PORT_BYTES, j),
            ("unit$raddr$2", "unit$rbytes$2", 5, "q2", PORT_BYTES, j),
            ("unit$gaddr", "unit$gbytes", 7, "q0", WINDOW_BYTES, g),
        ];
        let mut base = 0;
        for (p, &(addr, size, sw, reg, bytes, count)) in ports.iter().enumerate() {
            let (bits, cw) = (8 * bytes, count * dw);
            let _ = writeln!(
                v,
                "wire [15:0] fw{p} = {addr} >> {lw};\n\
                 wire [15:0] nb{p} = {};\n\
                 wire [15:0] nw{p} = (nb{p} == 16'd0) ? 16'd0 : ((({addr} + nb{p} - 16'd1) >> {lw}) - fw{p} + 16'd1);\n\
                 reg [1:0] preg{p};\nreg [{}:0] poff{p};\nreg [{}:0] ud{p};",
                pad(16, sw, size),
                lw - 1,
                bits - 1
            );
            let _ = writeln!(
                latch,
                "        preg{p} <= {reg};\n        poff{p} <= {addr}[{}:0];",
                lw - 1
            );
            let _ = writeln!(keep, "    if (first) ud{p} <= live{p};");
            for r in 0..REGIONS {
                for e in 0..count {
                    let _ = writeln!(
                        comb,
                        "    reads${r}$valid${i} = ({reg} == 2'd{r}) & (16'd{e} < nw{p});\n    reads${r}$word${i} = fw{p} + 16'd{e};",
                        i = base + e
                    );
                }
                let words: Vec<String> = (base..base + count)
                    .rev()
                    .map(|e| format!("reads${r}$rdata_e${e}[{}:0]", dw - 1))
                    .collect();
                let _ = writeln!(
                    v,
                    "wire [{}:0] cat{p}_{r} = {{{}}};",
                    cw - 1,
                    words.join(", ")
                );
                if dw < 64 {
                    unused.extend(
                        (base..base + count).map(|e| format!("reads${r}$rdata_e${e}[63:{dw}]")),
                    );
                }
            }
            let _ = writeln!(
                v,
                "wire [{t}:0] sel{p} = (preg{p} == 2'd0) ? cat{p}_0 : (preg{p} == 2'd1) ? cat{p}_1 : cat{p}_2;\n\
                 wire [{t}:0] sh{p} = sel{p} >> {{poff{p}, 3'd0}};\n\
                 wire [{}:0] live{p} = sh{p}[{}:0];",
                bits - 1,
                bits - 1,
                t = cw - 1
            );
            unused.push(format!("sh{p}[{}:{bits}]", cw - 1));
            base += count;
        }
        // The write ports: their enabled bytes and data moved to their first word's place.
        let (wb, wd) = (j * w, j * dw);
        for p in 0..2 {
            let _ = writeln!(
                v,
                "wire [15:0] wfw{p} = unit$waddr${p} >> {lw};\n\
                 wire [{}:0] woff{p} = unit$waddr${p}[{}:0];\n\
                 wire [{}:0] sbe{p} = {} << woff{p};\n\
                 wire [{}:0] sd{p} = {} << {{woff{p}, 3'd0}};",
                lw - 1,
                lw - 1,
                wb - 1,
                pad(wb, PORT_BYTES, &format!("unit$we${p}")),
                wd - 1,
                pad(wd, 8 * PORT_BYTES, &format!("unit$wdata${p}")),
            );
            for e in 0..j {
                let i = p * j + e;
                let be = format!("sbe{p}[{}:{}]", e * w + w - 1, e * w);
                let _ = writeln!(
                    comb,
                    "    writes$valid${i} = |{be};\n    writes$word${i} = wfw{p} + 16'd{e};\n\
                     \x20   writes$be${i} = {};\n    writes$data${i} = {};",
                    pad(8, w, &be),
                    pad(64, dw, &format!("sd{p}[{}:{}]", e * dw + dw - 1, e * dw)),
                );
            }
        }
        let _ = writeln!(
            v,
            "always @(posedge clock) begin\n\
             \x20   if (start) begin\n        q0 <= region$0;\n        q1 <= region$1;\n        q2 <= region$2;\n        q3 <= region$3;\n        qd <= region$4;\n    end\n\
             \x20   round <= hold ? round + {rb}'d1 : {rb}'d0;\n    first <= !hold;\n    if (!hold) begin\n{latch}    end\n{keep}end",
            rb = ROUND_BITS
        );
        v.push_str("always @(*) begin\n    unit$clock = clock;\n    unit$start = start;\n    unit$hold = hold;\n");
        for (f, _) in VECTOR_FIELDS {
            let _ = writeln!(v, "    unit${f} = {f};");
        }
        for p in 0..3 {
            let _ = writeln!(v, "    unit$rdata${p} = first ? live{p} : ud{p};");
        }
        v.push_str(
            "    unit$rdata3 = first ? live1 : ud1;\n    unit$gdata = first ? live3 : ud3;\n",
        );
        v.push_str(&comb);
        v.push_str("    writes$round = round;\n");
        for r in 0..REGIONS {
            let _ = writeln!(
                v,
                "    reads${r}$clock = clock;\n    reads${r}$round = round;"
            );
            for b in 0..banks {
                let i = r * banks + b;
                let _ = writeln!(
                    v,
                    "    reads${r}$rdata${b} = rdata${i};\n    rrow${i} = reads${r}$rrow${b};\n\
                     \x20   wen${i} = (qd == 2'd{r}) ? writes$wen${b} : 8'd0;\n\
                     \x20   wrow${i} = writes$wrow${b};\n    wdata${i} = writes$wdata${b};"
                );
            }
        }
        v.push_str("    done = unit$done;\nend\n");
        waive(&mut v, &unused);
        v
    }
}

impl BankedVectorUnit {
    /// Marks every input as driven, for a parent whose Verilog drives them (the core, a test
    /// top).
    pub fn connect_inputs(&mut self) {
        self.clock.connect();
        self.start.connect();
        for s in [&mut self.two, &mut self.srste] {
            s.connect();
        }
        for s in [&mut self.op, &mut self.n, &mut self.m] {
            s.connect();
        }
        for s in [
            &mut self.src0,
            &mut self.src1,
            &mut self.src2,
            &mut self.dst,
            &mut self.elems,
            &mut self.classes,
            &mut self.batch,
            &mut self.total,
            &mut self.src3,
            &mut self.width,
            &mut self.trows,
            &mut self.rows,
        ] {
            s.connect();
        }
        for s in [&mut self.lr, &mut self.mu, &mut self.lambda] {
            s.connect();
        }
        for s in [
            &mut self.taps,
            &mut self.pbase,
            &mut self.pstep,
            &mut self.prow,
            &mut self.kb,
        ] {
            s.connect();
        }
        self.recip.connect();
        self.region.iter_mut().for_each(|s| s.connect());
        self.rdata.iter_mut().for_each(|s| s.connect());
    }
}

impl Logic for BankedVectorUnit {
    // Verilator only: the wiring and the step logic are its Verilog. The `VectorUnit` inside
    // has no working rust-hdl simulation (its batch-norm and pooling lanes' models panic on
    // their wide values), so a Rust model of the wrapper could not be checked.
    fn update(&mut self) {}

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
        u.op.connect();
        u.src0.connect();
        u.src1.connect();
        u.src2.connect();
        u.two.connect();
        u.dst.connect();
        u.elems.connect();
        u.lr.connect();
        u.mu.connect();
        u.lambda.connect();
        u.srste.connect();
        u.n.connect();
        u.m.connect();
        u.classes.connect();
        u.batch.connect();
        u.taps.connect();
        u.total.connect();
        u.recip.connect();
        u.pbase.connect();
        u.pstep.connect();
        u.prow.connect();
        u.kb.connect();
        u.src3.connect();
        u.width.connect();
        u.trows.connect();
        u.rows.connect();
        u.rdata.iter_mut().for_each(|s| s.connect());
        u.rdata3.connect();
        u.gdata.connect();
        for r in &mut self.reads {
            r.clock.connect();
            r.round.connect();
            r.valid.iter_mut().for_each(|s| s.connect());
            r.word.iter_mut().for_each(|s| s.connect());
            r.rdata.iter_mut().for_each(|s| s.connect());
        }
        let w = &mut self.writes;
        w.round.connect();
        w.valid.iter_mut().for_each(|s| s.connect());
        w.word.iter_mut().for_each(|s| s.connect());
        w.be.iter_mut().for_each(|s| s.connect());
        w.data.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}
