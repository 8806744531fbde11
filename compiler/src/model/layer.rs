//! The validated, shape-inferred layers of a model: what the training graph expands.

use serde::Serialize;

/// Per-sample shape of a tensor between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Shape {
    /// Feature map: channels × height × width.
    Image { c: u64, h: u64, w: u64 },
    /// Token sequence: tokens × features (transformers; an MLP's vectors are 1 token).
    Seq { tokens: u64, dim: u64 },
}

impl Shape {
    /// Elements per sample.
    pub fn numel(&self) -> u64 {
        match *self {
            Shape::Image { c, h, w } => c * h * w,
            Shape::Seq { tokens, dim } => tokens * dim,
        }
    }
}

/// Pooling kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PoolKind {
    Max,
    Avg,
}

/// Element-wise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Activation {
    Relu,
    Gelu,
}

/// Normalization kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NormKind {
    Batch,
    Layer,
}

/// A layer's operation with every dimension resolved (per sample; the batch is applied later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Op {
    /// 2-D convolution; weights `[out_ch, in_ch/groups, kh, kw]`.
    Conv2d {
        in_ch: u64,
        out_ch: u64,
        kh: u64,
        kw: u64,
        stride: u64,
        padding: u64,
        groups: u64,
        in_h: u64,
        in_w: u64,
        out_h: u64,
        out_w: u64,
        bias: bool,
    },
    /// Fully connected layer applied to each of `tokens` rows: weights `[out_f, in_f]`.
    Linear {
        in_f: u64,
        out_f: u64,
        tokens: u64,
        bias: bool,
    },
    /// Activation × activation batched matmul (attention), no weights:
    /// `heads` products of `[m × k] · [k × n]` per sample.
    Matmul { heads: u64, m: u64, k: u64, n: u64 },
    /// Spatial pooling (a global pool has kernel = input size).
    Pool {
        kind: PoolKind,
        kernel: u64,
        stride: u64,
        padding: u64,
    },
    /// Element-wise activation function.
    Act(Activation),
    /// Element-wise sum of the inputs (residual connection).
    Add,
    /// Batch or layer normalization over `features` channels with learnable scale and shift.
    Norm { kind: NormKind, features: u64 },
    /// Softmax over the last dimension.
    Softmax,
    /// Reshape without data movement cost (flatten, image → tokens).
    Reshape,
    /// The class token of each sample's `tokens` rows of `dim`: prepended (`add`; its value is
    /// zero: the learned token is left out, as a position embedding is), or taken alone (its
    /// first row). A copy of rows, no MACs and no weights.
    ClassToken { add: bool, tokens: u64, dim: u64 },
}

/// One layer of a validated model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layer {
    /// Unique name within the model.
    pub name: String,
    /// The operation, fully resolved.
    pub op: Op,
    /// Indices (into [`Model::layers`]) of the layers feeding this one; empty means the model
    /// input.
    pub inputs: Vec<usize>,
    /// Per-sample output shape.
    pub out: Shape,
}

impl Layer {
    /// Forward multiply-accumulates per sample (GEMM-like layers only; others are 0).
    pub fn forward_macs(&self) -> u64 {
        match self.op {
            Op::Conv2d {
                in_ch,
                out_ch,
                kh,
                kw,
                groups,
                out_h,
                out_w,
                ..
            } => out_ch * (in_ch / groups) * kh * kw * out_h * out_w,
            Op::Linear {
                in_f,
                out_f,
                tokens,
                ..
            } => in_f * out_f * tokens,
            Op::Matmul { heads, m, k, n } => heads * m * k * n,
            _ => 0,
        }
    }

    /// Number of weights (excluding biases and norm parameters) the layer trains.
    pub fn weight_count(&self) -> u64 {
        match self.op {
            Op::Conv2d {
                in_ch,
                out_ch,
                kh,
                kw,
                groups,
                ..
            } => out_ch * (in_ch / groups) * kh * kw,
            Op::Linear { in_f, out_f, .. } => in_f * out_f,
            _ => 0,
        }
    }
}

/// A validated model: layers in topological order, per-sample shapes known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Model {
    /// Model name (from the file or the zoo).
    pub name: String,
    /// Per-sample input shape.
    pub input: Shape,
    /// Layers in topological order (every input index is smaller than the layer's own).
    pub layers: Vec<Layer>,
}

impl Model {
    /// Forward multiply-accumulates per sample.
    pub fn forward_macs(&self) -> u64 {
        self.layers.iter().map(Layer::forward_macs).sum()
    }

    /// Trainable weights (GEMM layers) of the whole model.
    pub fn weight_count(&self) -> u64 {
        self.layers.iter().map(Layer::weight_count).sum()
    }

    /// Shape of the tensor feeding input slot `slot` of layer `i`.
    pub fn input_shape(&self, i: usize, slot: usize) -> Shape {
        match self.layers[i].inputs.get(slot) {
            Some(&j) => self.layers[j].out,
            None => self.input,
        }
    }
}
