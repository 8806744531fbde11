//! One training iteration of a token-wise block — linear, layer norm, GELU, linear, softmax,
//! linear — in exact mode equals an integer reference of the vector unit's documented
//! fixed-point formulas (I-BERT's exponential and GELU in Q16, integer normalization), forward
//! and backward, written with plain loops.

use nmsat_compiler::arch::Arch;
use nmsat_compiler::datapath::{requant, round_shift, saturate};
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::model::parse_model;
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::compile;

mod reference;
use reference::*;

const MODEL: &str = "
name: tiny-block
input: {tokens: 2, dim: 16}
layers:
  - {name: fc1, op: linear, out_features: 32, bias: false}
  - {name: ln, op: layernorm}
  - {name: gelu, op: gelu}
  - {name: fc2, op: linear, out_features: 16, bias: false}
  - {name: sm, op: softmax}
  - {name: fc3, op: linear, out_features: 8, bias: false}
";

/// Pixel-major `y[t × out] = requant(x[t × in] · wᵀ)`, `w` being `[out × in]`.
fn linear(x: &[i16], w: &[i16], inp: usize, out: usize, f: u32) -> Vec<i16> {
    let t = x.len() / inp;
    let mut y = vec![0; t * out];
    for r in 0..t {
        for o in 0..out {
            let mut acc: i32 = 0;
            for i in 0..inp {
                acc = acc.wrapping_add(w[o * inp + i] as i32 * x[r * inp + i] as i32);
            }
            y[r * out + o] = requant(acc, f);
        }
    }
    y
}

/// `dx[t × in] = requant(dy[t × out] · w)`.
fn linear_bp(dy: &[i16], w: &[i16], inp: usize, out: usize, f: u32) -> Vec<i16> {
    let t = dy.len() / out;
    let mut dx = vec![0; t * inp];
    for r in 0..t {
        for i in 0..inp {
            let mut acc: i32 = 0;
            for o in 0..out {
                acc = acc.wrapping_add(w[o * inp + i] as i32 * dy[r * out + o] as i32);
            }
            dx[r * inp + i] = requant(acc, f);
        }
    }
    dx
}

/// `dw[out × in] = requant(Σ_t dy[t][o] · x[t][i])`.
fn linear_wu(dy: &[i16], x: &[i16], inp: usize, out: usize, f: u32) -> Vec<i16> {
    let t = dy.len() / out;
    let mut dw = vec![0; out * inp];
    for o in 0..out {
        for i in 0..inp {
            let mut acc: i32 = 0;
            for r in 0..t {
                acc = acc.wrapping_add(dy[r * out + o] as i32 * x[r * inp + i] as i32);
            }
            dw[o * inp + i] = requant(acc, f);
        }
    }
    dw
}

/// Layer norm of one row: μ, σ = ⌊√(var + 1)⌋, y = ⌊(x − μ)·2^f/σ⌉.
fn layer_norm_row(x: &[i16], f: u32) -> (Vec<i16>, i64) {
    let n = x.len() as i64;
    let s: i64 = x.iter().map(|&v| v as i64).sum();
    let q: i64 = x.iter().map(|&v| v as i64 * v as i64).sum();
    let mu = div_round(s, n);
    let var = (div_round(q, n) - mu * mu).max(0) + 1;
    let sigma = (var as f64).sqrt().floor() as i64;
    let y = x
        .iter()
        .map(|&v| saturate(div_round((v as i64 - mu) << f, sigma)))
        .collect();
    (y, sigma)
}

fn layer_norm_bp_row(dy: &[i16], x: &[i16], f: u32) -> Vec<i16> {
    let (y, sigma) = layer_norm_row(x, f);
    let n = x.len() as i64;
    let sdy: i64 = dy.iter().map(|&d| d as i64).sum();
    let sdyy: i64 = dy.iter().zip(&y).map(|(&d, &y)| d as i64 * y as i64).sum();
    dy.iter()
        .zip(&y)
        .map(|(&d, &y)| {
            let t = ((d as i64 - div_round(sdy, n)) << f)
                - round_shift(y as i64 * div_round(sdyy, n), f);
            saturate(div_round(t, sigma))
        })
        .collect()
}

/// Constants of I-GELU in Q16.
const ISQRT2: i64 = 46341;
const GA: i64 = -18927;
const GB: i64 = 115933;

fn softmax_row(x: &[i16], f: u32) -> Vec<i16> {
    let max = *x.iter().max().unwrap() as i64;
    let e: Vec<i64> = x
        .iter()
        .map(|&v| exp_q16((v as i64 - max) << (16 - f)))
        .collect();
    let s: i64 = e.iter().sum();
    e.iter().map(|&e| saturate(div_round(e << f, s))).collect()
}

