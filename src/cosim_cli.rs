//! `nmsat cosim`: one program on the Verilated RTL core and in the exact simulator, every DRAM
//! word and every instruction's start and end cycle compared; plus the three simulators'
//! speeds on it.

use crate::UserError;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::Program;
use nmsat_compiler::prune::Nm;
use nmsat_hw::{build_core, cosim_program, gemm_program, random_program, BuildOptions};
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
    /// Instead of a program: one GEMM `MxNxK` (y[M×N] = w[M×K]·x[K×N]) through the whole core:
    /// x and w loaded, w pruned on chip if `--nm`, the array unit, y stored.
    #[arg(long, conflicts_with = "random")]
    gemm: Option<String>,
    /// Instead of a program: one training iteration (FF, BP, WU, update) of this model — a zoo
    /// name or a YAML path — compiled for the description.
    #[arg(long, conflicts_with_all = ["program", "random", "gemm"])]
    model: Option<String>,
    /// Samples per iteration (`--model`).
    #[arg(long, default_value_t = 8, requires = "model")]
    batch: u64,
    /// bdwp, srste or dense (`--model`).
    #[arg(long, default_value = "bdwp", requires = "model")]
    recipe: String,
    /// The N:M pattern: `--gemm`'s (dense without it) or `--model`'s (2:8 without it).
    #[arg(long)]
    nm: Option<String>,
    /// Instead of a program file: this many random loads, stores, prunes, GEMMs and vector
    /// operations (every kind the ISA has; on physically banked regions, whose core has no
    /// array or vector unit on banks yet, loads, stores and prunes only), then every
    /// scratchpad region stored whole.
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
    let prog = match (&a.program, a.random, &a.gemm, &a.model) {
        (Some(p), ..) => read_program(p)?,
        (None, Some(n), ..) => random_program(&arch, n, a.seed),
        (None, None, Some(dims), _) => gemm_from_args(&arch, dims, a.nm.as_deref())?,
        (None, None, None, Some(model)) => {
            let target = crate::Target {
                arch: a.arch.clone(),
                model: model.clone(),
                nm: a.nm.clone().unwrap_or_else(|| "2:8".into()),
                batch: a.batch,
                recipe: a.recipe.clone(),
                dense_layers: Vec::new(),
            };
            crate::build(&target, false)?.1.program
        }
        (None, None, None, None) => {
            return Err(crate::cli_error(
                "--program",
                "say what to run".into(),
                "--program FILE, --random N, --gemm MxNxK or --model NAME",
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

/// `--gemm MxNxK [--nm N:M]`: the one-GEMM program of [`gemm_program`].
fn gemm_from_args(arch: &Arch, dims: &str, nm: Option<&str>) -> Result<Program, UserError> {
    let bad = || {
        crate::cli_error(
            "--gemm",
            format!("`{dims}` is not MxNxK"),
            "three positive integers, e.g. 37x29x45",
        )
    };
    let d: Vec<u64> = dims
        .split('x')
        .map(|v| v.parse::<u64>().ok().filter(|&v| v > 0))
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
    gemm_program(arch, (m, k, t), sparsity).map_err(|e| crate::hw_error(arch, e))
}
