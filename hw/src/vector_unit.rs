//! `VectorUnit`: the core's vector unit — the element-wise operations (`Relu`, `ReluGrad`,
//! `Add` of one to three sources, saturating the whole sum once, and `Fill`), the SGD step
//! (`Sgd`, with or without the SR-STE decay), the loss gradient (`Loss`), pooling (`Pool`, max
//! and average) and its gradients (`PoolGrad`, max and average), the N:M mask with MDGF's
//! decay (`MaskDecay`), batch norm (`BatchStats`, `BatchNorm`, `BatchGradStats`,
//! `BatchNormGrad`), and the transformer operations (`Gelu`, `GeluGrad`, and per row `Norm`,
//! `NormGrad`, `Softmax`, `SoftmaxGrad`) — with the exact simulator's semantics
//! (`nmsat_sim::exact` vector unit) and timing (`timing::vector_cycles`).
//!
//! ```text
//!  issue τ ─► batch b read at τ+1+b (lanes elements of each source; SGD and MaskDecay also
//!          │  the window of M-groups their weights rank in) ─► computed and written at τ+2+b
//!          └► element operations: elems·ops(op), lanes a cycle ─► done in τ + B + latency − 1
//!  batch norm, block after block of `lanes` columns, one read a cycle from τ+1:
//!    statistics:  row 0 … row t−1 (sums) ─► column 0 … column nb−1 (accumulator + sums,
//!                 written the cycle after its read)
//!    application: column 0 … column nb−1 (μ, σ into the lanes) ─► row 0 … row t−1 (results
//!                 written the cycle after its read)
//! ```
//!
//! The unit is busy for the element operations the timing model charges: `B = ⌈elems ·
//! vector_ops_per_elem(op) / lanes⌉` cycles of them, then the `latency`-deep pipeline's tail
//! (at least 2: the scratchpad read, then the operation and the write), so `done` comes
//! `vector_cycles` after the issue. The data streams at its own pace and never later:
//! - element-wise operations and SGD read one batch of `lanes` elements a cycle
//!   (`⌈elems/lanes⌉ ≤ B` batches; an `Add` of three sources, `VOP_ADD3`, reads the third on
//!   port 2, where SGD reads its momenta); SGD writes w′ and v′ (at `dst + 2·elems`) through
//!   two write ports, and with SR-STE ranks each lane's weight in its M-group
//!   ([`GroupKeep`], from a 32-element window read at lane 0's group, groups restarting at
//!   every row: [`GroupPhase`]);
//! - `Gelu` and `GeluGrad` stream like the element-wise operations ([`GeluLanes`]; x on port
//!   0, dy on port 1);
//! - the row operations make passes over each row (of `classes` elements), `⌈classes/lanes⌉`
//!   batches each, then move to the next row ([`row_passes`]): `Loss` three — the maximum,
//!   Σe, the gradients ([`LossLanes`]), source 1's port held at the row's label —, `Softmax`
//!   the same three without a label, `Norm` two (Σx and Σx², the results) and `NormGrad`
//!   three (Σx and Σx², Σdy and Σdy·y from the recomputed y, the gradients: [`NormLanes`]);
//!   only the last pass writes. `SoftmaxGrad` needs four (max, Σe, Σdy·y from the recomputed
//!   softmax, the gradients: [`SoftmaxGradLanes`]) against the model's three operations an
//!   element, so it runs them two at a time in row slots of two passes: slot r reduces row r's
//!   max and then its Σe ([`ExpSumLanes`], x of row r on port 2) while the loss lanes recompute
//!   row r−1's softmax for its Σdy·y and then its results (x and dy on ports 0 and 1); a slot
//!   before row 0 reads and writes nothing of use, and one after the last row finishes it.
//!   Each pass reads a batch a cycle, so the encoder refuses shapes whose passes would outlast
//!   the model's operations ([`rows_fit`]): short rows on many lanes;
//! - pooling and its gradients stream their `elems·taps` source elements (`taps` = the window,
//!   or the phase's taps: also the model's operations per element) a batch at a time through
//!   [`PoolLanes`], which carries each group's reduction across batches; each batch writes the
//!   results of the groups ending in it after those written so far (max pooling's taps
//!   `elems` results further on, through the second write port);
//! - `MaskDecay` streams like SR-STE's SGD: each batch's weights ranked in their window of
//!   groups ([`GroupKeep`]), d held on port 1 ([`DecayLanes`]);
//! - batch norm ([`BatchLanes`]) walks the `t × width` tile in blocks of `lanes` columns (the
//!   `nb` left in the last): lane l is column c0 + l, a row of the block one batch at
//!   `2(r·width + c0)`. Statistics sum each lane's column over the block's rows (ports 0 and
//!   1: x twice, or dy and y), then read each column's 16 accumulator bytes (port 2) and write
//!   them back plus the lane's sums; their application first reads each column's statistics
//!   (port 2; `BatchNormGrad` also its gradient statistics, source 3, on port 1 in its own
//!   region) into the lane's μ and σ (or ⌊Σdy/N⌉, ⌊Σdy·y/N⌉, σ), then the rows. That is
//!   `R = width + ⌈width/lanes⌉·t` reads against the model's 2 or 3 operations an element:
//!   the encoder refuses tiles where R + 2 outlasts `vector_cycles` ([`batch_fits`]; on
//!   `lanes` lanes a tile needs about `lanes` rows, more where `width` leaves a partial
//!   block).
//!
//! For physically banked regions (docs/physical-banking.md, "Vector unit"), `hold` freezes the
//! whole pipeline for as long as a step's access sets take, and `rbytes`, `rsrc3` and `gbytes`
//! say which bytes of each read port and of the window the cycle's batch uses: the accesses of
//! `nmsat_compiler::vector_steps`, which a bank sequencer fetches (the ports themselves read 16
//! and 64 bytes whatever the lanes take).

use crate::batch_norm::{BatchLanes, STATE_BITS};
use crate::gelu_lanes::GeluLanes;
use crate::group_window::{GroupKeep, GroupPhase, WindowSpan, WINDOW_BITS};
use crate::mask_decay::DecayLanes;
use crate::pipeline_tail::PipelineTail;
use crate::row_lanes::{NormLanes, SoftmaxGradLanes};
use crate::vector_arith::{ExpSumLanes, LossLanes, PoolLanes, SgdLanes, BATCH_BITS};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::VecOp;
use nmsat_compiler::timing::vector_cycles;
use rust_hdl::prelude::*;

/// The most lanes the unit has: a batch is at most 16 bytes of each source.
pub const MAX_VECTOR_LANES: usize = 8;

/// Operation codes on the instruction port.
pub const VOP_RELU: u64 = 0;
/// `x > 0 ? dy : 0` (sources dy, x).
pub const VOP_RELU_GRAD: u64 = 1;
/// Saturating sum of one or two sources.
pub const VOP_ADD: u64 = 2;
/// Zeros.
pub const VOP_FILL: u64 = 3;
/// SGD with momentum (sources w, dw, v; destination w′ then v′).
pub const VOP_SGD: u64 = 4;
/// The softmax cross-entropy gradient (sources logits, labels).
pub const VOP_LOSS: u64 = 5;
/// Max pooling (source: the windows; destination: the maxima, then their taps).
pub const VOP_POOL_MAX: u64 = 6;
/// A scaled sum of each group of taps: average pooling, and the pooling gradients (sources
/// dY, and for max the argmax, which masks the taps).
pub const VOP_POOL_SUM: u64 = 7;
/// The N:M mask of each row applied, the dropped weights scaled by d (sources w and
/// optionally d).
pub const VOP_MASK_DECAY: u64 = 8;
/// Batch-norm statistics (sources x, x again, and on port 2 the accumulator).
pub const VOP_BATCH_STATS: u64 = 9;
/// Batch norm (sources x, and on port 2 the statistics).
pub const VOP_BATCH_NORM: u64 = 10;
/// Batch-norm gradient statistics (sources dy, y, and on port 2 the accumulator).
pub const VOP_BATCH_GRAD_STATS: u64 = 11;
/// Batch-norm gradient (sources dy, y, the statistics on port 2, the gradient statistics as
/// source 3, which port 1 reads in the column phase).
pub const VOP_BATCH_NORM_GRAD: u64 = 12;
/// Layer norm of each row of `classes` elements.
pub const VOP_NORM: u64 = 13;
/// Layer norm's gradient (sources x, dy: the encoder puts x first).
pub const VOP_NORM_GRAD: u64 = 14;
/// Softmax of each row of `classes` elements.
pub const VOP_SOFTMAX: u64 = 15;
/// Softmax's gradient (sources x, dy).
pub const VOP_SOFTMAX_GRAD: u64 = 16;
/// i-GELU.
pub const VOP_GELU: u64 = 17;
/// i-GELU's gradient (sources x, dy).
pub const VOP_GELU_GRAD: u64 = 18;
/// Saturating sum of three sources (the third on port 2): the element lanes' `Add` with
/// source 2 in, one saturation of the whole sum.
pub const VOP_ADD3: u64 = 19;

