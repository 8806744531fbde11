//! The PIUMA-like memory system: blocks of multi-threaded pipelines with banked scratchpads,
//! atomic and DMA engines, DRAM with 8-byte granularity, and a 2D mesh joining the blocks in
//! one global address space.
//!
//! The machine is described by [`nmsat_compiler::arch::piuma::Piuma`]. [`timing`] holds every
//! timing equation, [`Machine`] the shared resources a task reserves, and [`engine`] the
//! deterministic event loop that runs a [`engine::Workload`] (an SpGEMM kernel, see
//! [`crate::spgemm`]) thread by thread.
pub mod engine;
mod machine;
pub mod spad;
pub mod timing;

pub use engine::{run, EngineRun, Step, Workload};
pub use machine::{Counters, Machine, ThreadPlace};
pub use spad::Spad;
