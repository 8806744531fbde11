//! `RawArch`: the accelerator description exactly as the YAML says it, before validation.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArch {
    pub name: String,
    pub array: RawArray,
    pub sparsity: RawSparsity,
    pub datapath: RawDatapath,
    pub clock_mhz: f64,
    pub scratchpads: RawScratchpads,
    pub dma: RawDma,
    pub dram: RawDram,
    pub prune_unit: RawPruneUnit,
    pub vector_unit: RawVectorUnit,
    pub energy_pj: RawEnergy,
    pub optimizations: RawOptimizations,
    /// Absent: one core.
    #[serde(default)]
    pub multicore: Option<RawMulticore>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArray {
    pub rows: i64,
    pub cols: i64,
    pub dataflow: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSparsity {
    pub mux_lanes: i64,
    pub patterns: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatapath {
    pub kind: String,
    pub frac_bits: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScratchpads {
    pub weight: RawRegion,
    pub input: RawRegion,
    pub output: RawRegion,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    pub bytes: i64,
    pub banks: i64,
    pub bank_width_bytes: i64,
    pub ports: i64,
    pub latency: i64,
    #[serde(default)]
    pub banking: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDma {
    pub bytes_per_cycle: i64,
    pub setup_cycles: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDram {
    pub channels: i64,
    pub bytes_per_cycle_per_channel: i64,
    pub latency: i64,
    pub access_bytes: i64,
    pub bytes: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPruneUnit {
    pub groups_per_cycle: i64,
    pub latency: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVectorUnit {
    pub lanes: i64,
    pub latency: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnergy {
    pub mac: f64,
    pub mux: f64,
    pub sram_byte: f64,
    pub dram_byte: f64,
    pub vector_op: f64,
    pub prune_group: f64,
    pub static_mw: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOptimizations {
    pub interleave: bool,
    pub pregenerate: bool,
    pub double_buffer: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMulticore {
    pub cores: i64,
    #[serde(default)]
    pub reduction: Option<String>,
    #[serde(default)]
    pub interconnect: Option<String>,
}
