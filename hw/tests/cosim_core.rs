//! The whole core (controller, DMA engine, prune unit, array unit, vector unit, scratchpad
//! regions) against the exact simulator: random programs of loads, stores, prunes at every
//! pattern of the description, GEMMs (dense and N:M, shapes that are not multiples of the
//! array) and vector operations (element-wise, Adds of up to three sources, SGD with and
//! without SR-STE, the loss gradient, pooling and its gradients, MaskDecay, batch norm) with
//! random waits (transfers copy, transpose, scatter and gather: Im2col windows and ConvBp
//! weights); gathers of kernels larger than 3 × 3; compiled digits-CNN training iterations and
//! one of a CNN with 5×5 stride-2 and 4×4 stride-4 convolutions;
//! compiled tiny-MLP training iterations (FF, BP, WU, update); and one-GEMM
//! programs on 2×2, 4×4, 8×8 and 16×16 cores. Every instruction issues and completes in the same
//! cycles, and the DRAM ends up the same.

mod common;

use common::{arch, options};
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::isa::{Op, Program, VecOp, Xfer, XferShape};
use nmsat_compiler::prune::Nm;
use nmsat_hw::{
    build_core, cosim_program, first_mismatch, gemm_program, random_program, vector_program,
    Design, Mismatch,
};
use std::sync::{Arc, OnceLock};

/// The Verilated core of sat-small, built once for every test of this binary (and cached on
/// disk across runs).
fn design() -> Arc<Design> {
    static DESIGN: OnceLock<Arc<Design>> = OnceLock::new();
    DESIGN
        .get_or_init(|| {
            build_core(&arch("sat-small"), &options()).unwrap_or_else(|e| panic!("{e}"))
        })
        .clone()
}

/// `elems` INT16 elements at byte `addr` of `region`.
fn buf(region: nmsat_compiler::arch::RegionId, addr: u64, elems: u64) -> nmsat_compiler::isa::Buf {
    nmsat_compiler::isa::Buf {
        region,
        addr,
        bytes: 2 * elems,
    }
}

/// One training iteration of `model` under `opts`, compiled for sat-small.
fn iteration(model: &nmsat_compiler::model::Model, opts: &TrainOptions) -> Program {
    nmsat_compiler::schedule::compile(&arch("sat-small"), model, opts)
        .unwrap()
        .program
}

/// Co-simulates `prog` on the sat-small core (DRAM filled from `seed`), asserts that every word
/// and every cycle match, and prints `what` with its size.
fn assert_cosim_matches(prog: &Program, seed: u64, what: &str) {
    let c = cosim_program(&design(), &arch("sat-small"), prog, seed, None).unwrap();
    assert_eq!(c.mismatch, None, "{what}");
    assert_eq!(c.rtl.cycles, c.exact_cycles, "{what}");
    eprintln!(
        "{what}: {} instructions, {} cycles",
        prog.instrs.len(),
        c.rtl.cycles
    );
}

#[test]
fn random_programs_match_the_exact_simulator() {
    let arch = arch("sat-small");
    let design = design();
    // SGD without and with SR-STE, loss gradients, pooling and its gradients, GELU and its
    // gradient, layer norm, its gradient, the softmax and its gradient, over all seeds.
    let mut kinds = [0; 10];
    // SR-STE and MaskDecay over rows that end in a short N:M group.
    let mut short_rows = 0;
    // MaskDecay with and without d; BatchStats, BatchNorm, BatchGradStats, BatchNormGrad.
    let mut norms = [0; 6];
    // Scatter loads and stores, channel- and pixel-major.
    let mut scatters = [0; 4];
    // Gathers: Im2col `[k × px]`, `[px × k]`, padded (with a fill), with a stride, with a
    // kernel larger than 3×3; ConvBp, of a phase of more than 3×3 taps.
    let mut gathers = [0; 7];
    // Adds of three sources (a thirtieth of the vector operations).
    let mut adds3 = 0;
    for seed in 0..7 {
        let prog = random_program(&arch, 160, 300 + seed);
        let shapes = |transpose: bool, requant: bool| {
            prog.instrs
                .iter()
                .filter(|i| match &i.op {
                    Op::Load { xfer } => {
                        (xfer.shape == XferShape::Transpose) == transpose && !requant
                    }
                    Op::Store { xfer, requant: r } => {
                        (xfer.shape == XferShape::Transpose) == transpose && *r == requant
                    }
                    _ => false,
                })
                .count()
        };
        // Every kind of transfer is exercised: rows as they are and transposed, with and
        // without requantization.
        let counts = [shapes(true, false), shapes(true, true), shapes(false, true)];
        assert!(counts.iter().all(|&c| c > 0), "seed {seed}: {counts:?}");
        for i in &prog.instrs {
            if let Op::Load { xfer } = &i.op {
                match xfer.shape {
                    XferShape::Im2col(t) => {
                        let g = &t.geom;
                        gathers[t.pixel_major as usize] += 1;
                        gathers[2] += (g.pad_h > 0 || g.pad_w > 0) as usize;
                        gathers[3] += (g.stride > 1) as usize;
                        gathers[4] += (g.kh > 3 || g.kw > 3) as usize;
                    }
                    XferShape::ConvBp(t) => {
                        let (ka, kb) = t.geom.taps();
                        gathers[5] += 1;
                        gathers[6] += (ka > 3 || kb > 3) as usize;
                    }
                    _ => {}
                }
            }
            if let Op::Load { xfer } | Op::Store { xfer, .. } = &i.op {
                if let XferShape::Scatter(t) = xfer.shape {
                    let store = matches!(i.op, Op::Store { .. });
                    scatters[2 * store as usize + t.pixel_major as usize] += 1;
                }
            }
        }
        let vectors = prog
            .instrs
            .iter()
            .filter(|i| matches!(i.op, Op::Vector { .. }))
            .count();
        assert!(vectors > 10, "{vectors} vector operations");
        let prunes = prog
            .instrs
            .iter()
            .filter(|i| matches!(i.op, Op::Prune { .. }))
            .count();
        assert!(prunes > 10, "{prunes} prune operations");
        let gemms = |sparse: bool| {
            prog.instrs
                .iter()
                .filter(
                    |i| matches!(i.op, Op::Gemm { sparsity, .. } if sparsity.is_some() == sparse),
                )
                .count()
        };
        let (dense, sparse) = (gemms(false), gemms(true));
        assert!(
            dense > 0 && sparse > 5,
            "seed {seed}: {dense} dense, {sparse} sparse GEMMs"
        );
        for i in &prog.instrs {
            match &i.op {
                Op::Vector {
                    op: VecOp::Sgd { srste, .. },
                    width,
                    ..
                } => {
                    kinds[srste.is_some() as usize] += 1;
                    short_rows += srste.is_some_and(|s| width % s.nm.m != 0) as usize;
                }
                Op::Vector {
                    op: VecOp::Loss { .. },
                    ..
                } => kinds[2] += 1,
                Op::Vector {
                    op: VecOp::Pool { .. },
                    ..
                } => kinds[3] += 1,
                Op::Vector {
                    op: VecOp::PoolGrad { .. },
                    ..
                } => kinds[4] += 1,
                Op::Vector {
                    op: VecOp::Gelu | VecOp::GeluGrad,
                    ..
                } => kinds[5] += 1,
                Op::Vector {
                    op: VecOp::Norm, ..
                } => kinds[6] += 1,
                Op::Vector {
                    op: VecOp::NormGrad,
                    ..
                } => kinds[7] += 1,
                Op::Vector {
                    op: VecOp::Softmax, ..
                } => kinds[8] += 1,
                Op::Vector {
                    op: VecOp::SoftmaxGrad,
                    ..
                } => kinds[9] += 1,
                Op::Vector {
                    op: VecOp::MaskDecay { nm },
                    srcs,
                    width,
                    ..
                } => {
                    norms[(srcs.len() == 1) as usize] += 1;
                    short_rows += (width % nm.m != 0) as usize;
                }
                Op::Vector {
                    op: VecOp::Add,
                    srcs,
                    ..
                } => adds3 += (srcs.len() == 3) as usize,
                Op::Vector { op, .. } => {
                    let at = [
                        VecOp::BatchStats,
                        VecOp::BatchNorm { rows: 0 },
                        VecOp::BatchGradStats,
                        VecOp::BatchNormGrad { rows: 0 },
                    ]
                    .iter()
                    .position(|o| std::mem::discriminant(o) == std::mem::discriminant(op));
                    if let Some(k) = at {
                        norms[2 + k] += 1;
                    }
                }
                _ => {}
            }
        }
        let c = cosim_program(&design, &arch, &prog, seed, None).unwrap();
        assert_eq!(c.mismatch, None, "seed {seed}");
        assert_eq!(c.rtl.cycles, c.exact_cycles);
        // Loads and stores contend for the DRAM: the run is shorter than its transfers in
        // sequence only if the controller overlapped nothing it should not have.
        assert!(
            c.rtl.start.windows(2).any(|w| w[1] < w[0]),
            "some reordering"
        );
    }
    // Every kind of vector operation ran several times.
    assert!(kinds.iter().all(|&k| k > 3), "{kinds:?}");
    assert!(norms.iter().all(|&k| k > 2), "{norms:?}");
    assert!(scatters.iter().all(|&k| k > 2), "{scatters:?}");
    assert!(gathers.iter().all(|&k| k > 2), "{gathers:?}");
    assert!(adds3 > 2, "{adds3} three-source adds");
    assert!(
        short_rows > 2,
        "{short_rows} N:M masks over rows ending in a short group"
    );
}

