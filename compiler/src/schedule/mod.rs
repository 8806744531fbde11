//! The offline scheduler: tiles every step of the training graph, interleaves independent
//! GEMMs, assigns double-buffered scratchpad tiles and emits one static [`Program`].
//!
//! Passes, one per file: [`choose_tiles`] → `lower_to_isa` (tile steps) → [`interleave`] →
//! `assign_buffers` (buffers and waits, while emitting).

mod assign_buffers;
pub mod choose_tiles;
pub mod interleave;
mod lower_to_isa;

use crate::arch::{Arch, RegionId};
use crate::diag::Diagnostic;
use crate::graph::{expand, StepKind, TensorDef, TrainOptions, TrainingGraph};
use crate::isa::{Phase, Program, Tensor};
use crate::model::Model;
use choose_tiles::choose_tiles;
use interleave::Window;
use lower_to_isa::{
    gemm_micros, prune_micros, vector_chunk, vector_micros, Emitter, GemmPlacement, Micro, Placed,
    Slots,
};
use serde::Serialize;

/// What one compilation produced besides the program.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub gemms: u64,
    /// Dense and effective (N:M) MACs per phase: FF, BP, WU.
    pub macs_dense: [u64; 3],
    pub macs_effective: [u64; 3],
    /// Highest byte used in each scratchpad region.
    pub scratchpad_peak: [u64; 3],
    pub dram_bytes: u64,
}

/// A compiled training iteration.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub program: Program,
    pub graph: TrainingGraph,
    pub summary: Summary,
}

/// DRAM tensors start on this boundary (a DDR burst).
const DRAM_ALIGN: u64 = 64;

fn host_provided(t: &TensorDef) -> bool {
    t.name == "input"
        || t.name == "labels"
        || [".w", ".v", ".x", ".dy_in"]
            .iter()
            .any(|s| t.name.ends_with(s))
}

