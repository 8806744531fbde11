//! The vector unit: `lanes` element operations a cycle after a `latency`-deep pipeline.
//!
//! Fixed-point semantics, per operation (all values Q.f INT16 unless said; see
//! [`nmsat_compiler::datapath`]):
//! - `Relu`: `max(0, x)`; `ReluGrad` (sources dy, x): `x > 0 ? dy : 0`; `Add`: saturating sum;
//!   `Fill`: zeros.
//! - `Pool { window, mode }` (source: per output row, each channel's `window` values, a
//!   channel-major window tile whose padding is −32768 for max and 0 for average): `Max` writes
//!   the maximum and, as a second destination, its index in the window (the first on ties);
//!   `Avg` writes `sat(⌊Σ·r⌉₁₆)` with `r = ⌊2^16/window⌉` (padding counts, as PyTorch's
//!   `count_include_pad`).
//! - `PoolGrad { mode, kernel, stride, phase }` (sources: per input-gradient row of the stride
//!   phase, each channel's dY over the phase's `ka·kb` taps — tap (u, v) is window position
//!   `(a + s(ka−1−u), b + s(kb−1−v))` — and for max the same view of the argmax, padded with −1):
//!   `Max` writes `sat(Σ_{taps whose window's argmax is this position} dY)`, `Avg`
//!   `sat(⌊(Σ_taps dY)·r⌉₁₆)` with `r = ⌊2^16/kernel²⌉`.
//! - Normalization (no learned scale or shift: the graph has no norm parameters). From a
//!   column's or row's Σx and Σx² over N values: `μ = ⌊Σx/N⌉`, `var = max(⌊Σx²/N⌉ − μ², 0) + 1`
//!   (Q.2f, the 1 an epsilon), `σ = ⌊√var⌋` (Q.f), `y = sat(⌊(x − μ)·2^f / σ⌉)`; the gradient
//!   from Σdy and Σdy·y: `dx = sat(⌊((dy − ⌊Σdy/N⌉)·2^f − ⌊y·⌊Σdy·y/N⌉⌉_f) / σ⌉)`. `⌊a/b⌉`
//!   rounds half up, `⌊x⌉_f` is a round-half-up shift by f.
//!   - Batch norm, per column (channel) over all rows of the batch, in two passes:
//!     `BatchStats` adds the tile's Σx, Σx² to its accumulator (two i64 per column, see
//!     `STATS_BYTES`), `BatchNorm { rows }` normalizes with them (N = rows);
//!     `BatchGradStats` (sources dy, y) accumulates Σdy, Σdy·y, `BatchNormGrad` (sources dy,
//!     y, statistics, gradient statistics) applies the gradient.
//!   - `Norm` (layer norm) per row (N = width); `NormGrad` (sources dy, x) recomputes y.
//! - `Softmax` per row, through the fixed-point exponential of I-BERT (Kim et al., 2021) in
//!   Q16: `e^x = (0.3585·(p + 1.353)² + 0.344) >> z` for `x = p − z·ln 2`, `p ∈ (−ln 2, 0]`;
//!   `e_i = exp(x_i − max x)`, `y_i = sat(⌊e_i·2^f / Σe⌉)`. `SoftmaxGrad` (sources dy, x)
//!   recomputes y: `dx_i = sat(⌊y_i·(dy_i − ⌊Σ dy·y⌉_f)⌉_f)`.
//! - `Gelu` through I-BERT's i-GELU in Q16: `x·½·(1 + L(x/√2))`, `L(z) = sgn(z)·(a·(min(|z|,
//!   −b) + b)² + 1)`, a = −0.2888, b = −1.769, every constant rounded to Q16 and every product
//!   shifted back with round-half-up; `GeluGrad` (sources dy, x): `dy·(½(1 + L) + (x/√2)·a·
//!   (min(|z|, −b) + b))`, its exact derivative.
//! - `Loss { classes, batch }` (sources logits, one INT16 label per row): per row, the
//!   softmax's exponentials as for `Softmax` (`e_i = exp(x_i − max x)` in Q16, `S = Σe`), then
//!   `g_i = sat(⌊(e_i − [i = label]·S)·2^f / (S·batch)⌉)`: `(p − onehot(label)) / batch` with
//!   one round-half-up division (a label outside `0..classes` is no class: `g = p / batch`).
//! - `Sgd` (sources w, dw, v; destination w′ then v′): with μ, lr, λ in Q16.16,
//!   `v′ = sat(⌊μ·v⌉₁₆ + dw [+ ⌊λ·w⌉₁₆ where the FF N:M mask of the row drops w])`,
//!   `w′ = sat(w − ⌊lr·v′⌉₁₆)`, where `⌊x⌉₁₆` is a round-half-up shift by 16.
//! - `MaskDecay { nm }` (sources w and optionally the decay factor d, else d = 0): `w` where
//!   the row's FF N:M mask keeps it, else `sat(⌊w·d⌉_f)`.

