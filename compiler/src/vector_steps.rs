//! What the vector unit reads and writes of the scratchpad, cycle by cycle: the access sets a
//! physically banked region serves (docs/physical-banking.md).
//!
//! The schedule is the RTL's (`hw/src/vector_unit.rs`), checked against the Verilated unit
//! port by port and cycle by cycle (`hw/tests/vector_steps.rs`). Issued at τ, the unit reads
//! batch `b` in cycle τ+1+b on up to three read ports and the SR-STE window port, and writes
//! its results in the next cycle through up to two write ports. [`Steps::at`] indexes cycles
//! from τ+1: step `s` is cycle τ+1+s.
//!
//! A port appears in a step when the unit uses what it reads there; the RTL drives every read
//! address in every cycle, but a port whose data the cycle ignores (a source the operation
//! does not have, a label outside the loss's gradient pass, the softmax gradient's row before
//! the first) needs nothing of the banks. Likewise a read covers the elements its lanes take
//! (the RTL's ports read 16 bytes whatever the lanes) and the window the groups its lanes rank
//! in (the RTL's reads 64 bytes): the words a bank sequencer has to fetch.
//!
//! Operations and their passes:
//! - element-wise (`Relu`, `ReluGrad`, `Add`, `Fill`, `Gelu`, `GeluGrad`, `Sgd`, `MaskDecay`):
//!   batch `b` is elements `b·L … b·L + L − 1` of each source, written to the same elements
//!   of the destination (SGD's v′ `elems` further on); SR-STE's SGD and `MaskDecay` also read
//!   the window of the batch's M-groups from lane 0's group on ([`window`]);
//! - the row operations (`Loss`, `Softmax`, `Norm`, `NormGrad`) make their passes over a row
//!   ([`row_passes`]), `⌈width/L⌉` batches each, before the next row, and write in the last;
//!   `SoftmaxGrad` runs `rows + 1` slots of two passes, slot `r` reading row r−1's x and dy
//!   (ports 0, 1) and row r's x (port 2) in the same cycles, writing row r−1 in its second;
//! - pooling and its gradients stream their `elems·taps` source elements a batch at a time,
//!   and a batch writes the results of the groups that end in it after those written so far;
//! - batch norm walks blocks of `L` columns: statistics read the block's rows, then each
//!   column's 16-byte accumulator, written back the cycle after; their application reads each
//!   column's statistics first, then the rows, writing each row's results.

use crate::arch::{Arch, RegionId};
use crate::isa::{pool_taps, Buf, PoolMode, VecOp, STATS_BYTES};

/// A port of the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Port {
    /// Read port 0, 1 or 2 (port 1 also reads batch norm's gradient statistics).
    Read(usize),
    /// The SR-STE window (64 bytes of source 0).
    Window,
    /// Write port 0 (results) or 1 (SGD's momenta, max pooling's taps).
    Write(usize),
}

/// `bytes` bytes at `addr` of `region` through `port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub port: Port,
    pub region: RegionId,
    pub addr: u64,
    pub bytes: u64,
}

/// The accesses of one cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    pub accesses: Vec<Access>,
}

/// An operation's steps, from the cycle after its issue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Steps {
    pub steps: Vec<Step>,
}

impl Steps {
    /// Step `s`, made if it is not there yet.
    pub fn at(&mut self, s: u64) -> &mut Step {
        let s = s as usize;
        if self.steps.len() <= s {
            self.steps.resize_with(s + 1, Step::default);
        }
        &mut self.steps[s]
    }

    fn push(&mut self, s: u64, port: Port, b: &Buf, offset: u64, bytes: u64) {
        if bytes > 0 {
            self.at(s).accesses.push(Access {
                port,
                region: b.region,
                addr: b.addr + offset,
                bytes,
            });
        }
    }
}

/// The SR-STE window of the batch of `take` elements from element `first`, groups of `m`
/// restarting at every row of `width` (the last row may be short): from lane 0's group to the
/// end of the last group a lane meets, as (first element, elements). The RTL's window
/// (`hw/src/group_window.rs`) starts there and holds these groups in every shape it runs.
pub fn window(m: u64, width: u64, elems: u64, first: u64, take: u64) -> (u64, u64) {
    let m = m.max(1);
    let group = |e: u64| {
        let row = e - e % width;
        let start = e - (e - row) % m;
        (start, (start + m).min(row + width).min(elems))
    };
    let start = group(first).0;
    let end = (first..first + take)
        .map(|e| group(e).1)
        .max()
        .unwrap_or(start);
    (start, end - start)
}

/// The passes a row operation makes over each row: the loss and the softmax three (max, Σe,
/// results), its gradient four (max, Σe, Σdy·y, results), layer norm two (Σx and Σx², results)
/// and its gradient three (Σx and Σx², Σdy and Σdy·y, results); `None` for the others.
pub fn row_passes(op: VecOp) -> Option<u64> {
    match op {
        VecOp::Loss { .. } | VecOp::Softmax | VecOp::NormGrad => Some(3),
        VecOp::SoftmaxGrad => Some(4),
        VecOp::Norm => Some(2),
        _ => None,
    }
}

