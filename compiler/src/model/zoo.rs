//! Finding a model: the built-in zoo (YAML files under `configs/models/`, compiled in), or a
//! `.yaml`/`.yml` model file, or a SCALE-Sim `.csv` topology.

use super::layer::Model;
use super::scalesim::parse_scalesim;
use super::yaml::parse_yaml_model;
use crate::diag::Diagnostic;
use std::path::Path;

/// Names of the built-in models, in the order `zoo_names` lists them.
const NAMES: &[&str] = &["tiny-mlp", "resnet9", "vgg19", "resnet18", "resnet50", "vit-b16"];

/// The YAML text of built-in model `name`, as shipped in `configs/models/<name>.yaml`.
pub fn zoo_source(name: &str) -> Option<&'static str> {
    Some(match name {
        "tiny-mlp" => include_str!("../../../configs/models/tiny-mlp.yaml"),
        "resnet9" => include_str!("../../../configs/models/resnet9.yaml"),
        "vgg19" => include_str!("../../../configs/models/vgg19.yaml"),
        "resnet18" => include_str!("../../../configs/models/resnet18.yaml"),
        "resnet50" => include_str!("../../../configs/models/resnet50.yaml"),
        "vit-b16" => include_str!("../../../configs/models/vit-b16.yaml"),
        _ => return None,
    })
}

/// Names of the built-in models.
pub fn zoo_names() -> &'static [&'static str] {
    NAMES
}

/// Parses a model description; `file` names it in diagnostics and picks the format: a `.csv`
/// file is a SCALE-Sim topology, anything else the YAML model format.
pub fn parse_model(file: &str, text: &str) -> Result<Model, Diagnostic> {
    if has_extension(file, &["csv"]) {
        parse_scalesim(file, text)
    } else {
        parse_yaml_model(file, text)
    }
}

/// Loads a model by `spec`: a zoo name (see [`zoo_names`]), or the path of a `.yaml`/`.yml`
/// model file or a SCALE-Sim `.csv` topology.
pub fn load_model(spec: &str) -> Result<Model, Diagnostic> {
    if let Some(text) = zoo_source(spec) {
        return parse_model(&format!("configs/models/{spec}.yaml"), text);
    }
    let fail = |message: String, allowed: String| Diagnostic {
        file: spec.to_string(),
        line: None,
        field: String::new(),
        message,
        allowed: Some(allowed),
    };
    let choices = || format!("{}, or a .yaml/.yml/.csv file", NAMES.join(", "));
    if !Path::new(spec).is_file() {
        return Err(fail(format!("no built-in model or file named `{spec}`"), choices()));
    }
    if !has_extension(spec, &["yaml", "yml", "csv"]) {
        return Err(fail("unknown model file type".into(), "a .yaml or .yml model, or a SCALE-Sim .csv topology".into()));
    }
    let text = std::fs::read_to_string(spec).map_err(|e| fail(format!("cannot read: {e}"), choices()))?;
    parse_model(spec, &text)
}

fn has_extension(file: &str, exts: &[&str]) -> bool {
    Path::new(file)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}
