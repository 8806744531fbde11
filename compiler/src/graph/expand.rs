//! Expands a model into one training iteration: FF over the layers, the loss, then BP and WU in
//! reverse with each layer's weight update, every GEMM lowered by im2col.
//!
//! Activations are stored pixel-major, `[batch·pixels × features]` (NHWC): a block of pixels
//! (or tokens) is one contiguous DRAM range, so that element-wise consumers can start on the
//! blocks their producer has stored; GEMMs read them transposed.

use super::{
    GemmStep, Layout, Operand, PruneStep, Step, StepKind, TensorDef, TensorId, TrainOptions,
    TrainingGraph, VecStep,
};
use crate::isa::{q16, Im2col, Phase, PruneAlong, SrSte, VecOp};
use crate::model::{Activation, Model, NormKind, Op, PoolKind, Shape};
use crate::prune::Nm;

/// Bytes of one INT16 element.
const ELEM: u64 = 2;

/// Bytes of an N:M compressed `rows × k` matrix: per M-group, N INT16 values and N indices.
pub fn compressed_bytes(rows: u64, k: u64, nm: Nm) -> u64 {
    rows * k.div_ceil(nm.m) * group_bytes(nm)
}

/// Bytes of one compressed M-group (see [`crate::prune::group_bytes`]).
pub fn group_bytes(nm: Nm) -> u64 {
    crate::prune::group_bytes(nm) as u64
}

struct Builder<'a> {
    opts: &'a TrainOptions,
    pregenerate: bool,
    tensors: Vec<TensorDef>,
    steps: Vec<Step>,
    group: usize,
}

impl Builder<'_> {
    fn tensor(&mut self, name: String, bytes: u64) -> TensorId {
        self.tensors.push(TensorDef { name, bytes });
        self.tensors.len() - 1
    }

    fn push(&mut self, layer: usize, phase: Phase, kind: StepKind) {
        self.steps.push(Step {
            kind,
            layer,
            phase,
            group: self.group,
        });
    }

    /// An element-wise step producing `count` rows of `width`; `srcs` carry their widths.
    #[allow(clippy::too_many_arguments)]
    fn vector(
        &mut self,
        layer: usize,
        phase: Phase,
        op: VecOp,
        srcs: Vec<(TensorId, u64)>,
        dst: Vec<TensorId>,
        width: u64,
        count: u64,
    ) {
        self.push(
            layer,
            phase,
            StepKind::Vector(VecStep {
                op,
                srcs,
                dst,
                width,
                count,
                dst_offset: 0,
            }),
        );
        self.group += 1;
    }

    /// The weight operand of a GEMM: compressed when sparse and pre-generated, else dense (with a
    /// prune on every load when sparse).
    #[allow(clippy::too_many_arguments)]
    fn weight_operand(
        &mut self,
        layer: usize,
        name: &str,
        dense: TensorId,
        rows: u64,
        k: u64,
        sparsity: Option<Nm>,
        along: PruneAlong,
    ) -> (Operand, Option<(TensorId, PruneAlong)>) {
        match sparsity {
            Some(nm) if self.pregenerate => {
                let form = if along == PruneAlong::Input {
                    "ff"
                } else {
                    "bp"
                };
                let t = self.tensor(format!("{name}.w_{form}"), compressed_bytes(rows, k, nm));
                self.push(
                    layer,
                    Phase::Prune,
                    StepKind::Prune(PruneStep {
                        src: dense,
                        dst: t,
                        rows,
                        k,
                        nm,
                        along,
                    }),
                );
                self.group += 1;
                (
                    Operand {
                        tensor: t,
                        layout: Layout::Compressed { nm, k },
                    },
                    None,
                )
            }
            Some(_) => (
                Operand {
                    tensor: dense,
                    layout: Layout::RowMajor { cols: k },
                },
                Some((dense, along)),
            ),
            None => (
                Operand {
                    tensor: dense,
                    layout: Layout::RowMajor { cols: k },
                },
                None,
            ),
        }
    }
}

fn row_major(tensor: TensorId, cols: u64) -> Operand {
    Operand {
        tensor,
        layout: Layout::RowMajor { cols },
    }
}

fn transposed(tensor: TensorId, cols: u64) -> Operand {
    Operand {
        tensor,
        layout: Layout::Transposed { cols },
    }
}

/// Geometry of one weighted layer, as GEMM dimensions.
struct Weighted {
    out: u64,
    inp: u64,
    kh: u64,
    kw: u64,
    groups: u64,
    /// Output pixels (or tokens) per sample.
    pixels: u64,
    /// Input pixels per sample.
    stride: u64,
    geom: Option<(Im2col, u64, u64)>,
}

