//! The training graph: one iteration of a model expanded into FF, BP and WU GEMMs with BDWP
//! sparsity, the prune steps that produce the N:M weight forms, and the vector steps around them.

mod expand;
mod recipe;
mod stride_phases;

pub use expand::{compressed_bytes, expand, group_bytes};
pub use recipe::{BpMask, Recipe, TrainOptions, MASK_DECAY_TENSOR};

use crate::isa::{ConvBp, Im2col, Phase, VecOp};
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
    /// The transpose of a row-major matrix: the operand `[a × b]` is stored as `[b × a]` in rows
    /// of `cols ≥ a` elements; slice `s` (a group, a head) starts `s·slice_elems` elements in.
    /// A grouped convolution's activations are such a matrix `[pixels × C]`, a group's
    /// channels a column block (`slice_elems = C/g`).
    Transposed { cols: u64, slice_elems: u64 },
    /// An N:M compressed weight matrix: each M-group of a row holds N values and N indices.
    Compressed { nm: Nm, k: u64 },
    /// A window view of a pixel-major tensor ([`Im2col`]): the operand `[k × pixels]`, or with
    /// `pixel_major` its transpose `[pixels × k]` (the weight update's). Slice `s` reads
    /// channels from `s·geom.channels` on. As a GEMM output (a 1×1 view, the pixels of a BP
    /// stride phase) it is stored by a scatter.
    Im2col { geom: Im2col, pixel_major: bool },
    /// The BP weights of a stride phase of a convolution, gathered from the dense
    /// `[co][ci/g][kh][kw]` weights ([`ConvBp`]); slice `s` is group `s`.
    ConvBp(ConvBp),
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
    /// For sparse GEMMs without pre-generation: the dense weights to prune on every load (`w`
    /// is then their dense view, rows of the form to prune).
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
    pub srcs: Vec<VecSrc>,
    pub dst: Vec<TensorId>,
    /// Row width and row count of the destinations (of the rows reduced, for a reduction).
    pub width: u64,
    pub count: u64,
    /// Where the destination rows go: consecutive rows (`None`), or the pixels of a 1×1 view's
    /// grid (a stride phase of an input gradient), stored by scatter.
    pub dst_grid: Option<Im2col>,
    /// A reduction: the single destination (the whole tensor) is an accumulator that every
    /// block of rows adds to; it starts at zero and is stored once, after the last block.
    pub reduce: bool,
}

impl VecStep {
    /// Elements processed: rows × width.
    pub fn elems(&self) -> u64 {
        self.width * self.count
    }
}

/// A source of a vector step: `width` elements per row of the step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VecSrc {
    pub tensor: TensorId,
    pub width: u64,
    pub view: SrcView,
}

/// Which elements of a source a block of rows reads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum SrcView {
    /// Row `r` of the step reads row `r` of the tensor (the labels have one element per row).
    Rows,
    /// Row `r` of the step reads the window row of output pixel `r` (`width = channels ×
    /// taps` elements, channel-major).
    Window(Im2col),
    /// Every block reads the whole tensor of `width` elements (per-channel statistics).
    Whole,
}

impl VecSrc {
    /// Row `r` of the step reads row `r` of `tensor`.
    pub fn rows(tensor: TensorId, width: u64) -> VecSrc {
        VecSrc {
            tensor,
            width,
            view: SrcView::Rows,
        }
    }

    /// Scratchpad elements of a block of `n` rows.
    pub fn block_elems(&self, n: u64) -> u64 {
        match self.view {
            SrcView::Whole => self.width,
            _ => n * self.width,
        }
    }
}

/// Pre-generation of one N:M weight form from the dense weights: the `rows × k` matrix `src`
/// (the dense weights in the form's view: as stored for FF, `Wᵀ` or [`ConvBp`] for BP) is
/// pruned along its rows into the compressed `dst`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruneStep {
    pub src: Operand,
    pub dst: TensorId,
    pub rows: u64,
    pub k: u64,
    /// Rows per slice (group) of the view; a chunk of rows never spans two slices.
    pub slice_rows: u64,
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
}

/// One training iteration of a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingGraph {
    pub layers: Vec<String>,
    pub tensors: Vec<TensorDef>,
    /// Steps in an order that respects every data dependency.
    pub steps: Vec<Step>,
}
