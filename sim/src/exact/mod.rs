//! Exact mode: each operation executed cycle by cycle with real data.
pub mod array;
