//! `nmsat synth`: the generated RTL through yosys and nextpnr/icepack/icetime to an iCE40
//! bitstream, or through yosys `synth_xilinx` to XCVU9P estimates and a Vivado script.

use crate::{cli_error, UserError};
use nmsat_compiler::arch::Arch;
use nmsat_hw::synth::{synth, Target};
use nmsat_hw::{HwError, MAX_SIDE};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct SynthArgs {
    /// Accelerator description: a built-in name (sat-ice40-up5k, sat-small, sat-small-banked, sat-vcu1525) or a
    /// YAML path.
    #[arg(long, default_value = "sat-ice40-up5k")]
    arch: String,
    /// ice40-up5k, ice40-hx8k (bitstreams) or xcvu9p (yosys estimates and a Vivado script).
    #[arg(long)]
    target: String,
    /// Override the description's array rows (1..=16), e.g. for a resource table by size.
    #[arg(long)]
    rows: Option<u64>,
    /// Override the description's array columns (1..=16).
    #[arg(long)]
    cols: Option<u64>,
    /// Output directory (default: out/synth/<arch>-<target>); a run whose RTL, target and
    /// clock match the report there is not repeated.
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Print the report as one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// `nmsat synth`.
pub fn run(a: SynthArgs) -> Result<(), UserError> {
    let target: Target = a.target.parse().map_err(|e: HwError| {
        cli_error(
            "--target",
            format!("`{}` is not a synthesis target", a.target),
            &match e {
                HwError::UnknownTarget { allowed, .. } => allowed,
                _ => Target::allowed(),
            },
        )
    })?;
    let mut arch = Arch::load(&a.arch)?;
    let overridden = a.rows.is_some() || a.cols.is_some();
    for (flag, value, field) in [
        ("--rows", a.rows, &mut arch.rows),
        ("--cols", a.cols, &mut arch.cols),
    ] {
        if let Some(v) = value {
            if !(1..=MAX_SIDE as u64).contains(&v) {
                return Err(cli_error(
                    flag,
                    format!("{v} PEs per side are not supported by the RTL generator"),
                    &format!("1..={MAX_SIDE}"),
                ));
            }
            *field = v;
        }
    }
    if overridden {
        // The reports and default output directory say which array was built.
        arch.name = format!("{}-{}x{}", arch.name, arch.rows, arch.cols);
    }
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("out/synth/{}-{}", arch.name, target)));
    // Only the description's own fields can be at fault: overridden sizes were checked above.
    let report = synth(&arch, target, &out).map_err(|e| crate::hw_error(&arch, e))?;
    if a.json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    Ok(())
}
