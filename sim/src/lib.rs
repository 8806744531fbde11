//! The nmsat simulator: runs a compiled [`nmsat_compiler::isa::Program`] on the machine an
//! [`nmsat_compiler::arch::Arch`] describes, in exact mode (every operation executed cycle by
//! cycle, PE by PE, with real data) or fast mode (every operation timed by the equations of
//! [`nmsat_compiler::timing`]). Both share one issue model ([`machine`]) and so give the same
//! schedule, and statistics are computed from the schedule alone.
pub mod exact;
pub mod fast;
pub mod functional;
pub mod machine;
pub mod multicore;
pub mod piuma;
pub mod spgemm;
pub mod stats;
pub mod trace;

use machine::Schedule;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::Program;
use stats::Stats;

/// The outcome of a simulation.
#[derive(Debug, Clone)]
pub struct Run {
    pub schedule: Schedule,
    pub stats: Stats,
}

/// Simulates `prog` in fast mode.
pub fn simulate_fast(arch: &Arch, prog: &Program) -> Result<Run, String> {
    let schedule = machine::run(arch, prog, &mut fast::Fast::new(arch))?;
    let stats = stats::stats(arch, prog, &schedule);
    Ok(Run { schedule, stats })
}

/// Simulates `prog` in exact mode on `mem` (whose DRAM holds the inputs and receives the
/// results).
pub fn simulate_exact_on(
    arch: &Arch,
    prog: &Program,
    mem: &mut exact::Memory,
) -> Result<Run, String> {
    let schedule = machine::run(arch, prog, &mut exact::Exact { arch, mem })?;
    let stats = stats::stats(arch, prog, &schedule);
    Ok(Run { schedule, stats })
}

/// Simulates `prog` in exact mode with zero-initialised memory.
pub fn simulate_exact(arch: &Arch, prog: &Program) -> Result<Run, String> {
    let mut mem = exact::Memory::new(arch, prog);
    simulate_exact_on(arch, prog, &mut mem)
}
