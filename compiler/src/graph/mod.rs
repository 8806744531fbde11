//! The training graph: one iteration of a model expanded into FF, BP and WU GEMMs with BDWP
//! sparsity, the prune steps that produce the N:M weight forms, and the vector steps around them.

mod expand;
mod recipe;

pub use expand::{compressed_bytes, expand, group_bytes};
pub use recipe::{BpMask, Recipe, TrainOptions};

use crate::isa::{Im2col, Phase, VecOp};
use crate::prune::Nm;
use serde::Serialize;

/// Index into [`TrainingGraph::tensors`].
pub type TensorId = usize;

/// A DRAM tensor of the iteration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorDef {
    pub name: String,
    pub bytes: u64,
}

/// How a GEMM operand is laid out in its DRAM tensor, which decides what a tile load moves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Layout {
    /// A row-major `rows × cols` matrix of INT16; a GEMM's `[a × b]` operand has rows = a.
    RowMajor { cols: u64 },
    /// The transpose of a row-major matrix: the operand `[a × b]` is stored as `[b × a]` with
    /// rows of `cols = a` elements.
    Transposed { cols: u64 },
    /// An N:M compressed weight matrix: each M-group of a row holds N values and N indices.
    Compressed { nm: Nm, k: u64 },
    /// Columns produced on the fly by the DMA engine's im2col path from a `[C][batch·H·W]`
    /// feature map; the reduction runs over (channel, kh, kw), the columns over output pixels.
    /// With `transposed`, the operand is the transpose `[pixels × (channel, kh, kw)]` (weight
    /// update).
    Im2col {
        geom: Im2col,
        out_h: u64,
        out_w: u64,
        transposed: bool,
    },
}

/// One GEMM operand: a tensor and its layout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Operand {
    pub tensor: TensorId,
    pub layout: Layout,
}

/// `y[m×t] = w[m×k] · x[k×t]`, `count` times over consecutive slices (groups, heads).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GemmStep {
    pub m: u64,
    pub k: u64,
    pub t: u64,
    pub count: u64,
    /// N:M along k of the `w` operand.
    pub sparsity: Option<Nm>,
    pub w: Operand,
    pub x: Operand,
    pub y: TensorId,
    /// How the `[m × t]` output is laid out in `y`.
    pub y_layout: Layout,
    /// Element offset of the output in `y` (the block of one stride phase).
    pub y_offset: u64,
    /// For sparse GEMMs without pre-generation: the dense weights to prune on every load.
    pub prune_from: Option<(TensorId, crate::isa::PruneAlong)>,
}

impl GemmStep {
    /// Multiply-accumulates a dense array would perform.
    pub fn dense_macs(&self) -> u64 {
        self.count * self.m * self.k * self.t
    }

    /// Multiply-accumulates actually performed (N/M of the reduction when sparse).
    pub fn effective_macs(&self) -> u64 {
        self.count * self.m * crate::timing::effective_k(self.k, self.sparsity) * self.t
    }
}

/// An element-wise step over whole tensors, each viewed as `count` rows of `width` elements
/// (a row is one pixel or token of one sample with its features, pixel-major; or one row of a
/// weight matrix), processed in blocks of rows so that it can start on the rows its producer has
/// stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VecStep {
    pub op: VecOp,
    /// Sources with their row widths (a source may have another width, e.g. the labels).
    pub srcs: Vec<(TensorId, u64)>,
    pub dst: Vec<TensorId>,
    /// Row width and row count of the destinations.
    pub width: u64,
    pub count: u64,
    /// Element offset of the step's range in its destinations (a block of a larger tensor).
    pub dst_offset: u64,
}

impl VecStep {
    /// Elements produced per destination.
    pub fn elems(&self) -> u64 {
        self.width * self.count
    }
}

/// Pre-generation of one N:M weight form from the dense weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruneStep {
    pub src: TensorId,
    pub dst: TensorId,
    pub rows: u64,
    pub k: u64,
    pub nm: Nm,
    pub along: crate::isa::PruneAlong,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum StepKind {
    Gemm(Box<GemmStep>),
    Vector(VecStep),
    Prune(PruneStep),
}

/// One step of the iteration, tagged for statistics and scheduling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub kind: StepKind,
    pub layer: usize,
    pub phase: Phase,
    /// Steps with the same `group` are independent of each other and may be interleaved.
    pub group: usize,
}

/// One training iteration of a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingGraph {
    pub layers: Vec<String>,
    pub tensors: Vec<TensorDef>,
    /// Steps in an order that respects every data dependency.
    pub steps: Vec<Step>,
}
