//! `HwError`: every way generating, checking or co-simulating the RTL can fail.

use std::path::PathBuf;

/// The command that installs the external tools (g++ compiles the Verilated models: Debian's
/// verilator does not depend on a C++ compiler); every "tool not found" error quotes it.
pub const INSTALL_HINT: &str = "apt-get update && apt-get install -y verilator yosys g++";

/// An error of this crate. The messages are complete sentences a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HwError {
    /// The accelerator description asks for hardware this crate does not generate.
    #[error("{field} = {value} is not supported by the RTL generator: {reason}")]
    Unsupported {
        /// The description field, as written in the YAML (`array.rows`).
        field: &'static str,
        /// The value found there.
        value: String,
        /// Why it is unsupported.
        reason: String,
        /// What is supported, in the words of a `Diagnostic`'s "allowed" (`1..=16`).
        allowed: String,
    },
    /// A design or a driver was used in a way it cannot serve (wrong mode, wrong tile).
    #[error("{0}")]
    Usage(String),
    /// rust-hdl's own checks (open inputs, logic loops, writes to inputs) failed.
    #[error("rust-hdl design check failed: {0}")]
    Design(String),
    /// An external tool is not installed: CI and users install it the same way.
    #[error("`{tool}` not found: install it with `{INSTALL_HINT}`")]
    MissingTool {
        /// The program that was not found.
        tool: String,
    },
    /// An external tool ran and failed; `output` holds what it printed.
    #[error("`{command}` failed ({status}):\n{output}")]
    ToolFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its stdout and stderr.
        output: String,
    },
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A Verilated model could not be built or loaded.
    #[error("co-simulation: {0}")]
    Cosim(String),
    /// A synthesis or place-and-route tool is not installed.
    #[error(
        "`{tool}` not found: install it with `{}`",
        crate::synth::SYNTH_INSTALL_HINT
    )]
    MissingSynthTool {
        /// The program that was not found.
        tool: String,
    },
    /// A synthesis tool failed: its error lines here, everything it printed in the log.
    #[error("`{tool}` failed ({status}):\n{errors}\nfull output: {}", log.display())]
    SynthFailed {
        /// The program.
        tool: String,
        /// Its exit status.
        status: String,
        /// The lines of its output that report errors.
        errors: String,
        /// The log file holding all of its output.
        log: PathBuf,
    },
    /// The design needs more of some resource than the device has.
    #[error("the design does not fit the {device}: {details}")]
    DoesNotFit {
        /// The device (`iCE40UP5K-SG48`).
        device: String,
        /// Each resource that overflows, with the numbers.
        details: String,
    },
    /// No synthesis target has this name.
    #[error("unknown synthesis target `{name}` (allowed: {allowed})")]
    UnknownTarget {
        /// The name given.
        name: String,
        /// The targets there are.
        allowed: String,
    },
}

impl HwError {
    /// `arch` asks for hardware the generator does not build: `field = value`, why not, and
    /// what it does build; the reason names the description, so that a message read without
    /// the command line still says which file was at fault.
    pub fn unsupported(
        arch: &nmsat_compiler::arch::Arch,
        field: &'static str,
        value: u64,
        reason: &str,
        allowed: &str,
    ) -> HwError {
        HwError::Unsupported {
            field,
            value: value.to_string(),
            reason: format!("{reason} (in `{}`)", arch.name),
            allowed: allowed.into(),
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> HwError {
        let path = path.into();
        move |source| HwError::Io { path, source }
    }
}
