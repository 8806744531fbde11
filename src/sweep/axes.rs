//! The axes a sweep can vary: the workload (model, N:M, batch, recipe, ablation) and every
//! numeric or switch field of the accelerator description, named by its path in the YAML.
//!
//! A point is resolved by cloning the validated base [`Arch`] and setting the swept fields; a
//! value is range-checked when the sweep file is read, and the combination (a scratchpad size
//! that no longer divides into its banks) when the point runs.

use super::value::Value;
use nmsat_compiler::arch::{Arch, Banking, Dataflow};
use nmsat_compiler::graph::Recipe;
use nmsat_compiler::prune::Nm;

/// What values a field accepts.
#[derive(Debug, Clone, Copy)]
pub enum FieldTy {
    /// An integer in `min..=max`.
    Int {
        min: u64,
        max: u64,
    },
    /// A power of two.
    Pow2,
    /// A finite number > 0.
    Positive,
    Bool,
    /// `weight-stationary` or `output-stationary`.
    Dataflow,
    /// `ideal` or `physical` (a scratchpad region's banks).
    Banking,
}

/// A settable field of the accelerator description.
pub struct ArchField {
    /// Its path in the description, e.g. `dram.channels`.
    pub name: &'static str,
    pub ty: FieldTy,
    pub get: fn(&Arch) -> Value,
    pub set: fn(&mut Arch, &Value),
}

const BIG: u64 = i64::MAX as u64;

fn int(v: &Value) -> u64 {
    match v {
        Value::Int(i) => *i as u64,
        _ => unreachable!("checked when the sweep file was read"),
    }
}

fn flag(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

macro_rules! int_field {
    ($name:expr, $min:expr, $max:expr, $($f:tt)+) => {
        ArchField {
            name: $name,
            ty: FieldTy::Int { min: $min, max: $max },
            get: |a| Value::Int(a.$($f)+ as i64),
            set: |a, v| a.$($f)+ = int(v),
        }
    };
}

macro_rules! bool_field {
    ($name:literal, $($f:tt)+) => {
        ArchField {
            name: $name,
            ty: FieldTy::Bool,
            get: |a| Value::Bool(a.$($f)+),
            set: |a, v| a.$($f)+ = flag(v),
        }
    };
}

macro_rules! region_fields {
    ($r:ident) => {
        [
            int_field!(
                concat!("scratchpads.", stringify!($r), ".bytes"),
                1,
                BIG,
                $r.bytes
            ),
            int_field!(
                concat!("scratchpads.", stringify!($r), ".banks"),
                1,
                BIG,
                $r.banks
            ),
            int_field!(
                concat!("scratchpads.", stringify!($r), ".bank_width_bytes"),
                1,
                BIG,
                $r.bank_width_bytes
            ),
            int_field!(
                concat!("scratchpads.", stringify!($r), ".ports"),
                1,
                BIG,
                $r.ports
            ),
            int_field!(
                concat!("scratchpads.", stringify!($r), ".latency"),
                0,
                BIG,
                $r.latency
            ),
            ArchField {
                name: concat!("scratchpads.", stringify!($r), ".banking"),
                ty: FieldTy::Banking,
                get: |a| {
                    Value::Str(
                        match a.$r.banking {
                            Banking::Ideal => "ideal",
                            Banking::Physical => "physical",
                        }
                        .into(),
                    )
                },
                set: |a, v| {
                    a.$r.banking = match v {
                        Value::Str(s) if s == "physical" => Banking::Physical,
                        _ => Banking::Ideal,
                    }
                },
            },
        ]
    };
}

/// Every field of the description a sweep may set (the same bounds `Arch::parse` enforces).
pub fn arch_fields() -> &'static [ArchField] {
    static FIELDS: std::sync::OnceLock<Vec<ArchField>> = std::sync::OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut v = vec![
            int_field!("array.rows", 1, 256, rows),
            int_field!("array.cols", 1, 256, cols),
            ArchField {
                name: "array.dataflow",
                ty: FieldTy::Dataflow,
                get: |a| {
                    Value::Str(
                        match a.dataflow {
                            Dataflow::WeightStationary => "weight-stationary",
                            Dataflow::OutputStationary => "output-stationary",
                        }
                        .into(),
                    )
                },
                set: |a, v| {
                    a.dataflow = match v {
                        Value::Str(s) if s == "output-stationary" || s == "os" => {
                            Dataflow::OutputStationary
                        }
                        _ => Dataflow::WeightStationary,
                    }
                },
            },
            int_field!("sparsity.mux_lanes", 1, 16, mux_lanes),
            ArchField {
                name: "clock_mhz",
                ty: FieldTy::Positive,
                get: |a| Value::Float(a.clock_mhz),
                set: |a, v| a.clock_mhz = v.as_f64().expect("checked"),
            },
        ];
        v.extend(region_fields!(weight));
        v.extend(region_fields!(input));
        v.extend(region_fields!(output));
        v.extend([
            int_field!("dma.bytes_per_cycle", 1, BIG, dma.bytes_per_cycle),
            int_field!("dma.setup_cycles", 0, BIG, dma.setup_cycles),
            int_field!("dram.channels", 1, BIG, dram.channels),
            int_field!(
                "dram.bytes_per_cycle_per_channel",
                1,
                BIG,
                dram.bytes_per_cycle_per_channel
            ),
            int_field!("dram.latency", 0, BIG, dram.latency),
            ArchField {
                name: "dram.access_bytes",
                ty: FieldTy::Pow2,
                get: |a| Value::Int(a.dram.access_bytes as i64),
                set: |a, v| a.dram.access_bytes = int(v),
            },
            int_field!(
                "prune_unit.groups_per_cycle",
                1,
                BIG,
                prune_groups_per_cycle
            ),
            int_field!("prune_unit.latency", 0, BIG, prune_latency),
            int_field!("vector_unit.lanes", 1, BIG, vector_lanes),
            int_field!("vector_unit.latency", 0, BIG, vector_latency),
            bool_field!("optimizations.interleave", opt.interleave),
            bool_field!("optimizations.pregenerate", opt.pregenerate),
            bool_field!("optimizations.double_buffer", opt.double_buffer),
            // Bounded by the interconnect's blocks per point (`check_design`).
            int_field!("multicore.cores", 1, BIG, multicore.cores),
        ]);
        v
    })
}