use super::prune_unit::rank_group;
use super::{i16s, put_i16s, Memory};
use crate::machine::OpCost;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::arch::Banking;
use nmsat_compiler::datapath::{reciprocal_q16, round_shift, saturate};
use nmsat_compiler::isa::{phase_taps, Buf, PoolMode, VecOp};
use nmsat_compiler::timing::vector_ops_per_elem;

/// `⌊a / b⌉`, rounding half up (b > 0).
fn div_round(a: i64, b: i64) -> i64 {
    (2 * a + b).div_euclid(2 * b)
}

/// `⌊√n⌋` of `n ≥ 0`.
fn isqrt(n: i64) -> i64 {
    let mut r = (n as f64).sqrt() as i64;
    while r * r > n {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= n {
        r += 1;
    }
    r
}

/// Mean (Q.f) and standard deviation (Q.f, ≥ 1) from Σx (Q.f) and Σx² (Q.2f) over `n` values.
fn moments(sum: i64, sumsq: i64, n: i64) -> (i64, i64) {
    let mu = div_round(sum, n);
    let var = (div_round(sumsq, n) - mu * mu).max(0) + 1;
    (mu, isqrt(var))
}

fn normalize(x: i16, (mu, sigma): (i64, i64), f: u32) -> i16 {
    saturate(div_round((x as i64 - mu) << f, sigma))
}

/// The normalization gradient from Σdy (Q.f) and Σdy·y (Q.2f) over `n` values.
fn norm_grad(dy: i16, y: i16, (sdy, sdyy): (i64, i64), n: i64, sigma: i64, f: u32) -> i16 {
    let t = ((dy as i64 - div_round(sdy, n)) << f) - round_shift(y as i64 * div_round(sdyy, n), f);
    saturate(div_round(t, sigma))
}

/// Per column of `rows × width` values: (Σa, Σa·b).
fn column_sums(a: &[i16], b: &[i16], width: usize) -> Vec<(i64, i64)> {
    let mut s = vec![(0i64, 0i64); width];
    for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
        s[i % width].0 += a as i64;
        s[i % width].1 += a as i64 * b as i64;
    }
    s
}

