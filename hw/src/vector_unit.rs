//! `VectorUnit`: the core's vector unit for the element-wise operations — `Relu`, `ReluGrad`,
//! `Add` (one or two sources, saturating) and `Fill` — with the exact simulator's semantics
//! (`nmsat_sim::exact` vector unit) and timing (`timing::vector_cycles`).
//!
//! ```text
//!  issue τ ─► batch b = 0 … B−1 read at τ+1+b (lanes elements of each source)
//!          ─► computed and written at τ+2+b ─► done in cycle τ + B + latency − 1
//! ```
//!
//! `B = ⌈elems / lanes⌉` batches stream through a `latency`-deep pipeline (at least 2: the
//! scratchpad read, then the lane operation and the write; deeper pipelines only delay the
//! completion), so the unit is busy `latency + ⌈elems/lanes⌉` cycles: `vector_cycles` for an
//! operation of one element operation per element.

use crate::pipeline_tail::PipelineTail;
use rust_hdl::prelude::*;

/// The most lanes the unit has: a batch is at most 16 bytes of each source.
pub const MAX_VECTOR_LANES: usize = 8;

/// Operation codes on the instruction port.
pub const VOP_RELU: u64 = 0;
/// `x > 0 ? dy : 0` (sources dy, x).
pub const VOP_RELU_GRAD: u64 = 1;
/// Saturating sum of the sources.
pub const VOP_ADD: u64 = 2;
/// Zeros.
pub const VOP_FILL: u64 = 3;

/// One lane's operation on two INT16 values.
#[derive(LogicBlock, Default)]
pub struct Lane {
    /// The operation code.
    pub op: Signal<In, Bits<2>>,
    /// Source 0's element.
    pub a: Signal<In, Bits<16>>,
    /// Source 1's element (0 without a second source).
    pub b: Signal<In, Bits<16>>,
    /// The result.
    pub y: Signal<Out, Bits<16>>,
    a_ext: Signal<Local, Bits<17>>,
    b_ext: Signal<Local, Bits<17>>,
    sum: Signal<Local, Bits<17>>,
}

impl Logic for Lane {
    #[hdl_gen]
    fn update(&mut self) {
        // Sign-extended 17-bit sum: it overflows INT16 iff its two top bits differ.
        self.a_ext.next = bit_cast::<17, 16>(self.a.val());
        if self.a.val().get_bit(15) {
            self.a_ext.next = bit_cast::<17, 16>(self.a.val()) | 0x10000;
        }
        self.b_ext.next = bit_cast::<17, 16>(self.b.val());
        if self.b.val().get_bit(15) {
            self.b_ext.next = bit_cast::<17, 16>(self.b.val()) | 0x10000;
        }
        self.sum.next = self.a_ext.val() + self.b_ext.val();
        self.y.next = 0.into();
        if (self.op.val() == 0) & !self.a.val().get_bit(15) {
            self.y.next = self.a.val();
        }
        if (self.op.val() == 1) & !self.b.val().get_bit(15) & (self.b.val() != 0) {
            self.y.next = self.a.val();
        }
        if self.op.val() == 2 {
            self.y.next = bit_cast::<16, 17>(self.sum.val());
            if self.sum.val().get_bit(16) & !self.sum.val().get_bit(15) {
                self.y.next = 0x8000.into();
            }
            if !self.sum.val().get_bit(16) & self.sum.val().get_bit(15) {
                self.y.next = 0x7FFF.into();
            }
        }
    }
}

/// The unit: a batch sequencer, `MAX_VECTOR_LANES` lanes (the first `lanes` used) and the
/// completion counter of its pipeline.
#[derive(LogicBlock)]
pub struct VectorUnit {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// Begin the operation described by the inputs below.
    pub start: Signal<In, Bit>,
    /// Operation code (`VOP_*`).
    pub op: Signal<In, Bits<2>>,
    /// Source 0's first byte.
    pub src0: Signal<In, Bits<16>>,
    /// Source 1's first byte.
    pub src1: Signal<In, Bits<16>>,
    /// Whether there is a source 1 (otherwise it reads as zeros).
    pub two: Signal<In, Bit>,
    /// The destination's first byte.
    pub dst: Signal<In, Bits<16>>,
    /// Elements (≥ 1).
    pub elems: Signal<In, Bits<16>>,
    /// The operation completes in this cycle.
    pub done: Signal<Out, Bit>,
    /// Read addresses of the two sources (16 bytes each, answered the cycle after).
    pub raddr: [Signal<Out, Bits<16>>; 2],
    /// Their data.
    pub rdata: [Signal<In, Bits<128>>; 2],
    /// Write byte enables.
    pub we: Signal<Out, Bits<16>>,
    /// Write address.
    pub waddr: Signal<Out, Bits<16>>,
    /// Write data.
    pub wdata: Signal<Out, Bits<128>>,
    /// The lanes.
    pub lane: [Lane; MAX_VECTOR_LANES],
    pipe: PipelineTail,
    op_q: DFF<Bits<2>>,
    two_q: DFF<Bit>,
    r0: DFF<Bits<16>>,
    r1: DFF<Bits<16>>,
    w: DFF<Bits<16>>,
    left: DFF<Bits<16>>,
    staged: DFF<Bit>,
    staged_addr: DFF<Bits<16>>,
    staged_n: DFF<Bits<5>>,
    step: Constant<Bits<16>>,
    lanes: Constant<Bits<16>>,
    reading: Signal<Local, Bit>,
    take: Signal<Local, Bits<16>>,
    b_data: Signal<Local, Bits<128>>,
    mask: Signal<Local, Bits<17>>,
}

