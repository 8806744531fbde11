//! The PE array and the prune unit on the f32 datapath: `y (+)= w · x` over dense or packed
//! N:M weights, and top-N-of-M pruning into the packed form (slot layout in
//! [`super::f32_machine`]).

use super::f32_machine::F32Machine;
use nmsat_compiler::isa::Buf;
use nmsat_compiler::prune::{group_bytes, nm_mask, Nm};

/// `y[m×t] (+)= w[m×k] · x[k×t]`; with `sparsity`, `w` holds `m` packed rows of ⌈k/M⌉ groups.
pub fn gemm(
    mem: &mut F32Machine,
    (w, x, y): (&Buf, &Buf, &Buf),
    (m, k, t): (u64, u64, u64),
    sparsity: Option<Nm>,
    accumulate: bool,
) -> Result<(), String> {
    let (m, k, t) = (m as usize, k as usize, t as usize);
    let xs = mem.sp(x)?;
    if xs.len() < 2 * k * t || mem.sp(y)?.len() < 4 * m * t {
        return Err(format!("GEMM {m}×{k}×{t}: operand buffers too small"));
    }
    let xv: Vec<f32> = xs.iter().step_by(2).take(k * t).copied().collect();
    let mut yv: Vec<f32> = if accumulate {
        mem.sp(y)?.iter().step_by(4).take(m * t).copied().collect()
    } else {
        vec![0.0; m * t]
    };
    let ws = mem.sp(w)?;
    // Each non-zero weight adds its row of x to its row of y.
    let mut axpy = |o: usize, q: usize, v: f32| {
        if v != 0.0 {
            let (yr, xr) = (&mut yv[o * t..(o + 1) * t], &xv[q * t..(q + 1) * t]);
            for (a, b) in yr.iter_mut().zip(xr) {
                *a += v * b;
            }
        }
    };
    match sparsity {
        None => {
            if ws.len() < 2 * m * k {
                return Err(format!("GEMM {m}×{k}×{t}: weight buffer too small"));
            }
            for o in 0..m {
                for q in 0..k {
                    axpy(o, q, ws[2 * (o * k + q)]);
                }
            }
        }
        Some(nm) => {
            let (n, mm, gb) = (nm.n as usize, nm.m as usize, group_bytes(nm));
            let groups = k.div_ceil(mm);
            if ws.len() < m * groups * gb {
                return Err(format!(
                    "GEMM {m}×{k}×{t} at {nm}: packed weights too short"
                ));
            }
            for o in 0..m {
                for g in 0..groups {
                    let base = (o * groups + g) * gb;
                    for j in 0..n {
                        let q = g * mm + ws[base + 2 * j + 1] as usize;
                        if q < k {
                            axpy(o, q, ws[base + 2 * j]);
                        }
                    }
                }
            }
        }
    }
    let ys = mem.sp_mut(y)?;
    for (i, v) in yv.into_iter().enumerate() {
        ys[4 * i] = v;
    }
    Ok(())
}

/// Prunes the dense `rows × k` weights in `src` into the packed N:M form in `dst`: per group,
/// the kept values in ascending index order (the N largest magnitudes, the lower index first
/// among equals), padded with value 0 at index 0.
pub fn prune(
    mem: &mut F32Machine,
    src: &Buf,
    dst: &Buf,
    rows: u64,
    k: u64,
    nm: Nm,
) -> Result<(), String> {
    let dense = mem.elems(src)?;
    let (rows, k, n, mm) = (rows as usize, k as usize, nm.n as usize, nm.m as usize);
    if dense.len() < rows * k {
        return Err(format!(
            "prune of {rows}×{k} reads a {}-byte buffer",
            src.bytes
        ));
    }
    let gb = group_bytes(nm);
    let groups = k.div_ceil(mm);
    let out = mem.sp_mut(dst)?;
    if out.len() < rows * groups * gb {
        return Err(format!(
            "packed form of {} bytes overflows its {}-byte buffer",
            rows * groups * gb,
            out.len()
        ));
    }
    for r in 0..rows {
        let row = &dense[r * k..(r + 1) * k];
        let keep = nm_mask(row, nm);
        for g in 0..groups {
            let base = (r * groups + g) * gb;
            let lo = g * mm;
            let kept = (lo..(lo + mm).min(k)).filter(|&q| keep[q]);
            let mut j = 0;
            for q in kept {
                out[base + 2 * j] = row[q];
                out[base + 2 * j + 1] = (q - lo) as f32;
                j += 1;
            }
            for j in j..n {
                out[base + 2 * j] = 0.0;
                out[base + 2 * j + 1] = 0.0;
            }
        }
    }
    Ok(())
}
