//! Expands a model into one training iteration: FF over the layers, the loss, then BP and WU in
//! reverse with each layer's weight update, every GEMM lowered by im2col.
//!
//! Activations are stored pixel-major, `[batch·pixels × features]` (NHWC): a block of pixels
//! (or tokens) is one contiguous DRAM range, so that element-wise consumers can start on the
//! blocks their producer has stored; GEMMs read them transposed or through a window view. The
//! layouts and the BP of a convolution (s² stride phases, each a stride-1 window GEMM whose
//! output pixels are scattered to their NHWC positions) are defined in [`crate::isa`]. Pooling
//! reads its windows through the same views, and its gradient is split into the same stride
//! phases.

use super::stride_phases::{phase_grid, phase_window, stride_phases, Conv};
use super::{
    GemmStep, Layout, Operand, PruneStep, SrcView, Step, StepKind, TensorDef, TensorId,
    TrainOptions, TrainingGraph, VecSrc, VecStep,
};
use crate::graph::recipe::MASK_DECAY_TENSOR;
use crate::isa::{q16, ConvBp, Im2col, Phase, PoolMode, PruneAlong, SrSte, VecOp, STATS_BYTES};
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
}

impl Builder<'_> {
    fn tensor(&mut self, name: String, bytes: u64) -> TensorId {
        self.tensors.push(TensorDef { name, bytes });
        self.tensors.len() - 1
    }

    fn push(&mut self, layer: usize, phase: Phase, kind: StepKind) {
        self.steps.push(Step { kind, layer, phase });
    }

    /// An element-wise step producing `count` rows of `width`, each source row `r` from row `r`
    /// of its tensor.
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
        let srcs = srcs.into_iter().map(|(t, w)| VecSrc::rows(t, w)).collect();
        self.vector_step(
            layer,
            phase,
            VecStep {
                op,
                srcs,
                dst,
                width,
                count,
                dst_grid: None,
                reduce: false,
            },
        );
    }

    /// A batch norm's two passes over `count` rows of `width` channels: the statistics of
    /// `stats_of` into `stats`, reduced over all rows, then `op` (the normalization or its
    /// gradient) from `srcs` and the statistics into `dst`.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm(
        &mut self,
        layer: usize,
        phase: Phase,
        (stats_op, stats_of, stats): (VecOp, Vec<TensorId>, TensorId),
        (op, srcs, whole): (VecOp, Vec<TensorId>, Vec<TensorId>),
        dst: TensorId,
        width: u64,
        count: u64,
    ) {
        let rows = |ts: Vec<TensorId>| ts.into_iter().map(|t| VecSrc::rows(t, width));
        self.vector_step(
            layer,
            phase,
            VecStep {
                op: stats_op,
                srcs: rows(stats_of).collect(),
                dst: vec![stats],
                width,
                count,
                dst_grid: None,
                reduce: true,
            },
        );
        let whole = whole.into_iter().map(|t| VecSrc {
            tensor: t,
            width: width * STATS_BYTES / ELEM,
            view: SrcView::Whole,
        });
        self.vector_step(
            layer,
            phase,
            VecStep {
                op,
                srcs: rows(srcs).chain(whole).collect(),
                dst: vec![dst],
                width,
                count,
                dst_grid: None,
                reduce: false,
            },
        );
    }

    fn vector_step(&mut self, layer: usize, phase: Phase, v: VecStep) {
        self.push(layer, phase, StepKind::Vector(v));
    }

    /// `dst` = the rows of `src` that `view` selects (an `Add` of one source: a copy).
    fn copy_rows(
        &mut self,
        layer: usize,
        phase: Phase,
        src: TensorId,
        dst: TensorId,
        view: Im2col,
    ) {
        self.vector_step(
            layer,
            phase,
            VecStep {
                op: VecOp::Add,
                srcs: vec![VecSrc {
                    tensor: src,
                    width: view.channels,
                    view: SrcView::Window(view),
                }],
                dst: vec![dst],
                width: view.channels,
                count: view.pixels(),
                dst_grid: None,
                reduce: false,
            },
        );
    }

    /// The weight operand of a GEMM: compressed when sparse and pre-generated, else the dense
    /// view `dense` of the weights (with a prune on every load when sparse). `form` names the
    /// pre-generated tensor.
    #[allow(clippy::too_many_arguments)]
    fn weight_operand(
        &mut self,
        layer: usize,
        form: String,
        dense: Operand,
        rows: u64,
        k: u64,
        slice_rows: u64,
        sparsity: Option<Nm>,
        along: PruneAlong,
    ) -> (Operand, Option<(TensorId, PruneAlong)>) {
        match sparsity {
            Some(nm) if self.pregenerate => {
                let t = self.tensor(form, compressed_bytes(rows, k, nm));
                self.push(
                    layer,
                    Phase::Prune,
                    StepKind::Prune(PruneStep {
                        src: dense,
                        dst: t,
                        rows,
                        k,
                        slice_rows,
                        nm,
                        along,
                    }),
                );
                (
                    Operand {
                        tensor: t,
                        layout: Layout::Compressed { nm, k },
                    },
                    None,
                )
            }
            Some(_) => (dense, Some((dense.tensor, along))),
            None => (dense, None),
        }
    }
}

