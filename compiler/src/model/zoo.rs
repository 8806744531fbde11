//! Finding a model: the built-in zoo (YAML files under `configs/models/`, compiled in), or a
//! `.yaml`/`.yml` model file, or a SCALE-Sim `.csv` topology.

use super::layer::Model;
use super::scalesim::parse_scalesim;
use super::yaml::parse_yaml_model;
use crate::diag::Diagnostic;
use std::path::Path;

/// Names of the built-in models, in the order `zoo_names` lists them.
const NAMES: &[&str] = &[
    "tiny-mlp",
    "digits-cnn",
    "resnet9",
    "vgg19",
    "resnet18",
    "resnet50",
    "vit-b16",
    "toy-vit",
];

/// The YAML text of built-in model `name`, as shipped in `configs/models/<name>.yaml`.
pub fn zoo_source(name: &str) -> Option<&'static str> {
    Some(match name {
        "tiny-mlp" => include_str!("../../../configs/models/tiny-mlp.yaml"),
        "digits-cnn" => include_str!("../../../configs/models/digits-cnn.yaml"),
        "resnet9" => include_str!("../../../configs/models/resnet9.yaml"),
        "vgg19" => include_str!("../../../configs/models/vgg19.yaml"),
        "resnet18" => include_str!("../../../configs/models/resnet18.yaml"),
        "resnet50" => include_str!("../../../configs/models/resnet50.yaml"),
        "vit-b16" => include_str!("../../../configs/models/vit-b16.yaml"),
        "toy-vit" => include_str!("../../../configs/models/toy-vit.yaml"),
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
        return Err(fail(
            format!("no built-in model or file named `{spec}`"),
            choices(),
        ));
    }
    if !has_extension(spec, &["yaml", "yml", "csv"]) {
        return Err(fail(
            "unknown model file type".into(),
            "a .yaml or .yml model, or a SCALE-Sim .csv topology".into(),
        ));
    }
    let text =
        std::fs::read_to_string(spec).map_err(|e| fail(format!("cannot read: {e}"), choices()))?;
    parse_model(spec, &text)
}