#[test]
fn a_tiny_mlp_training_iteration_matches_the_exact_simulator() {
    let model = nmsat_compiler::model::load_model("tiny-mlp").unwrap();
    let recipes = [
        TrainOptions::dense(8),
        // `nmsat compile`'s default: BDWP 2:8, its update with the SR-STE term.
        TrainOptions::bdwp(8, Nm { n: 2, m: 8 }),
    ];
    for (seed, opts) in recipes.iter().enumerate() {
        let prog = iteration(&model, opts);
        let count = |f: &dyn Fn(&Op) -> bool| prog.instrs.iter().filter(|i| f(&i.op)).count();
        // The whole iteration: FF, BP and WU GEMMs, the loss, and every weight's update.
        assert!(count(&|op| matches!(op, Op::Gemm { .. })) >= 6);
        assert_eq!(
            count(&|op| matches!(
                op,
                Op::Vector {
                    op: VecOp::Loss { .. },
                    ..
                }
            )),
            1
        );
        assert!(
            count(
                &|op| matches!(op, Op::Vector { op: VecOp::Sgd { srste, .. }, .. } if srste.is_some() == (seed == 1))
            ) > 0
        );
        assert_cosim_matches(
            &prog,
            40 + seed as u64,
            &format!("tiny-mlp {:?}", opts.recipe),
        );
    }
}

#[test]
fn sr_ste_and_mdgf_tiny_mlp_iterations_match_the_exact_simulator() {
    use nmsat_compiler::graph::Recipe;
    let model = nmsat_compiler::model::load_model("tiny-mlp").unwrap();
    let nm = Nm { n: 2, m: 8 };
    // SR-STE: BP differentiates the FF-masked weights (MaskDecay without d); MDGF's decaying
    // stage: FF and BP on the decayed weights (MaskDecay with the host's d).
    let srste = TrainOptions {
        recipe: Recipe::SrSte,
        ..TrainOptions::bdwp(8, nm)
    };
    let mdgf = TrainOptions {
        mask_decay: true,
        ..TrainOptions::bdwp(8, nm)
    };
    for (seed, (opts, with_d)) in [(srste, false), (mdgf, true)].into_iter().enumerate() {
        let prog = iteration(&model, &opts);
        let decays = prog
            .instrs
            .iter()
            .filter(|i| {
                matches!(&i.op, Op::Vector { op: VecOp::MaskDecay { .. }, srcs, .. }
                    if (srcs.len() == 2) == with_d)
            })
            .count();
        assert!(decays > 0, "{:?}: no MaskDecay", opts.recipe);
        let what = format!(
            "tiny-mlp {:?} (mask decay {}, {decays} MaskDecay)",
            opts.recipe, opts.mask_decay
        );
        assert_cosim_matches(&prog, 50 + seed as u64, &what);
    }
}

#[test]
fn sr_ste_ties_rank_to_the_lower_index() {
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::{Buf, SrSte};
    // Random data has no equal magnitudes but zeros, which the decay term leaves as they are:
    // copies of pairs of random weights make every group hold each magnitude twice, so at
    // 1:M only the tie-break decides which copy keeps its weight.
    let arch = arch("sat-small");
    let buf = |addr, elems: u64| Buf {
        region: RegionId::Input,
        addr,
        bytes: 2 * elems,
    };
    let mut ops: Vec<Op> = (0..16)
        .map(|k| Op::Vector {
            op: VecOp::Add,
            srcs: vec![buf(4 * (k / 2), 2)],
            dst: buf(1024 + 4 * k, 2),
            elems: 2,
            width: 2,
        })
        .collect();
    for (j, m) in [4, 8].into_iter().enumerate() {
        let srste = Some(SrSte {
            nm: Nm { n: 1, m },
            lambda_q16: 1 << 15,
        });
        ops.push(Op::Vector {
            op: VecOp::Sgd {
                lr_q16: 1 << 14,
                momentum_q16: 1 << 15,
                srste,
            },
            srcs: vec![buf(1024, 32), buf(2048, 32), buf(2048, 32)],
            dst: buf(4096 + 256 * j as u64, 64),
            elems: 32,
            width: 16,
        });
    }
    let c = cosim_program(&design(), &arch, &vector_program(&arch, &ops, 9), 3, None).unwrap();
    assert_eq!(c.mismatch, None);
}

