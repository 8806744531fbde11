//! Accuracy as an optional output of a sweep point. With `accuracy: {dataset: digits, epochs: 5}`
//! in the description, every point that simulated also trains its model under its own recipe
//! and N:M on its own design, through the compiled programs on the functional simulator
//! (`nmsat_sim::functional::train`, what `nmsat train` runs), and records the accuracy beside
//! the speedup.
//!
//! Training depends on the programs, not on the clock or the energy table, so points with the
//! same [`Arch::schedule_key`], model, batch, N:M and recipe train once (as their timing runs
//! are shared in `evaluate.rs`); dense training ignores the N:M pattern.

use super::axes::{AxisKind, Workload, WORKLOAD_AXES};
use super::results::{Accuracy, Record};
use super::spec::Axis;
use crate::train::{dataset, shipped_model, DATASETS, MODELS};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::diag::{Diagnostic, SourceMap};
use nmsat_compiler::graph::Recipe;
use nmsat_compiler::model::Model;
use nmsat_sim::functional::data::Dataset;
use nmsat_sim::functional::recipe::TrainRecipe;
use nmsat_sim::functional::train::{train, NoHooks, TrainConfig};
use nmsat_sim::functional::Datapath;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The `accuracy` setting as the description gives it; what it leaves out is what
/// `nmsat train` defaults to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccuracy {
    dataset: String,
    #[serde(default)]
    epochs: Option<u64>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    datapath: Option<String>,
    #[serde(default)]
    lr: Option<f64>,
    #[serde(default)]
    momentum: Option<f64>,
    #[serde(default)]
    lambda: Option<f64>,
}

/// A checked `accuracy` setting.
pub struct AccuracySpec {
    pub dataset: String,
    pub data: Arc<Dataset>,
    pub epochs: u64,
    pub seed: u64,
    pub datapath: Datapath,
    pub lr: f64,
    pub momentum: f64,
    pub lambda: f64,
}

impl AccuracySpec {
    /// One line for captions: `digits, 5 epochs, f32, seed 1`.
    pub fn describe(&self) -> String {
        format!(
            "{}, {} epoch{}, {} datapath, seed {}, learning rate {} (cosine), momentum {}",
            self.dataset,
            self.epochs,
            if self.epochs == 1 { "" } else { "s" },
            self.datapath.name(),
            self.seed,
            self.lr,
            self.momentum
        )
    }
}

/// The model a sweep names: one shipped for `nmsat train` (e.g. `digits-cnn`), else loaded by
/// `load` (a zoo name or a path).
pub fn load_model(
    name: &str,
    load: impl FnOnce() -> Result<Model, Diagnostic>,
) -> Result<Model, Diagnostic> {
    shipped_model(name).unwrap_or_else(load)
}

/// Why `model` cannot learn `data`, if it cannot: its input must be one sample's features and
/// its last layer one output per class.
fn misfit(model: &Model, data: &Dataset) -> Option<String> {
    let out = model.layers.last().map_or(0, |l| l.out.numel());
    if model.input.numel() != data.features as u64 {
        Some(format!(
            "takes {} input values per sample, `{}` has {} features",
            model.input.numel(),
            data.name,
            data.features
        ))
    } else if out != data.classes as u64 {
        Some(format!(
            "ends in {out} outputs, `{}` has {} classes",
            data.name, data.classes
        ))
    } else {
        None
    }
}

