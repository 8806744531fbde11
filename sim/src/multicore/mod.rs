//! Data-parallel training over several SAT cores (`multicore.cores: K` in a description).
//!
//! Each core runs the same program, compiled for its share `B/K` of the batch, on its own
//! samples. Weight gradients are reduced where they are exact: a WU GEMM accumulates its
//! `dW` tile in INT32 in the output region, over the whole share, and only the store
//! requantizes it. Just before that store the K cores' accumulators of the tile are summed
//! (wrapping, as the array adds them) and every core gets the sum, so each core stores and
//! applies `requant(Σ_cores acc)`: exactly what one core computes on the whole batch, because
//! integer addition does not care about order. The loss gradient is divided by the whole batch
//! ([`data_parallel`]), as averaging the cores' gradients would.
//!
//! Two ways to sum a tile, both over the interconnect's mesh ([`timing`]):
//! - **atomic**: core s owns slice s of the tile; the others add their slice-s accumulators
//!   into core s's output region by remote atomic adds, then core s writes the sums back;
//! - **ring**: a ring all-reduce (reduce-scatter, then all-gather) in `2(K−1)` steps.
//!
//! The reduction is part of the gradient tile's store: [`Cores`] and [`Timed`] lengthen that
//! store by the tile's reduction cycles, and the one issue model ([`crate::machine::run`])
//! schedules the rest around it. While reducing, the store still holds the DRAM as every
//! transfer does: a conservative choice (loads could proceed during the mesh traffic).
//!
//! Not equal to one core, by design of data-parallel training: batch norm's statistics are
//! taken over each core's share (as in data-parallel training without synchronised batch norm).
pub mod timing;

use crate::exact::{Exact, Memory};
use crate::fast::Fast;
use crate::machine::{self, Executor, OpCost};
use crate::stats::{self, Stats};
use nmsat_compiler::arch::piuma::{Dma, Piuma};
use nmsat_compiler::arch::{Arch, Reduction};
use nmsat_compiler::isa::{Buf, Instr, Op, Program, VecOp};
use timing::{slice, Cost, WORD};

/// The die the cores sit on: the interconnect's description, each block's scratchpad and DMA
/// engine being the SAT core's output region and DMA engine.
pub fn core_die(arch: &Arch) -> Piuma {
    let mut p = arch.multicore.interconnect.clone();
    p.scratchpad = arch.output.scratchpad();
    p.dma = Dma {
        bytes_per_cycle: arch.dma.bytes_per_cycle,
        setup_cycles: arch.dma.setup_cycles,
    };
    p
}

/// The per-core batch of a `batch`-sample iteration on `arch`'s cores, or why there is none.
pub fn per_core_batch(arch: &Arch, batch: u64) -> Result<u64, String> {
    let k = arch.multicore.cores;
    if batch == 0 || !batch.is_multiple_of(k) {
        return Err(format!(
            "batch {batch} does not split evenly over {k} cores (multicore.cores in `{}`)",
            arch.name
        ));
    }
    Ok(batch / k)
}

/// Turns a program compiled for one core's share into that core's part of a data-parallel
/// iteration of `global_batch` samples: the loss gradient divides by the whole batch.
pub fn data_parallel(mut prog: Program, global_batch: u64) -> Program {
    for i in &mut prog.instrs {
        if let Op::Vector {
            op: VecOp::Loss { batch, .. },
            ..
        } = &mut i.op
        {
            *batch = global_batch;
        }
    }
    prog
}

/// The INT32 accumulators a store reduces first, if it stores a weight-gradient tile (a
/// requantizing store into a `*.dw` tensor).
pub fn gradient_tile(prog: &Program, instr: &Instr) -> Option<Buf> {
    let Op::Store {
        xfer,
        requant: true,
    } = &instr.op
    else {
        return None;
    };
    let (lo, hi) = xfer.dram_span();
    prog.tensors
        .iter()
        .any(|t| t.name.ends_with(".dw") && t.addr <= lo && hi <= t.addr + t.bytes)
        .then_some(xfer.sp)
}

/// Totals of a reduction over an iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReductionStats {
    /// Gradient tiles reduced.
    pub tiles: u64,
    /// INT32 accumulators per core reduced.
    pub words: u64,
    /// Cycles spent reducing, summed over tiles.
    pub cycles: u64,
    /// Bytes injected into the mesh, over all cores.
    pub bytes: u64,
    /// Remote atomic adds.
    pub atomics: u64,
}

