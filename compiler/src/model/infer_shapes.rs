//! Validation and shape inference: turns a raw YAML model into a [`Model`] whose every layer
//! has its op resolved on its input shapes, or a [`Diagnostic`] at the offending field.
//!
//! Sizes are bounded (`MAX_DIM` per written dimension, `MAX_NUMEL` per tensor, `MAX_TOTAL` for
//! the model's MACs and weights) so that no count formed later, here or by `Model`, can
//! overflow a `u64`: a bad file gives a diagnostic, never a panic.

use super::layer::{Activation, Layer, Model, NormKind, Op, PoolKind, Shape};
use super::yaml::{MatmulForm, OpKind, RawInput, RawLayer, RawModel};
use crate::diag::{Diagnostic, SourceMap};
use std::collections::HashMap;

/// Largest value accepted for any one dimension in a file. It keeps every product that shape
/// inference forms far from 64-bit overflow; real layers are several orders of magnitude smaller.
pub(super) const MAX_DIM: u64 = 1 << 24;
/// Largest tensor (elements per sample) any layer may produce.
pub(super) const MAX_NUMEL: u128 = 1 << 48;
/// Largest total of MACs or weights over the model, so `Model::forward_macs` cannot overflow.
const MAX_TOTAL: u128 = 1 << 62;

fn image(c: u64, h: u64, w: u64) -> Shape {
    Shape::Image { c, h, w }
}

fn seq(tokens: u64, dim: u64) -> Shape {
    Shape::Seq { tokens, dim }
}

/// A shape in words, for messages.
fn show(s: &Shape) -> String {
    match *s {
        Shape::Image { c, h, w } => format!("a {c}×{h}×{w} image"),
        Shape::Seq { tokens, dim } => format!("{tokens} tokens of {dim}"),
    }
}

/// Validates `raw` and infers every layer's shapes; errors point into the file through `map`.
pub(super) fn resolve(raw: RawModel, map: &SourceMap) -> Result<Model, Diagnostic> {
    Resolver { map }.model(raw)
}

/// Turns raw layers into resolved ones, reporting errors through the source map.
struct Resolver<'a> {
    map: &'a SourceMap,
}

/// The resolved input side of one layer.
struct Inputs {
    indices: Vec<usize>,
    shapes: Vec<Shape>,
}

