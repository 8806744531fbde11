//! `nmsat sweep` and `nmsat plot`: design-space sweeps over accelerator fields, N:M patterns,
//! models, batch sizes, recipes and optimization switches — parallel, resumable after any
//! interruption, sharded over machines — with a CSV, plots and an HTML report.
//!
//! A results directory holds `sweep.yaml` (the description, verbatim), `meta.json` (where it
//! came from and which shard this is), `results.jsonl` (one record per finished point, in
//! completion order), `results.csv` (one row per point, in point order), the plots (`*.png`,
//! `*.svg`) and `report.html`. Everything but `results.jsonl` is derived from it.

mod accuracy;
mod area;
mod axes;
mod constraint;
mod evaluate;
pub(crate) mod plots;
mod points;
mod report;
mod results;
mod run;
mod select;
mod spec;
mod value;

use crate::UserError;
use points::Point;
use results::Record;
use spec::Spec;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Arguments of `nmsat sweep`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    action: Option<SweepAction>,
    /// The sweep description, e.g. configs/sweeps/sat-vcu1525.yaml.
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// Points evaluated at once (default: every core).
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    /// Results directory (default: results/<name>, or results/<name>-shard-<k>of<N>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only shard k of N (k from 0): points k, k+N, k+2N, … Join shards with `merge`.
    #[arg(long, value_name = "k/N")]
    shard: Option<String>,
}

