//! `nmsat sim`: simulate the sparse and the dense iteration, print the comparison.

use crate::{build, SimArgs, Target, UserError};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::{Phase, Program, Unit};
use nmsat_sim::multicore::{self, MultiRun};
use nmsat_sim::stats::{region_names, Stats};
use nmsat_sim::Run;
use serde_json::json;

fn simulate(arch: &Arch, prog: &Program, mode: &str) -> Result<Run, UserError> {
    let run = match mode {
        "fast" => nmsat_sim::simulate_fast(arch, prog),
        "exact" => nmsat_sim::simulate_exact(arch, prog),
        other => {
            return Err(crate::cli_error(
                "--mode",
                format!("unknown mode `{other}`"),
                "fast, exact",
            ))
        }
    };
    run.map_err(|e| UserError(format!("simulation failed: {e}")))
}

fn check_mode(mode: &str) -> Result<(), UserError> {
    match mode {
        "fast" | "exact" => Ok(()),
        other => Err(crate::cli_error(
            "--mode",
            format!("unknown mode `{other}`"),
            "fast, exact",
        )),
    }
}

fn simulate_multicore(arch: &Arch, prog: &Program, mode: &str) -> Result<MultiRun, UserError> {
    check_mode(mode)?;
    let run = if mode == "exact" {
        multicore::simulate_exact(arch, prog)
    } else {
        multicore::simulate_fast(arch, prog)
    };
    run.map_err(|e| UserError(format!("simulation failed: {e}")))
}

pub fn run_sim(a: SimArgs) -> Result<(), UserError> {
    let arch = Arch::load(&a.target.arch)?;
    if arch.multicore.cores > 1 {
        return run_multicore(a, &arch);
    }
    let (arch, sparse) = build(&a.target, false)?;
    let (_, dense) = build(&a.target, true)?;
    let run = simulate(&arch, &sparse.program, &a.mode)?;
    let base = simulate(&arch, &dense.program, &a.mode)?;
    if let Some(path) = &a.trace {
        let t = nmsat_sim::trace::trace(&arch, &sparse.program, &run.schedule);
        std::fs::write(path, t.to_string())
            .map_err(|e| UserError(format!("{}: cannot write: {e}", path.display())))?;
    }
    let speedup = base.stats.cycles as f64 / run.stats.cycles.max(1) as f64;
    if a.json {
        println!(
            "{}",
            report_json(&sparse.program, &run.stats, &base.stats, speedup, &a.mode)
        );
    } else {
        print_report(&arch, &sparse.program, &run.stats, &base.stats, speedup);
    }
    Ok(())
}

