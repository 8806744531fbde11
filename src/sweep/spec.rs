//! The sweep description: `RawSpec` is what `configs/sweeps/*.yaml` says, [`Spec`] what was
//! checked — every axis known and non-empty, every value in range, every model loadable, every
//! constraint parsed — so that a bad file fails before the first point runs.
//!
//! ```yaml
//! name: example
//! arch: sat-vcu1525                 # base description: a built-in name or a path
//! mode: fast                        # fast (default) or exact
//! sampling: grid                    # or {random: 200, seed: 7}
//! axes:                             # in this order; the last varies fastest
//!   array.rows: [16, 32, 64]        # any description field, by its path in the YAML
//!   array.cols: {from: 16, to: 64, factor: 2}
//!   model: [resnet9, resnet18]
//!   nm: ["1:4", "2:8"]
//! constraints: ["array.rows * array.cols <= 2048"]
//! focus: {array.rows: 32, array.cols: 32, nm: "2:8"}   # the design the plots single out
//! area: pe-proxy                    # or yosys-xcvu9p: LUTs of the synthesized RTL (`area.rs`)
//! accuracy: {dataset: digits, epochs: 5, seed: 1, datapath: f32}   # optional (`accuracy.rs`)
//! ```

use super::accuracy::{self, AccuracySpec, RawAccuracy};
use super::area::Area;
use super::axes::{self, AxisKind, Workload, ABLATIONS, WORKLOAD_AXES};
use super::constraint::{self, Expr};
use super::value::Value;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::diag::{parse_yaml, Diagnostic, SourceMap};
use nmsat_compiler::graph::Recipe;
use nmsat_compiler::model::Model;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A YAML mapping with its keys in file order.
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry()? {
                    v.push(e);
                }
                Ok(Ordered(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Option<String>,
    arch: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    sampling: Option<serde_json::Value>,
    axes: Ordered,
    #[serde(default)]
    constraints: Vec<String>,
    #[serde(default)]
    focus: Option<Ordered>,
    #[serde(default)]
    area: Option<String>,
    #[serde(default)]
    accuracy: Option<RawAccuracy>,
}

/// How points are drawn from the grid of axis values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Every combination that meets the constraints.
    Grid,
    /// `points` distinct combinations that meet the constraints, drawn with `seed`.
    Random { points: u64, seed: u64 },
}

/// One axis of the sweep.
#[derive(Debug, Clone)]
pub struct Axis {
    pub name: String,
    pub kind: AxisKind,
    pub values: Vec<Value>,
}

/// A checked sweep description.
pub struct Spec {
    pub name: String,
    /// The file the description came from, as given.
    pub file: String,
    /// Its text, kept with the results so that `nmsat plot` and `merge` can re-read it.
    pub text: String,
    pub base: Arch,
    /// Exact mode (cycle by cycle) instead of fast mode.
    pub exact: bool,
    pub sampling: Sampling,
    pub axes: Vec<Axis>,
    pub constraints: Vec<(String, Expr)>,
    /// The value of every axis in the design the plots single out.
    pub focus: Vec<Value>,
    /// Every model the sweep names, loaded.
    pub models: HashMap<String, Model>,
    /// How the Pareto front measures area.
    pub area: Area,
    /// Whether (and how) each point also trains for its accuracy.
    pub accuracy: Option<AccuracySpec>,
    pub map: SourceMap,
}

/// `spec` itself when it exists or names a built-in, else relative to the sweep file.
fn resolve_path(spec: &str, base_dir: &Path, built_in: bool) -> String {
    if built_in || Path::new(spec).is_absolute() || Path::new(spec).exists() {
        return spec.to_string();
    }
    let near: PathBuf = base_dir.join(spec);
    if near.exists() {
        near.to_string_lossy().into_owned()
    } else {
        spec.to_string()
    }
}

