//! `nmsat spgemm`: SpGEMM kernels on the PIUMA-like machine, compared.

use crate::UserError;
use nmsat_compiler::arch::piuma::Piuma;
use nmsat_sim::spgemm::csr::{spgemm_reference, Csr};
use nmsat_sim::spgemm::mtx::read_mtx;
use nmsat_sim::spgemm::rmat::Rmat;
use nmsat_sim::spgemm::{run_kernel, speedups, Kernel, KernelStats};
use rayon::prelude::*;
use serde_json::json;
use std::time::Instant;

#[derive(clap::Args)]
pub struct SpgemmArgs {
    /// Machine description: a built-in name (piuma-block) or a YAML path.
    #[arg(long, default_value = "piuma-block")]
    arch: String,
    /// Matrix A, a Matrix Market file.
    #[arg(long, conflicts_with = "rmat", required_unless_present = "rmat")]
    a: Option<String>,
    /// Matrix B, a Matrix Market file (default: A, so the product is A·A).
    #[arg(long, requires = "a")]
    b: Option<String>,
    /// Generate A by R-MAT with the Graph500 parameters, SCALE[:EDGEFACTOR] (edge factor 16 by
    /// default), and compute A·A.
    #[arg(long)]
    rmat: Option<String>,
    /// Seed of the R-MAT generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// smash, inner, outer or all.
    #[arg(long, default_value = "all")]
    kernel: String,
    /// Also compute the reference product and check every kernel against it.
    #[arg(long)]
    check: bool,
    /// Print one JSON object per kernel (one per line) instead of the table.
    #[arg(long)]
    json: bool,
}

fn parse_rmat(spec: &str, seed: u64) -> Result<Rmat, UserError> {
    let bad = |msg: String| {
        crate::cli_error(
            "--rmat",
            msg,
            "SCALE[:EDGEFACTOR], e.g. 16 or 16:16 (scale 1..=26)",
        )
    };
    let (scale, ef) = match spec.split_once(':') {
        Some((s, e)) => (s, e),
        None => (spec, "16"),
    };
    let scale: u32 = scale
        .parse()
        .map_err(|_| bad(format!("`{scale}` is not a scale")))?;
    let ef: u64 = ef
        .parse()
        .map_err(|_| bad(format!("`{ef}` is not an edge factor")))?;
    Ok(Rmat::graph500(scale, ef, seed))
}