/// The dataflow-optimization ablation: every switch on, or one of them off.
pub const ABLATIONS: [&str; 4] = [
    "all-on",
    "no-interleave",
    "no-pregeneration",
    "no-double-buffering",
];

/// The workload axes, with the value a sweep uses when it does not vary them.
pub const WORKLOAD_AXES: [(&str, &str); 5] = [
    ("model", "resnet18"),
    ("nm", "2:8"),
    ("batch", "16"),
    ("recipe", "bdwp"),
    ("ablation", "all-on"),
];

/// What an axis sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisKind {
    Model,
    Nm,
    Batch,
    Recipe,
    Ablation,
    /// An index into [`arch_fields`].
    Arch(usize),
}

impl AxisKind {
    /// The axis called `name`, if there is one.
    pub fn of(name: &str) -> Option<AxisKind> {
        Some(match name {
            "model" => AxisKind::Model,
            "nm" => AxisKind::Nm,
            "batch" => AxisKind::Batch,
            "recipe" => AxisKind::Recipe,
            "ablation" => AxisKind::Ablation,
            _ => AxisKind::Arch(arch_fields().iter().position(|f| f.name == name)?),
        })
    }
}

/// Every axis name, for "allowed:" lists.
pub fn all_axis_names() -> Vec<&'static str> {
    WORKLOAD_AXES
        .iter()
        .map(|(n, _)| *n)
        .chain(arch_fields().iter().map(|f| f.name))
        .collect()
}

