//! `nmsat speedups`: the README's table — BDWP speedup over dense training per model, and the
//! ablation with each dataflow optimization switched off.

use crate::UserError;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::model::load_model;
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::compile;

/// A column of the table: its heading and how it changes the description.
type Variant = (&'static str, fn(&mut Arch));

/// Cycles of one iteration in fast mode.
fn cycles(
    arch: &Arch,
    model: &nmsat_compiler::model::Model,
    opts: &TrainOptions,
) -> Result<u64, UserError> {
    let prog = compile(arch, model, opts)?.program;
    let run = nmsat_sim::simulate_fast(arch, &prog)
        .map_err(|e| UserError(format!("simulation failed: {e}")))?;
    Ok(run.stats.cycles)
}

pub fn run_speedups(
    arch_spec: &str,
    nm: &str,
    batch: u64,
    models: &[String],
) -> Result<(), UserError> {
    let base = Arch::load(arch_spec)?;
    let nm: Nm = nm
        .parse()
        .map_err(|e: String| UserError(format!("--nm: {e}")))?;
    let variants: [Variant; 4] = [
        ("all on", |_| {}),
        ("no interleave", |a| a.opt.interleave = false),
        ("no pre-generation", |a| a.opt.pregenerate = false),
        ("no double buffering", |a| a.opt.double_buffer = false),
    ];
    println!(
        "BDWP {nm} speedup over dense training, batch {batch}, `{}` (fast mode)",
        base.name
    );
    println!();
    print!("| model |");
    for (name, _) in &variants {
        print!(" {name} |");
    }
    println!();
    println!("|---|{}", "---:|".repeat(variants.len()));
    let mut sums = [0.0f64; 4];
    for name in models {
        let model = load_model(name)?;
        print!("| {name} |");
        for (i, (_, tweak)) in variants.iter().enumerate() {
            let mut arch = base.clone();
            tweak(&mut arch);
            let dense = cycles(&arch, &model, &TrainOptions::dense(batch))?;
            let sparse = cycles(&arch, &model, &TrainOptions::bdwp(batch, nm))?;
            let s = dense as f64 / sparse as f64;
            sums[i] += s;
            print!(" {s:.3}× |");
            use std::io::Write;
            std::io::stdout().flush().ok();
        }
        println!();
    }
    print!("| **average** |");
    for s in sums {
        print!(" **{:.3}×** |", s / models.len() as f64);
    }
    println!();
    Ok(())
}