fn expand_axis(
    map: &SourceMap,
    path: &str,
    raw: &serde_json::Value,
) -> Result<Vec<Value>, Diagnostic> {
    let scalar = |v: &serde_json::Value, p: &str| {
        Value::from_json(v)
            .ok_or_else(|| map.error(p, "an axis value must be a number, a switch or a name", ""))
    };
    let values = match raw {
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| scalar(v, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
        serde_json::Value::Object(o) => {
            let num = |k: &str| -> Result<Option<f64>, Diagnostic> {
                match o.get(k) {
                    None => Ok(None),
                    Some(v) => v
                        .as_f64()
                        .map(Some)
                        .ok_or_else(|| map.error(&format!("{path}.{k}"), "must be a number", "")),
                }
            };
            if let Some(k) = o
                .keys()
                .find(|k| !["from", "to", "step", "factor"].contains(&k.as_str()))
            {
                return Err(map.error(
                    &format!("{path}.{k}"),
                    format!("unknown key `{k}` in a range"),
                    "from, to, and step or factor",
                ));
            }
            let (from, to) = match (num("from")?, num("to")?) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err(map.error(
                        path,
                        "a range needs `from` and `to`",
                        "a list of values, or {from, to, step} or {from, to, factor}",
                    ))
                }
            };
            let next: Box<dyn Fn(f64) -> f64> = match (num("step")?, num("factor")?) {
                (Some(s), None) if s > 0.0 => Box::new(move |x| x + s),
                (None, Some(f)) if f > 1.0 => Box::new(move |x| x * f),
                _ => {
                    return Err(map.error(
                        path,
                        "a range needs either a `step` > 0 or a `factor` > 1",
                        "{from, to, step} or {from, to, factor}",
                    ))
                }
            };
            let integral = [o.get("from"), o.get("step"), o.get("factor")]
                .iter()
                .flatten()
                .all(|v| v.is_i64());
            let mut v = Vec::new();
            let mut x = from;
            while x <= to * (1.0 + 1e-12) && v.len() <= 100_000 {
                v.push(if integral {
                    Value::Int(x.round() as i64)
                } else {
                    Value::Float(x)
                });
                x = next(x);
            }
            v
        }
        other => vec![scalar(other, path)?],
    };
    if values.is_empty() {
        return Err(map.error(path, "the axis is empty", "one value or more"));
    }
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(map.error(
                &format!("{path}[{i}]"),
                format!("`{v}` is listed twice"),
                "distinct values",
            ));
        }
    }
    Ok(values)
}

