//! The PIUMA-like memory-system description: `RawPiuma` is what the YAML says, [`Piuma`] what
//! was checked.
//!
//! A die is a 2D mesh of *blocks*. Each block has multi-threaded pipelines (fine-grained
//! round-robin among their threads), single-threaded pipelines, a banked scratchpad, an atomic
//! engine, a DMA engine and its share of the DRAM channels. Every scratchpad and every DRAM
//! word is in one global address space; an access to another block's scratchpad or channel
//! crosses the mesh. The simulator (`nmsat_sim::piuma`) consumes a [`Piuma`], never the YAML.

use crate::diag::{parse_yaml, Diagnostic, SourceMap};
use serde::{Deserialize, Serialize};

/// Built-in descriptions, addressable by name (`--arch piuma-block`).
const BUILT_IN: &[(&str, &str)] = &[(
    "piuma-block",
    include_str!("../../../configs/arch/piuma-block.yaml"),
)];

/// Names of the built-in PIUMA-like descriptions.
pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(n, _)| *n).collect()
}

/// A read-modify-write operation the atomic engine performs next to the scratchpad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AtomicOp {
    /// Integer fetch-and-add; returns the old value.
    FetchAdd,
    /// Floating-point add; posted (the issuing thread does not wait for it).
    FloatAdd,
    /// Compare-and-swap; returns the old value.
    Cas,
}

impl AtomicOp {
    /// The operation's name in descriptions.
    pub fn name(self) -> &'static str {
        match self {
            AtomicOp::FetchAdd => "fetch_add",
            AtomicOp::FloatAdd => "float_add",
            AtomicOp::Cas => "cas",
        }
    }
}

/// Pipelines of one kind in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pipelines {
    pub count: u64,
    /// Hardware threads per pipeline; the pipeline issues one instruction a cycle, switching
    /// round-robin among its ready threads.
    pub threads: u64,
}

/// The banked scratchpad of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scratchpad {
    pub bytes: u64,
    pub banks: u64,
    /// Bytes per bank word: consecutive words go to consecutive banks.
    pub bank_width_bytes: u64,
    /// Cycles from a local access's issue to its data (load-to-use).
    pub latency: u64,
}

impl Scratchpad {
    /// Bytes a cycle a contiguous, word-aligned stream moves: its words go round robin over
    /// the banks and each bank serves one word a cycle, so `banks · bank_width_bytes`.
    pub fn bytes_per_cycle(&self) -> u64 {
        self.banks * self.bank_width_bytes
    }
}

/// The atomic engine of a block: read-modify-write next to the scratchpad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AtomicEngine {
    /// Operations the engine starts per cycle.
    pub ops_per_cycle: u64,
    /// Cycles from a local request to its result.
    pub latency: u64,
    /// Cycles one address is held by a read-modify-write: atomics to one address serialize.
    pub same_address_cycles: u64,
    pub ops: Vec<AtomicOp>,
}

/// The DMA engine of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dma {
    pub bytes_per_cycle: u64,
    pub setup_cycles: u64,
}

/// DRAM: channels spread over the blocks, fixed access granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dram {
    pub channels_per_block: u64,
    pub bytes_per_cycle_per_channel: u64,
    /// Cycles from a request at the local channel to its data.
    pub latency: u64,
    /// Bytes of the smallest access; every access moves whole words of this size.
    pub access_bytes: u64,
    /// Consecutive chunks of this many bytes go to consecutive channels of the die.
    pub interleave_bytes: u64,
}

/// The on-die network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mesh {
    pub rows: u64,
    pub cols: u64,
    /// Cycles per hop, one way.
    pub hop_latency: u64,
    /// Bytes a link moves per cycle in each direction (also each router's injection and
    /// ejection port).
    pub link_bytes_per_cycle: u64,
}

/// A validated PIUMA-like machine description.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Piuma {
    pub name: String,
    pub clock_mhz: f64,
    pub mesh: Mesh,
    pub mtp: Pipelines,
    pub stp: Pipelines,
    pub scratchpad: Scratchpad,
    pub atomic: AtomicEngine,
    pub dma: Dma,
    pub dram: Dram,
    /// Where each field was written.
    #[serde(skip)]
    pub source: SourceMap,
}

impl Piuma {
    /// Blocks on the die.
    pub fn blocks(&self) -> u64 {
        self.mesh.rows * self.mesh.cols
    }

    /// Pipelines per block (multi-threaded first, then single-threaded).
    pub fn pipelines_per_block(&self) -> u64 {
        self.mtp.count + self.stp.count
    }

    /// Hardware threads per block.
    pub fn threads_per_block(&self) -> u64 {
        self.mtp.count * self.mtp.threads + self.stp.count * self.stp.threads
    }

    /// DRAM channels on the die.
    pub fn channels(&self) -> u64 {
        self.blocks() * self.dram.channels_per_block
    }