fn row_major(tensor: TensorId, cols: u64) -> Operand {
    Operand {
        tensor,
        layout: Layout::RowMajor { cols },
    }
}

fn transposed(tensor: TensorId, cols: u64, slice_elems: u64) -> Operand {
    Operand {
        tensor,
        layout: Layout::Transposed { cols, slice_elems },
    }
}

fn window(tensor: TensorId, geom: Im2col, pixel_major: bool) -> Operand {
    Operand {
        tensor,
        layout: Layout::Im2col { geom, pixel_major },
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
    conv: Option<Conv>,
}

impl Weighted {
    /// Input channels (features) of one group.
    fn inp_g(&self) -> u64 {
        self.inp / self.groups
    }

    /// Output channels (features) of one group.
    fn out_g(&self) -> u64 {
        self.out / self.groups
    }
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
    };
    let n = model.layers.len();
    let input = b.tensor("input".into(), batch * model.input.numel() * ELEM);
    let mut y: Vec<TensorId> = Vec::with_capacity(n);
    let mut weights: Vec<Option<(TensorId, TensorId)>> = vec![None; n];
    // The weights FF and BP read: the dense ones, or MDGF's decayed copy of them.
    let mut gemm_weights: Vec<Option<TensorId>> = vec![None; n];
    let mut decay: Option<TensorId> = None;
    // The argmax of every max-pooling window and the statistics of every batch norm, for the
    // gradients.
    let mut argmax: Vec<Option<TensorId>> = vec![None; n];
    let mut norm_stats: Vec<Option<TensorId>> = vec![None; n];
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
                let (ff, _) = b.opts.layer_sparsity(&l.name, g.inp_g(), g.out_g());
                let k = g.inp_g() * g.kh * g.kw;
                let w = b.tensor(format!("{}.w", l.name), g.out * k * ELEM);
                let v = b.tensor(format!("{}.v", l.name), g.out * k * ELEM);
                weights[i] = Some((w, v));
                let wg = match b.opts.decayed(&l.name, g.inp_g()) {
                    Some(nm) => {
                        let d =
                            *decay.get_or_insert_with(|| b.tensor(MASK_DECAY_TENSOR.into(), ELEM));
                        let t = b.tensor(format!("{}.w_dec", l.name), g.out * k * ELEM);
                        b.vector_step(
                            i,
                            Phase::Prune,
                            VecStep {
                                op: VecOp::MaskDecay { nm },
                                srcs: vec![
                                    VecSrc::rows(w, k),
                                    VecSrc {
                                        tensor: d,
                                        width: 1,
                                        view: SrcView::Whole,
                                    },
                                ],
                                dst: vec![t],
                                width: k,
                                count: g.out,
                                dst_grid: None,
                                reduce: false,
                            },
                        );
                        t
                    }
                    None => w,
                };
                gemm_weights[i] = Some(wg);
                let (w_op, prune_from) = b.weight_operand(
                    i,
                    format!("{}.w_ff", l.name),
                    row_major(wg, k),
                    g.out,
                    k,
                    g.out,
                    ff,
                    PruneAlong::Input,
                );
                let x_op = match g.conv {
                    Some(c) => window(x, ff_window(&g, &c, batch), false),
                    None => transposed(x, g.inp, 0),
                };
                b.push(
                    i,
                    Phase::Ff,
                    StepKind::Gemm(Box::new(GemmStep {
                        m: g.out_g(),
                        k,
                        t: batch * g.pixels,
                        count: g.groups,
                        sparsity: ff,
                        w: w_op,
                        x: x_op,
                        y: out,
                        y_layout: Layout::Transposed {
                            cols: g.out,
                            slice_elems: g.out_g(),
                        },
                        prune_from,
                    })),
                );
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
                        prune_from: None,
                    })),
                );
            }
            &Op::Pool {
                kind,
                kernel,
                stride,
                padding,
            } => {
                let (Shape::Image { c, h, w }, Shape::Image { h: oh, w: ow, .. }) =
                    (model.input_shape(i, 0), l.out)
                else {
                    unreachable!("pooling maps images to images")
                };
                let mode = pool_mode(kind);
                let geom = Im2col {
                    pixel_elems: c,
                    channels: c,
                    images: batch,
                    in_h: h,
                    in_w: w,
                    out_h: oh,
                    out_w: ow,
                    kh: kernel,
                    kw: kernel,
                    stride,
                    pad_h: padding as i64,
                    pad_w: padding as i64,
                    block: 1,
                    // Padding never wins a max (PyTorch pads with −∞) and adds 0 to an average
                    // (which counts it, as PyTorch's `count_include_pad` does).
                    pad_value: if mode == PoolMode::Max { i16::MIN } else { 0 },
                };
                let mut dst = vec![out];
                if mode == PoolMode::Max {
                    let t = b.tensor(format!("{}.argmax", l.name), elems * ELEM);
                    argmax[i] = Some(t);
                    dst.push(t);
                }
                let window = kernel * kernel;
                b.vector_step(
                    i,
                    Phase::Ff,
                    VecStep {
                        op: VecOp::Pool { window, mode },
                        srcs: vec![VecSrc {
                            tensor: x,
                            width: c * window,
                            view: SrcView::Window(geom),
                        }],
                        dst,
                        width: c,
                        count: elems / c,
                        dst_grid: None,
                        reduce: false,
                    },
                );
            }
            Op::Norm {
                kind: NormKind::Batch,
                ..
            } => {
                let c = features(l.out);
                let stats = b.tensor(format!("{}.stats", l.name), c * STATS_BYTES);
                norm_stats[i] = Some(stats);
                b.batch_norm(
                    i,
                    Phase::Ff,
                    (VecOp::BatchStats, vec![x], stats),
                    (VecOp::BatchNorm { rows: elems / c }, vec![x], vec![stats]),
                    out,
                    c,
                    elems / c,
                );
            }
            &Op::ClassToken { add, tokens, dim } => {
                // Prepending reads each output row from the row before it (row 0 from the
                // padding, 0); taking reads row 0 of each sample.
                let (rows, shift) = if add { (tokens + 1, -1) } else { (1, 0) };
                b.copy_rows(
                    i,
                    Phase::Ff,
                    x,
                    out,
                    token_rows(dim, batch, tokens, rows, shift),
                );
            }
            op => {
                let (vop, srcs) = forward_vector(op, &l.inputs, &y, input, model);
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
            &Op::ClassToken { add, tokens, dim } => {
                // The copy's gradient: the rows after the class token, or the class token's row
                // with zeros after it.
                let (in_rows, shift) = if add { (tokens + 1, 1) } else { (1, 0) };
                let dx = b.tensor(format!("{}.dx", l.name), batch * tokens * dim * ELEM);
                let view = token_rows(dim, batch, in_rows, tokens, shift);
                b.copy_rows(i, Phase::Bp, dy, dx, view);
                for &j in &l.inputs {
                    parts[j].push(dx);
                }
            }
            Op::Conv2d { .. } | Op::Linear { .. } => {
                let g = weighted(&l.op);
                let (ff, bp) = b.opts.layer_sparsity(&l.name, g.inp_g(), g.out_g());
                let (w, v) = weights[i].expect("weighted layers have weights");
                let mut wg = gemm_weights[i].expect("weighted layers have weights");
                if let (true, Some(nm)) = (needs(0), b.opts.bp_masked(&l.name, g.inp_g())) {
                    // SR-STE: BP differentiates the FF's masked weights, dense on the array.
                    let k = g.inp_g() * g.kh * g.kw;
                    wg = b.tensor(format!("{}.w_masked", l.name), g.out * k * ELEM);
                    b.vector(
                        i,
                        Phase::Prune,
                        VecOp::MaskDecay { nm },
                        vec![(w, k)],
                        vec![wg],
                        k,
                        g.out,
                    );
                }
                let x = src(&y, i, 0);
                let k_ff = g.inp_g() * g.kh * g.kw;
                if needs(0) {
                    let dx = b.tensor(format!("{}.dx", l.name), in_elems(0) * ELEM);
                    match g.conv {
                        Some(c) => conv_bp(&mut b, i, &l.name, &g, &c, bp, wg, dy, dx),
                        None => {
                            let (w_op, prune_from) = b.weight_operand(
                                i,
                                format!("{}.w_bp", l.name),
                                transposed(wg, g.inp, 0),
                                g.inp,
                                g.out,
                                g.inp,
                                bp,
                                PruneAlong::Output,
                            );
                            b.push(
                                i,
                                Phase::Bp,
                                StepKind::Gemm(Box::new(GemmStep {
                                    m: g.inp,
                                    k: g.out,
                                    t: batch * g.pixels,
                                    count: 1,
                                    sparsity: bp,
                                    w: w_op,
                                    x: transposed(dy, g.out, 0),
                                    y: dx,
                                    y_layout: Layout::Transposed {
                                        cols: g.inp,
                                        slice_elems: 0,
                                    },
                                    prune_from,
                                })),
                            );
                        }
                    }
                    if let Some(&j) = l.inputs.first() {
                        parts[j].push(dx);
                    }
                }
                let dw = b.tensor(format!("{}.dw", l.name), g.out * k_ff * ELEM);
                let x_op = match g.conv {
                    Some(c) => window(x, ff_window(&g, &c, batch), true),
                    None => row_major(x, g.inp),
                };
                b.push(
                    i,
                    Phase::Wu,
                    StepKind::Gemm(Box::new(GemmStep {
                        m: g.out_g(),
                        k: batch * g.pixels,
                        t: k_ff,
                        count: g.groups,
                        sparsity: None,
                        w: transposed(dy, g.out, g.out_g()),
                        x: x_op,
                        y: dw,
                        y_layout: Layout::RowMajor { cols: k_ff },
                        prune_from: None,
                    })),
                );
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
                            x: transposed(bb, *n, k * n),
                            y: da,
                            y_layout: Layout::RowMajor { cols: *k },
                            prune_from: None,
                        })),
                    );
                    if let Some(&j) = l.inputs.first() {
                        parts[j].push(da);
                    }
                }
                if needs(1) {
                    let db = b.tensor(format!("{}.db", l.name), in_elems(1) * ELEM);
                    b.push(
                        i,
                        Phase::Bp,
                        StepKind::Gemm(Box::new(GemmStep {
                            m: *k,
                            k: *m,
                            t: *n,
                            count,
                            sparsity: None,
                            w: transposed(a, *k, m * k),
                            x: row_major(dy, *n),
                            y: db,
                            y_layout: Layout::RowMajor { cols: *n },
                            prune_from: None,
                        })),
                    );
                    if let Some(&j) = l.inputs.get(1) {
                        parts[j].push(db);
                    }
                }
            }
            &Op::Pool {
                kind,
                kernel,
                stride,
                padding,
            } => {
                if !needs(0) {
                    continue;
                }
                let dx = b.tensor(format!("{}.dx", l.name), in_elems(0) * ELEM);
                let (Shape::Image { c, h, w }, Shape::Image { h: oh, w: ow, .. }) =
                    (model.input_shape(i, 0), l.out)
                else {
                    unreachable!("pooling maps images to images")
                };
                let conv = Conv {
                    in_h: h,
                    in_w: w,
                    out_h: oh,
                    out_w: ow,
                    stride,
                    padding,
                };
                let mode = pool_mode(kind);
                for ph in stride_phases(&conv, kernel, kernel) {
                    let grid = phase_grid(&conv, batch, c, c, ph);
                    let count = batch * ph.0.count * ph.1.count;
                    let (op, srcs) = if ph.0.taps * ph.1.taps == 0 {
                        (VecOp::Fill, vec![])
                    } else {
                        let op = VecOp::PoolGrad {
                            mode,
                            kernel,
                            stride,
                            phase_h: ph.0.a,
                            phase_w: ph.1.a,
                        };
                        let width = c * ph.0.taps * ph.1.taps;
                        // The gradient of each window, and for max pooling which element won.
                        let mut srcs = vec![VecSrc {
                            tensor: dy,
                            width,
                            view: SrcView::Window(phase_window(&conv, batch, c, c, 1, 0, ph)),
                        }];
                        if let Some(t) = argmax[i] {
                            srcs.push(VecSrc {
                                tensor: t,
                                width,
                                view: SrcView::Window(phase_window(&conv, batch, c, c, 1, -1, ph)),
                            });
                        }
                        (op, srcs)
                    };
                    b.push(
                        i,
                        Phase::Bp,
                        StepKind::Vector(VecStep {
                            op,
                            srcs,
                            dst: vec![dx],
                            width: c,
                            count,
                            dst_grid: Some(grid),
                            reduce: false,
                        }),
                    );
                }
                if let Some(&j) = l.inputs.first() {
                    parts[j].push(dx);
                }
            }
            Op::Norm {
                kind: NormKind::Batch,
                ..
            } => {
                if !needs(0) {
                    continue;
                }
                let dx = b.tensor(format!("{}.dx", l.name), in_elems(0) * ELEM);
                let c = features(l.out);
                let gstats = b.tensor(format!("{}.gstats", l.name), c * STATS_BYTES);
                let stats = norm_stats[i].expect("the forward pass made the statistics");
                // The gradient reads the normalized output, not the input: y = x̂.
                b.batch_norm(
                    i,
                    Phase::Bp,
                    (VecOp::BatchGradStats, vec![dy, y[i]], gstats),
                    (
                        VecOp::BatchNormGrad { rows: elems / c },
                        vec![dy, y[i]],
                        vec![stats, gstats],
                    ),
                    dx,
                    c,
                    elems / c,
                );
                if let Some(&j) = l.inputs.first() {
                    parts[j].push(dx);
                }
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

/// The FF (and, pixel-major, WU) window view of a convolution's input.
fn ff_window(g: &Weighted, c: &Conv, batch: u64) -> Im2col {
    Im2col {
        pixel_elems: g.inp,
        channels: g.inp_g(),
        images: batch,
        in_h: c.in_h,
        in_w: c.in_w,
        out_h: c.out_h,
        out_w: c.out_w,
        kh: g.kh,
        kw: g.kw,
        stride: c.stride,
        pad_h: c.padding as i64,
        pad_w: c.padding as i64,
        block: 1,
        pad_value: 0,
    }
}

/// The BP of a convolution: per stride phase, the BP weight form and a stride-1 window GEMM
/// over dY whose output pixels are scattered to their dX positions; the positions of phases
/// without taps are zero-filled. The weight forms come first, so that the GEMMs can all
/// interleave with the weight update.
#[allow(clippy::too_many_arguments)]
fn conv_bp(
    b: &mut Builder,
    i: usize,
    name: &str,
    g: &Weighted,
    c: &Conv,
    bp: Option<Nm>,
    w: TensorId,
    dy: TensorId,
    dx: TensorId,
) {
    let batch = b.opts.batch;
    let block = bp.map_or(1, |nm| nm.m);
    let phases = stride_phases(c, g.kh, g.kw);
    let single = phases.len() == 1;
    let forms: Vec<_> = phases
        .iter()
        .map(|&(r, q)| {
            (r.taps * q.taps > 0).then(|| {
                let view = ConvBp {
                    out_ch: g.out_g(),
                    in_ch: g.inp_g(),
                    kh: g.kh,
                    kw: g.kw,
                    stride: c.stride,
                    phase_h: r.a,
                    phase_w: q.a,
                    block,
                };
                let form = if single {
                    format!("{name}.w_bp")
                } else {
                    format!("{name}.w_bp.{}{}", r.a, q.a)
                };
                let dense = Operand {
                    tensor: w,
                    layout: Layout::ConvBp(view),
                };
                let k = view.k();
                let (op, prune_from) =
                    b.weight_operand(i, form, dense, g.inp, k, g.inp_g(), bp, PruneAlong::Output);
                (k, op, prune_from)
            })
        })
        .collect();
    for (ph, form) in phases.into_iter().zip(forms) {
        let grid = phase_grid(c, batch, g.inp, g.inp_g(), ph);
        let t = batch * ph.0.count * ph.1.count;
        let Some((k, w_op, prune_from)) = form else {
            let grid = Im2col {
                channels: g.inp,
                ..grid
            };
            b.push(
                i,
                Phase::Bp,
                StepKind::Vector(VecStep {
                    op: VecOp::Fill,
                    srcs: vec![],
                    dst: vec![dx],
                    width: g.inp,
                    count: t,
                    dst_grid: Some(grid),
                    reduce: false,
                }),
            );
            continue;
        };
        let x_geom = phase_window(c, batch, g.out, g.out_g(), block, 0, ph);
        b.push(
            i,
            Phase::Bp,
            StepKind::Gemm(Box::new(GemmStep {
                m: g.inp_g(),
                k,
                t,
                count: g.groups,
                sparsity: bp,
                w: w_op,
                x: window(dy, x_geom, false),
                y: dx,
                y_layout: Layout::Im2col {
                    geom: grid,
                    pixel_major: false,
                },
                prune_from,
            })),
        );
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
            conv: Some(Conv {
                in_h,
                in_w,
                out_h,
                out_w,
                stride,
                padding,
            }),
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
            conv: None,
        },
        _ => unreachable!("only conv2d and linear have weights"),
    }
}

