//! `PipelineTail`: when a unit that streams its batches into a `latency`-deep pipeline is busy
//! and when it completes — shared by the prune unit and the vector unit.
//!
//! Issued at τ, the unit reads batch b at τ+1+b; once nothing is left to read (`drained`), the
//! last batch leaves the pipeline `latency − 1` cycles after its read, so `done` rises in cycle
//! τ + B + latency − 1 and the unit is busy `B + latency` cycles: the `latency + batches` of
//! `timing::prune_cycles` and `timing::vector_cycles`. `latency` must be at least 2 (the read,
//! then the operation and the write).

use rust_hdl::prelude::*;

/// Busy and done of a streaming unit; see the module docs.
#[derive(LogicBlock)]
pub struct PipelineTail {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// The unit takes an operation in this cycle.
    pub start: Signal<In, Bit>,
    /// No batch is left to read.
    pub drained: Signal<In, Bit>,
    /// An operation is in progress (from the cycle after `start`).
    pub busy: Signal<Out, Bit>,
    /// The operation completes in this cycle.
    pub done: Signal<Out, Bit>,
    busy_q: DFF<Bit>,
    cycles_left: DFF<Bits<16>>,
    tail: Constant<Bits<16>>,
}

impl PipelineTail {
    /// The tail of a `latency`-deep pipeline (≥ 2).
    pub fn new(latency: u64) -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            drained: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            busy_q: Default::default(),
            cycles_left: Default::default(),
            // Cycles after the last read: latency − 1.
            tail: Constant::new(bits(latency - 1)),
        }
    }
}

impl Logic for PipelineTail {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, busy_q, cycles_left);
        self.busy.next = self.busy_q.q.val();
        self.done.next = self.busy_q.q.val() & self.drained.val() & (self.cycles_left.q.val() == 0);
        if self.busy_q.q.val() & self.drained.val() {
            self.cycles_left.d.next = self.cycles_left.q.val() - 1;
        }
        if self.done.val() {
            self.busy_q.d.next = false;
        }
        if self.start.val() {
            self.busy_q.d.next = true;
            self.cycles_left.d.next = self.tail.val() - 1;
        }
    }
}
