//! The training driver: iterations of compiled programs over a data set, on a functional
//! machine, with the modelled cycles of every iteration from fast mode.
//!
//! Per iteration the host writes a shuffled batch (`input`, `labels`, and MDGF's decay factor)
//! into DRAM and the machine runs the stage's whole program: FF, loss gradient, BP, WU, the
//! weight forms and the SGD update, which leaves the new weights and momenta in DRAM for the
//! next. The loss and training accuracy come from the logits the FF stored. Test accuracy
//! runs the FF (and weight-form) instructions of the same program on the test batches — the
//! last one padded with zeros, its padding ignored (the digits models have no batch norm,
//! through which padding would leak). The learning rate follows a cosine schedule over the
//! epochs; the update's rate is a program constant, so each epoch's rate is its own program
//! (the same memory map, so the machine carries over). Runs are deterministic for a seed.

use super::data::Dataset;
use super::recipe::{Stage, TrainRecipe};
use super::{forward_phase, machine, run, Datapath, Functional};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::graph::{StepKind, TrainOptions, MASK_DECAY_TENSOR};
use nmsat_compiler::isa::{Program, PruneAlong, Tensor};
use nmsat_compiler::model::{Model, Op};
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::{compile, Compiled};
use serde::Serialize;
use std::collections::HashMap;
use std::rc::Rc;

/// What a run trains, how, and on what.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub arch: Arch,
    pub model: Model,
    pub recipe: TrainRecipe,
    /// The target pattern (ignored by `dense`).
    pub nm: Nm,
    pub datapath: Datapath,
    pub epochs: u64,
    pub batch: u64,
    pub seed: u64,
    /// Initial learning rate of the cosine schedule.
    pub lr: f64,
    pub momentum: f64,
    pub srste_lambda: f64,
    /// Layers kept dense whatever the recipe.
    pub dense_layers: Vec<String>,
}

/// One epoch's figures.
#[derive(Debug, Clone, Serialize)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: u64,
    pub lr: f64,
    /// Mean softmax cross-entropy over the epoch's training batches.
    pub loss: f64,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    /// Modelled cycles of all iterations so far.
    pub cycles: u64,
    /// The stage of the epoch's last iteration (`dense`, `2:8`, `decay 0.42`).
    pub stage: String,
}

/// A whole run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub model: String,
    pub dataset: String,
    pub recipe: &'static str,
    pub nm: String,
    pub datapath: &'static str,
    pub batch: u64,
    pub seed: u64,
    pub iterations: u64,
    pub epochs: Vec<EpochReport>,
    pub final_test_accuracy: f64,
    /// Modelled cycles of an iteration, averaged over the run (stages differ).
    pub cycles_per_iteration: f64,
    /// Modelled cycles of a dense iteration of the same model and batch.
    pub dense_cycles_per_iteration: u64,
    /// Dense over this run's average cycles per iteration.
    pub speedup: f64,
    /// First epoch whose test accuracy reached the final one.
    pub epochs_to_final: u64,
    /// Modelled time on the described hardware until then.
    pub seconds_to_final: f64,
}

/// What a run lets an observer see around each iteration.
pub struct IterationView<'a> {
    /// 0-based over the run.
    pub iteration: u64,
    pub model: &'a Model,
    pub stage: &'a Stage,
    pub compiled: &'a Compiled,
    pub machine: &'a dyn Functional,
}

/// Observers of a run (tests check masks and gradients through these).
pub trait Hooks {
    /// Before an iteration's program runs (its batch already written).
    fn before(&mut self, _v: &IterationView) -> Result<(), String> {
        Ok(())
    }
    /// After it ran.
    fn after(&mut self, _v: &IterationView) -> Result<(), String> {
        Ok(())
    }
    /// After each epoch's test.
    fn epoch(&mut self, _e: &EpochReport) {}
}

/// Observes nothing.
pub struct NoHooks;
impl Hooks for NoHooks {}

