//! The machine's shared resources and how a thread's task reserves them.
//!
//! ```text
//!   block b ────────────────────────────────────────────┐
//!   │ MTP 0..3 (16 threads each)  STP 0..1 (1 thread)   │   one issue slot per pipeline
//!   │        │ loads/stores            │ atomics        │   per cycle
//!   │  ┌─────▼──────────────┐   ┌──────▼───────┐        │
//!   │  │ scratchpad banks   │◄──┤ atomic engine│        │   a bank serves 1 word/cycle;
//!   │  │ 0 … B−1            │   └──────────────┘        │   the engine starts ops/cycle
//!   │  └────────────────────┘   DMA engine              │
//!   │  DRAM channel(s) ◄── 8-byte words                 │
//!   └──────────── 2D mesh router: hop_latency per hop ──┘
//! ```
//!
//! A kernel runs on the machine as *tasks*: one thread's batch of instructions and memory
//! operations (for SMASH, one non-zero of A times a row of B). While a task executes, the
//! kernel states its demand on each resource ([`Machine::issue`], [`Machine::spad`],
//! [`Machine::atomic`], [`Machine::dram`], [`Machine::dma`]) and the thread's own dependent
//! chain of exposed latencies ([`Machine::wait`]); [`Machine::commit`] then reserves every
//! resource first-come first-served at the task's start and returns when it ends:
//!
//! ```text
//! end = max( start + instructions + exposed latency,              the thread alone
//!            max over resources r of  max(start, free_r) + service_r )   contention
//! ```
//!
//! Contention is thus resolved at task boundaries: a resource never serves more than its rate,
//! a lone task takes its latency chain, and a saturated resource makes tasks queue. Fine-grained
//! multithreading follows: a pipeline's issue slot is one such resource, so while one thread
//! waits on its exposed latency others issue, up to one instruction a cycle per pipeline.

use super::timing;
use nmsat_compiler::arch::piuma::{AtomicOp, Piuma};

/// Counts of everything the kernels did, for the statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub instructions: u64,
    pub spad_accesses: u64,
    pub spad_remote_accesses: u64,
    pub fetch_adds: u64,
    pub float_adds: u64,
    pub cas: u64,
    pub remote_atomics: u64,
    /// Cycles threads waited because an atomic found its address held by an earlier one.
    pub same_address_wait: u64,
    pub dram_read_bytes: u64,
    pub dram_write_bytes: u64,
    pub dma_bytes: u64,
}

impl Counters {
    /// All atomic operations.
    pub fn atomics(&self) -> u64 {
        self.fetch_adds + self.float_adds + self.cas
    }
}

/// Where a thread sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadPlace {
    pub block: u64,
    /// Global pipeline index.
    pub pipe: u64,
}

#[derive(Clone, Copy)]
enum Class {
    Pipe,
    Bank,
    Atomic,
    Dma,
    Channel,
}

/// The machine's resources and counters while kernels run on it.
pub struct Machine<'p> {
    pub p: &'p Piuma,
    pub counters: Counters,
    free: Vec<u64>,
    busy: Vec<u64>,
    demand: Vec<u64>,
    touched: Vec<usize>,
    exposed: u64,
    instrs: u64,
    base: [usize; 5],
    /// Blocks whose parked threads the engine should wake (barriers).
    pub(crate) wakes: Vec<u64>,
    pub(crate) wake_all: bool,
}

impl<'p> Machine<'p> {
    /// An idle machine.
    pub fn new(p: &'p Piuma) -> Self {
        let blocks = p.blocks() as usize;
        let pipes = blocks * p.pipelines_per_block() as usize;
        let banks = blocks * p.scratchpad.banks as usize;
        let base = [
            0,
            pipes,
            pipes + banks,
            pipes + banks + blocks,
            pipes + banks + 2 * blocks,
        ];
        let n = base[4] + p.channels() as usize;
        Machine {
            p,
            counters: Counters::default(),
            free: vec![0; n],
            busy: vec![0; n],
            demand: vec![0; n],
            touched: Vec::new(),
            exposed: 0,
            instrs: 0,
            base,
            wakes: Vec::new(),
            wake_all: false,
        }
    }

    /// Hardware threads on the die.
    pub fn threads(&self) -> u64 {
        self.p.blocks() * self.p.threads_per_block()
    }

    /// Block and pipeline of thread `t` (threads are numbered block by block, multi-threaded
    /// pipelines' threads first).
    pub fn place(&self, t: u64) -> ThreadPlace {
        let tpb = self.p.threads_per_block();
        let (block, local) = (t / tpb, t % tpb);
        let mtp_threads = self.p.mtp.count * self.p.mtp.threads;
        let pipe_local = if local < mtp_threads {
            local / self.p.mtp.threads
        } else {
            self.p.mtp.count + (local - mtp_threads)
        };
        ThreadPlace {
            block,
            pipe: block * self.p.pipelines_per_block() + pipe_local,
        }
    }

