//! The YAML model format: what a file says (`Raw*`, checked only by serde). The validation and
//! shape inference that turn it into a [`Model`] are in `infer_shapes`.
//!
//! ```yaml
//! name: resnet18
//! input: {channels: 3, height: 224, width: 224}    # or {tokens: 1, dim: 64}
//! layers:
//!   - {name: conv1, op: conv2d, out_channels: 64, kernel: 7, stride: 2, padding: 3, bias: false}
//!   - {name: bn1, op: batchnorm}
//!   - {name: l1.0.add, op: add, inputs: [l1.0.bn2, pool1]}
//! ```
//!
//! A layer reads the previous layer unless it names its `inputs` (earlier layers, or `input`
//! for the model input). Every field an op does not use is an error rather than ignored, so a
//! misplaced `stride` on a `relu` cannot silently vanish.

use super::infer_shapes::resolve;
use super::layer::Model;
use crate::diag::{parse_yaml, Diagnostic};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// A model file: its name, the per-sample input and the layers in order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    pub(super) name: String,
    pub(super) input: RawInput,
    pub(super) layers: Vec<RawLayer>,
}

/// Either an image (`channels`, `height`, `width`) or a token sequence (`tokens`, `dim`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInput {
    pub(super) channels: Option<u64>,
    pub(super) height: Option<u64>,
    pub(super) width: Option<u64>,
    pub(super) tokens: Option<u64>,
    pub(super) dim: Option<u64>,
}

/// The ops, as written in `op:`. Shapes are per sample: an image `C×H×W` or `T` tokens of `D`.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub(super) enum OpKind {
    /// Image → image. `out_channels`, `kernel` (`k` or `[kh, kw]`) required; `stride` (1),
    /// `padding` (0, both sides), `groups` (1), `bias` (true, as PyTorch).
    Conv2d,
    /// `out_features` required, `bias` (true). Applied to every token of a sequence; an image
    /// is flattened to one token of `C·H·W` first.
    Linear,
    /// Activation × activation, no weights: `form: qk` (scores `Q·Kᵀ`) or `form: av`
    /// (context `A·V`), `heads` (1); two inputs. See `infer_shapes` for the shapes.
    Matmul,
    /// Image → image. `kernel` (square) required; `stride` (= kernel), `padding` (0).
    Maxpool,
    /// As `maxpool`.
    Avgpool,
    /// Image `C×H×W` (square) → `C×1×1`.
    GlobalAvgpool,
    /// Element-wise, any shape.
    Relu,
    /// Element-wise, any shape.
    Gelu,
    /// Element-wise sum of two or more inputs of equal shape.
    Add,
    /// Per channel of an image, or per feature of a sequence.
    Batchnorm,
    /// Per token of a sequence.
    Layernorm,
    /// Over the last dimension, any shape.
    Softmax,
    /// Any shape → one token of all its elements.
    Flatten,
    /// Image `C×H×W` → `H·W` tokens of `C` (ViT patch embedding output).
    ToTokens,
    /// `T` tokens → `T + 1`: prepends the class token (a zero row: its learned value is left
    /// out, as a position embedding is).
    AddClassToken,
    /// `T` tokens → the class token alone.
    TakeClassToken,
}

/// Which attention product a `matmul` is.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub(super) enum MatmulForm {
    /// Scores `Q·Kᵀ` per head: inputs `[q, k]`, both `tokens × dim`.
    Qk,
    /// Context `A·V` per head: inputs `[scores, v]`.
    Av,
}

/// One layer as written: every op-specific field is optional here and checked against the op.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLayer {
    pub(super) name: String,
    pub(super) op: OpKind,
    pub(super) inputs: Option<Vec<String>>,
    pub(super) out_channels: Option<u64>,
    pub(super) kernel: Option<Kernel>,
    pub(super) stride: Option<u64>,
    pub(super) padding: Option<u64>,
    pub(super) groups: Option<u64>,
    pub(super) bias: Option<bool>,
    pub(super) out_features: Option<u64>,
    pub(super) heads: Option<u64>,
    pub(super) form: Option<MatmulForm>,
}

/// A kernel size: `3` or `[3, 5]` (height, width).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Kernel {
    pub(super) h: u64,
    pub(super) w: u64,
}

impl<'de> Deserialize<'de> for Kernel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Kernel;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a kernel size: an integer or a list [height, width]")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kernel, E> {
                Ok(Kernel { h: v, w: v })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kernel, E> {
                u64::try_from(v)
                    .map(|v| Kernel { h: v, w: v })
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kernel, A::Error> {
                let h = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let w = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(Kernel { h, w })
            }
        }
        d.deserialize_any(V)
    }
}