fn softmax_bp_row(dy: &[i16], x: &[i16], f: u32) -> Vec<i16> {
    let y = softmax_row(x, f);
    let s = round_shift(
        dy.iter().zip(&y).map(|(&d, &y)| d as i64 * y as i64).sum(),
        f,
    );
    dy.iter()
        .zip(&y)
        .map(|(&d, &y)| saturate(round_shift(y as i64 * (d as i64 - s), f)))
        .collect()
}

/// i-GELU: (signed L(x/√2), x/√2, a·(min(|z|, −b) + b)) in Q16.
fn gelu_parts(x: i64) -> (i64, i64, i64) {
    let z = round_shift(x * ISQRT2, 16);
    let t = z.abs().min(GB) - GB;
    let l = round_shift(GA * round_shift(t * t, 16), 16) + 65536;
    (x.signum() * l, z, round_shift(GA * t, 16))
}

fn gelu(x: i16, f: u32) -> i16 {
    let xq = (x as i64) << (16 - f);
    let (l, _, _) = gelu_parts(xq);
    saturate(round_shift(round_shift(xq * (65536 + l), 17), 16 - f))
}

fn gelu_bp(dy: i16, x: i16, f: u32) -> i16 {
    let (l, z, at) = gelu_parts((x as i64) << (16 - f));
    let d = round_shift(65536 + l, 1) + round_shift(z * at, 16);
    saturate(round_shift(dy as i64 * d, 16))
}

#[test]
fn token_block_iteration_equals_the_fixed_point_reference() {
    let arch = Arch::load("sat-small").unwrap();
    let f = arch.frac_bits;
    let model = parse_model("tiny-block.yaml", MODEL).unwrap();
    let nm = Nm { n: 2, m: 4 };
    let batch = 3;
    let opts = TrainOptions::bdwp(batch as u64, nm);
    let prog = compile(&arch, &model, &opts).unwrap().program;
    nmsat_compiler::check::check(&arch, &prog).unwrap();
    let (tokens, d0, d1, d2, classes) = (2, 16, 32, 16, 8);
    let rows = batch * tokens;
    let x = values(1, rows * d0, 512);
    let labels: Vec<i16> = (0..batch)
        .map(|b| (b * 5 % (tokens * classes)) as i16)
        .collect();
    let w1 = values(2, d1 * d0, 96);
    let w2 = values(3, d2 * d1, 96);
    let w3 = values(4, classes * d2, 2000);
    let mem = run_exact(
        &arch,
        &prog,
        &[
            ("input", &x[..]),
            ("labels", &labels[..]),
            ("fc1.w", &w1[..]),
            ("fc2.w", &w2[..]),
            ("fc3.w", &w3[..]),
        ],
    );
    let read = |name: &str| mem.read_i16(&prog, name).unwrap();
    let sparse = |d: usize| (d >= nm.m as usize).then_some(nm);

    let y1 = linear(&x, &prune_rows(&w1, d0, sparse(d0)), d0, d1, f);
    assert_eq!(read("fc1.y"), y1, "fc1 forward");
    let ln: Vec<i16> = y1.chunks(d1).flat_map(|r| layer_norm_row(r, f).0).collect();
    assert_eq!(read("ln.y"), ln, "layer norm forward");
    let g: Vec<i16> = ln.iter().map(|&v| gelu(v, f)).collect();
    assert_eq!(read("gelu.y"), g, "GELU forward");
    let y2 = linear(&g, &prune_rows(&w2, d1, sparse(d1)), d1, d2, f);
    assert_eq!(read("fc2.y"), y2, "fc2 forward");
    let sm: Vec<i16> = y2.chunks(d2).flat_map(|r| softmax_row(r, f)).collect();
    assert_eq!(read("sm.y"), sm, "softmax forward");
    let y3 = linear(&sm, &prune_rows(&w3, d2, sparse(d2)), d2, classes, f);
    assert_eq!(read("fc3.y"), y3, "fc3 forward");
    // Each softmax row sums to one within the rounding of its terms.
    for r in sm.chunks(d2) {
        let s: i64 = r.iter().map(|&v| v as i64).sum();
        assert!((s - 256).abs() <= d2 as i64, "softmax row sums to {s}");
    }

    // The loss over each sample's tokens × classes logits, then backward.
    let dl = loss_grad(&y3, &labels, tokens * classes, f);
    assert_eq!(read("loss.dy"), dl, "loss gradient");
    let w3b = transpose(
        &prune_rows(&transpose(&w3, classes, d2), classes, sparse(classes)),
        d2,
        classes,
    );
    let dsm = linear_bp(&dl, &w3b, d2, classes, f);
    assert_eq!(read("fc3.dx"), dsm, "fc3 BP");
    let dy2: Vec<i16> = dsm
        .chunks(d2)
        .zip(y2.chunks(d2))
        .flat_map(|(d, x)| softmax_bp_row(d, x, f))
        .collect();
    assert_eq!(read("sm.dx"), dy2, "softmax BP");
    let w2b = transpose(&prune_rows(&transpose(&w2, d2, d1), d2, sparse(d2)), d1, d2);
    let dg = linear_bp(&dy2, &w2b, d1, d2, f);
    assert_eq!(read("fc2.dx"), dg, "fc2 BP");
    let dln: Vec<i16> = dg
        .iter()
        .zip(&ln)
        .map(|(&d, &x)| gelu_bp(d, x, f))
        .collect();
    assert_eq!(read("gelu.dx"), dln, "GELU BP");
    let dy1: Vec<i16> = dln
        .chunks(d1)
        .zip(y1.chunks(d1))
        .flat_map(|(d, x)| layer_norm_bp_row(d, x, f))
        .collect();
    assert_eq!(read("ln.dx"), dy1, "layer norm BP");
    assert_eq!(
        read("fc3.dw"),
        linear_wu(&dl, &sm, d2, classes, f),
        "fc3 WU"
    );
    assert_eq!(read("fc2.dw"), linear_wu(&dy2, &g, d1, d2, f), "fc2 WU");
    assert_eq!(read("fc1.dw"), linear_wu(&dy1, &x, d0, d1, f), "fc1 WU");
    for (name, v) in [("sm.dx", &dy2), ("ln.dx", &dy1)] {
        let nonzero = v.iter().filter(|&&v| v != 0).count();
        assert!(nonzero > v.len() / 4, "{name}: only {nonzero} non-zero");
    }
}

