//! The vector unit: `lanes` element operations a cycle after a `latency`-deep pipeline.
//!
//! Fixed-point semantics, per operation (all values Q.f INT16 unless said; see
//! [`nmsat_compiler::datapath`]):
//! - `Relu`: `max(0, x)`; `ReluGrad` (sources dy, x): `x > 0 ? dy : 0`; `Add`: saturating sum;
//!   `Fill`: zeros.
//! - `Loss` (sources logits, labels): per row, `p = softmax(logits)` in f64, then
//!   `quantize((p − onehot(label)) / batch)`: the one operation computed through real numbers.
//! - `Sgd` (sources w, dw, v; destination w′ then v′): with μ, lr, λ in Q16.16,
//!   `v′ = sat(⌊μ·v⌉₁₆ + dw [+ ⌊λ·w⌉₁₆ where the FF N:M mask of the row drops w])`,
//!   `w′ = sat(w − ⌊lr·v′⌉₁₆)`, where `⌊x⌉₁₆` is a round-half-up shift by 16.

use super::prune_unit::rank_group;
use super::{i16s, put_i16s, Memory};
use crate::machine::OpCost;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::datapath::{dequantize, quantize, round_shift, saturate};
use nmsat_compiler::isa::{Buf, VecOp};
use nmsat_compiler::timing::vector_ops_per_elem;

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
        VecOp::Loss { classes, batch } => {
            let rows = n / classes as usize;
            let (logits, labels) = (need(0, n)?, need(1, rows)?);
            let mut g = Vec::with_capacity(n);
            for r in 0..rows {
                let z: Vec<f64> = logits[r * classes as usize..(r + 1) * classes as usize]
                    .iter()
                    .map(|&q| dequantize(q, f))
                    .collect();
                let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for (c, ec) in e.iter().enumerate() {
                    let onehot = if labels[r] as usize == c { 1.0 } else { 0.0 };
                    g.push(quantize((ec / sum - onehot) / batch as f64, f));
                }
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
        other => {
            return Err(format!(
                "exact mode does not execute the vector operation {other:?} yet"
            ))
        }
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
    Ok(OpCost {
        cycles: cycles + arch.vector_latency,
        bank_stall: 0,
    })
}
