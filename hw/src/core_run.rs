//! Runs a program on the Verilated [`Core`] and compares it with the exact simulator.
//!
//! The harness plays what surrounds the core: the instruction ROM (each queue's `pc` selects
//! the fields it sees in the same cycle) and the DRAM behind the DMA port, which answers
//! every word request `dram.latency` cycles later (a write takes effect when requested; the
//! DMA engine serves one transfer at a time, so no read can see it early).
//!
//! Every cycle: apply the instruction fields for the current `pc`s and the DRAM answers due,
//! settle, read the issues, completions and the DRAM request, then clock.

use crate::array_unit::GEMM_FIELDS;
use crate::controller::UNITS;
use crate::core::{core_for, CORE_TOP};
use crate::cosim::{top_ports, BuildOptions, Design, Model};
use crate::encode::{encode, Queues, SrSteFields, VectorOp};
use crate::gather_map::GATHER_FIELDS;
use crate::scratchpad::GROUP_PORTS;
use crate::verilog::to_verilog;
use crate::HwError;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::{Program, Unit};
use nmsat_sim::exact::Memory;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the RTL did with a program.
#[derive(Clone, Debug)]
pub struct RtlRun {
    /// Issue cycle of every instruction (program order).
    pub start: Vec<u64>,
    /// First cycle after its completion.
    pub end: Vec<u64>,
    /// The DRAM afterwards.
    pub dram: Vec<u8>,
    /// Cycles until the last completion.
    pub cycles: u64,
    /// Host time of the simulation loop.
    pub elapsed: Duration,
}

/// Builds (or loads from the cache) the Verilated core of `arch`.
pub fn build_core(arch: &Arch, opts: &BuildOptions) -> Result<Arc<Design>, HwError> {
    let core = core_for(arch)?;
    let verilog = to_verilog(core.as_ref(), CORE_TOP)?;
    let ports = top_ports(core.as_ref())?;
    Ok(Design::build(&verilog, CORE_TOP, &ports, opts)?.0)
}

/// The prune unit's scalar fields on the instruction port, in [`crate::PruneOp`] order.
const PRUNE_FIELDS: [&str; 16] = [
    "p_n",
    "p_m",
    "p_ib",
    "p_gb",
    "p_total",
    "p_per_row",
    "p_last_v",
    "p_qk",
    "p_rem",
    "p_remm",
    "p_pad",
    "p_dstep",
    "p_src_region",
    "p_src",
    "p_dst_region",
    "p_dst",
];

/// The vector unit's fields on the instruction port, in [`vector_fields`] order.
pub const VECTOR_FIELDS: [&str; 31] = [
    "v_op",
    "v_src0_region",
    "v_src0",
    "v_src1_region",
    "v_src1",
    "v_two",
    "v_src2_region",
    "v_src2",
    "v_dst_region",
    "v_dst",
    "v_elems",
    "v_lr",
    "v_mu",
    "v_lambda",
    "v_srste",
    "v_n",
    "v_m",
    "v_classes",
    "v_batch",
    "v_taps",
    "v_total",
    "v_recip",
    "v_pbase",
    "v_pstep",
    "v_prow",
    "v_kb",
    "v_src3_region",
    "v_src3",
    "v_width",
    "v_trows",
    "v_rows",
];

/// The values of [`VECTOR_FIELDS`] for `v` (Q16.16 constants as their 32-bit patterns).
pub fn vector_fields(v: &VectorOp) -> [i64; VECTOR_FIELDS.len()] {
    let (r1, a1) = v.src1.unwrap_or((0, 0));
    let (r2, a2) = v.src2.unwrap_or((0, 0));
    let s = v.srste.unwrap_or(SrSteFields { n: 0, m: 0 });
    let p = v.pool.unwrap_or_default();
    [
        v.op.into(),
        v.src0.0.into(),
        v.src0.1.into(),
        r1.into(),
        a1.into(),
        v.src1.is_some().into(),
        r2.into(),
        a2.into(),
        v.dst.0.into(),
        v.dst.1.into(),
        v.elems.into(),
        (v.lr as u32).into(),
        (v.mu as u32).into(),
        (v.lambda as u32).into(),
        v.srste.is_some().into(),
        s.n.into(),
        s.m.into(),
        v.classes.into(),
        v.batch.into(),
        p.taps.into(),
        p.total.into(),
        p.recip.into(),
        p.base.into(),
        p.step.into(),
        p.row.into(),
        p.kb.into(),
        v.src3.unwrap_or((0, 0)).0.into(),
        v.src3.unwrap_or((0, 0)).1.into(),
        v.width.into(),
        v.trows.into(),
        v.rows.into(),
    ]
}