fn unit_map<T: Copy + Into<serde_json::Value>>(v: [T; Unit::COUNT]) -> serde_json::Value {
    Unit::ALL
        .iter()
        .map(|u| (format!("{u:?}").to_lowercase(), v[u.index()].into()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn report_json(p: &Program, s: &Stats, d: &Stats, speedup: f64, mode: &str) -> serde_json::Value {
    json!({
        "arch": p.arch,
        "model": p.model,
        "batch": p.batch,
        "nm": p.nm.map(|n| n.to_string()),
        "mode": mode,
        "cycles": s.cycles,
        "dense_cycles": d.cycles,
        "speedup": speedup,
        "seconds": s.seconds,
        "utilization": s.utilization,
        "dense_utilization": d.utilization,
        "macs_dense": s.macs_dense,
        "macs_effective": s.macs_effective,
        "dram_bytes": s.dram_read + s.dram_written,
        "dram_read": s.dram_read,
        "dram_written": s.dram_written,
        "dram_gbps": s.dram_gbps,
        "energy_pj": s.energy_pj,
        "dense_energy_pj": d.energy_pj,
        "busy": unit_map(s.busy),
        "phases": Phase::ALL.iter().enumerate().map(|(i, ph)| (ph.name().to_lowercase(), unit_map(s.phase_busy[i]))).collect::<serde_json::Map<_, _>>(),
        "stalls": Unit::ALL.iter().map(|u| (format!("{u:?}").to_lowercase(), serde_json::to_value(&s.stalls[u.index()]).expect("plain data"))).collect::<serde_json::Map<_, _>>(),
        "scratchpad_read": region_names().iter().zip(s.sp_read).map(|(n, b)| (n.to_string(), b.into())).collect::<serde_json::Map<_, _>>(),
        "scratchpad_written": region_names().iter().zip(s.sp_written).map(|(n, b)| (n.to_string(), b.into())).collect::<serde_json::Map<_, _>>(),
        "transfers": s.transfers,
        "layers": s.layers.iter().map(|l| json!({
            "name": l.name, "array_cycles": l.busy[Unit::Array.index()], "load_cycles": l.busy[Unit::Load.index()], "store_cycles": l.busy[Unit::Store.index()],
            "vector_cycles": l.busy[Unit::Vector.index()], "prune_cycles": l.busy[Unit::Prune.index()],
            "first_cycle": l.first, "last_cycle": l.last, "macs_dense": l.macs_dense, "macs_effective": l.macs_effective,
        })).collect::<Vec<_>>(),
    })
}

fn print_report(arch: &Arch, p: &Program, s: &Stats, d: &Stats, speedup: f64) {
    let nm = p.nm.map_or("dense".to_string(), |n| n.to_string());
    println!(
        "{} on {} ({}×{} @ {} MHz) — batch {}, {nm}",
        p.model, p.arch, arch.rows, arch.cols, arch.clock_mhz, p.batch
    );
    println!();
    println!("{:<24} {:>16} {:>16}", "", nm, "dense");
    let row = |name: &str, a: String, b: String| println!("{name:<24} {a:>16} {b:>16}");
    row("cycles", s.cycles.to_string(), d.cycles.to_string());
    row(
        "time (ms)",
        format!("{:.3}", s.seconds * 1e3),
        format!("{:.3}", d.seconds * 1e3),
    );
    row(
        "PE utilization",
        format!("{:.1}%", 100.0 * s.utilization),
        format!("{:.1}%", 100.0 * d.utilization),
    );
    row(
        "effective MACs",
        s.macs_effective.to_string(),
        d.macs_effective.to_string(),
    );
    row(
        "DRAM read (bytes)",
        s.dram_read.to_string(),
        d.dram_read.to_string(),
    );
    row(
        "DRAM written (bytes)",
        s.dram_written.to_string(),
        d.dram_written.to_string(),
    );
    row(
        "DRAM bandwidth (GB/s)",
        format!("{:.2}", s.dram_gbps),
        format!("{:.2}", d.dram_gbps),
    );
    row(
        "energy (mJ)",
        format!("{:.3}", s.energy_pj * 1e-9),
        format!("{:.3}", d.energy_pj * 1e-9),
    );
    println!();
    println!("speedup over dense training: {speedup:.3}×");
    println!();
    println!("busy cycles by phase ({nm}):");
    let header = Unit::ALL
        .map(|u| format!("{:>12}", format!("{u:?}").to_lowercase()))
        .join(" ");
    println!("{:<8} {header}", "phase");
    for (i, ph) in Phase::ALL.iter().enumerate() {
        let cells = s.phase_busy[i].map(|b| format!("{b:>12}")).join(" ");
        println!("{:<8} {cells}", ph.name());
    }
    println!();
    println!("stall cycles by unit ({nm}):");
    println!(
        "{:<8} {:>12} {:>12} {:>12} {:>14}",
        "unit", "on dma", "on prune", "on deps", "bank/port"
    );
    for u in Unit::ALL {
        let st = &s.stalls[u.index()];
        println!(
            "{:<8} {:>12} {:>12} {:>12} {:>14}",
            format!("{u:?}").to_lowercase(),
            st.dma,
            st.prune,
            st.dependency,
            st.bank_conflict
        );
    }
    println!();
    let mut transfers: Vec<_> = s.transfers.iter().collect();
    transfers.sort_by_key(|t| std::cmp::Reverse(t.cycles));
    println!("DMA transfers by kind ({nm}):");
    println!(
        "{:<14} {:<10} {:<7} {:>8} {:>14} {:>14} {:>10}",
        "direction", "shape", "region", "count", "cycles", "DRAM bytes", "bytes/cyc"
    );
    for t in transfers {
        println!(
            "{:<14} {:<10} {:<7} {:>8} {:>14} {:>14} {:>10.2}",
            t.direction,
            t.shape,
            t.region,
            t.count,
            t.cycles,
            t.dram_bytes,
            t.dram_bytes as f64 / t.cycles.max(1) as f64
        );
    }
    println!();
    let mut layers: Vec<_> = s.layers.iter().filter(|l| l.macs_dense > 0).collect();
    layers.sort_by_key(|l| std::cmp::Reverse(l.busy[Unit::Array.index()]));
    println!("busiest layers on the array ({nm}):");
    println!(
        "{:<28} {:>14} {:>14} {:>10}",
        "layer", "array cycles", "dma cycles", "MAC ratio"
    );
    for l in layers.iter().take(10) {
        println!(
            "{:<28} {:>14} {:>14} {:>10.3}",
            l.name,
            l.busy[Unit::Array.index()],
            l.busy[Unit::Load.index()] + l.busy[Unit::Store.index()],
            l.macs_effective as f64 / l.macs_dense.max(1) as f64
        );
    }
}

/// The K-core iteration: each core compiles and runs `batch / K` samples; the report adds the
/// reduction and the scaling over one core running the whole batch.
fn run_multicore(a: SimArgs, arch: &Arch) -> Result<(), UserError> {
    let k = arch.multicore.cores;
    let t = &a.target;
    let per = multicore::per_core_batch(arch, t.batch)
        .map_err(|e| crate::cli_error("--batch", e, &format!("a multiple of {k}")))?;
    let share = Target {
        arch: t.arch.clone(),
        model: t.model.clone(),
        nm: t.nm.clone(),
        batch: per,
        recipe: t.recipe.clone(),
        dense_layers: t.dense_layers.clone(),
    };
    let (arch, sparse) = build(&share, false)?;
    let (_, dense) = build(&share, true)?;
    let sparse = multicore::data_parallel(sparse.program, t.batch);
    let dense = multicore::data_parallel(dense.program, t.batch);
    let run = simulate_multicore(&arch, &sparse, &a.mode)?;
    let base = simulate_multicore(&arch, &dense, &a.mode)?;
    // One core on the whole batch: what the cores scale over (the single-core simulation
    // ignores `multicore`).
    let (_, whole) = build(t, false)?;
    let single = simulate(&arch, &whole.program, &a.mode)?;
    if let Some(path) = &a.trace {
        let tr = nmsat_sim::trace::trace(&arch, &sparse, &run.schedule);
        std::fs::write(path, tr.to_string())
            .map_err(|e| UserError(format!("{}: cannot write: {e}", path.display())))?;
    }
    let speedup = base.stats.cycles as f64 / run.stats.cycles.max(1) as f64;
    let scaling = single.stats.cycles as f64 / run.stats.cycles.max(1) as f64;
    if a.json {
        let mut v = report_json(&sparse, &run.stats, &base.stats, speedup, &a.mode);
        v["batch"] = json!(t.batch);
        v["multicore"] = json!({
            "cores": k,
            "reduction": arch.multicore.reduction.name(),
            "interconnect": arch.multicore.interconnect.name,
            "blocks": multicore::Plan::new(&arch, &sparse).blocks,
            "per_core_batch": per,
            "core_cycles": run.core_cycles,
            "reduction_cycles": run.reduction.cycles,
            "exposed_reduction_cycles": run.exposed_reduction_cycles(),
            "reduction_tiles": run.reduction.tiles,
            "reduction_words": run.reduction.words,
            "reduction_bytes": run.reduction.bytes,
            "reduction_atomics": run.reduction.atomics,
            "dense_reduction_cycles": base.reduction.cycles,
            "single_core_cycles": single.stats.cycles,
            "scaling_speedup": scaling,
            "efficiency": scaling / k as f64,
        });
        println!("{v}");
        return Ok(());
    }
    print_report(&arch, &sparse, &run.stats, &base.stats, speedup);
    let plan = multicore::Plan::new(&arch, &sparse);
    println!();
    println!(
        "{k} cores, {} reduction over the mesh of `{}` (blocks {}), batch {} = {k} × {per}:",
        arch.multicore.reduction.name(),
        arch.multicore.interconnect.name,
        plan.blocks
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        t.batch
    );
    let row = |name: &str, v: String| println!("  {name:<40} {v:>16}");
    row("iteration cycles", run.stats.cycles.to_string());
    row("one core's share alone", run.core_cycles.to_string());
    row(
        &format!("reduction cycles ({} gradient tiles)", run.reduction.tiles),
        run.reduction.cycles.to_string(),
    );
    row(
        "of which exposed in the iteration",
        run.exposed_reduction_cycles().to_string(),
    );
    row(
        "INT32 accumulators reduced per core",
        run.reduction.words.to_string(),
    );
    row("mesh traffic (bytes)", run.reduction.bytes.to_string());
    row("remote atomic adds", run.reduction.atomics.to_string());
    row(
        "one core, whole batch (cycles)",
        single.stats.cycles.to_string(),
    );
    row("speedup over one core", format!("{scaling:.3}×"));
    row(
        "parallel efficiency",
        format!("{:.1}%", 100.0 * scaling / k as f64),
    );
    Ok(())
}