#[test]
fn three_source_adds_saturate_the_whole_sum_once() {
    use nmsat_compiler::arch::RegionId;
    // Full-range random INT16 sources: a sixth of the three-term sums overflow each way, and
    // many overflow in a pair the third term brings back (30000 + 30000 − 30000), where
    // saturating pair by pair would differ. 61 elements: a partial last batch on four lanes;
    // the third source from another region; a second Add in place on its third source.
    let arch = arch("sat-small");
    let (w, x, y) = (RegionId::Weight, RegionId::Input, RegionId::Output);
    let n = 61;
    let (a, b, c, s, t) = (
        buf(x, 0, n),
        buf(x, 1024, n),
        buf(w, 0, n),
        buf(y, 0, n),
        buf(y, 1024, n),
    );
    let add = |srcs: Vec<nmsat_compiler::isa::Buf>, dst| Op::Vector {
        op: VecOp::Add,
        srcs,
        dst,
        elems: n,
        width: n,
    };
    let ops = [add(vec![a, b, c], s), add(vec![c, a, t], t)];
    let prog = vector_program(&arch, &ops, 13);
    let run = cosim_program(&design(), &arch, &prog, 7, None).unwrap();
    assert_eq!(run.mismatch, None);
    assert_eq!(run.rtl.cycles, run.exact_cycles);
    let get = |region, addr| dumped(&arch, &run.rtl.dram, region, addr, n as usize);
    let (va, vb, vc, vs) = (get(x, 0), get(x, 1024), get(w, 0), get(y, 0));
    let sat = |v: i64| v.clamp(i16::MIN as i64, i16::MAX as i64);
    let (mut high, mut low, mut differ) = (0, 0, 0);
    for i in 0..n as usize {
        let (p, q, r) = (va[i] as i64, vb[i] as i64, vc[i] as i64);
        high += (p + q + r > i16::MAX as i64) as usize;
        low += (p + q + r < i16::MIN as i64) as usize;
        differ += (sat(p + q + r) != sat(sat(p + q) + r)) as usize;
        assert_eq!(vs[i] as i64, sat(p + q + r), "element {i}");
    }
    assert!(high > 2 && low > 2 && differ > 2, "{high} {low} {differ}");
}

#[test]
fn pooling_ties_and_the_max_gradient_through_its_argmax() {
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::PoolMode;
    // Random data rarely ties and never holds window positions: ReLU makes zeros (windows of
    // zeros tie, to the first), and the gradient of max pooling reads the taps a max pooling
    // wrote.
    let arch = arch("sat-small");
    let (x, y) = (RegionId::Input, RegionId::Output);
    let mut ops = vec![Op::Vector {
        op: VecOp::Relu,
        srcs: vec![buf(x, 0, 432)],
        dst: buf(x, 0, 432),
        elems: 432,
        width: 432,
    }];
    for (k, window) in [(0, 9), (1, 4), (2, 3)] {
        ops.push(Op::Vector {
            op: VecOp::Pool {
                window,
                mode: PoolMode::Max,
            },
            srcs: vec![buf(x, 0, 48 * window)],
            dst: buf(y, 512 * k, 96),
            elems: 48,
            width: 48,
        });
    }
    // 3×3 at stride 2: phase (0, 0) has 2×2 taps, (1, 0) 1×2; 2×2 at stride 1: one tap.
    for (kernel, stride, phase_h, phase_w, taps) in
        [(3, 2, 0, 0, 4), (3, 2, 1, 0, 2), (2, 1, 0, 0, 4)]
    {
        for mode in [PoolMode::Max, PoolMode::Avg] {
            let mut srcs = vec![buf(x, 2048, 12 * taps)];
            if mode == PoolMode::Max {
                // The taps of the 9- or 4-element max pooling above.
                srcs.push(buf(y, 96 + 512 * (kernel == 2) as u64, 12 * taps));
            }
            ops.push(Op::Vector {
                op: VecOp::PoolGrad {
                    mode,
                    kernel,
                    stride,
                    phase_h,
                    phase_w,
                },
                srcs,
                dst: buf(y, 2048 + 64 * ops.len() as u64, 12),
                elems: 12,
                width: 12,
            });
        }
    }
    let c = cosim_program(&design(), &arch, &vector_program(&arch, &ops, 4), 3, None).unwrap();
    assert_eq!(c.mismatch, None);
}

#[test]
fn mask_decay_and_batch_norm_match_the_exact_simulator() {
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::{Buf, STATS_BYTES};
    let arch = arch("sat-small");
    let buf = |region, addr, bytes| Buf {
        region,
        addr,
        bytes,
    };
    let (w, x, y) = (RegionId::Weight, RegionId::Input, RegionId::Output);
    let mut ops = vec![];
    // MaskDecay over rows of one to three groups and rows ending in a short group (the digits
    // CNN's conv1 has rows of 9), with a decay factor (MDGF) and without (SR-STE's FF-masked
    // weights).
    for (j, (nm, width, rows, with_d)) in [
        (Nm { n: 2, m: 8 }, 24, 2, true),
        (Nm { n: 1, m: 4 }, 4, 5, true),
        (Nm { n: 2, m: 4 }, 8, 3, false),
        (Nm { n: 2, m: 8 }, 9, 3, true),
        (Nm { n: 1, m: 4 }, 6, 4, false),
        (Nm { n: 3, m: 8 }, 13, 2, true),
    ]
    .into_iter()
    .enumerate()
    {
        let base = 1024 * j as u64;
        let elems = width * rows;
        let mut srcs = vec![buf(w, base, 2 * elems)];
        if with_d {
            srcs.push(buf(w, base + 512, 2));
        }
        ops.push(Op::Vector {
            op: VecOp::MaskDecay { nm },
            srcs,
            dst: buf(y, 8192 + base, 2 * elems),
            elems,
            width,
        });
    }
    // Batch norm of two tiles: statistics accumulated from zero, each tile normalized with
    // them (one in place), the gradient of the first; widths that are not a multiple of the 4
    // lanes and narrower than them; statistics over many more rows than the tiles hold make
    // σ small, and the results saturate.
    for (j, (c, t)) in [(5u64, 12u64), (8, 4), (13, 6), (3, 6)]
        .into_iter()
        .enumerate()
    {
        let (elems, sb) = (c * t, c * STATS_BYTES);
        let o = 2048 * j as u64;
        let (x1, x2, dy) = (
            buf(x, o, 2 * elems),
            buf(x, o + 512, 2 * elems),
            buf(x, o + 1024, 2 * elems),
        );
        let (stats, gstats) = (buf(w, 6144 + o, sb), buf(w, 6144 + o + 512, sb));
        let (y1, dx, ys) = (
            buf(y, o, 2 * elems),
            buf(y, o + 512, 2 * elems),
            buf(y, o + 1024, 2 * elems),
        );
        let vector = |op, srcs: Vec<Buf>, dst: Buf, elems| Op::Vector {
            op,
            srcs,
            dst,
            elems,
            width: c,
        };
        let fill = |b: Buf| Op::Vector {
            op: VecOp::Fill,
            srcs: vec![],
            dst: b,
            elems: b.bytes / 2,
            width: b.bytes / 2,
        };
        ops.extend([
            fill(stats),
            vector(VecOp::BatchStats, vec![x1, stats], stats, elems),
            vector(VecOp::BatchStats, vec![x2, stats], stats, elems),
            vector(VecOp::BatchNorm { rows: 2 * t }, vec![x1, stats], y1, elems),
            vector(VecOp::BatchNorm { rows: 60000 }, vec![x1, stats], ys, elems),
            vector(VecOp::BatchNorm { rows: 2 * t }, vec![x2, stats], x2, elems),
            fill(gstats),
            vector(VecOp::BatchGradStats, vec![dy, y1, gstats], gstats, elems),
            vector(
                VecOp::BatchNormGrad { rows: t },
                vec![dy, y1, stats, gstats],
                dx,
                elems,
            ),
        ]);
    }
    let prog = vector_program(&arch, &ops, 12);
    let c = cosim_program(&design(), &arch, &prog, 5, None).unwrap();
    assert_eq!(c.mismatch, None);
    assert_eq!(c.rtl.cycles, c.exact_cycles);
}

