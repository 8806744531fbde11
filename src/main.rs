//! The `nmsat` command line: the only place that knows clap.

use clap::{Parser, Subcommand};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::check::check;
use nmsat_compiler::diag::Diagnostic;
use nmsat_compiler::graph::{Recipe, TrainOptions};
use nmsat_compiler::isa::Unit;
use nmsat_compiler::model::load_model;
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::{compile, Compiled};
use std::process::ExitCode;

mod bench;
mod cosim_cli;
mod sim_cli;
mod speedups;
mod spgemm_cli;
mod sweep;
mod synth_cli;
mod train;

#[derive(Parser)]
#[command(
    name = "nmsat",
    version,
    about = "N:M-sparse DNN training accelerators: compiler, simulator, RTL"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile one training iteration of a model into a static program.
    Compile(CompileArgs),
    /// Simulate one training iteration, sparse and dense, and report the speedup.
    Sim(SimArgs),
    /// Measure and print the simulator's speed figures.
    Bench,
    /// Print the speedup-over-dense table and the ablation of each dataflow optimization.
    Speedups(SpeedupArgs),
    /// SpGEMM kernels (SMASH, inner, outer product) on the PIUMA-like machine, compared.
    Spgemm(spgemm_cli::SpgemmArgs),
    /// Generate the Verilog of an accelerator description (systolic array, file list, report).
    Hdl(HdlArgs),
    /// Run a program on the Verilated RTL core and in the exact simulator and compare every
    /// DRAM word and every instruction's cycles.
    Cosim(cosim_cli::CosimArgs),
    /// Synthesize the RTL: an iCE40 bitstream (yosys, nextpnr, icepack, icetime) or XCVU9P
    /// resource estimates (yosys) and a Vivado script.
    Synth(synth_cli::SynthArgs),
    /// Run a design-space sweep (parallel, resumable, shardable); `sweep merge` joins shards.
    Sweep(sweep::SweepArgs),
    /// Redraw the plots and report.html of a sweep results directory.
    Plot(sweep::PlotArgs),
    /// Train a model on real data through its compiled programs: accuracy beside modelled speed.
    Train(train::TrainArgs),
}

#[derive(clap::Args)]
struct SpeedupArgs {
    #[arg(long, default_value = "sat-vcu1525")]
    arch: String,
    #[arg(long, default_value = "2:8")]
    nm: String,
    #[arg(long, default_value_t = 16)]
    batch: u64,
    /// Models to run (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "resnet9,vgg19,resnet18,resnet50,vit-b16"
    )]
    models: Vec<String>,
}

/// What to compile: the accelerator, the model and the training recipe.
#[derive(clap::Args)]
struct Target {
    /// Accelerator description: a built-in name (sat-vcu1525, sat-small, sat-small-banked,
    /// sat-ice40-up5k) or a YAML path.
    #[arg(long, default_value = "sat-vcu1525")]
    arch: String,
    /// Model: a zoo name (tiny-mlp, digits-cnn, resnet9, vgg19, resnet18, resnet50, vit-b16, toy-vit), a YAML path or a SCALE-Sim CSV.
    #[arg(long, default_value = "resnet18")]
    model: String,
    /// N:M pattern, e.g. 2:8.
    #[arg(long, default_value = "2:8")]
    nm: String,
    /// Samples per iteration.
    #[arg(long, default_value_t = 16)]
    batch: u64,
    /// bdwp, srste or dense.
    #[arg(long, default_value = "bdwp")]
    recipe: String,
    /// Layers to keep dense (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    dense_layers: Vec<String>,
}