/// Port indices of the core's model.
struct Ports {
    valid: [usize; UNITS],
    res: [usize; UNITS],
    wait: [[usize; UNITS]; UNITS],
    ld: [usize; 13],
    ld_gf: [usize; GATHER_FIELDS],
    st: [usize; 14],
    vec: [usize; VECTOR_FIELDS.len()],
    prune: Vec<usize>,
    gemm: Vec<usize>,
    pc: [usize; UNITS],
    issue: [usize; UNITS],
    done: [usize; UNITS],
    mem_in: [usize; 2],
    mem_out: [usize; 5],
    /// `mem_last`, `mem_rsp_addr`, `fault`.
    checks: [usize; 3],
}

impl Ports {
    fn of(m: &Model) -> Result<Ports, HwError> {
        let i = |n: &str| m.input(n);
        let o = |n: &str| m.output(n);
        let each =
            |f: &dyn Fn(usize) -> Result<usize, HwError>| -> Result<[usize; UNITS], HwError> {
                let v: Vec<usize> = (0..UNITS).map(f).collect::<Result<_, _>>()?;
                Ok(v.try_into().expect("UNITS entries"))
            };
        let queue = ["load", "store", "prune", "array", "vector"];
        let xfer = |p: &str, n: usize| -> Result<Vec<usize>, HwError> {
            [
                "dram_addr",
                "rows",
                "row_bytes",
                "stride",
                "region",
                "sp_addr",
                "transpose",
                "grid_w",
                "grid_h",
                "grid_x0",
                "grid_y0",
                "row_jump",
                "img_jump",
                "requant",
            ][..n]
                .iter()
                .map(|f| i(&format!("{p}_{f}")))
                .collect()
        };
        Ok(Ports {
            valid: each(&|u| i(&format!("valid${u}")))?,
            res: each(&|u| i(&format!("res${u}")))?,
            wait: {
                let rows: Vec<[usize; UNITS]> = queue
                    .iter()
                    .map(|q| each(&|v| i(&format!("wait_{q}${v}"))))
                    .collect::<Result<_, _>>()?;
                rows.try_into().expect("UNITS queues")
            },
            vec: VECTOR_FIELDS
                .map(&i)
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?
                .try_into()
                .expect("one port a field"),
            prune: PRUNE_FIELDS
                .iter()
                .map(|f| f.to_string())
                .chain((0..GROUP_PORTS).flat_map(|j| {
                    ["p_init_c", "p_init_elem", "p_init_dst"].map(|f| format!("{f}${j}"))
                }))
                .map(|f| i(&f))
                .collect::<Result<_, _>>()?,
            gemm: (0..GEMM_FIELDS)
                .map(|f| i(&format!("g${f}")))
                .collect::<Result<_, _>>()?,
            ld: xfer("ld", 13)?.try_into().expect("13 fields"),
            ld_gf: (0..GATHER_FIELDS)
                .map(|j| i(&format!("ld_gf${j}")))
                .collect::<Result<Vec<_>, _>>()?
                .try_into()
                .expect("one port a field"),
            st: xfer("st", 14)?.try_into().expect("14 fields"),
            pc: each(&|u| o(&format!("pc${u}")))?,
            issue: each(&|u| o(&format!("issue${u}")))?,
            done: each(&|u| o(&format!("done${u}")))?,
            mem_in: [i("mem_rvalid")?, i("mem_rdata")?],
            mem_out: [
                o("mem_valid")?,
                o("mem_write")?,
                o("mem_addr")?,
                o("mem_wdata")?,
                o("mem_wmask")?,
            ],
            checks: [o("mem_last")?, o("mem_rsp_addr")?, o("fault")?],
        })
    }
}

