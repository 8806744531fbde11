//! Evaluating one point: set the swept fields on the base description, compile the training
//! iteration, simulate it, and compare with the dense iteration on the same design — computed
//! once per (design, model, batch) and shared by every N:M pattern and recipe of it.

use super::accuracy::Trainer;
use super::area::{Area, Estimates};
use super::axes::{self, Workload};
use super::points::Point;
use super::results::{Design, LayerRecord, Metrics, Record, StallRecord, Wall};
use super::spec::Spec;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::graph::{Recipe, TrainOptions};
use nmsat_compiler::isa::{Op, Program, Unit};
use nmsat_sim::machine::{Cause, Resource, Schedule};
use nmsat_sim::stats::Stats;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// What a speedup needs of the dense run.
#[derive(Debug, Clone)]
struct Dense {
    cycles: u64,
    utilization: f64,
    energy_pj: f64,
}

/// A compiled program and its schedule, shared by every point whose description has the same
/// [`Arch::schedule_key`] (points that differ only in clock or energy table).
type Compiled = (Arc<Program>, Arc<Schedule>);
type RunSlot = Arc<OnceLock<Result<Compiled, String>>>;
type DenseSlot = Arc<OnceLock<Result<Dense, String>>>;

/// A shared run and how many more points will ask for it (`None`: unknown, keep it).
#[derive(Default)]
struct Shared {
    slot: RunSlot,
    uses: Option<usize>,
}

/// One point's run: the shared schedule, and the statistics of this description (its clock and
/// energy table) over it.
struct Run {
    schedule: Arc<Schedule>,
    stats: Stats,
}

/// The key of a compiled program and its schedule: equal keys compile and run alike.
fn run_key(arch: &Arch, w: &Workload, recipe: Recipe) -> String {
    // Dense training does not depend on the N:M pattern.
    let nm = if recipe == Recipe::Dense {
        "-".to_string()
    } else {
        w.nm.to_string()
    };
    format!(
        "{}|{}|{}|{nm}|{recipe:?}",
        arch.schedule_key(),
        w.model,
        w.batch
    )
}

/// The key of a dense baseline's figures: the whole description (clock and energy included),
/// the model and the batch.
fn dense_key(arch: &Arch, w: &Workload) -> String {
    let arch = serde_json::to_string(arch).expect("a description always serializes");
    format!("{arch}|{}|{}", w.model, w.batch)
}

/// Evaluates points of one sweep; shared by the worker threads.
pub struct Evaluator<'a> {
    spec: &'a Spec,
    /// Keyed by [`run_key`]: schedule key, model, batch, N:M and recipe.
    runs: Mutex<HashMap<String, Shared>>,
    /// Keyed by [`dense_key`]: each design's dense figures, computed once (its statistics are a
    /// whole pass over the program, as costly as the simulation).
    dense: Mutex<HashMap<String, DenseSlot>>,
    /// Synthesis estimates, for `area: yosys-xcvu9p`.
    estimates: Estimates,
    /// Training runs, for sweeps with an `accuracy` setting.
    trainer: Trainer,
}

/// Seconds since `t`.
fn since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn stall_record(s: &nmsat_sim::stats::Stalls) -> StallRecord {
    StallRecord {
        dma: s.dma,
        prune: s.prune,
        dependency: s.dependency,
        bank: s.bank_conflict,
    }
}

fn recipe_name(r: Recipe) -> &'static str {
    match r {
        Recipe::Bdwp => "bdwp",
        Recipe::SrSte => "srste",
        Recipe::Dense => "dense",
    }
}

/// The design figures of a point's description and workload.
pub fn design(arch: &Arch, w: &Workload) -> Design {
    Design {
        arch: arch.name.clone(),
        model: w.model.clone(),
        nm: if w.recipe == Recipe::Dense {
            "dense".into()
        } else {
            w.nm.to_string()
        },
        batch: w.batch,
        recipe: recipe_name(w.recipe).into(),
        ablation: w.ablation.into(),
        rows: arch.rows,
        cols: arch.cols,
        mux_lanes: arch.mux_lanes,
        clock_mhz: arch.clock_mhz,
        dram_gbps_peak: arch.dram_bytes_per_cycle() as f64 * arch.clock_mhz * 1e6 / 1e9,
        peak_gmacs: (arch.rows * arch.cols) as f64 * arch.clock_mhz * 1e6 / 1e9,
        area_proxy_pe: axes::area_proxy(arch),
        // Filled in by `Evaluator::evaluate` when the sweep's area model synthesizes.
        synth_luts: None,
        synth_dsps: None,
    }
}