    fn add(&mut self, class: Class, index: u64, amount: u64) {
        let r = self.base[class as usize] + index as usize;
        if self.demand[r] == 0 {
            self.touched.push(r);
        }
        self.demand[r] += amount;
    }

    /// The thread on `pipe` issues `n` instructions (one issue slot each).
    pub fn issue(&mut self, pipe: u64, n: u64) {
        if n > 0 {
            self.instrs += n;
            self.counters.instructions += n;
            self.add(Class::Pipe, pipe, n);
        }
    }

    /// The thread waits `cycles` for a result (an exposed latency on its own chain).
    pub fn wait(&mut self, cycles: u64) {
        self.exposed += cycles;
    }

    /// `n` single-word accesses from block `from` to bank `bank` of block `to`'s scratchpad;
    /// returns the load-to-use latency (the caller decides whether it is exposed).
    pub fn spad(&mut self, from: u64, to: u64, bank: u64, n: u64) -> u64 {
        self.counters.spad_accesses += n;
        if from != to {
            self.counters.spad_remote_accesses += n;
        }
        self.add(Class::Bank, to * self.p.scratchpad.banks + bank, n);
        timing::spad_latency(self.p, from, to)
    }

    /// Word-by-word accesses to `bytes` at `offset` in block `to`'s scratchpad, spread over
    /// the banks; returns the load-to-use latency of the first word.
    pub fn spad_range(&mut self, from: u64, to: u64, offset: u64, bytes: u64) -> u64 {
        let p = self.p;
        timing::range_per_bank(p, offset, bytes, |b, n| {
            self.spad(from, to, b, n);
        });
        timing::spad_latency(p, from, to)
    }

    /// An atomic `op` from block `from` on a word of block `to`'s scratchpad (in `bank`);
    /// returns the latency to its result (0 for the posted float add). The engine also
    /// reads and writes the bank.
    pub fn atomic(&mut self, from: u64, to: u64, bank: u64, op: AtomicOp) -> u64 {
        self.atomics(from, to, bank, op, 1)
    }

    /// `n` atomics of one kind to words in one bank (the batched form of [`Machine::atomic`]);
    /// returns the latency to the result of one.
    pub fn atomics(&mut self, from: u64, to: u64, bank: u64, op: AtomicOp, n: u64) -> u64 {
        match op {
            AtomicOp::FetchAdd => self.counters.fetch_adds += n,
            AtomicOp::FloatAdd => self.counters.float_adds += n,
            AtomicOp::Cas => self.counters.cas += n,
        }
        if from != to {
            self.counters.remote_atomics += n;
        }
        if n == 0 {
            return 0;
        }
        self.add(Class::Atomic, to, n);
        self.add(Class::Bank, to * self.p.scratchpad.banks + bank, 2 * n);
        match op {
            AtomicOp::FloatAdd => 0,
            _ => timing::atomic_latency(self.p, from, to),
        }
    }

    /// The thread waited `cycles` because an atomic found its address held by an earlier one.
    pub fn same_address_wait(&mut self, cycles: u64) {
        self.counters.same_address_wait += cycles;
        self.exposed += cycles;
    }

    /// Cycles the current task has put on its own chain so far (instructions and exposed
    /// latency): a task's operation happens at about `start + elapsed()`.
    pub fn elapsed(&self) -> u64 {
        self.instrs + self.exposed
    }

    /// A DRAM read (`write = false`) or write of `bytes` at `addr` by a thread on block
    /// `from`; returns the load-to-use latency of the first word.
    pub fn dram(&mut self, from: u64, addr: u64, bytes: u64, write: bool) -> u64 {
        let p = self.p;
        let mut moved = 0;
        timing::range_per_channel(p, addr, bytes, |c, b| {
            moved += b;
            self.add(Class::Channel, c, b);
        });
        if write {
            self.counters.dram_write_bytes += moved;
        } else {
            self.counters.dram_read_bytes += moved;
        }
        timing::dram_latency(p, from, timing::dram_channel(p, addr))
    }

    /// A DMA transfer of `bytes` between DRAM at `addr` and block `block`'s scratchpad (at
    /// `offset`), as one descriptor; returns the cycles until the last byte has landed if the
    /// engine and channels were free.
    pub fn dma(&mut self, block: u64, addr: u64, offset: u64, bytes: u64, write: bool) -> u64 {
        self.counters.dma_bytes += bytes;
        self.add(Class::Dma, block, timing::dma_cycles(self.p, 1, bytes));
        self.spad_range(block, block, offset, bytes);
        let lat = self.dram(block, addr, bytes, write);
        lat + timing::dma_cycles(self.p, 1, bytes)
    }

