//! The vector unit on the f32 datapath: every operation of `exact/vector_unit.rs` on reals.
//!
//! Where the INT16 unit approximates (I-BERT's exponential and GELU, integer square roots) or
//! rounds, this computes the real function: `Softmax` and `Loss` with `exp`, `Gelu` in its tanh
//! form and `GeluGrad` as that form's derivative, normalization with ε = 1e-5 (the INT16 unit's
//! is one Q.2f unit). Constants of `Sgd` are the program's Q16.16 values. Pooling's padding is
//! −∞ for max (the INT16 −32768), the argmax an index held as a real.

use super::f32_machine::F32Machine;
use nmsat_compiler::isa::{phase_taps, Buf, PoolMode, VecOp};
use nmsat_compiler::prune::nm_mask;

/// The variance floor of batch and layer norm.
const EPS: f32 = 1e-5;

fn q16(x: i32) -> f32 {
    x as f32 / 65536.0
}

/// Per column of `rows × width` values: (Σa, Σa·b).
fn column_sums(a: &[f32], b: &[f32], width: usize) -> Vec<(f32, f32)> {
    let mut s = vec![(0.0, 0.0); width];
    for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
        s[i % width].0 += a;
        s[i % width].1 += a * b;
    }
    s
}

/// Mean and standard deviation from Σx and Σx² over `n` values.
fn moments(sum: f32, sumsq: f32, n: f32) -> (f32, f32) {
    let mu = sum / n;
    (mu, ((sumsq / n - mu * mu).max(0.0) + EPS).sqrt())
}

/// The normalization gradient from Σdy and Σdy·y over `n` values.
fn norm_grad(dy: f32, y: f32, (sdy, sdyy): (f32, f32), n: f32, sigma: f32) -> f32 {
    (dy - sdy / n - y * sdyy / n) / sigma
}

/// Statistics columns (Σ, Σ·) from their elements: two of every eight.
fn stats(words: &[f32]) -> Vec<(f32, f32)> {
    words.chunks_exact(8).map(|w| (w[0], w[1])).collect()
}

fn stat_words(s: &[(f32, f32)]) -> Vec<f32> {
    s.iter()
        .flat_map(|&(a, b)| [a, b, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
        .collect()
}

fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = x.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// `√(2/π)` and the cubic coefficient of GELU's tanh form.
const GELU_C: f32 = 0.797_884_6;
const GELU_A: f32 = 0.044715;

fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + (GELU_C * (x + GELU_A * x * x * x)).tanh())
}

fn gelu_grad(x: f32) -> f32 {
    let th = (GELU_C * (x + GELU_A * x * x * x)).tanh();
    0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_C * (1.0 + 3.0 * GELU_A * x * x)
}