/// Expands `model` into one training iteration under `opts`. With `pregenerate`, both N:M forms
/// of every sparse layer are produced once per iteration by prune steps; without it, GEMMs
/// carry the dense weights and the scheduler prunes each tile as it is loaded.
pub fn expand(model: &Model, opts: &TrainOptions, pregenerate: bool) -> TrainingGraph {
    let batch = opts.batch;
    let mut b = Builder {
        opts,
        pregenerate,
        tensors: Vec::new(),
        steps: Vec::new(),
        group: 0,
    };
    let n = model.layers.len();
    let input = b.tensor("input".into(), batch * model.input.numel() * ELEM);
    let mut y: Vec<TensorId> = Vec::with_capacity(n);
    let mut weights: Vec<Option<(TensorId, TensorId)>> = vec![None; n];
    // Layers after the first that read no other layer (the independent rows of a SCALE-Sim
    // topology) read an input of their own, and receive an output gradient from the host.
    let own_input: Vec<Option<TensorId>> = model
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (i > 0 && l.inputs.is_empty()).then(|| {
                b.tensor(
                    format!("{}.x", l.name),
                    batch * own_input_numel(&l.op, model) * ELEM,
                )
            })
        })
        .collect();
    let src = |y: &Vec<TensorId>, i: usize, slot: usize| match model.layers[i].inputs.get(slot) {
        Some(&j) => y[j],
        None => own_input[i].unwrap_or(input),
    };

    // Forward pass, with each sparse layer's weight forms generated just before its use so the
    // prune unit works ahead of the array.
    for (i, l) in model.layers.iter().enumerate() {
        let elems = batch * l.out.numel();
        let x = src(&y, i, 0);
        if matches!(l.op, Op::Reshape) {
            y.push(x);
            continue;
        }
        let out = b.tensor(format!("{}.y", l.name), elems * ELEM);
        y.push(out);
        match &l.op {
            Op::Conv2d { .. } | Op::Linear { .. } => {
                let g = weighted(&l.op);
                // The BP form is generated where BP uses it, still ahead of the array's need.
                let (ff, _) = b
                    .opts
                    .layer_sparsity(&l.name, g.inp / g.groups, g.out / g.groups);
                let k = g.inp / g.groups * g.kh * g.kw;
                let w = b.tensor(format!("{}.w", l.name), g.out * k * ELEM);
                let v = b.tensor(format!("{}.v", l.name), g.out * k * ELEM);
                weights[i] = Some((w, v));
                let (w_op, prune_from) =
                    b.weight_operand(i, &l.name, w, g.out, k, ff, PruneAlong::Input);
                let x_op = match g.geom {
                    Some((geom, oh, ow)) => Operand {
                        tensor: x,
                        layout: Layout::Im2col {
                            geom,
                            out_h: oh,
                            out_w: ow,
                            transposed: false,
                        },
                    },
                    None => transposed(x, g.inp),
                };
                b.push(
                    i,
                    Phase::Ff,
                    StepKind::Gemm(Box::new(GemmStep {
                        m: g.out / g.groups,
                        k,
                        t: batch * g.pixels,
                        count: g.groups,
                        sparsity: ff,
                        w: w_op,
                        x: x_op,
                        y: out,
                        y_layout: Layout::Transposed {
                            cols: g.out / g.groups,
                        },
                        y_offset: 0,
                        prune_from,
                    })),
                );
                b.group += 1;
            }
            Op::Matmul { heads, m, k, n } => {
                let (a, bb) = (x, src(&y, i, 1));
                b.push(
                    i,
                    Phase::Ff,
                    StepKind::Gemm(Box::new(GemmStep {
                        m: *m,
                        k: *k,
                        t: *n,
                        count: batch * heads,
                        sparsity: None,
                        w: row_major(a, *k),
                        x: row_major(bb, *n),
                        y: out,
                        y_layout: Layout::RowMajor { cols: *n },
                        y_offset: 0,
                        prune_from: None,
                    })),
                );
                b.group += 1;
            }
            op => {
                let (vop, srcs) = forward_vector(op, &l.inputs, &y, input, model, i);
                let rows = features(l.out);
                b.vector(i, Phase::Ff, vop, srcs, vec![out], rows, elems / rows);
            }
        }
    }

    // Loss and its gradient.
    let last = n - 1;
    let classes = model.layers[last].out.numel();
    let dlast = b.tensor("loss.dy".into(), batch * classes * ELEM);
    let labels = b.tensor("labels".into(), batch * ELEM);
    b.vector(
        last,
        Phase::Bp,
        VecOp::Loss { classes, batch },
        vec![(y[last], classes), (labels, 1)],
        vec![dlast],
        classes,
        batch,
    );

    // Backward: gradient partials per producer, summed when the producer is reached.
    let mut parts: Vec<Vec<TensorId>> = vec![Vec::new(); n];
    parts[last].push(dlast);
    for (i, l) in model.layers.iter().enumerate() {
        let consumed = model.layers.iter().any(|c| c.inputs.contains(&i));
        if i != last && !consumed && !matches!(l.op, Op::Reshape) {
            let dy = b.tensor(format!("{}.dy_in", l.name), batch * l.out.numel() * ELEM);
            parts[i].push(dy);
        }
    }
    for (i, l) in model.layers.iter().enumerate().rev() {
        let elems = batch * l.out.numel();
        let dy = match parts[i].len() {
            0 => continue, // Nothing downstream needs this layer's gradient.
            1 => parts[i][0],
            _ => {
                let t = b.tensor(format!("{}.dy", l.name), elems * ELEM);
                let rows = features(l.out);
                let srcs = parts[i].iter().map(|&p| (p, rows)).collect();
                b.vector(i, Phase::Bp, VecOp::Add, srcs, vec![t], rows, elems / rows);
                t
            }
        };
        let needs =
            |slot: usize| l.inputs.get(slot).is_some() || (slot == 0 && own_input[i].is_some());
        let in_elems = |slot: usize| match own_input[i] {
            Some(_) => batch * own_input_numel(&l.op, model),
            None => batch * model.input_shape(i, slot).numel(),
        };
        match &l.op {
            Op::Reshape | Op::Add => {
                for &j in &l.inputs {
                    parts[j].push(dy);
                }
            }
            Op::Conv2d { .. } | Op::Linear { .. } => {
                let g = weighted(&l.op);
                let (ff, bp) = b
                    .opts
                    .layer_sparsity(&l.name, g.inp / g.groups, g.out / g.groups);
                let (w, v) = weights[i].expect("weighted layers have weights");
                let x = src(&y, i, 0);
                let k_ff = g.inp / g.groups * g.kh * g.kw;
                if needs(0) {
                    // BP as a transposed convolution; a stride-s conv splits into s² phases
                    // whose kernels partition kh × kw, so no MAC is spent on inserted zeros.
                    // Their weight forms are generated first, so the GEMMs can all interleave
                    // with the weight update.
                    let phases: Vec<_> = stride_phases(g.kh, g.kw, g.stride)
                        .into_iter()
                        .map(|(ka, kb)| {
                            let k_bp = g.out / g.groups * ka * kb;
                            let (w_op, prune_from) = b.weight_operand(
                                i,
                                &l.name,
                                w,
                                g.inp / g.groups,
                                k_bp,
                                bp,
                                PruneAlong::Output,
                            );
                            (ka, kb, k_bp, w_op, prune_from)
                        })
                        .collect();
                    // Phase p writes block p of dx (phase-major layout); positions that no
                    // phase reaches (a 1×1 stride-2 kernel) are zero-filled.
                    let block = g.groups * (g.inp / g.groups) * batch * g.pixels;
                    let covered = block * phases.len() as u64;
                    let dx = b.tensor(format!("{}.dx", l.name), in_elems(0).max(covered) * ELEM);
                    if covered < in_elems(0) {
                        b.push(
                            i,
                            Phase::Bp,
                            StepKind::Vector(VecStep {
                                op: VecOp::Fill,
                                srcs: vec![],
                                dst: vec![dx],
                                width: 1,
                                count: in_elems(0) - covered,
                                dst_offset: covered,
                            }),
                        );
                    }
                    b.group += 1;
                    for (p, (ka, kb, k_bp, w_op, prune_from)) in phases.into_iter().enumerate() {
                        let x_op = match g.geom {
                            Some((geom, oh, ow)) => Operand {
                                tensor: dy,
                                layout: Layout::Im2col {
                                    geom: Im2col {
                                        channels: g.out,
                                        in_h: oh,
                                        in_w: ow,
                                        kh: ka,
                                        kw: kb,
                                        stride: 1,
                                        padding: ka.saturating_sub(1).min(geom.padding),
                                    },
                                    out_h: oh,
                                    out_w: ow,
                                    transposed: false,
                                },
                            },
                            None => transposed(dy, g.out),
                        };
                        b.push(
                            i,
                            Phase::Bp,
                            StepKind::Gemm(Box::new(GemmStep {
                                m: g.inp / g.groups,
                                k: k_bp,
                                t: batch * g.pixels,
                                count: g.groups,
                                sparsity: bp,
                                w: w_op,
                                x: x_op,
                                y: dx,
                                y_layout: Layout::Transposed {
                                    cols: g.inp / g.groups,
                                },
                                y_offset: p as u64 * block,
                                prune_from,
                            })),
                        );
                    }
                    if let Some(&j) = l.inputs.first() {
                        parts[j].push(dx);
                    }
                }
                let dw = b.tensor(format!("{}.dw", l.name), g.out * k_ff * ELEM);
                let x_op = match g.geom {
                    Some((geom, oh, ow)) => Operand {
                        tensor: x,
                        layout: Layout::Im2col {
                            geom,
                            out_h: oh,
                            out_w: ow,
                            transposed: true,
                        },
                    },
                    None => row_major(x, g.inp),
                };
                b.push(
                    i,
                    Phase::Wu,
                    StepKind::Gemm(Box::new(GemmStep {
                        m: g.out / g.groups,
                        k: batch * g.pixels,
                        t: k_ff,
                        count: g.groups,
                        sparsity: None,
                        w: transposed(dy, g.out),
                        x: x_op,
                        y: dw,
                        y_layout: Layout::RowMajor { cols: k_ff },
                        y_offset: 0,
                        prune_from: None,
                    })),
                );
                b.group += 1;
                let srste =
                    (b.opts.srste_term() && (ff.is_some() || bp.is_some())).then_some(SrSte {
                        nm: b.opts.nm,
                        lambda_q16: q16(b.opts.srste_lambda),
                    });
                let sgd = VecOp::Sgd {
                    lr_q16: q16(b.opts.lr),
                    momentum_q16: q16(b.opts.momentum),
                    srste,
                };
                b.vector(
                    i,
                    Phase::Update,
                    sgd,
                    vec![(w, k_ff), (dw, k_ff), (v, k_ff)],
                    vec![w, v],
                    k_ff,
                    g.out,
                );
            }
            Op::Matmul { heads, m, k, n } => {
                let (a, bb) = (src(&y, i, 0), src(&y, i, 1));
                let count = batch * heads;
                b.group += 1;
                let pair = b.group;
                if needs(0) {
                    let da = b.tensor(format!("{}.da", l.name), in_elems(0) * ELEM);
                    b.push(
                        i,
                        Phase::Bp,
                        StepKind::Gemm(Box::new(GemmStep {
                            m: *m,
                            k: *n,
                            t: *k,
                            count,
                            sparsity: None,
                            w: row_major(dy, *n),
                            x: transposed(bb, *n),
                            y: da,
                            y_layout: Layout::RowMajor { cols: *k },
                            y_offset: 0,
                            prune_from: None,
                        })),
                    );
                    if let Some(&j) = l.inputs.first() {
                        parts[j].push(da);
                    }
                }
                if needs(1) {
                    let db = b.tensor(format!("{}.db", l.name), in_elems(1) * ELEM);
                    b.group = pair;
                    b.push(
                        i,
                        Phase::Bp,
                        StepKind::Gemm(Box::new(GemmStep {
                            m: *k,
                            k: *m,
                            t: *n,
                            count,
                            sparsity: None,
                            w: transposed(a, *k),
                            x: row_major(dy, *n),
                            y: db,
                            y_layout: Layout::RowMajor { cols: *n },
                            y_offset: 0,
                            prune_from: None,
                        })),
                    );
                    if let Some(&j) = l.inputs.get(1) {
                        parts[j].push(db);
                    }
                }
                b.group += 1;
            }
            op => {
                if !needs(0) {
                    continue;
                }
                let dx = b.tensor(format!("{}.dx", l.name), in_elems(0) * ELEM);
                let x = src(&y, i, 0);
                let vop = backward_vector(op);
                let rows = features(model.input_shape(i, 0));
                let srcs = vec![(dy, features(l.out)), (x, rows)];
                b.vector(i, Phase::Bp, vop, srcs, vec![dx], rows, in_elems(0) / rows);
                if let Some(&j) = l.inputs.first() {
                    parts[j].push(dx);
                }
            }
        }
    }

    TrainingGraph {
        layers: model.layers.iter().map(|l| l.name.clone()).collect(),
        tensors: b.tensors,
        steps: b.steps,
    }
}