    /// Whether the atomic engine performs `op`; the error says what it does perform.
    pub fn supports(&self, op: AtomicOp) -> Result<(), String> {
        if self.atomic.ops.contains(&op) {
            return Ok(());
        }
        let list: Vec<&str> = self.atomic.ops.iter().map(|o| o.name()).collect();
        Err(format!(
            "the atomic engine of `{}` has no {} (it has {})",
            self.name,
            op.name(),
            list.join(", ")
        ))
    }

    /// Loads a description by built-in name or path.
    pub fn load(spec: &str) -> Result<Piuma, Diagnostic> {
        crate::diag::load_named(
            spec,
            BUILT_IN,
            "configs/arch",
            "machine description",
            Piuma::parse,
        )
    }

    /// Parses and validates the YAML text of a description.
    pub fn parse(file: &str, text: &str) -> Result<Piuma, Diagnostic> {
        let (raw, map): (RawPiuma, SourceMap) = parse_yaml(file, text)?;
        validate(raw, &map)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPiuma {
    name: String,
    clock_mhz: f64,
    mesh: RawMesh,
    block: RawBlock,
    dram: RawDram,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMesh {
    rows: i64,
    cols: i64,
    hop_latency: i64,
    link_bytes_per_cycle: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    mtp: RawPipelines,
    stp: RawStp,
    scratchpad: RawScratchpad,
    atomic_engine: RawAtomic,
    dma: RawDma,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipelines {
    count: i64,
    threads: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStp {
    count: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScratchpad {
    bytes: i64,
    banks: i64,
    bank_width_bytes: i64,
    latency: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAtomic {
    ops_per_cycle: i64,
    latency: i64,
    same_address_cycles: i64,
    ops: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDma {
    bytes_per_cycle: i64,
    setup_cycles: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDram {
    channels_per_block: i64,
    bytes_per_cycle_per_channel: i64,
    latency: i64,
    access_bytes: i64,
    interleave_bytes: i64,
}

fn at_least(map: &SourceMap, field: &str, v: i64, min: i64) -> Result<u64, Diagnostic> {
    if v >= min {
        Ok(v as u64)
    } else {
        Err(map.error(
            field,
            format!("must be at least {min}, got {v}"),
            format!("an integer ≥ {min}"),
        ))
    }
}

fn power_of_two(map: &SourceMap, field: &str, v: u64) -> Result<u64, Diagnostic> {
    if v.is_power_of_two() {
        Ok(v)
    } else {
        Err(map.error(
            field,
            format!("{v} is not a power of two"),
            "1, 2, 4, 8, 16, …",
        ))
    }
}

fn validate(raw: RawPiuma, map: &SourceMap) -> Result<Piuma, Diagnostic> {
    if !(raw.clock_mhz.is_finite() && raw.clock_mhz > 0.0) {
        return Err(map.error(
            "clock_mhz",
            format!("must be positive, got {}", raw.clock_mhz),
            "a number > 0",
        ));
    }
    let mesh = Mesh {
        rows: at_least(map, "mesh.rows", raw.mesh.rows, 1)?,
        cols: at_least(map, "mesh.cols", raw.mesh.cols, 1)?,
        hop_latency: at_least(map, "mesh.hop_latency", raw.mesh.hop_latency, 0)?,
        link_bytes_per_cycle: at_least(
            map,
            "mesh.link_bytes_per_cycle",
            raw.mesh.link_bytes_per_cycle,
            1,
        )?,
    };
    if mesh.rows * mesh.cols > 1024 {
        return Err(map.error(
            "mesh",
            format!(
                "{} blocks is beyond what is modelled",
                mesh.rows * mesh.cols
            ),
            "rows × cols ≤ 1024",
        ));
    }
    let b = &raw.block;
    let mtp = Pipelines {
        count: at_least(map, "block.mtp.count", b.mtp.count, 0)?,
        threads: at_least(map, "block.mtp.threads", b.mtp.threads, 1)?,
    };
    let stp = Pipelines {
        count: at_least(map, "block.stp.count", b.stp.count, 0)?,
        threads: 1,
    };
    if mtp.count + stp.count == 0 {
        return Err(map.error(
            "block.mtp.count",
            "a block needs at least one pipeline",
            "mtp.count + stp.count ≥ 1",
        ));
    }
    let s = &b.scratchpad;
    let scratchpad = Scratchpad {
        bytes: at_least(map, "block.scratchpad.bytes", s.bytes, 1)?,
        banks: at_least(map, "block.scratchpad.banks", s.banks, 1)?,
        bank_width_bytes: power_of_two(
            map,
            "block.scratchpad.bank_width_bytes",
            at_least(
                map,
                "block.scratchpad.bank_width_bytes",
                s.bank_width_bytes,
                1,
            )?,
        )?,
        latency: at_least(map, "block.scratchpad.latency", s.latency, 1)?,
    };
    if !scratchpad
        .bytes
        .is_multiple_of(scratchpad.banks * scratchpad.bank_width_bytes)
    {
        return Err(map.error(
            "block.scratchpad.bytes",
            format!(
                "{} bytes do not divide into {} banks of {}-byte words",
                scratchpad.bytes, scratchpad.banks, scratchpad.bank_width_bytes
            ),
            "a multiple of banks × bank_width_bytes",
        ));
    }
    let a = &b.atomic_engine;
    let mut ops = Vec::new();
    for (i, name) in a.ops.iter().enumerate() {
        let op = match name.as_str() {
            "fetch_add" => AtomicOp::FetchAdd,
            "float_add" => AtomicOp::FloatAdd,
            "cas" => AtomicOp::Cas,
            other => {
                return Err(map.error(
                    &format!("block.atomic_engine.ops[{i}]"),
                    format!("unknown atomic operation `{other}`"),
                    "fetch_add, float_add, cas",
                ))
            }
        };
        ops.push(op);
    }
    let atomic = AtomicEngine {
        ops_per_cycle: at_least(map, "block.atomic_engine.ops_per_cycle", a.ops_per_cycle, 1)?,
        latency: at_least(map, "block.atomic_engine.latency", a.latency, 1)?,
        same_address_cycles: at_least(
            map,
            "block.atomic_engine.same_address_cycles",
            a.same_address_cycles,
            1,
        )?,
        ops,
    };
    let dma = Dma {
        bytes_per_cycle: at_least(map, "block.dma.bytes_per_cycle", b.dma.bytes_per_cycle, 1)?,
        setup_cycles: at_least(map, "block.dma.setup_cycles", b.dma.setup_cycles, 0)?,
    };
    let d = &raw.dram;
    let access_bytes = power_of_two(
        map,
        "dram.access_bytes",
        at_least(map, "dram.access_bytes", d.access_bytes, 1)?,
    )?;
    let dram = Dram {
        channels_per_block: at_least(map, "dram.channels_per_block", d.channels_per_block, 1)?,
        bytes_per_cycle_per_channel: at_least(
            map,
            "dram.bytes_per_cycle_per_channel",
            d.bytes_per_cycle_per_channel,
            1,
        )?,
        latency: at_least(map, "dram.latency", d.latency, 1)?,
        access_bytes,
        interleave_bytes: at_least(map, "dram.interleave_bytes", d.interleave_bytes, 1)?,
    };
    if !dram.interleave_bytes.is_multiple_of(access_bytes) {
        return Err(map.error(
            "dram.interleave_bytes",
            format!(
                "{} is not a multiple of the {access_bytes}-byte access",
                dram.interleave_bytes
            ),
            format!("a multiple of dram.access_bytes ({access_bytes})"),
        ));
    }
    Ok(Piuma {
        name: raw.name,
        clock_mhz: raw.clock_mhz,
        mesh,
        mtp,
        stp,
        scratchpad,
        atomic,
        dma,
        dram,
        source: map.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_loads_with_published_figures() {
        let p = Piuma::load("piuma-block").unwrap();
        assert_eq!((p.mtp.count, p.mtp.threads, p.stp.count), (4, 16, 2));
        assert_eq!(p.scratchpad.bytes, 4 << 20);
        assert_eq!(p.dram.access_bytes, 8);
        assert_eq!(p.blocks(), 8);
        assert_eq!(p.threads_per_block(), 66);
        assert!(p.supports(AtomicOp::Cas).is_ok());
    }

    fn check(from: &str, to: &str, field: &str, needle: &str) {
        let text = include_str!("../../../configs/arch/piuma-block.yaml");
        assert!(text.contains(from), "{from}");
        let e = Piuma::parse("p.yaml", &text.replacen(from, to, 1)).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert!(e.line.is_some(), "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }

    #[test]
    fn invalid_descriptions_name_field_and_line() {
        check(
            "banks: 16",
            "banks: 0",
            "block.scratchpad.banks",
            "at least 1",
        );
        check(
            "banks: 16",
            "banks: 3",
            "block.scratchpad.bytes",
            "do not divide",
        );
        check(
            "access_bytes: 8",
            "access_bytes: 6",
            "dram.access_bytes",
            "power of two",
        );
        check(
            "interleave_bytes: 64",
            "interleave_bytes: 12",
            "dram.interleave_bytes",
            "multiple",
        );
        check(
            "[fetch_add, float_add, cas]",
            "[fetch_add, swap]",
            "block.atomic_engine.ops[1]",
            "unknown atomic operation `swap`",
        );
        check(
            "hop_latency",
            "hop_latencyy",
            "mesh.hop_latencyy",
            "unknown field",
        );
    }
}
