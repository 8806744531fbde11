//! Functional mode: a compiled training [`Program`] executed for its data effects only, so
//! that training reaches an accuracy through the very instructions the timing model times.
//!
//! Every operation of the ISA runs, in program order (which every checked program allows:
//! waits name only earlier instructions), on one of two datapaths:
//! - [`Datapath::Int16`] — the core's fixed point: each operation executed by the exact
//!   simulator's units ([`crate::exact`]), bit for bit what the RTL computes;
//! - [`Datapath::F32`] — the same operations on real numbers ([`f32_machine`]): the same
//!   layouts, transfers, N:M forms and update, without rounding or saturation.
//!
//! [`train`] drives iterations: it streams batches of a [`data::Dataset`] into DRAM, runs the
//! program (a different one per stage of a [`recipe::TrainRecipe`]), reads the logits the FF
//! produced, and measures test accuracy by running only the program's FF (and weight-form)
//! instructions on the test batches.

pub mod data;
mod f32_dma;
mod f32_gemm;
pub mod f32_machine;
mod f32_vector;
pub mod int16;
pub mod recipe;
pub mod train;

use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::{Instr, Phase, Program};
use nmsat_compiler::prune::Nm;

/// The number format a functional run computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Datapath {
    /// Real numbers (f32).
    F32,
    /// The core's INT16 Q.f datapath, bit-exact with the exact simulator and the RTL.
    Int16,
}

impl Datapath {
    /// Parses `f32` or `int16`.
    pub fn parse(s: &str) -> Result<Datapath, String> {
        match s {
            "f32" => Ok(Datapath::F32),
            "int16" => Ok(Datapath::Int16),
            _ => Err(format!("unknown datapath `{s}` (allowed: f32, int16)")),
        }
    }

    /// The name [`Datapath::parse`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Datapath::F32 => "f32",
            Datapath::Int16 => "int16",
        }
    }
}

/// A machine's memories and units, executing one instruction at a time.
pub trait Functional {
    /// Writes real values into DRAM tensor `name` (quantized on the INT16 datapath).
    fn write_real(&mut self, prog: &Program, name: &str, values: &[f32]) -> Result<(), String>;
    /// Writes integers (class labels) into DRAM tensor `name`, unscaled.
    fn write_int(&mut self, prog: &Program, name: &str, values: &[i16]) -> Result<(), String>;
    /// Reads DRAM tensor `name` as real values.
    fn read_real(&self, prog: &Program, name: &str) -> Result<Vec<f32>, String>;
    /// Reads the N:M compressed DRAM tensor `name` (`rows` rows of reduction `k`) back into its
    /// dense `rows × k` form, dropped weights as zeros.
    fn read_compressed(
        &self,
        prog: &Program,
        name: &str,
        rows: u64,
        k: u64,
        nm: Nm,
    ) -> Result<Vec<f32>, String>;
    /// Executes one instruction's data effects.
    fn execute(&mut self, arch: &Arch, instr: &Instr) -> Result<(), String>;
}

/// A functional machine of `datapath` with memories for `prog`.
pub fn machine(datapath: Datapath, arch: &Arch, prog: &Program) -> Box<dyn Functional> {
    match datapath {
        Datapath::F32 => Box::new(f32_machine::F32Machine::new(prog)),
        Datapath::Int16 => Box::new(int16::Int16Machine::new(arch, prog)),
    }
}

/// Runs the instructions of `prog` whose phase `phases` accepts, in program order.
pub fn run(
    m: &mut dyn Functional,
    arch: &Arch,
    prog: &Program,
    phases: impl Fn(Phase) -> bool,
) -> Result<(), String> {
    for (j, ins) in prog.instrs.iter().enumerate() {
        if phases(ins.phase) {
            m.execute(arch, ins)
                .map_err(|e| format!("instruction {j} ({:?}): {e}", ins.op.unit()))?;
        }
    }
    Ok(())
}

/// Whether an instruction belongs to the forward pass of an iteration: FF itself and the
/// weight forms it reads (which the BP forms' generation joins, harmlessly).
pub fn forward_phase(p: Phase) -> bool {
    matches!(p, Phase::Ff | Phase::Prune)
}
