//! `nmsat train`: trains a model on real data through its compiled programs on the functional
//! simulator, and reports accuracy beside the modelled cycles of the described hardware.

mod plot;
mod wine;

use crate::{cli_error, UserError};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::diag::Diagnostic;
use nmsat_compiler::model::{load_model, parse_model, Model};
use nmsat_compiler::prune::Nm;
use nmsat_sim::functional::data::{digits, Dataset};
use nmsat_sim::functional::recipe::TrainRecipe;
use nmsat_sim::functional::train::{train, EpochReport, Hooks, TrainConfig};
use nmsat_sim::functional::Datapath;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Accelerator description: a built-in name or a YAML path.
    #[arg(long, default_value = "sat-vcu1525")]
    arch: String,
    /// Model: digits-cnn, digits-mlp (= tiny-mlp), wine-mlp, a zoo name or a YAML path
    /// (default: tiny-mlp for digits, wine-mlp for winequality).
    #[arg(long)]
    model: Option<String>,
    /// digits (UCI handwritten digits, 1,797 8×8 images) or winequality (1,599 red wines).
    #[arg(long, default_value = "digits")]
    dataset: String,
    #[arg(long, default_value = "2:8")]
    nm: String,
    /// dense, bdwp, srste, mdgf-linear, mdgf-exp or sdgf.
    #[arg(long, default_value = "bdwp")]
    recipe: String,
    /// f32 (real numbers) or int16 (the core's fixed point, bit-exact with exact mode).
    #[arg(long, default_value = "f32")]
    datapath: String,
    #[arg(long, default_value_t = 10)]
    epochs: u64,
    #[arg(long, default_value_t = 32)]
    batch: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Initial learning rate (cosine schedule over the epochs).
    #[arg(long, default_value_t = 0.05)]
    lr: f64,
    #[arg(long, default_value_t = 0.9)]
    momentum: f64,
    /// SR-STE decay λ of bdwp and srste.
    #[arg(long, default_value_t = 2e-4)]
    lambda: f64,
    /// Layers kept dense whatever the recipe (comma-separated).
    #[arg(long, value_delimiter = ',')]
    dense_layers: Vec<String>,
    /// Directory for the accuracy curves (PNG and SVG).
    #[arg(long, default_value = "results/train")]
    out: PathBuf,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// The models shipped for training on [`DATASETS`] (`digits-mlp` is `tiny-mlp`).
pub const MODELS: [&str; 4] = ["digits-cnn", "tiny-mlp", "digits-mlp", "wine-mlp"];

/// The data sets `nmsat train` (and a sweep's `accuracy`) can train on.
pub const DATASETS: [&str; 2] = ["digits", "winequality"];

/// The shipped model `spec` names, if it names one that the zoo does not know.
pub fn shipped_model(spec: &str) -> Option<Result<Model, Diagnostic>> {
    let text = match spec {
        "wine-mlp" => include_str!("../../configs/models/wine-mlp.yaml"),
        "digits-mlp" => return Some(load_model("tiny-mlp")),
        _ => return None,
    };
    Some(parse_model(&format!("configs/models/{spec}.yaml"), text))
}

/// A shipped model, else a zoo name or a path.
fn model(spec: &str) -> Result<Model, UserError> {
    Ok(shipped_model(spec).unwrap_or_else(|| load_model(spec))?)
}

/// The data set `name` of [`DATASETS`].
pub fn dataset(name: &str) -> Option<Dataset> {
    match name {
        "digits" => Some(digits()),
        "winequality" => Some(wine::winequality()),
        _ => None,
    }
}

/// Prints each epoch's line as it finishes.
struct Progress {
    quiet: bool,
    clock_mhz: f64,
}

impl Hooks for Progress {
    fn epoch(&mut self, e: &EpochReport) {
        if !self.quiet {
            println!(
                "{:>5}  {:>7.4}  {:>7.4}  {:>6.2}%  {:>6.2}%  {:>11}  {:>12.3}",
                e.epoch,
                e.lr,
                e.loss,
                e.train_accuracy * 100.0,
                e.test_accuracy * 100.0,
                e.stage,
                e.cycles as f64 / (self.clock_mhz * 1e3)
            );
        }
    }
}