/// Runs `prog` on a fresh instance of `design` (built by [`build_core`] for `arch`) with
/// `dram` as the initial DRAM, optionally writing a VCD.
pub fn run_core(
    design: &Arc<Design>,
    arch: &Arch,
    prog: &Program,
    dram: Vec<u8>,
    vcd: Option<&Path>,
) -> Result<RtlRun, HwError> {
    let queues = encode(arch, prog)?;
    let mut m = design.instantiate();
    if let Some(path) = vcd {
        m.trace(path)?;
    }
    let p = Ports::of(&m)?;
    let n = prog.instrs.len();
    let mut run = RtlRun {
        start: vec![u64::MAX; n],
        end: vec![u64::MAX; n],
        dram,
        cycles: 0,
        elapsed: Duration::ZERO,
    };
    let began = Instant::now();
    let latency = arch.dram.latency;
    // Word requests not yet answered: (answer cycle, word address, is a write).
    let mut pending: VecDeque<(u64, u64, bool)> = VecDeque::new();
    let mut in_flight: [Option<usize>; UNITS] = [None; UNITS];
    let mut finished = 0;
    let mut lasts = 0;
    // No instruction takes longer than a full DRAM sweep; a stall beyond that is a deadlock.
    let patience = 1_000 + 4 * run.dram.len() as u64 + 64 * latency;
    let mut last_event = 0;
    let mut cycle = 0u64;
    // Units whose `done` comes in their first free cycle end there, not a cycle later.
    let free_at_done = crate::core_physical::free_at_done(arch)?;
    // The first instructions are on the ports before the first evaluation: Verilator settles
    // that one to a fixed point through the design's combinational cycles, where a later
    // change of an input is evaluated in a single ordered pass (with 5.006, an instruction
    // issued in cycle 0 could reach the vector unit's pipeline tail stale).
    apply_instructions(&mut m, &p, &queues, &[0; UNITS]);
    m.eval();
    while finished < n {
        if cycle - last_event > patience {
            return Err(HwError::Cosim(format!(
                "the RTL core made no progress for {patience} cycles at cycle {cycle} \
                 ({finished} of {n} instructions completed)"
            )));
        }
        let pcs: [usize; UNITS] = std::array::from_fn(|u| m.get(p.pc[u]) as usize);
        apply_instructions(&mut m, &p, &queues, &pcs);
        let answer = pending.front().filter(|a| a.0 == cycle).copied();
        if answer.is_some() {
            pending.pop_front();
        }
        m.set(p.mem_in[0], answer.is_some() as i64);
        let data = match answer {
            Some((_, a, false)) => word(&run.dram, a)?,
            _ => 0,
        };
        m.set(p.mem_in[1], data as i64);
        m.eval();
        if let Some((_, a, _)) = answer {
            let expected = m.get(p.checks[1]) as u64;
            if expected != a {
                return Err(HwError::Cosim(format!(
                    "cycle {cycle}: the DMA engine takes the answer for word {a:#x} as word \
                     {expected:#x}"
                )));
            }
        }
        if m.get(p.checks[2]) == 1 {
            return Err(HwError::Cosim(format!(
                "cycle {cycle}: the DMA engine got an answer it had not asked for, or (on \
                 physical banks) a unit found no free read copy of a region"
            )));
        }
        for u in 0..UNITS {
            if m.get(p.done[u]) == 1 {
                let j = in_flight[u].take().ok_or_else(|| {
                    HwError::Cosim(format!(
                        "cycle {cycle}: the {:?} unit completed with nothing in flight",
                        Unit::ALL[u]
                    ))
                })?;
                run.end[j] = cycle + u64::from(!free_at_done[u]);
                finished += 1;
                last_event = cycle;
            }
            if m.get(p.issue[u]) == 1 {
                let j = queues.0[u].get(pcs[u]).map(|q| q.index).ok_or_else(|| {
                    HwError::Cosim(format!(
                        "cycle {cycle}: the {:?} queue issued past its end",
                        Unit::ALL[u]
                    ))
                })?;
                run.start[j] = cycle;
                in_flight[u] = Some(j);
                last_event = cycle;
            }
        }
        if m.get(p.mem_out[0]) == 1 {
            lasts += m.get(p.checks[0]) as usize;
            let a = m.get(p.mem_out[2]) as u64;
            let write = m.get(p.mem_out[1]) == 1;
            if write {
                let (d, mask) = (m.get(p.mem_out[3]) as u64, m.get(p.mem_out[4]) as u64);
                let bytes = run
                    .dram
                    .get_mut(a as usize..a as usize + 8)
                    .ok_or_else(|| out_of_dram(a, cycle))?;
                for (j, b) in bytes.iter_mut().enumerate() {
                    if mask >> j & 1 == 1 {
                        *b = (d >> (8 * j)) as u8;
                    }
                }
            }
            pending.push_back((cycle + latency, a, write));
        }
        m.step(1);
        cycle += 1;
    }
    let transfers = queues.0[Unit::Load.index()].len() + queues.0[Unit::Store.index()].len();
    if lasts != transfers {
        return Err(HwError::Cosim(format!(
            "{transfers} transfers marked {lasts} requests as their last word"
        )));
    }
    run.cycles = run.end.iter().copied().max().unwrap_or(0);
    run.elapsed = began.elapsed();
    Ok(run)
}

