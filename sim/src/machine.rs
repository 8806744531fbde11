//! The issue model both modes share: four in-order unit queues, waits on completion counts,
//! and scratchpad ports claimed for a whole operation.
//!
//! An instruction of unit U issues at the first cycle τ at which
//! 1. U's previous instruction has completed (it occupied `[start, end)` with `end ≤ τ`);
//! 2. every wait `(V, c)` holds: the c-th instruction of V has completed by τ;
//! 3. every scratchpad region it touches has a free port at τ (an operation holds one port of
//!    each region it touches from issue to completion; of a physically banked region, a read
//!    copy of each region it reads and the one write port of each region it writes).
//!
//! Units that can issue in the same cycle do so in the fixed order DMA, prune, array, vector,
//! each claiming its ports before the next looks. An [`Executor`] supplies each operation's
//! duration: fast mode from the timing equations, exact mode by executing it cycle by cycle.
//! Everything else — and so the whole schedule — is this one piece of code.

use nmsat_compiler::arch::{Arch, Banking, RegionId};
use nmsat_compiler::isa::{Buf, Instr, Op, Program, Unit};
use serde::Serialize;

/// What executing one operation cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpCost {
    /// Cycles the unit is busy.
    pub cycles: u64,
    /// Of those, cycles lost to scratchpad bandwidth (bank conflicts).
    pub bank_stall: u64,
}

/// Runs one operation when it issues.
pub trait Executor {
    /// Executes instruction `index` and returns its cost.
    fn execute(&mut self, index: usize, instr: &Instr) -> Result<OpCost, String>;
}

/// Why an instruction started later than its unit became free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Cause {
    /// It started as soon as its unit was free.
    None,
    /// It waited for an instruction of this unit.
    Wait(Unit),
    /// It waited for a port of a scratchpad region, or for the DRAM.
    Port(Resource),
}

/// What an operation holds from issue to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Resource {
    /// One port of a scratchpad region.
    Region(RegionId),
    /// The DRAM, which serves one transfer at a time.
    Dram,
    /// The write port of a physically banked region ([`Banking::Physical`]), which one
    /// operation holds at a time; its ports are then its read copies.
    WritePort(RegionId),
}

/// Resources there are: [`Resource::index`] numbers them `0 .. RESOURCE_COUNT`.
pub const RESOURCE_COUNT: usize = 7;

impl Resource {
    /// Its number: the regions' ports 0–2 (weight, input, output), the DRAM 3, the regions'
    /// write ports 4–6. The RTL controller numbers its resources the same way.
    pub fn index(self) -> usize {
        match self {
            Resource::Region(r) => r as usize,
            Resource::Dram => 3,
            Resource::WritePort(r) => 4 + r as usize,
        }
    }
}

/// How many operations can hold each resource at once, by [`Resource::index`].
pub fn resource_ports(arch: &Arch) -> [u64; RESOURCE_COUNT] {
    [
        arch.weight.ports,
        arch.input.ports,
        arch.output.ports,
        1,
        1,
        1,
        1,
    ]
}

/// When every instruction ran, and why it waited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub start: Vec<u64>,
    pub end: Vec<u64>,
    pub cause: Vec<Cause>,
    pub bank_stall: Vec<u64>,
}

impl Schedule {
    /// Cycle at which the last instruction completes.
    pub fn cycles(&self) -> u64 {
        self.end.iter().copied().max().unwrap_or(0)
    }
}

/// Resources an instruction holds from issue to completion, sorted, each once.
pub fn resources(arch: &Arch, instr: &Instr) -> Vec<Resource> {
    let physical = |b: &Buf| arch.region(b.region).banking == Banking::Physical;
    let writes = instr.op.sp_writes();
    let mut reads = instr.op.sp_reads();
    // The array's output buffer on physical banks reads every slot of y on a read copy (a
    // read-modify-write, also in the reduction fold that overwrites: `hw::PhysicalArrayUnit`),
    // so a GEMM holds one whether or not it accumulates.
    if let Op::Gemm { y, .. } = &instr.op {
        if physical(y) {
            reads.push(*y);
        }
    }
    let mut r: Vec<Resource> = reads
        .iter()
        .chain(writes.iter().filter(|b| !physical(b)))
        .map(|b| Resource::Region(b.region))
        .chain(
            writes
                .iter()
                .filter(|b| physical(b))
                .map(|b| Resource::WritePort(b.region)),
        )
        .collect();
    if matches!(instr.op.unit(), Unit::Load | Unit::Store) {
        r.push(Resource::Dram);
    }
    r.sort();
    r.dedup();
    r
}

