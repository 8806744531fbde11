//! Drives the Verilated [`WsArray`](crate::ws_array::WsArray) through a whole GEMM with the
//! exact simulator's own edges ([`WsEdges`]): the left-edge feeder's slots, the weight bus's
//! preload rows and the output buffer's read-modify-write. Only the PE grid is RTL here, so
//! a difference from `nmsat_sim::exact::array::run_gemm` is a difference in the grid.

use crate::array::ArrayShape;
use crate::cosim::{top_ports, BuildOptions, Design, Model};
use crate::verilog::to_verilog;
use crate::ws_array::build_ws_array;
use crate::HwError;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::prune::{group_bytes, unpack_group, Nm};
use nmsat_sim::exact::array::{WsEdges, VALID};
use std::sync::Arc;

/// The top module name of a Verilated grid.
pub const WS_ARRAY_TOP: &str = "nmsat_ws_array";

/// Builds (or loads from the cache) the grid of `arch`'s array.
pub fn build_ws_array_design(arch: &Arch, opts: &BuildOptions) -> Result<Arc<Design>, HwError> {
    let grid = build_ws_array(ArrayShape::from_arch(arch)?)?;
    let verilog = to_verilog(grid.as_ref(), WS_ARRAY_TOP)?;
    let ports = top_ports(grid.as_ref())?;
    Ok(Design::build(&verilog, WS_ARRAY_TOP, &ports, opts)?.0)
}

/// The GEMM's operands, decoded as the edges present them.
struct Operands<'a> {
    k: usize,
    t: usize,
    kk: usize,
    nm: Option<(usize, usize)>,
    /// Weight and in-group index of (output row o, reduction position q) at `o·kk + q`.
    w: Vec<(i16, u8)>,
    x: &'a [i16],
}

impl Operands<'_> {
    fn weight(&self, m: usize, o: usize, q: usize) -> (i16, u8) {
        if o >= m || q >= self.kk {
            (0, 0)
        } else {
            self.w[o * self.kk + q]
        }
    }

    /// The lanes of reduction position `q`, column `j`: the value (dense) or its M-group.
    fn lanes(&self, q: usize, j: usize, out: &mut [i16]) {
        out.fill(0);
        if j >= self.t {
            return;
        }
        match self.nm {
            None if q < self.k => out[0] = self.x[q * self.t + j],
            None => {}
            Some((n, mm)) if q < self.kk => {
                let g = q / n;
                for (l, v) in out.iter_mut().enumerate().take(mm) {
                    let row = g * mm + l;
                    if row < self.k {
                        *v = self.x[row * self.t + j];
                    }
                }
            }
            Some(_) => {}
        }
    }
}