/// One lane's operation on up to three INT16 values.
#[derive(LogicBlock, Default)]
pub struct Lane {
    /// The operation code.
    pub op: Signal<In, Bits<2>>,
    /// Source 0's element.
    pub a: Signal<In, Bits<16>>,
    /// Source 1's element (0 without a second source).
    pub b: Signal<In, Bits<16>>,
    /// Source 2's element (0 unless an `Add` of three sources).
    pub c: Signal<In, Bits<16>>,
    /// The result.
    pub y: Signal<Out, Bits<16>>,
    a_ext: Signal<Local, Bits<18>>,
    b_ext: Signal<Local, Bits<18>>,
    c_ext: Signal<Local, Bits<18>>,
    sum: Signal<Local, Bits<18>>,
}

impl Logic for Lane {
    #[hdl_gen]
    fn update(&mut self) {
        // The exact sum of three INT16 values, sign-extended to 18 bits, saturated once (not
        // pair by pair): it fits INT16 iff its three top bits agree.
        self.a_ext.next = bit_cast::<18, 16>(self.a.val());
        if self.a.val().get_bit(15) {
            self.a_ext.next = bit_cast::<18, 16>(self.a.val()) | 0x30000;
        }
        self.b_ext.next = bit_cast::<18, 16>(self.b.val());
        if self.b.val().get_bit(15) {
            self.b_ext.next = bit_cast::<18, 16>(self.b.val()) | 0x30000;
        }
        self.c_ext.next = bit_cast::<18, 16>(self.c.val());
        if self.c.val().get_bit(15) {
            self.c_ext.next = bit_cast::<18, 16>(self.c.val()) | 0x30000;
        }
        self.sum.next = self.a_ext.val() + self.b_ext.val() + self.c_ext.val();
        self.y.next = 0.into();
        if (self.op.val() == 0) & !self.a.val().get_bit(15) {
            self.y.next = self.a.val();
        }
        if (self.op.val() == 1) & !self.b.val().get_bit(15) & (self.b.val() != 0) {
            self.y.next = self.a.val();
        }
        if self.op.val() == 2 {
            self.y.next = bit_cast::<16, 18>(self.sum.val());
            if self.sum.val().get_bit(17)
                & !(self.sum.val().get_bit(16) & self.sum.val().get_bit(15))
            {
                self.y.next = 0x8000.into();
            }
            if !self.sum.val().get_bit(17)
                & (self.sum.val().get_bit(16) | self.sum.val().get_bit(15))
            {
                self.y.next = 0x7FFF.into();
            }
        }
    }
}