/// A weighted layer's dense weights: tensor name, rows, reduction length (fan-in).
pub fn weight_tensors(model: &Model) -> Vec<(String, u64, u64)> {
    model
        .layers
        .iter()
        .filter_map(|l| match l.op {
            Op::Conv2d {
                in_ch,
                out_ch,
                kh,
                kw,
                groups,
                ..
            } => Some((format!("{}.w", l.name), out_ch, in_ch / groups * kh * kw)),
            Op::Linear { in_f, out_f, .. } => Some((format!("{}.w", l.name), out_f, in_f)),
            _ => None,
        })
        .collect()
}

/// A pre-generated N:M weight form of a program: DRAM tensor, its dense view's rows and
/// reduction, the pattern, and which form (FF along the input, BP along the output).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightForm {
    pub tensor: String,
    pub rows: u64,
    pub k: u64,
    pub nm: Nm,
    pub along: PruneAlong,
}

/// Every weight form `compiled` pre-generates each iteration.
pub fn weight_forms(compiled: &Compiled) -> Vec<WeightForm> {
    compiled
        .graph
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Prune(p) => Some(WeightForm {
                tensor: compiled.graph.tensors[p.dst].name.clone(),
                rows: p.rows,
                k: p.k,
                nm: p.nm,
                along: p.along,
            }),
            _ => None,
        })
        .collect()
}

/// SplitMix64: a small deterministic generator for initial weights and shuffles.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [−1, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// A Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, (self.next_u64() % (i as u64 + 1)) as usize);
        }
    }
}

/// Mean cross-entropy (summed, to be divided by the caller) and correct predictions of
/// `rows` rows of `classes` logits against their labels.
fn score(logits: &[f32], labels: &[i16], classes: usize, rows: usize) -> (f64, usize) {
    let (mut loss, mut correct) = (0.0, 0);
    for (r, &label) in labels.iter().enumerate().take(rows) {
        let z = &logits[r * classes..(r + 1) * classes];
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = max + z.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
        loss += lse - z[label as usize] as f64;
        let best = (0..classes)
            .max_by(|&a, &b| z[a].total_cmp(&z[b]).then(b.cmp(&a)))
            .expect("classes > 0");
        correct += (best == label as usize) as usize;
    }
    (loss, correct)
}

/// The programs of a run, compiled once per distinct stage, with their modelled cycles.
struct Programs<'a> {
    cfg: &'a TrainConfig,
    compiled: HashMap<String, Rc<Compiled>>,
    cycles: HashMap<String, u64>,
}

impl Programs<'_> {
    fn get(&mut self, opts: &TrainOptions) -> Result<(Rc<Compiled>, u64), String> {
        let key = format!("{opts:?}");
        if !self.compiled.contains_key(&key) {
            let c = compile(&self.cfg.arch, &self.cfg.model, opts).map_err(|e| e.to_string())?;
            nmsat_compiler::check::check(&self.cfg.arch, &c.program)?;
            self.compiled.insert(key.clone(), Rc::new(c));
        }
        let c = self.compiled[&key].clone();
        // The rate is a constant of the update: it changes no timing.
        let timing_key = format!(
            "{:?}",
            TrainOptions {
                lr: 0.0,
                ..opts.clone()
            }
        );
        let cycles = match self.cycles.get(&timing_key) {
            Some(&n) => n,
            None => {
                let n = crate::simulate_fast(&self.cfg.arch, &c.program)?
                    .schedule
                    .cycles();
                self.cycles.insert(timing_key, n);
                n
            }
        };
        Ok((c, cycles))
    }
}

/// Checks that `data` fits `cfg.model` (features in, classes out) and the batch.
fn check_fit(cfg: &TrainConfig, data: &Dataset) -> Result<(), String> {
    let m = &cfg.model;
    if m.input.numel() != data.features as u64 {
        return Err(format!(
            "--model: `{}` takes {} input values per sample, but --dataset {} has {} features",
            m.name,
            m.input.numel(),
            data.name,
            data.features
        ));
    }
    let out = m.layers.last().map_or(0, |l| l.out.numel());
    if out != data.classes as u64 {
        return Err(format!(
            "--model: `{}` ends in {out} outputs, but --dataset {} has {} classes",
            m.name, data.name, data.classes
        ));
    }
    if cfg.batch == 0 || (data.train_len() as u64) < cfg.batch {
        return Err(format!(
            "--batch: {} (allowed: 1 ..= {}, the training samples)",
            cfg.batch,
            data.train_len()
        ));
    }
    if cfg.epochs == 0 {
        return Err("--epochs: 0 (allowed: ≥ 1)".into());
    }
    Ok(())
}