/// Checks `raw` against the sweep's axes and models: a known data set that every model fits,
/// at least one epoch, batches no larger than the training split, rates in range.
pub fn parse(
    map: &SourceMap,
    raw: &RawAccuracy,
    axes: &[Axis],
    models: &HashMap<String, Model>,
) -> Result<AccuracySpec, Diagnostic> {
    let data = dataset(&raw.dataset).ok_or_else(|| {
        map.error(
            "accuracy.dataset",
            format!("unknown data set `{}`", raw.dataset),
            DATASETS.join(", "),
        )
    })?;
    let epochs = raw.epochs.unwrap_or(5);
    if epochs == 0 {
        return Err(map.error("accuracy.epochs", "0 epochs train nothing", "1 or more"));
    }
    let datapath = match raw.datapath.as_deref() {
        None => Datapath::F32,
        Some(d) => Datapath::parse(d).map_err(|_| {
            map.error(
                "accuracy.datapath",
                format!("unknown datapath `{d}`"),
                "f32, int16",
            )
        })?,
    };
    let (lr, momentum, lambda) = (
        raw.lr.unwrap_or(0.05),
        raw.momentum.unwrap_or(0.9),
        raw.lambda.unwrap_or(2e-4),
    );
    for (field, v, ok) in [
        ("lr", lr, lr > 0.0 && lr < 32768.0),
        ("momentum", momentum, (0.0..1.0).contains(&momentum)),
        ("lambda", lambda, (0.0..1.0).contains(&lambda)),
    ] {
        if !ok {
            return Err(map.error(
                &format!("accuracy.{field}"),
                format!("{v} is out of range"),
                "lr > 0, momentum and lambda in [0, 1)",
            ));
        }
    }
    // What the error offers instead: the shipped models that fit the data.
    let fitting = || -> String {
        MODELS
            .into_iter()
            .filter(|m| {
                shipped_model(m)
                    .unwrap_or_else(|| nmsat_compiler::model::load_model(m))
                    .is_ok_and(|m| misfit(&m, &data).is_none())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let axis = |kind: AxisKind| axes.iter().find(|a| a.kind == kind);
    let model_paths: Vec<(String, String)> = match axis(AxisKind::Model) {
        Some(a) => a
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.to_string(), format!("axes.model[{i}]")))
            .collect(),
        None => vec![(WORKLOAD_AXES[0].1.to_string(), "accuracy".to_string())],
    };
    for (name, path) in model_paths {
        let Some(model) = models.get(&name) else {
            continue;
        };
        if let Some(why) = misfit(model, &data) {
            return Err(map.error(
                &path,
                format!(
                    "`{name}` cannot be trained on `{}` (the sweep's accuracy setting): it {why}",
                    raw.dataset
                ),
                format!(
                    "models that fit `{}`: {}; or drop `accuracy`",
                    raw.dataset,
                    fitting()
                ),
            ));
        }
    }
    let train_len = data.train_len() as u64;
    let batches: Vec<(u64, String)> = match axis(AxisKind::Batch) {
        Some(a) => a
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((v.as_f64()? as u64, format!("axes.batch[{i}]"))))
            .collect(),
        None => vec![(
            WORKLOAD_AXES[2].1.parse().expect("a number"),
            "accuracy".into(),
        )],
    };
    for (b, path) in batches {
        if b > train_len {
            return Err(map.error(
                &path,
                format!(
                    "batch {b} is larger than the {train_len} training samples of `{}`",
                    raw.dataset
                ),
                format!("1 ..= {train_len} with accuracy on `{}`", raw.dataset),
            ));
        }
    }
    Ok(AccuracySpec {
        dataset: raw.dataset.clone(),
        data: Arc::new(data),
        epochs,
        seed: raw.seed.unwrap_or(1),
        datapath,
        lr,
        momentum,
        lambda,
    })
}

type Slot = Arc<OnceLock<Result<Accuracy, String>>>;

/// Trains the points of one sweep, once per distinct training run; shared by the workers.
#[derive(Default)]
pub struct Trainer {
    runs: Mutex<HashMap<String, Slot>>,
}

fn train_recipe(r: Recipe) -> TrainRecipe {
    match r {
        Recipe::Bdwp => TrainRecipe::Bdwp,
        Recipe::SrSte => TrainRecipe::SrSte,
        Recipe::Dense => TrainRecipe::Dense,
    }
}

impl Trainer {
    /// The accuracy of training `w` on `arch` as `a` says, and the seconds this call spent on
    /// it (0 when another point of the same run trained it).
    fn accuracy(
        &self,
        a: &AccuracySpec,
        model: &Model,
        arch: &Arch,
        w: &Workload,
    ) -> (Result<Accuracy, String>, f64) {
        let nm = if w.recipe == Recipe::Dense {
            "-".to_string()
        } else {
            w.nm.to_string()
        };
        let key = format!(
            "{}|{}|{}|{nm}|{:?}",
            arch.schedule_key(),
            w.model,
            w.batch,
            w.recipe
        );
        let slot = self
            .runs
            .lock()
            .expect("no panics while held")
            .entry(key)
            .or_default()
            .clone();
        let mut spent = 0.0;
        let acc = slot.get_or_init(|| {
            let t = Instant::now();
            let cfg = TrainConfig {
                arch: arch.clone(),
                model: model.clone(),
                recipe: train_recipe(w.recipe),
                nm: w.nm,
                datapath: a.datapath,
                epochs: a.epochs,
                batch: w.batch,
                seed: a.seed,
                lr: a.lr,
                momentum: a.momentum,
                srste_lambda: a.lambda,
                dense_layers: Vec::new(),
            };
            let r = train(&cfg, &a.data, &mut NoHooks);
            spent = t.elapsed().as_secs_f64();
            let r = r?;
            let last = r.epochs.last().ok_or("no epoch ran")?;
            Ok(Accuracy {
                dataset: r.dataset.clone(),
                datapath: r.datapath.into(),
                epochs: a.epochs,
                seed: a.seed,
                test_accuracy: last.test_accuracy,
                train_accuracy: last.train_accuracy,
                loss: last.loss,
            })
        });
        (acc.clone(), spent)
    }