/// One-GEMM programs (load, prune on chip, GEMM, store) dense and at 1:4, 2:4 and 2:8, at
/// shapes that are not multiples of the array, on cores of `sides`×`sides` PEs.
fn gemms_match_on(sides: usize) {
    let mut arch = arch("sat-small");
    (arch.rows, arch.cols) = (sides as u64, sides as u64);
    arch.name = format!("sat-{sides}x{sides}");
    let design = build_core(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    let patterns = [None, Some("1:4"), Some("2:4"), Some("2:8")];
    for (i, nm) in patterns.into_iter().enumerate() {
        let nm = nm.map(|s| s.parse().unwrap());
        for (j, dims) in [(37, 45, 29), (5, 3, 7), (2 * sides as u64 + 1, 19, 6)]
            .into_iter()
            .enumerate()
        {
            let prog = gemm_program(&arch, dims, nm).unwrap();
            let c = cosim_program(&design, &arch, &prog, (10 * i + j) as u64, None).unwrap();
            assert_eq!(c.mismatch, None, "{sides}×{sides} {dims:?} {nm:?}");
        }
    }
}

#[test]
fn gemms_match_the_exact_simulator_at_three_core_sizes() {
    for sides in [2, 4, 8] {
        gemms_match_on(sides);
    }
}

/// The largest supported core, apart so that its Verilator build overlaps the other tests.
#[test]
fn gemms_match_the_exact_simulator_on_a_16x16_core() {
    gemms_match_on(16);
}

#[test]
fn a_wrong_result_is_reported_at_its_word_and_tensor() {
    let arch = arch("sat-small");
    let design = design();
    let prog = random_program(&arch, 20, 7);
    let c = cosim_program(&design, &arch, &prog, 1, None).unwrap();
    assert_eq!(c.mismatch, None);
    let (mut rtl, start, end) = (c.rtl.clone(), c.rtl.start.clone(), c.rtl.end.clone());
    let exact_dram = rtl.dram.clone();
    rtl.dram[1001] ^= 0x40;
    match first_mismatch(&prog, &rtl, &start, &end, &exact_dram) {
        Some(Mismatch::Data { addr, tensor, .. }) => {
            assert_eq!((addr, tensor.as_str()), (1000, "dram"))
        }
        other => panic!("{other:?}"),
    }
    rtl.end[7] += 1;
    match first_mismatch(&prog, &rtl, &start, &end, &exact_dram) {
        Some(Mismatch::Timing { index, .. }) => assert_eq!(index, 7),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_digits_cnn_training_iteration_matches_the_exact_simulator() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/models/digits-cnn.yaml"
    );
    let model = nmsat_compiler::model::load_model(path).unwrap();
    // BDWP 2:8 with its SR-STE term: conv1's rows hold 9 weights, a group of 8 and one of 1.
    let recipes = [
        TrainOptions::dense(4),
        TrainOptions::bdwp(4, Nm { n: 2, m: 8 }),
    ];
    for (seed, opts) in recipes.iter().enumerate() {
        let prog = iteration(&model, opts);
        let count = |f: &dyn Fn(&Xfer) -> bool| {
            prog.instrs
                .iter()
                .filter(|i| matches!(&i.op, Op::Load { xfer } if f(xfer)))
                .count()
        };
        // The convolutions' windows (FF, BP, WU, pooling) and the BP weights are gathered.
        let im2col = count(&|x| matches!(x.shape, XferShape::Im2col(_)));
        let conv_bp = count(&|x| matches!(x.shape, XferShape::ConvBp(_)));
        assert!(
            im2col > 150 && conv_bp > 10,
            "{im2col} Im2col, {conv_bp} ConvBp loads"
        );
        let what = format!(
            "digits-cnn {:?} ({im2col} Im2col and {conv_bp} ConvBp loads)",
            opts.recipe
        );
        assert_cosim_matches(&prog, 60 + seed as u64, &what);
    }
}

#[test]
fn a_toy_vit_training_iteration_matches_the_exact_simulator() {
    // Patch embedding (a 4×4 stride-4 Im2col), layer norms, attention with its softmax and
    // softmax gradient, GELU, residual adds whose BP sums three gradients: dense and BDWP 2:8.
    let model = nmsat_compiler::model::load_model("toy-vit").unwrap();
    for (seed, opts) in [
        TrainOptions::dense(2),
        TrainOptions::bdwp(2, Nm { n: 2, m: 8 }),
    ]
    .iter()
    .enumerate()
    {
        let prog = iteration(&model, opts);
        let has = |f: &dyn Fn(&Op) -> bool| prog.instrs.iter().any(|i| f(&i.op));
        assert!(has(&|o| matches!(
            o,
            Op::Vector {
                op: VecOp::SoftmaxGrad,
                ..
            }
        )));
        assert!(has(
            &|o| matches!(o, Op::Vector { op: VecOp::Add, srcs, .. } if srcs.len() == 3)
        ));
        assert_cosim_matches(
            &prog,
            80 + seed as u64,
            &format!("toy-vit {:?}", opts.recipe),
        );
    }
}

#[test]
fn gathers_beyond_the_map_are_refused_and_padded_tiles_of_any_size_match() {
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::{Buf, Im2col, Im2colTile};
    // A 5×5 kernel at stride 1: its elements land in up to 5×5 places, the map has slots for
    // 3×3 taps of a stride phase.
    let arch = arch("sat-small");
    let mut prog = random_program(&arch, 1, 1);
    let geom = Im2col {
        pixel_elems: 4,
        channels: 4,
        images: 1,
        in_h: 6,
        in_w: 6,
        out_h: 6,
        out_w: 6,
        kh: 5,
        kw: 5,
        stride: 1,
        pad_h: 2,
        pad_w: 2,
        block: 1,
        pad_value: 0,
    };
    let t = Im2colTile {
        geom,
        base: 0,
        ch0: 0,
        k0: 0,
        nk: 100,
        px0: 0,
        npx: 6,
        pixel_major: false,
    };
    let rows = t.gather_rows();
    prog.instrs[0].op = Op::Load {
        xfer: Xfer {
            dram_addr: rows.addr,
            rows: rows.rows,
            row_bytes: rows.row_bytes,
            dram_stride: rows.stride,
            sp: Buf {
                region: RegionId::Input,
                addr: 0,
                bytes: 1200,
            },
            shape: XferShape::Im2col(t),
        },
    };
    let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
    assert!(
        err.starts_with("instruction 0:") && err.contains("5×5 kernel at stride 1"),
        "{err}"
    );
    // Reshaped to `(kh, kw, stride, pad)`, with as many reduction indices as it has: its 3×3
    // and its stride-2 versions are gathered (3×3 and 3×2 taps a phase), ResNet's 7×7 stride-2
    // stem is not (4×4).
    let reshape = |prog: &mut nmsat_compiler::isa::Program,
                   (kh, kw, s, p): (u64, u64, u64, i64)| {
        if let Op::Load { xfer } = &mut prog.instrs[0].op {
            if let XferShape::Im2col(t) = &mut xfer.shape {
                let g = &mut t.geom;
                (g.kh, g.kw, g.stride, g.pad_h, g.pad_w) = (kh, kw, s, p, p);
                g.out_h = ((g.in_h as i64 + 2 * p - kh as i64) / s as i64 + 1) as u64;
                g.out_w = ((g.in_w as i64 + 2 * p - kw as i64) / s as i64 + 1) as u64;
                (t.nk, t.npx) = (g.k(), g.pixels().min(6));
                let rows = t.gather_rows();
                (xfer.dram_addr, xfer.rows) = (rows.addr, rows.rows);
                xfer.sp.bytes = t.nk * t.npx * 2;
            }
        }
    };
    for shape in [(3, 3, 1, 1), (5, 5, 2, 2), (5, 4, 2, 1)] {
        reshape(&mut prog, shape);
        nmsat_hw::encode(&arch, &prog).unwrap();
    }
    reshape(&mut prog, (7, 7, 2, 3));
    let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
    assert!(
        err.contains("7×7 kernel at stride 2") && err.contains("4×4"),
        "{err}"
    );
    // The fill port (256 bytes a cycle) runs on after the first DRAM answer, leaving the bytes
    // the gather has set, so padded tiles of any size are gathered (the scratchpad banks, at
    // most 256 bytes a cycle, make the transfer outlast the fill).
    for (kh, s, npx) in [(3, 1, 32), (3, 1, 33), (5, 2, 33), (3, 1, 100)] {
        reshape(&mut prog, (kh, kh, s, 2));
        if let Op::Load { xfer } = &mut prog.instrs[0].op {
            if let XferShape::Im2col(t) = &mut xfer.shape {
                (
                    t.geom.channels,
                    t.geom.pixel_elems,
                    t.geom.in_h,
                    t.geom.in_w,
                ) = (8, 8, 12, 12);
                let g = t.geom;
                t.geom.out_h = (g.in_h + 4 - kh) / s + 1;
                t.geom.out_w = (g.in_w + 4 - kh) / s + 1;
                (t.nk, t.npx) = (52, npx);
                let rows = t.gather_rows();
                (xfer.dram_addr, xfer.rows) = (rows.addr, rows.rows);
                (xfer.row_bytes, xfer.dram_stride) = (rows.row_bytes, rows.stride);
                xfer.sp.bytes = t.nk * t.npx * 2;
            }
        }
        // Each tile over a copy of random words: a pad byte the fill skipped, or a gathered one
        // it overwrote, shows in the region.
        let Op::Load { xfer } = prog.instrs[0].op else {
            unreachable!("instruction 0 is the gather")
        };
        let copy = Xfer {
            dram_addr: 0,
            rows: 1,
            row_bytes: xfer.sp.bytes,
            dram_stride: xfer.sp.bytes,
            shape: XferShape::Copy,
            ..xfer
        };
        let two = nmsat_hw::load_program(&arch, &[copy, xfer, copy, xfer], "padded");
        let c = cosim_program(&design(), &arch, &two, npx, None)
            .unwrap_or_else(|e| panic!("{kh}×{kh} s{s}: {npx} pixels: {e}"));
        assert_eq!(c.mismatch, None, "{kh}×{kh} s{s}: {npx} pixels");
    }
}

/// Window tiles of kernels larger than 3 × 3 whose stride phases have at most 3 × 3 taps — ViT
/// patch embeddings (kernel = stride), 5×5 and 6×6 at stride 2, 7×7 and 7×5 at stride 3,
/// padded, unpadded and negatively padded, `[k × px]` and `[px × k]` — and BP weights of
/// phases of up to 5 × 5 taps, gathered by hand-made loads.
#[test]
fn gathers_of_kernels_larger_than_3x3_match_the_exact_simulator() {
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::{Buf, ConvBp, ConvBpTile, DramRows, Im2col, Im2colTile};
    let arch = arch("sat-small");
    // Tiles one after another through the regions.
    let mut at = (0, 0);
    let mut xfer = |rows: DramRows, bytes: u64, shape: XferShape| {
        if at.1 + bytes > arch.region(RegionId::ALL[at.0]).bytes {
            at = (at.0 + 1, 0);
        }
        let sp = Buf {
            region: RegionId::ALL[at.0],
            addr: at.1,
            bytes,
        };
        at.1 += bytes.next_multiple_of(8);
        Xfer {
            dram_addr: rows.addr,
            rows: rows.rows,
            row_bytes: rows.row_bytes,
            dram_stride: rows.stride,
            sp,
            shape,
        }
    };
    let mut xfers = vec![];
    // (kh, kw, stride, pad_h, pad_w, channels, pixel_elems, images, in_h, in_w, block,
    //  pixel-major, the tile's [k0, k0+nk) and [px0, px0+npx) clamped to the view).
    for (i, &(kh, kw, s, ph, pw, channels, pixel_elems, images, in_h, in_w, block, pm, tile)) in [
        (4, 4, 4, 0, 0, 3, 3, 2, 8, 8, 1, false, (0, 999, 0, 999)),
        (4, 4, 4, 0, 0, 3, 4, 2, 8, 8, 3, true, (5, 30, 1, 6)),
        (
            16,
            16,
            16,
            0,
            0,
            1,
            2,
            1,
            32,
            16,
            1,
            false,
            (0, 999, 0, 999),
        ),
        (5, 5, 2, 2, 2, 4, 5, 1, 9, 9, 1, false, (10, 40, 3, 20)),
        (5, 5, 2, 2, 2, 4, 4, 1, 9, 9, 2, true, (0, 64, 0, 25)),
        (7, 7, 3, 3, 3, 2, 2, 1, 10, 10, 1, false, (0, 999, 0, 999)),
        (6, 6, 2, 0, 0, 3, 4, 2, 10, 10, 3, true, (20, 60, 0, 999)),
        (7, 5, 3, -1, 1, 2, 3, 1, 12, 9, 1, false, (0, 999, 0, 999)),
        (3, 3, 2, 1, 1, 4, 4, 1, 7, 7, 4, false, (0, 999, 0, 999)),
    ]
    .iter()
    .enumerate()
    {
        let geom = Im2col {
            pixel_elems,
            channels,
            images,
            in_h,
            in_w,
            out_h: ((in_h as i64 + 2 * ph - kh as i64) / s as i64 + 1) as u64,
            out_w: ((in_w as i64 + 2 * pw - kw as i64) / s as i64 + 1) as u64,
            kh,
            kw,
            stride: s,
            pad_h: ph,
            pad_w: pw,
            block,
            pad_value: -3,
        };
        let (k0, nk, px0, npx) = tile;
        let tensor = images * in_h * in_w * pixel_elems * 2;
        let t = Im2colTile {
            geom,
            base: ((i as u64 * 1234) % (nmsat_hw::PROGRAM_DRAM_BYTES - tensor)) & !1,
            ch0: pixel_elems - channels,
            k0,
            nk: nk.min(geom.k() - k0),
            px0,
            npx: npx.min(geom.pixels() - px0),
            pixel_major: pm,
        };
        xfers.push(xfer(
            t.gather_rows(),
            t.nk * t.npx * 2,
            XferShape::Im2col(t),
        ));
    }
    // (kh, kw, stride, phase_h, phase_w, block): 4×4, 3×4, 5×5 and 1×1 taps.
    for (i, &(kh, kw, stride, phase_h, phase_w, block)) in [
        (7, 7, 2, 0, 0, 1),
        (7, 7, 2, 1, 0, 2),
        (5, 5, 1, 0, 0, 4),
        (4, 4, 4, 2, 3, 1),
    ]
    .iter()
    .enumerate()
    {
        let geom = ConvBp {
            out_ch: 4,
            in_ch: 3,
            kh,
            kw,
            stride,
            phase_h,
            phase_w,
            block,
        };
        let t = ConvBpTile {
            geom,
            base: 4000 + 2 * i as u64,
            group: 0,
            r0: i as u64 % 2,
            nr: 2,
            k0: i as u64,
            nk: geom.k() - i as u64,
        };
        xfers.push(xfer(t.dram_rows(), t.nr * t.nk * 2, XferShape::ConvBp(t)));
    }
    let prog = nmsat_hw::load_program(&arch, &xfers, "large-kernel-gathers");
    let c = cosim_program(&design(), &arch, &prog, 5, None).unwrap();
    assert_eq!(c.mismatch, None);
    assert_eq!(c.rtl.cycles, c.exact_cycles);
}

/// A compiled training iteration of a CNN whose convolutions have kernels larger than 3 × 3:
/// a patch embedding (4×4 stride 4) and a 5×5 stride-2 convolution, windows gathered in FF,
/// BP (its stride phases) and WU, BP weights of phases of 3 × 3 taps and fewer.
#[test]
fn a_cnn_with_large_kernels_matches_the_exact_simulator() {
    let yaml = "name: large-kernels
input: {channels: 2, height: 8, width: 8}
layers:
  - {name: conv1, op: conv2d, out_channels: 4, kernel: 3, padding: 1, bias: false}
  - {name: relu1, op: relu}
  - {name: conv2, op: conv2d, out_channels: 8, kernel: 5, stride: 2, padding: 2, bias: false}
  - {name: relu2, op: relu}
  - {name: patch, op: conv2d, out_channels: 8, kernel: 4, stride: 4, bias: false}
  - {name: flat, op: flatten}
  - {name: fc, op: linear, out_features: 10, bias: false}
";
    let model = nmsat_compiler::model::parse_model("large-kernels.yaml", yaml).unwrap();
    let prog = iteration(&model, &TrainOptions::dense(2));
    let large = prog
        .instrs
        .iter()
        .filter(|i| {
            matches!(&i.op, Op::Load { xfer } if matches!(xfer.shape,
                XferShape::Im2col(t) if t.geom.kh > 3))
        })
        .count();
    assert!(large > 3, "{large} Im2col loads of kernels larger than 3×3");
    let what = format!("large-kernel CNN ({large} Im2col loads of kernels > 3×3)");
    assert_cosim_matches(&prog, 70, &what);
}

#[test]
fn descriptions_the_dma_cannot_time_exactly_are_refused() {
    // sat-vcu1525's link is 64 bytes a cycle: eight words, where the engine moves one.
    let text = nmsat_hw::core_for(&arch("sat-vcu1525"))
        .err()
        .expect("refused")
        .to_string();
    assert!(text.contains("dma.bytes_per_cycle"), "{text}");
    let mut a = arch("sat-small");
    a.dma.setup_cycles = 1;
    let text = nmsat_hw::core_for(&a).err().expect("refused").to_string();
    assert!(text.contains("dma.setup_cycles = 1"), "{text}");
    let mut a = arch("sat-small");
    a.input.banks = 64;
    let text = nmsat_hw::core_for(&a).err().expect("refused").to_string();
    assert!(text.contains("fill port's 256 bytes"), "{text}");
    let mut a = arch("sat-small");
    a.rows = 1;
    let text = nmsat_hw::core_for(&a).err().expect("refused").to_string();
    assert!(text.contains("array.rows = 1"), "{text}");
    let mut a = arch("sat-small");
    a.output.banking = nmsat_compiler::arch::Banking::Physical;
    let text = nmsat_hw::core_for(&a).err().expect("refused").to_string();
    assert!(
        text.contains("scratchpads.output.banking = physical"),
        "{text}"
    );
}

#[test]
fn scatters_whose_pixels_touch_other_words_are_refused() {
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::{Buf, Im2col, Im2colTile, Xfer};
    let arch = arch("sat-small");
    let mut prog = random_program(&arch, 1, 1);
    // Pixels of 3 elements: the charged rows are 12 bytes apart (stride 2), but the second
    // grid row starts 72 bytes in (two image rows of six pixels), where the fourth charged row
    // starts at 36: another alignment.
    let geom = Im2col {
        pixel_elems: 3,
        channels: 3,
        images: 1,
        in_h: 6,
        in_w: 6,
        out_h: 3,
        out_w: 3,
        kh: 1,
        kw: 1,
        stride: 2,
        pad_h: 0,
        pad_w: 0,
        block: 1,
        pad_value: 0,
    };
    let t = Im2colTile {
        geom,
        base: 0,
        ch0: 0,
        k0: 0,
        nk: 3,
        px0: 0,
        npx: 9,
        pixel_major: true,
    };
    let rows = t.scatter_rows();
    let xfer = Xfer {
        dram_addr: rows.addr,
        rows: rows.rows,
        row_bytes: rows.row_bytes,
        dram_stride: rows.stride,
        sp: Buf {
            region: RegionId::Input,
            addr: 0,
            bytes: 54,
        },
        shape: XferShape::Scatter(t),
    };
    prog.instrs[0].op = Op::Store {
        xfer,
        requant: false,
    };
    let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
    assert!(
        err.starts_with("instruction 0:") && err.contains("aligned unlike"),
        "{err}"
    );
    // One grid row of them keeps the alignment.
    if let Op::Store { xfer, .. } = &mut prog.instrs[0].op {
        if let XferShape::Scatter(t) = &mut xfer.shape {
            t.npx = 3;
        }
        xfer.rows = 3;
        xfer.sp.bytes = 18;
    }
    nmsat_hw::encode(&arch, &prog).unwrap();
}

#[test]
fn vector_operations_the_unit_cannot_stream_are_refused() {
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::Buf;
    let arch = arch("sat-small");
    let mut prog = nmsat_hw::random_program(&arch, 1, 1);
    let buf = |addr| Buf {
        region: RegionId::Input,
        addr,
        bytes: 64,
    };
    prog.instrs[0].op = Op::Vector {
        op: VecOp::Relu,
        srcs: vec![buf(0)],
        dst: buf(32),
        elems: 32,
        width: 32,
    };
    let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
    assert!(err.contains("overlaps a source"), "{err}");
    // In place is fine, and so are disjoint buffers.
    for dst in [0, 64] {
        if let Op::Vector { dst: d, .. } = &mut prog.instrs[0].op {
            *d = buf(dst);
        }
        nmsat_hw::encode(&arch, &prog).unwrap();
    }
    // The unit adds up to three sources, one on each read port.
    for (k, ok) in [(3, true), (4, false)] {
        prog.instrs[0].op = Op::Vector {
            op: VecOp::Add,
            srcs: (0..k).map(|i| buf(64 * i)).collect(),
            dst: buf(512),
            elems: 32,
            width: 32,
        };
        let res = nmsat_hw::encode(&arch, &prog);
        assert_eq!(res.is_ok(), ok, "{k} sources: {res:?}");
        if let Err(e) = res {
            let err = e.to_string();
            assert!(
                err.starts_with("instruction 0: Add of 4 sources") && err.contains("three"),
                "{err}"
            );
        }
    }
    // Row operations take whole rows, and their passes must fit the model's time: a softmax
    // of rows of 5 on four lanes reads two batches a pass, 3·2 a row against 4·5/4.
    for (op, elems, width, why) in [
        (VecOp::Norm, 32, 5, "whole rows"),
        (VecOp::Softmax, 30, 5, "outlast"),
        (VecOp::SoftmaxGrad, 30, 5, "outlast"),
    ] {
        let srcs = match op {
            VecOp::SoftmaxGrad => vec![buf(0), buf(64)],
            _ => vec![buf(0)],
        };
        prog.instrs[0].op = Op::Vector {
            op,
            srcs,
            dst: buf(128),
            elems,
            width,
        };
        let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
        assert!(
            err.starts_with("instruction 0:") && err.contains(why),
            "{op:?}: {err}"
        );
    }
    // A loss of two classes a row on four lanes: three passes of one batch a row outlast the
    // model's 5·2/4 cycles a row.
    prog.instrs[0].op = Op::Vector {
        op: VecOp::Loss {
            classes: 2,
            batch: 8,
        },
        srcs: vec![buf(0), buf(64)],
        dst: buf(128),
        elems: 32,
        width: 2,
    };
    let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
    assert!(
        err.starts_with("instruction 0: Loss") && err.contains("outlast"),
        "{err}"
    );
    // SR-STE ranks groups ahead of the batch, so its weights cannot be updated in place.
    let srste = Some(nmsat_compiler::isa::SrSte {
        nm: Nm { n: 2, m: 8 },
        lambda_q16: 13,
    });
    let wide = Buf {
        region: RegionId::Output,
        addr: 0,
        bytes: 128,
    };
    prog.instrs[0].op = Op::Vector {
        op: VecOp::Sgd {
            lr_q16: 655,
            momentum_q16: 58982,
            srste,
        },
        srcs: vec![Buf { bytes: 64, ..wide }, buf(0), buf(64)],
        dst: wide,
        elems: 32,
        width: 16,
    };
    let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
    assert!(err.contains("apart from the destination"), "{err}");
    // Batch-norm statistics of 2 rows × 16 columns on four lanes: 16 column reads and 4·2 row
    // reads outlast the model's 2 + 2·32/4 cycles; 8 rows fit (16 + 4·8 + 2 ≤ 2 + 2·128/4).
    let stats = Buf {
        region: RegionId::Weight,
        addr: 0,
        bytes: 256,
    };
    for (rows, fits) in [(2, false), (8, true)] {
        let x = Buf {
            bytes: 32 * rows,
            ..buf(0)
        };
        prog.instrs[0].op = Op::Vector {
            op: VecOp::BatchStats,
            srcs: vec![x, stats],
            dst: stats,
            elems: 16 * rows,
            width: 16,
        };
        let res = nmsat_hw::encode(&arch, &prog);
        assert_eq!(res.is_ok(), fits, "{rows} rows: {res:?}");
        if let Err(e) = res {
            let err = e.to_string();
            assert!(
                err.starts_with("instruction 0: BatchStats") && err.contains("outlast"),
                "{err}"
            );
        }
    }
    // Normalizing over the statistics would overwrite those of later column blocks.
    prog.instrs[0].op = Op::Vector {
        op: VecOp::BatchNorm { rows: 8 },
        srcs: vec![Buf { bytes: 256, ..wide }, stats],
        dst: Buf {
            region: RegionId::Weight,
            ..wide
        },
        elems: 128,
        width: 16,
    };
    let err = nmsat_hw::encode(&arch, &prog).unwrap_err().to_string();
    assert!(err.contains("meets its statistics"), "{err}");
}

/// The region dumps' view of `region` after a cosimulated program of `vector_program`: its
/// INT16 values from byte `addr`.
fn dumped(
    arch: &nmsat_compiler::arch::Arch,
    dram: &[u8],
    region: nmsat_compiler::arch::RegionId,
    addr: u64,
    elems: usize,
) -> Vec<i16> {
    use nmsat_compiler::arch::RegionId;
    let mut at = nmsat_hw::PROGRAM_DRAM_BYTES;
    for r in RegionId::ALL {
        if r == region {
            break;
        }
        at += arch.region(r).bytes;
    }
    let b = &dram[(at + addr) as usize..(at + addr) as usize + 2 * elems];
    b.chunks(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect()
}

#[test]
fn transformer_rows_with_ties_saturation_and_negative_values() {
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::Buf;
    // Random data is full-range INT16, half of it negative, and rarely ties: ReLU makes rows
    // of zeros (every element ties for the maximum; σ is the epsilon's 1, so layer norm's
    // gradient saturates), and row widths are no multiples of the lanes.
    let arch = arch("sat-small");
    let (x, y) = (RegionId::Input, RegionId::Output);
    let relu = buf(x, 0, 216);
    let raw = buf(x, 2048, 216);
    let dy = buf(x, 4096, 216);
    let mut ops = vec![Op::Vector {
        op: VecOp::Relu,
        srcs: vec![relu],
        dst: relu,
        elems: 216,
        width: 216,
    }];
    // (operation, x, rows, width): the results go to the output region, 512 bytes apart.
    let shapes = [
        (VecOp::Softmax, relu, 24, 3),
        (VecOp::Softmax, raw, 8, 9),
        (VecOp::Softmax, raw, 4, 17),
        (VecOp::Norm, relu, 24, 3),
        (VecOp::Norm, raw, 3, 22),
        (VecOp::NormGrad, relu, 24, 3),
        (VecOp::NormGrad, raw, 2, 37),
        (VecOp::Gelu, raw, 1, 61),
        (VecOp::GeluGrad, raw, 1, 61),
    ];
    for (k, &(op, src, rows, width)) in shapes.iter().enumerate() {
        let elems = rows * width;
        let src = Buf {
            bytes: 2 * elems,
            ..src
        };
        let srcs = match op {
            VecOp::NormGrad | VecOp::GeluGrad => vec![
                Buf {
                    bytes: 2 * elems,
                    ..dy
                },
                src,
            ],
            _ => vec![src],
        };
        ops.push(Op::Vector {
            op,
            srcs,
            dst: buf(y, 512 * k as u64, elems),
            elems,
            width,
        });
    }
    let prog = vector_program(&arch, &ops, 11);
    let c = cosim_program(&design(), &arch, &prog, 5, None).unwrap();
    assert_eq!(c.mismatch, None);
    assert_eq!(c.rtl.cycles, c.exact_cycles);
    let out = |k: usize, n: usize| dumped(&arch, &c.rtl.dram, y, 512 * k as u64, n);
    let relu_x = dumped(&arch, &c.rtl.dram, x, 0, 72);
    // A row of three zeros: three equal shares of one, ⌊256/3⌉ in Q8.8.
    let zero_rows: Vec<usize> = (0..24)
        .filter(|r| relu_x[3 * r..3 * r + 3] == [0, 0, 0])
        .collect();
    assert!(!zero_rows.is_empty(), "{relu_x:?}");
    let softmax = out(0, 72);
    for &r in &zero_rows {
        assert_eq!(softmax[3 * r..3 * r + 3], [85, 85, 85], "row {r}");
    }
    let grad = out(5, 72);
    assert!(
        zero_rows.iter().any(|&r| grad[3 * r..3 * r + 3]
            .iter()
            .any(|&g| g == i16::MAX || g == i16::MIN)),
        "{grad:?}"
    );
    // Negative inputs: GELU's results of the raw data include negative ones.
    assert!(out(7, 61).iter().any(|&g| g < 0));
}

#[test]
fn softmax_gradients_run_in_row_slots() {
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::isa::Buf;
    // Four passes a row against the model's three operations an element: the unit overlaps the
    // next row's max and Σe with this row's Σdy·y and results, which fits sat-small's 2-deep
    // pipeline where rows fill the lanes; shorter rows need a deeper pipeline.
    let small = arch("sat-small");
    let mut deep = small.clone();
    deep.vector_latency = 24;
    deep.name = "sat-small-deep-vector".into();
    let (x, y) = (RegionId::Input, RegionId::Output);
    let relu = buf(x, 0, 64);
    let relu_op = Op::Vector {
        op: VecOp::Relu,
        srcs: vec![relu],
        dst: relu,
        elems: 64,
        width: 64,
    };
    let (mut fits, mut refused) = (vec![relu_op.clone()], vec![relu_op]);
    // (x, rows, width, in place), dy from the raw data: saturating products with large dy.
    for (k, &(src, rows, width, in_place)) in [
        (relu, 8, 3, false),
        (relu, 2, 8, false),
        (buf(x, 2048, 64), 3, 5, false),
        (buf(x, 2048, 64), 2, 13, false),
        (buf(x, 2048, 64), 4, 10, true),
        (buf(x, 2048, 64), 6, 16, true),
        (relu, 1, 8, true),
    ]
    .iter()
    .enumerate()
    {
        let elems = rows * width;
        let x = Buf {
            bytes: 2 * elems,
            ..src
        };
        let dy = buf(RegionId::Weight, 4096, elems);
        let op = Op::Vector {
            op: VecOp::SoftmaxGrad,
            srcs: vec![dy, x],
            dst: if in_place {
                [dy, x][k % 2]
            } else {
                buf(y, 512 * k as u64, elems)
            },
            elems,
            width,
        };
        let one = vector_program(&small, std::slice::from_ref(&op), 1);
        match nmsat_hw::encode(&small, &one) {
            Ok(_) => fits.push(op),
            Err(e) => {
                let err = e.to_string();
                assert!(
                    err.contains("SoftmaxGrad") && err.contains("outlast"),
                    "{err}"
                );
                refused.push(op);
            }
        }
    }
    // Rows of 3, 8, 10 and 16 fit; rows of 5 and 13 waste a partial batch a pass, and a single
    // row pays a whole extra slot.
    assert_eq!((fits.len(), refused.len()), (5, 4));
    for (a, ops, design) in [
        (&small, fits, design()),
        (
            &deep,
            refused,
            build_core(&deep, &options()).unwrap_or_else(|e| panic!("{e}")),
        ),
    ] {
        let prog = vector_program(a, &ops, 12);
        let c = cosim_program(&design, a, &prog, 6, None).unwrap();
        assert_eq!(c.mismatch, None, "{}", a.name);
        assert_eq!(c.rtl.cycles, c.exact_cycles);
    }
}
