//! Statistics of a run, computed from its schedule and the program alone, so that both modes —
//! which produce the same schedule — report the same numbers.

use crate::machine::{Cause, Resource, Schedule};
use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::isa::{Op, Phase, Program, Unit};
use nmsat_compiler::timing;
use serde::Serialize;

/// Idle cycles of a unit before its instructions, by what they waited for.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stalls {
    /// Waiting on a DMA transfer.
    pub dma: u64,
    /// Waiting on the prune unit.
    pub prune: u64,
    /// Waiting on the array or the vector unit.
    pub dependency: u64,
    /// Waiting for a scratchpad port, plus the cycles GEMMs lost to input bandwidth.
    pub bank_conflict: u64,
}

/// One layer's share of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LayerStats {
    pub name: String,
    /// Busy cycles per unit: DMA, prune, array, vector.
    pub busy: [u64; Unit::COUNT],
    /// First issue and last completion of the layer's instructions.
    pub first: u64,
    pub last: u64,
    pub macs_dense: u64,
    pub macs_effective: u64,
}

/// The DMA transfers of one kind: direction, shape and region.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TransferStats {
    /// `load`, `store` or `store-requant` (INT32 accumulators stored as INT16).
    pub direction: &'static str,
    /// [`nmsat_compiler::isa::XferShape::name`].
    pub shape: &'static str,
    pub region: &'static str,
    pub count: u64,
    /// Cycles the transfers kept their queue busy.
    pub cycles: u64,
    /// DRAM bytes they moved (whole words).
    pub dram_bytes: u64,
}

/// Everything a run reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub cycles: u64,
    pub seconds: f64,
    /// Busy cycles per unit.
    pub busy: [u64; Unit::COUNT],
    /// Busy cycles per unit per phase (FF, BP, WU, prune, update).
    pub phase_busy: [[u64; Unit::COUNT]; 5],
    /// Stalls per unit.
    pub stalls: [Stalls; Unit::COUNT],
    /// Effective MACs over R·C·cycles.
    pub utilization: f64,
    pub macs_dense: u64,
    pub macs_effective: u64,
    pub dram_read: u64,
    pub dram_written: u64,
    /// Achieved DRAM bandwidth, GB/s.
    pub dram_gbps: f64,
    /// Scratchpad bytes read and written per region (weight, input, output).
    pub sp_read: [u64; 3],
    pub sp_written: [u64; 3],
    pub vector_elem_ops: u64,
    pub prune_groups: u64,
    pub energy_pj: f64,
    pub layers: Vec<LayerStats>,
    /// DMA transfers by kind, in the order of their first appearance.
    pub transfers: Vec<TransferStats>,
}

/// Scratchpad bytes an operation reads and writes per region.
///
/// A weight-stationary GEMM reads its weights once, streams its activations once per column
/// block of outputs (⌈m/C⌉) and reads and writes its accumulators once per reduction fold
/// (⌈K'/R⌉; the first fold of a non-accumulating GEMM only writes). Output-stationary swaps the
/// roles: activations stream once per ⌈m/R⌉ row block, weights once per ⌈t/C⌉ column block.
pub fn sp_traffic(arch: &Arch, op: &Op) -> ([u64; 3], [u64; 3]) {
    let (mut r, mut w) = ([0u64; 3], [0u64; 3]);
    match op {
        Op::Load { xfer } => w[xfer.sp.region as usize] += xfer.sp.bytes,
        Op::Store { xfer, .. } => r[xfer.sp.region as usize] += xfer.sp.bytes,
        Op::Prune { src, dst, .. } => {
            r[src.region as usize] += src.bytes;
            w[dst.region as usize] += dst.bytes;
        }
        Op::Vector { srcs, dst, .. } => {
            for s in srcs {
                r[s.region as usize] += s.bytes;
            }
            w[dst.region as usize] += dst.bytes;
        }
        Op::Gemm {
            w: wb,
            x,
            y,
            m,
            k,
            t,
            sparsity,
            accumulate,
        } => {
            let kk = timing::effective_k(*k, *sparsity);
            let (w_reads, x_reads) = match arch.dataflow {
                nmsat_compiler::arch::Dataflow::WeightStationary => (1, m.div_ceil(arch.cols)),
                nmsat_compiler::arch::Dataflow::OutputStationary => {
                    (t.div_ceil(arch.cols), m.div_ceil(arch.rows))
                }
            };
            let folds = kk.div_ceil(arch.rows);
            r[wb.region as usize] += wb.bytes * w_reads;
            r[x.region as usize] += x.bytes * x_reads;
            r[y.region as usize] += y.bytes * (folds - 1 + *accumulate as u64);
            w[y.region as usize] += y.bytes * folds;
        }
    }
    (r, w)
}

