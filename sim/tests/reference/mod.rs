//! The plain-loop integer reference the functional tests share: written independently of the
//! simulator, from `nmsat_compiler::datapath`'s rounding and saturation.
// Each test binary uses a subset of these.
#![allow(dead_code)]

use nmsat_compiler::arch::Arch;
use nmsat_compiler::datapath::{requant, round_shift, saturate};
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::isa::q16;
use nmsat_compiler::isa::Program;
use nmsat_compiler::prune::{nm_mask, nm_prune, Nm};
use nmsat_sim::exact::Memory;

/// A deterministic stream of values in `[-scale, scale]` (Q.8: |x| ≤ scale/256).
pub fn values(seed: u64, n: usize, scale: i64) -> Vec<i16> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as i64 % (2 * scale + 1) - scale) as i16
        })
        .collect()
}

/// The SGD step with momentum and (when `srste`) the SR-STE term on the weights the row's FF
/// mask drops.
pub fn sgd(
    w: &[i16],
    dw: &[i16],
    v: &[i16],
    width: usize,
    srste: bool,
    nm: Nm,
    o: &TrainOptions,
) -> (Vec<i16>, Vec<i16>) {
    let keep: Vec<bool> = w.chunks(width).flat_map(|r| nm_mask(r, nm)).collect();
    let (lr, mu, lambda) = (
        q16(o.lr) as i64,
        q16(o.momentum) as i64,
        q16(o.srste_lambda) as i64,
    );
    let mut w2 = vec![];
    let mut v2 = vec![];
    for i in 0..w.len() {
        let mut vi = round_shift(mu * v[i] as i64, 16) + dw[i] as i64;
        if srste && !keep[i] {
            vi += round_shift(lambda * w[i] as i64, 16);
        }
        let vi = saturate(vi);
        w2.push(saturate(w[i] as i64 - round_shift(lr * vi as i64, 16)));
        v2.push(vi);
    }
    (w2, v2)
}

/// Constants of I-BERT's exponential in Q16: ln 2, a = 0.3585, b = 1.353, c = 0.344.
const LN2: i64 = 45426;
const EA: i64 = 23495;
const EB: i64 = 88670;
const EC: i64 = 22544;

/// e^x, x ≤ 0 in Q16: x = p − z·ln 2, e^p ≈ a(p + b)² + c, shifted right z.
pub fn exp_q16(x: i64) -> i64 {
    let z = -x / LN2;
    let p = x + z * LN2;
    let e = round_shift(EA * round_shift((p + EB) * (p + EB), 16), 16) + EC;
    if z >= 63 {
        0
    } else {
        e >> z
    }
}

/// The softmax cross-entropy gradient `(softmax − onehot) / batch`, per row, in integers:
/// `sat(⌊(e_i − [i = label]·S)·2^f / (S·batch)⌉)` with `e_i = exp_q16(x_i − max)`, `S = Σe`.
pub fn loss_grad(logits: &[i16], labels: &[i16], classes: usize, f: u32) -> Vec<i16> {
    let batch = labels.len() as i64;
    let mut g = vec![];
    for (b, row) in logits.chunks(classes).enumerate() {
        let mx = *row.iter().max().unwrap() as i64;
        let e: Vec<i64> = row
            .iter()
            .map(|&v| exp_q16((v as i64 - mx) << (16 - f)))
            .collect();
        let s: i64 = e.iter().sum();
        for (c, &ec) in e.iter().enumerate() {
            let onehot = (labels[b] as usize == c) as i64;
            g.push(saturate(div_round((ec - onehot * s) << f, s * batch)));
        }
    }
    g
}

/// `out[r][c] = requant(Σ_i a[r][i] · b[i][c])`.
pub fn matmul(a: &[i16], b: &[i16], rows: usize, inner: usize, cols: usize, f: u32) -> Vec<i16> {
    let mut out = vec![0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            let mut acc: i32 = 0;
            for i in 0..inner {
                acc = acc.wrapping_add(a[r * inner + i] as i32 * b[i * cols + c] as i32);
            }
            out[r * cols + c] = requant(acc, f);
        }
    }
    out
}

pub fn transpose(a: &[i16], rows: usize, cols: usize) -> Vec<i16> {
    (0..cols * rows)
        .map(|i| a[(i % rows) * cols + i / rows])
        .collect()
}

pub fn prune_rows(w: &[i16], width: usize, nm: Option<Nm>) -> Vec<i16> {
    match nm {
        Some(nm) => w.chunks(width).flat_map(|r| nm_prune(r, nm)).collect(),
        None => w.to_vec(),
    }
}

pub fn div_round(a: i64, b: i64) -> i64 {
    (2 * a + b).div_euclid(2 * b)
}

/// Runs `prog` in exact mode on memory holding `inputs` (DRAM tensor name and values) and
/// returns the memory after the iteration.
pub fn run_exact(arch: &Arch, prog: &Program, inputs: &[(&str, &[i16])]) -> Memory {
    let mut mem = Memory::new(arch, prog);
    for (name, data) in inputs {
        mem.write_i16(prog, name, data).unwrap();
    }
    nmsat_sim::simulate_exact_on(arch, prog, &mut mem).unwrap();
    mem
}