impl VectorUnit {
    /// A unit of `lanes` (a power of two, 1..=8) lanes and a `latency`-deep pipeline (≥ 2).
    pub fn new(lanes: u64, latency: u64) -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            op: Default::default(),
            src0: Default::default(),
            src1: Default::default(),
            two: Default::default(),
            dst: Default::default(),
            elems: Default::default(),
            done: Default::default(),
            raddr: Default::default(),
            rdata: Default::default(),
            we: Default::default(),
            waddr: Default::default(),
            wdata: Default::default(),
            lane: Default::default(),
            pipe: PipelineTail::new(latency),
            op_q: Default::default(),
            two_q: Default::default(),
            r0: Default::default(),
            r1: Default::default(),
            w: Default::default(),
            left: Default::default(),
            staged: Default::default(),
            staged_addr: Default::default(),
            staged_n: Default::default(),
            step: Constant::new(bits(2 * lanes)),
            lanes: Constant::new(bits(lanes)),
            reading: Default::default(),
            take: Default::default(),
            b_data: Default::default(),
            mask: Default::default(),
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
            r0,
            r1,
            w,
            left,
            staged,
            staged_addr,
            staged_n
        );
        clock!(self, clock, pipe);
        for l in 0..MAX_VECTOR_LANES {
            self.lane[l].op.next = self.op_q.q.val();
        }
        // Reads: one batch a cycle while elements are left.
        self.reading.next = self.pipe.busy.val() & (self.left.q.val() != 0);
        self.take.next = self.lanes.val();
        if self.left.q.val() < self.lanes.val() {
            self.take.next = self.left.q.val();
        }
        self.raddr[0].next = self.r0.q.val();
        self.raddr[1].next = self.r1.q.val();
        self.staged.d.next = self.reading.val();
        self.staged_addr.d.next = self.w.q.val();
        self.staged_n.d.next = bit_cast::<5, 16>(self.take.val());
        if self.reading.val() {
            self.r0.d.next = self.r0.q.val() + self.step.val();
            self.r1.d.next = self.r1.q.val() + self.step.val();
            self.w.d.next = self.w.q.val() + self.step.val();
            self.left.d.next = self.left.q.val() - self.take.val();
        }
        // Writes: the batch read last cycle, through the lanes.
        self.b_data.next = self.rdata[1].val();
        if !self.two_q.q.val() {
            self.b_data.next = 0.into();
        }
        for l in 0..MAX_VECTOR_LANES {
            self.lane[l].a.next = self.rdata[0].val().get_bits::<16>(l * 16);
            self.lane[l].b.next = self.b_data.val().get_bits::<16>(l * 16);
        }
        self.wdata.next = bit_cast::<128, 16>(self.lane[0].y.val())
            | (bit_cast::<128, 16>(self.lane[1].y.val()) << 16)
            | (bit_cast::<128, 16>(self.lane[2].y.val()) << 32)
            | (bit_cast::<128, 16>(self.lane[3].y.val()) << 48)
            | (bit_cast::<128, 16>(self.lane[4].y.val()) << 64)
            | (bit_cast::<128, 16>(self.lane[5].y.val()) << 80)
            | (bit_cast::<128, 16>(self.lane[6].y.val()) << 96)
            | (bit_cast::<128, 16>(self.lane[7].y.val()) << 112);
        self.waddr.next = self.staged_addr.q.val();
        self.mask.next = (bits::<17>(1) << (bit_cast::<6, 5>(self.staged_n.q.val()) << 1)) - 1;
        self.we.next = 0.into();
        if self.staged.q.val() {
            self.we.next = bit_cast::<16, 17>(self.mask.val());
        }
        self.pipe.start.next = self.start.val();
        self.pipe.drained.next = self.left.q.val() == 0;
        self.done.next = self.pipe.done.val();
        if self.start.val() {
            self.op_q.d.next = self.op.val();
            self.two_q.d.next = self.two.val();
            self.r0.d.next = self.src0.val();
            self.r1.d.next = self.src1.val();
            self.w.d.next = self.dst.val();
            self.left.d.next = self.elems.val();
        }
    }
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