/// Trains `cfg.model` on `data`; `hooks` observe every iteration and epoch.
pub fn train(
    cfg: &TrainConfig,
    data: &Dataset,
    hooks: &mut dyn Hooks,
) -> Result<TrainReport, String> {
    check_fit(cfg, data)?;
    for nm in cfg.recipe.patterns(cfg.nm) {
        cfg.arch.supports(nm).map_err(|e| {
            format!(
                "--recipe {} needs {nm} on `{}`: {e}",
                cfg.recipe.name(),
                cfg.arch.name
            )
        })?;
    }
    let base = TrainOptions {
        nm: cfg.nm,
        momentum: cfg.momentum,
        srste_lambda: cfg.srste_lambda,
        dense_layers: cfg.dense_layers.clone(),
        lr: cfg.lr,
        ..TrainOptions::bdwp(cfg.batch, cfg.nm)
    };
    let mut programs = Programs {
        cfg,
        compiled: HashMap::new(),
        cycles: HashMap::new(),
    };
    let (_, dense_cycles) = programs.get(&TrainOptions {
        recipe: nmsat_compiler::graph::Recipe::Dense,
        ..base.clone()
    })?;
    let batch = cfg.batch as usize;
    let per_epoch = data.train_len() / batch;
    let total = cfg.epochs * per_epoch as u64;
    let (f, classes) = (data.features, data.classes);
    let last = format!(
        "{}.y",
        cfg.model.layers.last().expect("a model has layers").name
    );
    let mut rng = Rng::new(cfg.seed);

    let mut mem: Option<(Box<dyn Functional>, Vec<Tensor>)> = None;
    let mut order: Vec<usize> = (0..data.train_len()).collect();
    let (mut it, mut cycles) = (0u64, 0u64);
    let mut epochs = Vec::new();
    let mut current: Option<Rc<Compiled>> = None;
    for e in 0..cfg.epochs {
        let lr = cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * e as f64 / cfg.epochs as f64).cos());
        rng.shuffle(&mut order);
        let (mut loss, mut correct) = (0.0, 0usize);
        let mut stage = None;
        for b in 0..per_epoch {
            let st = cfg
                .recipe
                .stage(&TrainOptions { lr, ..base.clone() }, it, total);
            let (compiled, c) = programs.get(&st.opts)?;
            let prog = &compiled.program;
            mem = Some(adopt(cfg, mem.take(), prog, &mut rng)?);
            let m = &mut mem.as_mut().expect("just made").0;
            let idx = &order[b * batch..(b + 1) * batch];
            let x: Vec<f32> = idx
                .iter()
                .flat_map(|&i| data.train_x[i * f..(i + 1) * f].iter().copied())
                .collect();
            let y: Vec<i16> = idx.iter().map(|&i| data.train_y[i]).collect();
            m.write_real(prog, "input", &x)?;
            m.write_int(prog, "labels", &y)?;
            if let Some(d) = st.decay {
                m.write_real(prog, MASK_DECAY_TENSOR, &[d as f32])?;
            }
            hooks.before(&IterationView {
                iteration: it,
                model: &cfg.model,
                stage: &st,
                compiled: &compiled,
                machine: m.as_ref(),
            })?;
            run(m.as_mut(), &cfg.arch, prog, |_| true)?;
            hooks.after(&IterationView {
                iteration: it,
                model: &cfg.model,
                stage: &st,
                compiled: &compiled,
                machine: m.as_ref(),
            })?;
            let (l, ok) = score(&m.read_real(prog, &last)?, &y, classes, batch);
            loss += l;
            correct += ok;
            cycles += c;
            it += 1;
            stage = Some(st);
            current = Some(compiled);
        }
        let compiled = current.clone().expect("every epoch runs an iteration");
        let m = &mut mem.as_mut().expect("trained").0;
        let test_accuracy = test(cfg, m.as_mut(), &compiled.program, data, &last)?;
        let n = (per_epoch * batch) as f64;
        let report = EpochReport {
            epoch: e + 1,
            lr,
            loss: loss / n,
            train_accuracy: correct as f64 / n,
            test_accuracy,
            cycles,
            stage: stage.map_or_else(String::new, |s| s.label()),
        };
        hooks.epoch(&report);
        epochs.push(report);
    }
    let last_epoch = epochs.last().expect("epochs ≥ 1");
    let final_acc = last_epoch.test_accuracy;
    let reach = epochs
        .iter()
        .find(|e| e.test_accuracy >= final_acc)
        .expect("the last epoch reaches its own accuracy");
    let per_iter = cycles as f64 / total as f64;
    Ok(TrainReport {
        model: cfg.model.name.clone(),
        dataset: data.name.clone(),
        recipe: cfg.recipe.name(),
        nm: cfg.nm.to_string(),
        datapath: cfg.datapath.name(),
        batch: cfg.batch,
        seed: cfg.seed,
        iterations: total,
        final_test_accuracy: final_acc,
        cycles_per_iteration: per_iter,
        dense_cycles_per_iteration: dense_cycles,
        speedup: dense_cycles as f64 / per_iter,
        epochs_to_final: reach.epoch,
        seconds_to_final: reach.cycles as f64 / (cfg.arch.clock_mhz * 1e6),
        epochs,
    })
}

