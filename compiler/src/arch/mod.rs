//! The accelerator description: `RawArch` is what the YAML says, [`Arch`] what was checked.
//!
//! One `Arch` drives the compiler's tiling, the simulator's timing and the generated Verilog;
//! nothing else re-declares these numbers.

pub mod piuma;
mod raw;

use crate::diag::{parse_yaml, Diagnostic, SourceMap};
use crate::prune::Nm;
use piuma::{AtomicOp, Piuma, Scratchpad};
use raw::{RawArch, RawMulticore, RawRegion};
use serde::{Deserialize, Serialize};

/// Built-in descriptions, addressable by name (`--arch sat-small`).
const BUILT_IN: &[(&str, &str)] = &[
    (
        "sat-vcu1525",
        include_str!("../../../configs/arch/sat-vcu1525.yaml"),
    ),
    (
        "sat-small",
        include_str!("../../../configs/arch/sat-small.yaml"),
    ),
    (
        "sat-small-banked",
        include_str!("../../../configs/arch/sat-small-banked.yaml"),
    ),
    (
        "sat-ice40-up5k",
        include_str!("../../../configs/arch/sat-ice40-up5k.yaml"),
    ),
];

/// Names of the built-in accelerator descriptions.
pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(n, _)| *n).collect()
}

/// How the PE array holds its operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Dataflow {
    /// A weight tile stays in the PEs; activations stream through.
    WeightStationary,
    /// Each PE accumulates one output; both operands stream.
    OutputStationary,
}

/// Number format of the datapath.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DatapathKind {
    /// INT16 × INT16 products into INT32 accumulators, `frac_bits` fraction bits.
    Int16,
    /// IEEE f32, for functional accuracy studies.
    F32,
}

/// The three on-chip buffers of the core (each a banked scratchpad).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RegionId {
    /// Stationary operand: dense or compressed weights and their indices.
    Weight,
    /// Streamed operand: activations, gradients, vector-unit inputs.
    Input,
    /// Accumulators and vector-unit outputs.
    Output,
}

impl RegionId {
    /// Every region, in address-map order.
    pub const ALL: [RegionId; 3] = [RegionId::Weight, RegionId::Input, RegionId::Output];

    /// The region's name in descriptions and listings.
    pub fn name(self) -> &'static str {
        match self {
            RegionId::Weight => "weight",
            RegionId::Input => "input",
            RegionId::Output => "output",
        }
    }
}

/// How a region's banks serve the operations that use it (docs/physical-banking.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Banking {
    /// A crossbar in front of the banks that never conflicts: each operation moves up to
    /// `banks·width` bytes a cycle whatever its addresses, and up to `ports` operations read
    /// and write the region at once.
    #[default]
    Ideal,
    /// What the banks physically are: word-interleaved banks of one read and one write port.
    /// Reads are served by `ports` copies of the region, one held by each operation that reads
    /// it; writes by one write port, held by one operation at a time and broadcast to every
    /// copy. Each bank serves one word a cycle on each.
    Physical,
}

/// A banked scratchpad region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Region {
    pub bytes: u64,
    pub banks: u64,
    pub bank_width_bytes: u64,
    pub ports: u64,
    pub latency: u64,
    pub banking: Banking,
}

impl Region {
    /// The region as a PIUMA-like banked scratchpad: the simulator's one model of banks
    /// (`ports` are the issue model's, outside it).
    pub fn scratchpad(&self) -> Scratchpad {
        Scratchpad {
            bytes: self.bytes,
            banks: self.banks,
            bank_width_bytes: self.bank_width_bytes,
            latency: self.latency,
        }
    }

    /// Bytes per cycle the region can move through all banks at once.
    pub fn bytes_per_cycle(&self) -> u64 {
        self.scratchpad().bytes_per_cycle()
    }

    /// The bank of word `word` (bytes `word·width …`) of a physically banked region. Words
    /// go round the banks, and each bank row (`banks` words) is rotated by its index — skewed
    /// storage — so that both a run of fewer than `banks` words, at any alignment, and words
    /// k bank rows apart with k prime to `banks` (a column of a tile whose rows are an odd
    /// number of bank rows long) meet each bank at most once. Columns of rows an even number
    /// of bank rows long still meet a bank gcd(k, banks) times; and no mapping gives both the
    /// columns and a conflict-free run of `banks` words across a row boundary, which meets one
    /// bank twice.
    pub fn bank(&self, word: u64) -> u64 {
        skewed_bank(word, self.banks)
    }
}

