//! Model descriptions: the YAML format, the built-in zoo and SCALE-Sim topology files, all
//! resolved into one validated, shape-inferred [`Model`].
mod infer_shapes;
mod layer;
mod scalesim;
mod yaml;
mod zoo;

pub use layer::{Activation, Layer, Model, NormKind, Op, PoolKind, Shape};
pub use scalesim::parse_scalesim;
pub use zoo::{load_model, parse_model, zoo_names, zoo_source};