/// Per-layer DRAM traffic and the array's stalls by cause, from the program and its schedule
/// (the same attribution `nmsat_sim::stats` makes per unit, here per layer).
fn layer_records(arch: &Arch, prog: &Program, run: &Run) -> Vec<LayerRecord> {
    let mut dram = vec![0u64; prog.layers.len()];
    let mut stalls = vec![StallRecord::default(); prog.layers.len()];
    let mut free_at = 0u64;
    let s = &run.schedule;
    for (j, ins) in prog.instrs.iter().enumerate() {
        let l = ins.layer as usize;
        match &ins.op {
            Op::Load { xfer } | Op::Store { xfer, .. } => {
                dram[l] += nmsat_compiler::timing::dram_bytes(arch, xfer)
            }
            _ => {}
        }
        if ins.op.unit() != Unit::Array {
            continue;
        }
        let idle = s.start[j] - free_at;
        let st = &mut stalls[l];
        match s.cause[j] {
            Cause::None => {}
            Cause::Wait(Unit::Load | Unit::Store) | Cause::Port(Resource::Dram) => st.dma += idle,
            Cause::Wait(Unit::Prune) => st.prune += idle,
            Cause::Wait(_) => st.dependency += idle,
            Cause::Port(Resource::Region(_) | Resource::WritePort(_)) => st.bank += idle,
        }
        st.bank += s.bank_stall[j];
        free_at = s.end[j];
    }
    run.stats
        .layers
        .iter()
        .zip(dram)
        .zip(stalls)
        .map(|((l, dram_bytes), array_stalls)| LayerRecord {
            name: l.name.clone(),
            macs_dense: l.macs_dense,
            macs_effective: l.macs_effective,
            dram_bytes,
            span_cycles: l.last.saturating_sub(l.first),
            array_busy: l.busy[Unit::Array.index()],
            array_stalls,
        })
        .collect()
}