/// [`Region::bank`] of word `word` on `banks` banks: the one definition of the mapping, which
/// the model and the RTL's regions and sequencers share.
pub fn skewed_bank(word: u64, banks: u64) -> u64 {
    (word + word / banks) % banks
}

/// The DMA engine between DRAM and the scratchpads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dma {
    pub bytes_per_cycle: u64,
    pub setup_cycles: u64,
}

/// DRAM: channels × bytes per core cycle, fixed latency, fixed access granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dram {
    pub channels: u64,
    pub bytes_per_cycle_per_channel: u64,
    pub latency: u64,
    pub access_bytes: u64,
    pub bytes: u64,
}

/// Energy per operation, in picojoules, plus static power.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Energy {
    pub mac: f64,
    pub mux: f64,
    pub sram_byte: f64,
    pub dram_byte: f64,
    pub vector_op: f64,
    pub prune_group: f64,
    pub static_mw: f64,
}

/// Switches for each dataflow optimization, so that a sweep can report what each contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Optimizations {
    /// Interleave tiles of independent GEMMs (BP and WU of a layer) in the offline schedule.
    pub interleave: bool,
    /// Pre-generate both N:M weight forms once per iteration instead of pruning on every load.
    pub pregenerate: bool,
    /// Double-buffer scratchpad regions so DMA overlaps compute.
    pub double_buffer: bool,
}

/// How the cores' weight gradients are summed before the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Reduction {
    /// Every core adds its slice of each gradient tile into the slice's owner core by remote
    /// atomic adds; the owners then send the sums back.
    Atomic,
    /// A ring all-reduce over the mesh: reduce-scatter, then all-gather, one chunk per step.
    Ring,
}

impl Reduction {
    /// The reduction's name in descriptions.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Atomic => "atomic",
            Reduction::Ring => "ring",
        }
    }
}

/// Data-parallel training over several identical cores: each runs the iteration on its share
/// of the batch, and the weight gradients are reduced over the interconnect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Multicore {
    pub cores: u64,
    pub reduction: Reduction,
    /// The PIUMA-like die the cores sit on, one per block: its mesh, links and atomic engines
    /// carry the reduction.
    pub interconnect: Piuma,
}

/// Interconnect a description without a `multicore.interconnect` sits on.
pub const DEFAULT_INTERCONNECT: &str = "piuma-block";

/// A validated accelerator description.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arch {
    pub name: String,
    pub rows: u64,
    pub cols: u64,
    pub dataflow: Dataflow,
    /// Width of each PE's activation mux: the largest M the array can run.
    pub mux_lanes: u64,
    /// N:M patterns the array supports.
    pub patterns: Vec<Nm>,
    pub datapath: DatapathKind,
    pub frac_bits: u32,
    pub clock_mhz: f64,
    pub weight: Region,
    pub input: Region,
    pub output: Region,
    pub dma: Dma,
    pub dram: Dram,
    /// Prune unit: M-groups ranked per cycle, and its pipeline latency.
    pub prune_groups_per_cycle: u64,
    pub prune_latency: u64,
    /// Vector unit: elements per cycle, and its pipeline latency.
    pub vector_lanes: u64,
    pub vector_latency: u64,
    pub energy: Energy,
    pub opt: Optimizations,
    pub multicore: Multicore,
    /// Where each field was written, so later checks (a tile that cannot fit) can point at it.
    #[serde(skip)]
    pub source: SourceMap,
}

impl Arch {
    /// The scratchpad region `id`.
    pub fn region(&self, id: RegionId) -> &Region {
        match id {
            RegionId::Weight => &self.weight,
            RegionId::Input => &self.input,
            RegionId::Output => &self.output,
        }
    }

    /// What a compiled program and its schedule depend on: every field but the name, the clock
    /// and the energy table, which only turn cycles and events into seconds and joules (no
    /// compiler pass and no timing equation reads them). Descriptions with equal keys compile
    /// to the same program and run the same schedule, so a sweep over clocks may share both.
    pub fn schedule_key(&self) -> String {
        let mut a = self.clone();
        a.name.clear();
        a.clock_mhz = 0.0;
        a.energy = Energy {
            mac: 0.0,
            mux: 0.0,
            sram_byte: 0.0,
            dram_byte: 0.0,
            vector_op: 0.0,
            prune_group: 0.0,
            static_mw: 0.0,
        };
        serde_json::to_string(&a).expect("a description always serializes")
    }