impl Resolver<'_> {
    fn err(
        &self,
        path: &str,
        message: impl Into<String>,
        allowed: impl Into<String>,
    ) -> Diagnostic {
        self.map.error(path, message, allowed)
    }

    /// A dimension given in the file: at least 1 and at most [`MAX_DIM`].
    fn dim(&self, path: &str, v: u64) -> Result<u64, Diagnostic> {
        let allowed = format!("1..={MAX_DIM}");
        match v {
            0 => Err(self.err(path, "must be at least 1", allowed)),
            v if v > MAX_DIM => Err(self.err(path, format!("{v} is too large"), allowed)),
            v => Ok(v),
        }
    }

    /// A required op field.
    fn need<T: Copy>(
        &self,
        v: Option<T>,
        i: usize,
        op: OpKind,
        field: &str,
    ) -> Result<T, Diagnostic> {
        v.ok_or_else(|| {
            self.err(
                &format!("layers[{i}]"),
                format!("op `{}` needs field `{field}`", op.name()),
                format!("fields {}", op.fields().join(", ")),
            )
        })
    }

    fn model(&self, raw: RawModel) -> Result<Model, Diagnostic> {
        if raw.name.trim().is_empty() {
            return Err(self.err("name", "the model name is empty", "a non-empty name"));
        }
        let input = self.input(&raw.input)?;
        if raw.layers.is_empty() {
            return Err(self.err("layers", "a model needs at least one layer", ""));
        }
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut layers: Vec<Layer> = Vec::with_capacity(raw.layers.len());
        let mut totals = Totals::default();
        for (i, rl) in raw.layers.iter().enumerate() {
            let name = rl.name.trim();
            let path = format!("layers[{i}].name");
            if name.is_empty() {
                return Err(self.err(&path, "the layer name is empty", "a non-empty name"));
            }
            if name == "input" {
                return Err(self.err(&path, "`input` names the model input", "any other name"));
            }
            if let Some(&j) = index.get(name) {
                let first = self
                    .map
                    .line(&format!("layers[{j}]"))
                    .map_or(String::new(), |l| format!(" (line {l})"));
                return Err(self.err(
                    &path,
                    format!("duplicate layer name `{name}`, first used by layers[{j}]{first}"),
                    "a name unique in the model",
                ));
            }
            for field in rl.given_fields() {
                if !rl.op.fields().contains(&field) {
                    let mut allowed = vec!["name", "op", "inputs"];
                    allowed.extend(rl.op.fields());
                    return Err(self.err(
                        &format!("layers[{i}].{field}"),
                        format!("field `{field}` does not apply to op `{}`", rl.op.name()),
                        allowed.join(", "),
                    ));
                }
            }
            let ins = self.inputs(i, rl, &raw, &index, &layers, input)?;
            let (op, out) = self.op(i, rl, &ins.shapes)?;
            let layer = Layer {
                name: name.to_string(),
                op,
                inputs: ins.indices,
                out,
            };
            self.check_size(i, &layer, &mut totals)?;
            index.insert(name, i);
            layers.push(layer);
        }
        Ok(Model {
            name: raw.name.trim().to_string(),
            input,
            layers,
        })
    }

    fn input(&self, r: &RawInput) -> Result<Shape, Diagnostic> {
        let allowed = "{channels, height, width} for an image or {tokens, dim} for a sequence";
        let image_fields = [r.channels, r.height, r.width];
        let seq_fields = [r.tokens, r.dim];
        let any_image = image_fields.iter().any(Option::is_some);
        let any_seq = seq_fields.iter().any(Option::is_some);
        if any_image && any_seq {
            return Err(self.err("input", "mixes image and sequence fields", allowed));
        }
        let missing = |names: &[&str], vals: &[Option<u64>]| {
            let miss: Vec<&str> = names
                .iter()
                .zip(vals)
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| *n)
                .collect();
            self.err("input", format!("missing {}", miss.join(", ")), allowed)
        };
        let shape = match (image_fields, seq_fields) {
            ([Some(c), Some(h), Some(w)], _) => image(
                self.dim("input.channels", c)?,
                self.dim("input.height", h)?,
                self.dim("input.width", w)?,
            ),
            (_, [Some(t), Some(d)]) => seq(self.dim("input.tokens", t)?, self.dim("input.dim", d)?),
            _ if any_seq => return Err(missing(&["tokens", "dim"], &seq_fields)),
            _ => return Err(missing(&["channels", "height", "width"], &image_fields)),
        };
        let numel = numel(&shape);
        if numel > MAX_NUMEL {
            return Err(self.err(
                "input",
                format!("{numel} elements per sample is too many"),
                format!("at most {MAX_NUMEL}"),
            ));
        }
        Ok(shape)
    }

    /// Resolves input names to earlier layers and checks the op's arity.
    fn inputs(
        &self,
        i: usize,
        rl: &RawLayer,
        raw: &RawModel,
        index: &HashMap<&str, usize>,
        layers: &[Layer],
        input: Shape,
    ) -> Result<Inputs, Diagnostic> {
        let path = format!("layers[{i}].inputs");
        let (min, max) = rl.op.arity();
        let names: &[String] = match &rl.inputs {
            None if min > 1 => {
                return Err(self.err(
                    &path,
                    format!("op `{}` needs its inputs listed", rl.op.name()),
                    format!("inputs: [{min} earlier layer names]"),
                ))
            }
            None if i == 0 => {
                return Ok(Inputs {
                    indices: vec![],
                    shapes: vec![input],
                })
            }
            None => {
                return Ok(Inputs {
                    indices: vec![i - 1],
                    shapes: vec![layers[i - 1].out],
                })
            }
            Some(names) => names,
        };
        if names.len() < min || names.len() > max {
            let want = if min == max {
                format!("exactly {min}")
            } else {
                format!("at least {min}")
            };
            return Err(self.err(
                &path,
                format!(
                    "op `{}` takes {want} input(s), got {}",
                    rl.op.name(),
                    names.len()
                ),
                "",
            ));
        }
        let mut ins = Inputs {
            indices: vec![],
            shapes: vec![],
        };
        for (j, n) in names.iter().enumerate() {
            let n = n.trim();
            let p = format!("{path}[{j}]");
            if n == "input" {
                // `Layer::inputs` empty means the model input, which therefore can only be alone.
                if names.len() > 1 {
                    return Err(self.err(
                        &p,
                        "the model input can only be a layer's sole input",
                        "names of earlier layers",
                    ));
                }
                return Ok(Inputs {
                    indices: vec![],
                    shapes: vec![input],
                });
            }
            match index.get(n) {
                Some(&k) => {
                    ins.indices.push(k);
                    ins.shapes.push(layers[k].out);
                }
                None => {
                    let later = raw.layers.iter().skip(i).position(|l| l.name.trim() == n);
                    let msg = match later {
                        Some(0) => format!("layer `{n}` cannot read itself"),
                        Some(d) => format!(
                            "layer `{n}` comes later (layers[{}]); inputs must be earlier layers",
                            i + d
                        ),
                        None => format!("unknown layer `{n}`"),
                    };
                    return Err(self.err(&p, msg, "the name of an earlier layer, or `input`"));
                }
            }
        }
        Ok(ins)
    }

    /// Resolves the op on its input shapes: the `Op` and the output shape.
    fn op(&self, i: usize, rl: &RawLayer, ins: &[Shape]) -> Result<(Op, Shape), Diagnostic> {
        let at = |f: &str| format!("layers[{i}].{f}");
        let x = ins[0];
        let wrong_input = |want: &str| {
            self.err(
                &at("inputs"),
                format!("op `{}` needs {want}, got {}", rl.op.name(), show(&x)),
                "",
            )
        };
        let same = |op: Op| Ok((op, x));
        match rl.op {
            OpKind::Conv2d => {
                let Shape::Image { c, h, w } = x else {
                    return Err(wrong_input("an image"));
                };
                let out_ch = self.dim(
                    &at("out_channels"),
                    self.need(rl.out_channels, i, rl.op, "out_channels")?,
                )?;
                let k = self.need(rl.kernel, i, rl.op, "kernel")?;
                let (kh, kw) = (self.dim(&at("kernel"), k.h)?, self.dim(&at("kernel"), k.w)?);
                let stride = self.dim(&at("stride"), rl.stride.unwrap_or(1))?;
                let padding = self.padding(&at("padding"), rl.padding.unwrap_or(0))?;
                let groups = self.dim(&at("groups"), rl.groups.unwrap_or(1))?;
                if c % groups != 0 || out_ch % groups != 0 {
                    return Err(self.err(
                        &at("groups"),
                        format!("{c} input and {out_ch} output channels are not both divisible by {groups} groups"),
                        "a common divisor of the input and output channel counts",
                    ));
                }
                let (out_h, out_w) =
                    self.window(&at("kernel"), (h, w), (kh, kw), stride, padding)?;
                let op = Op::Conv2d {
                    in_ch: c,
                    out_ch,
                    kh,
                    kw,
                    stride,
                    padding,
                    groups,
                    in_h: h,
                    in_w: w,
                    out_h,
                    out_w,
                    bias: rl.bias.unwrap_or(true),
                };
                Ok((op, image(out_ch, out_h, out_w)))
            }
            OpKind::Linear => {
                // An image is flattened (as after a global pool); a sequence is mapped per token.
                let (tokens, in_f) = match x {
                    Shape::Seq { tokens, dim } => (tokens, dim),
                    Shape::Image { .. } => (1, x.numel()),
                };
                let out_f = self.dim(
                    &at("out_features"),
                    self.need(rl.out_features, i, rl.op, "out_features")?,
                )?;
                let op = Op::Linear {
                    in_f,
                    out_f,
                    tokens,
                    bias: rl.bias.unwrap_or(true),
                };
                Ok((op, seq(tokens, out_f)))
            }
            OpKind::Matmul => self.matmul(i, rl, ins),
            OpKind::Maxpool | OpKind::Avgpool => {
                let Shape::Image { c, h, w } = x else {
                    return Err(wrong_input("an image"));
                };
                let k = self.need(rl.kernel, i, rl.op, "kernel")?;
                if k.h != k.w {
                    return Err(self.err(
                        &at("kernel"),
                        format!("pooling kernel {}×{} is not square", k.h, k.w),
                        "one integer",
                    ));
                }
                let kernel = self.dim(&at("kernel"), k.h)?;
                let stride = self.dim(&at("stride"), rl.stride.unwrap_or(kernel))?;
                let padding = self.padding(&at("padding"), rl.padding.unwrap_or(0))?;
                // PyTorch rejects more padding than half the window: a window of pure padding.
                if padding > kernel / 2 {
                    return Err(self.err(
                        &at("padding"),
                        format!("padding {padding} exceeds half the {kernel}×{kernel} window"),
                        format!("0..={}", kernel / 2),
                    ));
                }
                let (out_h, out_w) =
                    self.window(&at("kernel"), (h, w), (kernel, kernel), stride, padding)?;
                let kind = match rl.op {
                    OpKind::Maxpool => PoolKind::Max,
                    _ => PoolKind::Avg,
                };
                let op = Op::Pool {
                    kind,
                    kernel,
                    stride,
                    padding,
                };
                Ok((op, image(c, out_h, out_w)))
            }
            OpKind::GlobalAvgpool => {
                let Shape::Image { c, h, w } = x else {
                    return Err(wrong_input("an image"));
                };
                if h != w {
                    // `Op::Pool` has one kernel size, so only a square map pools to 1×1.
                    return Err(self.err(
                        &at("op"),
                        format!("global pooling needs a square map, got {h}×{w}"),
                        "a square input",
                    ));
                }
                let op = Op::Pool {
                    kind: PoolKind::Avg,
                    kernel: h,
                    stride: h,
                    padding: 0,
                };
                Ok((op, image(c, 1, 1)))
            }
            OpKind::Relu => same(Op::Act(Activation::Relu)),
            OpKind::Gelu => same(Op::Act(Activation::Gelu)),
            OpKind::Softmax => same(Op::Softmax),
            OpKind::Add => {
                if let Some(j) = ins.iter().position(|s| *s != x) {
                    return Err(self.err(
                        &at(&format!("inputs[{j}]")),
                        format!(
                            "add needs equal shapes: inputs[0] is {}, inputs[{j}] is {}",
                            show(&x),
                            show(&ins[j])
                        ),
                        "",
                    ));
                }
                same(Op::Add)
            }
            OpKind::Batchnorm => {
                let features = match x {
                    Shape::Image { c, .. } => c,
                    Shape::Seq { dim, .. } => dim,
                };
                same(Op::Norm {
                    kind: NormKind::Batch,
                    features,
                })
            }
            OpKind::Layernorm => {
                let Shape::Seq { dim, .. } = x else {
                    return Err(wrong_input("a token sequence"));
                };
                same(Op::Norm {
                    kind: NormKind::Layer,
                    features: dim,
                })
            }
            OpKind::Flatten => Ok((Op::Reshape, seq(1, x.numel()))),
            OpKind::ToTokens => {
                let Shape::Image { c, h, w } = x else {
                    return Err(wrong_input("an image"));
                };
                Ok((Op::Reshape, seq(h * w, c)))
            }
            OpKind::AddClassToken => {
                let Shape::Seq { tokens, dim } = x else {
                    return Err(wrong_input("a token sequence"));
                };
                let op = Op::ClassToken {
                    add: true,
                    tokens,
                    dim,
                };
                Ok((op, seq(tokens + 1, dim)))
            }
            OpKind::TakeClassToken => {
                let Shape::Seq { tokens, dim } = x else {
                    return Err(wrong_input("a token sequence"));
                };
                let op = Op::ClassToken {
                    add: false,
                    tokens,
                    dim,
                };
                Ok((op, seq(1, dim)))
            }
        }
    }

    fn padding(&self, path: &str, p: u64) -> Result<u64, Diagnostic> {
        if p > MAX_DIM {
            return Err(self.err(path, format!("{p} is too large"), format!("0..={MAX_DIM}")));
        }
        Ok(p)
    }

    /// Output size of a sliding window (floor mode, as PyTorch's default).
    fn window(
        &self,
        path: &str,
        (h, w): (u64, u64),
        (kh, kw): (u64, u64),
        s: u64,
        p: u64,
    ) -> Result<(u64, u64), Diagnostic> {
        let (ph, pw) = (h + 2 * p, w + 2 * p);
        if kh > ph || kw > pw {
            return Err(self.err(
                path,
                format!("kernel {kh}×{kw} is larger than the padded input {ph}×{pw} ({h}×{w} with padding {p})"),
                format!("at most {ph}×{pw}"),
            ));
        }
        Ok(((ph - kh) / s + 1, (pw - kw) / s + 1))
    }

    /// Attention products. `qk`: `[Tq×D]·[Tk×D]ᵀ` per head of `D/heads` gives `Tq × heads·Tk`
    /// scores; `av`: `[Tq × heads·Tk]·[Tk×D]` per head gives `Tq × D`.
    fn matmul(&self, i: usize, rl: &RawLayer, ins: &[Shape]) -> Result<(Op, Shape), Diagnostic> {
        let at = |f: &str| format!("layers[{i}].{f}");
        let form = self.need(rl.form, i, rl.op, "form")?;
        let heads = self.dim(&at("heads"), rl.heads.unwrap_or(1))?;
        let operand = |j: usize| match ins[j] {
            Shape::Seq { tokens, dim } => Ok((tokens, dim)),
            s => Err(self.err(
                &at(&format!("inputs[{j}]")),
                format!("matmul needs token sequences, got {}", show(&s)),
                "",
            )),
        };
        let ((ta, da), (tb, db)) = (operand(0)?, operand(1)?);
        if db % heads != 0 {
            return Err(self.err(
                &at("heads"),
                format!("{db} features do not split into {heads} heads"),
                format!("a divisor of {db}"),
            ));
        }
        let dh = db / heads;
        // heads ≤ 2^24 and tokens ≤ 2^48 can overflow u64; u128 cannot.
        let scores = heads as u128 * tb as u128;
        match form {
            MatmulForm::Qk => {
                if da != db {
                    return Err(self.err(
                        &at("inputs"),
                        format!("q has {da} features but k has {db}"),
                        "equal feature counts",
                    ));
                }
                if scores > MAX_NUMEL {
                    return Err(self.err(&at("heads"), "the score matrix is too large", ""));
                }
                let op = Op::Matmul {
                    heads,
                    m: ta,
                    k: dh,
                    n: tb,
                };
                Ok((op, seq(ta, scores as u64)))
            }
            MatmulForm::Av => {
                if da as u128 != scores {
                    return Err(self.err(
                        &at("inputs"),
                        format!("scores have {da} columns, expected heads × value tokens = {heads} × {tb}"),
                        "inputs [scores of a `form: qk` matmul with the same heads, values]",
                    ));
                }
                let op = Op::Matmul {
                    heads,
                    m: ta,
                    k: tb,
                    n: dh,
                };
                Ok((op, seq(ta, db)))
            }
        }
    }

    /// Keeps every count the rest of the compiler forms (`numel`, MACs, weights, their model
    /// totals) inside `u64`.
    fn check_size(&self, i: usize, l: &Layer, totals: &mut Totals) -> Result<(), Diagnostic> {
        totals
            .add(l)
            .map_err(|msg| self.err(&format!("layers[{i}]"), msg, ""))
    }
}