impl OpKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            OpKind::Conv2d => "conv2d",
            OpKind::Linear => "linear",
            OpKind::Matmul => "matmul",
            OpKind::Maxpool => "maxpool",
            OpKind::Avgpool => "avgpool",
            OpKind::GlobalAvgpool => "global_avgpool",
            OpKind::Relu => "relu",
            OpKind::Gelu => "gelu",
            OpKind::Add => "add",
            OpKind::Batchnorm => "batchnorm",
            OpKind::Layernorm => "layernorm",
            OpKind::Softmax => "softmax",
            OpKind::Flatten => "flatten",
            OpKind::ToTokens => "to_tokens",
            OpKind::AddClassToken => "add_class_token",
            OpKind::TakeClassToken => "take_class_token",
        }
    }

    /// The op-specific fields this op reads (besides `name`, `op`, `inputs`).
    pub(super) fn fields(self) -> &'static [&'static str] {
        match self {
            OpKind::Conv2d => &[
                "out_channels",
                "kernel",
                "stride",
                "padding",
                "groups",
                "bias",
            ],
            OpKind::Linear => &["out_features", "bias"],
            OpKind::Matmul => &["form", "heads"],
            OpKind::Maxpool | OpKind::Avgpool => &["kernel", "stride", "padding"],
            _ => &[],
        }
    }

    /// How many inputs the op takes: (at least, at most).
    pub(super) fn arity(self) -> (usize, usize) {
        match self {
            OpKind::Add => (2, usize::MAX),
            OpKind::Matmul => (2, 2),
            _ => (1, 1),
        }
    }
}

impl RawLayer {
    /// The op-specific fields that were written, in declaration order.
    pub(super) fn given_fields(&self) -> Vec<&'static str> {
        let given = [
            ("out_channels", self.out_channels.is_some()),
            ("kernel", self.kernel.is_some()),
            ("stride", self.stride.is_some()),
            ("padding", self.padding.is_some()),
            ("groups", self.groups.is_some()),
            ("bias", self.bias.is_some()),
            ("out_features", self.out_features.is_some()),
            ("heads", self.heads.is_some()),
            ("form", self.form.is_some()),
        ];
        given.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect()
    }
}