/// What the reduction of every instruction costs (zero for all but gradient stores).
pub struct Plan {
    pub die: Piuma,
    /// Blocks the cores sit on, in ring order (core c on `blocks[c]`).
    pub blocks: Vec<u64>,
    pub reduction: Reduction,
    pub extra: Vec<u64>,
    pub totals: ReductionStats,
}

impl Plan {
    /// Costs every gradient tile of `prog` on `arch`'s cores.
    pub fn new(arch: &Arch, prog: &Program) -> Plan {
        let die = core_die(arch);
        let blocks = timing::placement(&die, arch.multicore.cores);
        let reduction = arch.multicore.reduction;
        let mut totals = ReductionStats::default();
        let extra = prog
            .instrs
            .iter()
            .map(|i| match gradient_tile(prog, i) {
                Some(b) => {
                    let words = b.bytes / WORD;
                    let c = cost(&die, &blocks, reduction, words);
                    totals.tiles += 1;
                    totals.words += words;
                    totals.cycles += c.cycles;
                    totals.bytes += c.bytes;
                    totals.atomics += c.atomics;
                    c.cycles
                }
                None => 0,
            })
            .collect();
        Plan {
            die,
            blocks,
            reduction,
            extra,
            totals,
        }
    }
}

/// The cost of reducing `words` accumulators with `r`.
pub fn cost(p: &Piuma, blocks: &[u64], r: Reduction, words: u64) -> Cost {
    match r {
        Reduction::Atomic => timing::atomic_cost(p, blocks, words),
        Reduction::Ring => timing::ring_cost(p, blocks, words),
    }
}

/// Sums the cores' accumulators `acc[c]` of one tile the way `r` moves them, leaving the sum
/// in every core's copy. Atomic: each owner adds the others' slice into its own, then copies
/// it back out. Ring: in reduce-scatter step t core c adds chunk `(c − t) mod K` from its
/// predecessor; then each core forwards the summed chunk it holds around the ring.
pub fn reduce(r: Reduction, acc: &mut [Vec<i32>]) {
    let k = acc.len();
    if k <= 1 {
        return;
    }
    let words = acc[0].len() as u64;
    let range = |s: usize| {
        let r = slice(words, k as u64, s as u64);
        r.start as usize..r.end as usize
    };
    match r {
        Reduction::Atomic => {
            for s in 0..k {
                let sl = range(s);
                for c in (0..k).filter(|&c| c != s) {
                    for w in sl.clone() {
                        acc[s][w] = acc[s][w].wrapping_add(acc[c][w]);
                    }
                }
                let sum = acc[s][sl.clone()].to_vec();
                for c in (0..k).filter(|&c| c != s) {
                    acc[c][sl.clone()].copy_from_slice(&sum);
                }
            }
        }
        Reduction::Ring => {
            for t in 0..k - 1 {
                let sent: Vec<Vec<i32>> = (0..k)
                    .map(|c| acc[c][range((c + k - t) % k)].to_vec())
                    .collect();
                for (c, chunk) in sent.iter().enumerate() {
                    let to = (c + 1) % k;
                    for (d, v) in acc[to][range((c + k - t) % k)].iter_mut().zip(chunk) {
                        *d = d.wrapping_add(*v);
                    }
                }
            }
            // Core c now holds the whole sum of chunk (c + 1) mod K.
            for t in 0..k - 1 {
                let sent: Vec<Vec<i32>> = (0..k)
                    .map(|c| acc[c][range((c + 1 + k - t) % k)].to_vec())
                    .collect();
                for (c, chunk) in sent.iter().enumerate() {
                    acc[(c + 1) % k][range((c + 1 + k - t) % k)].copy_from_slice(chunk);
                }
            }
        }
    }
}

/// Times operations with another executor and lengthens each by its reduction cycles.
pub struct Timed<'a, E> {
    pub inner: E,
    pub extra: &'a [u64],
}

impl<E: Executor> Executor for Timed<'_, E> {
    fn execute(&mut self, index: usize, instr: &Instr) -> Result<OpCost, String> {
        let c = self.inner.execute(index, instr)?;
        Ok(OpCost {
            cycles: c.cycles + self.extra[index],
            bank_stall: c.bank_stall,
        })
    }
}

/// Executes every operation on each core's memory in exact mode, reducing the gradient
/// tiles before their stores. The cores run the same static schedule (operation cycles do not
/// depend on data), which this checks.
pub struct Cores<'a> {
    pub arch: &'a Arch,
    pub prog: &'a Program,
    pub mems: &'a mut [Memory],
    pub plan: &'a Plan,
}

