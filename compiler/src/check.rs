//! The program checker: proves that every execution of a program equals its sequential one.
//!
//! It establishes, independently of how the scheduler derived its waits:
//! 1. every scratchpad range lies inside its region and every DRAM range inside DRAM;
//! 2. every wait names instructions that come earlier in program order, so no unit can wait on
//!    work queued behind it (no deadlock);
//! 3. every pair of instructions that touch overlapping bytes, one of them writing, is ordered
//!    by *happens-before* — the order of a unit's own queue plus the waits, transitively — in
//!    program order; hence every read sees its producer and no buffer is overwritten in flight;
//! 4. no instruction reads bytes that nothing wrote (scratchpad) or that are neither written
//!    earlier nor provided by the host (DRAM).
//!
//! Happens-before is tracked with vector clocks: `clock[j][V]` is how many instructions of unit
//! V are known complete when j starts; i happens before j iff `clock[j][unit(i)] > seq(i)`.

use crate::arch::{Arch, RegionId};
use crate::isa::{Op, Program, Unit};
use crate::range_map::RangeMap;

type Clock = [u32; Unit::COUNT];

/// An instruction: its unit, its number in the unit's queue, its index in the program (32
/// bits, so that the shadow state stays small).
type Who = (Unit, u32, u32);

/// The last writer and the latest reader per unit of a byte range.
#[derive(Debug, Clone, Default, PartialEq)]
struct Access {
    writer: Option<Who>,
    readers: [Option<(u32, u32)>; Unit::COUNT],
}

/// Checks `prog` against `arch`; the error names the first offending instruction.
pub fn check(arch: &Arch, prog: &Program) -> Result<(), String> {
    let n = prog.instrs.len();
    if u32::try_from(n).is_err() {
        return Err(format!("{n} instructions: more than the checker indexes"));
    }
    let mut clocks: Vec<Clock> = Vec::with_capacity(n);
    // Program index of every unit's k-th instruction.
    let mut by_unit: [Vec<usize>; Unit::COUNT] = Default::default();
    let mut sp: Vec<RangeMap<Access>> = RegionId::ALL.iter().map(|_| RangeMap::new()).collect();
    let mut dram: RangeMap<Access> = RangeMap::new();
    for t in prog.tensors.iter().filter(|t| t.host_init) {
        dram.update(t.addr, t.addr + t.bytes, |_| Access::default());
    }

    for (j, ins) in prog.instrs.iter().enumerate() {
        let at = |msg: String| format!("instruction {j} ({:?}): {msg}", ins.op.unit());
        let u = ins.op.unit();
        let seq = by_unit[u.index()].len() as u32;
        // Own queue: the previous instruction of this unit has completed.
        let mut clock: Clock = match by_unit[u.index()].last() {
            Some(&p) => clocks[p],
            None => [0; Unit::COUNT],
        };
        clock[u.index()] = seq;
        for &(v, count) in &ins.waits {
            let done = &by_unit[v.index()];
            if count as usize > done.len() {
                return Err(at(format!(
                    "waits for {count} {v:?} instructions but only {} precede it",
                    done.len()
                )));
            }
            if count == 0 {
                continue;
            }
            let p = done[count as usize - 1];
            for (c, pc) in clock.iter_mut().zip(clocks[p]) {
                *c = (*c).max(pc);
            }
            clock[v.index()] = clock[v.index()].max(count);
        }
        let before = |w: Who| w.0 == u || clock[w.0.index()] > w.1;

        // Scratchpad ranges.
        for (buf, write) in ins
            .op
            .sp_reads()
            .iter()
            .map(|b| (b, false))
            .chain(ins.op.sp_writes().iter().map(|b| (b, true)))
        {
            let size = arch.region(buf.region).bytes;
            if buf.end() > size {
                return Err(at(format!(
                    "{} range [{}, {}) exceeds the region's {size} bytes",
                    buf.region.name(),
                    buf.addr,
                    buf.end()
                )));
            }
            let map = &mut sp[buf.region as usize];
            let what = || format!("{} [{}, {})", buf.region.name(), buf.addr, buf.end());
            access(
                map,
                buf.addr,
                buf.end(),
                write,
                (u, seq, j as u32),
                &before,
                &what,
            )
            .map_err(at)?;
        }
        // DRAM ranges.
        if let Op::Load { xfer } | Op::Store { xfer, .. } = &ins.op {
            let (s, e) = xfer.dram_span();
            if e > arch.dram.bytes {
                return Err(at(format!(
                    "DRAM range [{s}, {e}) exceeds the {} bytes of DRAM",
                    arch.dram.bytes
                )));
            }
            let write = matches!(ins.op, Op::Store { .. });
            access(&mut dram, s, e, write, (u, seq, j as u32), &before, &|| {
                format!("DRAM [{s}, {e})")
            })
            .map_err(at)?;
        }
        clocks.push(clock);
        by_unit[u.index()].push(j);
    }
    Ok(())
}

/// Checks one access against the shadow state of `[s, e)` and records it; `what` names the
/// range in an error (formatted only then: this runs for every access of every program).
#[allow(clippy::too_many_arguments)]
fn access(
    map: &mut RangeMap<Access>,
    s: u64,
    e: u64,
    write: bool,
    me: Who,
    before: &dyn Fn(Who) -> bool,
    what: &dyn Fn() -> String,
) -> Result<(), String> {
    let mut err = None;
    if !write && map.has_gap(s, e) {
        return Err(format!("reads {}, which nothing wrote before", what()));
    }
    map.for_each(s, e, |_, _, a| {
        if err.is_some() {
            return;
        }
        if let Some(w) = a.writer {
            if w.2 != me.2 && !before(w) {
                err = Some(format!(
                    "{} {} races with the write by instruction {}",
                    if write { "writes" } else { "reads" },
                    what(),
                    w.2
                ));
            }
        }
        if write {
            for (v, r) in a.readers.iter().enumerate() {
                if let Some((seq, idx)) = *r {
                    if idx != me.2 && !before((Unit::ALL[v], seq, idx)) {
                        err = Some(format!(
                            "writes {} while instruction {idx} may still read it",
                            what()
                        ));
                    }
                }
            }
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let (u, seq, idx) = me;
    map.update(s, e, |old| {
        let mut a = old.cloned().unwrap_or_default();
        if write {
            a = Access {
                writer: Some((u, seq, idx)),
                readers: Default::default(),
            };
        } else {
            a.readers[u.index()] = Some((seq, idx));
        }
        a
    });
    Ok(())
}