/// The unit: a batch sequencer, `MAX_VECTOR_LANES` element lanes (the first `lanes` used),
/// the SGD and loss lanes, and the completion counter of its pipeline.
#[derive(LogicBlock)]
pub struct VectorUnit {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// Begin the operation described by the inputs below.
    pub start: Signal<In, Bit>,
    /// Freeze the whole pipeline in this cycle: every register keeps its value and a held
    /// cycle does not count towards the pipeline's tail, so the outputs stay those of the
    /// cycle held (a wrapper on physically banked regions holds it while a step's access sets
    /// are served: docs/physical-banking.md, "Vector unit").
    /// Low on the core's ideal regions, where the unit never waits.
    pub hold: Signal<In, Bit>,
    /// Operation code (`VOP_*`).
    pub op: Signal<In, Bits<5>>,
    /// Source 0's first byte.
    pub src0: Signal<In, Bits<16>>,
    /// Source 1's first byte.
    pub src1: Signal<In, Bits<16>>,
    /// Source 2's first byte (SGD's momenta).
    pub src2: Signal<In, Bits<16>>,
    /// Whether there is a source 1 (otherwise it reads as zeros).
    pub two: Signal<In, Bit>,
    /// The destination's first byte.
    pub dst: Signal<In, Bits<16>>,
    /// Elements (≥ 1).
    pub elems: Signal<In, Bits<16>>,
    /// SGD: learning rate, Q16.16.
    pub lr: Signal<In, Bits<32>>,
    /// SGD: momentum, Q16.16.
    pub mu: Signal<In, Bits<32>>,
    /// SGD: SR-STE decay, Q16.16.
    pub lambda: Signal<In, Bits<32>>,
    /// SGD: decay the weights the rows' N:M mask drops.
    pub srste: Signal<In, Bit>,
    /// SR-STE: N.
    pub n: Signal<In, Bits<5>>,
    /// SR-STE: M.
    pub m: Signal<In, Bits<5>>,
    /// Loss and the row operations: elements per row.
    pub classes: Signal<In, Bits<16>>,
    /// Loss: the mean's divisor (1 for the softmax).
    pub batch: Signal<In, Bits<16>>,
    /// Pooling: elements per result (the window, or the gradient's phase taps).
    pub taps: Signal<In, Bits<8>>,
    /// Pooling: source elements, `elems · taps`.
    pub total: Signal<In, Bits<16>>,
    /// Pooling sums: their scale, Q16.16.
    pub recip: Signal<In, Bits<17>>,
    /// Pooling gradient of max: tap 0's window position, the steps back along a tap row and
    /// from one tap row to the next, and the taps per row (see `PoolLanes`).
    pub pbase: Signal<In, Bits<8>>,
    /// See `pbase`.
    pub pstep: Signal<In, Bits<8>>,
    /// See `pbase`.
    pub prow: Signal<In, Bits<8>>,
    /// See `pbase`.
    pub kb: Signal<In, Bits<8>>,
    /// Batch norm: source 3's first byte (`BatchNormGrad`'s gradient statistics).
    pub src3: Signal<In, Bits<16>>,
    /// Batch norm: columns of the tile; SR-STE and `MaskDecay`: the row length the N:M
    /// groups restart at (see [`GroupPhase`]).
    pub width: Signal<In, Bits<16>>,
    /// Batch norm: rows of the tile, `elems / width`.
    pub trows: Signal<In, Bits<16>>,
    /// Batch norm: rows the statistics are over, N.
    pub rows: Signal<In, Bits<16>>,
    /// The operation completes in this cycle.
    pub done: Signal<Out, Bit>,
    /// Read addresses of the three sources (16 bytes each, answered the cycle after).
    pub raddr: [Signal<Out, Bits<16>>; 3],
    /// Their data.
    pub rdata: [Signal<In, Bits<BATCH_BITS>>; 3],
    /// Port 1's data from source 3's region (`BatchNormGrad`'s gradient statistics).
    pub rdata3: Signal<In, Bits<BATCH_BITS>>,
    /// Bytes of each read port's 16 that this cycle's batch uses, from its address: what a
    /// physically banked region has to serve (`nmsat_compiler::vector_steps`); 0 where the
    /// operation ignores the port.
    pub rbytes: [Signal<Out, Bits<5>>; 3],
    /// Port 1's bytes this cycle are source 3's, in its region (`rdata3`: `BatchNormGrad`'s
    /// gradient statistics).
    pub rsrc3: Signal<Out, Bit>,
    /// Address of the SR-STE window (64 bytes of source 0, answered the cycle after).
    pub gaddr: Signal<Out, Bits<16>>,
    /// Its data.
    pub gdata: Signal<In, Bits<WINDOW_BITS>>,
    /// Bytes of the window this cycle's ranking uses, from its address (0 without one).
    pub gbytes: Signal<Out, Bits<7>>,
    /// Byte enables of the two writes (results; SGD's momenta).
    pub we: [Signal<Out, Bits<16>>; 2],
    /// Their addresses.
    pub waddr: [Signal<Out, Bits<16>>; 2],
    /// Their data.
    pub wdata: [Signal<Out, Bits<BATCH_BITS>>; 2],
    /// The element lanes.
    pub lane: [Lane; MAX_VECTOR_LANES],
    /// The SGD lanes.
    pub sgd: SgdLanes,
    /// The loss lanes.
    pub loss: LossLanes,
    /// Where the SR-STE window starts, and the rows it meets.
    pub phase: GroupPhase,
    /// The SR-STE mask.
    pub keeper: GroupKeep,
    /// The window's bytes in use.
    pub span: WindowSpan,
    /// The pooling lanes.
    pub pool: PoolLanes,
    /// The mask-decay lanes.
    pub decay: DecayLanes,
    /// The batch-norm lanes.
    pub bn: BatchLanes,
    /// The GELU lanes.
    pub gelu: GeluLanes,
    /// The layer norm lanes.
    pub norm: NormLanes,
    /// The softmax gradient's lanes (after the loss lanes' softmax).
    pub smg: SoftmaxGradLanes,
    /// The softmax gradient's max and Σe of the next row.
    pub exps: ExpSumLanes,
    pipe: PipelineTail,
    op_q: DFF<Bits<5>>,
    two_q: DFF<Bit>,
    srste_q: DFF<Bit>,
    r0: DFF<Bits<16>>,
    r1: DFF<Bits<16>>,
    r2: DFF<Bits<16>>,
    w: DFF<Bits<16>>,
    left: DFF<Bits<16>>,
    work: DFF<Bits<20>>,
    vofs: DFF<Bits<16>>,
    lr_q: DFF<Bits<32>>,
    mu_q: DFF<Bits<32>>,
    lambda_q: DFF<Bits<32>>,
    n_q: DFF<Bits<5>>,
    m_q: DFF<Bits<5>>,
    /// SR-STE: lane 0's column in its row.
    gcol: DFF<Bits<16>>,
    classes_q: DFF<Bits<16>>,
    batch_q: DFF<Bits<16>>,
    pass: DFF<Bits<2>>,
    col: DFF<Bits<16>>,
    row_max: DFF<Bits<16>>,
    row_sum: DFF<Bits<32>>,
    staged: DFF<Bit>,
    staged_addr: DFF<Bits<16>>,
    staged_n: DFF<Bits<5>>,
    staged_offset: DFF<Bits<5>>,
    staged_rem: DFF<Bits<7>>,
    staged_lim: DFF<Bits<7>>,
    staged_pass: DFF<Bits<2>>,
    staged_col: DFF<Bits<16>>,
    staged_first: DFF<Bit>,
    taps_q: DFF<Bits<8>>,
    recip_q: DFF<Bits<17>>,
    pbase_q: DFF<Bits<8>>,
    pstep_q: DFF<Bits<8>>,
    prow_q: DFF<Bits<8>>,
    kb_q: DFF<Bits<8>>,
    pj: DFF<Bits<8>>,
    pv: DFF<Bits<8>>,
    ppos: DFF<Bits<8>>,
    pcarry: DFF<Bits<32>>,
    pat: DFF<Bits<8>>,
    outs: DFF<Bits<16>>,
    r3: DFF<Bits<16>>,
    width_q: DFF<Bits<16>>,
    trows_q: DFF<Bits<16>>,
    rows_q: DFF<Bits<16>>,
    bn_on: DFF<Bit>,
    bn_row: DFF<Bit>,
    bn_col: DFF<Bits<16>>,
    bn_k: DFF<Bits<16>>,
    bn_off: DFF<Bits<16>>,
    bn_state: DFF<Bits<STATE_BITS>>,
    bn_wa: DFF<Bits<16>>,
    bn_srow: DFF<Bit>,
    bn_sj: DFF<Bits<3>>,
    last_pass: DFF<Bits<2>>,
    /// The loss lanes compare with a label (the loss, not the softmax): a register rather
    /// than a mux on the label, with which Verilator 5.006 scheduled the pipeline tail's start
    /// late and missed an operation issued in cycle 0.
    labelled: DFF<Bit>,
    sx: DFF<Bits<64>>,
    sq: DFF<Bits<64>>,
    sd: DFF<Bits<64>>,
    sdy: DFF<Bits<64>>,
    /// The softmax gradient: the next row's max and Σe so far.
    max_f: DFF<Bits<16>>,
    sum_f: DFF<Bits<32>>,
    /// The softmax gradient's first row slot: no row before it to finish, nothing written.
    pro: DFF<Bit>,
    staged_pro: DFF<Bit>,
    staged_end: DFF<Bit>,
    step: Constant<Bits<16>>,
    lanes: Constant<Bits<16>>,
    lanes_work: Constant<Bits<20>>,
    reading: Signal<Local, Bit>,
    is_loss: Signal<Local, Bit>,
    is_sgd: Signal<Local, Bit>,
    is_smg: Signal<Local, Bit>,
    is_pool: Signal<Local, Bit>,
    is_decay: Signal<Local, Bit>,
    is_bn: Signal<Local, Bit>,
    bn_stats: Signal<Local, Bit>,
    bn_left: Signal<Local, Bits<16>>,
    bn_nb: Signal<Local, Bits<16>>,
    bn_cj: Signal<Local, Bits<16>>,
    bn_row_end: Signal<Local, Bit>,
    bn_col_end: Signal<Local, Bit>,
    bn_next: Signal<Local, Bits<16>>,
    is_row: Signal<Local, Bit>,
    wbase: Signal<Local, Bits<16>>,
    wmask: Signal<Local, Bits<16>>,
    take: Signal<Local, Bits<16>>,
    row_left: Signal<Local, Bits<16>>,
    row_end: Signal<Local, Bit>,
    next_gcol: Signal<Local, Bits<16>>,
    batch_bytes: Signal<Local, Bits<5>>,
    b_data: Signal<Local, Bits<BATCH_BITS>>,
    c_data: Signal<Local, Bits<BATCH_BITS>>,
    mask: Signal<Local, Bits<17>>,
    elems_work: Signal<Local, Bits<20>>,
}

