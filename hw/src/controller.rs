//! The controller: the issue logic of the core — the RTL form of `nmsat_sim::machine` — over
//! the five in-order instruction queues (load, store, prune, array, vector), one
//! [`Sequencer`] per queue, chained by the core top ([`crate::core`]).
//!
//! ```text
//!  held[r] = Σ_u busy_u·res_u[r] ─► Sequencer 0 ─after─► Sequencer 1 ─► … ─► Sequencer 4
//!                                   (load)               (store)             (vector)
//!  every sequencer: pc, busy, completed count; waits compare against all five counts
//! ```
//!
//! Queue `u` issues its instruction at `pc_u` in cycle τ when
//! 1. its unit is not busy (the previous instruction's `done` was in a cycle before τ),
//! 2. every wait `(v, c)` holds: `completed_v ≥ c` (a completion counts from the cycle after
//!    its `done`),
//! 3. every resource `r` it needs (a scratchpad region's ports, the write port of a physically
//!    banked region, or the DRAM) has a free port:
//!    the instructions in flight that hold `r`, plus those issuing in τ from the queues
//!    before `u`, number fewer than `ports[r]`.
//!
//! A unit whose `done` comes in its first free cycle rather than its last busy one (the DMA
//! engine on physical banks, [`crate::DmaPhysical`]: it raises `done` a cycle later than the
//! ideal engine and takes the next `start` in that same cycle) sets `free_at_done`: its
//! sequencer then counts the completion, releases the resources and may issue again in the
//! `done` cycle itself, so the instruction occupies the same cycles `[τ, τ + T)` as under the
//! ideal engine's `done` in cycle τ + T − 1.
//!
//! Rule 3's "queues before u" is the fixed order load, store, prune, array, vector: each
//! sequencer passes on how many ports are taken once it has claimed its own (`after`), which
//! is the machine model's loop over units within one cycle. An instruction holds its
//! resources from issue to completion, like its unit.

use rust_hdl::prelude::*;

/// Units (instruction queues), in issue priority order.
pub const UNITS: usize = 5;
/// Resources, numbered as `nmsat_sim::machine::Resource::index` numbers them: the weight,
/// input and output regions' ports (their read copies on physical banks), the DRAM, then the
/// three regions' write ports (held only on physical banks).
pub const RESOURCES: usize = nmsat_sim::machine::RESOURCE_COUNT;

/// One instruction queue's issue logic.
#[derive(LogicBlock, Default)]
pub struct Sequencer {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// The queue has an instruction at `pc`.
    pub valid: Signal<In, Bit>,
    /// Its waits: at least `wait[v]` instructions of queue `v` completed.
    pub wait: [Signal<In, Bits<16>>; UNITS],
    /// Its resources (bit r: resource r).
    pub res: Signal<In, Bits<RESOURCES>>,
    /// Completed counts of all queues.
    pub completed: [Signal<In, Bits<16>>; UNITS],
    /// Ports of each resource taken before this queue looks.
    pub before: [Signal<In, Bits<4>>; RESOURCES],
    /// Ports of each resource.
    pub ports: [Signal<In, Bits<4>>; RESOURCES],
    /// The unit completes its instruction in this cycle.
    pub done: Signal<In, Bit>,
    /// `done` marks the unit's first free cycle, not its last busy one (see the module docs).
    pub free_at_done: Signal<In, Bit>,
    /// Issue the instruction at `pc` in this cycle.
    pub issue: Signal<Out, Bit>,
    /// Index of the queue's next instruction.
    pub pc: Signal<Out, Bits<16>>,
    /// Instructions of this queue completed.
    pub count: Signal<Out, Bits<16>>,
    /// Ports taken once this queue has claimed its own.
    pub after: [Signal<Out, Bits<4>>; RESOURCES],
    /// Resources the instruction in flight holds (1 each).
    pub holds: [Signal<Out, Bits<4>>; RESOURCES],
    pc_q: DFF<Bits<16>>,
    count_q: DFF<Bits<16>>,
    busy_q: DFF<Bit>,
    res_q: DFF<Bits<RESOURCES>>,
    ready: Signal<Local, Bit>,
    free: Signal<Local, Bit>,
}

impl Logic for Sequencer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, pc_q, count_q, busy_q, res_q);
        self.free.next = self.done.val() & self.free_at_done.val();
        self.ready.next = self.valid.val() & (!self.busy_q.q.val() | self.free.val());
        for v in 0..UNITS {
            if self.completed[v].val() < self.wait[v].val() {
                self.ready.next = false;
            }
        }
        for r in 0..RESOURCES {
            if self.res.val().get_bit(r) & (self.before[r].val() >= self.ports[r].val()) {
                self.ready.next = false;
            }
        }
        self.issue.next = self.ready.val();
        for r in 0..RESOURCES {
            self.after[r].next = self.before[r].val();
            if self.ready.val() & self.res.val().get_bit(r) {
                self.after[r].next = self.before[r].val() + 1;
            }
            self.holds[r].next = 0.into();
            if self.busy_q.q.val() & !self.free.val() & self.res_q.q.val().get_bit(r) {
                self.holds[r].next = 1.into();
            }
        }
        if self.ready.val() {
            self.pc_q.d.next = self.pc_q.q.val() + 1;
            self.res_q.d.next = self.res.val();
        }
        // An instruction issued in its predecessor's `done` cycle (only when that is free)
        // stays busy.
        self.busy_q.d.next = ((self.busy_q.q.val() | self.ready.val()) & !self.done.val())
            | (self.ready.val() & self.free.val());
        if self.done.val() {
            self.count_q.d.next = self.count_q.q.val() + 1;
        }
        self.pc.next = self.pc_q.q.val();
        self.count.next = self.count_q.q.val();
        if self.free.val() {
            self.count.next = self.count_q.q.val() + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::settle;

    /// (issue, completed count, DRAM ports held) in each of the cycles 0 … 4 of a queue of two
    /// transfers whose unit raises `done` in cycle 3, under `free_at_done`.
    fn run(free_at_done: bool) -> Vec<(bool, u64, u64)> {
        let mut s = Sequencer::default();
        s.connect_all();
        s.valid.next = true;
        s.res.next = bits(1 << 3);
        s.ports.iter_mut().for_each(|p| p.next = bits(1));
        s.free_at_done.next = free_at_done;
        let mut seen = Vec::new();
        for cycle in 0..5 {
            s.done.next = cycle == 3;
            s.clock.next = false.into();
            settle(&mut s);
            seen.push((
                s.issue.val(),
                s.count.val().index() as u64,
                s.holds[3].val().index() as u64,
            ));
            s.clock.next = true.into();
            settle(&mut s);
        }
        seen
    }

    /// A unit whose `done` is its last busy cycle frees the queue in the next cycle; one whose
    /// `done` is its first free cycle frees it in that very cycle: the completion counts, the
    /// DRAM is released and the next instruction issues — and stays busy.
    #[test]
    fn free_at_done_issues_counts_and_releases_in_the_done_cycle() {
        let held = |c| (false, c, 1);
        assert_eq!(
            run(false),
            [(true, 0, 0), held(0), held(0), held(0), (true, 1, 0)]
        );
        assert_eq!(
            run(true),
            [(true, 0, 0), held(0), held(0), (true, 1, 0), held(1)]
        );
    }
}
