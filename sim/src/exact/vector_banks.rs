//! The exact vector unit's bank stalls on physically banked regions: the words each cycle of
//! the unit touches, collected from the operation's own addressing — batch `b` of `lanes`
//! elements read in the b-th cycle after the issue and written in the next; a row operation
//! pass after pass over each row; a pooling batch writing the windows that end in it —, each
//! cycle's words grouped into its sets (per region, the reads on the operation's read copy and
//! the writes on the write port) and served bank by bank. The softmax gradient's row slots
//! and batch norm's column blocks take their cycles from `vector_steps`, whose order they
//! are. A cycle holds the pipeline for the most cycles one of its sets needs.

use nmsat_compiler::arch::{Arch, Banking, RegionId};
use nmsat_compiler::isa::{pool_taps, Buf, PoolMode, VecOp};
use nmsat_compiler::timing::bank_degree;
use nmsat_compiler::vector_steps::{self, Port};
use std::collections::BTreeMap;

/// The words of each cycle, by (written, region).
#[derive(Default)]
struct Cycles(Vec<BTreeMap<(bool, RegionId), Vec<u64>>>);

impl Cycles {
    /// Bytes `[addr, addr + bytes)` of `b.region` read (or written) in cycle `c` after issue.
    fn touch(&mut self, arch: &Arch, c: u64, write: bool, region: RegionId, addr: u64, bytes: u64) {
        let r = arch.region(region);
        if r.banking == Banking::Ideal || bytes == 0 {
            return;
        }
        if self.0.len() <= c as usize {
            self.0.resize_with(c as usize + 1, BTreeMap::new);
        }
        let w = r.bank_width_bytes;
        let set = self.0[c as usize].entry((write, region)).or_default();
        set.extend(addr / w..(addr + bytes).div_ceil(w));
    }

    /// Elements `[from, from + n)` of `b`.
    fn elems(&mut self, arch: &Arch, c: u64, write: bool, b: &Buf, from: u64, n: u64) {
        self.touch(arch, c, write, b.region, b.addr + 2 * from, 2 * n);
    }

    /// Cycles beyond one that the cycles' sets hold the pipeline.
    fn stall(&self, arch: &Arch) -> u64 {
        self.0
            .iter()
            .map(|sets| {
                let d = sets
                    .iter()
                    .map(|(&(_, r), words)| bank_degree(arch.region(r), words.iter().copied()))
                    .max()
                    .unwrap_or(0);
                d.max(1) - 1
            })
            .sum()
    }
}

