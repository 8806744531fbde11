//! The stride phases of a transposed convolution: the BP of a stride-s convolution (and of a
//! pooling layer) splits its input gradient into the s² phases (a, b) of positions with
//! `(ih + p) mod s = a`, `(iw + p) mod s = b`; each is a stride-1 window over the output
//! gradient with the kernel taps `dy ≡ a`, `dx ≡ b` (mod s), flipped (see [`crate::isa`]), and
//! its pixels are scattered to their places. Phases without taps are zero-filled.

use crate::isa::{phase_taps, Im2col};

/// A convolution's spatial geometry.
#[derive(Clone, Copy)]
pub(super) struct Conv {
    pub in_h: u64,
    pub in_w: u64,
    pub out_h: u64,
    pub out_w: u64,
    pub stride: u64,
    pub padding: u64,
}

/// The input positions of one stride phase along one axis: `count` positions
/// `ih = (lo + q)·s + a − p`, q < count, that use the kernel's `taps` positions a, a+s, …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PhaseAxis {
    pub a: u64,
    pub taps: u64,
    pub lo: u64,
    pub count: u64,
}

/// The phases of one axis of a stride-`s` transposed convolution over `n_in` input positions.
fn phase_axes(n_in: u64, kernel: u64, s: u64, p: u64) -> Vec<PhaseAxis> {
    (0..s)
        .map(|a| {
            let lo = if p >= a { (p - a).div_ceil(s) } else { 0 };
            let hi = (n_in + p).saturating_sub(a).div_ceil(s);
            PhaseAxis {
                a,
                taps: phase_taps(kernel, a, s),
                lo,
                count: hi.saturating_sub(lo),
            }
        })
        .collect()
}

/// The s² phases (a, b) that have input positions, row phase outer.
pub(super) fn stride_phases(c: &Conv, kh: u64, kw: u64) -> Vec<(PhaseAxis, PhaseAxis)> {
    let rows = phase_axes(c.in_h, kh, c.stride, c.padding);
    let cols = phase_axes(c.in_w, kw, c.stride, c.padding);
    rows.iter()
        .flat_map(|&r| cols.iter().map(move |&c| (r, c)))
        .filter(|(r, c)| r.count > 0 && c.count > 0)
        .collect()
}

/// The pixels of a stride phase in the `[batch][in_h][in_w][pixel_elems]` input gradient: a
/// 1×1 view whose grid is the phase's, for the scatter that stores them.
pub(super) fn phase_grid(
    c: &Conv,
    batch: u64,
    pixel_elems: u64,
    channels: u64,
    (r, q): (PhaseAxis, PhaseAxis),
) -> Im2col {
    let s = c.stride;
    let pad = |x: PhaseAxis| c.padding as i64 - x.a as i64 - (x.lo * s) as i64;
    Im2col {
        pixel_elems,
        channels,
        images: batch,
        in_h: c.in_h,
        in_w: c.in_w,
        out_h: r.count,
        out_w: q.count,
        kh: 1,
        kw: 1,
        stride: s,
        pad_h: pad(r),
        pad_w: pad(q),
        block: 1,
        pad_value: 0,
    }
}

/// The input of a stride phase: the stride-1 window view of the `[batch][out_h][out_w]
/// [pixel_elems]` output gradient over the phase's grid, taps flipped (see [`crate::isa`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn phase_window(
    c: &Conv,
    batch: u64,
    pixel_elems: u64,
    channels: u64,
    block: u64,
    pad_value: i16,
    (r, q): (PhaseAxis, PhaseAxis),
) -> Im2col {
    Im2col {
        pixel_elems,
        channels,
        images: batch,
        in_h: c.out_h,
        in_w: c.out_w,
        out_h: r.count,
        out_w: q.count,
        kh: r.taps,
        kw: q.taps,
        stride: 1,
        pad_h: r.taps as i64 - 1 - r.lo as i64,
        pad_w: q.taps as i64 - 1 - q.lo as i64,
        block,
        pad_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::ConvBp;

    fn conv(n: u64, k: u64, s: u64, p: u64) -> Conv {
        let out = (n + 2 * p - k) / s + 1;
        Conv {
            in_h: n,
            in_w: n,
            out_h: out,
            out_w: out,
            stride: s,
            padding: p,
        }
    }

    /// Every input position lies in exactly one phase, and a phase's taps are the kernel
    /// positions that reach it: the phases partition both the input and the kernel.
    #[test]
    fn stride_phases_partition_the_input_and_the_kernel() {
        for (n, k, s, p) in [
            (8, 3, 1, 1),
            (8, 3, 2, 1),
            (5, 3, 2, 1),
            (4, 1, 2, 0),
            (9, 7, 2, 3),
            (6, 2, 2, 0),
            (7, 4, 3, 1),
            (3, 3, 1, 0),
        ] {
            let c = conv(n, k, s, p);
            let phases = stride_phases(&c, k, k);
            let mut seen = vec![0; (n * n) as usize];
            for &ph in &phases {
                let grid = phase_grid(&c, 1, 1, 1, ph);
                for px in 0..grid.pixels() {
                    seen[grid.source(px, 0, 0).unwrap() as usize] += 1;
                }
            }
            assert!(seen.iter().all(|&x| x == 1), "n={n} k={k} s={s} p={p}");
            let axes = phase_axes(n, k, s, p);
            assert_eq!(axes.iter().map(|a| a.taps).sum::<u64>(), k);
            // The window of a phase position reaches exactly the outputs whose window holds it.
            for &ph in &phases {
                let (win, grid) = (
                    phase_window(&c, 1, 1, 1, 1, 0, ph),
                    phase_grid(&c, 1, 1, 1, ph),
                );
                let bp = ConvBp {
                    out_ch: 1,
                    in_ch: 1,
                    kh: k,
                    kw: k,
                    stride: s,
                    phase_h: ph.0.a,
                    phase_w: ph.1.a,
                    block: 1,
                };
                for px in 0..grid.pixels() {
                    let pix = grid.source(px, 0, 0).unwrap();
                    let (ih, iw) = (pix / n, pix % n);
                    for kk in 0..win.k() {
                        let (_, u, v) = win.k_index(kk);
                        let (_, dy, dx) = bp.k_index(kk);
                        if let Some(o) = win.source(px, u, v) {
                            let (oh, ow) = (o / c.out_w, o % c.out_w);
                            assert_eq!(oh * s + dy, ih + p, "n={n} k={k} s={s} p={p}");
                            assert_eq!(ow * s + dx, iw + p);
                        }
                    }
                }
            }
        }
        let c = conv(4, 1, 2, 0);
        let taps: Vec<u64> = stride_phases(&c, 1, 1)
            .iter()
            .map(|(r, q)| r.taps * q.taps)
            .collect();
        assert_eq!(taps, vec![1, 0, 0, 0]);
    }
}