/// Checks one value of the axis `kind`; the error says what is wrong and what is allowed.
pub fn check_value(kind: AxisKind, v: &Value) -> Result<(), (String, String)> {
    let bad = |what: &str, allowed: &str| Err((format!("`{v}` {what}"), allowed.to_string()));
    match kind {
        AxisKind::Model => match v {
            Value::Str(_) => Ok(()),
            _ => bad("is not a model name", "a zoo name or a model file"),
        },
        AxisKind::Nm => match v {
            Value::Str(s) => s
                .parse::<Nm>()
                .map(|_| ())
                .map_err(|e| (e, "N:M with 1 ≤ N < M ≤ 16".to_string())),
            _ => bad("is not an N:M pattern", "N:M with 1 ≤ N < M ≤ 16, quoted"),
        },
        AxisKind::Batch => match v {
            Value::Int(i) if *i >= 1 => Ok(()),
            _ => bad("is not a batch size", "an integer ≥ 1"),
        },
        AxisKind::Recipe => match v {
            Value::Str(s) if Recipe::parse(s).is_ok() => Ok(()),
            _ => bad("is not a recipe", "bdwp, srste, dense"),
        },
        AxisKind::Ablation => match v {
            Value::Str(s) if ABLATIONS.contains(&s.as_str()) => Ok(()),
            _ => bad("is not an ablation", &ABLATIONS.join(", ")),
        },
        AxisKind::Arch(i) => match (arch_fields()[i].ty, v) {
            (FieldTy::Int { min, max }, Value::Int(x))
                if *x >= 0 && (min..=max).contains(&(*x as u64)) =>
            {
                Ok(())
            }
            (FieldTy::Int { min, max }, _) if max == BIG => {
                bad("is out of range", &format!("an integer ≥ {min}"))
            }
            (FieldTy::Int { min, max }, _) => bad("is out of range", &format!("{min}..={max}")),
            (FieldTy::Pow2, Value::Int(x)) if *x > 0 && (*x as u64).is_power_of_two() => Ok(()),
            (FieldTy::Pow2, _) => bad("is not a power of two", "1, 2, 4, 8, 16, …"),
            (FieldTy::Positive, Value::Int(_) | Value::Float(_))
                if v.as_f64().is_some_and(|x| x.is_finite() && x > 0.0) =>
            {
                Ok(())
            }
            (FieldTy::Positive, _) => bad("is not a positive number", "a number > 0"),
            (FieldTy::Bool, Value::Bool(_)) => Ok(()),
            (FieldTy::Bool, _) => bad("is not a switch", "true, false"),
            (FieldTy::Dataflow, Value::Str(s))
                if ["weight-stationary", "ws", "output-stationary", "os"].contains(&s.as_str()) =>
            {
                Ok(())
            }
            (FieldTy::Dataflow, _) => {
                bad("is not a dataflow", "weight-stationary, output-stationary")
            }
            (FieldTy::Banking, Value::Str(s)) if ["ideal", "physical"].contains(&s.as_str()) => {
                Ok(())
            }
            (FieldTy::Banking, _) => bad("is not a banking", "ideal, physical"),
        },
    }
}

/// The workload of a point.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub model: String,
    pub nm: Nm,
    pub batch: u64,
    pub recipe: Recipe,
    pub ablation: &'static str,
}

/// Sets the optimization switches an ablation names.
pub fn apply_ablation(arch: &mut Arch, ablation: &str) {
    match ablation {
        "no-interleave" => arch.opt.interleave = false,
        "no-pregeneration" => arch.opt.pregenerate = false,
        "no-double-buffering" => arch.opt.double_buffer = false,
        _ => {}
    }
}

/// The combination checks of `Arch::parse` that single values cannot make.
pub fn check_design(arch: &Arch) -> Result<(), String> {
    for (name, r) in [
        ("weight", &arch.weight),
        ("input", &arch.input),
        ("output", &arch.output),
    ] {
        if !r.bytes.is_multiple_of(r.banks * r.bank_width_bytes) {
            return Err(format!(
                "scratchpads.{name}.bytes: {} bytes do not divide into {} banks of {}-byte words",
                r.bytes, r.banks, r.bank_width_bytes
            ));
        }
    }
    if let Some(name) = arch.unmodelled_physical_region() {
        return Err(format!(
            "scratchpads.{name}.banking: {}",
            nmsat_compiler::arch::UNMODELLED_PHYSICAL
        ));
    }
    let blocks = arch.multicore.interconnect.blocks();
    if arch.multicore.cores > blocks {
        return Err(format!(
            "multicore.cores: {} cores do not fit the {blocks} blocks of interconnect `{}`",
            arch.multicore.cores, arch.multicore.interconnect.name
        ));
    }
    Ok(())
}

