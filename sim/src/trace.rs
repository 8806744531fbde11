//! Chrome / Perfetto trace of a run: one track per unit, one slice per instruction.

use crate::machine::Schedule;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::{Op, Program, Unit};
use serde_json::{json, Value};

fn op_name(op: &Op) -> String {
    match op {
        Op::Load { .. } => "load".into(),
        Op::Store { .. } => "store".into(),
        Op::Prune { nm, .. } => format!("prune {nm}"),
        Op::Gemm {
            m, k, t, sparsity, ..
        } => match sparsity {
            Some(nm) => format!("gemm {m}×{k}×{t} {nm}"),
            None => format!("gemm {m}×{k}×{t}"),
        },
        Op::Vector { op, .. } => format!("{op:?}")
            .split([' ', '{'])
            .next()
            .unwrap_or("vector")
            .to_lowercase(),
    }
}

/// The trace in the Trace Event Format (`ph: "X"` complete events, microseconds at the
/// description's clock), which ui.perfetto.dev and chrome://tracing open.
pub fn trace(arch: &Arch, prog: &Program, sched: &Schedule) -> Value {
    let us = |c: u64| c as f64 / arch.clock_mhz;
    let mut events: Vec<Value> = Unit::ALL
        .iter()
        .map(|u| {
            json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": u.index(),
                   "args": {"name": format!("{u:?}")}})
        })
        .collect();
    events.push(json!({"name": "process_name", "ph": "M", "pid": 1,
                       "args": {"name": format!("{} on {}", prog.model, prog.arch)}}));
    for (j, ins) in prog.instrs.iter().enumerate() {
        events.push(json!({
            "name": op_name(&ins.op),
            "cat": ins.phase.name(),
            "ph": "X",
            "pid": 1,
            "tid": ins.op.unit().index(),
            "ts": us(sched.start[j]),
            "dur": us(sched.end[j] - sched.start[j]),
            "args": {"layer": prog.layers[ins.layer as usize], "phase": ins.phase.name(), "instr": j,
                     "start_cycle": sched.start[j], "cycles": sched.end[j] - sched.start[j]},
        }));
    }
    json!({"traceEvents": events, "displayTimeUnit": "ns"})
}