/// Per-sample input elements of a layer that reads no other layer.
fn own_input_numel(op: &Op, model: &Model) -> u64 {
    match *op {
        Op::Conv2d {
            in_ch, in_h, in_w, ..
        } => in_ch * in_h * in_w,
        Op::Linear { in_f, tokens, .. } => in_f * tokens,
        _ => model.input.numel(),
    }
}

fn weighted(op: &Op) -> Weighted {
    match *op {
        Op::Conv2d {
            in_ch,
            out_ch,
            kh,
            kw,
            stride,
            padding,
            groups,
            in_h,
            in_w,
            out_h,
            out_w,
            ..
        } => Weighted {
            out: out_ch,
            inp: in_ch,
            kh,
            kw,
            groups,
            pixels: out_h * out_w,
            stride,
            geom: Some((
                Im2col {
                    channels: in_ch,
                    in_h,
                    in_w,
                    kh,
                    kw,
                    stride,
                    padding,
                },
                out_h,
                out_w,
            )),
        },
        Op::Linear {
            in_f,
            out_f,
            tokens,
            ..
        } => Weighted {
            out: out_f,
            inp: in_f,
            kh: 1,
            kw: 1,
            groups: 1,
            pixels: tokens,
            stride: 1,
            geom: None,
        },
        _ => unreachable!("only conv2d and linear have weights"),
    }
}

