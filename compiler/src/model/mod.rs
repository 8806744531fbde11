//! Model descriptions: the YAML format, the built-in zoo and SCALE-Sim topology files, all
//! resolved into one validated, shape-inferred [`Model`].
mod layer;

pub use layer::{Activation, Layer, Model, NormKind, Op, PoolKind, Shape};