    /// Peak DRAM bytes per core cycle over all channels.
    pub fn dram_bytes_per_cycle(&self) -> u64 {
        self.dram.channels * self.dram.bytes_per_cycle_per_channel
    }

    /// The first region whose `banking: physical` the model cannot time on this array: only
    /// the weight-stationary array's access sets are charged (docs/physical-banking.md), so an
    /// output-stationary GEMM on physical banks would silently get ideal cycles.
    pub fn unmodelled_physical_region(&self) -> Option<&'static str> {
        if self.dataflow != Dataflow::OutputStationary {
            return None;
        }
        [
            ("weight", &self.weight),
            ("input", &self.input),
            ("output", &self.output),
        ]
        .into_iter()
        .find(|(_, r)| r.banking == Banking::Physical)
        .map(|(name, _)| name)
    }

    /// Whether the array can run `nm`; the error says why not.
    pub fn supports(&self, nm: Nm) -> Result<(), String> {
        if nm.m > self.mux_lanes {
            return Err(format!(
                "{nm} needs an {}:1 activation mux but `{}` has {} lanes",
                nm.m, self.name, self.mux_lanes
            ));
        }
        if !self.patterns.contains(&nm) {
            let list: Vec<String> = self.patterns.iter().map(Nm::to_string).collect();
            return Err(format!(
                "{nm} is not among the patterns `{}` supports ({})",
                self.name,
                list.join(", ")
            ));
        }
        Ok(())
    }

    /// Loads a description by built-in name or path.
    pub fn load(spec: &str) -> Result<Arch, Diagnostic> {
        crate::diag::load_named(
            spec,
            BUILT_IN,
            "configs/arch",
            "accelerator description",
            Arch::parse,
        )
    }

    /// Parses and validates the YAML text of a description.
    pub fn parse(file: &str, text: &str) -> Result<Arch, Diagnostic> {
        let (raw, map): (RawArch, SourceMap) = parse_yaml(file, text)?;
        validate(raw, &map)
    }
}

fn positive(map: &SourceMap, field: &str, v: i64) -> Result<u64, Diagnostic> {
    if v >= 1 {
        Ok(v as u64)
    } else {
        Err(map.error(
            field,
            format!("must be at least 1, got {v}"),
            "an integer ≥ 1",
        ))
    }
}

fn non_negative(map: &SourceMap, field: &str, v: i64) -> Result<u64, Diagnostic> {
    if v >= 0 {
        Ok(v as u64)
    } else {
        Err(map.error(
            field,
            format!("must not be negative, got {v}"),
            "an integer ≥ 0",
        ))
    }
}

fn non_negative_f(map: &SourceMap, field: &str, v: f64) -> Result<f64, Diagnostic> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(map.error(
            field,
            format!("must be a finite number ≥ 0, got {v}"),
            "a number ≥ 0",
        ))
    }
}

fn region(map: &SourceMap, name: &str, r: &RawRegion) -> Result<Region, Diagnostic> {
    let f = |k: &str| format!("scratchpads.{name}.{k}");
    let region = Region {
        bytes: positive(map, &f("bytes"), r.bytes)?,
        banks: positive(map, &f("banks"), r.banks)?,
        bank_width_bytes: positive(map, &f("bank_width_bytes"), r.bank_width_bytes)?,
        ports: positive(map, &f("ports"), r.ports)?,
        latency: non_negative(map, &f("latency"), r.latency)?,
        banking: match r.banking.as_deref() {
            None | Some("ideal") => Banking::Ideal,
            Some("physical") => Banking::Physical,
            Some(other) => {
                return Err(map.error(
                    &f("banking"),
                    format!("unknown banking `{other}`"),
                    "ideal, physical",
                ))
            }
        },
    };
    if !region
        .bytes
        .is_multiple_of(region.banks * region.bank_width_bytes)
    {
        return Err(map.error(
            &f("bytes"),
            format!(
                "{} bytes do not divide into {} banks of {}-byte words",
                region.bytes, region.banks, region.bank_width_bytes
            ),
            "a multiple of banks × bank_width_bytes",
        ));
    }
    Ok(region)
}

