//! The ISA: the static program the compiler emits and the simulator and the RTL execute.
//!
//! The core has five units, each with its own in-order instruction queue: the DMA engine's load
//! and store sides, the prune (pre-generation) unit, the PE array and the vector unit. The two
//! DMA sides share the DRAM: one transfer at a time. A unit runs one instruction at
//! a time, in program order for that unit. An instruction starts when its unit is free and every
//! wait `(unit V, count c)` holds, i.e. at least `c` instructions of V have completed. Waits are
//! the only synchronisation; the [`crate::check`] pass proves them sufficient.
//!
//! # Instructions
//! **Load** — *Format* `Load { xfer }` · *Action* copy `xfer.rows` rows of `xfer.row_bytes` from
//! DRAM (`dram_addr`, rows `dram_stride` apart) into the scratchpad range `xfer.sp`, densely;
//! with `im2col`, the rows are an input window that the DMA write path expands into im2col
//! columns · *Notes* DRAM is read in whole `access_bytes` words.
//!
//! **Store** — *Format* `Store { xfer, requant }` · *Action* the reverse copy; with `requant` the
//! scratchpad holds INT32 accumulators and the write path rounds and saturates them to INT16
//! (see `datapath`) · *Notes* DRAM writes are whole words too.
//!
//! **Prune** — *Format* `Prune { src, dst, rows, k, nm, along }` · *Action* rank every M-group of
//! the dense `rows × k` INT16 matrix in `src` and write the kept values and their indices to
//! `dst`; `along` says whether groups run along k (FF form) or along rows (BP form).
//!
//! **Gemm** — *Format* `Gemm { w, x, y, m, k, t, sparsity, accumulate }` · *Action*
//! `y[m×t] (+)= w[m×k] · x[k×t]`; with `sparsity`, `w` holds the N:M compressed form and each PE
//! selects its activation from an M-group · *Notes* `y` holds INT32 accumulators.
//!
//! **Vector** — *Format* `Vector { op, srcs, dst, elems, width }` · *Action* `op` over a tile
//! of `elems/width` rows of `width` elements (row-major in every buffer; a source of another
//! width, like the labels, has one element per row); most operations are element-wise, the loss
//! and softmax work along rows · *Notes* used for activations, their gradients, norms, pooling,
//! softmax and the weight update.

use crate::arch::RegionId;
use crate::prune::Nm;
use serde::{Deserialize, Serialize};

/// The units with an instruction queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Unit {
    /// The DMA engine's read side: DRAM to scratchpad.
    Load,
    /// The DMA engine's write side: scratchpad to DRAM.
    Store,
    Prune,
    Array,
    Vector,
}

impl Unit {
    /// Every unit, in index order.
    pub const ALL: [Unit; Unit::COUNT] = [
        Unit::Load,
        Unit::Store,
        Unit::Prune,
        Unit::Array,
        Unit::Vector,
    ];
    /// Number of units.
    pub const COUNT: usize = 5;

    /// Dense index 0..COUNT.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A byte range of one scratchpad region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buf {
    pub region: RegionId,
    pub addr: u64,
    pub bytes: u64,
}

impl Buf {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.addr + self.bytes
    }
}

/// Convolution window geometry for an im2col load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Im2col {
    pub channels: u64,
    pub in_h: u64,
    pub in_w: u64,
    pub kh: u64,
    pub kw: u64,
    pub stride: u64,
    pub padding: u64,
}

/// How the DMA write path arranges a transfer's elements in the scratchpad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum XferShape {
    /// Rows land one after another, as in DRAM.
    Copy,
    /// The `rows × row_bytes/2` INT16 block lands transposed (column-major).
    Transpose,
    /// The rows are input-feature-map windows that land as im2col columns.
    Im2col(Im2col),
}

/// A 2-D transfer between DRAM and a scratchpad range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xfer {
    pub dram_addr: u64,
    pub rows: u64,
    pub row_bytes: u64,
    pub dram_stride: u64,
    pub sp: Buf,
    pub shape: XferShape,
}

impl Xfer {
    /// The DRAM byte range the transfer touches (first to last byte, strides included).
    pub fn dram_span(&self) -> (u64, u64) {
        let end = self.dram_addr + (self.rows.max(1) - 1) * self.dram_stride + self.row_bytes;
        (self.dram_addr, end)
    }
}

/// Which way the M-groups of a prune run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PruneAlong {
    /// Along the reduction (input) dimension: the FF form.
    Input,
    /// Along the output dimension: the BP form.
    Output,
}

/// Element-wise operations of the vector unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VecOp {
    Relu,
    ReluGrad,
    Gelu,
    GeluGrad,
    Add,
    Norm,
    NormGrad,
    Softmax,
    SoftmaxGrad,
    /// Window reduction over `window` inputs per output (forward pooling or its gradient).
    Pool {
        window: u64,
    },
    /// Writes zeros (the input-gradient positions no stride phase reaches).
    Fill,
    /// Gradient of the mean softmax cross-entropy: per row, the `classes` logits (source 0)
    /// against the INT16 class label (source 1): `(softmax − onehot) / batch`.
    Loss {
        classes: u64,
        /// Samples of the whole batch (a tile may hold fewer): the mean's divisor.
        batch: u64,
    },
    /// SGD with momentum (sources w, dw, v; destinations w, v): `v ← μv + dw
    /// (+ λ(1−mask)⊙w)`, `w ← w − lr·v`. Constants are Q16.16; the SR-STE mask is the FF N:M
    /// mask along each row of the tile (tiles hold whole M-groups).
    Sgd {
        lr_q16: i32,
        momentum_q16: i32,
        srste: Option<SrSte>,
    },
}