/// Executes one vector instruction.
pub fn run(
    mem: &mut F32Machine,
    op: VecOp,
    srcs: &[Buf],
    dst: &Buf,
    elems: u64,
    width: u64,
) -> Result<(), String> {
    let n = elems as usize;
    let src: Vec<Vec<f32>> = srcs
        .iter()
        .map(|b| mem.elems(b))
        .collect::<Result<_, _>>()?;
    let need = |i: usize, len: usize| -> Result<&[f32], String> {
        src.get(i)
            .filter(|s| s.len() >= len)
            .map(|s| &s[..len])
            .ok_or_else(|| format!("{op:?}: source {i} holds fewer than {len} elements"))
    };
    let w = width as usize;
    let out: Vec<f32> = match op {
        VecOp::Relu => need(0, n)?.iter().map(|&x| x.max(0.0)).collect(),
        VecOp::ReluGrad => need(0, n)?
            .iter()
            .zip(need(1, n)?)
            .map(|(&dy, &x)| if x > 0.0 { dy } else { 0.0 })
            .collect(),
        VecOp::Add => {
            let parts: Vec<&[f32]> = (0..src.len())
                .map(|i| need(i, n))
                .collect::<Result<_, _>>()?;
            (0..n).map(|i| parts.iter().map(|s| s[i]).sum()).collect()
        }
        VecOp::Fill => vec![0.0; n],
        VecOp::Pool { window, mode } => {
            let win = window as usize;
            let x = need(0, n * win)?;
            let mut y = Vec::with_capacity(2 * n);
            let mut arg = Vec::with_capacity(n);
            for g in x.chunks(win) {
                match mode {
                    PoolMode::Max => {
                        let (mut best, mut at) = (g[0], 0);
                        for (j, &v) in g.iter().enumerate() {
                            if v > best {
                                (best, at) = (v, j);
                            }
                        }
                        y.push(best);
                        arg.push(at as f32);
                    }
                    PoolMode::Avg => y.push(g.iter().sum::<f32>() / window as f32),
                }
            }
            y.extend(arg);
            y
        }
        VecOp::PoolGrad {
            mode,
            kernel,
            stride,
            phase_h,
            phase_w,
        } => {
            let (ka, kb) = (
                phase_taps(kernel, phase_h, stride),
                phase_taps(kernel, phase_w, stride),
            );
            let taps = (ka * kb) as usize;
            let dy = need(0, n * taps)?;
            match mode {
                PoolMode::Max => {
                    // The window position of each tap of the phase.
                    let pos: Vec<f32> = (0..ka * kb)
                        .map(|t| {
                            let (u, v) = (t / kb, t % kb);
                            let (py, px) = (
                                phase_h + stride * (ka - 1 - u),
                                phase_w + stride * (kb - 1 - v),
                            );
                            (py * kernel + px) as f32
                        })
                        .collect();
                    let arg = need(1, n * taps)?;
                    dy.chunks(taps)
                        .zip(arg.chunks(taps))
                        .map(|(d, a)| (0..taps).filter(|&t| a[t] == pos[t]).map(|t| d[t]).sum())
                        .collect()
                }
                PoolMode::Avg => dy
                    .chunks(taps)
                    .map(|d| d.iter().sum::<f32>() / (kernel * kernel) as f32)
                    .collect(),
            }
        }
        VecOp::Loss { classes, batch } => {
            let c = classes as usize;
            let rows = n / c;
            let (logits, labels) = (need(0, n)?, need(1, rows)?);
            let mut g = Vec::with_capacity(n);
            for r in 0..rows {
                let p = softmax(&logits[r * c..(r + 1) * c]);
                for (j, pj) in p.into_iter().enumerate() {
                    let onehot = if labels[r] as usize == j { 1.0 } else { 0.0 };
                    g.push((pj - onehot) / batch as f32);
                }
            }
            g
        }
        VecOp::Sgd {
            lr_q16,
            momentum_q16,
            srste,
        } => {
            let (wv, dw, v) = (need(0, n)?, need(1, n)?, need(2, n)?);
            let keep: Vec<bool> = match srste {
                Some(s) => wv.chunks(w).flat_map(|row| nm_mask(row, s.nm)).collect(),
                None => vec![true; n],
            };
            let (lr, mu) = (q16(lr_q16), q16(momentum_q16));
            let lambda = srste.map_or(0.0, |s| q16(s.lambda_q16));
            let mut w2 = Vec::with_capacity(2 * n);
            let mut v2 = Vec::with_capacity(n);
            for i in 0..n {
                let mut vi = mu * v[i] + dw[i];
                if !keep[i] {
                    vi += lambda * wv[i];
                }
                w2.push(wv[i] - lr * vi);
                v2.push(vi);
            }
            w2.extend(v2);
            w2
        }
        VecOp::MaskDecay { nm } => {
            let wv = need(0, n)?;
            let d = if srcs.len() > 1 { need(1, 1)?[0] } else { 0.0 };
            wv.chunks(w)
                .flat_map(|row| {
                    let keep = nm_mask(row, nm);
                    row.iter()
                        .zip(keep)
                        .map(move |(&x, k)| if k { x } else { x * d })
                        .collect::<Vec<_>>()
                })
                .collect()
        }
        VecOp::BatchStats | VecOp::BatchGradStats => {
            let (a, b) = match op {
                VecOp::BatchStats => (need(0, n)?, need(0, n)?),
                _ => (need(0, n)?, need(1, n)?),
            };
            let acc = stats(need(srcs.len() - 1, w * 8)?);
            let sums = column_sums(a, b, w);
            let total: Vec<(f32, f32)> = acc
                .iter()
                .zip(&sums)
                .map(|(p, q)| (p.0 + q.0, p.1 + q.1))
                .collect();
            stat_words(&total)
        }
        VecOp::BatchNorm { rows } => {
            let m: Vec<_> = stats(need(1, w * 8)?)
                .into_iter()
                .map(|(s, q)| moments(s, q, rows as f32))
                .collect();
            let x = need(0, n)?;
            (0..n).map(|i| (x[i] - m[i % w].0) / m[i % w].1).collect()
        }
        VecOp::BatchNormGrad { rows } => {
            let (dy, y) = (need(0, n)?, need(1, n)?);
            let m: Vec<_> = stats(need(2, w * 8)?)
                .into_iter()
                .map(|(s, q)| moments(s, q, rows as f32))
                .collect();
            let g = stats(need(3, w * 8)?);
            (0..n)
                .map(|i| norm_grad(dy[i], y[i], g[i % w], rows as f32, m[i % w].1))
                .collect()
        }
        VecOp::Norm => need(0, n)?
            .chunks(w)
            .flat_map(|r| {
                let (s, q) = column_sums(r, r, 1)[0];
                let (mu, sigma) = moments(s, q, w as f32);
                r.iter().map(move |&v| (v - mu) / sigma)
            })
            .collect(),
        VecOp::NormGrad => {
            let (dy, x) = (need(0, n)?, need(1, n)?);
            let mut out = Vec::with_capacity(n);
            for (d, r) in dy.chunks(w).zip(x.chunks(w)) {
                let (s, q) = column_sums(r, r, 1)[0];
                let (mu, sigma) = moments(s, q, w as f32);
                let y: Vec<f32> = r.iter().map(|&v| (v - mu) / sigma).collect();
                let g = column_sums(d, &y, 1)[0];
                out.extend(
                    d.iter()
                        .zip(&y)
                        .map(|(&d, &y)| norm_grad(d, y, g, w as f32, sigma)),
                );
            }
            out
        }
        VecOp::Softmax => need(0, n)?.chunks(w).flat_map(softmax).collect(),
        VecOp::SoftmaxGrad => {
            let (dy, x) = (need(0, n)?, need(1, n)?);
            let mut out = Vec::with_capacity(n);
            for (d, r) in dy.chunks(w).zip(x.chunks(w)) {
                let y = softmax(r);
                let s: f32 = d.iter().zip(&y).map(|(d, y)| d * y).sum();
                out.extend(d.iter().zip(&y).map(|(&d, &y)| y * (d - s)));
            }
            out
        }
        VecOp::Gelu => need(0, n)?.iter().map(|&x| gelu(x)).collect(),
        VecOp::GeluGrad => need(0, n)?
            .iter()
            .zip(need(1, n)?)
            .map(|(&dy, &x)| dy * gelu_grad(x))
            .collect(),
    };
    mem.put_elems(dst, &out)
}