fn validate(raw: RawArch, map: &SourceMap) -> Result<Arch, Diagnostic> {
    let rows = positive(map, "array.rows", raw.array.rows)?;
    let cols = positive(map, "array.cols", raw.array.cols)?;
    for (field, v) in [("array.rows", rows), ("array.cols", cols)] {
        if v > 256 {
            return Err(map.error(
                field,
                format!("{v} PEs per side is beyond what is modelled"),
                "1..=256",
            ));
        }
    }
    let dataflow = match raw.array.dataflow.as_str() {
        "weight-stationary" | "ws" => Dataflow::WeightStationary,
        "output-stationary" | "os" => Dataflow::OutputStationary,
        other => {
            return Err(map.error(
                "array.dataflow",
                format!("unknown dataflow `{other}`"),
                "weight-stationary, output-stationary",
            ))
        }
    };
    let mux_lanes = positive(map, "sparsity.mux_lanes", raw.sparsity.mux_lanes)?;
    if mux_lanes > 16 {
        return Err(map.error(
            "sparsity.mux_lanes",
            format!("{mux_lanes} lanes is more than M can use"),
            "1..=16",
        ));
    }
    let mut patterns = Vec::new();
    for (i, p) in raw.sparsity.patterns.iter().enumerate() {
        let field = format!("sparsity.patterns[{i}]");
        let nm: Nm = p
            .parse()
            .map_err(|e: String| map.error(&field, e, "N:M with 1 ≤ N < M ≤ 16"))?;
        if nm.m > mux_lanes {
            return Err(map.error(
                &field,
                format!(
                    "{nm} needs an {}:1 mux but sparsity.mux_lanes is {mux_lanes}",
                    nm.m
                ),
                format!("M ≤ {mux_lanes}"),
            ));
        }
        patterns.push(nm);
    }
    let datapath = match raw.datapath.kind.as_str() {
        "int16" => DatapathKind::Int16,
        "f32" => DatapathKind::F32,
        other => {
            return Err(map.error(
                "datapath.kind",
                format!("unknown datapath `{other}`"),
                "int16, f32",
            ))
        }
    };
    let frac_bits = non_negative(map, "datapath.frac_bits", raw.datapath.frac_bits)?;
    if frac_bits > 15 {
        return Err(map.error(
            "datapath.frac_bits",
            format!("{frac_bits} fraction bits leave no integer bit in int16"),
            "0..=15",
        ));
    }
    if !(raw.clock_mhz.is_finite() && raw.clock_mhz > 0.0) {
        return Err(map.error(
            "clock_mhz",
            format!("must be positive, got {}", raw.clock_mhz),
            "a number > 0",
        ));
    }
    let d = &raw.dram;
    let dram = Dram {
        channels: positive(map, "dram.channels", d.channels)?,
        bytes_per_cycle_per_channel: positive(
            map,
            "dram.bytes_per_cycle_per_channel",
            d.bytes_per_cycle_per_channel,
        )?,
        latency: non_negative(map, "dram.latency", d.latency)?,
        access_bytes: positive(map, "dram.access_bytes", d.access_bytes)?,
        bytes: positive(map, "dram.bytes", d.bytes)?,
    };
    if !dram.access_bytes.is_power_of_two() {
        return Err(map.error(
            "dram.access_bytes",
            format!("{} is not a power of two", dram.access_bytes),
            "1, 2, 4, 8, 16, …",
        ));
    }
    let e = &raw.energy_pj;
    let energy = Energy {
        mac: non_negative_f(map, "energy_pj.mac", e.mac)?,
        mux: non_negative_f(map, "energy_pj.mux", e.mux)?,
        sram_byte: non_negative_f(map, "energy_pj.sram_byte", e.sram_byte)?,
        dram_byte: non_negative_f(map, "energy_pj.dram_byte", e.dram_byte)?,
        vector_op: non_negative_f(map, "energy_pj.vector_op", e.vector_op)?,
        prune_group: non_negative_f(map, "energy_pj.prune_group", e.prune_group)?,
        static_mw: non_negative_f(map, "energy_pj.static_mw", e.static_mw)?,
    };
    let arch = Arch {
        name: raw.name,
        rows,
        cols,
        dataflow,
        mux_lanes,
        patterns,
        datapath,
        frac_bits: frac_bits as u32,
        clock_mhz: raw.clock_mhz,
        weight: region(map, "weight", &raw.scratchpads.weight)?,
        input: region(map, "input", &raw.scratchpads.input)?,
        output: region(map, "output", &raw.scratchpads.output)?,
        dma: Dma {
            bytes_per_cycle: positive(map, "dma.bytes_per_cycle", raw.dma.bytes_per_cycle)?,
            setup_cycles: non_negative(map, "dma.setup_cycles", raw.dma.setup_cycles)?,
        },
        dram,
        prune_groups_per_cycle: positive(
            map,
            "prune_unit.groups_per_cycle",
            raw.prune_unit.groups_per_cycle,
        )?,
        prune_latency: non_negative(map, "prune_unit.latency", raw.prune_unit.latency)?,
        vector_lanes: positive(map, "vector_unit.lanes", raw.vector_unit.lanes)?,
        vector_latency: non_negative(map, "vector_unit.latency", raw.vector_unit.latency)?,
        energy,
        opt: Optimizations {
            interleave: raw.optimizations.interleave,
            pregenerate: raw.optimizations.pregenerate,
            double_buffer: raw.optimizations.double_buffer,
        },
        multicore: multicore(map, raw.multicore.as_ref())?,
        source: map.clone(),
    };
    if let Some(name) = arch.unmodelled_physical_region() {
        return Err(map.error(
            &format!("scratchpads.{name}.banking"),
            UNMODELLED_PHYSICAL.to_string(),
            "ideal (or array.dataflow: weight-stationary)",
        ));
    }
    Ok(arch)
}