impl VectorUnit {
    /// A unit of `lanes` (a power of two, 1..=8) lanes and a `latency`-deep pipeline (≥ 2),
    /// for Q.`frac_bits` values.
    pub fn new(lanes: u64, latency: u64, frac_bits: u32) -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            hold: Default::default(),
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
            done: Default::default(),
            raddr: Default::default(),
            rdata: Default::default(),
            rdata3: Default::default(),
            rbytes: Default::default(),
            rsrc3: Default::default(),
            gaddr: Default::default(),
            gbytes: Default::default(),
            gdata: Default::default(),
            we: Default::default(),
            waddr: Default::default(),
            wdata: Default::default(),
            lane: Default::default(),
            sgd: SgdLanes::new(lanes as usize),
            loss: LossLanes::new(lanes as usize, frac_bits),
            phase: Default::default(),
            keeper: GroupKeep::new(lanes as usize),
            span: Default::default(),
            pool: PoolLanes::new(lanes as usize),
            decay: DecayLanes::new(frac_bits),
            bn: BatchLanes::new(frac_bits),
            gelu: GeluLanes::new(lanes as usize, frac_bits),
            norm: NormLanes::new(lanes as usize, frac_bits),
            smg: SoftmaxGradLanes::new(lanes as usize, frac_bits),
            exps: ExpSumLanes::new(lanes as usize, frac_bits),
            pipe: PipelineTail::new(latency),
            op_q: Default::default(),
            two_q: Default::default(),
            srste_q: Default::default(),
            r0: Default::default(),
            r1: Default::default(),
            r2: Default::default(),
            w: Default::default(),
            left: Default::default(),
            work: Default::default(),
            vofs: Default::default(),
            lr_q: Default::default(),
            mu_q: Default::default(),
            lambda_q: Default::default(),
            n_q: Default::default(),
            m_q: Default::default(),
            gcol: Default::default(),
            classes_q: Default::default(),
            batch_q: Default::default(),
            pass: Default::default(),
            col: Default::default(),
            row_max: Default::default(),
            row_sum: Default::default(),
            staged: Default::default(),
            staged_addr: Default::default(),
            staged_n: Default::default(),
            staged_offset: Default::default(),
            staged_rem: Default::default(),
            staged_lim: Default::default(),
            staged_pass: Default::default(),
            staged_col: Default::default(),
            staged_first: Default::default(),
            taps_q: Default::default(),
            recip_q: Default::default(),
            pbase_q: Default::default(),
            pstep_q: Default::default(),
            prow_q: Default::default(),
            kb_q: Default::default(),
            pj: Default::default(),
            pv: Default::default(),
            ppos: Default::default(),
            pcarry: Default::default(),
            pat: Default::default(),
            outs: Default::default(),
            r3: Default::default(),
            width_q: Default::default(),
            trows_q: Default::default(),
            rows_q: Default::default(),
            bn_on: Default::default(),
            bn_row: Default::default(),
            bn_col: Default::default(),
            bn_k: Default::default(),
            bn_off: Default::default(),
            bn_state: Default::default(),
            bn_wa: Default::default(),
            bn_srow: Default::default(),
            bn_sj: Default::default(),
            last_pass: Default::default(),
            labelled: Default::default(),
            sx: Default::default(),
            sq: Default::default(),
            sd: Default::default(),
            sdy: Default::default(),
            max_f: Default::default(),
            sum_f: Default::default(),
            pro: Default::default(),
            staged_pro: Default::default(),
            staged_end: Default::default(),
            is_smg: Default::default(),
            step: Constant::new(bits(2 * lanes)),
            lanes: Constant::new(bits(lanes)),
            lanes_work: Constant::new(bits(lanes)),
            reading: Default::default(),
            is_loss: Default::default(),
            is_sgd: Default::default(),
            is_pool: Default::default(),
            is_decay: Default::default(),
            is_bn: Default::default(),
            bn_stats: Default::default(),
            bn_left: Default::default(),
            bn_nb: Default::default(),
            bn_cj: Default::default(),
            bn_row_end: Default::default(),
            bn_col_end: Default::default(),
            bn_next: Default::default(),
            is_row: Default::default(),
            wbase: Default::default(),
            wmask: Default::default(),
            take: Default::default(),
            row_left: Default::default(),
            row_end: Default::default(),
            next_gcol: Default::default(),
            batch_bytes: Default::default(),
            b_data: Default::default(),
            c_data: Default::default(),
            mask: Default::default(),
            elems_work: Default::default(),
        }
    }
}