/// Issues every instruction of `prog` under the rules above.
pub fn run(arch: &Arch, prog: &Program, exec: &mut dyn Executor) -> Result<Schedule, String> {
    let n = prog.instrs.len();
    let mut by_unit: [Vec<usize>; Unit::COUNT] = Default::default();
    for (i, ins) in prog.instrs.iter().enumerate() {
        by_unit[ins.op.unit().index()].push(i);
    }
    let mut s = Schedule {
        start: vec![0; n],
        end: vec![u64::MAX; n],
        cause: vec![Cause::None; n],
        bank_stall: vec![0; n],
    };
    let mut head = [0usize; Unit::COUNT];
    let mut free_at = [0u64; Unit::COUNT];
    // Earliest retry of a unit's head after a port refusal.
    let mut port_retry: [Option<(u64, Resource)>; Unit::COUNT] = [None; Unit::COUNT];
    // Completion times of the operations holding each region's ports.
    let mut holders: [Vec<u64>; RESOURCE_COUNT] = Default::default();
    let ports = resource_ports(arch).map(|p| p as usize);
    let mut now = 0u64;
    let mut issued = 0;
    while issued < n {
        // When each unit's head could issue, ignoring ports; None while a wait's target has
        // not issued yet (its completion time is unknown).
        let ready: [Option<(u64, Cause)>; Unit::COUNT] = std::array::from_fn(|u| {
            let &j = by_unit[u].get(head[u])?;
            let mut t = (free_at[u], Cause::None);
            for &(v, c) in &prog.instrs[j].waits {
                if c == 0 {
                    continue;
                }
                let target = by_unit[v.index()][c as usize - 1];
                let e = s.end[target];
                if e == u64::MAX {
                    return None;
                }
                if e > t.0 {
                    t = (e, Cause::Wait(v));
                }
            }
            if let Some((r, region)) = port_retry[u] {
                if r > t.0 {
                    t = (r, Cause::Port(region));
                }
            }
            Some(t)
        });
        let next = ready.iter().flatten().map(|(t, _)| *t).min().ok_or_else(|| {
            format!("deadlock at cycle {now}: every unit waits for an instruction that has not issued")
        })?;
        now = now.max(next);
        for u in 0..Unit::COUNT {
            let Some((t, cause)) = ready[u] else { continue };
            if t > now {
                continue;
            }
            let j = by_unit[u][head[u]];
            let need = resources(arch, &prog.instrs[j]);
            let blocked = need.iter().find_map(|&r| {
                let h = &mut holders[r.index()];
                h.retain(|&e| e > now);
                (h.len() >= ports[r.index()])
                    .then(|| (*h.iter().min().expect("full means non-empty"), r))
            });
            if let Some((retry, r)) = blocked {
                port_retry[u] = Some((retry, r));
                continue;
            }
            let mut cost = exec.execute(j, &prog.instrs[j])?;
            // Every operation occupies its unit for at least one cycle, so a completion is
            // never visible in the cycle it issued.
            cost.cycles = cost.cycles.max(1);
            s.start[j] = now;
            s.end[j] = now + cost.cycles;
            s.cause[j] = if now > free_at[u] { cause } else { Cause::None };
            s.bank_stall[j] = cost.bank_stall;
            for &r in &need {
                holders[r.index()].push(s.end[j]);
            }
            free_at[u] = s.end[j];
            port_retry[u] = None;
            head[u] += 1;
            issued += 1;
        }
    }
    Ok(s)
}