/// The steps of vector operation `op` (sources `srcs`, destination `dst`, `elems` elements in
/// rows of `width`) on `arch`'s `lanes` lanes, or why the unit cannot run it.
pub fn steps(
    arch: &Arch,
    op: VecOp,
    srcs: &[Buf],
    dst: &Buf,
    elems: u64,
    width: u64,
) -> Result<Steps, String> {
    let lanes = arch.vector_lanes.max(1);
    let need = |n: usize| -> Result<(), String> {
        if srcs.len() < n {
            return Err(format!("{op:?} needs {n} sources, has {}", srcs.len()));
        }
        Ok(())
    };
    let mut s = Steps::default();
    match op {
        VecOp::Relu
        | VecOp::ReluGrad
        | VecOp::Add
        | VecOp::Fill
        | VecOp::Gelu
        | VecOp::GeluGrad
        | VecOp::Sgd { .. }
        | VecOp::MaskDecay { .. } => {
            // The sources on the read ports; MaskDecay's d stays at its one element.
            let (ports, fixed): (Vec<&Buf>, Option<&Buf>) = match op {
                VecOp::Relu | VecOp::Gelu => (srcs.iter().take(1).collect(), None),
                VecOp::GeluGrad => {
                    need(2)?;
                    (vec![&srcs[1], &srcs[0]], None)
                }
                VecOp::Fill => (vec![], None),
                VecOp::MaskDecay { .. } => {
                    need(1)?;
                    (vec![&srcs[0]], srcs.get(1))
                }
                VecOp::Sgd { .. } => {
                    need(3)?;
                    (srcs.iter().take(3).collect(), None)
                }
                _ if srcs.len() > 3 => {
                    return Err(format!(
                        "{op:?} of {} sources: the vector unit reads at most three a batch",
                        srcs.len()
                    ))
                }
                _ => (srcs.iter().collect(), None),
            };
            let nm = match op {
                VecOp::Sgd { srste: Some(d), .. } => Some(d.nm),
                VecOp::MaskDecay { nm } => Some(nm),
                _ => None,
            };
            if nm.is_some() && width == 0 {
                return Err(format!("{op:?}: N:M groups in rows of 0 elements"));
            }
            for b in 0..elems.div_ceil(lanes) {
                let (first, take) = (b * lanes, lanes.min(elems - b * lanes));
                for (p, src) in ports.iter().enumerate() {
                    s.push(b, Port::Read(p), src, 2 * first, 2 * take);
                }
                if let Some(d) = fixed {
                    s.push(b, Port::Read(1), d, 0, 2);
                }
                if let Some(nm) = nm {
                    let (start, len) = window(nm.m, width, elems, first, take);
                    s.push(b, Port::Window, &srcs[0], 2 * start, 2 * len);
                }
                s.push(b + 1, Port::Write(0), dst, 2 * first, 2 * take);
                if matches!(op, VecOp::Sgd { .. }) {
                    s.push(b + 1, Port::Write(1), dst, 2 * (elems + first), 2 * take);
                }
            }
        }
        VecOp::Loss { .. } | VecOp::Softmax | VecOp::Norm | VecOp::NormGrad => {
            let w = match op {
                VecOp::Loss { classes, .. } => classes,
                _ => width,
            };
            if w == 0 || !elems.is_multiple_of(w) {
                return Err(format!(
                    "{op:?} of {elems} elements in rows of {w}: the vector unit takes whole rows"
                ));
            }
            let passes = row_passes(op).expect("a row operation");
            // Port 0 the row (x), port 1 the loss's label or layer norm gradient's dy.
            let (x, second) = match op {
                VecOp::Loss { .. } => {
                    need(2)?;
                    (&srcs[0], Some(&srcs[1]))
                }
                VecOp::NormGrad => {
                    need(2)?;
                    (&srcs[1], Some(&srcs[0]))
                }
                _ => {
                    need(1)?;
                    (&srcs[0], None)
                }
            };
            let mut t = 0;
            for r in 0..elems / w {
                for pass in 0..passes {
                    for col in (0..w).step_by(lanes as usize) {
                        let (at, take) = (2 * (r * w + col), lanes.min(w - col));
                        s.push(t, Port::Read(0), x, at, 2 * take);
                        match (op, second) {
                            // The label joins only the gradients.
                            (VecOp::Loss { .. }, Some(l)) if pass == passes - 1 => {
                                s.push(t, Port::Read(1), l, 2 * r, 2)
                            }
                            // dy joins Σdy, Σdy·y and the gradients.
                            (VecOp::NormGrad, Some(dy)) if pass > 0 => {
                                s.push(t, Port::Read(1), dy, at, 2 * take)
                            }
                            _ => {}
                        }
                        if pass == passes - 1 {
                            s.push(t + 1, Port::Write(0), dst, at, 2 * take);
                        }
                        t += 1;
                    }
                }
            }
        }
        VecOp::SoftmaxGrad => {
            need(2)?;
            if width == 0 || !elems.is_multiple_of(width) {
                return Err(format!(
                    "{op:?} of {elems} elements in rows of {width}: the vector unit takes whole \
                     rows"
                ));
            }
            let (dy, x, rows) = (&srcs[0], &srcs[1], elems / width);
            let mut t = 0;
            for slot in 0..=rows {
                for pass in 0..2 {
                    for col in (0..width).step_by(lanes as usize) {
                        let take = lanes.min(width - col);
                        if slot > 0 {
                            let at = 2 * ((slot - 1) * width + col);
                            s.push(t, Port::Read(0), x, at, 2 * take);
                            s.push(t, Port::Read(1), dy, at, 2 * take);
                            if pass == 1 {
                                s.push(t + 1, Port::Write(0), dst, at, 2 * take);
                            }
                        }
                        if slot < rows {
                            s.push(t, Port::Read(2), x, 2 * (slot * width + col), 2 * take);
                        }
                        t += 1;
                    }
                }
            }
        }
        VecOp::Pool { .. } | VecOp::PoolGrad { .. } => {
            need(1)?;
            let taps = pool_taps(op).expect("pooling");
            let max = matches!(
                op,
                VecOp::Pool {
                    mode: PoolMode::Max,
                    ..
                }
            );
            if taps == 0 {
                return Err(format!("{op:?}: no taps"));
            }
            // Max pooling's gradient masks its taps by the argmax, on port 1.
            let arg = match op {
                VecOp::PoolGrad {
                    mode: PoolMode::Max,
                    ..
                } => {
                    need(2)?;
                    Some(&srcs[1])
                }
                _ => None,
            };
            let total = elems * taps;
            let mut outs = 0;
            for b in 0..total.div_ceil(lanes) {
                let (first, take) = (b * lanes, lanes.min(total - b * lanes));
                s.push(b, Port::Read(0), &srcs[0], 2 * first, 2 * take);
                if let Some(a) = arg {
                    s.push(b, Port::Read(1), a, 2 * first, 2 * take);
                }
                // Groups ending in this batch: their last element in [first, first + take).
                let ended = (first + take) / taps - outs;
                s.push(b + 1, Port::Write(0), dst, 2 * outs, 2 * ended);
                if max {
                    s.push(b + 1, Port::Write(1), dst, 2 * (elems + outs), 2 * ended);
                }
                outs += ended;
            }
        }
        VecOp::BatchStats
        | VecOp::BatchNorm { .. }
        | VecOp::BatchGradStats
        | VecOp::BatchNormGrad { .. } => {
            if width == 0 || !elems.is_multiple_of(width) {
                return Err(format!(
                    "{op:?} of {elems} elements in rows of {width}: the vector unit takes whole \
                     rows"
                ));
            }
            let stats_op = matches!(op, VecOp::BatchStats | VecOp::BatchGradStats);
            let grad = matches!(op, VecOp::BatchGradStats | VecOp::BatchNormGrad { .. });
            let k = 1 + grad as usize;
            need(if matches!(op, VecOp::BatchNormGrad { .. }) {
                4
            } else {
                k + 1
            })?;
            // Ports 0 and 1 the rows (x twice for the statistics, or dy and y), port 2 the
            // accumulator or the statistics, port 1 BatchNormGrad's gradient statistics.
            let (a, b, st) = (&srcs[0], &srcs[k - 1], &srcs[k]);
            let rows = elems / width;
            let mut t = 0;
            for c0 in (0..width).step_by(lanes as usize) {
                let nb = lanes.min(width - c0);
                let row_phase = |s: &mut Steps, t: &mut u64| {
                    for r in 0..rows {
                        let at = 2 * (r * width + c0);
                        s.push(*t, Port::Read(0), a, at, 2 * nb);
                        if stats_op || grad {
                            s.push(*t, Port::Read(1), b, at, 2 * nb);
                        }
                        if !stats_op {
                            s.push(*t + 1, Port::Write(0), dst, at, 2 * nb);
                        }
                        *t += 1;
                    }
                };
                let column_phase = |s: &mut Steps, t: &mut u64| {
                    for j in 0..nb {
                        let at = STATS_BYTES * (c0 + j);
                        s.push(*t, Port::Read(2), st, at, STATS_BYTES);
                        if stats_op {
                            s.push(*t + 1, Port::Write(0), dst, at, STATS_BYTES);
                        } else if grad {
                            s.push(*t, Port::Read(1), &srcs[3], at, STATS_BYTES);
                        }
                        *t += 1;
                    }
                };
                if stats_op {
                    row_phase(&mut s, &mut t);
                    column_phase(&mut s, &mut t);
                } else {
                    column_phase(&mut s, &mut t);
                    row_phase(&mut s, &mut t);
                }
            }
        }
    }
    Ok(s)
}
