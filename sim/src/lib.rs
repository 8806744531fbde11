//! The nmsat simulator: runs a compiled [`nmsat_compiler::isa::Program`] on the machine an
//! [`nmsat_compiler::arch::Arch`] describes, in exact mode (every operation executed cycle by
//! cycle, PE by PE, with real data) or fast mode (every operation timed by the equations of
//! [`nmsat_compiler::timing`]); both share one issue model and so give the same schedule.
pub mod exact;