pub fn run(a: SpgemmArgs) -> Result<(), UserError> {
    let p = Piuma::load(&a.arch)?;
    let kernels: Vec<Kernel> = match a.kernel.as_str() {
        "all" => Kernel::ALL.to_vec(),
        k => vec![Kernel::parse(k).ok_or_else(|| {
            crate::cli_error(
                "--kernel",
                format!("unknown kernel `{k}`"),
                "smash, inner, outer, all",
            )
        })?],
    };
    let t = Instant::now();
    let (ma, mb, what): (Csr, Option<Csr>, String) = match (&a.rmat, &a.a) {
        (Some(spec), _) => {
            let r = parse_rmat(spec, a.seed)?;
            let m = r
                .generate()
                .map_err(|e| crate::cli_error("--rmat", e, "scale 1..=26, edge factor 1..=1024"))?;
            let what = format!(
                "R-MAT scale {}, edge factor {} (seed {})",
                r.scale, r.edge_factor, r.seed
            );
            (m, None, what)
        }
        (None, Some(pa)) => {
            let ma = read_mtx(pa)?;
            let mb = a.b.as_deref().map(read_mtx).transpose()?;
            let what = match &a.b {
                Some(pb) => format!("{pa} · {pb}"),
                None => format!("{pa} squared"),
            };
            (ma, mb, what)
        }
        (None, None) => unreachable!("clap requires --a or --rmat"),
    };
    let mb_ref = mb.as_ref().unwrap_or(&ma);
    let t_input = t.elapsed().as_secs_f64();
    let reference = if a.check {
        Some(spgemm_reference(&ma, mb_ref).map_err(|e| UserError(e.to_string()))?)
    } else {
        None
    };
    // The kernels are independent simulations: they run side by side, one per host core.
    let t_kernels = Instant::now();
    let runs: Vec<Result<(KernelStats, f64), UserError>> = kernels
        .par_iter()
        .with_max_len(1)
        .map(|k| {
            let t = Instant::now();
            let run = run_kernel(&p, *k, &ma, mb_ref).map_err(UserError)?;
            let wall = t.elapsed().as_secs_f64();
            if let Some(want) = &reference {
                run.c.approx_eq(want, 1e-12).map_err(|e| {
                    UserError(format!(
                        "internal error: {} differs from the reference: {e}",
                        k.name()
                    ))
                })?;
            }
            Ok((run.stats, wall))
        })
        .collect();
    let mut stats: Vec<KernelStats> = Vec::new();
    let mut wall: Vec<f64> = Vec::new();
    for r in runs {
        let (s, w) = r?;
        stats.push(s);
        wall.push(w);
    }
    let sp = speedups(&stats);
    if a.json {
        for s in &stats {
            let mut v = serde_json::to_value(s).expect("stats serialise");
            let over: serde_json::Map<String, serde_json::Value> = sp
                .iter()
                .filter(|(k, _, _)| *k == s.kernel)
                .map(|(_, o, x)| (o.to_string(), json!(x)))
                .collect();
            v["speedup_over"] = over.into();
            v["arch"] = json!(p.name);
            v["matrix"] = json!(what);
            println!("{v}");
        }
        return Ok(());
    }
    println!(
        "{what}: A {}×{} with {} non-zeros; {} products; C has {} non-zeros",
        ma.nrows,
        ma.ncols,
        ma.nnz(),
        stats[0].flops,
        stats[0].nnz_out
    );
    println!(
        "machine {}: {} blocks on a {}×{} mesh, {} threads each ({}×{} MTP + {} STP), {} MHz",
        p.name,
        p.blocks(),
        p.mesh.rows,
        p.mesh.cols,
        p.threads_per_block(),
        p.mtp.count,
        p.mtp.threads,
        p.stp.count,
        p.clock_mhz
    );
    println!();
    println!(
        "{:<6} {:>13} {:>9} {:>10} {:>11} {:>10} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8}",
        "kernel",
        "cycles",
        "time ms",
        "DRAM MB",
        "atomics",
        "collisions",
        "windows",
        "spad",
        "thread",
        "issue",
        "DRAM",
        "wall s"
    );
    for (s, w) in stats.iter().zip(&wall) {
        println!(
            "{:<6} {:>13} {:>9.3} {:>10.1} {:>11} {:>10} {:>9} {:>6.1}% {:>6.1}% {:>6.1}% {:>6.1}% {:>8.2}",
            s.kernel,
            s.cycles,
            s.seconds * 1e3,
            s.dram_bytes as f64 / 1e6,
            s.atomics,
            s.hash_collisions,
            s.windows,
            100.0 * s.spad_occupancy,
            100.0 * s.thread_utilization,
            100.0 * s.issue_utilization,
            100.0 * s.dram_utilization,
            w
        );
    }
    println!(
        "(spad: peak scratchpad occupancy; thread, issue, DRAM: utilization; wall: host seconds)"
    );
    if stats.len() > 1 {
        println!();
        for s in &stats {
            let over: Vec<String> = sp
                .iter()
                .filter(|(k, _, _)| *k == s.kernel)
                .map(|(_, o, x)| format!("{x:.2}× over {o}"))
                .collect();
            println!("{}: {}", s.kernel, over.join(", "));
        }
    }
    let total = t_kernels.elapsed().as_secs_f64();
    println!();
    println!(
        "host time: input {t_input:.2} s, kernels {total:.2} s (side by side){}",
        if reference.is_some() {
            ", every product checked against the reference"
        } else {
            ""
        }
    );
    Ok(())
}