/// The s² sub-kernels of a stride-s transposed convolution: phase (a, b) uses the taps
/// a, a+s, … of the rows and b, b+s, … of the columns. Empty phases are dropped.
fn stride_phases(kh: u64, kw: u64, s: u64) -> Vec<(u64, u64)> {
    let taps = |k: u64, a: u64| if a < k { (k - a).div_ceil(s) } else { 0 };
    let mut v = Vec::new();
    for a in 0..s {
        for c in 0..s {
            let (x, z) = (taps(kh, a), taps(kw, c));
            if x > 0 && z > 0 {
                v.push((x, z));
            }
        }
    }
    v
}

fn forward_vector(
    op: &Op,
    inputs: &[usize],
    y: &[TensorId],
    input: TensorId,
    model: &Model,
    i: usize,
) -> (VecOp, Vec<(TensorId, u64)>) {
    let srcs = if inputs.is_empty() {
        vec![(input, features(model.input))]
    } else {
        inputs
            .iter()
            .map(|&j| (y[j], features(model.layers[j].out)))
            .collect()
    };
    let vop = match op {
        Op::Act(Activation::Relu) => VecOp::Relu,
        Op::Act(Activation::Gelu) => VecOp::Gelu,
        Op::Add => VecOp::Add,
        Op::Norm {
            kind: NormKind::Batch | NormKind::Layer,
            ..
        } => VecOp::Norm,
        Op::Softmax => VecOp::Softmax,
        Op::Pool {
            kind: PoolKind::Max | PoolKind::Avg,
            kernel,
            ..
        } => {
            let window = match (model.input_shape(i, 0), kernel) {
                (Shape::Image { .. }, k) => k * k,
                (Shape::Seq { .. }, k) => *k,
            };
            VecOp::Pool { window }
        }
        _ => unreachable!("GEMM layers and reshapes are handled by the caller"),
    };
    (vop, srcs)
}

