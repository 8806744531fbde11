//! Running the points of a sweep in parallel: a rayon pool evaluates them, each finished point
//! is appended to `results.jsonl` at once, and progress shows as a bar on a terminal or as one
//! plain line per point otherwise (Slurm logs, CI, pipes).

use super::evaluate::Evaluator;
use super::points::Point;
use super::results::{JsonlWriter, Record};
use super::spec::Spec;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a run did, and where its time went.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ran: usize,
    pub failed: usize,
    pub wall_s: f64,
    /// Summed over points (so over threads): compiling, simulating, the dense baselines.
    pub compile_s: f64,
    pub simulate_s: f64,
    pub dense_s: f64,
    /// Training for accuracy (sweeps with an `accuracy` setting).
    pub train_s: f64,
}

enum Progress {
    Bar(ProgressBar),
    Lines {
        total: usize,
        done: AtomicUsize,
        start: Instant,
    },
}

fn seconds(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.0} s")
    }
}

fn outcome_text(r: &Record) -> String {
    match (&r.metrics, &r.error) {
        (Some(m), e) => {
            let mut t = format!(
                "speedup {:.3}×, {:.1} samples/s",
                m.speedup, m.samples_per_s
            );
            if let Some(a) = &r.accuracy {
                t += &format!(", test accuracy {:.1}%", 100.0 * a.test_accuracy);
            }
            // A point that simulated but failed to train.
            if let Some(e) = e {
                t += &format!(", FAILED: {e}");
            }
            t
        }
        (None, Some(e)) => format!("FAILED: {e}"),
        (None, None) => "no result".into(),
    }
}

impl Progress {
    fn new(total: usize) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:32.cyan/blue} {pos}/{len} points  {per_sec}  ETA {eta}  {wide_msg}",
                )
                .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                total,
                done: AtomicUsize::new(0),
                start: Instant::now(),
            }
        }
    }

    fn point_done(&self, r: &Record) {
        match self {
            Progress::Bar(bar) => {
                if !r.ok {
                    bar.println(format!("{}: {}", r.key, outcome_text(r)));
                }
                bar.set_message(r.key.clone());
                bar.inc(1);
            }
            Progress::Lines { total, done, start } => {
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                let t = start.elapsed().as_secs_f64();
                let rate = n as f64 / t.max(1e-9);
                let eta = (total - n) as f64 / rate;
                eprintln!(
                    "[{n:>w$}/{total}] {rate:.2} points/s, ETA {}: {}: {}",
                    seconds(eta),
                    r.key,
                    outcome_text(r),
                    w = total.to_string().len()
                );
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Evaluates `todo` on `jobs` threads, appending each record to `<out>/results.jsonl` as it
/// finishes. `focus` tells which points keep their per-layer figures.
pub fn run_points(
    spec: &Spec,
    todo: &[Point],
    out: &Path,
    jobs: usize,
    focus: &(dyn Fn(&Point) -> bool + Sync),
) -> Result<Outcome, String> {
    let writer = Mutex::new(JsonlWriter::open(&out.join("results.jsonl"))?);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| format!("cannot start {jobs} threads: {e}"))?;
    // Shared by every run of the sweep (and its resumptions): keyed by the RTL's hash.
    let ev = Evaluator::new(spec, &out.join("synth-cache"));
    ev.plan(todo);
    let progress = Progress::new(todo.len());
    let sums = Mutex::new(Outcome::default());
    let start = Instant::now();
    let result = pool.install(|| {
        todo.par_iter().with_max_len(1).try_for_each(|p| {
            let r = ev.evaluate(p, focus(p));
            writer
                .lock()
                .expect("no panics while held")
                .append(&r)
                .map_err(|e| {
                    format!(
                        "{}: cannot append: {e}",
                        out.join("results.jsonl").display()
                    )
                })?;
            {
                let mut s = sums.lock().expect("no panics while held");
                s.ran += 1;
                s.failed += usize::from(!r.ok);
                s.compile_s += r.wall.compile_s;
                s.simulate_s += r.wall.simulate_s;
                s.dense_s += r.wall.dense_s;
                s.train_s += r.wall.train_s;
            }
            progress.point_done(&r);
            Ok::<(), String>(())
        })
    });
    progress.finish();
    result?;
    let mut o = sums.into_inner().expect("no panics while held");
    o.wall_s = start.elapsed().as_secs_f64();
    Ok(o)
}