#[derive(clap::Subcommand)]
enum SweepAction {
    /// Join the results directories of the shards of one sweep into one.
    Merge {
        /// The merged results directory.
        #[arg(long)]
        out: PathBuf,
        /// The shards' results directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
}

/// Arguments of `nmsat plot`.
#[derive(clap::Args)]
pub struct PlotArgs {
    /// A results directory written by `nmsat sweep`.
    dir: PathBuf,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> UserError {
    UserError(format!("{}: {e}", path.display()))
}

/// `meta.json`: where the description came from (as given, and the absolute directory that
/// relative paths in it resolve against) and which shard the directory holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    spec_file: String,
    spec_dir: String,
    shard: Option<String>,
}

fn write_meta(
    spec: &Spec,
    spec_dir: &Path,
    out: &Path,
    shard: Option<String>,
) -> Result<(), UserError> {
    std::fs::create_dir_all(out).map_err(|e| io_err(out, format!("cannot create: {e}")))?;
    let abs = std::fs::canonicalize(spec_dir).unwrap_or_else(|_| spec_dir.to_path_buf());
    let meta = Meta {
        spec_file: spec.file.clone(),
        spec_dir: abs.to_string_lossy().into_owned(),
        shard,
    };
    let p = out.join("sweep.yaml");
    std::fs::write(&p, &spec.text).map_err(|e| io_err(&p, e))?;
    let p = out.join("meta.json");
    std::fs::write(&p, serde_json::to_string_pretty(&meta).expect("plain data"))
        .map_err(|e| io_err(&p, e))
}

/// The description kept in a results directory.
fn load_kept(dir: &Path) -> Result<(Spec, Meta), UserError> {
    let p = dir.join("meta.json");
    let text = std::fs::read_to_string(&p)
        .map_err(|e| io_err(&p, format!("not a sweep results directory: {e}")))?;
    let meta: Meta = serde_json::from_str(&text).map_err(|e| io_err(&p, e))?;
    let p = dir.join("sweep.yaml");
    let text = std::fs::read_to_string(&p).map_err(|e| io_err(&p, e))?;
    let spec = Spec::parse(&meta.spec_file, &text, Path::new(&meta.spec_dir))?;
    Ok((spec, meta))
}

/// Whether a point is the focus design for its model (its per-layer figures are kept).
fn is_focus(spec: &Spec, p: &Point) -> bool {
    spec.axes
        .iter()
        .zip(&p.values)
        .zip(&spec.focus)
        .all(|((a, v), f)| a.kind == axes::AxisKind::Model || v == f)
}

/// The records of `points` among `records`, re-indexed to the current list of points (so a
/// description edited between runs keeps the points it still has).
fn records_of(points: &[Point], records: Vec<Record>) -> Vec<Record> {
    let index: HashMap<&str, usize> = points.iter().map(|p| (p.key.as_str(), p.index)).collect();
    let mut v: Vec<Record> = records
        .into_iter()
        .filter_map(|mut r| {
            r.index = *index.get(r.key.as_str())?;
            Some(r)
        })
        .collect();
    v.sort_by_key(|r| r.index);
    v
}

/// Writes `results.csv` and, unless `csv_only`, the plots and `report.html`.
fn write_outputs(
    spec: &Spec,
    records: &[Record],
    total: usize,
    out: &Path,
    csv_only: bool,
) -> Result<(), UserError> {
    let axes: Vec<String> = spec.axes.iter().map(|a| a.name.clone()).collect();
    let p = out.join("results.csv");
    let accuracy = spec.accuracy.is_some() || records.iter().any(|r| r.accuracy.is_some());
    std::fs::write(&p, results::csv(&axes, records, accuracy)).map_err(|e| io_err(&p, e))?;
    if csv_only {
        return Ok(());
    }
    let figs = plots::draw_all(spec, records, out).map_err(UserError)?;
    report::write(spec, records, total, &figs, out).map_err(UserError)?;
    println!(
        "wrote {}/results.csv, {} plots (PNG + SVG) and report.html",
        out.display(),
        figs.len()
    );
    Ok(())
}

/// `nmsat sweep …`.
pub fn run(a: SweepArgs) -> Result<(), UserError> {
    match a.action {
        Some(SweepAction::Merge { out, dirs }) => merge(&out, &dirs),
        None => run_sweep(
            a.file.as_deref().expect("clap requires it"),
            a.jobs,
            a.out,
            a.shard.as_deref(),
        ),
    }
}

fn run_sweep(
    file: &Path,
    jobs: Option<usize>,
    out: Option<PathBuf>,
    shard: Option<&str>,
) -> Result<(), UserError> {
    let spec = Spec::load(file)?;
    let all = points::points(&spec)?;
    let shard = shard
        .map(|s| {
            points::parse_shard(s).map_err(|e| crate::cli_error("--shard", e, "k/N with 0 ≤ k < N"))
        })
        .transpose()?;
    let jobs = match jobs {
        Some(0) => return Err(crate::cli_error("-j", "0 threads".into(), "1 or more")),
        Some(j) => j,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let out = out.unwrap_or_else(|| match shard {
        Some((k, n)) => PathBuf::from(format!("results/{}-shard-{k}of{n}", spec.name)),
        None => PathBuf::from(format!("results/{}", spec.name)),
    });
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    write_meta(&spec, dir, &out, shard.map(|(k, n)| format!("{k}/{n}")))?;
    let mine: Vec<Point> = all
        .iter()
        .filter(|p| shard.is_none_or(|s| points::in_shard(p.index, s)))
        .cloned()
        .collect();
    let jsonl = out.join("results.jsonl");
    let done: std::collections::HashSet<String> = results::read_jsonl(&jsonl)
        .map_err(UserError)?
        .into_iter()
        .map(|r| r.key)
        .collect();
    let todo: Vec<Point> = mine
        .iter()
        .filter(|p| !done.contains(&p.key))
        .cloned()
        .collect();
    eprintln!(
        "sweep `{}`: {} points{}, {} finished before, {} to run on {jobs} thread{} ({} mode) → {}",
        spec.name,
        all.len(),
        shard.map_or(String::new(), |(k, n)| format!(
            " (shard {k}/{n}: {})",
            mine.len()
        )),
        mine.len() - todo.len(),
        todo.len(),
        if jobs == 1 { "" } else { "s" },
        if spec.exact { "exact" } else { "fast" },
        out.display()
    );
    let o =
        run::run_points(&spec, &todo, &out, jobs, &|p| is_focus(&spec, p)).map_err(UserError)?;
    if o.ran > 0 {
        let cpu = o.compile_s + o.simulate_s + o.dense_s + o.train_s;
        let training = if o.train_s > 0.0 {
            format!(", training {:.0}%", 100.0 * o.train_s / cpu.max(1e-12))
        } else {
            String::new()
        };
        println!(
            "{} points in {:.1} s ({:.2} points/s), {} failed; thread time {:.1} s: compile {:.0}%, \
             simulate {:.0}%, dense baselines {:.0}% (compile + simulate){training}",
            o.ran,
            o.wall_s,
            o.ran as f64 / o.wall_s.max(1e-9),
            o.failed,
            cpu,
            100.0 * o.compile_s / cpu.max(1e-12),
            100.0 * o.simulate_s / cpu.max(1e-12),
            100.0 * o.dense_s / cpu.max(1e-12),
        );
    }
    let records = records_of(&mine, results::read_jsonl(&jsonl).map_err(UserError)?);
    write_outputs(&spec, &records, all.len(), &out, shard.is_some())?;
    if shard.is_some() {
        println!(
            "wrote {}/results.csv; join the shards with `nmsat sweep merge --out DIR SHARD_DIRS…`",
            out.display()
        );
    }
    Ok(())
}

fn merge(out: &Path, dirs: &[PathBuf]) -> Result<(), UserError> {
    let (spec, meta) = load_kept(&dirs[0])?;
    let mut records = Vec::new();
    for d in dirs {
        let p = d.join("sweep.yaml");
        let text = std::fs::read_to_string(&p).map_err(|e| io_err(&p, e))?;
        if text != spec.text {
            return Err(UserError(format!(
                "{}: another sweep description than {} — shards of one sweep only",
                p.display(),
                dirs[0].join("sweep.yaml").display()
            )));
        }
        records.extend(results::read_jsonl(&d.join("results.jsonl")).map_err(UserError)?);
    }
    let all = points::points(&spec)?;
    let mut seen = std::collections::HashSet::new();
    records.retain(|r| seen.insert(r.key.clone()));
    let records = records_of(&all, records);
    write_meta(&spec, Path::new(&meta.spec_dir), out, None)?;
    let mut text = String::new();
    for r in &records {
        text.push_str(&serde_json::to_string(r).expect("plain data"));
        text.push('\n');
    }
    let p = out.join("results.jsonl");
    std::fs::write(&p, text).map_err(|e| io_err(&p, e))?;
    println!(
        "merged {} of {} points from {} shard directories into {}",
        records.len(),
        all.len(),
        dirs.len(),
        out.display()
    );
    let have: std::collections::HashSet<&str> = records.iter().map(|r| r.key.as_str()).collect();
    let missing: Vec<&Point> = all
        .iter()
        .filter(|p| !have.contains(p.key.as_str()))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "warning: {} points are missing (first: {}); run their shards again to finish them",
            missing.len(),
            missing[0].key
        );
    }
    write_outputs(&spec, &records, all.len(), out, false)
}

/// `nmsat plot <dir>`: redraws the plots, the CSV and the report from a results directory.
pub fn plot(a: PlotArgs) -> Result<(), UserError> {
    let (spec, meta) = load_kept(&a.dir)?;
    let all = points::points(&spec)?;
    let mine: Vec<Point> = match meta.shard.as_deref().map(points::parse_shard) {
        Some(Ok(s)) => all
            .iter()
            .filter(|p| points::in_shard(p.index, s))
            .cloned()
            .collect(),
        _ => all.clone(),
    };
    let records = records_of(
        &mine,
        results::read_jsonl(&a.dir.join("results.jsonl")).map_err(UserError)?,
    );
    write_outputs(&spec, &records, all.len(), &a.dir, false)
}