/// Parses a YAML model description from `text` (read from `file`) into a validated [`Model`].
pub fn parse_yaml_model(file: &str, text: &str) -> Result<Model, Diagnostic> {
    let (raw, map) = parse_yaml::<RawModel>(file, text)?;
    resolve(raw, &map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layer::{NormKind, Op, PoolKind, Shape};
    use proptest::prelude::*;

    const BASE: &str = "\
name: t
input: {channels: 3, height: 8, width: 8}
layers:
  - {name: c1, op: conv2d, out_channels: 4, kernel: 3, padding: 1}
  - {name: r1, op: relu}
  - {name: p1, op: maxpool, kernel: 2}
  - {name: a1, op: add, inputs: [p1, p1]}
  - {name: fc, op: linear, out_features: 10}
";

    const ATTENTION: &str = "\
name: a
input: {tokens: 5, dim: 8}
layers:
  - {name: q, op: linear, out_features: 8}
  - {name: k, op: linear, out_features: 8, inputs: [input]}
  - {name: s, op: matmul, form: qk, heads: 2, inputs: [q, k]}
  - {name: v, op: linear, out_features: 8, inputs: [input]}
  - {name: o, op: matmul, form: av, heads: 2, inputs: [s, v]}
";

    /// Edits of [`BASE`] that must fail: (replace, with, line, field, text of the diagnostic).
    #[rustfmt::skip]
    const BAD_BASE: &[(&str, &str, usize, &str, &str)] = &[
        ("padding: 1", "pad: 1", 4, "layers[0].pad", "unknown field `pad`"),
        ("op: relu", "op: relux", 5, "layers[1].op", "unknown variant `relux`"),
        ("op: relu", "op: relux", 5, "layers[1].op", "`conv2d`"),
        ("out_channels: 4", "out_channels: 0", 4, "layers[0].out_channels", "must be at least 1 (allowed: 1..="),
        ("out_channels: 4", "out_channels: four", 4, "layers[0].out_channels", "invalid type"),
        ("out_channels: 4", "out_channels: 99999999999", 4, "layers[0].out_channels", "too large"),
        ("height: 8", "height: 0", 2, "input.height", "must be at least 1"),
        ("width: 8", "width: 8, dim: 4", 2, "input", "mixes image and sequence"),
        (", width: 8", "", 2, "input", "missing width"),
        ("name: r1", "name: c1", 5, "layers[1].name", "duplicate layer name `c1`, first used by layers[0] (line 4)"),
        ("name: r1", "name: input", 5, "layers[1].name", "`input` names the model input"),
        ("name: r1", "name: ''", 5, "layers[1].name", "empty"),
        ("[p1, p1]", "[p1, q9]", 7, "layers[3].inputs[1]", "unknown layer `q9` (allowed: the name of an earlier layer"),
        ("[p1, p1]", "[p1, fc]", 7, "layers[3].inputs[1]", "`fc` comes later (layers[4])"),
        ("[p1, p1]", "[p1, a1]", 7, "layers[3].inputs[1]", "cannot read itself"),
        ("[p1, p1]", "[input, p1]", 7, "layers[3].inputs[0]", "sole input"),
        ("[p1, p1]", "[p1]", 7, "layers[3].inputs", "takes at least 2 input(s), got 1"),
        ("[p1, p1]", "[p1, r1]", 7, "layers[3].inputs[1]", "inputs[0] is a 4×4×4 image, inputs[1] is a 4×8×8 image"),
        ("add, inputs: [p1, p1]", "add", 7, "layers[3].inputs", "needs its inputs listed"),
        ("padding: 1}", "padding: 1, groups: 2}", 4, "layers[0].groups", "3 input and 4 output channels are not both divisible by 2"),
        ("kernel: 3, padding: 1", "kernel: 11, padding: 1", 4, "layers[0].kernel", "larger than the padded input 10×10"),
        ("kernel: 3, padding: 1", "kernel: [3, 12], padding: 1", 4, "layers[0].kernel", "kernel 3×12"),
        ("kernel: 3", "kernel: -3", 4, "layers[0].kernel", "integer `-3` (allowed: a kernel size"),
        ("kernel: 3", "kernel: [1, 2, 3]", 4, "layers[0].kernel", "invalid length 3"),
        ("kernel: 3", "kernel: 0", 4, "layers[0].kernel", "must be at least 1"),
        ("padding: 1}", "padding: 1, stride: 0}", 4, "layers[0].stride", "must be at least 1"),
        ("op: relu}", "op: relu, stride: 2}", 5, "layers[1].stride", "does not apply to op `relu` (allowed: name, op, inputs)"),
        ("out_features: 10", "bias: false", 8, "layers[4]", "op `linear` needs field `out_features` (allowed: fields out_features, bias)"),
        ("op: maxpool, kernel: 2", "op: maxpool", 6, "layers[2]", "needs field `kernel`"),
        ("op: maxpool, kernel: 2", "op: maxpool, kernel: [2, 3]", 6, "layers[2].kernel", "not square"),
        ("op: maxpool, kernel: 2", "op: maxpool, kernel: 2, padding: 2", 6, "layers[2].padding", "exceeds half"),
        ("op: maxpool, kernel: 2", "op: maxpool, kernel: 9", 6, "layers[2].kernel", "larger than the padded input"),
        ("op: maxpool, kernel: 2", "op: avgpool, kernel: 2, groups: 2", 6, "layers[2].groups", "does not apply to op `avgpool`"),
        ("op: relu", "op: layernorm", 5, "layers[1].inputs", "needs a token sequence, got a 4×8×8 image"),
        ("op: relu", "op: take_class_token", 5, "layers[1].inputs", "needs a token sequence"),
        ("op: linear, out_features: 10}", "op: to_tokens}\n  - {name: x, op: conv2d, out_channels: 1, kernel: 1}", 9, "layers[5].inputs", "needs an image, got 16 tokens of 4"),
        ("name: t\n", "name: ' '\n", 1, "name", "the model name is empty"),
        ("name: t\n", "", 1, "", "missing field `name`"),
        ("layers:", "layers: 3\nx:", 3, "layers", "invalid type"),
    ];

    /// Edits of [`ATTENTION`] that must fail, as in [`BAD_BASE`].
    #[rustfmt::skip]
    const BAD_ATTENTION: &[(&str, &str, usize, &str, &str)] = &[
        ("form: qk, heads: 2", "form: qk, heads: 3", 6, "layers[2].heads", "8 features do not split into 3 heads (allowed: a divisor of 8)"),
        ("form: qk, heads: 2", "heads: 2", 6, "layers[2]", "needs field `form`"),
        ("form: qk", "form: kq", 6, "layers[2].form", "unknown variant `kq`"),
        ("form: av, heads: 2", "form: av, heads: 4", 8, "layers[4].inputs", "scores have 10 columns, expected heads × value tokens = 4 × 5"),
        ("inputs: [q, k]", "inputs: [q]", 6, "layers[2].inputs", "exactly 2"),
        ("inputs: [s, v]", "inputs: [s, v, q]", 8, "layers[4].inputs", "exactly 2"),
        ("name: v, op: linear, out_features: 8", "name: v, op: linear, out_features: 9", 8, "layers[4].heads", "9 features do not split into 2 heads"),
        ("name: k, op: linear, out_features: 8", "name: k, op: linear, out_features: 6", 6, "layers[2].inputs", "q has 8 features but k has 6"),
    ];

    /// Parses `text` and asserts the diagnostic's line, field and that it mentions `needle`.
    fn check(text: &str, line: usize, field: &str, needle: &str) {
        let e = match parse_yaml_model("m.yaml", text) {
            Ok(_) => panic!("expected an error at {field} for:\n{text}"),
            Err(e) => e,
        };
        assert_eq!((e.line, e.field.as_str()), (Some(line), field), "{e}");
        assert!(e.to_string().contains(needle), "`{needle}` not in: {e}");
        let prefix = match field {
            "" => format!("m.yaml:{line}: "),
            _ => format!("m.yaml:{line}: field `{field}`: "),
        };
        assert!(e.to_string().starts_with(&prefix), "{e}");
    }

    /// Applies each edit of `cases` to `base` and checks the diagnostic.
    fn check_edits(base: &str, cases: &[(&str, &str, usize, &str, &str)]) {
        for &(from, to, line, field, needle) in cases {
            assert!(
                base.contains(from),
                "case text `{from}` is not in the base model"
            );
            check(&base.replacen(from, to, 1), line, field, needle);
        }
    }

    /// Whole files that must fail: (text, line, field, text of the diagnostic).
    #[rustfmt::skip]
    const BAD_FILES: &[(&str, usize, &str, &str)] = &[
        ("name: t\ninput: {tokens: 1, dim: 4}\nlayers: []\n", 3, "layers", "at least one layer"),
        ("name: t\ninput: {tokens: 4}\nlayers: []\n", 2, "input", "missing dim"),
        ("name: t\ninput: {tokens: 1, dim: 4}\nlayers:\n  - {name: g, op: global_avgpool}\n", 4, "layers[0].inputs", "needs an image"),
        // 2^24 tokens of 2^24 features fit, but a 2^24-wide linear on them is 2^72 MACs.
        ("name: t\ninput: {tokens: 16777216, dim: 16777216}\nlayers:\n  - {name: fc, op: linear, out_features: 16777216}\n",
            4, "layers[0]", "too large to count in 64 bits"),
        ("name: t\ninput: {channels: 16777216, height: 16777216, width: 2}\nlayers:\n  - {name: r, op: relu}\n", 2, "input", "too many"),
        ("name: t\ninput: {channels: 1, height: 7, width: 2}\nlayers:\n  - {name: g, op: global_avgpool}\n", 4, "layers[0].op", "square map, got 7×2"),
    ];

    #[test]
    fn bad_inputs_name_line_field_and_what_is_allowed() {
        check_edits(BASE, BAD_BASE);
        for &(text, line, field, needle) in BAD_FILES {
            check(text, line, field, needle);
        }
    }

    #[test]
    fn bad_attention_inputs() {
        check_edits(ATTENTION, BAD_ATTENTION);
        let on_image = BASE.replace(
            "{name: fc, op: linear, out_features: 10}",
            "{name: m, op: matmul, form: qk, inputs: [a1, a1]}",
        );
        check(&on_image, 8, "layers[4].inputs[0]", "needs token sequences");
    }

    fn shapes(m: &Model) -> Vec<Shape> {
        m.layers.iter().map(|l| l.out).collect()
    }

    #[test]
    fn base_model_resolves_shapes_inputs_and_macs() {
        let m = parse_yaml_model("t.yaml", BASE).unwrap();
        let img = |c, h, w| Shape::Image { c, h, w };
        let fc = Shape::Seq { tokens: 1, dim: 10 };
        assert_eq!(
            shapes(&m),
            [img(4, 8, 8), img(4, 8, 8), img(4, 4, 4), img(4, 4, 4), fc]
        );
        let inputs: Vec<Vec<usize>> = m.layers.iter().map(|l| l.inputs.clone()).collect();
        assert_eq!(inputs, [vec![], vec![0], vec![1], vec![2, 2], vec![3]]);
        // conv: 4 out × 3 in × 3×3 × 8×8; linear on the flattened 4×4×4 map.
        assert_eq!(m.forward_macs(), 4 * 3 * 9 * 64 + 64 * 10);
        assert!(matches!(
            m.layers[0].op,
            Op::Conv2d {
                bias: true,
                groups: 1,
                stride: 1,
                ..
            }
        ));
        let pool = Op::Pool {
            kind: PoolKind::Max,
            kernel: 2,
            stride: 2,
            padding: 0,
        };
        assert_eq!(m.layers[2].op, pool);
    }

    #[test]
    fn attention_matmuls_count_heads_tokens_and_head_dim() {
        let m = parse_yaml_model("a.yaml", ATTENTION).unwrap();
        // Q·Kᵀ: 2 heads of [5×4]·[4×5]; A·V: 2 heads of [5×5]·[5×4].
        assert_eq!(
            m.layers[2].op,
            Op::Matmul {
                heads: 2,
                m: 5,
                k: 4,
                n: 5
            }
        );
        assert_eq!(m.layers[2].out, Shape::Seq { tokens: 5, dim: 10 });
        assert_eq!(
            m.layers[4].op,
            Op::Matmul {
                heads: 2,
                m: 5,
                k: 5,
                n: 4
            }
        );
        assert_eq!(m.layers[4].out, Shape::Seq { tokens: 5, dim: 8 });
        assert_eq!(m.layers[1].inputs, Vec::<usize>::new());
        assert_eq!(m.layers[4].forward_macs(), 2 * 5 * 5 * 4);
    }

    #[test]
    fn token_ops_turn_a_patch_map_into_a_sequence_and_back() {
        let text = "\
name: v
input: {channels: 3, height: 32, width: 32}
layers:
  - {name: patch, op: conv2d, out_channels: 16, kernel: [8, 8], stride: 8}
  - {name: tok, op: to_tokens}
  - {name: cls, op: add_class_token}
  - {name: ln, op: layernorm}
  - {name: take, op: take_class_token}
  - {name: head, op: linear, out_features: 10}
  - {name: gp, op: global_avgpool, inputs: [patch]}
  - {name: fl, op: flatten}
  - {name: bn, op: batchnorm, inputs: [patch]}
";
        let m = parse_yaml_model("v.yaml", text).unwrap();
        let seq = |tokens, dim| Shape::Seq { tokens, dim };
        assert_eq!(m.layers[1].out, seq(16, 16));
        assert_eq!(m.layers[2].out, seq(17, 16));
        let ln = Op::Norm {
            kind: NormKind::Layer,
            features: 16,
        };
        assert_eq!(m.layers[3].op, ln);
        assert_eq!(m.layers[4].out, seq(1, 16));
        assert_eq!(m.layers[6].out, Shape::Image { c: 16, h: 1, w: 1 });
        assert_eq!(m.layers[7].out, seq(1, 16));
        let bn = Op::Norm {
            kind: NormKind::Batch,
            features: 16,
        };
        assert_eq!(m.layers[8].op, bn);
    }

    /// A model with every numeric field drawn at random, small or huge.
    fn random_model(v: &[u64]) -> String {
        format!(
            "name: f
input: {{channels: {}, height: {}, width: {}}}
layers:
  - {{name: c, op: conv2d, out_channels: {}, kernel: [{}, {}], stride: {}, padding: {}, groups: {}}}
  - {{name: p, op: avgpool, kernel: {}, padding: {}}}
  - {{name: t, op: to_tokens}}
  - {{name: l, op: linear, out_features: {}}}
  - {{name: s, op: matmul, form: qk, heads: 2, inputs: [l, l]}}
",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]
        )
    }

    proptest! {
        /// Any numbers at all give a model or a diagnostic, never a panic, and a model's counts
        /// never overflow.
        #[test]
        fn arbitrary_numbers_never_panic(
            v in proptest::collection::vec(prop_oneof![0u64..20, any::<u64>(), Just(1u64 << 24)], 12)
        ) {
            if let Ok(m) = parse_yaml_model("f.yaml", &random_model(&v)) {
                let _ = (m.forward_macs(), m.weight_count());
                for l in &m.layers {
                    let _ = l.out.numel();
                }
            }
        }
    }
}