/// The machine for `prog`: the current one when the memory map is the same; else a new one
/// that takes over the dense weights and momenta; at the start, one with initial weights.
fn adopt(
    cfg: &TrainConfig,
    old: Option<(Box<dyn Functional>, Vec<Tensor>)>,
    prog: &Program,
    rng: &mut Rng,
) -> Result<(Box<dyn Functional>, Vec<Tensor>), String> {
    if let Some((_, map)) = old.as_ref() {
        if *map == prog.tensors {
            // The same memory map: the machine serves this program too.
            return Ok(old.expect("checked"));
        }
    }
    let mut fresh = machine(cfg.datapath, &cfg.arch, prog);
    match old {
        Some((m, map)) => {
            let old_prog = Program {
                tensors: map,
                ..prog.clone()
            };
            for (w, _, _) in weight_tensors(&cfg.model) {
                let v = format!("{}.v", w.trim_end_matches(".w"));
                for name in [&w, &v] {
                    fresh.write_real(prog, name, &m.read_real(&old_prog, name)?)?;
                }
            }
        }
        None => {
            // He-uniform initial weights: U(±√(6/fan-in)).
            for (w, rows, k) in weight_tensors(&cfg.model) {
                let bound = (6.0 / k as f64).sqrt();
                let vals: Vec<f32> = (0..rows * k)
                    .map(|_| (bound * rng.uniform()) as f32)
                    .collect();
                fresh.write_real(prog, &w, &vals)?;
            }
        }
    }
    Ok((fresh, prog.tensors.clone()))
}

/// Test accuracy: the FF instructions of `prog` over the test set, batch by batch.
fn test(
    cfg: &TrainConfig,
    m: &mut dyn Functional,
    prog: &Program,
    data: &Dataset,
    logits: &str,
) -> Result<f64, String> {
    let (batch, f) = (cfg.batch as usize, data.features);
    let mut correct = 0;
    for start in (0..data.test_len()).step_by(batch) {
        let rows = batch.min(data.test_len() - start);
        let mut x = data.test_x[start * f..(start + rows) * f].to_vec();
        x.resize(batch * f, 0.0);
        m.write_real(prog, "input", &x)?;
        run(m, &cfg.arch, prog, forward_phase)?;
        let y = &data.test_y[start..start + rows];
        correct += score(&m.read_real(prog, logits)?, y, data.classes, rows).1;
    }
    Ok(correct as f64 / data.test_len() as f64)
}