    /// Reserves the pending demand of a task that starts at `start` and returns its end.
    pub fn commit(&mut self, start: u64) -> u64 {
        let mut end = start + self.instrs + self.exposed;
        for &r in &self.touched {
            let d = std::mem::take(&mut self.demand[r]);
            let svc = match self.class_of(r) {
                Class::Pipe | Class::Bank | Class::Dma => d,
                Class::Atomic => timing::atomic_engine_cycles(self.p, d),
                Class::Channel => timing::channel_cycles(self.p, d),
            };
            let s = start.max(self.free[r]);
            self.free[r] = s + svc;
            self.busy[r] += svc;
            end = end.max(s + svc);
        }
        self.touched.clear();
        self.instrs = 0;
        self.exposed = 0;
        end
    }

    fn class_of(&self, r: usize) -> Class {
        if r < self.base[1] {
            Class::Pipe
        } else if r < self.base[2] {
            Class::Bank
        } else if r < self.base[3] {
            Class::Atomic
        } else if r < self.base[4] {
            Class::Dma
        } else {
            Class::Channel
        }
    }

    /// Asks the engine to wake the parked threads of `block` (a block barrier was reached).
    pub fn wake(&mut self, block: u64) {
        self.wakes.push(block);
    }

    /// Asks the engine to wake every parked thread (a die-wide barrier was reached).
    pub fn wake_everyone(&mut self) {
        self.wake_all = true;
    }

    /// Busy cycles summed over the resources of each kind: pipelines, banks, atomic engines,
    /// DMA engines, DRAM channels.
    pub fn busy_by_kind(&self) -> [u64; 5] {
        let mut out = [0; 5];
        for (k, o) in out.iter_mut().enumerate() {
            let end = if k == 4 {
                self.busy.len()
            } else {
                self.base[k + 1]
            };
            *o = self.busy[self.base[k]..end].iter().sum();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_task_takes_its_chain_and_contention_queues() {
        let p = Piuma::load("piuma-block").unwrap();
        let mut m = Machine::new(&p);
        assert_eq!(m.threads(), 8 * 66);
        let t0 = m.place(0);
        assert_eq!(m.place(16).pipe, 1);
        assert_eq!(m.place(64).pipe, 4);
        assert_eq!(m.place(66), ThreadPlace { block: 1, pipe: 6 });
        // Alone: 10 instructions plus one exposed DRAM latency.
        m.issue(t0.pipe, 10);
        let lat = m.dram(0, 0, 8, false);
        m.wait(lat);
        assert_eq!(m.commit(0), 10 + lat);
        // Two tasks of 1000 accesses to one bank: the second queues behind the first.
        for _ in 0..2 {
            m.spad(0, 0, 3, 1000);
        }
        assert_eq!(m.commit(0), 2000);
        m.spad(0, 0, 3, 1000);
        assert_eq!(m.commit(0), 3000);
        // Same-pipeline issue slots are shared.
        m.issue(t0.pipe, 100);
        let e = m.commit(5);
        assert_eq!(e, 110, "the first task's 10 slots are taken");
        assert_eq!(m.counters.spad_accesses, 3000);
    }

    #[test]
    fn remote_accesses_pay_the_mesh_round_trip() {
        let p = Piuma::load("piuma-block").unwrap();
        let mut m = Machine::new(&p);
        let local = m.atomic(0, 0, 0, AtomicOp::FetchAdd);
        let remote = m.atomic(0, 7, 0, AtomicOp::FetchAdd);
        // Block 7 is 4 hops from block 0 on the 2×4 mesh: out and back at 2 cycles a hop.
        assert_eq!(remote - local, 16);
        assert_eq!(
            m.atomic(0, 7, 0, AtomicOp::FloatAdd),
            0,
            "float adds are posted"
        );
        assert_eq!(m.spad(3, 3, 0, 1) + 2 * 2, m.spad(3, 2, 0, 1));
        assert_eq!(m.counters.remote_atomics, 2);
        assert_eq!(m.counters.spad_remote_accesses, 1);
        // One DRAM word from the local channel (block 0 holds channel 0), and from block 7's.
        let near = m.dram(0, 0, 8, false);
        let far = m.dram(0, 7 * 64, 8, false);
        assert_eq!((near, far - near), (p.dram.latency, 16));
        m.commit(0);
    }
}