/// Features per pixel or token: the row width of a pixel-major tensor.
fn features(s: Shape) -> u64 {
    match s {
        Shape::Image { c, .. } => c,
        Shape::Seq { dim, .. } => dim,
    }
}

/// The vector operation of a layer's gradient.
fn backward_vector(op: &Op) -> VecOp {
    match op {
        Op::Act(Activation::Relu) => VecOp::ReluGrad,
        Op::Act(Activation::Gelu) => VecOp::GeluGrad,
        Op::Norm { .. } => VecOp::NormGrad,
        Op::Softmax => VecOp::SoftmaxGrad,
        // Each input gradient gathers from the windows that saw it.
        Op::Pool { .. } => VecOp::Pool { window: 1 },
        _ => unreachable!("GEMM layers, adds and reshapes are handled by the caller"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stride_phases_partition_the_kernel() {
        for (kh, s) in [(3, 1), (3, 2), (1, 2), (7, 2), (2, 2), (4, 3)] {
            let total: u64 = stride_phases(kh, kh, s).iter().map(|(a, b)| a * b).sum();
            assert_eq!(total, kh * kh, "k={kh} s={s}");
        }
        assert_eq!(stride_phases(1, 1, 2), vec![(1, 1)]);
    }

    #[test]
    fn compressed_size() {
        // 2:8 → per group 2 values (4 B) + 2 × 3-bit indices (1 B).
        assert_eq!(compressed_bytes(4, 16, Nm { n: 2, m: 8 }), 4 * 2 * 5);
    }
}