fn pool_mode(kind: PoolKind) -> PoolMode {
    match kind {
        PoolKind::Max => PoolMode::Max,
        PoolKind::Avg => PoolMode::Avg,
    }
}

fn forward_vector(
    op: &Op,
    inputs: &[usize],
    y: &[TensorId],
    input: TensorId,
    model: &Model,
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
            kind: NormKind::Layer,
            ..
        } => VecOp::Norm,
        Op::Softmax => VecOp::Softmax,
        _ => unreachable!("GEMM layers, pooling and reshapes are handled by the caller"),
    };
    (vop, srcs)
}

/// The view of `images` samples of `in_rows` rows of `dim` as `out_rows` rows each: output row
/// r of a sample reads its row r + `shift`, and 0 outside the sample.
fn token_rows(dim: u64, images: u64, in_rows: u64, out_rows: u64, shift: i64) -> Im2col {
    Im2col {
        pixel_elems: dim,
        channels: dim,
        images,
        in_h: in_rows,
        in_w: 1,
        out_h: out_rows,
        out_w: 1,
        kh: 1,
        kw: 1,
        stride: 1,
        pad_h: -shift,
        pad_w: 0,
        block: 1,
        pad_value: 0,
    }
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
        _ => unreachable!("GEMM layers, pooling, adds and reshapes are handled by the caller"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_size() {
        // 2:8 → per group 2 values (4 B) + 2 × 3-bit indices (1 B).
        assert_eq!(compressed_bytes(4, 16, Nm { n: 2, m: 8 }), 4 * 2 * 5);
    }
}