/// `nmsat train`.
pub fn run(a: TrainArgs) -> Result<(), UserError> {
    let arch = Arch::load(&a.arch)?;
    let data: Dataset = dataset(&a.dataset).ok_or_else(|| {
        cli_error(
            "--dataset",
            format!("unknown data set `{}`", a.dataset),
            &DATASETS.join(", "),
        )
    })?;
    let default_model = if data.name == "digits" {
        "tiny-mlp"
    } else {
        "wine-mlp"
    };
    let model = model(a.model.as_deref().unwrap_or(default_model))?;
    let nm: Nm =
        a.nm.parse()
            .map_err(|e| cli_error("--nm", e, "N:M with 1 ≤ N < M ≤ 16"))?;
    let recipe = TrainRecipe::parse(&a.recipe).map_err(|e| {
        cli_error(
            "--recipe",
            e,
            "dense, bdwp, srste, mdgf-linear, mdgf-exp, sdgf",
        )
    })?;
    let datapath =
        Datapath::parse(&a.datapath).map_err(|e| cli_error("--datapath", e, "f32, int16"))?;
    for p in recipe.patterns(nm) {
        arch.supports(p).map_err(|e| {
            let allowed: Vec<String> = arch.patterns.iter().map(|p| p.to_string()).collect();
            cli_error(
                "--nm",
                format!(
                    "--recipe {} needs {p} on `{}`: {e}",
                    recipe.name(),
                    arch.name
                ),
                &format!("the patterns of the description: {}", allowed.join(", ")),
            )
        })?;
    }
    for (flag, v, ok) in [
        ("--lr", a.lr, a.lr > 0.0 && a.lr < 32768.0),
        ("--momentum", a.momentum, (0.0..1.0).contains(&a.momentum)),
        ("--lambda", a.lambda, (0.0..1.0).contains(&a.lambda)),
    ] {
        if !ok {
            return Err(cli_error(
                flag,
                format!("{v} is out of range"),
                "--lr > 0, --momentum and --lambda in [0, 1)",
            ));
        }
    }
    for l in &a.dense_layers {
        if !model.layers.iter().any(|x| &x.name == l) {
            return Err(cli_error(
                "--dense-layers",
                format!("`{l}` is not a layer of `{}`", model.name),
                "names of the model's layers",
            ));
        }
    }
    let cfg = TrainConfig {
        arch,
        model,
        recipe,
        nm,
        datapath,
        epochs: a.epochs,
        batch: a.batch,
        seed: a.seed,
        lr: a.lr,
        momentum: a.momentum,
        srste_lambda: a.lambda,
        dense_layers: a.dense_layers.clone(),
    };
    let clock = cfg.arch.clock_mhz;
    if !a.json {
        println!(
            "{} on {} ({} train / {} test) · {} {} · {} · batch {} · seed {} · {}",
            cfg.model.name,
            data.name,
            data.train_len(),
            data.test_len(),
            recipe.name(),
            nm,
            datapath.name(),
            a.batch,
            a.seed,
            cfg.arch.name
        );
        println!("epoch       lr     loss    train     test        stage  modelled ms");
    }
    let t = Instant::now();
    let r = train(
        &cfg,
        &data,
        &mut Progress {
            quiet: a.json,
            clock_mhz: clock,
        },
    )
    .map_err(|e| UserError(format!("train: {e}")))?;
    let host = t.elapsed().as_secs_f64();
    let stem = format!(
        "{}-{}-{}-{}-{}",
        r.model,
        r.dataset,
        r.recipe,
        r.nm.replace(':', "of"),
        r.datapath
    );
    let plots = plot::accuracy_curves(&r, &a.out, &stem).map_err(UserError)?;
    if a.json {
        let mut v = serde_json::to_value(&r).expect("a report serializes");
        v["host_seconds"] = host.into();
        v["host_seconds_per_epoch"] = (host / a.epochs as f64).into();
        v["plots"] = plots
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .into();
        println!("{v}");
        return Ok(());
    }
    println!(
        "modelled cycles per iteration: {:.0} (dense {}: speedup {:.3}×)",
        r.cycles_per_iteration, r.dense_cycles_per_iteration, r.speedup
    );
    println!(
        "final test accuracy {:.2}%, first reached at epoch {} after {:.3} ms modelled on {} ({} MHz; {} of {} iterations)",
        r.final_test_accuracy * 100.0,
        r.epochs_to_final,
        r.seconds_to_final * 1e3,
        cfg.arch.name,
        clock,
        r.iterations / a.epochs * r.epochs_to_final,
        r.iterations / a.epochs * a.epochs,
    );
    println!(
        "host time {host:.2} s ({:.3} s per epoch, {} datapath)",
        host / a.epochs as f64,
        datapath.name()
    );
    println!(
        "accuracy curves: {}, {}",
        plots[0].display(),
        plots[1].display()
    );
    Ok(())
}
