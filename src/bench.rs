//! `nmsat bench`: the speed figures the simulator promises, measured and printed (never asserted).

use crate::UserError;
use nmsat_compiler::arch::{Arch, Banking};
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::model::load_model;
use nmsat_compiler::prune::{pack_row, Nm};
use nmsat_compiler::schedule::compile;
use nmsat_sim::exact::array::run_gemm;
use std::time::Instant;

fn fail(e: impl std::fmt::Display) -> UserError {
    UserError(e.to_string())
}

/// Best of `reps` wall-clock runs of `f`, in seconds.
fn best_of<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.expect("reps ≥ 1"))
}

pub fn run_bench() -> Result<(), UserError> {
    let arch = Arch::load("sat-vcu1525")?;
    let nm = Nm { n: 2, m: 8 };

    // Fast mode on a full ResNet-50 iteration (FF+BP+WU+update, batch 16, 224×224, 2:8).
    let model = load_model("resnet50")?;
    // Best of 3, like the other figures: one run is at the mercy of whatever shares the core.
    let (t_compile, compiled) = best_of(3, || compile(&arch, &model, &TrainOptions::bdwp(16, nm)));
    let prog = compiled?.program;
    let (t_fast, run) = best_of(3, || nmsat_sim::simulate_fast(&arch, &prog));
    let run = run.map_err(fail)?;
    println!("fast mode, ResNet-50 training iteration (batch 16, 2:8) on sat-vcu1525:");
    println!(
        "  {} instructions, {} simulated cycles",
        prog.instrs.len(),
        run.stats.cycles
    );
    println!("  compile {t_compile:.3} s; simulate {t_fast:.3} s (each best of 3, one core)");
    // The same program with every region physically banked (the program does not depend on
    // the banking): each kind of transfer is timed by a pass over its elements.
    let mut physical = arch.clone();
    for r in [
        &mut physical.weight,
        &mut physical.input,
        &mut physical.output,
    ] {
        r.banking = Banking::Physical;
    }
    let (t_phys, run) = best_of(1, || nmsat_sim::simulate_fast(&physical, &prog));
    println!(
        "  every scratchpad region physically banked: {} simulated cycles; simulate {t_phys:.3} s (one run)",
        run.map_err(fail)?.stats.cycles
    );

    // Exact mode: the PE-by-PE array on a 32×32 GEMM tile.
    println!("exact mode, PE array of sat-vcu1525 (32×32), GEMM 256×1024×512:");
    let (m, k, t) = (256usize, 1024usize, 512usize);
    let value = |i: usize| ((i.wrapping_mul(2654435761) >> 7) % 512) as i16 - 256;
    let w: Vec<i16> = (0..m * k).map(value).collect();
    let x: Vec<i16> = (0..k * t).map(|i| value(i ^ 0x5a5a)).collect();
    for sparsity in [None, Some(nm)] {
        let bytes: Vec<u8> = match sparsity {
            None => w.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Some(nm) => w.chunks(k).flat_map(|r| pack_row(r, nm)).collect(),
        };
        let mut y = vec![0i32; m * t];
        let (secs, r) = best_of(3, || {
            run_gemm(&arch, m, k, t, sparsity, &bytes, &x, &mut y, false, None)
        });
        let pe_cycles = (arch.rows * arch.cols * r.cycles) as f64;
        let label = sparsity.map_or("dense".to_string(), |n| n.to_string());
        println!(
            "  {label:>5}: {} cycles in {secs:.3} s = {:.0} M PE-cycles/s",
            r.cycles,
            pe_cycles / secs / 1e6
        );
    }

    // Exact mode on a whole program: the tiny MLP's iteration on the 4×4 core.
    let small = Arch::load("sat-small")?;
    let mlp = load_model("tiny-mlp")?;
    let prog = compile(&small, &mlp, &TrainOptions::bdwp(16, nm))?.program;
    let (secs, run) = best_of(3, || nmsat_sim::simulate_exact(&small, &prog));
    let run = run.map_err(fail)?;
    println!("exact mode, tiny-MLP training iteration (batch 16, 2:8) on sat-small:");
    println!(
        "  {} simulated cycles in {secs:.4} s = {:.2} M cycles/s",
        run.stats.cycles,
        run.stats.cycles as f64 / secs / 1e6
    );
    Ok(())
}
