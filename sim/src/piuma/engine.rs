//! The event loop: threads ask a [`Workload`] for their next task in time order.
//!
//! Each hardware thread is an event `(time, thread)`; the earliest runs next, ties by thread
//! number, so a run is deterministic. A thread with nothing to do parks until the workload
//! reaches a barrier and wakes its block (or the die).

use super::Machine;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What a thread does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// It ran a task that ends at this cycle.
    Ran(u64),
    /// It waits at a barrier until the workload wakes its block.
    Park,
    /// It has no more work.
    Done,
}

/// A kernel as the engine sees it.
pub trait Workload {
    /// The next step of `thread` at cycle `now`.
    fn next(&mut self, m: &mut Machine, thread: u64, now: u64) -> Step;
}

/// What one run of the engine measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineRun {
    /// Cycle at which the last thread finished.
    pub cycles: u64,
    /// Cycles threads spent running tasks, summed over threads.
    pub busy_thread_cycles: u64,
    /// Tasks run.
    pub tasks: u64,
}

/// Runs `w` on `m` until every thread is done. Errors if threads stay parked with no one left
/// to wake them (a workload bug).
pub fn run(m: &mut Machine, w: &mut dyn Workload) -> Result<EngineRun, String> {
    let threads = m.threads();
    let blocks = m.p.blocks();
    let tpb = m.p.threads_per_block();
    let mut heap: BinaryHeap<Reverse<(u64, u64)>> = (0..threads).map(|t| Reverse((0, t))).collect();
    let mut parked: Vec<Vec<u64>> = vec![Vec::new(); blocks as usize];
    let mut out = EngineRun {
        cycles: 0,
        busy_thread_cycles: 0,
        tasks: 0,
    };
    while let Some(Reverse((now, t))) = heap.pop() {
        match w.next(m, t, now) {
            Step::Ran(end) => {
                debug_assert!(end >= now);
                out.busy_thread_cycles += end - now;
                out.tasks += 1;
                heap.push(Reverse((end, t)));
            }
            Step::Park => parked[(t / tpb) as usize].push(t),
            Step::Done => out.cycles = out.cycles.max(now),
        }
        let all = std::mem::take(&mut m.wake_all);
        if !all && m.wakes.is_empty() {
            continue;
        }
        let wakes = std::mem::take(&mut m.wakes);
        for (b, list) in parked.iter_mut().enumerate() {
            if all || wakes.contains(&(b as u64)) {
                heap.extend(list.drain(..).map(|t| Reverse((now, t))));
            }
        }
    }
    let stuck: usize = parked.iter().map(Vec::len).sum();
    if stuck > 0 {
        return Err(format!(
            "{stuck} threads are still parked at a barrier nobody will reach"
        ));
    }
    Ok(out)
}