impl Spec {
    /// Reads and checks the sweep description at `path`.
    pub fn load(path: &Path) -> Result<Spec, Diagnostic> {
        let file = path.to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).map_err(|e| Diagnostic {
            file: file.clone(),
            line: None,
            field: String::new(),
            message: format!("cannot read the sweep description: {e}"),
            allowed: Some("a YAML file, e.g. configs/sweeps/sat-vcu1525.yaml".into()),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Spec::parse(&file, &text, dir)
    }

    /// Checks the description `text` from `file`; relative paths in it are tried as given,
    /// then relative to `dir`.
    pub fn parse(file: &str, text: &str, dir: &Path) -> Result<Spec, Diagnostic> {
        let (raw, map): (RawSpec, SourceMap) = parse_yaml(file, text)?;
        let built_in = nmsat_compiler::arch::built_in_names().contains(&raw.arch.as_str());
        let base = Arch::load(&resolve_path(&raw.arch, dir, built_in))
            .map_err(|e| map.error("arch", format!("cannot load the base description: {e}"), ""))?;
        let exact = match raw.mode.as_deref() {
            None | Some("fast") => false,
            Some("exact") => true,
            Some(other) => {
                return Err(map.error("mode", format!("unknown mode `{other}`"), "fast, exact"))
            }
        };
        let sampling = parse_sampling(&map, raw.sampling.as_ref())?;
        let area = match raw.area.as_deref() {
            None => Area::PeProxy,
            Some(a) => Area::parse(a).ok_or_else(|| {
                map.error(
                    "area",
                    format!("unknown area model `{a}`"),
                    Area::NAMES.join(", "),
                )
            })?,
        };
        if raw.axes.0.is_empty() {
            return Err(map.error("axes", "no axis is given", "one axis or more"));
        }
        let mut axes: Vec<Axis> = Vec::new();
        for (name, raw_values) in &raw.axes.0 {
            let path = format!("axes.{name}");
            let kind = AxisKind::of(name).ok_or_else(|| {
                map.error(
                    &path,
                    format!("unknown axis `{name}`"),
                    axes::all_axis_names().join(", "),
                )
            })?;
            if axes.iter().any(|a| &a.name == name) {
                return Err(map.error(&path, format!("axis `{name}` is given twice"), ""));
            }
            let values = expand_axis(&map, &path, raw_values)?;
            for (i, v) in values.iter().enumerate() {
                axes::check_value(kind, v)
                    .map_err(|(m, allowed)| map.error(&format!("{path}[{i}]"), m, allowed))?;
            }
            axes.push(Axis {
                name: name.clone(),
                kind,
                values,
            });
        }
        let mut models = HashMap::new();
        let model_names: Vec<(String, String)> =
            match axes.iter().find(|a| a.kind == AxisKind::Model) {
                Some(a) => a
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v.to_string(), format!("axes.model[{i}]")))
                    .collect(),
                None => vec![(WORKLOAD_AXES[0].1.to_string(), "axes".to_string())],
            };
        for (name, path) in model_names {
            let model = accuracy::load_model(&name, || {
                nmsat_compiler::model::load_model(&resolve_path(&name, dir, false))
            })
            .map_err(|e| map.error(&path, format!("cannot load model `{name}`: {e}"), ""))?;
            models.insert(name, model);
        }
        let accuracy = raw
            .accuracy
            .as_ref()
            .map(|a| accuracy::parse(&map, a, &axes, &models))
            .transpose()?;
        let mut constraints = Vec::new();
        for (i, c) in raw.constraints.iter().enumerate() {
            let path = format!("constraints[{i}]");
            let e =
                constraint::parse(c).map_err(|m| map.error(&path, format!("`{c}`: {m}"), ""))?;
            for n in e.names() {
                if AxisKind::of(n).is_none() && n != "nm.n" && n != "nm.m" {
                    return Err(map.error(
                        &path,
                        format!("`{c}`: unknown name `{n}`"),
                        format!("{}, nm.n, nm.m", axes::all_axis_names().join(", ")),
                    ));
                }
            }
            constraints.push((c.clone(), e));
        }
        let mut focus: Vec<Value> = axes
            .iter()
            .map(|a| {
                let preferred = match a.kind {
                    AxisKind::Nm => Some(Value::Str("2:8".into())),
                    AxisKind::Ablation => Some(Value::Str(ABLATIONS[0].into())),
                    _ => None,
                };
                preferred
                    .filter(|p| a.values.contains(p))
                    .unwrap_or_else(|| a.values[0].clone())
            })
            .collect();
        for (name, v) in raw.focus.iter().flat_map(|f| f.0.iter()) {
            let path = format!("focus.{name}");
            let i = axes.iter().position(|a| &a.name == name).ok_or_else(|| {
                map.error(
                    &path,
                    format!("`{name}` is not an axis of this sweep"),
                    axes.iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })?;
            let value = Value::from_json(v)
                .filter(|v| axes[i].values.contains(v))
                .ok_or_else(|| {
                    map.error(
                        &path,
                        format!("`{v}` is not a value of the axis"),
                        axes[i]
                            .values
                            .iter()
                            .map(Value::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                })?;
            focus[i] = value;
        }
        let name = raw.name.unwrap_or_else(|| {
            Path::new(file)
                .file_stem()
                .map_or("sweep".into(), |s| s.to_string_lossy().into_owned())
        });
        Ok(Spec {
            name,
            file: file.to_string(),
            text: text.to_string(),
            base,
            exact,
            sampling,
            axes,
            constraints,
            focus,
            models,
            area,
            accuracy,
            map,
        })
    }

    /// The index of the axis of `kind`, if the sweep varies it.
    pub fn axis(&self, kind: AxisKind) -> Option<usize> {
        self.axes.iter().position(|a| a.kind == kind)
    }

    /// The description and workload of the point with these axis values.
    pub fn resolve(&self, values: &[Value]) -> (Arch, Workload) {
        let mut arch = self.base.clone();
        let get = |kind: AxisKind, i: usize| {
            self.axis(kind)
                .map_or_else(|| WORKLOAD_AXES[i].1.to_string(), |a| values[a].to_string())
        };
        for (axis, v) in self.axes.iter().zip(values) {
            if let AxisKind::Arch(f) = axis.kind {
                (axes::arch_fields()[f].set)(&mut arch, v);
            }
        }
        let ablation_name = get(AxisKind::Ablation, 4);
        let ablation = ABLATIONS
            .into_iter()
            .find(|a| *a == ablation_name)
            .expect("checked");
        axes::apply_ablation(&mut arch, ablation);
        let w = Workload {
            model: get(AxisKind::Model, 0),
            nm: get(AxisKind::Nm, 1).parse().expect("checked"),
            batch: get(AxisKind::Batch, 2).parse().expect("checked"),
            recipe: Recipe::parse(&get(AxisKind::Recipe, 3)).expect("checked"),
            ablation,
        };
        (arch, w)
    }

    /// Whether the point with these values meets every constraint.
    pub fn admits(&self, values: &[Value]) -> Result<bool, Diagnostic> {
        if self.constraints.is_empty() {
            return Ok(true);
        }
        let (arch, w) = self.resolve(values);
        let env = |name: &str| -> Option<Value> {
            Some(match name {
                "model" => Value::Str(w.model.clone()),
                "nm" => Value::Str(w.nm.to_string()),
                "nm.n" => Value::Int(w.nm.n as i64),
                "nm.m" => Value::Int(w.nm.m as i64),
                "batch" => Value::Int(w.batch as i64),
                "recipe" => Value::Str(
                    match w.recipe {
                        Recipe::Bdwp => "bdwp",
                        Recipe::SrSte => "srste",
                        Recipe::Dense => "dense",
                    }
                    .into(),
                ),
                "ablation" => Value::Str(w.ablation.into()),
                _ => match AxisKind::of(name)? {
                    AxisKind::Arch(f) => (axes::arch_fields()[f].get)(&arch),
                    _ => return None,
                },
            })
        };
        for (i, (text, e)) in self.constraints.iter().enumerate() {
            let ok = e.holds(&env).map_err(|m| {
                self.map
                    .error(&format!("constraints[{i}]"), format!("`{text}`: {m}"), "")
            })?;
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn parse_sampling(
    map: &SourceMap,
    raw: Option<&serde_json::Value>,
) -> Result<Sampling, Diagnostic> {
    let allowed = "grid, or {random: POINTS, seed: SEED}";
    match raw {
        None => Ok(Sampling::Grid),
        Some(serde_json::Value::String(s)) if s == "grid" => Ok(Sampling::Grid),
        Some(serde_json::Value::Object(o)) => {
            if let Some(k) = o.keys().find(|k| *k != "random" && *k != "seed") {
                return Err(map.error(
                    &format!("sampling.{k}"),
                    format!("unknown key `{k}`"),
                    allowed,
                ));
            }
            let points = o.get("random").and_then(|v| v.as_u64()).filter(|&p| p >= 1);
            let seed = match o.get("seed") {
                None => Some(0),
                Some(v) => v.as_u64(),
            };
            match (points, seed) {
                (Some(points), Some(seed)) => Ok(Sampling::Random { points, seed }),
                (None, _) => Err(map.error(
                    "sampling.random",
                    "must be the number of points to draw, at least 1",
                    allowed,
                )),
                (_, None) => Err(map.error("sampling.seed", "must be an integer ≥ 0", allowed)),
            }
        }
        Some(other) => Err(map.error("sampling", format!("unknown sampling `{other}`"), allowed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
name: t
arch: sat-small
axes:
  array.rows: [4, 8]
  array.cols: {from: 4, to: 16, factor: 2}
  model: [tiny-mlp]
  nm: [\"1:4\", \"2:8\"]
constraints:
  - array.rows * array.cols <= 64
focus: {nm: \"1:4\"}
";

    fn parse(text: &str) -> Result<Spec, Diagnostic> {
        Spec::parse("s.yaml", text, Path::new("."))
    }

    /// `text` fails at `line` on `field`, and the message contains `needle`.
    fn check(text: &str, line: usize, field: &str, needle: &str) {
        let e = match parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e,
        };
        assert_eq!((e.line, e.field.as_str()), (Some(line), field), "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }

    #[test]
    fn a_good_description_expands_its_axes() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.name, "t");
        let names: Vec<_> = s.axes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["array.rows", "array.cols", "model", "nm"]);
        let cols: Vec<String> = s.axes[1].values.iter().map(Value::to_string).collect();
        assert_eq!(cols, ["4", "8", "16"]);
        assert_eq!(s.focus[3], Value::Str("1:4".into()));
        assert_eq!(s.focus[0], Value::Int(4));
        let (arch, w) = s.resolve(&[
            Value::Int(8),
            Value::Int(16),
            Value::Str("tiny-mlp".into()),
            Value::Str("2:8".into()),
        ]);
        assert_eq!((arch.rows, arch.cols, w.nm.m, w.batch), (8, 16, 8, 16));
        assert!(!s
            .admits(&[
                Value::Int(8),
                Value::Int(16),
                Value::Str("tiny-mlp".into()),
                Value::Str("2:8".into())
            ])
            .unwrap());
        assert!(s
            .admits(&[
                Value::Int(4),
                Value::Int(16),
                Value::Str("tiny-mlp".into()),
                Value::Str("2:8".into())
            ])
            .unwrap());
    }

    #[test]
    fn bad_descriptions_name_line_field_and_what_is_allowed() {
        check(
            &GOOD.replace("array.rows: [4, 8]", "array.depth: [4, 8]"),
            4,
            "axes.array.depth",
            "unknown axis `array.depth` (allowed: model, nm, batch, recipe, ablation, array.rows",
        );
        check(
            &GOOD.replace("array.rows: [4, 8]", "array.rows: []"),
            4,
            "axes.array.rows",
            "the axis is empty",
        );
        check(
            &GOOD.replace("[4, 8]", "[4, 300]"),
            4,
            "axes.array.rows[1]",
            "`300` is out of range (allowed: 1..=256)",
        );
        check(
            &GOOD.replace("\"2:8\"]", "\"9:8\"]"),
            7,
            "axes.nm[1]",
            "N:M",
        );
        check(
            &GOOD.replace("[tiny-mlp]", "[tiny-mpl]"),
            6,
            "axes.model[0]",
            "tiny-mpl",
        );
        check(
            &GOOD.replace("array.rows * array.cols", "array.rows * array.colz"),
            9,
            "constraints[0]",
            "unknown name `array.colz`",
        );
        check(
            &GOOD.replace("<= 64", "<="),
            9,
            "constraints[0]",
            "ends too early",
        );
        check(
            &GOOD.replace("{nm: \"1:4\"}", "{nm: \"3:4\"}"),
            10,
            "focus.nm",
            "allowed: 1:4, 2:8",
        );
        check(
            &GOOD.replace("name: t", "nmae: t"),
            1,
            "nmae",
            "unknown field `nmae`",
        );
        check(
            &GOOD.replace("axes:", "sampling: {random: 0}\naxes:"),
            3,
            "sampling.random",
            "at least 1",
        );
        check(
            &GOOD.replace("factor: 2", "factor: 1"),
            5,
            "axes.array.cols",
            "factor",
        );
        check(
            &GOOD.replace("[4, 8]", "[4, 4]"),
            4,
            "axes.array.rows[1]",
            "listed twice",
        );
        check(
            &GOOD.replace("arch: sat-small", "arch: sat-big"),
            2,
            "arch",
            "sat-big",
        );
    }

    #[test]
    fn sampling_forms() {
        let s = parse(&GOOD.replace("axes:", "sampling: {random: 5, seed: 3}\naxes:")).unwrap();
        assert_eq!(s.sampling, Sampling::Random { points: 5, seed: 3 });
        let s = parse(&GOOD.replace("axes:", "sampling: grid\naxes:")).unwrap();
        assert_eq!(s.sampling, Sampling::Grid);
    }
}