/// Why [`Arch::unmodelled_physical_region`] refuses a description.
pub const UNMODELLED_PHYSICAL: &str = "physical banks are modelled for the weight-stationary \
    array only, and `array.dataflow` is output-stationary";

fn multicore(map: &SourceMap, raw: Option<&RawMulticore>) -> Result<Multicore, Diagnostic> {
    let spec = raw
        .and_then(|r| r.interconnect.as_deref())
        .unwrap_or(DEFAULT_INTERCONNECT);
    let interconnect = Piuma::load(spec).map_err(|e| {
        map.error(
            "multicore.interconnect",
            format!("cannot load interconnect `{spec}`: {e}"),
            format!(
                "a PIUMA-like description: {} or a YAML path",
                piuma::built_in_names().join(", ")
            ),
        )
    })?;
    let Some(raw) = raw else {
        return Ok(Multicore {
            cores: 1,
            reduction: Reduction::Atomic,
            interconnect,
        });
    };
    let blocks = interconnect.blocks();
    let cores = positive(map, "multicore.cores", raw.cores)?;
    if cores > blocks {
        return Err(map.error(
            "multicore.cores",
            format!(
                "{cores} cores do not fit the {blocks} blocks of interconnect `{}`",
                interconnect.name
            ),
            format!("1..={blocks}"),
        ));
    }
    let reduction = match raw.reduction.as_deref().unwrap_or("atomic") {
        "atomic" => Reduction::Atomic,
        "ring" => Reduction::Ring,
        other => {
            return Err(map.error(
                "multicore.reduction",
                format!("unknown reduction `{other}`"),
                "atomic, ring",
            ))
        }
    };
    if reduction == Reduction::Atomic {
        interconnect
            .supports(AtomicOp::FetchAdd)
            .map_err(|e| map.error("multicore.reduction", e, "ring"))?;
    }
    Ok(Multicore {
        cores,
        reduction,
        interconnect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(section: &str) -> Result<Arch, Diagnostic> {
        let text = format!(
            "{}{section}",
            include_str!("../../../configs/arch/sat-small.yaml")
        );
        Arch::parse("multi.yaml", &text)
    }

    #[test]
    fn one_core_unless_told() {
        let a = Arch::load("sat-small").unwrap();
        assert_eq!(a.multicore.cores, 1);
        assert_eq!(a.multicore.interconnect.name, DEFAULT_INTERCONNECT);
        let m = with("multicore: {cores: 8, reduction: ring}\n").unwrap();
        assert_eq!(
            (m.multicore.cores, m.multicore.reduction),
            (8, Reduction::Ring)
        );
        assert_ne!(
            a.schedule_key(),
            m.schedule_key(),
            "cores change the schedule"
        );
    }

    #[test]
    fn banking_is_ideal_unless_told_and_a_wrong_one_is_named() {
        let text = include_str!("../../../configs/arch/sat-small.yaml");
        assert_eq!(
            Arch::parse("a.yaml", text).unwrap().input.banking,
            Banking::Ideal
        );
        let set = |to: &str| {
            text.replace(
                "input: {bytes: 16384, banks: 4, bank_width_bytes: 8, ports: 2, latency: 1}",
                &format!("input: {{bytes: 16384, banks: 4, bank_width_bytes: 8, ports: 2, latency: 1, banking: {to}}}"),
            )
        };
        let a = Arch::parse("a.yaml", &set("physical")).unwrap();
        assert_eq!(
            [a.weight.banking, a.input.banking],
            [Banking::Ideal, Banking::Physical]
        );
        let e = Arch::parse("a.yaml", &set("crossbar")).unwrap_err();
        assert_eq!(e.field, "scratchpads.input.banking", "{e}");
        assert_eq!(e.line, Some(17), "{e}");
        assert!(e.to_string().contains("ideal, physical"), "{e}");
        let os = set("physical").replace("weight-stationary", "output-stationary");
        let e = Arch::parse("a.yaml", &os).unwrap_err();
        assert_eq!(e.field, "scratchpads.input.banking", "{e}");
        assert_eq!(e.line, Some(17), "{e}");
        assert!(
            e.to_string().contains("weight-stationary array only"),
            "{e}"
        );
    }

    /// `Region::bank`'s promises, for every bank count up to 16 and every alignment: runs of
    /// fewer than B words and columns of B words k bank rows apart (k prime to B) meet each
    /// bank once; a run of B words that crosses a bank row, and a column whose rows are an
    /// even number of bank rows apart on an even number of banks, meet one bank twice.
    #[test]
    fn skewed_banks_serve_short_runs_and_columns_at_once() {
        let distinct = |r: &Region, words: &mut dyn Iterator<Item = u64>| {
            let mut banks: Vec<u64> = words.map(|w| r.bank(w)).collect();
            let n = banks.len();
            banks.sort_unstable();
            banks.dedup();
            banks.len() == n
        };
        for b in 1..=16u64 {
            let r = Region {
                bytes: 1 << 20,
                banks: b,
                bank_width_bytes: 8,
                ports: 1,
                latency: 1,
                banking: Banking::Physical,
            };
            for start in 0..4 * b {
                assert!(
                    distinct(&r, &mut (start..start + b - 1)),
                    "B={b} run at {start}"
                );
                assert!(
                    distinct(&r, &mut (0..b).map(|i| start + i * b)),
                    "B={b} column"
                );
                if b % 3 != 0 {
                    let three_rows = &mut (0..b).map(|i| start + i * 3 * b);
                    assert!(distinct(&r, three_rows), "B={b} 3 rows");
                }
                if b % 2 == 0 {
                    let two_rows = &mut (0..b).map(|i| start + i * 2 * b);
                    assert!(!distinct(&r, two_rows), "B={b} 2 rows");
                }
                if b > 1 && start % b != 0 {
                    assert!(!distinct(&r, &mut (start..start + b)), "B={b} crossing run");
                }
            }
        }
    }

    #[test]
    fn bad_multicore_sections_name_file_line_and_field() {
        let cases = [
            ("multicore: {cores: 0}", "multicore.cores", "at least 1"),
            ("multicore: {cores: 9}", "multicore.cores", "1..=8"),
            (
                "multicore: {cores: 2, reduction: tree}",
                "multicore.reduction",
                "atomic, ring",
            ),
            (
                "multicore: {cores: 2, interconnect: no-such-die}",
                "multicore.interconnect",
                "piuma-block",
            ),
            (
                "multicore: {cores: 2, hops: 3}",
                "multicore",
                "unknown field",
            ),
        ];
        for (section, field, needle) in cases {
            let e = with(&format!("{section}\n")).unwrap_err();
            assert_eq!(e.file, "multi.yaml", "{e}");
            assert!(e.field.starts_with(field), "{section}: {e}");
            assert_eq!(e.line, Some(26), "{section}: {e}");
            assert!(e.to_string().contains(needle), "{section}: {e}");
        }
    }
}