/// Running MAC and weight totals of a model being built, in `u128` so that the checks
/// themselves cannot overflow.
#[derive(Default)]
pub(super) struct Totals {
    macs: u128,
    weights: u128,
}

impl Totals {
    /// Adds `l`, or says why the model would overflow a `u64` count somewhere.
    pub(super) fn add(&mut self, l: &Layer) -> Result<(), String> {
        let (m, w) = match l.op {
            Op::Conv2d {
                in_ch,
                out_ch,
                kh,
                kw,
                groups,
                out_h,
                out_w,
                ..
            } => (
                prod(&[out_ch, in_ch / groups, kh, kw, out_h, out_w]),
                prod(&[out_ch, in_ch / groups, kh, kw]),
            ),
            Op::Linear {
                in_f,
                out_f,
                tokens,
                ..
            } => (prod(&[in_f, out_f, tokens]), prod(&[in_f, out_f])),
            Op::Matmul { heads, m, k, n } => (prod(&[heads, m, k, n]), 0),
            _ => (0, 0),
        };
        self.macs = self.macs.saturating_add(m);
        self.weights = self.weights.saturating_add(w);
        if numel(&l.out) > MAX_NUMEL || self.macs > MAX_TOTAL || self.weights > MAX_TOTAL {
            return Err(format!(
                "layer `{}` makes the model too large to count in 64 bits",
                l.name
            ));
        }
        Ok(())
    }
}

/// Elements per sample, without overflow.
pub(super) fn numel(s: &Shape) -> u128 {
    match *s {
        Shape::Image { c, h, w } => prod(&[c, h, w]),
        Shape::Seq { tokens, dim } => prod(&[tokens, dim]),
    }
}

/// A product that saturates instead of overflowing (then fails the size checks).
fn prod(xs: &[u64]) -> u128 {
    xs.iter()
        .try_fold(1u128, |acc, &x| acc.checked_mul(x as u128))
        .unwrap_or(u128::MAX)
}