impl<'a> Evaluator<'a> {
    /// An evaluator of `spec`'s points; synthesis runs (if its area model needs them) are
    /// cached under `synth_cache`.
    pub fn new(spec: &'a Spec, synth_cache: &Path) -> Evaluator<'a> {
        Evaluator {
            spec,
            runs: Mutex::new(HashMap::new()),
            dense: Mutex::new(HashMap::new()),
            estimates: Estimates::new(synth_cache),
            trainer: Trainer::default(),
        }
    }

    /// Announces the points about to be evaluated, so that each shared program and schedule
    /// is dropped after its last use rather than at the end (1,000 ResNet-18 points held
    /// ~7 GB). Without it every run is kept; a miscount only costs a recompilation.
    pub fn plan(&self, points: &[Point]) {
        let mut uses: HashMap<String, usize> = HashMap::new();
        let mut dense = HashSet::new();
        for p in points {
            let (arch, w) = self.spec.resolve(&p.values);
            if axes::check_design(&arch).is_err() {
                continue;
            }
            *uses.entry(run_key(&arch, &w, w.recipe)).or_default() += 1;
            // The dense run is asked for once per dense key (then its figures are reused).
            if w.recipe != Recipe::Dense && dense.insert(dense_key(&arch, &w)) {
                *uses.entry(run_key(&arch, &w, Recipe::Dense)).or_default() += 1;
            }
        }
        let mut runs = self.runs.lock().expect("no panics while held");
        for (key, n) in uses {
            runs.entry(key).or_default().uses = Some(n);
        }
    }

    /// The schedule of `prog`. In fast mode it is `nmsat_sim::simulate_fast`'s without the
    /// statistics, which each point computes for its own clock and energy table.
    /// On several cores it is one core's schedule of its data-parallel share, the gradient
    /// reduction included (`nmsat_sim::multicore`).
    fn simulate(&self, arch: &Arch, prog: &Program) -> Result<Schedule, String> {
        use nmsat_sim::multicore;
        let schedule = match (self.spec.exact, arch.multicore.cores > 1) {
            (true, false) => nmsat_sim::simulate_exact(arch, prog).map(|run| run.schedule),
            (false, false) => {
                nmsat_sim::machine::run(arch, prog, &mut nmsat_sim::fast::Fast::new(arch))
            }
            (true, true) => multicore::simulate_exact(arch, prog).map(|run| run.schedule),
            (false, true) => multicore::simulate_fast(arch, prog).map(|run| run.schedule),
        };
        schedule.map_err(|e| format!("simulation failed: {e}"))
    }

    /// Compiles and simulates one iteration — or reuses the program and schedule of an equal
    /// schedule key — and computes this description's statistics; returns the program, the run
    /// and the seconds this call spent compiling and simulating (0 when reused).
    fn compile_and_run(
        &self,
        arch: &Arch,
        w: &Workload,
        recipe: Recipe,
    ) -> Result<(Arc<Program>, Run, f64, f64), String> {
        let slot = match self
            .runs
            .lock()
            .expect("no panics while held")
            .entry(run_key(arch, w, recipe))
        {
            Entry::Vacant(e) => e.insert(Shared::default()).slot.clone(),
            Entry::Occupied(mut e) => {
                let slot = e.get().slot.clone();
                match &mut e.get_mut().uses {
                    // The last planned use: the callers' `Arc`s keep the run alive meanwhile.
                    Some(1) => drop(e.remove()),
                    Some(n) => *n -= 1,
                    None => {}
                }
                slot
            }
        };
        let (mut tc, mut ts) = (0.0, 0.0);
        let compiled = slot.get_or_init(|| {
            let model = &self.spec.models[&w.model];
            // Several cores each compile and run their share of the batch.
            let share = nmsat_sim::multicore::per_core_batch(arch, w.batch)?;
            let opts = TrainOptions {
                recipe,
                ..TrainOptions::bdwp(share, w.nm)
            };
            let t = Instant::now();
            let compiled = nmsat_compiler::schedule::compile(arch, model, &opts)
                .map_err(|e| format!("compile failed: {e}"))?;
            let program = if arch.multicore.cores > 1 {
                nmsat_sim::multicore::data_parallel(compiled.program, w.batch)
            } else {
                compiled.program
            };
            tc = since(t);
            let t = Instant::now();
            let schedule = self.simulate(arch, &program)?;
            ts = since(t);
            Ok((Arc::new(program), Arc::new(schedule)))
        });
        let (prog, schedule) = compiled.clone()?;
        let stats = nmsat_sim::stats::stats(arch, &prog, &schedule);
        Ok((prog, Run { schedule, stats }, tc, ts))
    }

    /// The dense figures of this design, model and batch: computed by the first point that
    /// needs them (the others wait for them), with the seconds this call spent on them.
    fn dense(&self, arch: &Arch, w: &Workload) -> (Result<Dense, String>, f64) {
        let slot = self
            .dense
            .lock()
            .expect("no panics while held")
            .entry(dense_key(arch, w))
            .or_default()
            .clone();
        let mut spent = 0.0;
        let dense = slot.get_or_init(|| match self.compile_and_run(arch, w, Recipe::Dense) {
            Ok((_, run, tc, ts)) => {
                spent = tc + ts;
                Ok(Dense {
                    cycles: run.stats.cycles,
                    utilization: run.stats.utilization,
                    energy_pj: run.stats.energy_pj,
                })
            }
            Err(e) => Err(format!("dense baseline: {e}")),
        });
        (dense.clone(), spent)
    }

    /// Evaluates `p`; a failure is recorded in the result, never raised.
    pub fn evaluate(&self, p: &Point, focus: bool) -> Record {
        let spec = self.spec;
        let (arch, w) = spec.resolve(&p.values);
        let mut rec = Record {
            index: p.index,
            key: p.key.clone(),
            point: spec
                .axes
                .iter()
                .zip(&p.values)
                .map(|(a, v)| (a.name.clone(), v.to_json()))
                .collect(),
            ok: false,
            error: None,
            design: design(&arch, &w),
            metrics: None,
            layers: Vec::new(),
            accuracy: None,
            wall: Wall::default(),
        };
        let result = axes::check_design(&arch).and_then(|()| {
            if spec.area == Area::YosysXcvu9p {
                let (luts, dsps) = self.estimates.estimate(&arch)?;
                rec.design.synth_luts = Some(luts);
                rec.design.synth_dsps = Some(dsps);
            }
            let (prog, run, tc, ts) = self.compile_and_run(&arch, &w, w.recipe)?;
            rec.wall.compile_s = tc;
            rec.wall.simulate_s = ts;
            let dense = if w.recipe == Recipe::Dense {
                Dense {
                    cycles: run.stats.cycles,
                    utilization: run.stats.utilization,
                    energy_pj: run.stats.energy_pj,
                }
            } else {
                let (d, spent) = self.dense(&arch, &w);
                rec.wall.dense_s = spent;
                d?
            };
            Ok((prog, run, dense))
        });
        match result {
            Err(e) => rec.error = Some(e),
            Ok((prog, run, dense)) => {
                let s = &run.stats;
                rec.ok = true;
                rec.metrics = Some(Metrics {
                    cycles: s.cycles,
                    dense_cycles: dense.cycles,
                    speedup: dense.cycles as f64 / s.cycles.max(1) as f64,
                    seconds: s.seconds,
                    samples_per_s: w.batch as f64 / s.seconds.max(1e-30),
                    utilization: s.utilization,
                    dense_utilization: dense.utilization,
                    macs_dense: s.macs_dense,
                    macs_effective: s.macs_effective,
                    dram_read: s.dram_read,
                    dram_written: s.dram_written,
                    dram_gbps: s.dram_gbps,
                    energy_pj: s.energy_pj,
                    dense_energy_pj: dense.energy_pj,
                    instructions: prog.instrs.len() as u64,
                    busy: s.busy,
                    stalls: std::array::from_fn(|u| stall_record(&s.stalls[u])),
                });
                if focus {
                    rec.layers = layer_records(&arch, &prog, &run);
                }
            }
        }
        self.trainer.add_to(
            spec.accuracy.as_ref(),
            &spec.models[&w.model],
            &arch,
            &w,
            &mut rec,
        );
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::points::points;
    use std::path::Path;

    #[test]
    fn dense_runs_are_shared_and_failures_are_recorded() {
        let text = "arch: sat-small\naxes:\n  model: [tiny-mlp]\n  batch: [4]\n  nm: [\"1:4\", \"2:8\", \"3:16\"]\n";
        let spec = Spec::parse("s.yaml", text, Path::new(".")).unwrap();
        let ev = Evaluator::new(&spec, Path::new("unused-synth-cache"));
        let pts = points(&spec).unwrap();
        let recs: Vec<Record> = pts.iter().map(|p| ev.evaluate(p, p.index == 0)).collect();
        // Three sparse runs (one fails to compile) and one dense run shared by all.
        assert_eq!(ev.runs.lock().unwrap().len(), 4);
        let (a, b, c) = (&recs[0], &recs[1], &recs[2]);
        assert!(a.ok && b.ok, "{a:?} {b:?}");
        let (ma, mb) = (a.metrics.as_ref().unwrap(), b.metrics.as_ref().unwrap());
        assert_eq!(ma.dense_cycles, mb.dense_cycles);
        assert!(a.wall.dense_s > 0.0 && b.wall.dense_s == 0.0);
        // (The tiny MLP is too small for 1:4 to pay off on sat-small: what is checked here is
        // that the speedup is the dense run's cycles over the sparse run's.)
        assert_eq!(ma.speedup, ma.dense_cycles as f64 / ma.cycles as f64);
        assert!(ma.macs_effective < ma.macs_dense, "{ma:?}");
        // The focus point carries its layers; their DRAM bytes add up to the run's.
        assert!(b.layers.is_empty() && !a.layers.is_empty());
        let dram: u64 = a.layers.iter().map(|l| l.dram_bytes).sum();
        assert_eq!(dram, ma.dram_read + ma.dram_written);
        let busy: u64 = a.layers.iter().map(|l| l.array_busy).sum();
        assert_eq!(busy, ma.busy[Unit::Array.index()]);
        let stall = |s: &StallRecord| s.dma + s.prune + s.dependency + s.bank;
        let layer_stalls: u64 = a.layers.iter().map(|l| stall(&l.array_stalls)).sum();
        assert_eq!(layer_stalls, stall(&ma.stalls[Unit::Array.index()]));
        // 3:16 needs a 16-lane mux that sat-small does not have: recorded, not raised.
        assert!(!c.ok && c.metrics.is_none());
        assert!(c.error.as_deref().unwrap().contains("16"), "{:?}", c.error);
    }

    #[test]
    fn planned_runs_are_dropped_after_their_last_use() {
        let text = "arch: sat-small\naxes:\n  clock_mhz: [100, 200]\n  model: [tiny-mlp]\n  batch: [4]\n  nm: [\"2:8\"]\n";
        let spec = Spec::parse("s.yaml", text, Path::new(".")).unwrap();
        let pts = points(&spec).unwrap();
        let kept = Evaluator::new(&spec, Path::new("unused-synth-cache"));
        let planned = Evaluator::new(&spec, Path::new("unused-synth-cache"));
        planned.plan(&pts);
        // One sparse and one dense run, shared by both clocks.
        assert_eq!(planned.runs.lock().unwrap().len(), 2);
        for p in &pts {
            let (a, b) = (kept.evaluate(p, true), planned.evaluate(p, true));
            assert!(a.ok, "{a:?}");
            assert_eq!(
                serde_json::to_string(&(&a.metrics, &a.layers)).unwrap(),
                serde_json::to_string(&(&b.metrics, &b.layers)).unwrap()
            );
        }
        assert_eq!(kept.runs.lock().unwrap().len(), 2);
        assert!(planned.runs.lock().unwrap().is_empty());
        // Each clock has its own dense figures, from the one dense run.
        assert_eq!(planned.dense.lock().unwrap().len(), 2);
    }
}