/// Area of the PE array as a proxy, in PE equivalents: rows·cols MACs, plus each PE's M:1
/// activation mux counted as 1/32 PE per lane beyond the first (a 16-bit 2:1 mux stage is of
/// the order of 1/32 of the gates of an INT16 multiply-accumulate). Not a synthesis estimate.
pub fn area_proxy(arch: &Arch) -> f64 {
    (arch.rows * arch.cols) as f64 * (1.0 + (arch.mux_lanes - 1) as f64 / 32.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_reads_back_what_it_sets() {
        let base = Arch::load("sat-small").unwrap();
        for f in arch_fields() {
            let mut a = base.clone();
            let v = match f.ty {
                FieldTy::Int { min, .. } => Value::Int(min as i64 + 5),
                FieldTy::Pow2 => Value::Int(32),
                FieldTy::Positive => Value::Float(123.5),
                FieldTy::Bool => Value::Bool(!matches!((f.get)(&a), Value::Bool(true))),
                FieldTy::Dataflow => Value::Str("output-stationary".into()),
                FieldTy::Banking => Value::Str("physical".into()),
            };
            check_value(AxisKind::of(f.name).unwrap(), &v).unwrap();
            (f.set)(&mut a, &v);
            assert_eq!((f.get)(&a), v, "{}", f.name);
            assert_ne!(a, base, "{} changed nothing", f.name);
        }
    }

    #[test]
    fn values_are_checked_against_the_description_bounds() {
        let rows = AxisKind::of("array.rows").unwrap();
        assert!(check_value(rows, &Value::Int(256)).is_ok());
        let (msg, allowed) = check_value(rows, &Value::Int(257)).unwrap_err();
        assert_eq!(
            (msg.as_str(), allowed.as_str()),
            ("`257` is out of range", "1..=256")
        );
        assert!(check_value(rows, &Value::Int(0)).is_err());
        let lat = AxisKind::of("dram.latency").unwrap();
        assert!(check_value(lat, &Value::Int(0)).is_ok());
        let acc = AxisKind::of("dram.access_bytes").unwrap();
        assert!(check_value(acc, &Value::Int(24)).is_err());
        let nm = AxisKind::of("nm").unwrap();
        assert!(check_value(nm, &Value::Str("8:2".into())).is_err());
        assert!(check_value(AxisKind::Batch, &Value::Int(0)).is_err());
        assert!(AxisKind::of("array.depth").is_none());
        let banking = AxisKind::of("scratchpads.input.banking").unwrap();
        assert!(check_value(banking, &Value::Str("physical".into())).is_ok());
        let (msg, allowed) = check_value(banking, &Value::Str("crossbar".into())).unwrap_err();
        assert_eq!(
            (msg.as_str(), allowed.as_str()),
            ("`crossbar` is not a banking", "ideal, physical")
        );
    }

    #[test]
    fn design_check_catches_sizes_that_leave_banks_partial() {
        let mut a = Arch::load("sat-small").unwrap();
        assert!(check_design(&a).is_ok());
        a.input.bytes = 1000; // not a multiple of 4 banks × 8 bytes
        assert!(check_design(&a)
            .unwrap_err()
            .contains("scratchpads.input.bytes"));
        a.input.bytes = 16384;
        a.output.banking = Banking::Physical;
        assert!(check_design(&a).is_ok());
        a.dataflow = Dataflow::OutputStationary;
        assert!(check_design(&a)
            .unwrap_err()
            .contains("scratchpads.output.banking"));
    }
}