fn has_extension(file: &str, exts: &[&str]) -> bool {
    Path::new(file)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

#[cfg(test)]
mod tests {
    use super::super::layer::{Op, Shape};
    use super::*;

    /// All trainable parameters: GEMM weights plus biases and norm scales/shifts.
    fn params(m: &Model) -> u64 {
        let extra: u64 = m
            .layers
            .iter()
            .map(|l| match l.op {
                Op::Conv2d {
                    out_ch, bias: true, ..
                } => out_ch,
                Op::Linear {
                    out_f, bias: true, ..
                } => out_f,
                Op::Norm { features, .. } => 2 * features,
                _ => 0,
            })
            .sum();
        m.weight_count() + extra
    }

    #[test]
    fn every_zoo_model_parses_and_ends_in_class_scores() {
        for &name in zoo_names() {
            let m = load_model(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(m.name, name);
            let classes = if name.starts_with("resnet") && name != "resnet9" || name == "vit-b16" {
                1000
            } else {
                10
            };
            assert_eq!(
                m.layers.last().unwrap().out,
                Shape::Seq {
                    tokens: 1,
                    dim: classes
                },
                "{name}"
            );
        }
    }

    /// Forward MACs per sample: the exact count of the layer list, and the published figure.
    /// torchvision publishes GMACs ("_ops", from its own counter over convolutions, linears and
    /// attention matmuls) to three decimals, so the exact count must round to it: a tolerance
    /// of ±0.0005 GMAC (≤ 0.03 %). The CIFAR models have no such table; their figures are
    /// derived by hand in the YAML headers (ResNet-9: 5 convolutions of 75.5 M MACs each, as
    /// every stage halves the map and doubles the channels, plus the 1.77 M prep conv and the
    /// 5,120 classifier).
    #[test]
    fn forward_macs_match_published_figures() {
        let cases: &[(&str, u64, Option<f64>)] = &[
            // (model, exact MACs, published GMAC)
            ("tiny-mlp", 64 * 32 + 32 * 10, None),
            ("resnet9", 1_769_472 + 5 * 75_497_472 + 5_120, None),
            ("vgg19", 398_136_320, None),
            ("resnet18", 1_814_073_344, Some(1.814)),
            ("resnet50", 4_089_184_256, Some(4.089)),
            ("vit-b16", 17_563_828_224, Some(17.564)),
            ("toy-vit", 49_024, None),
        ];
        for &(name, exact, published) in cases {
            let got = load_model(name).unwrap().forward_macs();
            assert_eq!(got, exact, "{name}");
            if let Some(g) = published {
                assert!(
                    (got as f64 / 1e9 - g).abs() <= 0.0005,
                    "{name}: {got} MACs do not round to {g} G"
                );
            }
        }
    }

    /// The exact ViT-B/16 count, term by term (T = 197 tokens, D = 768, 12 heads of 64):
    /// patch embedding 196·768·(3·16·16) + 12 × [QKV 3·T·D² + QKᵀ and AV 2·12·T²·64 +
    /// projection T·D² + MLP 2·T·D·3072] + head 768·1000.
    #[test]
    fn vit_b16_macs_term_by_term() {
        let (t, d) = (197u64, 768u64);
        let layer = 3 * t * d * d + 2 * 12 * t * t * 64 + t * d * d + 2 * t * d * 3072;
        let want = 196 * d * 768 + 12 * layer + d * 1000;
        assert_eq!(want, 17_563_828_224);
        assert_eq!(load_model("vit-b16").unwrap().forward_macs(), want);
    }

    /// Parameters against torchvision's `num_params`, exactly: GEMM weights plus biases and
    /// batch/layer-norm scales and shifts. ViT-B/16 also has a class token (768) and a position
    /// embedding (197·768), which are not layers here. `weight_count()` alone is then the
    /// published figure less those: ResNet-18 less 9,600 norm and 1,000 bias parameters (0.09 %),
    /// ResNet-50 less 54,120 (0.21 %), ViT-B/16 less 275,176 (0.32 %).
    #[test]
    fn parameter_counts_match_published_figures() {
        let vit_extra = 768 + 197 * 768;
        let cases: &[(&str, u64, u64, u64)] = &[
            // (model, published parameters, not-layer parameters, GEMM weights)
            (
                "tiny-mlp",
                64 * 32 + 32 + 32 * 10 + 10,
                0,
                64 * 32 + 32 * 10,
            ),
            ("resnet9", 6_568_640 + 2 * 2_240, 0, 6_568_640),
            ("vgg19", 20_040_522, 0, 20_024_000),
            ("resnet18", 11_689_512, 0, 11_678_912),
            ("resnet50", 25_557_032, 0, 25_502_912),
            ("vit-b16", 86_567_656, vit_extra, 86_292_480),
        ];
        for &(name, published, extra, weights) in cases {
            let m = load_model(name).unwrap();
            assert_eq!(params(&m) + extra, published, "{name}: all parameters");
            assert_eq!(m.weight_count(), weights, "{name}: GEMM weights");
        }
    }

    #[test]
    fn specs_that_are_neither_zoo_names_nor_model_files_list_the_choices() {
        let e = load_model("resnet-18").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("resnet-18", None));
        assert!(
            e.message
                .contains("no built-in model or file named `resnet-18`"),
            "{e}"
        );
        let allowed = e.allowed.unwrap();
        for name in zoo_names() {
            assert!(allowed.contains(name), "{allowed}");
        }
        let dir = std::env::temp_dir().join(format!("nmsat-zoo-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let txt = dir.join("model.txt");
        std::fs::write(&txt, "name: x").unwrap();
        let e = load_model(txt.to_str().unwrap()).unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown model file type (allowed: a .yaml or .yml model"),
            "{e}"
        );
        let yml = dir.join("bad.yml");
        std::fs::write(&yml, "name: x\ninput: {tokens: 1, dim: 0}\nlayers: []\n").unwrap();
        let e = load_model(yml.to_str().unwrap()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(2), "input.dim"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_load_by_path_in_either_format() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/models");
        let m = load_model(&format!("{root}/resnet18.yaml")).unwrap();
        assert_eq!(m, load_model("resnet18").unwrap());
        let m = load_model(&format!("{root}/scalesim/alexnet.csv")).unwrap();
        assert_eq!((m.name.as_str(), m.layers.len()), ("alexnet", 5));
    }
}