/// Computes the statistics of `sched`.
pub fn stats(arch: &Arch, prog: &Program, sched: &Schedule) -> Stats {
    let cycles = sched.cycles();
    let mut st = Stats {
        cycles,
        seconds: cycles as f64 / (arch.clock_mhz * 1e6),
        layers: prog
            .layers
            .iter()
            .map(|n| LayerStats {
                name: n.clone(),
                first: u64::MAX,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut free_at = [0u64; Unit::COUNT];
    let mut mux_selects = 0u64;
    for (j, ins) in prog.instrs.iter().enumerate() {
        let u = ins.op.unit().index();
        let busy = sched.end[j] - sched.start[j];
        st.busy[u] += busy;
        if let Op::Load { xfer } | Op::Store { xfer, .. } = &ins.op {
            let direction = match ins.op {
                Op::Store { requant: true, .. } => "store-requant",
                Op::Store { .. } => "store",
                _ => "load",
            };
            let (shape, region) = (xfer.shape.name(), xfer.sp.region.name());
            let i = match st
                .transfers
                .iter()
                .position(|t| (t.direction, t.shape, t.region) == (direction, shape, region))
            {
                Some(i) => i,
                None => {
                    st.transfers.push(TransferStats {
                        direction,
                        shape,
                        region,
                        ..Default::default()
                    });
                    st.transfers.len() - 1
                }
            };
            let t = &mut st.transfers[i];
            t.count += 1;
            t.cycles += busy;
            t.dram_bytes += timing::dram_bytes(arch, xfer);
        }
        let ph = Phase::ALL
            .iter()
            .position(|&p| p == ins.phase)
            .expect("every phase is listed");
        st.phase_busy[ph][u] += busy;
        let idle = sched.start[j] - free_at[u];
        let stalls = &mut st.stalls[u];
        match sched.cause[j] {
            Cause::None => {}
            Cause::Wait(Unit::Load | Unit::Store) | Cause::Port(Resource::Dram) => {
                stalls.dma += idle
            }
            Cause::Wait(Unit::Prune) => stalls.prune += idle,
            Cause::Wait(_) => stalls.dependency += idle,
            Cause::Port(Resource::Region(_) | Resource::WritePort(_)) => {
                stalls.bank_conflict += idle
            }
        }
        stalls.bank_conflict += sched.bank_stall[j];
        free_at[u] = sched.end[j];
        let layer = &mut st.layers[ins.layer as usize];
        layer.busy[u] += busy;
        layer.first = layer.first.min(sched.start[j]);
        layer.last = layer.last.max(sched.end[j]);
        let (r, w) = sp_traffic(arch, &ins.op);
        for i in 0..3 {
            st.sp_read[i] += r[i];
            st.sp_written[i] += w[i];
        }
        match &ins.op {
            Op::Load { xfer } => st.dram_read += timing::dram_bytes(arch, xfer),
            Op::Store { xfer, .. } => st.dram_written += timing::dram_bytes(arch, xfer),
            Op::Gemm {
                m, k, t, sparsity, ..
            } => {
                let eff = m * timing::effective_k(*k, *sparsity) * t;
                st.macs_dense += m * k * t;
                st.macs_effective += eff;
                layer.macs_dense += m * k * t;
                layer.macs_effective += eff;
                if sparsity.is_some() {
                    mux_selects += eff;
                }
            }
            Op::Vector { op, elems, .. } => {
                st.vector_elem_ops += elems * timing::vector_ops_per_elem(*op)
            }
            Op::Prune { rows, k, nm, .. } => st.prune_groups += rows * k.div_ceil(nm.m),
        }
    }
    for l in &mut st.layers {
        if l.first == u64::MAX {
            l.first = 0;
        }
    }
    st.utilization = st.macs_effective as f64 / (arch.rows * arch.cols * cycles.max(1)) as f64;
    st.dram_gbps = (st.dram_read + st.dram_written) as f64 / st.seconds.max(1e-12) / 1e9;
    let e = &arch.energy;
    let sram: u64 = st.sp_read.iter().chain(st.sp_written.iter()).sum();
    st.energy_pj = st.macs_effective as f64 * e.mac
        + mux_selects as f64 * e.mux
        + sram as f64 * e.sram_byte
        + (st.dram_read + st.dram_written) as f64 * e.dram_byte
        + st.vector_elem_ops as f64 * e.vector_op
        + st.prune_groups as f64 * e.prune_group
        // mW × s = mJ = 1e9 pJ.
        + e.static_mw * st.seconds * 1e9;
    st
}

/// Names of the regions in statistics order.
pub fn region_names() -> [&'static str; 3] {
    RegionId::ALL.map(|r| r.name())
}