impl Logic for VectorUnit {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            op_q,
            two_q,
            srste_q,
            r0,
            r1,
            r2,
            w,
            left,
            work,
            vofs,
            lr_q,
            mu_q,
            lambda_q,
            n_q,
            m_q,
            gcol,
            classes_q,
            batch_q,
            pass,
            col,
            row_max,
            row_sum,
            staged,
            staged_addr,
            staged_n,
            staged_offset,
            staged_rem,
            staged_lim,
            staged_pass,
            staged_col,
            staged_first,
            taps_q,
            recip_q,
            pbase_q,
            pstep_q,
            prow_q,
            kb_q,
            pj,
            pv,
            ppos,
            pcarry,
            pat,
            outs,
            r3,
            width_q,
            trows_q,
            rows_q,
            bn_on,
            bn_row,
            bn_col,
            bn_k,
            bn_off,
            bn_state,
            bn_wa,
            bn_srow,
            bn_sj,
            last_pass,
            labelled,
            sx,
            sq,
            sd,
            sdy,
            max_f,
            sum_f,
            pro,
            staged_pro,
            staged_end
        );
        clock!(self, clock, pipe);
        // Operation codes 5 (VOP_LOSS) and 4 (VOP_SGD).
        self.is_loss.next = self.op_q.q.val() == 5;
        self.is_sgd.next = self.op_q.q.val() == 4;
        // Operation code 16 (VOP_SOFTMAX_GRAD).
        self.is_smg.next = self.op_q.q.val() == 16;
        // Operation codes 6 and 7 (VOP_POOL_MAX, VOP_POOL_SUM).
        self.is_pool.next = (self.op_q.q.val() == 6) | (self.op_q.q.val() == 7);
        // Operation code 8 (VOP_MASK_DECAY); 9 to 12 batch norm, 9 and 11 its statistics.
        self.is_decay.next = self.op_q.q.val() == 8;
        self.bn_stats.next = (self.op_q.q.val() == 9) | (self.op_q.q.val() == 11);
        self.is_bn.next =
            self.bn_stats.val() | (self.op_q.q.val() == 10) | (self.op_q.q.val() == 12);
        // Row operations: the loss and codes 13 to 16 (VOP_NORM … VOP_SOFTMAX_GRAD).
        self.is_row.next =
            self.is_loss.val() | ((self.op_q.q.val() >= 13) & (self.op_q.q.val() <= 16));
        for l in 0..MAX_VECTOR_LANES {
            self.lane[l].op.next = self.op_q.q.val().get_bits::<2>(0);
            // VOP_ADD3 (19) adds like VOP_ADD.
            if self.op_q.q.val() == 19 {
                self.lane[l].op.next = 2.into();
            }
        }

        // Reads: one batch a cycle while elements are left. A row operation's batch is the
        // rest of the row from `col`, at most `lanes`.
        self.reading.next = self.pipe.busy.val() & (self.left.q.val() != 0);
        if self.is_bn.val() {
            self.reading.next = self.pipe.busy.val() & self.bn_on.q.val();
        }
        // Batch norm: the block of columns from `bn_col`, `bn_nb` of them; `bn_k` is the row
        // (row phase) or the column in the block (column phase).
        self.bn_left.next = self.width_q.q.val() - self.bn_col.q.val();
        self.bn_nb.next = self.lanes.val();
        if self.bn_left.val() < self.lanes.val() {
            self.bn_nb.next = self.bn_left.val();
        }
        self.bn_cj.next = (self.bn_col.q.val() + self.bn_k.q.val()) << 4;
        self.bn_row_end.next = self.bn_k.q.val() == (self.trows_q.q.val() - 1);
        self.bn_col_end.next = self.bn_k.q.val() == (self.bn_nb.val() - 1);
        self.bn_next.next = self.bn_col.q.val() + self.lanes.val();
        self.row_left.next = self.classes_q.q.val() - self.col.q.val();
        self.row_end.next = self.row_left.val() <= self.lanes.val();
        self.take.next = self.lanes.val();
        if self.is_row.val() {
            if self.row_end.val() {
                self.take.next = self.row_left.val();
            }
        } else if self.is_bn.val() {
            self.take.next = self.bn_nb.val();
        } else if self.left.q.val() < self.lanes.val() {
            self.take.next = self.left.q.val();
        }
        self.raddr[0].next = self.r0.q.val() + (self.col.q.val() << 1);
        // Source 1 holds the loss's labels, one a row, or a row operation's second source.
        self.raddr[1].next = self.r1.q.val() + (self.col.q.val() << 1);
        if self.is_loss.val() {
            self.raddr[1].next = self.r1.q.val();
        }
        self.raddr[2].next = self.r2.q.val();
        // The softmax gradient reads the next row's x on port 2.
        if self.is_smg.val() {
            self.raddr[2].next =
                self.r0.q.val() + (self.classes_q.q.val() << 1) + (self.col.q.val() << 1);
        }
        if self.is_bn.val() {
            self.raddr[0].next = self.r0.q.val() + self.bn_off.q.val();
            self.raddr[1].next = self.r1.q.val() + self.bn_off.q.val();
            if !self.bn_row.q.val() {
                self.raddr[1].next = self.r3.q.val() + self.bn_cj.val();
            }
            self.raddr[2].next = self.r2.q.val() + self.bn_cj.val();
        }
        // The window starts at lane 0's group: `offset` weights before it.
        self.phase.col.next = self.gcol.q.val();
        self.phase.width.next = self.width_q.q.val();
        self.phase.m.next = self.m_q.q.val();
        self.gaddr.next = self.r0.q.val() - (bit_cast::<16, 5>(self.phase.offset.val()) << 1);
        // The bytes the batch uses of each port (vector_steps' accesses): its lanes' elements,
        // one label or d, a column's 16 statistics bytes, the window's groups.
        self.batch_bytes.next = bit_cast::<5, 16>(self.take.val()) << 1;
        self.span.offset.next = self.phase.offset.val();
        self.span.rem.next = self.phase.rem.val();
        self.span.lim.next = self.phase.lim.val();
        self.span.m.next = self.m_q.q.val();
        self.span.take.next = bit_cast::<4, 16>(self.take.val());
        self.span.left.next = self.left.q.val();
        self.rbytes[0].next = 0.into();
        self.rbytes[1].next = 0.into();
        self.rbytes[2].next = 0.into();
        self.rsrc3.next = false;
        self.gbytes.next = 0.into();
        if self.reading.val() {
            if self.is_row.val() {
                self.rbytes[0].next = self.batch_bytes.val();
                // The loss's label joins its gradients, layer norm's dy all but its first
                // pass; the softmax gradient reads rows r−1 (ports 0, 1) and r (port 2) in
                // slot r of 0 … rows.
                if self.is_loss.val() & (self.pass.q.val() == self.last_pass.q.val()) {
                    self.rbytes[1].next = 2.into();
                }
                if (self.op_q.q.val() == 14) & (self.pass.q.val() != 0) {
                    self.rbytes[1].next = self.batch_bytes.val();
                }
                if self.is_smg.val() {
                    if self.pro.q.val() {
                        self.rbytes[0].next = 0.into();
                    } else {
                        self.rbytes[1].next = self.batch_bytes.val();
                    }
                    if self.left.q.val() != self.classes_q.q.val() {
                        self.rbytes[2].next = self.batch_bytes.val();
                    }
                }
            } else if self.is_bn.val() {
                // Rows: x (statistics twice), or dy and y; columns: the accumulator or the
                // statistics, and BatchNormGrad's gradient statistics on port 1.
                if self.bn_row.q.val() {
                    self.rbytes[0].next = self.batch_bytes.val();
                    if self.op_q.q.val() != 10 {
                        self.rbytes[1].next = self.batch_bytes.val();
                    }
                } else {
                    self.rbytes[2].next = 16.into();
                    if self.op_q.q.val() == 12 {
                        self.rbytes[1].next = 16.into();
                        self.rsrc3.next = true;
                    }
                }
            } else if self.op_q.q.val() != 3 {
                // Element-wise and pooling: source 0, source 1 where there is one (MaskDecay's
                // d: one element), SGD's momenta and a third addend on port 2.
                self.rbytes[0].next = self.batch_bytes.val();
                if self.two_q.q.val() {
                    self.rbytes[1].next = self.batch_bytes.val();
                    if self.is_decay.val() {
                        self.rbytes[1].next = 2.into();
                    }
                }
                if self.is_sgd.val() | (self.op_q.q.val() == 19) {
                    self.rbytes[2].next = self.batch_bytes.val();
                }
                if (self.is_sgd.val() & self.srste_q.q.val()) | self.is_decay.val() {
                    self.gbytes.next = self.span.bytes.val();
                }
            }
        }
        self.staged.d.next = self.reading.val();
        self.staged_addr.d.next = self.w.q.val() + (self.col.q.val() << 1);
        self.staged_n.d.next = bit_cast::<5, 16>(self.take.val());
        self.staged_offset.d.next = self.phase.offset.val();
        self.staged_rem.d.next = self.phase.rem.val();
        self.staged_lim.d.next = self.phase.lim.val();
        self.staged_pass.d.next = self.pass.q.val();
        self.staged_pro.d.next = self.pro.q.val();
        self.staged_end.d.next = self.row_end.val();
        self.staged_col.d.next = self.col.q.val();
        self.staged_first.d.next = self.col.q.val() == 0;
        if self.is_bn.val() {
            self.staged_first.d.next = self.bn_k.q.val() == 0;
        }
        self.bn_wa.d.next = self.w.q.val() + self.bn_off.q.val();
        if !self.bn_row.q.val() {
            self.bn_wa.d.next = self.w.q.val() + self.bn_cj.val();
        }
        self.bn_srow.d.next = self.bn_row.q.val();
        self.bn_sj.d.next = bit_cast::<3, 16>(self.bn_k.q.val());
        self.next_gcol.next = self.gcol.q.val() + self.lanes.val();
        if self.reading.val() {
            if self.is_row.val() {
                // Pass after pass over a row (the loss: max, Σe, gradients), then the next
                // row; the loss's source 1 holds one label per row.
                self.col.d.next = self.col.q.val() + self.lanes.val();
                if self.row_end.val() {
                    self.col.d.next = 0.into();
                    self.pass.d.next = self.pass.q.val() + 1;
                    if self.pass.q.val() == self.last_pass.q.val() {
                        self.pass.d.next = 0.into();
                        self.pro.d.next = false;
                        self.r0.d.next = self.r0.q.val() + (self.classes_q.q.val() << 1);
                        self.w.d.next = self.w.q.val() + (self.classes_q.q.val() << 1);
                        self.r1.d.next = self.r1.q.val() + (self.classes_q.q.val() << 1);
                        if self.is_loss.val() {
                            self.r1.d.next = self.r1.q.val() + 2;
                        }
                        self.left.d.next = self.left.q.val() - self.classes_q.q.val();
                    }
                }
            } else if self.is_bn.val() {
                // Statistics: the block's rows, then its columns' accumulators; their
                // application: the columns' statistics, then the rows.
                self.bn_k.d.next = self.bn_k.q.val() + 1;
                if self.bn_row.q.val() {
                    self.bn_off.d.next = self.bn_off.q.val() + (self.width_q.q.val() << 1);
                    if self.bn_row_end.val() {
                        self.bn_k.d.next = 0.into();
                        self.bn_row.d.next = false;
                        if !self.bn_stats.val() {
                            self.bn_col.d.next = self.bn_next.val();
                            if self.bn_next.val() >= self.width_q.q.val() {
                                self.bn_on.d.next = false;
                            }
                        }
                    }
                } else if self.bn_col_end.val() {
                    self.bn_k.d.next = 0.into();
                    self.bn_row.d.next = true;
                    self.bn_off.d.next = self.bn_col.q.val() << 1;
                    if self.bn_stats.val() {
                        self.bn_col.d.next = self.bn_next.val();
                        self.bn_off.d.next = self.bn_next.val() << 1;
                        if self.bn_next.val() >= self.width_q.q.val() {
                            self.bn_on.d.next = false;
                        }
                    }
                }
            } else {
                self.r0.d.next = self.r0.q.val() + self.step.val();
                // MaskDecay's d stays where it is.
                if !self.is_decay.val() {
                    self.r1.d.next = self.r1.q.val() + self.step.val();
                }
                self.r2.d.next = self.r2.q.val() + self.step.val();
                if !self.is_pool.val() {
                    self.w.d.next = self.w.q.val() + self.step.val();
                }
                self.left.d.next = self.left.q.val() - self.take.val();
                // Lane 0 moves `lanes` weights on, into the next row at the row's end (rows
                // are at least `lanes` long).
                self.gcol.d.next = self.next_gcol.val();
                if self.next_gcol.val() >= self.width_q.q.val() {
                    self.gcol.d.next = self.next_gcol.val() - self.width_q.q.val();
                }
            }
        }
        // Element operations: `lanes` a cycle until the model's count is spent.
        if self.pipe.busy.val() {
            self.work.d.next = 0.into();
            if self.work.q.val() > self.lanes_work.val() {
                self.work.d.next = self.work.q.val() - self.lanes_work.val();
            }
        }

        // The batch read last cycle, through the lanes.
        self.b_data.next = self.rdata[1].val();
        if !self.two_q.q.val() {
            self.b_data.next = 0.into();
        }
        // Source 2 joins the sum only in VOP_ADD3 (19); port 2 reads SGD's momenta too.
        self.c_data.next = 0.into();
        if self.op_q.q.val() == 19 {
            self.c_data.next = self.rdata[2].val();
        }
        for l in 0..MAX_VECTOR_LANES {
            self.lane[l].a.next = self.rdata[0].val().get_bits::<16>(l * 16);
            self.lane[l].b.next = self.b_data.val().get_bits::<16>(l * 16);
            self.lane[l].c.next = self.c_data.val().get_bits::<16>(l * 16);
        }
        self.keeper.win.next = self.gdata.val();
        self.keeper.n.next = self.n_q.q.val();
        self.keeper.m.next = self.m_q.q.val();
        self.keeper.offset.next = self.staged_offset.q.val();
        self.keeper.rem.next = self.staged_rem.q.val();
        self.keeper.lim.next = self.staged_lim.q.val();
        self.sgd.w.next = self.rdata[0].val();
        self.sgd.dw.next = self.rdata[1].val();
        self.sgd.v.next = self.rdata[2].val();
        self.sgd.keep.next = 0xFF.into();
        if self.srste_q.q.val() {
            self.sgd.keep.next = self.keeper.keep.val();
        }
        self.sgd.lr.next = self.lr_q.q.val();
        self.sgd.mu.next = self.mu_q.q.val();
        self.sgd.lambda.next = self.lambda_q.q.val();
        self.loss.x.next = self.rdata[0].val();
        self.loss.n.next = bit_cast::<4, 5>(self.staged_n.q.val());
        self.loss.max.next = self.row_max.q.val();
        self.loss.sum.next = self.row_sum.q.val();
        self.loss.first.next = self.staged_first.q.val();
        self.loss.col.next = self.staged_col.q.val();
        self.loss.label.next = self.rdata[1].val().get_bits::<16>(0);
        // Without a label, the loss lanes compute the softmax (divided by a batch of 1).
        self.loss.labelled.next = self.labelled.q.val();
        self.gelu.x.next = self.rdata[0].val();
        self.gelu.dy.next = self.rdata[1].val();
        self.gelu.grad.next = self.op_q.q.val() == 18;
        self.norm.x.next = self.rdata[0].val();
        self.norm.dy.next = self.rdata[1].val();
        self.norm.n.next = bit_cast::<4, 5>(self.staged_n.q.val());
        self.norm.first.next = self.staged_first.q.val();
        self.norm.width.next = self.classes_q.q.val();
        self.norm.sx.next = self.sx.q.val();
        self.norm.sq.next = self.sq.q.val();
        self.norm.sd.next = self.sd.q.val();
        self.norm.sdy.next = self.sdy.q.val();
        self.smg.y.next = self.loss.g.val();
        self.smg.dy.next = self.rdata[1].val();
        self.smg.n.next = bit_cast::<4, 5>(self.staged_n.q.val());
        self.smg.first.next = self.staged_first.q.val();
        self.smg.acc.next = self.sdy.q.val();
        self.loss.batch.next = self.batch_q.q.val();
        self.pool.x.next = self.rdata[0].val();
        self.pool.arg.next = self.rdata[1].val();
        self.pool.n.next = bit_cast::<4, 5>(self.staged_n.q.val());
        self.pool.max.next = self.op_q.q.val() == 6;
        self.pool.masked.next = self.two_q.q.val();
        self.pool.taps.next = self.taps_q.q.val();
        self.pool.recip.next = self.recip_q.q.val();
        self.pool.base.next = self.pbase_q.q.val();
        self.pool.step.next = self.pstep_q.q.val();
        self.pool.row.next = self.prow_q.q.val();
        self.pool.kb.next = self.kb_q.q.val();
        self.pool.j.next = self.pj.q.val();
        self.pool.v.next = self.pv.q.val();
        self.pool.pos.next = self.ppos.q.val();
        self.pool.carry.next = self.pcarry.q.val();
        self.pool.carry_at.next = self.pat.q.val();
        if self.staged.q.val() & self.is_pool.val() {
            self.pj.d.next = self.pool.j_next.val();
            self.pv.d.next = self.pool.v_next.val();
            self.ppos.d.next = self.pool.pos_next.val();
            self.pcarry.d.next = self.pool.carry_next.val();
            self.pat.d.next = self.pool.at_next.val();
            self.outs.d.next = self.outs.q.val() + bit_cast::<16, 4>(self.pool.count.val());
        }
        self.decay.w.next = self.rdata[0].val();
        self.decay.d.next = self.b_data.val().get_bits::<16>(0);
        self.decay.keep.next = self.keeper.keep.val();
        self.bn.a.next = self.rdata[0].val();
        self.bn.b.next = self.rdata[1].val();
        if !self.bn_srow.q.val() & (self.op_q.q.val() == 12) {
            self.bn.b.next = self.rdata3.val();
        }
        self.bn.s.next = self.rdata[2].val();
        self.bn.state.next = self.bn_state.q.val();
        self.bn.row.next = self.bn_srow.q.val();
        self.bn.first.next = self.staged_first.q.val();
        self.bn.j.next = self.bn_sj.q.val();
        self.bn.stats.next = self.bn_stats.val();
        self.bn.grad.next = (self.op_q.q.val() == 11) | (self.op_q.q.val() == 12);
        self.bn.n.next = self.rows_q.q.val();
        if self.staged.q.val() & self.is_bn.val() {
            self.bn_state.d.next = self.bn.state_next.val();
        }
        // A row's reductions: the max (and layer norm's Σx, Σx²) in the first pass, Σe (and
        // layer norm's Σdy, Σdy·y) in the second, the softmax gradient's Σdy·y in the third.
        if self.staged.q.val() & self.is_row.val() & !self.is_smg.val() {
            if self.staged_pass.q.val() == 0 {
                self.row_max.d.next = self.loss.max_next.val();
                self.sx.d.next = self.norm.sx_next.val();
                self.sq.d.next = self.norm.sq_next.val();
            }
            if self.staged_pass.q.val() == 1 {
                self.row_sum.d.next = self.loss.sum_next.val();
                self.sd.d.next = self.norm.sd_next.val();
                self.sdy.d.next = self.norm.sdy_next.val();
            }
        }
        // The softmax gradient's row slot: the next row's max and Σdy·y of this one in the
        // first pass, the next row's Σe (and this row's results) in the second; at its end the
        // next row's reductions become this row's.
        self.exps.x.next = self.rdata[2].val();
        self.exps.n.next = bit_cast::<4, 5>(self.staged_n.q.val());
        self.exps.max.next = self.max_f.q.val();
        self.exps.sum.next = self.sum_f.q.val();
        self.exps.first.next = self.staged_first.q.val();
        if self.staged.q.val() & self.is_smg.val() {
            if self.staged_pass.q.val() == 0 {
                self.max_f.d.next = self.exps.max_next.val();
                self.sdy.d.next = self.smg.acc_next.val();
            } else {
                self.sum_f.d.next = self.exps.sum_next.val();
                if self.staged_end.q.val() {
                    self.row_max.d.next = self.max_f.q.val();
                    self.row_sum.d.next = self.exps.sum_next.val();
                }
            }
        }

        // Writes: the results (a loss row's third pass), and SGD's momenta after its weights.
        self.wdata[0].next = bit_cast::<128, 16>(self.lane[0].y.val())
            | (bit_cast::<128, 16>(self.lane[1].y.val()) << 16)
            | (bit_cast::<128, 16>(self.lane[2].y.val()) << 32)
            | (bit_cast::<128, 16>(self.lane[3].y.val()) << 48)
            | (bit_cast::<128, 16>(self.lane[4].y.val()) << 64)
            | (bit_cast::<128, 16>(self.lane[5].y.val()) << 80)
            | (bit_cast::<128, 16>(self.lane[6].y.val()) << 96)
            | (bit_cast::<128, 16>(self.lane[7].y.val()) << 112);
        if self.is_sgd.val() {
            self.wdata[0].next = self.sgd.w2.val();
        }
        if self.is_loss.val() | (self.op_q.q.val() == 15) {
            self.wdata[0].next = self.loss.g.val();
        }
        if self.is_decay.val() {
            self.wdata[0].next = self.decay.y.val();
        }
        if self.op_q.q.val() == 13 {
            self.wdata[0].next = self.norm.y.val();
        }
        if self.op_q.q.val() == 14 {
            self.wdata[0].next = self.norm.dx.val();
        }
        if self.op_q.q.val() == 16 {
            self.wdata[0].next = self.smg.dx.val();
        }
        if (self.op_q.q.val() == 17) | (self.op_q.q.val() == 18) {
            self.wdata[0].next = self.gelu.y.val();
        }
        self.wdata[1].next = self.sgd.v2.val();
        // A pooling batch writes the groups ending in it after the results written so far,
        // max pooling's taps `elems` results further on.
        self.wbase.next = self.staged_addr.q.val();
        self.mask.next = (bits::<17>(1) << (bit_cast::<6, 5>(self.staged_n.q.val()) << 1)) - 1;
        if self.is_pool.val() {
            self.wdata[0].next = self.pool.y.val();
            self.wdata[1].next = self.pool.at.val();
            self.wbase.next = self.w.q.val() + (self.outs.q.val() << 1);
            self.mask.next = (bits::<17>(1) << (bit_cast::<6, 4>(self.pool.count.val()) << 1)) - 1;
        }
        // Batch norm writes a row's results in the block, or a column's 16 statistics bytes.
        if self.is_bn.val() {
            self.wdata[0].next = self.bn.y.val();
            self.wbase.next = self.bn_wa.q.val();
            if !self.bn_srow.q.val() {
                self.mask.next = 0xFFFF.into();
            }
        }
        self.waddr[0].next = self.wbase.val();
        self.waddr[1].next = self.wbase.val() + self.vofs.q.val();
        self.wmask.next = bit_cast::<16, 17>(self.mask.val());
        self.we[0].next = 0.into();
        self.we[1].next = 0.into();
        if self.staged.q.val()
            & !self.is_bn.val()
            & (!self.is_row.val() | (self.staged_pass.q.val() == self.last_pass.q.val()))
            & !(self.is_smg.val() & self.staged_pro.q.val())
        {
            self.we[0].next = self.wmask.val();
        }
        // Statistics write in their column phase, the others in their row phase.
        if self.staged.q.val()
            & self.is_bn.val()
            & ((self.bn_srow.q.val() & !self.bn_stats.val())
                | (!self.bn_srow.q.val() & self.bn_stats.val()))
        {
            self.we[0].next = self.wmask.val();
        }
        if self.staged.q.val() & (self.is_sgd.val() | (self.op_q.q.val() == 6)) {
            self.we[1].next = self.wmask.val();
        }
        self.pipe.start.next = self.start.val();
        // A held cycle does not count towards the tail.
        self.pipe.drained.next = (self.work.q.val() == 0) & !self.hold.val();
        self.done.next = self.pipe.done.val();

        // Element operations of the model: elems·vector_ops_per_elem (1; SGD 2, with SR-STE
        // 3; loss 5; MaskDecay, BatchStats and BatchNorm 2; their gradients 3).
        self.elems_work.next = bit_cast::<20, 16>(self.elems.val());
        if self.op.val() == 4 {
            self.elems_work.next = bit_cast::<20, 16>(self.elems.val()) << 1;
            if self.srste.val() {
                self.elems_work.next = (bit_cast::<20, 16>(self.elems.val()) << 1)
                    + bit_cast::<20, 16>(self.elems.val());
            }
        }
        if self.op.val() == 5 {
            self.elems_work.next =
                (bit_cast::<20, 16>(self.elems.val()) << 2) + bit_cast::<20, 16>(self.elems.val());
        }
        if (self.op.val() == 8) | (self.op.val() == 9) | (self.op.val() == 10) {
            self.elems_work.next = bit_cast::<20, 16>(self.elems.val()) << 1;
        }
        if (self.op.val() == 11) | (self.op.val() == 12) {
            self.elems_work.next =
                (bit_cast::<20, 16>(self.elems.val()) << 1) + bit_cast::<20, 16>(self.elems.val());
        }
        // Pooling: `taps` per result, each source element once.
        if (self.op.val() == 6) | (self.op.val() == 7) {
            self.elems_work.next = bit_cast::<20, 16>(self.total.val());
        }
        // Layer norm, softmax, GELU 4; the softmax gradient 3; GELU's 5, layer norm's 6.
        if (self.op.val() == 13) | (self.op.val() == 15) | (self.op.val() == 17) {
            self.elems_work.next = bit_cast::<20, 16>(self.elems.val()) << 2;
        }
        if self.op.val() == 16 {
            self.elems_work.next =
                (bit_cast::<20, 16>(self.elems.val()) << 1) + bit_cast::<20, 16>(self.elems.val());
        }
        if self.op.val() == 18 {
            self.elems_work.next =
                (bit_cast::<20, 16>(self.elems.val()) << 2) + bit_cast::<20, 16>(self.elems.val());
        }
        if self.op.val() == 14 {
            self.elems_work.next = (bit_cast::<20, 16>(self.elems.val()) << 2)
                + (bit_cast::<20, 16>(self.elems.val()) << 1);
        }
        // Held: every register that moves during an operation keeps its value (those set at
        // `start` only never move; a start is never held).
        if self.hold.val() {
            self.r0.d.next = self.r0.q.val();
            self.r1.d.next = self.r1.q.val();
            self.r2.d.next = self.r2.q.val();
            self.w.d.next = self.w.q.val();
            self.left.d.next = self.left.q.val();
            self.work.d.next = self.work.q.val();
            self.gcol.d.next = self.gcol.q.val();
            self.pass.d.next = self.pass.q.val();
            self.col.d.next = self.col.q.val();
            self.row_max.d.next = self.row_max.q.val();
            self.row_sum.d.next = self.row_sum.q.val();
            self.staged.d.next = self.staged.q.val();
            self.staged_addr.d.next = self.staged_addr.q.val();
            self.staged_n.d.next = self.staged_n.q.val();
            self.staged_offset.d.next = self.staged_offset.q.val();
            self.staged_rem.d.next = self.staged_rem.q.val();
            self.staged_lim.d.next = self.staged_lim.q.val();
            self.staged_pass.d.next = self.staged_pass.q.val();
            self.staged_col.d.next = self.staged_col.q.val();
            self.staged_first.d.next = self.staged_first.q.val();
            self.pj.d.next = self.pj.q.val();
            self.pv.d.next = self.pv.q.val();
            self.ppos.d.next = self.ppos.q.val();
            self.pcarry.d.next = self.pcarry.q.val();
            self.pat.d.next = self.pat.q.val();
            self.outs.d.next = self.outs.q.val();
            self.bn_on.d.next = self.bn_on.q.val();
            self.bn_row.d.next = self.bn_row.q.val();
            self.bn_col.d.next = self.bn_col.q.val();
            self.bn_k.d.next = self.bn_k.q.val();
            self.bn_off.d.next = self.bn_off.q.val();
            self.bn_state.d.next = self.bn_state.q.val();
            self.bn_wa.d.next = self.bn_wa.q.val();
            self.bn_srow.d.next = self.bn_srow.q.val();
            self.bn_sj.d.next = self.bn_sj.q.val();
            self.sx.d.next = self.sx.q.val();
            self.sq.d.next = self.sq.q.val();
            self.sd.d.next = self.sd.q.val();
            self.sdy.d.next = self.sdy.q.val();
            self.max_f.d.next = self.max_f.q.val();
            self.sum_f.d.next = self.sum_f.q.val();
            self.pro.d.next = self.pro.q.val();
            self.staged_pro.d.next = self.staged_pro.q.val();
            self.staged_end.d.next = self.staged_end.q.val();
        }
        if self.start.val() {
            self.op_q.d.next = self.op.val();
            self.two_q.d.next = self.two.val();
            self.srste_q.d.next = self.srste.val();
            self.r0.d.next = self.src0.val();
            self.r1.d.next = self.src1.val();
            self.r2.d.next = self.src2.val();
            self.w.d.next = self.dst.val();
            self.left.d.next = self.elems.val();
            // The softmax gradient starts a row early: its first slot reduces row 0 only.
            self.pro.d.next = self.op.val() == 16;
            if self.op.val() == 16 {
                self.r0.d.next = self.src0.val() - (self.classes.val() << 1);
                self.r1.d.next = self.src1.val() - (self.classes.val() << 1);
                self.w.d.next = self.dst.val() - (self.classes.val() << 1);
                self.left.d.next = self.elems.val() + self.classes.val();
            }
            self.work.d.next = self.elems_work.val();
            self.vofs.d.next = self.elems.val() << 1;
            self.lr_q.d.next = self.lr.val();
            self.mu_q.d.next = self.mu.val();
            self.lambda_q.d.next = self.lambda.val();
            self.n_q.d.next = self.n.val();
            self.m_q.d.next = self.m.val();
            self.gcol.d.next = 0.into();
            self.classes_q.d.next = self.classes.val();
            self.batch_q.d.next = self.batch.val();
            self.pass.d.next = 0.into();
            self.col.d.next = 0.into();
            self.taps_q.d.next = self.taps.val();
            self.recip_q.d.next = self.recip.val();
            self.pbase_q.d.next = self.pbase.val();
            self.pstep_q.d.next = self.pstep.val();
            self.prow_q.d.next = self.prow.val();
            self.kb_q.d.next = self.kb.val();
            // Before the first element: the end of a group.
            self.pj.d.next = self.taps.val() - 1;
            self.outs.d.next = 0.into();
            if (self.op.val() == 6) | (self.op.val() == 7) {
                self.left.d.next = self.total.val();
            }
            self.r3.d.next = self.src3.val();
            self.width_q.d.next = self.width.val();
            self.trows_q.d.next = self.trows.val();
            self.rows_q.d.next = self.rows.val();
            // Statistics start with a block's rows, their application with its columns.
            self.bn_on.d.next = (self.op.val() == 9)
                | (self.op.val() == 10)
                | (self.op.val() == 11)
                | (self.op.val() == 12);
            self.bn_row.d.next = (self.op.val() == 9) | (self.op.val() == 11);
            self.bn_col.d.next = 0.into();
            self.bn_k.d.next = 0.into();
            self.bn_off.d.next = 0.into();
            // The last of a row operation's passes: the loss, softmax and layer norm's
            // gradient make three, layer norm and the softmax gradient's row slots two.
            self.labelled.d.next = self.op.val() == 5;
            self.last_pass.d.next = 2.into();
            if self.op.val() == 13 {
                self.last_pass.d.next = 1.into();
            }
            if self.op.val() == 16 {
                self.last_pass.d.next = 1.into();
            }
        }
    }
}