/// The cycles `op` stalls for its banks, or why the unit has no order for it.
pub fn stall(
    arch: &Arch,
    op: VecOp,
    srcs: &[Buf],
    dst: &Buf,
    elems: u64,
    width: u64,
) -> Result<u64, String> {
    let lanes = arch.vector_lanes.max(1);
    let mut cy = Cycles::default();
    let src = |i: usize| srcs.get(i).ok_or_else(|| format!("{op:?}: no source {i}"));
    // Batches of `lanes` from element 0 of `n`: (cycle, first, count).
    let batches =
        |n: u64| (0..n.div_ceil(lanes)).map(move |b| (b, b * lanes, lanes.min(n - b * lanes)));
    match op {
        VecOp::Relu
        | VecOp::ReluGrad
        | VecOp::Add
        | VecOp::Fill
        | VecOp::Gelu
        | VecOp::GeluGrad
        | VecOp::Sgd { .. }
        | VecOp::MaskDecay { .. } => {
            if op == VecOp::Add && srcs.len() > 3 {
                return Err(format!(
                    "an Add of {} sources: the unit reads three",
                    srcs.len()
                ));
            }
            let streamed = match op {
                VecOp::Relu | VecOp::Gelu | VecOp::MaskDecay { .. } => &srcs[..srcs.len().min(1)],
                VecOp::Sgd { .. } => &srcs[..srcs.len().min(3)],
                _ => srcs,
            };
            let nm = match op {
                VecOp::Sgd { srste: Some(s), .. } => Some(s.nm.m),
                VecOp::MaskDecay { nm } => Some(nm.m),
                _ => None,
            };
            for (c, first, n) in batches(elems) {
                for s in streamed {
                    cy.elems(arch, c, false, s, first, n);
                }
                if let (VecOp::MaskDecay { .. }, Some(d)) = (op, srcs.get(1)) {
                    cy.elems(arch, c, false, d, 0, 1);
                }
                // SR-STE ranks each weight among its M-group of its row.
                if let Some(m) = nm.filter(|_| width > 0) {
                    for e in first..first + n {
                        let row = e - e % width;
                        let g = row + (e - row) / m * m;
                        let end = (g + m).min(row + width).min(elems);
                        cy.elems(arch, c, false, src(0)?, g, end - g);
                    }
                }
                cy.elems(arch, c + 1, true, dst, first, n);
                if matches!(op, VecOp::Sgd { .. }) {
                    cy.elems(arch, c + 1, true, dst, elems + first, n);
                }
            }
        }
        VecOp::Loss { .. } | VecOp::Softmax | VecOp::Norm | VecOp::NormGrad => {
            let w = match op {
                VecOp::Loss { classes, .. } => classes,
                _ => width,
            };
            if w == 0 || !elems.is_multiple_of(w) {
                return Err(format!("{op:?} of {elems} elements in rows of {w}"));
            }
            let passes = vector_steps::row_passes(op).expect("a row operation");
            let x = src(if op == VecOp::NormGrad { 1 } else { 0 })?;
            let mut c = 0;
            for r in 0..elems / w {
                for pass in 0..passes {
                    let last = pass == passes - 1;
                    for (_, col, n) in batches(w) {
                        cy.elems(arch, c, false, x, r * w + col, n);
                        match op {
                            VecOp::Loss { .. } if last => cy.elems(arch, c, false, src(1)?, r, 1),
                            VecOp::NormGrad if pass > 0 => {
                                cy.elems(arch, c, false, src(0)?, r * w + col, n)
                            }
                            _ => {}
                        }
                        if last {
                            cy.elems(arch, c + 1, true, dst, r * w + col, n);
                        }
                        c += 1;
                    }
                }
            }
        }
        VecOp::Pool { mode, .. } | VecOp::PoolGrad { mode, .. } => {
            let taps = pool_taps(op).expect("pooling");
            let grad = matches!(op, VecOp::PoolGrad { .. });
            // Max pooling writes its argmax too; its gradient reads it beside dY.
            let arg = if grad && mode == PoolMode::Max {
                Some(src(1)?)
            } else {
                None
            };
            let argmax = !grad && mode == PoolMode::Max;
            pool(arch, &mut cy, srcs, dst, elems, taps, argmax, arg)?
        }
        VecOp::SoftmaxGrad
        | VecOp::BatchStats
        | VecOp::BatchNorm { .. }
        | VecOp::BatchGradStats
        | VecOp::BatchNormGrad { .. } => {
            let steps = vector_steps::steps(arch, op, srcs, dst, elems, width)?;
            for (c, s) in steps.steps.iter().enumerate() {
                for a in &s.accesses {
                    let write = matches!(a.port, Port::Write(_));
                    cy.touch(arch, c as u64, write, a.region, a.addr, a.bytes);
                }
            }
        }
    }
    Ok(cy.stall(arch))
}

/// Pooling: the `elems·taps` source elements a batch at a time (and the argmax beside them),
/// each batch writing the results of the windows whose last tap it holds (max pooling's
/// argmax `elems` results on).
#[allow(clippy::too_many_arguments)]
fn pool(
    arch: &Arch,
    cy: &mut Cycles,
    srcs: &[Buf],
    dst: &Buf,
    elems: u64,
    taps: u64,
    argmax: bool,
    arg: Option<&Buf>,
) -> Result<(), String> {
    let lanes = arch.vector_lanes.max(1);
    let x = srcs.first().ok_or("pooling without a source")?;
    if taps == 0 {
        return Err("pooling windows of no taps".into());
    }
    let total = elems * taps;
    for b in 0..total.div_ceil(lanes) {
        let (first, n) = (b * lanes, lanes.min(total - b * lanes));
        cy.elems(arch, b, false, x, first, n);
        if let Some(a) = arg {
            cy.elems(arch, b, false, a, first, n);
        }
        for g in (first..first + n)
            .filter(|e| (e + 1) % taps == 0)
            .map(|e| e / taps)
        {
            cy.elems(arch, b + 1, true, dst, g, 1);
            if argmax {
                cy.elems(arch, b + 1, true, dst, elems + g, 1);
            }
        }
    }
    Ok(())
}
