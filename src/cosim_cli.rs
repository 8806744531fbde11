//! `nmsat cosim`: one program on the Verilated RTL core and in the exact simulator, every DRAM
//! word and every instruction's start and end cycle compared; plus the three simulators'
//! speeds on it.

use crate::UserError;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::Program;
use nmsat_compiler::prune::{pack_row, Nm};
use nmsat_compiler::timing::gemm_cycles;
use nmsat_hw::{
    build_core, build_ws_array_design, cosim_program, random_program, ws_gemm, BuildOptions,
};
use nmsat_sim::exact::array::run_gemm;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct CosimArgs {
    /// Accelerator description: a built-in name or a YAML path.
    #[arg(long, default_value = "sat-small")]
    arch: String,
    /// The program to run (.json, or the binary form for any other extension).
    #[arg(long, conflicts_with_all = ["random", "gemm"])]
    program: Option<PathBuf>,
    /// Instead of a program: one GEMM `MxNxK` (y[M×N] = w[M×K]·x[K×N]) on the RTL PE grid,
    /// driven by the exact model's edges, against the exact array.
    #[arg(long, conflicts_with = "random")]
    gemm: Option<String>,
    /// The GEMM's N:M pattern (`--gemm` only; dense without it).
    #[arg(long, requires = "gemm")]
    nm: Option<String>,
    /// Instead of a program file: this many random loads, stores, prunes and vector operations
    /// (element-wise, SGD, loss gradients: what the core runs end to end while its array unit
    /// is missing), then every scratchpad region stored whole.
    #[arg(long)]
    random: Option<usize>,
    /// Seed of the host inputs (and of `--random`).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write a VCD of the RTL run here.
    #[arg(long)]
    vcd: Option<PathBuf>,
    /// Where built Verilator models are kept (reused when the Verilog is the same).
    #[arg(long, default_value = "out/verilator-cache")]
    cache: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn read_program(path: &PathBuf) -> Result<Program, UserError> {
    let bytes = std::fs::read(path)
        .map_err(|e| UserError(format!("{}: cannot read: {e}", path.display())))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        String::from_utf8(bytes)
            .map_err(|e| e.to_string())
            .and_then(|t| Program::from_json(&t))
    } else {
        Program::from_binary(&bytes)
    };
    parsed.map_err(|e| UserError(format!("{}: {e}", path.display())))
}

pub fn run(a: CosimArgs) -> Result<(), UserError> {
    let arch = Arch::load(&a.arch)?;
    if let Some(dims) = &a.gemm {
        return run_gemm_cosim(&arch, dims, a.nm.as_deref(), &a);
    }
    let prog = match (&a.program, a.random) {
        (Some(p), _) => read_program(p)?,
        (None, Some(n)) => random_program(&arch, n, a.seed),
        (None, None) => {
            return Err(crate::cli_error(
                "--program",
                "say what to run".into(),
                "--program FILE, --random N or --gemm MxNxK",
            ))
        }
    };
    if prog.arch != arch.name {
        return Err(UserError(format!(
            "the program was compiled for `{}`, not `{}`",
            prog.arch, arch.name
        )));
    }
    nmsat_hw::encode(&arch, &prog)
        .map_err(|e| UserError(format!("the RTL core cannot run it: {e}")))?;
    let hw = |e: nmsat_hw::HwError| crate::hw_error(&arch, e);
    let mut opts = BuildOptions::new(&a.cache);
    opts.trace = a.vcd.is_some();
    let began = Instant::now();
    let design = build_core(&arch, &opts).map_err(hw)?;
    let build = began.elapsed().as_secs_f64();
    let c = cosim_program(&design, &arch, &prog, a.seed, a.vcd.as_deref()).map_err(hw)?;
    let began = Instant::now();
    let fast = nmsat_sim::simulate_fast(&arch, &prog).map_err(UserError)?;
    let fast_secs = began.elapsed().as_secs_f64();
    let rate = |secs: f64| c.exact_cycles as f64 / secs.max(1e-9);
    let (rtl_rate, exact_rate, fast_rate) = (
        rate(c.rtl.elapsed.as_secs_f64()),
        rate(c.exact_elapsed.as_secs_f64()),
        rate(fast_secs),
    );
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "arch": arch.name,
                "program": prog.model,
                "instructions": prog.instrs.len(),
                "match": c.mismatch.is_none(),
                "mismatch": c.mismatch.as_ref().map(|m| m.to_string()),
                "rtl_cycles": c.rtl.cycles,
                "exact_cycles": c.exact_cycles,
                "fast_cycles": fast.stats.cycles,
                "dram_words": c.words,
                "cycles_per_second": {"rtl": rtl_rate, "exact": exact_rate, "fast": fast_rate},
                "build_seconds": build,
            })
        );
    } else {
        println!(
            "{} on {}: {} instructions, {} DRAM words",
            prog.model,
            arch.name,
            prog.instrs.len(),
            c.words
        );
        println!(
            "cycles: RTL {}, exact {}, fast {}",
            c.rtl.cycles, c.exact_cycles, fast.stats.cycles
        );
        println!(
            "speed (simulated cycles per second of host time): RTL {:.3e}, exact {:.3e}, fast \
             {:.3e}  (Verilator model ready in {build:.1} s)",
            rtl_rate, exact_rate, fast_rate
        );
        if let Some(v) = &a.vcd {
            println!("VCD of the RTL run: {}", v.display());
        }
    }
    match &c.mismatch {
        None => {
            if !a.json {
                println!("match: every instruction's start and end cycle and every DRAM word");
            }
            Ok(())
        }
        Some(m) => Err(UserError(format!("MISMATCH — first difference: {m}"))),
    }
}