/// The class token in exact mode: prepended as a zero row to each sample's tokens, taken back
/// as each sample's first row; in BP the taken row's gradient returns to that row (zeros
/// elsewhere) and the prepended row's is dropped.
#[test]
fn class_tokens_are_prepended_and_taken_row_by_row() {
    const CLS: &str = "
name: cls-block
input: {tokens: 3, dim: 8}
layers:
  - {name: fc1, op: linear, out_features: 8, bias: false}
  - {name: cls, op: add_class_token}
  - {name: ln, op: layernorm}
  - {name: take, op: take_class_token}
  - {name: head, op: linear, out_features: 4, bias: false}
";
    let arch = Arch::load("sat-small").unwrap();
    let model = parse_model("cls-block.yaml", CLS).unwrap();
    let batch = 3;
    let prog = compile(&arch, &model, &TrainOptions::dense(batch as u64))
        .unwrap()
        .program;
    nmsat_compiler::check::check(&arch, &prog).unwrap();
    let (tokens, dim) = (3, 8);
    let x = values(5, batch * tokens * dim, 512);
    let labels: Vec<i16> = (0..batch as i16).collect();
    let mem = run_exact(
        &arch,
        &prog,
        &[
            ("input", &x[..]),
            ("labels", &labels[..]),
            ("fc1.w", &values(6, dim * dim, 96)[..]),
            ("head.w", &values(7, 4 * dim, 96)[..]),
        ],
    );
    let read = |name: &str| mem.read_i16(&prog, name).unwrap();
    let (fc1, cls, ln) = (read("fc1.y"), read("cls.y"), read("ln.y"));
    let (head_dx, take_dx, ln_dx) = (read("head.dx"), read("take.dx"), read("ln.dx"));
    for b in 0..batch {
        let sample = |t: &[i16], rows: usize| t[b * rows * dim..(b + 1) * rows * dim].to_vec();
        let mut want = vec![0; dim];
        want.extend(sample(&fc1, tokens));
        assert_eq!(
            sample(&cls, tokens + 1),
            want,
            "sample {b}: tokens after a zero row"
        );
        assert_eq!(
            read("take.y")[b * dim..(b + 1) * dim],
            sample(&ln, tokens + 1)[..dim],
            "sample {b}: the class token taken"
        );
        let mut want = head_dx[b * dim..(b + 1) * dim].to_vec();
        want.resize((tokens + 1) * dim, 0);
        assert_eq!(
            sample(&take_dx, tokens + 1),
            want,
            "sample {b}: its gradient"
        );
        assert_eq!(
            sample(&read("cls.dx"), tokens),
            sample(&ln_dx, tokens + 1)[dim..],
            "sample {b}: the tokens' gradient"
        );
    }
    assert!(ln.iter().any(|&v| v != 0) && head_dx.iter().any(|&v| v != 0));
}