/// Compiles one training iteration of `model` for `arch`.
pub fn compile(arch: &Arch, model: &Model, opts: &TrainOptions) -> Result<Compiled, Diagnostic> {
    if opts.recipe != crate::graph::Recipe::Dense {
        arch.supports(opts.nm).map_err(|e| {
            arch.source.error(
                "sparsity.patterns",
                e,
                arch.patterns
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    }
    if opts.batch == 0 {
        return Err(Diagnostic {
            file: "command line".into(),
            line: None,
            field: "batch".into(),
            message: "the batch must be at least 1".into(),
            allowed: Some("an integer ≥ 1".into()),
        });
    }
    let graph = expand(model, opts, arch.opt.pregenerate);

    // DRAM memory map.
    let mut tensors = Vec::with_capacity(graph.tensors.len());
    let mut next = 0;
    for t in &graph.tensors {
        tensors.push(Tensor {
            name: t.name.clone(),
            addr: next,
            bytes: t.bytes,
            host_init: host_provided(t),
        });
        next = (next + t.bytes).div_ceil(DRAM_ALIGN) * DRAM_ALIGN;
    }
    if next > arch.dram.bytes {
        return Err(arch.source.error(
            "dram.bytes",
            format!(
                "one iteration of `{}` at batch {} needs {next} bytes of DRAM",
                model.name, opts.batch
            ),
            format!("≥ {next}, or a smaller batch"),
        ));
    }
    let addr = |id: usize| tensors[id].addr;
    let size = |id: usize| tensors[id].bytes;

    let mut emitter = Emitter::new(arch);
    let mut slots = Slots::default();
    let mut summary = Summary {
        gemms: 0,
        macs_dense: [0; 3],
        macs_effective: [0; 3],
        scratchpad_peak: [0; 3],
        dram_bytes: next,
    };
    let slots_per_region = if arch.opt.double_buffer { 2 } else { 1 };
    // Steps in flight share the scratchpads. With interleaving, the window holds two GEMMs
    // with a third of each region each, and three vector steps (input and output regions) and
    // three prune steps (weight region) with a ninth each; a step keeps at most
    // `slots_per_region` tiles of its budget live. Whole bank words, so that aligned tiles
    // still fit side by side.
    let window = if arch.opt.interleave {
        Window::INTERLEAVED
    } else {
        Window::SERIAL
    };
    let (gemm_share, other_share) = if arch.opt.interleave { (3, 9) } else { (1, 1) };
    let budget_of =
        |share: u64| RegionId::ALL.map(|r| arch.region(r).bytes / slots_per_region / share / 8 * 8);
    let members = &graph.steps[..];
    let mut lists: Vec<(Vec<Vec<Micro>>, u64, usize, Phase)> = Vec::new();
    for step in members {
        let (micros, est) = match &step.kind {
            StepKind::Gemm(g) => {
                let (budget, sharing) = (budget_of(gemm_share), gemm_share);
                let ph = match step.phase {
                    Phase::Ff => 0,
                    Phase::Bp => 1,
                    _ => 2,
                };
                summary.gemms += 1;
                summary.macs_dense[ph] += g.dense_macs();
                summary.macs_effective[ph] += g.effective_macs();
                let place = |(base, bytes): (u64, u64), rows, cols| Placed {
                    base,
                    tensor_bytes: bytes,
                    rows,
                    cols,
                    slice: 0,
                };
                let at = GemmPlacement {
                    w: (addr(g.w.tensor), size(g.w.tensor)),
                    x: (addr(g.x.tensor), size(g.x.tensor)),
                    y: (addr(g.y), size(g.y)),
                };
                let (pw, px) = (place(at.w, g.m, g.k), place(at.x, g.k, g.t));
                let tiling = choose_tiles(arch, g, budget, pw, px).map_err(|nf| {
                        let field = format!("scratchpads.{}.bytes", nf.region.name());
                        arch.source.error(
                            &field,
                            format!(
                                "layer `{}` ({} GEMM {}×{}×{}): its smallest tile needs {} bytes of the {} scratchpad, but only {} are available per tile ({} bytes{}{})",
                                graph.layers[step.layer],
                                step.phase.name(),
                                g.m,
                                g.k,
                                g.t,
                                nf.need,
                                nf.region.name(),
                                nf.have,
                                arch.region(nf.region).bytes,
                                if slots_per_region > 1 { ", halved for double buffering" } else { "" },
                                if sharing > 1 { ", divided among interleaved steps" } else { "" },
                            ),
                            format!("≥ {} bytes", nf.need * slots_per_region * sharing),
                        )
                    })?;
                let est = choose_tiles::estimate(arch, g, &tiling, pw, px);
                (gemm_micros(g, &tiling, &at, &mut slots), est)
            }
            StepKind::Vector(v) => {
                let budget = budget_of(other_share);
                let acc = if v.reduce { size(v.dst[0]) } else { 0 };
                let fit = vector_chunk(v, acc, budget);
                if fit == 0 {
                    return Err(arch.source.error(
                        "scratchpads.input.bytes",
                        format!(
                            "layer `{}`: one {:?} row of {} elements does not fit a {}-byte tile budget",
                            graph.layers[step.layer],
                            v.op,
                            v.width,
                            budget[RegionId::Input as usize].min(budget[RegionId::Output as usize])
                        ),
                        "a larger input or output scratchpad",
                    ));
                }
                let chunk = fit;
                let est = crate::timing::vector_cycles(arch, v.op, v.elems());
                (
                    vector_micros(v, &|t| (addr(t), size(t)), chunk, &mut slots),
                    est,
                )
            }
            StepKind::Prune(p) => {
                let budget = budget_of(other_share);
                let per_row = p.k * 2 + p.k.div_ceil(p.nm.m) * crate::graph::group_bytes(p.nm);
                let rows = (budget[RegionId::Weight as usize] / per_row).max(1);
                if per_row > budget[RegionId::Weight as usize] {
                    return Err(arch.source.error(
                        "scratchpads.weight.bytes",
                        format!(
                            "layer `{}`: pruning one weight row needs {per_row} bytes",
                            graph.layers[step.layer]
                        ),
                        format!("≥ {} bytes", per_row * slots_per_region * other_share),
                    ));
                }
                let est = crate::timing::prune_cycles(arch, p.rows * p.k.div_ceil(p.nm.m));
                (
                    prune_micros(
                        p,
                        (addr(p.src.tensor), size(p.src.tensor)),
                        addr(p.dst),
                        rows,
                        &mut slots,
                    ),
                    est,
                )
            }
        };
        lists.push((micros, est, step.layer, step.phase));
    }
    let tiles: Vec<interleave::StepTiles> = lists
        .iter()
        .zip(members)
        .map(|((micros, est, ..), step)| interleave::StepTiles {
            est: *est,
            kind: match step.kind {
                StepKind::Gemm(_) => interleave::Kind::Gemm,
                StepKind::Vector(_) => interleave::Kind::Vector,
                StepKind::Prune(_) => interleave::Kind::Prune,
            },
            tiles: micros.iter().map(|m| interleave::dram_ranges(m)).collect(),
        })
        .collect();
    // Software pipelining of the in-order DMA queue: a tile step's stores (and the frees after
    // them) are emitted after the next tile step's loads, so the next tile is fetched while this
    // one computes — unless those loads read what the deferred stores write.
    let mut deferred: Option<(&[Micro], usize, Phase)> = None;
    let fail = |e: String, layer: usize| {
        arch.source.error(
            "scratchpads",
            format!("layer `{}`: {e}", graph.layers[layer]),
            "",
        )
    };
    for (l, s) in interleave::interleave(&tiles, window) {
        let (micros, _, layer, phase) = &lists[l];
        let step = &micros[s];
        let split = step
            .iter()
            .position(|m| matches!(m, Micro::Store { .. }))
            .unwrap_or(step.len());
        let (now, later) = step.split_at(split);
        if let Some((d, dl, dp)) = deferred {
            let stores = interleave::dram_ranges(d).writes;
            let loads = interleave::dram_ranges(now).reads;
            if loads
                .iter()
                .any(|&(a, b)| stores.iter().any(|&(c, e)| a < e && c < b))
            {
                emitter.emit_all(d, dl, dp).map_err(|e| fail(e, dl))?;
                deferred = None;
            }
        }
        for m in now {
            if let Err(e) = emitter.emit(m, *layer, *phase) {
                // The deferred tile's buffers may be what is missing: release them and retry.
                let (d, dl, dp) = deferred.take().ok_or_else(|| fail(e, *layer))?;
                emitter.emit_all(d, dl, dp).map_err(|e| fail(e, dl))?;
                emitter
                    .emit(m, *layer, *phase)
                    .map_err(|e| fail(e, *layer))?;
            }
        }
        if let Some((d, dl, dp)) = deferred.take() {
            emitter.emit_all(d, dl, dp).map_err(|e| fail(e, dl))?;
        }
        deferred = Some((later, *layer, *phase));
    }
    if let Some((d, dl, dp)) = deferred {
        emitter.emit_all(d, dl, dp).map_err(|e| fail(e, dl))?;
    }
    summary.scratchpad_peak = [0, 1, 2].map(|r| emitter.alloc[r].peak);
    let program = Program {
        arch: arch.name.clone(),
        model: model.name.clone(),
        batch: opts.batch,
        nm: (opts.recipe != crate::graph::Recipe::Dense).then_some(opts.nm),
        layers: graph.layers.clone(),
        tensors,
        instrs: emitter.instrs,
    };
    Ok(Compiled {
        program,
        graph,
        summary,
    })
}

/// Least common multiple.
pub(crate) fn lcm(a: u64, b: u64) -> u64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    a / gcd(a, b) * b
}