fn out_of_dram(a: u64, cycle: u64) -> HwError {
    HwError::Cosim(format!(
        "cycle {cycle}: the core requested DRAM word {a:#x}, beyond the program's memory"
    ))
}

fn word(dram: &[u8], a: u64) -> Result<u64, HwError> {
    let bytes = dram
        .get(a as usize..a as usize + 8)
        .ok_or_else(|| out_of_dram(a, 0))?;
    Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
}

/// Drives every queue's fields for the instruction at its `pc` (or `valid = 0` at its end).
fn apply_instructions(m: &mut Model, p: &Ports, q: &Queues, pcs: &[usize; UNITS]) {
    for (u, &pc) in pcs.iter().enumerate() {
        let ins = q.0[u].get(pc);
        m.set(p.valid[u], ins.is_some() as i64);
        m.set(p.res[u], ins.map_or(0, |i| i.res as i64));
        for v in 0..UNITS {
            m.set(p.wait[u][v], ins.map_or(0, |i| i.waits[v] as i64));
        }
        if let Some(q) = ins.and_then(|i| i.prune) {
            let mut fields: Vec<i64> = [
                q.n.into(),
                q.m.into(),
                q.ib.into(),
                q.gb.into(),
                q.total.into(),
                q.per_row.into(),
                q.last_v.into(),
                q.qk.into(),
                q.rem.into(),
                q.remm.into(),
                q.pad.into(),
                q.dstep.into(),
                q.src.0.into(),
                q.src.1.into(),
                q.dst.0.into(),
                q.dst.1.into(),
            ]
            .to_vec();
            for j in 0..GROUP_PORTS {
                fields.extend([q.init_c[j], q.init_elem[j], q.init_dst[j]].map(i64::from));
            }
            for (&port, &value) in p.prune.iter().zip(&fields) {
                m.set(port, value);
            }
        }
        if let Some(g) = ins.and_then(|i| i.gemm) {
            for (&port, &value) in p.gemm.iter().zip(&g.0) {
                m.set(port, value.into());
            }
        }
        if let Some(v) = ins.and_then(|i| i.vector) {
            for (&port, &value) in p.vec.iter().zip(&vector_fields(&v)) {
                m.set(port, value);
            }
        }
        let Some(t) = ins.and_then(|i| i.transfer) else {
            continue;
        };
        let fields = [
            t.dram_addr as i64,
            t.rows as i64,
            t.row_bytes as i64,
            t.stride as i64,
            t.region as i64,
            t.sp_addr as i64,
            t.transpose as i64,
            t.grid.w as i64,
            t.grid.h as i64,
            t.grid.x0 as i64,
            t.grid.y0 as i64,
            t.grid.row_jump as i64,
            t.grid.img_jump as i64,
            t.requant as i64,
        ];
        let ports: &[usize] = if u == Unit::Load.index() {
            &p.ld
        } else {
            &p.st
        };
        for (&port, &v) in ports.iter().zip(&fields) {
            m.set(port, v);
        }
        if u == Unit::Load.index() {
            for (&port, &v) in p.ld_gf.iter().zip(&t.gather) {
                m.set(port, i64::from(v));
            }
        }
    }
}