/// `--gemm`: one GEMM on the Verilated PE grid and in the exact array, results and cycles
/// compared.
fn run_gemm_cosim(
    arch: &Arch,
    dims: &str,
    nm: Option<&str>,
    a: &CosimArgs,
) -> Result<(), UserError> {
    let bad = || {
        crate::cli_error(
            "--gemm",
            format!("`{dims}` is not MxNxK"),
            "three positive integers, e.g. 37x29x45",
        )
    };
    let d: Vec<usize> = dims
        .split('x')
        .map(|v| v.parse::<usize>().ok().filter(|&v| v > 0))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let [m, t, k] = d[..] else { return Err(bad()) };
    let sparsity = nm
        .map(|s| {
            let nm: Nm = s
                .parse()
                .map_err(|e| crate::cli_error("--nm", e, "N:M with 1 ≤ N < M ≤ 16"))?;
            arch.supports(nm)
                .map_err(|e| crate::cli_error("--nm", e, "a pattern the description lists"))?;
            Ok::<Nm, UserError>(nm)
        })
        .transpose()?;
    let mut state = a.seed;
    let mut value = || {
        // SplitMix64, reduced to small INT16 values so the accumulators do not saturate.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        ((z ^ (z >> 27)) % 601) as i16 - 300
    };
    let w: Vec<i16> = (0..m * k).map(|_| value()).collect();
    let x: Vec<i16> = (0..k * t).map(|_| value()).collect();
    let bytes: Vec<u8> = match sparsity {
        None => w.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Some(nm) => w.chunks(k).flat_map(|row| pack_row(row, nm)).collect(),
    };
    let hw = |e: nmsat_hw::HwError| crate::hw_error(arch, e);
    let began = Instant::now();
    let mut want = vec![0i32; m * t];
    let exact = run_gemm(arch, m, k, t, sparsity, &bytes, &x, &mut want, false);
    let exact_secs = began.elapsed().as_secs_f64();
    let mut opts = BuildOptions::new(&a.cache);
    opts.trace = a.vcd.is_some();
    let design = build_ws_array_design(arch, &opts).map_err(hw)?;
    let mut model = design.instantiate();
    if let Some(v) = &a.vcd {
        model.trace(v).map_err(hw)?;
    }
    let mut got = vec![0i32; m * t];
    let began = Instant::now();
    let cycles = ws_gemm(
        &mut model,
        arch,
        (m, k, t),
        sparsity,
        &bytes,
        &x,
        &mut got,
        false,
    )
    .map_err(hw)?;
    let rtl_secs = began.elapsed().as_secs_f64();
    let formula = gemm_cycles(arch, m as u64, k as u64, t as u64, sparsity);
    let label = sparsity.map_or("dense".to_string(), |n| n.to_string());
    let first = (0..got.len()).find(|&i| got[i] != want[i]);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "arch": arch.name, "gemm": dims, "nm": label,
                "match": first.is_none() && cycles == exact.cycles,
                "rtl_cycles": cycles, "exact_cycles": exact.cycles, "timing_cycles": formula,
                "results": got.len(),
                "cycles_per_second": {"rtl": cycles as f64 / rtl_secs.max(1e-9), "exact": exact.cycles as f64 / exact_secs.max(1e-9)},
            })
        );
    } else {
        println!(
            "GEMM {m}×{k}·{k}×{t} ({label}) on {}: the RTL PE grid, fed by the exact model's edges \
             (feeder, weight bus, output buffer)",
            arch.name
        );
        println!(
            "cycles: RTL {cycles}, exact {}, timing::gemm_cycles {formula}",
            exact.cycles
        );
        println!(
            "speed (simulated cycles per second): RTL {:.3e}, exact {:.3e}",
            cycles as f64 / rtl_secs.max(1e-9),
            exact.cycles as f64 / exact_secs.max(1e-9)
        );
    }
    if let Some(i) = first {
        return Err(UserError(format!(
            "MISMATCH — first difference: y[{}][{}] is {} on the RTL, {} in the exact model",
            i / t,
            i % t,
            got[i],
            want[i]
        )));
    }
    if cycles != exact.cycles {
        return Err(UserError(format!(
            "MISMATCH — the RTL took {cycles} cycles, the exact model {}",
            exact.cycles
        )));
    }
    if !a.json {
        println!("match: all {} results and the cycle count", got.len());
    }
    Ok(())
}