#[derive(clap::Args)]
struct CompileArgs {
    #[command(flatten)]
    target: Target,
    /// Write the program here (.json, or the compact binary form for any other extension).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct SimArgs {
    #[command(flatten)]
    target: Target,
    /// fast (operation level, the default) or exact (cycle by cycle, PE by PE, with data).
    #[arg(long, default_value = "fast")]
    mode: String,
    /// Write a Chrome/Perfetto trace of the sparse run here.
    #[arg(long)]
    trace: Option<std::path::PathBuf>,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct HdlArgs {
    /// Accelerator description: a built-in name (sat-small, sat-ice40-up5k) or a YAML path.
    #[arg(long, default_value = "sat-small")]
    arch: String,
    /// Directory to write nmsat_array.v, files.f and report.txt into (created if missing).
    #[arg(short, long, default_value = "out/hdl")]
    out: std::path::PathBuf,
    /// Also run `verilator --lint-only -Wall` and yosys `hierarchy -check; proc; check -assert`.
    #[arg(long)]
    check: bool,
}

/// `nmsat hdl`: writes the RTL and prints its report. An array the generator cannot build is
/// reported like any other description error: file, line, field, what is allowed.
fn run_hdl(a: HdlArgs) -> Result<(), UserError> {
    let arch = Arch::load(&a.arch)?;
    let report = nmsat_hw::generate(&arch, &a.out).map_err(|e| hw_error(&arch, e))?;
    println!("{report}");
    if a.check {
        nmsat_hw::check_generated(&report).map_err(|e| UserError(e.to_string()))?;
        println!("checks: verilator --lint-only -Wall and yosys check -assert pass");
    }
    Ok(())
}

/// An RTL error: a description the generator cannot build is reported like any other
/// description error (file, line, field, what is allowed).
fn hw_error(arch: &Arch, e: nmsat_hw::HwError) -> UserError {
    match e {
        nmsat_hw::HwError::Unsupported {
            field,
            value,
            reason,
            allowed,
        } => UserError::from(arch.source.error(
            field,
            format!("{value} is not supported by the RTL generator: {reason}"),
            allowed,
        )),
        other => UserError(other.to_string()),
    }
}

/// A failure the user can act on: printed without a backtrace, exit code 2.
struct UserError(String);

impl From<Diagnostic> for UserError {
    fn from(d: Diagnostic) -> Self {
        UserError(d.to_string())
    }
}

/// Restores the default SIGPIPE action, so that `nmsat sim | head` ends quietly like other
/// command-line tools instead of panicking on a closed stdout (Rust ignores SIGPIPE).
#[cfg(unix)]
fn default_sigpipe() {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: setting a signal's disposition to its default before any thread starts.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    default_sigpipe();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Compile(a) => run_compile(a),
        Cmd::Sim(a) => sim_cli::run_sim(a),
        Cmd::Bench => bench::run_bench(),
        Cmd::Speedups(a) => speedups::run_speedups(&a.arch, &a.nm, a.batch, &a.models),
        Cmd::Spgemm(a) => spgemm_cli::run(a),
        Cmd::Hdl(a) => run_hdl(a),
        Cmd::Cosim(a) => cosim_cli::run(a),
        Cmd::Synth(a) => synth_cli::run(a),
        Cmd::Sweep(a) => sweep::run(a),
        Cmd::Plot(a) => sweep::plot(a),
        Cmd::Train(a) => train::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(UserError(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

fn cli_error(field: &str, message: String, allowed: &str) -> UserError {
    UserError(
        Diagnostic {
            file: "command line".into(),
            line: None,
            field: field.into(),
            message,
            allowed: Some(allowed.into()),
        }
        .to_string(),
    )
}

/// Loads the description and the model and compiles under the target's recipe (or dense).
fn build(t: &Target, dense: bool) -> Result<(Arch, Compiled), UserError> {
    let arch = Arch::load(&t.arch)?;
    let model = load_model(&t.model)?;
    let nm: Nm =
        t.nm.parse()
            .map_err(|e| cli_error("--nm", e, "N:M with 1 ≤ N < M ≤ 16"))?;
    let recipe =
        Recipe::parse(&t.recipe).map_err(|e| cli_error("--recipe", e, "bdwp, srste, dense"))?;
    let opts = TrainOptions {
        recipe: if dense { Recipe::Dense } else { recipe },
        dense_layers: t.dense_layers.clone(),
        ..TrainOptions::bdwp(t.batch, nm)
    };
    for l in &opts.dense_layers {
        if !model.layers.iter().any(|x| &x.name == l) {
            return Err(cli_error(
                "--dense-layers",
                format!("`{l}` is not a layer of `{}`", model.name),
                "names of the model's layers",
            ));
        }
    }
    let compiled = compile(&arch, &model, &opts)?;
    check(&arch, &compiled.program).map_err(|e| {
        UserError(format!(
            "internal error: the compiled program is illegal: {e}"
        ))
    })?;
    Ok((arch, compiled))
}

fn run_compile(a: CompileArgs) -> Result<(), UserError> {
    let (arch, compiled) = build(&a.target, false)?;
    if let Some(path) = &a.out {
        let bytes = if path.extension().is_some_and(|e| e == "json") {
            compiled.program.to_json().into_bytes()
        } else {
            compiled.program.to_binary()
        };
        std::fs::write(path, bytes)
            .map_err(|e| UserError(format!("{}: cannot write: {e}", path.display())))?;
    }
    if a.json {
        println!("{}", summary_json(&compiled));
    } else {
        print_summary(&compiled, &arch);
    }
    Ok(())
}

fn summary_json(c: &Compiled) -> serde_json::Value {
    let s = &c.summary;
    let units = c.program.unit_counts();
    serde_json::json!({
        "arch": c.program.arch,
        "model": c.program.model,
        "batch": c.program.batch,
        "nm": c.program.nm.map(|n| n.to_string()),
        "gemms": s.gemms,
        "macs_dense": s.macs_dense.iter().sum::<u64>(),
        "macs_effective": s.macs_effective.iter().sum::<u64>(),
        "macs_dense_by_phase": {"ff": s.macs_dense[0], "bp": s.macs_dense[1], "wu": s.macs_dense[2]},
        "macs_effective_by_phase": {"ff": s.macs_effective[0], "bp": s.macs_effective[1], "wu": s.macs_effective[2]},
        "instructions": c.program.instrs.len(),
        "instructions_by_unit": Unit::ALL.iter().map(|u| (format!("{u:?}").to_lowercase(), serde_json::Value::from(units[u.index()]))).collect::<serde_json::Map<_, _>>(),
        "scratchpad_peak_bytes": {"weight": s.scratchpad_peak[0], "input": s.scratchpad_peak[1], "output": s.scratchpad_peak[2]},
        "dram_bytes": s.dram_bytes,
    })
}

fn print_summary(c: &Compiled, arch: &Arch) {
    let s = &c.summary;
    let p = &c.program;
    let nm = p.nm.map_or("dense".to_string(), |n| n.to_string());
    println!("{} on {} — batch {}, {nm}", p.model, p.arch, p.batch);
    println!("{} GEMMs, {} instructions", s.gemms, p.instrs.len());
    println!();
    println!(
        "{:<7} {:>18} {:>18} {:>8}",
        "phase", "dense MACs", "effective MACs", "ratio"
    );
    for (i, ph) in ["FF", "BP", "WU"].iter().enumerate() {
        let ratio = s.macs_effective[i] as f64 / s.macs_dense[i].max(1) as f64;
        println!(
            "{ph:<7} {:>18} {:>18} {ratio:>8.3}",
            s.macs_dense[i], s.macs_effective[i]
        );
    }
    let (d, e): (u64, u64) = (s.macs_dense.iter().sum(), s.macs_effective.iter().sum());
    println!(
        "{:<7} {d:>18} {e:>18} {:>8.3}",
        "total",
        e as f64 / d.max(1) as f64
    );
    println!();
    let units = p.unit_counts();
    println!(
        "instructions: {}",
        Unit::ALL
            .iter()
            .map(|u| format!("{u:?} {}", units[u.index()]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("scratchpad peak use:");
    for (i, r) in nmsat_compiler::arch::RegionId::ALL.iter().enumerate() {
        let size = arch.region(*r).bytes;
        println!(
            "  {:<7} {:>10} of {:>10} bytes ({:.0}%)",
            r.name(),
            s.scratchpad_peak[i],
            size,
            100.0 * s.scratchpad_peak[i] as f64 / size as f64
        );
    }
    println!("DRAM footprint: {} bytes", s.dram_bytes);
}