/// The first way an RTL run differs from the exact simulator's, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// An instruction started or ended in another cycle.
    Timing {
        /// The earliest cycle at which the two runs disagree.
        cycle: u64,
        /// The instruction.
        index: usize,
        /// Its unit.
        unit: Unit,
        /// (start, end) on the RTL.
        rtl: (u64, u64),
        /// (start, end) in the exact simulator.
        exact: (u64, u64),
    },
    /// A DRAM word differs afterwards.
    Data {
        /// Byte address of the word.
        addr: u64,
        /// The tensor it belongs to.
        tensor: String,
        /// The word on the RTL.
        rtl: u64,
        /// The word in the exact simulator.
        exact: u64,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Timing {
                cycle,
                index,
                unit,
                rtl,
                exact,
            } => write!(
                f,
                "cycle {cycle}: {unit:?} instruction {index} ran [{}, {}) on the RTL but [{}, {}) \
                 in the exact simulator",
                rtl.0, rtl.1, exact.0, exact.1
            ),
            Mismatch::Data {
                addr,
                tensor,
                rtl,
                exact,
            } => write!(
                f,
                "DRAM word {addr:#x} (tensor `{tensor}`): RTL {rtl:#018x}, exact {exact:#018x}"
            ),
        }
    }
}

/// Compares an RTL run with the exact simulator's schedule and DRAM.
pub fn first_mismatch(
    prog: &Program,
    rtl: &RtlRun,
    start: &[u64],
    end: &[u64],
    dram: &[u8],
) -> Option<Mismatch> {
    let timing = (0..prog.instrs.len())
        .filter(|&j| (rtl.start[j], rtl.end[j]) != (start[j], end[j]))
        .map(|j| {
            let cycle = if rtl.start[j] != start[j] {
                rtl.start[j].min(start[j])
            } else {
                rtl.end[j].min(end[j])
            };
            (cycle, j)
        })
        .min();
    if let Some((cycle, index)) = timing {
        return Some(Mismatch::Timing {
            cycle,
            index,
            unit: prog.instrs[index].op.unit(),
            rtl: (rtl.start[index], rtl.end[index]),
            exact: (start[index], end[index]),
        });
    }
    let words = rtl.dram.len().min(dram.len()) / 8;
    let w = (0..words).find(|&w| rtl.dram[8 * w..8 * w + 8] != dram[8 * w..8 * w + 8])?;
    let addr = 8 * w as u64;
    let tensor = prog
        .tensors
        .iter()
        .find(|t| (t.addr..t.addr + t.bytes).contains(&addr))
        .map_or_else(|| "(none)".to_string(), |t| t.name.clone());
    let read = |d: &[u8]| u64::from_le_bytes(d[8 * w..8 * w + 8].try_into().expect("8 bytes"));
    Some(Mismatch::Data {
        addr,
        tensor,
        rtl: read(&rtl.dram),
        exact: read(dram),
    })
}

/// One program run on the RTL and in the exact simulator.
#[derive(Clone, Debug)]
pub struct Cosim {
    /// The RTL's run.
    pub rtl: RtlRun,
    /// Cycles in the exact simulator.
    pub exact_cycles: u64,
    /// Host time of the exact simulation.
    pub exact_elapsed: Duration,
    /// DRAM words compared.
    pub words: usize,
    /// The first difference, if any.
    pub mismatch: Option<Mismatch>,
}

/// Runs `prog` on the RTL core `design` of `arch` and in the exact simulator, from the same
/// DRAM: zero, with every host-provided tensor filled with bytes drawn from `seed`.
pub fn cosim_program(
    design: &Arc<Design>,
    arch: &Arch,
    prog: &Program,
    seed: u64,
    vcd: Option<&Path>,
) -> Result<Cosim, HwError> {
    let mut mem = Memory::new(arch, prog);
    let mut state = seed;
    for t in prog.tensors.iter().filter(|t| t.host_init) {
        for b in &mut mem.dram[t.addr as usize..(t.addr + t.bytes) as usize] {
            // SplitMix64's increment and output mix: any fixed byte stream would do.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let z = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            *b = ((z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb) >> 56) as u8;
        }
    }
    let init = mem.dram.clone();
    let began = Instant::now();
    let exact = nmsat_sim::simulate_exact_on(arch, prog, &mut mem).map_err(HwError::Cosim)?;
    let exact_elapsed = began.elapsed();
    let rtl = run_core(design, arch, prog, init, vcd)?;
    let s = &exact.schedule;
    let mismatch = first_mismatch(prog, &rtl, &s.start, &s.end, &mem.dram);
    Ok(Cosim {
        words: mem.dram.len() / 8,
        exact_cycles: s.cycles(),
        exact_elapsed,
        mismatch,
        rtl,
    })
}