/// The passes a row operation makes over each row (the model's schedule follows them).
pub use nmsat_compiler::vector_steps::row_passes;

/// Batches the unit reads for `rows` rows of `width` of the row operation `op` on `lanes`
/// lanes: each pass `⌈width/lanes⌉` batches a row; the softmax gradient runs its passes two
/// at a time, the next row's max and Σe beside this row's Σdy·y and results, in `rows + 1`
/// slots of two passes.
pub fn row_reads(op: VecOp, rows: u64, width: u64, lanes: u64) -> Option<u64> {
    let batches = width.div_ceil(lanes);
    match op {
        VecOp::SoftmaxGrad => Some((rows + 1) * 2 * batches),
        _ => Some(row_passes(op)? * rows * batches),
    }
}

/// Whether `reads` batches read at τ+1 … τ+R, the last written at τ+R+1, finish within the
/// model's time: no later than the completion, `vector_cycles` − 1 after the issue τ.
fn reads_fit(arch: &Arch, op: VecOp, elems: u64, reads: u64) -> bool {
    reads + 2 <= vector_cycles(arch, op, elems)
}

/// Whether the row operation `op` over `elems` elements in rows of `width` (the loss's
/// classes) runs on `arch`'s unit (`reads_fit`): its [`row_reads`].
pub fn rows_fit(arch: &Arch, op: VecOp, elems: u64, width: u64) -> bool {
    let width = match op {
        VecOp::Loss { classes, .. } => classes,
        _ => width,
    }
    .max(1);
    let Some(reads) = row_reads(op, elems / width, width, arch.vector_lanes) else {
        return false;
    };
    reads_fit(arch, op, elems, reads)
}