/// Statistics (two i64 per column) from their INT16 words, little-endian.
fn stats(words: &[i16]) -> Vec<(i64, i64)> {
    let v: Vec<i64> = words
        .chunks_exact(4)
        .map(|w| {
            w.iter()
                .rev()
                .fold(0i64, |acc, &x| (acc << 16) | (x as u16 as i64))
        })
        .collect();
    v.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

fn stat_words(s: &[(i64, i64)]) -> Vec<i16> {
    s.iter()
        .flat_map(|&(a, b)| [a, b])
        .flat_map(|x| (0..4).map(move |i| (x >> (16 * i)) as u16 as i16))
        .collect()
}

/// Q.f to the Q16 of the exponential and the GELU (f ≤ 16).
fn q16_of(x: i64, f: u32) -> i64 {
    x << (16 - f)
}

/// `e^x` of `x ≤ 0`, Q16 in and out (I-BERT's i-exp).
fn iexp(x: i64) -> i64 {
    const LN2: i64 = 45426; // ln 2
    const A: i64 = 23495; // 0.3585
    const B: i64 = 88670; // 1.353
    const C: i64 = 22544; // 0.344
    let z = -x / LN2;
    let t = x + z * LN2 + B;
    let e = round_shift(A * round_shift(t * t, 16), 16) + C;
    if z >= 63 {
        0
    } else {
        e >> z
    }
}

/// Softmax of one row (Q.f).
fn softmax(x: &[i16], f: u32) -> Vec<i16> {
    let max = *x.iter().max().expect("rows are not empty") as i64;
    let e: Vec<i64> = x.iter().map(|&v| iexp(q16_of(v as i64 - max, f))).collect();
    let sum: i64 = e.iter().sum();
    e.iter()
        .map(|&e| saturate(div_round(e << f, sum)))
        .collect()
}

/// i-GELU's terms of `x` (Q16): `L(x/√2)` with its sign, `x/√2`, and `min(|z|, −b) + b`.
fn gelu_terms(x: i64) -> (i64, i64, i64) {
    const ISQRT2: i64 = 46341; // 1/√2
    const A: i64 = -18927; // a = −0.2888
    const B: i64 = 115933; // −b = 1.769
    let xs = round_shift(x * ISQRT2, 16);
    let t = xs.abs().min(B) - B;
    let l = round_shift(A * round_shift(t * t, 16), 16) + (1 << 16);
    (x.signum() * l, xs, round_shift(A * t, 16))
}

/// Executes one vector instruction.
pub fn run(
    arch: &Arch,
    mem: &mut Memory,
    op: VecOp,
    srcs: &[Buf],
    dst: &Buf,
    elems: u64,
    width: u64,
) -> Result<OpCost, String> {
    let n = elems as usize;
    let src: Vec<Vec<i16>> = srcs.iter().map(|b| i16s(mem.sp(b))).collect();
    let need = |i: usize, len: usize| -> Result<&[i16], String> {
        src.get(i)
            .filter(|s| s.len() >= len)
            .map(|s| &s[..len])
            .ok_or_else(|| format!("{op:?}: source {i} holds fewer than {len} elements"))
    };
    let f = arch.frac_bits;
    let out: Vec<i16> = match op {
        VecOp::Relu => need(0, n)?.iter().map(|&x| x.max(0)).collect(),
        VecOp::ReluGrad => need(0, n)?
            .iter()
            .zip(need(1, n)?)
            .map(|(&dy, &x)| if x > 0 { dy } else { 0 })
            .collect(),
        VecOp::Add => (0..n)
            .map(|i| saturate(src.iter().map(|s| s[i] as i64).sum()))
            .collect(),
        VecOp::Fill => vec![0; n],
        VecOp::Pool { window, mode } => {
            let win = window as usize;
            let x = need(0, n * win)?;
            let mut y = Vec::with_capacity(2 * n);
            let mut arg = Vec::with_capacity(n);
            for w in x.chunks(win) {
                match mode {
                    PoolMode::Max => {
                        // The first maximum: a later equal value does not replace it.
                        let (mut best, mut at) = (w[0], 0);
                        for (j, &v) in w.iter().enumerate() {
                            if v > best {
                                (best, at) = (v, j);
                            }
                        }
                        y.push(best);
                        arg.push(at as i16);
                    }
                    PoolMode::Avg => {
                        let sum: i64 = w.iter().map(|&v| v as i64).sum();
                        y.push(saturate(round_shift(sum * reciprocal_q16(window), 16)));
                    }
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
            // The window position of each tap of the phase.
            let pos: Vec<i16> = (0..ka * kb)
                .map(|t| {
                    let (u, v) = (t / kb, t % kb);
                    let (dy, dx) = (
                        phase_h + stride * (ka - 1 - u),
                        phase_w + stride * (kb - 1 - v),
                    );
                    (dy * kernel + dx) as i16
                })
                .collect();
            match mode {
                PoolMode::Max => {
                    let arg = need(1, n * taps)?;
                    dy.chunks(taps)
                        .zip(arg.chunks(taps))
                        .map(|(d, a)| {
                            let hits = (0..taps).filter(|&t| a[t] == pos[t]);
                            saturate(hits.map(|t| d[t] as i64).sum())
                        })
                        .collect()
                }
                PoolMode::Avg => {
                    let r = reciprocal_q16(kernel * kernel);
                    dy.chunks(taps)
                        .map(|d| {
                            let sum: i64 = d.iter().map(|&v| v as i64).sum();
                            saturate(round_shift(sum * r, 16))
                        })
                        .collect()
                }
            }
        }
        VecOp::Loss { classes, batch } => {
            let c = classes as usize;
            let rows = n / c;
            let (logits, labels) = (need(0, rows * c)?, need(1, rows)?);
            let mut g = Vec::with_capacity(rows * c);
            for (row, &label) in logits.chunks(c).zip(labels) {
                let max = *row.iter().max().expect("classes ≥ 1") as i64;
                let e: Vec<i64> = row
                    .iter()
                    .map(|&v| iexp(q16_of(v as i64 - max, f)))
                    .collect();
                let sum: i64 = e.iter().sum();
                g.extend(e.iter().enumerate().map(|(i, &e)| {
                    let hit = label as i64 == i as i64;
                    saturate(div_round((e - hit as i64 * sum) << f, sum * batch as i64))
                }));
            }
            g
        }
        VecOp::Sgd {
            lr_q16,
            momentum_q16,
            srste,
        } => {
            let (w, dw, v) = (need(0, n)?, need(1, n)?, need(2, n)?);
            let keep: Vec<bool> = match srste {
                Some(s) => w
                    .chunks(width as usize)
                    .flat_map(|row| {
                        row.chunks(s.nm.m as usize)
                            .flat_map(|g| rank_group(g, s.nm.n as usize))
                    })
                    .collect(),
                None => vec![true; n],
            };
            let mut w2 = Vec::with_capacity(n);
            let mut v2 = Vec::with_capacity(n);
            for i in 0..n {
                let mut vi = round_shift(momentum_q16 as i64 * v[i] as i64, 16) + dw[i] as i64;
                if let (Some(s), false) = (srste, keep[i]) {
                    vi += round_shift(s.lambda_q16 as i64 * w[i] as i64, 16);
                }
                let vi = saturate(vi);
                w2.push(saturate(
                    w[i] as i64 - round_shift(lr_q16 as i64 * vi as i64, 16),
                ));
                v2.push(vi);
            }
            w2.extend(v2);
            w2
        }
        VecOp::MaskDecay { nm } => {
            let w = need(0, n)?;
            let d = if srcs.len() > 1 {
                need(1, 1)?[0] as i64
            } else {
                0
            };
            w.chunks(width as usize)
                .flat_map(|row| {
                    row.chunks(nm.m as usize).flat_map(|g| {
                        let keep = rank_group(g, nm.n as usize);
                        g.iter().zip(keep).map(move |(&x, k)| {
                            if k {
                                x
                            } else {
                                saturate(round_shift(x as i64 * d, f))
                            }
                        })
                    })
                })
                .collect()
        }
        VecOp::BatchStats | VecOp::BatchGradStats => {
            let w = width as usize;
            let (a, b) = match op {
                VecOp::BatchStats => (need(0, n)?, need(0, n)?),
                _ => (need(0, n)?, need(1, n)?),
            };
            let acc = stats(need(srcs.len() - 1, w * 8)?);
            let sums = column_sums(a, b, w);
            let sum: Vec<(i64, i64)> = acc
                .iter()
                .zip(&sums)
                .map(|(p, q)| (p.0.wrapping_add(q.0), p.1.wrapping_add(q.1)))
                .collect();
            stat_words(&sum)
        }
        VecOp::BatchNorm { rows } => {
            let w = width as usize;
            let m: Vec<_> = stats(need(1, w * 8)?)
                .into_iter()
                .map(|(s, q)| moments(s, q, rows as i64))
                .collect();
            let x = need(0, n)?;
            (0..n).map(|i| normalize(x[i], m[i % w], f)).collect()
        }
        VecOp::BatchNormGrad { rows } => {
            let w = width as usize;
            let (dy, y) = (need(0, n)?, need(1, n)?);
            let m: Vec<_> = stats(need(2, w * 8)?)
                .into_iter()
                .map(|(s, q)| moments(s, q, rows as i64))
                .collect();
            let g = stats(need(3, w * 8)?);
            (0..n)
                .map(|i| norm_grad(dy[i], y[i], g[i % w], rows as i64, m[i % w].1, f))
                .collect()
        }
        VecOp::Norm => {
            let w = width as usize;
            let x = need(0, n)?;
            x.chunks(w)
                .flat_map(|r| {
                    let (s, q) = column_sums(r, r, 1)[0];
                    let m = moments(s, q, w as i64);
                    r.iter().map(move |&v| normalize(v, m, f))
                })
                .collect()
        }
        VecOp::NormGrad => {
            let w = width as usize;
            let (dy, x) = (need(0, n)?, need(1, n)?);
            let mut out = Vec::with_capacity(n);
            for (d, r) in dy.chunks(w).zip(x.chunks(w)) {
                let (s, q) = column_sums(r, r, 1)[0];
                let m = moments(s, q, w as i64);
                let y: Vec<i16> = r.iter().map(|&v| normalize(v, m, f)).collect();
                let g = column_sums(d, &y, 1)[0];
                out.extend(
                    d.iter()
                        .zip(&y)
                        .map(|(&d, &y)| norm_grad(d, y, g, w as i64, m.1, f)),
                );
            }
            out
        }
        VecOp::Softmax => need(0, n)?
            .chunks(width as usize)
            .flat_map(|r| softmax(r, f))
            .collect(),
        VecOp::SoftmaxGrad => {
            let w = width as usize;
            let (dy, x) = (need(0, n)?, need(1, n)?);
            let mut out = Vec::with_capacity(n);
            for (d, r) in dy.chunks(w).zip(x.chunks(w)) {
                let y = softmax(r, f);
                let s = round_shift(
                    d.iter().zip(&y).map(|(&d, &y)| d as i64 * y as i64).sum(),
                    f,
                );
                out.extend(
                    d.iter()
                        .zip(&y)
                        .map(|(&d, &y)| saturate(round_shift(y as i64 * (d as i64 - s), f))),
                );
            }
            out
        }
        VecOp::Gelu => need(0, n)?
            .iter()
            .map(|&x| {
                let xq = q16_of(x as i64, f);
                let (l, _, _) = gelu_terms(xq);
                saturate(round_shift(round_shift(xq * ((1 << 16) + l), 17), 16 - f))
            })
            .collect(),
        VecOp::GeluGrad => need(0, n)?
            .iter()
            .zip(need(1, n)?)
            .map(|(&dy, &x)| {
                let (l, xs, at) = gelu_terms(q16_of(x as i64, f));
                let d = round_shift((1 << 16) + l, 1) + round_shift(xs * at, 16);
                saturate(round_shift(dy as i64 * d, 16))
            })
            .collect(),
    };
    if out.len() as u64 * 2 > dst.bytes {
        return Err(format!(
            "{op:?}: {} results overflow a {}-byte buffer",
            out.len(),
            dst.bytes
        ));
    }
    put_i16s(mem.sp_mut(dst), &out);
    // Element operations issue `lanes` a cycle; the last leaves after the pipeline latency.
    let (mut done, mut cycles) = (0, 0);
    let work = elems * vector_ops_per_elem(op);
    while done < work {
        done += arch.vector_lanes;
        cycles += 1;
    }
    let ideal = cycles + arch.vector_latency;
    let physical = |b: &Buf| arch.region(b.region).banking == Banking::Physical;
    if !srcs.iter().chain([dst]).any(physical) {
        return Ok(OpCost {
            cycles: ideal,
            bank_stall: 0,
        });
    }
    // On physical banks every cycle that reads a batch or writes results waits for its sets.
    let stall = super::vector_banks::stall(arch, op, srcs, dst, elems, width)
        .map_err(|e| format!("on physically banked regions: {e}"))?;
    Ok(OpCost {
        cycles: ideal + stall,
        bank_stall: stall,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::datapath::{dequantize, quantize};

    /// GELU via the tanh form, within 1e-3 of x·Φ(x).
    fn gelu_ref(x: f64) -> f64 {
        0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
    }

    #[test]
    fn fixed_point_exp_and_gelu_follow_the_real_functions() {
        for i in 0..=800 {
            let x = -(i as f64) / 100.0;
            let e = iexp((x * 65536.0).round() as i64) as f64 / 65536.0;
            assert!((e - x.exp()).abs() < 4e-3, "exp({x}) = {e}");
        }
        let f = 8;
        for q in (-1536i16..=1536).step_by(7) {
            let x = dequantize(q, f);
            let xq = q16_of(q as i64, f);
            let (l, _, _) = gelu_terms(xq);
            let g = round_shift(xq * ((1 << 16) + l), 17) as f64 / 65536.0;
            assert!((g - gelu_ref(x)).abs() < 0.025, "gelu({x}) = {g}");
            // The gradient is the derivative of the approximation: a central difference of it.
            let (h, d) = (0.02, |y: f64| {
                let yq = (y * 65536.0).round() as i64;
                let (l, _, _) = gelu_terms(yq);
                (yq * ((1 << 16) + l)) as f64 / 2f64.powi(33)
            });
            let (l, xs, at) = gelu_terms(xq);
            let grad = (round_shift((1 << 16) + l, 1) + round_shift(xs * at, 16)) as f64 / 65536.0;
            let numeric = (d(x + h) - d(x - h)) / (2.0 * h);
            // L(0±) = ±(a·b² + 1) ≈ ±0.096: i-GELU's slope steps at 0.
            assert!(
                x.abs() <= h || (grad - numeric).abs() < 0.01,
                "gelu'({x}) = {grad}, numerically {numeric}"
            );
        }
    }

    #[test]
    fn integer_helpers() {
        for n in [
            0i64,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 40,
            (1 << 40) + 12345,
            i32::MAX as i64,
        ] {
            let r = isqrt(n);
            assert!(r * r <= n && (r + 1) * (r + 1) > n, "isqrt({n}) = {r}");
        }
        assert_eq!(
            [div_round(5, 2), div_round(-5, 2), div_round(-7, 4)],
            [3, -2, -2]
        );
        let s = vec![(-1i64, 1 << 40), (i64::MAX, i64::MIN)];
        assert_eq!(stats(&stat_words(&s)), s);
        assert_eq!(reciprocal_q16(4), 16384);
        // A softmax row sums to one within its rounding.
        let y = softmax(&[0, 256, -512, 100, 100], 8);
        let sum: i64 = y.iter().map(|&v| v as i64).sum();
        assert!((sum - 256).abs() <= 3, "{y:?}");
    }

    #[test]
    fn integer_loss_follows_the_real_gradient() {
        let arch = Arch::load("sat-small").unwrap();
        let prog = nmsat_compiler::isa::Program {
            arch: arch.name.clone(),
            model: "loss".into(),
            batch: 1,
            nm: None,
            layers: vec![],
            tensors: vec![],
            instrs: vec![],
        };
        let mut mem = Memory::new(&arch, &prog);
        let (classes, rows, batch) = (10usize, 6usize, 8u64);
        let f = arch.frac_bits;
        let logits: Vec<i16> = (0..classes * rows)
            .map(|i| ((i * 7919) % 2001) as i16 - 1000)
            .collect();
        let labels: Vec<i16> = (0..rows as i16).map(|r| (3 * r) % 12).collect();
        let buf = |addr, elems: usize| Buf {
            region: RegionId::Input,
            addr,
            bytes: 2 * elems as u64,
        };
        put_i16s(mem.sp_mut(&buf(0, classes * rows)), &logits);
        put_i16s(mem.sp_mut(&buf(1024, rows)), &labels);
        let (srcs, dst) = (
            [buf(0, classes * rows), buf(1024, rows)],
            buf(2048, classes * rows),
        );
        let op = VecOp::Loss {
            classes: classes as u64,
            batch,
        };
        let elems = (classes * rows) as u64;
        run(&arch, &mut mem, op, &srcs, &dst, elems, classes as u64).unwrap();
        let g = i16s(mem.sp(&dst));
        for (r, row) in logits.chunks(classes).enumerate() {
            let z: Vec<f64> = row.iter().map(|&q| dequantize(q, f)).collect();
            let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
            for (c, v) in z.iter().enumerate() {
                let onehot = (labels[r] as usize == c) as u8 as f64;
                let real = quantize(((v - max).exp() / sum - onehot) / batch as f64, f);
                // One LSB: the exponential's error, within rounding of the real gradient.
                assert!(
                    (g[r * classes + c] - real).abs() <= 1,
                    "row {r} class {c}: {} against {real}",
                    g[r * classes + c]
                );
            }
        }
    }
}
