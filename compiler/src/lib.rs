//! The nmsat compiler: accelerator and model descriptions, the BDWP training graph, and the
//! offline scheduler that lowers one training iteration into a static program.
//!
//! Data flow: [`arch::Arch`] + [`model::Model`] + [`graph::TrainOptions`] →
//! [`graph::expand`] → [`schedule::compile`] → [`isa::Program`], proven legal by [`check::check`].
pub mod arch;
pub mod check;
pub mod datapath;
pub mod diag;
pub mod dma_beats;
pub mod graph;
pub mod isa;
pub mod model;
pub mod prune;
pub mod prune_sets;
mod range_map;
pub mod schedule;
pub mod timing;
pub mod vector_steps;
