//! The nmsat compiler: accelerator and model descriptions, the BDWP training graph, and the
//! offline scheduler that lowers one training iteration into a static program.
pub mod diag;
pub mod model;
pub mod arch;
pub mod prune;
pub mod isa;
pub mod timing;
pub mod graph;