impl Executor for Cores<'_> {
    fn execute(&mut self, index: usize, instr: &Instr) -> Result<OpCost, String> {
        if let Some(b) = gradient_tile(self.prog, instr) {
            let mut acc: Vec<Vec<i32>> = self.mems.iter().map(|m| read_acc(m, &b)).collect();
            reduce(self.plan.reduction, &mut acc);
            for (m, a) in self.mems.iter_mut().zip(&acc) {
                write_acc(m, &b, a);
            }
        }
        let mut first: Option<OpCost> = None;
        for mem in self.mems.iter_mut() {
            let c = Exact {
                arch: self.arch,
                mem,
            }
            .execute(index, instr)?;
            if first.is_some_and(|f| f != c) {
                return Err(format!(
                    "instruction {index}: the cores disagree on its cycles (data-dependent timing)"
                ));
            }
            first = Some(c);
        }
        let c = first.unwrap_or_default();
        Ok(OpCost {
            cycles: c.cycles + self.plan.extra[index],
            bank_stall: c.bank_stall,
        })
    }
}

fn read_acc(m: &Memory, b: &Buf) -> Vec<i32> {
    m.sp(b)
        .chunks_exact(4)
        .map(|x| i32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        .collect()
}

fn write_acc(m: &mut Memory, b: &Buf, acc: &[i32]) {
    for (o, v) in m.sp_mut(b).chunks_exact_mut(4).zip(acc) {
        o.copy_from_slice(&v.to_le_bytes());
    }
}

/// A data-parallel iteration: one core's schedule and statistics (every core runs the same),
/// and what the reduction cost.
#[derive(Debug, Clone)]
pub struct MultiRun {
    pub cores: u64,
    pub schedule: machine::Schedule,
    /// One core's statistics; its cycles are the iteration's.
    pub stats: Stats,
    /// Cycles one core takes for its share without any reduction.
    pub core_cycles: u64,
    pub reduction: ReductionStats,
}

impl MultiRun {
    /// Iteration cycles the reduction added (what it did not hide behind other work).
    pub fn exposed_reduction_cycles(&self) -> u64 {
        self.stats.cycles.saturating_sub(self.core_cycles)
    }
}

/// Simulates a data-parallel iteration of `prog` (one core's part, see [`data_parallel`]) in
/// fast mode.
pub fn simulate_fast(arch: &Arch, prog: &Program) -> Result<MultiRun, String> {
    let plan = Plan::new(arch, prog);
    let alone = machine::run(arch, prog, &mut Fast::new(arch))?;
    let schedule = machine::run(
        arch,
        prog,
        &mut Timed {
            inner: Fast::new(arch),
            extra: &plan.extra,
        },
    )?;
    Ok(finish(arch, prog, schedule, alone.cycles(), &plan))
}

/// Simulates a data-parallel iteration of `prog` in exact mode on the cores' memories `mems`
/// (one per core, each holding that core's samples).
pub fn simulate_exact_on(
    arch: &Arch,
    prog: &Program,
    mems: &mut [Memory],
) -> Result<MultiRun, String> {
    if mems.len() as u64 != arch.multicore.cores {
        return Err(format!(
            "{} memories for {} cores",
            mems.len(),
            arch.multicore.cores
        ));
    }
    let plan = Plan::new(arch, prog);
    let schedule = machine::run(
        arch,
        prog,
        &mut Cores {
            arch,
            prog,
            mems,
            plan: &plan,
        },
    )?;
    // Exact mode takes the timing equations' cycles, so fast mode gives the core alone.
    let alone = machine::run(arch, prog, &mut Fast::new(arch))?;
    Ok(finish(arch, prog, schedule, alone.cycles(), &plan))
}

/// Simulates a data-parallel iteration of `prog` in exact mode with zeroed memories.
pub fn simulate_exact(arch: &Arch, prog: &Program) -> Result<MultiRun, String> {
    let mut mems: Vec<Memory> = (0..arch.multicore.cores)
        .map(|_| Memory::new(arch, prog))
        .collect();
    simulate_exact_on(arch, prog, &mut mems)
}

fn finish(
    arch: &Arch,
    prog: &Program,
    schedule: machine::Schedule,
    core_cycles: u64,
    plan: &Plan,
) -> MultiRun {
    let stats = stats::stats(arch, prog, &schedule);
    MultiRun {
        cores: arch.multicore.cores,
        schedule,
        stats,
        core_cycles,
        reduction: plan.totals,
    }
}