/// `y[m×t] (+)= w[m×k]·x[k×t]` on the Verilated grid `model` of `arch`, with operands as
/// `run_gemm` takes them; returns the cycles until the last result left the grid.
#[allow(clippy::too_many_arguments)] // the Gemm instruction's own operand list
pub fn ws_gemm(
    model: &mut Model,
    arch: &Arch,
    (m, k, t): (usize, usize, usize),
    sparsity: Option<Nm>,
    w: &[u8],
    x: &[i16],
    y: &mut [i32],
    accumulate: bool,
) -> Result<u64, HwError> {
    let shape = ArrayShape::from_arch(arch)?;
    let (r, c, lanes) = (shape.rows, shape.cols, shape.lanes);
    let ops = decode(m, k, t, sparsity, w, x)?;
    let mut edges = WsEdges::new(arch, m, ops.kk, t, ops.nm);
    let port = |name: String| -> Result<usize, HwError> { model.input(&name) };
    let a_in: Vec<usize> = (0..r * lanes)
        .map(|i| port(format!("a_in${i}")))
        .collect::<Result<_, _>>()?;
    let fl_in: Vec<usize> = (0..r)
        .map(|i| port(format!("fl_in${i}")))
        .collect::<Result<_, _>>()?;
    let top: Vec<[usize; 3]> = (0..c)
        .map(|i| {
            Ok([
                port(format!("sh_in${i}"))?,
                port(format!("sh_sel_in${i}"))?,
                port(format!("sh_dest_in${i}"))?,
            ])
        })
        .collect::<Result<_, HwError>>()?;
    let sparse = model.input("sparse")?;
    let ps_out: Vec<usize> = (0..c)
        .map(|i| model.output(&format!("ps_out${i}")))
        .collect::<Result<_, _>>()?;
    model.set(sparse, sparsity.is_some() as i64);
    let mut group = vec![0i16; lanes];
    let (mut left, total) = (0u64, (edges.folds * t) as u64);
    let mut tau = 0u64;
    loop {
        edges.tick(tau);
        for (cc, ports) in top.iter().enumerate() {
            let p = edges.top(tau, cc);
            let (mut wv, mut sel, mut dest) = (0, 0, 0);
            if p.on {
                let f = p.fold as usize;
                let d = r - 1 - p.step as usize;
                (wv, sel) =
                    ops.weight(m, (f / edges.k_folds) * c + cc, (f % edges.k_folds) * r + d);
                dest = d + 1;
            }
            model.set(ports[0], i64::from(wv));
            model.set(ports[1], i64::from(sel));
            model.set(ports[2], dest as i64);
        }
        for i in 0..r {
            let s = edges.left(tau, i);
            if s.flags & VALID != 0 {
                let q = (s.fold as usize % edges.k_folds) * r + i;
                ops.lanes(q, s.pos as usize, &mut group);
            } else {
                group.fill(0);
            }
            for (l, &v) in group.iter().enumerate() {
                model.set(a_in[i * lanes + l], i64::from(v));
            }
            model.set(fl_in[i], i64::from(s.flags));
        }
        // The bottom row's sums are combinational: read them before the clock edge.
        model.eval();
        for (cc, &port) in ps_out.iter().enumerate() {
            let s = edges.left(tau, r - 1 + cc);
            if s.flags & VALID == 0 {
                continue;
            }
            let (nb, kb) = (
                s.fold as usize / edges.k_folds,
                s.fold as usize % edges.k_folds,
            );
            let o = nb * c + cc;
            if o < m {
                let at = o * t + s.pos as usize;
                let v = model.get(port) as i32;
                y[at] = if kb == 0 && !accumulate {
                    v
                } else {
                    y[at].wrapping_add(v)
                };
            }
            if cc == c - 1 {
                left += 1;
            }
        }
        if left == total {
            return Ok(tau + 1);
        }
        model.step(1);
        if tau > 64 * (total + (r + c) as u64 * (edges.folds as u64 + 2)) {
            return Err(HwError::Cosim(format!(
                "the grid produced {left} of {total} results by cycle {tau}"
            )));
        }
        tau += 1;
    }
}

fn decode<'a>(
    m: usize,
    k: usize,
    t: usize,
    sparsity: Option<Nm>,
    w: &[u8],
    x: &'a [i16],
) -> Result<Operands<'a>, HwError> {
    let short = |what: &str| HwError::Usage(format!("{what} is too short for a {m}×{k}×{t} GEMM"));
    if x.len() < k * t {
        return Err(short("x"));
    }
    let Some(nm) = sparsity else {
        let bytes = w.get(..2 * m * k).ok_or_else(|| short("w"))?;
        let w = bytes
            .chunks_exact(2)
            .map(|b| (i16::from_le_bytes([b[0], b[1]]), 0))
            .collect();
        return Ok(Operands {
            k,
            t,
            kk: k,
            nm: None,
            w,
            x,
        });
    };
    let (n, mm) = (nm.n as usize, nm.m as usize);
    let groups = k.div_ceil(mm);
    let kk = groups * n;
    let stride = groups * group_bytes(nm);
    if w.len() < m * stride {
        return Err(short("packed w"));
    }
    let mut wv = vec![(0i16, 0u8); m * kk];
    for o in 0..m {
        let row = &w[o * stride..(o + 1) * stride];
        for g in 0..groups {
            for (s, (idx, v)) in unpack_group(row, nm, g).into_iter().enumerate() {
                wv[o * kk + g * n + s] = (v, idx as u8);
            }
        }
    }
    Ok(Operands {
        k,
        t,
        kk,
        nm: Some((n, mm)),
        w: wv,
        x,
    })
}