/// The SR-STE decay term of an update: `λ` (Q16.16) on the weights the N:M mask drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SrSte {
    pub nm: Nm,
    pub lambda_q16: i32,
}

/// A real constant in Q16.16, as the vector unit holds it.
pub fn q16(x: f64) -> i32 {
    (x * 65536.0).round() as i32
}

/// One instruction's operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Load {
        xfer: Xfer,
    },
    Store {
        xfer: Xfer,
        requant: bool,
    },
    Prune {
        src: Buf,
        dst: Buf,
        rows: u64,
        k: u64,
        nm: Nm,
        along: PruneAlong,
    },
    Gemm {
        w: Buf,
        x: Buf,
        y: Buf,
        m: u64,
        k: u64,
        t: u64,
        sparsity: Option<Nm>,
        accumulate: bool,
    },
    Vector {
        op: VecOp,
        srcs: Vec<Buf>,
        dst: Buf,
        elems: u64,
        width: u64,
    },
}

impl Op {
    /// The unit whose queue runs this operation.
    pub fn unit(&self) -> Unit {
        match self {
            Op::Load { .. } => Unit::Load,
            Op::Store { .. } => Unit::Store,
            Op::Prune { .. } => Unit::Prune,
            Op::Gemm { .. } => Unit::Array,
            Op::Vector { .. } => Unit::Vector,
        }
    }

    /// Scratchpad ranges read.
    pub fn sp_reads(&self) -> Vec<Buf> {
        match self {
            Op::Load { .. } => vec![],
            Op::Store { xfer, .. } => vec![xfer.sp],
            Op::Prune { src, .. } => vec![*src],
            Op::Gemm {
                w,
                x,
                y,
                accumulate,
                ..
            } => {
                let mut r = vec![*w, *x];
                if *accumulate {
                    r.push(*y);
                }
                r
            }
            Op::Vector { srcs, .. } => srcs.clone(),
        }
    }

    /// Scratchpad ranges written.
    pub fn sp_writes(&self) -> Vec<Buf> {
        match self {
            Op::Load { xfer } => vec![xfer.sp],
            Op::Store { .. } => vec![],
            Op::Prune { dst, .. } => vec![*dst],
            Op::Gemm { y, .. } => vec![*y],
            Op::Vector { dst, .. } => vec![*dst],
        }
    }
}

/// Training phase an instruction belongs to, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    /// Forward pass.
    Ff,
    /// Backward pass: activation gradients.
    Bp,
    /// Weight update: weight gradients.
    Wu,
    /// Pruning / pre-generation of the N:M weight forms.
    Prune,
    /// The optimizer step.
    Update,
}

impl Phase {
    /// Every phase, in report order.
    pub const ALL: [Phase; 5] = [Phase::Ff, Phase::Bp, Phase::Wu, Phase::Prune, Phase::Update];

    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Ff => "FF",
            Phase::Bp => "BP",
            Phase::Wu => "WU",
            Phase::Prune => "prune",
            Phase::Update => "update",
        }
    }
}

/// A scheduled instruction: its operation, what it waits for, and what it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instr {
    pub op: Op,
    /// Wait until at least `count` instructions of `unit` have completed.
    pub waits: Vec<(Unit, u32)>,
    /// Index into [`Program::layers`].
    pub layer: u32,
    pub phase: Phase,
}

/// A named DRAM tensor of the program's memory map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tensor {
    pub name: String,
    pub addr: u64,
    pub bytes: u64,
    /// Provided by the host before the iteration (input batch, weights, optimizer state).
    pub host_init: bool,
}

/// A whole compiled training iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// Name of the accelerator description it was compiled for.
    pub arch: String,
    /// Name of the model.
    pub model: String,
    pub batch: u64,
    /// The sparsity pattern (None for dense training).
    pub nm: Option<Nm>,
    /// Layer names, indexed by [`Instr::layer`].
    pub layers: Vec<String>,
    /// The DRAM memory map.
    pub tensors: Vec<Tensor>,
    pub instrs: Vec<Instr>,
}

impl Program {
    /// Number of instructions per unit.
    pub fn unit_counts(&self) -> [u64; Unit::COUNT] {
        let mut c = [0; Unit::COUNT];
        for i in &self.instrs {
            c[i.op.unit().index()] += 1;
        }
        c
    }

    /// JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a Program always serializes")
    }

    /// Parses the JSON form.
    pub fn from_json(text: &str) -> Result<Program, String> {
        serde_json::from_str(text).map_err(|e| format!("not a program: {e}"))
    }

    /// Compact binary form (postcard, prefixed with a magic and a format version).
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(postcard::to_allocvec(self).expect("a Program always serializes"));
        out
    }

    /// Parses the binary form.
    pub fn from_binary(bytes: &[u8]) -> Result<Program, String> {
        let body = bytes
            .strip_prefix(MAGIC)
            .ok_or("not an nmsat binary program (bad magic or version)")?;
        postcard::from_bytes(body).map_err(|e| format!("corrupt binary program: {e}"))
    }
}

/// "NMSP" and format version 1.
const MAGIC: &[u8] = b"NMSP\x01";