/// Whether a batch-norm operation over `elems` elements in rows of `width` runs on `arch`'s
/// unit (`reads_fit`): per block of `lanes` columns one read a row and one a column.
pub fn batch_fits(arch: &Arch, op: VecOp, elems: u64, width: u64) -> bool {
    if width == 0 {
        return false;
    }
    let reads = width + width.div_ceil(arch.vector_lanes) * (elems / width);
    reads_fit(arch, op, elems, reads)
}

/// Whether the unit runs `arch`'s vector operations in `timing::vector_cycles`.
pub fn check_arch(arch: &nmsat_compiler::arch::Arch) -> Result<(), crate::HwError> {
    let unsupported = |field, value, reason: &str, allowed: &str| {
        Err(crate::HwError::unsupported(
            arch, field, value, reason, allowed,
        ))
    };
    let lanes = arch.vector_lanes;
    if !lanes.is_power_of_two() || lanes as usize > MAX_VECTOR_LANES {
        return unsupported(
            "vector_unit.lanes",
            lanes,
            "the RTL vector unit has 1, 2, 4 or 8 lanes (a batch is at most 16 bytes)",
            "1, 2, 4, 8",
        );
    }
    if arch.vector_latency < 2 {
        return unsupported(
            "vector_unit.latency",
            arch.vector_latency,
            "the pipeline reads the scratchpad, then computes and writes",
            "≥ 2",
        );
    }
    Ok(())
}