    /// Adds the accuracy of `rec`'s point to it when the sweep asks for one and the point
    /// simulated; a training failure fails the point, its timing kept.
    pub fn add_to(
        &self,
        a: Option<&AccuracySpec>,
        model: &Model,
        arch: &Arch,
        w: &Workload,
        rec: &mut Record,
    ) {
        let Some(a) = a.filter(|_| rec.ok) else {
            return;
        };
        let (acc, spent) = self.accuracy(a, model, arch, w);
        rec.wall.train_s = spent;
        match acc {
            Ok(acc) => rec.accuracy = Some(acc),
            Err(e) => {
                rec.ok = false;
                rec.error = Some(format!("accuracy: {e}"));
            }
        }
    }
}

/// One series of the accuracy-vs-speedup scatter: its name and its points as (speedup, test
/// accuracy in %, N:M label).
pub type ScatterSeries = (String, Vec<(f64, f64, String)>);

/// The finished points with an accuracy, one series per recipe (per model and recipe when the
/// sweep has several models), in order of first appearance.
pub fn scatter(records: &[Record]) -> Vec<ScatterSeries> {
    let with: Vec<&Record> = records
        .iter()
        .filter(|r| r.ok && r.accuracy.is_some() && r.metrics.is_some())
        .collect();
    let many_models = with.iter().any(|r| r.design.model != with[0].design.model);
    let mut out: Vec<ScatterSeries> = Vec::new();
    for r in with {
        let name = if many_models {
            format!("{} · {}", r.design.model, r.design.recipe)
        } else {
            r.design.recipe.clone()
        };
        let (m, a) = (
            r.metrics.as_ref().expect("filtered"),
            r.accuracy.as_ref().expect("filtered"),
        );
        let p = (m.speedup, 100.0 * a.test_accuracy, r.design.nm.clone());
        match out.iter_mut().find(|s| s.0 == name) {
            Some(s) => s.1.push(p),
            None => out.push((name, vec![p])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::spec::Spec;
    use std::path::Path;

    const GOOD: &str = "\
arch: sat-small
axes:
  model: [tiny-mlp]
  batch: [32]
  nm: [\"2:8\"]
accuracy: {dataset: digits, epochs: 1}
";

    fn err(text: &str) -> nmsat_compiler::diag::Diagnostic {
        match Spec::parse("a.yaml", text, Path::new(".")) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_setting_is_checked_with_line_and_field() {
        let s = Spec::parse("a.yaml", GOOD, Path::new(".")).unwrap();
        let a = s.accuracy.as_ref().unwrap();
        assert_eq!((a.epochs, a.seed, a.data.classes), (1, 1, 10));
        let e = err(&GOOD.replace("epochs: 1", "epochs: 0"));
        assert_eq!(
            (e.line, e.field.as_str()),
            (Some(6), "accuracy.epochs"),
            "{e}"
        );
        let e = err(&GOOD.replace("digits", "mnist"));
        assert_eq!(e.field, "accuracy.dataset");
        assert!(e.to_string().contains("digits, winequality"), "{e}");
        let e = err(&GOOD.replace("[tiny-mlp]", "[tiny-mlp, resnet9]"));
        assert_eq!(
            (e.line, e.field.as_str()),
            (Some(3), "axes.model[1]"),
            "{e}"
        );
        assert!(e.to_string().contains("digits-cnn, tiny-mlp"), "{e}");
        let e = err(&GOOD.replace("dataset: digits", "dataset: winequality"));
        assert_eq!(e.field, "axes.model[0]", "{e}");
        assert!(e.to_string().contains("wine-mlp"), "{e}");
        let e = err(&GOOD.replace("[32]", "[32, 4096]"));
        assert_eq!(e.field, "axes.batch[1]", "{e}");
        let e = err(&GOOD.replace("epochs: 1", "epochs: 1, epoch: 2"));
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.to_string().contains("epoch"), "{e}");
        let e = err(&GOOD.replace("epochs: 1", "epochs: 1, datapath: f16"));
        assert_eq!(e.field, "accuracy.datapath", "{e}");
    }

    #[test]
    fn shipped_training_models_are_sweepable() {
        let text = GOOD.replace("[tiny-mlp]", "[digits-cnn, tiny-mlp]");
        let s = Spec::parse("a.yaml", &text, Path::new(".")).unwrap();
        assert!(s.models.contains_key("digits-cnn"));
        let s = Spec::load(Path::new("configs/sweeps/digits-accuracy.yaml")).unwrap();
        assert_eq!(s.accuracy.as_ref().map(|a| a.epochs), Some(5));
        assert_eq!(super::super::points::points(&s).unwrap().len(), 9);
    }
}
