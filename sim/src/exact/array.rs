//! The exact model of the PE array: one GEMM executed register by register, cycle by cycle.
//!
//! Every PE is a set of registers; each cycle every register is loaded from the previous
//! cycle's values of its own PE and of its neighbours (the rows are updated bottom-up and each
//! row right to left, so a neighbour read is always still last cycle's value). The edges are
//! small controllers: the feeders that issue the streams and the output buffer that takes the
//! results. Data never moves except through these registers; the only shortcut is that an
//! activation register holds a *reference* into the input stream (the fetched column / M-group
//! and the column index) instead of a copy of the M values it names.
//!
//! # Weight-stationary
//!
//! ```text
//!              top edge: weight bus, one array row a cycle; column c delayed c cycles
//!                  │ w              │ w                  partial sums enter as 0
//!                  ▼                ▼
//!  feeder ─[skew 0]──► PE(0,0) ──a──► PE(0,1) ──a──► … PE(0,C−1)
//!  (input           │ ps, w         │ ps, w
//!  banks) ─[skew 1]──► PE(1,0) ──a──► PE(1,1) ──a──► …
//!     ⋮               ⋮               ⋮
//!         ─[skew R−1]► PE(R−1,0) ──► …           ──► PE(R−1,C−1)
//!                      │ ps                           │ ps
//!                      ▼                              ▼
//!              bottom edge: output buffer y, read-modify-write (folds accumulate here)
//!
//!  one PE:       w-chain in   ps in
//!                    │          │
//!           ┌────────▼──────────▼──────────────────────┐
//!  a, flags │  sh,idx' ──switch──► w,idx               │ a, flags
//!  ────────►│  a ──► M:1 mux (idx) ──► × w ──► + ps ───┼────────►
//!           └────────┬──────────────────────┬──────────┘
//!                    ▼ w-chain out          ▼ ps out
//! ```
//!
//! A *fold* is an R (reduction) × C (output row) weight tile. Fold f's weights enter the top
//! edge one array row a cycle (the row for PE row R−1 first) and shift down the shadow
//! registers, each value stopping at its row: the shadow chain of PE (i, c) is written from
//! cycle W+c+i to W+c+R−1 when the preload starts at W. The *switch* flag (shadow → active)
//! rides on the first stream slot of the fold, so it reaches PE (i, c) at X+i+c when the slot
//! leaves the feeder at X. Two rules follow and the controller obeys them:
//! - a fold's stream may open only when its preload is complete, X ≥ W+R (row 0 takes its
//!   last shadow value at W+R−1+c and the switch must read it the cycle after);
//! - the next preload may start in the cycle the switch leaves the feeder, W' ≥ X (its first
//!   write to PE (i, c), at W'+c+i, is then no earlier than the switch reading that register).
//!
//! So fold f+1 opens max(p·t, R) cycles after fold f, the first preload R is exposed, and the
//! last column's result leaves PE (R−1, C−1) R−1+C−1 cycles after entering it:
//!
//! ```text
//! R  +  Σ_{f<F−1} max(p_f·t, R)  +  p_{F−1}·t  +  (R−1)  +  (C−1)
//! ```
//!
//! # Output-stationary
//!
//! ```text
//!                 top edge: activations (input banks), column c delayed c cycles
//!                      │ a                 │ a
//!  weights ─[skew 0]──► PE(0,0) ──w,fl──► PE(0,1) ──► … ──► out ──► output buffer y
//!  (weight  ─[skew 1]──► PE(1,0) ──w,fl──► PE(1,1) ──► … ──► out ──► output buffer y
//!  region)      ⋮            │ a               │ a
//!
//!  one PE:  w, idx, flags ──► [acc += w × mux(a, idx)] ──► w, idx, flags
//!                 a ──┘        │ last: out ← acc
//!           out ◄── out of the PE to the left, while the row's drain token has not passed
//! ```
//!
//! A fold is an R (output row) × C (output column) tile. Weights stream in at the left edge
//! (from the weight region, one array column a cycle, as WS's weight bus gives one row),
//! activations at the top (from the input banks), and each PE accumulates one output over the
//! K' steps. The step's *first* flag restarts the accumulator; its *last* flag makes each PE
//! copy the accumulator into its output register. When the capture wave has reached a row's
//! end, the row's output registers shift right into the output buffer behind a drain token
//! that sweeps the row in C cycles; a register is free again once the token has passed it, so
//! the next fold's capture wave may follow C cycles behind the previous one (the feeder holds
//! a fold's last step until then), and the last result leaves C cycles after the last row's
//! capture wave reached column C−1:
//!
//! ```text
//! L  +  (F−1)·max(L, C)  +  (R−1)  +  (C−1)  +  C
//! L = K'·p (dense)   or   ⌈k/M⌉·(p_group + N − 1) (N:M)       cycles of one fold's steps
//! ```
//!
//! # Input bandwidth
//!
//! The feeder fetches each slot's activations through the input banks, `banks × width` bytes
//! a cycle; a slot needing more takes p = ⌈bytes / (banks·width)⌉ cycles (beats) and enters
//! the array on its last beat, the cycles before carry a bubble. A fold's fetches start when
//! the fold opens: the feeder does not prefetch under a preload or a drain. The fetch width is
//! fixed by the array's geometry, not trimmed at the edges of the matrices: WS fetches R values
//! a column (dense) or every M-group its R compressed rows span (⌈R/N⌉ when N divides R, one
//! more in folds that begin inside a group); OS fetches C values a step (dense) or, at the
//! first step of each M-group, the C M-groups of its columns, which then serve N steps.
//!
//! `bank_stall` counts the fetch cycles of a fold beyond the length it would have at one slot
//! a cycle: t columns and, if another fold follows, the R cycles of its preload (WS); K' steps
//! and, after the first fold, the C cycles of the previous drain (OS).

use crate::piuma::timing::stream_cycles;
use nmsat_compiler::arch::{Arch, Dataflow};
use nmsat_compiler::datapath;
use nmsat_compiler::prune::{self, Nm};
use nmsat_compiler::timing;
use std::borrow::Cow;

/// What one GEMM did on the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayRun {
    /// Cycles from the op's first cycle through the one in which its last result leaves the
    /// array.
    pub cycles: u64,
    /// MACs PEs performed on real operands (output row < m, reduction position < K'):
    /// m·k·t dense, m·K'·t sparse.
    pub macs: u64,
    /// Cycles the left-edge feeder waited on input bandwidth: fetch cycles beyond what the
    /// fold would have needed at one slot a cycle.
    pub bank_stall: u64,
}

/// `y[m×t] (+)= w[m×k] · x[k×t]`, executed PE by PE, cycle by cycle.
///
/// `w` is the weight region's bytes: dense, row-major `[m × k]` INT16 little-endian; sparse
/// (`Some(nm)`), m rows of ⌈k/M⌉ groups each in the packed format of [`prune::pack_row`] (row
/// stride ⌈k/M⌉·[`prune::group_bytes`]). `x` is row-major `[k × t]` INT16 and `y` row-major
/// `[m × t]` INT32; with `accumulate` false, `y` is overwritten.
///
/// # Panics
/// If a dimension is 0, a buffer is too short, M exceeds the array's `mux_lanes`, or a packed
/// index does not fit its M-group.
/// With `placed` saying where the operands lie, a weight-stationary GEMM with an operand on a
/// physically banked region fetches each column, each preload row and each slot's results in
/// their bank degrees ([`timing::WsPlaced`]); `None` is ideal banks.
#[allow(clippy::too_many_arguments)] // the Gemm instruction's own operand list
pub fn run_gemm(
    arch: &Arch,
    m: usize,
    k: usize,
    t: usize,
    sparsity: Option<Nm>,
    w: &[u8],
    x: &[i16],
    y: &mut [i32],
    accumulate: bool,
    placed: Option<timing::GemmPlacement>,
) -> ArrayRun {
    assert!(m > 0 && k > 0 && t > 0, "empty GEMM {m}×{k}×{t}");
    assert_eq!(x.len(), k * t, "x must be k×t = {k}×{t}");
    assert_eq!(y.len(), m * t, "y must be m×t = {m}×{t}");
    if let Some(nm) = sparsity {
        assert!(
            nm.m <= arch.mux_lanes,
            "{nm} needs an {}:1 mux, the array has {} lanes",
            nm.m,
            arch.mux_lanes
        );
    }
    let ops = Operands::new(m, k, t, sparsity, w, x);
    let out = Output { y, accumulate };
    let columns = EdgeBeats::new(arch, m, k, t, sparsity, placed);
    match (arch.dataflow, sparsity) {
        (Dataflow::WeightStationary, None) => ws::<Dense>(arch, &ops, out, columns),
        (Dataflow::WeightStationary, Some(_)) => ws::<Grouped>(arch, &ops, out, columns),
        (Dataflow::OutputStationary, None) => os::<Dense>(arch, &ops, out),
        (Dataflow::OutputStationary, Some(_)) => os::<Grouped>(arch, &ops, out),
    }
}

/// The operands as the array's buffers present them.
struct Operands<'a> {
    m: usize,
    k: usize,
    t: usize,
    /// Reduction positions the array steps through: k dense, K' = ⌈k/M⌉·N sparse.
    kk: usize,
    /// (N, M) in sparse mode.
    nm: Option<(usize, usize)>,
    /// Weight of (output row o, reduction position q) at `o·kk + q`.
    wv: Vec<i16>,
    /// Sparse: the mux select of that weight as an offset into `xs`, index·t.
    wsel: Vec<u32>,
    /// Activations as the feeder reads them: `x` itself dense; sparse, padded with zero rows
    /// to whole M-groups plus one all-zero group.
    xs: Cow<'a, [i16]>,
    /// Sparse: reference (offset into `xs`) of the all-zero group.
    zero_ref: u32,
}

impl<'a> Operands<'a> {
    fn new(
        m: usize,
        k: usize,
        t: usize,
        sparsity: Option<Nm>,
        w: &[u8],
        x: &'a [i16],
    ) -> Operands<'a> {
        let Some(nm) = sparsity else {
            assert!(w.len() >= 2 * m * k, "weights: {} bytes < m·k·2", w.len());
            let wv = w[..2 * m * k]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            return Operands {
                m,
                k,
                t,
                kk: k,
                nm: None,
                wv,
                wsel: Vec::new(),
                xs: Cow::Borrowed(x),
                zero_ref: 0,
            };
        };
        let (n, mm) = (nm.n as usize, nm.m as usize);
        let groups = k.div_ceil(mm);
        let kk = groups * n;
        let stride = groups * prune::group_bytes(nm);
        assert!(
            w.len() >= m * stride,
            "packed weights: {} bytes < m·{stride}",
            w.len()
        );
        let (mut wv, mut wsel) = (vec![0i16; m * kk], vec![0u32; m * kk]);
        for o in 0..m {
            let row = &w[o * stride..(o + 1) * stride];
            for g in 0..groups {
                for (s, (idx, v)) in prune::unpack_group(row, nm, g).into_iter().enumerate() {
                    assert!(
                        idx < mm,
                        "row {o} group {g}: index {idx} outside a {mm}-group"
                    );
                    wv[o * kk + g * n + s] = v;
                    wsel[o * kk + g * n + s] = (idx * t) as u32;
                }
            }
        }
        let mut xs = vec![0i16; (groups + 1) * mm * t];
        assert!(
            xs.len() <= u32::MAX as usize,
            "input too large for 32-bit references"
        );
        xs[..k * t].copy_from_slice(x);
        Operands {
            m,
            k,
            t,
            kk,
            nm: Some((n, mm)),
            wv,
            wsel,
            xs: Cow::Owned(xs),
            zero_ref: (groups * mm * t) as u32,
        }
    }

    /// The weight and mux select of output row `o` at reduction position `q`; zero outside
    /// the matrix (padding PEs hold weight 0).
    fn weight(&self, o: usize, q: usize) -> (i16, u32) {
        if o >= self.m || q >= self.kk {
            return (0, 0);
        }
        let at = o * self.kk + q;
        (self.wv[at], self.wsel.get(at).copied().unwrap_or(0))
    }
}

/// An activation register's content: what the feeder put on the wire, and how the PE gets
/// its operand from it.
trait Lane: Copy + Default {
    /// The activation of reduction position `q` (dense row / compressed position) in column
    /// `j`; zero outside the matrix.
    fn at(ops: &Operands, q: usize, j: usize) -> Self;
    /// An empty slot.
    fn bubble(ops: &Operands) -> Self;
    /// The PE's operand: the value itself, or the lane its M:1 mux selects.
    fn pick(self, sel: u32, xs: &[i16]) -> i16;
}

/// Dense: the register holds the INT16 value.
#[derive(Clone, Copy, Default)]
struct Dense(i16);

impl Lane for Dense {
    fn at(ops: &Operands, q: usize, j: usize) -> Self {
        if q < ops.k && j < ops.t {
            Dense(ops.xs[q * ops.t + j])
        } else {
            Dense(0)
        }
    }
    fn bubble(_: &Operands) -> Self {
        Dense(0)
    }
    #[inline(always)]
    fn pick(self, _: u32, _: &[i16]) -> i16 {
        self.0
    }
}

/// N:M: the register names an M-group of one column (offset of its lane 0 in `xs`); the PE's
/// mux adds its weight's index·t.
#[derive(Clone, Copy, Default)]
struct Grouped(u32);

impl Lane for Grouped {
    fn at(ops: &Operands, q: usize, j: usize) -> Self {
        let (n, mm) = ops.nm.expect("grouped lanes are sparse");
        if q < ops.kk && j < ops.t {
            Grouped(((q / n) * mm * ops.t + j) as u32)
        } else {
            Grouped(ops.zero_ref)
        }
    }
    fn bubble(ops: &Operands) -> Self {
        Grouped(ops.zero_ref)
    }
    #[inline(always)]
    fn pick(self, sel: u32, xs: &[i16]) -> i16 {
        xs[(self.0 + sel) as usize]
    }
}

/// Slot flags, travelling with the stream.
pub const VALID: u8 = 1;
/// WS: swap shadow and active weight.
pub const SWITCH: u8 = 2;
/// OS: the fold's first step (the accumulator restarts).
const FIRST: u8 = 2;
/// OS: the fold's last step (the accumulator is captured for draining).
const LAST: u8 = 4;

/// One stream slot as it leaves a feeder.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Slot {
    pub fold: u32,
    /// WS: the column j; OS: the reduction step q.
    pub pos: u32,
    pub flags: u8,
}

/// The skew registers of an edge: slot issued at cycle τ reaches lane `d` at τ+d. A triangle
/// of delay registers holds exactly what a ring of the last issues does.
struct Skew<T> {
    ring: Vec<T>,
    mask: usize,
}

impl<T: Copy + Default> Skew<T> {
    fn new(depth: usize) -> Skew<T> {
        let n = (depth + 1).next_power_of_two();
        Skew {
            ring: vec![T::default(); n],
            mask: n - 1,
        }
    }
    fn issue(&mut self, tau: u64, v: T) {
        self.ring[tau as usize & self.mask] = v;
    }
    /// What lane `d` sees in cycle `tau` (an empty slot before the op began).
    fn lane(&self, tau: u64, d: usize) -> T {
        if (d as u64) > tau {
            return T::default();
        }
        self.ring[(tau as usize - d) & self.mask]
    }
}

/// Cycles to fetch `bytes` through the input banks (a stream through the input region's
/// banked scratchpad).
fn beats(arch: &Arch, bytes: usize) -> usize {
    stream_cycles(&arch.input.scratchpad(), bytes as u64).max(1) as usize
}

/// The output buffer: results leaving the array are written or added here.
struct Output<'y> {
    y: &'y mut [i32],
    accumulate: bool,
}

impl Output<'_> {
    /// Read-modify-write of one result; `first` is the first contribution to it in this op.
    #[inline]
    fn put(&mut self, at: usize, v: i32, first: bool) {
        self.y[at] = if first && !self.accumulate {
            v
        } else {
            self.y[at].wrapping_add(v)
        };
    }
}

// ---------------------------------------------------------------------------------------------
// Weight-stationary

/// A weight-stationary PE's registers.
#[derive(Clone, Copy, Default)]
struct WsPe<L> {
    /// Activation (reference) and its flags, passed right.
    a: L,
    fl: u8,
    /// Active weight and mux select.
    w: i16,
    sel: u32,
    /// Shadow weight chain: value, select and the PE row it is bound for (moving down while
    /// that row is below this one).
    sh: i16,
    sh_sel: u32,
    sh_dest: i16,
    /// Partial sum, passed down.
    ps: i32,
}

/// Cycles each feeder column and each preload row takes. On ideal banks one figure per
/// reduction fold (`⌈bytes / (banks·width)⌉`, as [`timing::ws_column_beats`]) and one cycle a
/// preload row; with an operand on a physically banked region, per fold, one
/// [`timing::WsPlaced::column_period`] of column degrees and the R preload steps.
pub struct EdgeBeats {
    /// Indexed by fold modulo its length (one per reduction fold, or one per fold).
    columns: Vec<Vec<usize>>,
    preload: Vec<Vec<usize>>,
    /// Cycles the edges run late ([`timing::ws_fetch_lead`]).
    lead: u64,
    /// Per output block, one period of its slots' [`timing::ws_output_tail`] as if each slot's
    /// `y` degree were the largest yet: the cycles after the slot leaves the grid in which its
    /// write ends (all 0 on an ideal `y`).
    tails: Vec<Vec<u64>>,
}

impl EdgeBeats {
    /// The beats of `y[m×t] += w·x[k×t]` placed as `placed` says (None: ideal).
    pub fn new(
        arch: &Arch,
        m: usize,
        k: usize,
        t: usize,
        sparsity: Option<Nm>,
        placed: Option<timing::GemmPlacement>,
    ) -> EdgeBeats {
        if let Some(at) = placed.filter(timing::GemmPlacement::physical) {
            let g = timing::WsPlaced {
                arch,
                m: m as u64,
                k: k as u64,
                t: t as u64,
                sparsity,
                at,
            };
            let period = g.column_period().min(t as u64);
            let folds = 0..g.folds();
            return EdgeBeats {
                columns: folds
                    .clone()
                    .map(|f| (0..period).map(|j| g.column(f, j) as usize).collect())
                    .collect(),
                preload: folds
                    .map(|f| {
                        (0..arch.rows)
                            .map(|s| g.preload_step(f, s) as usize)
                            .collect()
                    })
                    .collect(),
                lead: timing::ws_fetch_lead(&at),
                tails: (0..g.m.div_ceil(arch.cols))
                    .map(|nb| {
                        (0..period)
                            .map(|j| timing::ws_output_tail(&at, g.y_degree(nb, j)))
                            .collect()
                    })
                    .collect(),
            };
        }
        let kk = timing::effective_k(k as u64, sparsity) as usize;
        Self::ideal(arch, kk, sparsity.map(|nm| (nm.n as usize, nm.m as usize)))
    }

    /// The beats on ideal banks of a GEMM of reduction K' = `kk` (`nm` = (N, M) sparse): a
    /// column carries R values, or every M-group that the fold's R compressed rows span —
    /// ⌈R/N⌉ when N divides R, one more in folds that start inside a group.
    pub fn ideal(arch: &Arch, kk: usize, nm: Option<(usize, usize)>) -> EdgeBeats {
        let r = arch.rows as usize;
        EdgeBeats {
            columns: (0..kk.div_ceil(r))
                .map(|kb| {
                    vec![match nm {
                        None => beats(arch, 2 * r),
                        Some((n, mm)) => {
                            let q0 = kb * r;
                            beats(arch, 2 * mm * ((q0 + r - 1) / n - q0 / n + 1))
                        }
                    }]
                })
                .collect(),
            preload: vec![vec![1]],
            lead: 0,
            tails: vec![vec![0]],
        }
    }

    fn column(&self, fold: usize, col: usize) -> usize {
        let f = &self.columns[fold % self.columns.len()];
        f[col % f.len()]
    }

    fn preload(&self, fold: usize, step: usize) -> usize {
        let f = &self.preload[fold % self.preload.len()];
        f[step % f.len()]
    }
}

/// The weight-stationary edge controller: the left-edge feeder that streams each fold's
/// columns and the weight bus that preloads the next fold.
struct WsFeeder {
    r: usize,
    t: usize,
    folds: usize,
    /// Beats of each column and preload row.
    beats: EdgeBeats,
    /// Left edge: the fold streaming or next to open, whether it is open, since when, the
    /// next column and the beats of it fetched.
    fold: usize,
    open: bool,
    opened_at: u64,
    col: usize,
    beat: usize,
    /// Folds whose switch flag has left the feeder.
    switched: usize,
    /// Weight bus: the fold it preloads, the next array row, whether a preload is running.
    pre_fold: usize,
    pre_row: usize,
    pre_beat: usize,
    pre_on: bool,
    /// Folds whose preload is complete.
    preloaded: usize,
    bank_stall: u64,
}

/// One array row on the weight bus: fold and row number within the preload (row R−1 first).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct PreRow {
    pub on: bool,
    pub fold: u32,
    pub step: u16,
}

impl WsFeeder {
    /// The slot the left edge issues and the row the weight bus issues in cycle `tau`.
    fn tick(&mut self, tau: u64) -> (Slot, PreRow) {
        let mut slot = Slot::default();
        // A fold opens once its weights are all in the shadow registers and the previous fold
        // has sent its last column; its first slot carries the switch.
        if !self.open && self.fold < self.folds && self.preloaded > self.fold {
            self.open = true;
            self.opened_at = tau;
            self.col = 0;
            self.beat = 0;
            self.switched = self.fold + 1;
            slot.flags = SWITCH;
        }
        if self.open {
            // Without bank conflicts a fold takes t cycles, and R if the next fold's preload
            // is longer; a fetch cycle beyond that is lost to bandwidth.
            let free = if self.fold + 1 == self.folds {
                self.t
            } else {
                self.t.max(self.r)
            };
            if tau - self.opened_at >= free as u64 {
                self.bank_stall += 1;
            }
            slot.fold = self.fold as u32;
            self.beat += 1;
            if self.beat == self.beats.column(self.fold, self.col) {
                slot.flags |= VALID;
                slot.pos = self.col as u32;
                self.col += 1;
                self.beat = 0;
                if self.col == self.t {
                    self.open = false;
                    self.fold += 1;
                }
            }
        }
        // The next preload may start as soon as the previous fold's switch has left: the
        // chain writes trail the switch wave through every PE.
        let mut pre = PreRow::default();
        if !self.pre_on && self.pre_fold < self.folds && self.switched >= self.pre_fold {
            self.pre_on = true;
            self.pre_row = 0;
        }
        if self.pre_on {
            // A row goes out once its weights are fetched.
            self.pre_beat += 1;
            if self.pre_beat == self.beats.preload(self.pre_fold, self.pre_row) {
                self.pre_beat = 0;
                pre = PreRow {
                    on: true,
                    fold: self.pre_fold as u32,
                    step: self.pre_row as u16,
                };
                self.pre_row += 1;
                if self.pre_row == self.r {
                    self.pre_on = false;
                    self.pre_fold += 1;
                    self.preloaded = self.pre_fold;
                }
            }
        }
        (slot, pre)
    }
}

/// The edges of the weight-stationary array for one GEMM: the left-edge feeder and the weight
/// bus with their skew registers. Public so that the RTL PE grid can be driven by exactly the
/// schedule this model's grid sees.
pub struct WsEdges {
    feeder: WsFeeder,
    left: Skew<Slot>,
    top: Skew<PreRow>,
    /// Reduction folds ⌈K'/R⌉ per block of C output rows.
    pub k_folds: usize,
    /// All folds.
    pub folds: usize,
}

impl WsEdges {
    /// The edges of `y[m×t] += w[m×k']·x[k'×t]` on `arch` (`kk` = K', `nm` = (N, M) sparse),
    /// on ideal banks.
    pub fn new(arch: &Arch, m: usize, kk: usize, t: usize, nm: Option<(usize, usize)>) -> Self {
        Self::with_beats(arch, m, kk, t, EdgeBeats::ideal(arch, kk, nm))
    }

    /// The edges with the given fetch beats.
    pub fn with_beats(arch: &Arch, m: usize, kk: usize, t: usize, beats: EdgeBeats) -> Self {
        let (r, c) = (arch.rows as usize, arch.cols as usize);
        let k_folds = kk.div_ceil(r);
        let folds = k_folds * m.div_ceil(c);
        WsEdges {
            feeder: WsFeeder {
                r,
                t,
                folds,
                beats,
                fold: 0,
                open: false,
                opened_at: 0,
                col: 0,
                beat: 0,
                switched: 0,
                pre_fold: 0,
                pre_row: 0,
                pre_beat: 0,
                pre_on: false,
                preloaded: 0,
                bank_stall: 0,
            },
            left: Skew::new(r + c),
            top: Skew::new(c),
            k_folds,
            folds,
        }
    }

    /// Issues cycle `tau`'s slot and weight-bus row (call once per cycle, in order).
    pub fn tick(&mut self, tau: u64) {
        let (slot, pre) = self.feeder.tick(tau);
        self.left.issue(tau, slot);
        self.top.issue(tau, pre);
    }

    /// The slot PE row `row` takes in cycle `tau` (the feeder's, `row` cycles late); the
    /// bottom row's column `c` result of cycle `tau` belongs to `left(tau, R−1+c)`.
    pub fn left(&self, tau: u64, row: usize) -> Slot {
        self.left.lane(tau, row)
    }

    /// The weight-bus row column `col` takes in cycle `tau` (`col` cycles late).
    pub fn top(&self, tau: u64, col: usize) -> PreRow {
        self.top.lane(tau, col)
    }

    /// Feeder cycles lost to input bandwidth so far.
    pub fn bank_stall(&self) -> u64 {
        self.feeder.bank_stall
    }
}

/// Runs a GEMM on the weight-stationary array until the last result has left it.
fn ws<L: Lane>(arch: &Arch, ops: &Operands, mut out: Output, mut columns: EdgeBeats) -> ArrayRun {
    let (r, c) = (arch.rows as usize, arch.cols as usize);
    // The edges' sets are fetched `lead` cycles late; everything after keeps its spacing.
    let lead = columns.lead;
    // The output buffer ends slot j's write X_j = max_{i≤j} tail_i cycles after the slot
    // leaves (`timing::ws_output_tail`); the last write ends the GEMM.
    let tails = std::mem::take(&mut columns.tails);
    let (mut offset, mut written) = (0u64, 0u64);
    let (m, t, kk) = (ops.m, ops.t, ops.kk);
    let mut edges = WsEdges::with_beats(arch, m, kk, t, columns);
    let (k_folds, folds) = (edges.k_folds, edges.folds);
    let mut grid = vec![WsPe::<L>::default(); r * c];
    // Row −1: the top edge's drivers (weight chain input, partial sums of 0).
    let mut edge = vec![
        WsPe::<L> {
            sh_dest: -1,
            ..WsPe::default()
        };
        c
    ];
    let xs: &[i16] = &ops.xs;
    let rows_of = |kb: usize| r.min(kk - kb * r) as u64;
    let (mut macs, mut left_array) = (0u64, 0u64);
    let mut tau: u64 = 0;
    loop {
        edges.tick(tau);
        for (cc, e) in edge.iter_mut().enumerate() {
            let p = edges.top(tau, cc);
            if p.on {
                let f = p.fold as usize;
                let dest = r - 1 - p.step as usize;
                let (w, sel) = ops.weight((f / k_folds) * c + cc, (f % k_folds) * r + dest);
                (e.sh, e.sh_sel, e.sh_dest) = (w, sel, dest as i16);
            } else {
                e.sh_dest = -1;
            }
        }
        for i in (0..r).rev() {
            let s = edges.left(tau, i);
            let a_in = if s.flags & VALID != 0 {
                L::at(ops, (s.fold as usize % k_folds) * r + i, s.pos as usize)
            } else {
                L::bubble(ops)
            };
            let (up, rest) = grid.split_at_mut(i * c);
            let above = if i == 0 {
                &edge[..]
            } else {
                &up[(i - 1) * c..]
            };
            ws_row(&mut rest[..c], above, i as i16, a_in, s.flags, xs);
        }
        // Bottom edge: results of valid slots leave PE row R−1.
        let bottom = &grid[(r - 1) * c..];
        for (cc, pe) in bottom.iter().enumerate() {
            if pe.fl & VALID == 0 {
                continue;
            }
            let s = edges.left(tau, r - 1 + cc);
            let (nb, kb) = (s.fold as usize / k_folds, s.fold as usize % k_folds);
            let o = nb * c + cc;
            if o < m {
                out.put(o * t + s.pos as usize, pe.ps, kb == 0);
                // The result carries one MAC from every PE row holding a real weight.
                macs += rows_of(kb);
            }
            if cc == c - 1 {
                left_array += 1;
                let b = &tails[nb % tails.len()];
                offset = offset.max(b[s.pos as usize % b.len()]);
                written = tau + offset;
            }
        }
        if left_array == (folds * t) as u64 {
            return ArrayRun {
                cycles: written + 1 + lead,
                macs,
                bank_stall: edges.bank_stall(),
            };
        }
        tau += 1;
    }
}

/// One cycle of one weight-stationary PE row; `above` holds last cycle's registers of the row
/// above (or the top edge), `row` is updated right to left so `row[c−1]` is still last cycle's.
#[inline(always)]
fn ws_row<L: Lane>(row: &mut [WsPe<L>], above: &[WsPe<L>], i: i16, a_in: L, fl_in: u8, xs: &[i16]) {
    for cc in (0..row.len()).rev() {
        let (a, fl) = if cc > 0 {
            (row[cc - 1].a, row[cc - 1].fl)
        } else {
            (a_in, fl_in)
        };
        let up = &above[cc];
        let pe = &mut row[cc];
        pe.a = a;
        pe.fl = fl;
        // The switch reads the shadow before this cycle's chain write can replace it.
        if fl & SWITCH != 0 {
            pe.w = pe.sh;
            pe.sel = pe.sh_sel;
        }
        if up.sh_dest >= i {
            pe.sh = up.sh;
            pe.sh_sel = up.sh_sel;
            pe.sh_dest = up.sh_dest;
        }
        pe.ps = datapath::mac(up.ps, pe.w, a.pick(pe.sel, xs));
    }
}

// ---------------------------------------------------------------------------------------------
// Output-stationary

/// An output-stationary PE's registers.
#[derive(Clone, Copy, Default)]
struct OsPe<L> {
    /// Weight, its mux select and the step's flags, passed right.
    w: i16,
    sel: u32,
    fl: u8,
    /// Activation (reference), passed down.
    a: L,
    /// The output this PE computes.
    acc: i32,
    /// The captured result, shifted right into the output buffer when the row drains.
    out: i32,
}

/// The output-stationary step feeder: issues one reduction step (a column of weights at the
/// left edge, a row of activations at the top) every time the step's fetch is complete.
struct OsFeeder {
    c: usize,
    kk: usize,
    folds: usize,
    /// Beats of a step that fetches, and whether only group-starting steps fetch (N:M: a
    /// fetched group serves its N steps).
    fetch_beats: usize,
    group_n: Option<usize>,
    fold: usize,
    step: usize,
    beat: usize,
    /// First cycle of the current fold's stream, and the cycle the previous fold's last step
    /// left.
    started: u64,
    last_step_at: u64,
    bank_stall: u64,
}

impl OsFeeder {
    fn tick(&mut self, tau: u64) -> Slot {
        let mut slot = Slot::default();
        if self.fold == self.folds {
            return slot;
        }
        let last = self.step + 1 == self.kk;
        let need = match self.group_n {
            Some(n) if !self.step.is_multiple_of(n) => 1,
            _ => self.fetch_beats,
        };
        if self.beat < need {
            // Without bank conflicts the fold would take K' cycles, and C after the first if
            // the previous drain holds it; a fetch cycle beyond that is lost to bandwidth.
            let free = if self.fold == 0 {
                self.kk
            } else {
                self.kk.max(self.c)
            };
            if tau - self.started >= free as u64 {
                self.bank_stall += 1;
            }
            self.beat += 1;
        }
        // The last step captures into the output registers: row 0's drain of the previous fold
        // must have started (C cycles after its own capture step), so that the capture wave
        // follows the drain token along every row.
        let drained = self.fold == 0 || tau >= self.last_step_at + self.c as u64;
        if self.beat == need && (!last || drained) {
            slot = Slot {
                fold: self.fold as u32,
                pos: self.step as u32,
                flags: VALID | if self.step == 0 { FIRST } else { 0 } | if last { LAST } else { 0 },
            };
            self.step += 1;
            self.beat = 0;
            if last {
                self.last_step_at = tau;
                self.fold += 1;
                self.step = 0;
                self.started = tau + 1;
            }
        }
        slot
    }
}

/// Runs a GEMM on the output-stationary array until the last result has been drained.
fn os<L: Lane>(arch: &Arch, ops: &Operands, mut out: Output) -> ArrayRun {
    let (r, c) = (arch.rows as usize, arch.cols as usize);
    let (m, t, kk) = (ops.m, ops.t, ops.kk);
    let t_folds = t.div_ceil(c);
    let folds = m.div_ceil(r) * t_folds;
    let mut feeder = OsFeeder {
        c,
        kk,
        folds,
        fetch_beats: match ops.nm {
            None => beats(arch, 2 * c),
            Some((_, mm)) => beats(arch, 2 * mm * c),
        },
        group_n: ops.nm.map(|(n, _)| n),
        fold: 0,
        step: 0,
        beat: 0,
        started: 0,
        last_step_at: 0,
        bank_stall: 0,
    };
    let mut steps: Skew<Slot> = Skew::new(r + c);
    let mut grid = vec![OsPe::<L>::default(); r * c];
    // Row −1: the top edge's activation drivers.
    let mut edge = vec![OsPe::<L>::default(); c];
    // Per row: the drain token's column (None when idle) and the fold draining.
    let mut token: Vec<Option<usize>> = vec![None; r];
    let mut draining = vec![0usize; r];
    let xs: &[i16] = &ops.xs;
    let (mut macs, mut drains) = (0u64, 0usize);
    let mut tau: u64 = 0;
    loop {
        let slot = feeder.tick(tau);
        steps.issue(tau, slot);
        for (cc, e) in edge.iter_mut().enumerate() {
            let s = steps.lane(tau, cc);
            e.a = if s.flags & VALID != 0 {
                let j = (s.fold as usize % t_folds) * c + cc;
                L::at(ops, s.pos as usize, j)
            } else {
                L::bubble(ops)
            };
        }
        for i in (0..r).rev() {
            let s = steps.lane(tau, i);
            let (w, sel, fl) = if s.flags & VALID != 0 {
                let o = (s.fold as usize / t_folds) * r + i;
                let (w, sel) = ops.weight(o, s.pos as usize);
                (w, sel, s.flags)
            } else {
                (0, 0, 0)
            };
            let (up, rest) = grid.split_at_mut(i * c);
            let above = if i == 0 {
                &edge[..]
            } else {
                &up[(i - 1) * c..]
            };
            let row = &mut rest[..c];
            // Drain: registers at or right of the token shift one column right; the rightmost
            // value enters the output buffer.
            let was = token[i];
            if let Some(tk) = was {
                let f = draining[i];
                let (o, j) = ((f / t_folds) * r + i, (f % t_folds) * c + (c - 1 - tk));
                if o < m && j < t {
                    out.put(o * t + j, row[c - 1].out, true);
                    macs += kk as u64;
                }
                for cc in (tk.max(1)..c).rev() {
                    row[cc].out = row[cc - 1].out;
                }
                if tk == 0 {
                    row[0].out = 0;
                }
                token[i] = if tk + 1 == c { None } else { Some(tk + 1) };
                if tk + 1 == c {
                    drains += 1;
                }
            }
            os_row(row, above, (w, sel, fl), was, xs);
            // The capture wave reached the row's end: the drain starts next cycle.
            if row[c - 1].fl & LAST != 0 {
                debug_assert!(
                    token[i].is_none(),
                    "row {i}: capture before the drain ended"
                );
                token[i] = Some(0);
                draining[i] = steps.lane(tau, i + c - 1).fold as usize;
            }
        }
        if drains == folds * r {
            return ArrayRun {
                cycles: tau + 1,
                macs,
                bank_stall: feeder.bank_stall,
            };
        }
        tau += 1;
    }
}

/// One cycle of one output-stationary PE row, right to left (see [`ws_row`]); `token` is where
/// the row's drain token was this cycle, for the check that a capture never lands on a value
/// still draining.
#[inline(always)]
fn os_row<L: Lane>(
    row: &mut [OsPe<L>],
    above: &[OsPe<L>],
    left: (i16, u32, u8),
    token: Option<usize>,
    xs: &[i16],
) {
    for cc in (0..row.len()).rev() {
        let (w, sel, fl) = if cc > 0 {
            (row[cc - 1].w, row[cc - 1].sel, row[cc - 1].fl)
        } else {
            left
        };
        let a = above[cc].a;
        let pe = &mut row[cc];
        (pe.w, pe.sel, pe.fl, pe.a) = (w, sel, fl, a);
        let base = if fl & FIRST != 0 { 0 } else { pe.acc };
        pe.acc = datapath::mac(base, w, a.pick(sel, xs));
        if fl & LAST != 0 {
            debug_assert!(
                token.is_none_or(|tk| cc <= tk),
                "capture overtakes the drain"
            );
            pe.out = pe.acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmsat_compiler::timing;
    use proptest::prelude::*;

    /// `sat-small` with another array shape, dataflow and input banks, and a 16-lane mux.
    fn arch(rows: u64, cols: u64, os: bool, banks: u64, width: u64) -> Arch {
        let text = include_str!("../../../configs/arch/sat-small.yaml")
            .replace("rows: 4", &format!("rows: {rows}"))
            .replace("cols: 4", &format!("cols: {cols}"))
            .replace(
                "dataflow: weight-stationary",
                if os {
                    "dataflow: output-stationary"
                } else {
                    "dataflow: weight-stationary"
                },
            )
            .replace("mux_lanes: 8", "mux_lanes: 16")
            .replace(
                "input: {bytes: 16384, banks: 4, bank_width_bytes: 8,",
                // 15360 = 2^10·15 divides into every bank count and width used here.
                &format!("input: {{bytes: 15360, banks: {banks}, bank_width_bytes: {width},"),
            );
        let a = Arch::parse("t.yaml", &text).unwrap();
        assert_eq!(a.input.bytes_per_cycle(), banks * width, "the edit took");
        a
    }

    /// Plain GEMM: three loops of `datapath::mac`, each sparse row pruned by `nm_prune`.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        m: usize,
        k: usize,
        t: usize,
        nm: Option<Nm>,
        w: &[i16],
        x: &[i16],
        y: &mut [i32],
        accumulate: bool,
    ) {
        for o in 0..m {
            let row = &w[o * k..(o + 1) * k];
            let row = nm.map_or_else(|| row.to_vec(), |nm| prune::nm_prune(row, nm));
            for j in 0..t {
                let mut acc = if accumulate { y[o * t + j] } else { 0 };
                for (q, &wq) in row.iter().enumerate() {
                    acc = datapath::mac(acc, wq, x[q * t + j]);
                }
                y[o * t + j] = acc;
            }
        }
    }

    /// The weight region's bytes for a dense `[m × k]` matrix.
    fn weight_bytes(m: usize, k: usize, nm: Option<Nm>, w: &[i16]) -> Vec<u8> {
        match nm {
            None => w.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Some(nm) => (0..m)
                .flat_map(|o| prune::pack_row(&w[o * k..(o + 1) * k], nm))
                .collect(),
        }
    }

    /// Deterministic operands: a splitmix stream, with the extremes mixed in so that sums wrap.
    fn values(seed: u64, n: usize) -> Vec<i16> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                match z % 8 {
                    0 => i16::MIN,
                    1 => i16::MAX,
                    2 => 0,
                    _ => (z >> 16) as i16,
                }
            })
            .collect()
    }

    /// Runs the model and the reference on the same operands; checks results bit for bit and
    /// returns the run.
    #[allow(clippy::too_many_arguments)]
    fn run_checked(
        a: &Arch,
        m: usize,
        k: usize,
        t: usize,
        nm: Option<Nm>,
        accumulate: bool,
        seed: u64,
    ) -> Result<ArrayRun, TestCaseError> {
        let w = values(seed, m * k);
        let x = values(seed ^ 1, k * t);
        let y0: Vec<i32> = values(seed ^ 2, m * t)
            .iter()
            .map(|&v| (v as i32) << 12)
            .collect();
        let (mut y, mut want) = (y0.clone(), y0);
        let run = run_gemm(
            a,
            m,
            k,
            t,
            nm,
            &weight_bytes(m, k, nm, &w),
            &x,
            &mut y,
            accumulate,
            None,
        );
        reference(m, k, t, nm, &w, &x, &mut want, accumulate);
        prop_assert!(y == want, "results differ from the reference");
        let kk = timing::effective_k(k as u64, nm);
        prop_assert_eq!(run.macs, m as u64 * kk * t as u64);
        Ok(run)
    }

    #[derive(Debug)]
    struct Case {
        rows: u64,
        cols: u64,
        os: bool,
        banks: u64,
        width: u64,
        mkt: (usize, usize, usize),
        nm: Option<(u64, u64)>,
        /// Hand-counted cycles and bank stall.
        want: (u64, u64),
    }

    fn check(case: &Case) {
        let a = arch(case.rows, case.cols, case.os, case.banks, case.width);
        let nm = case.nm.map(|(n, m)| Nm::new(n, m).unwrap());
        let (m, k, t) = case.mkt;
        let run = run_checked(&a, m, k, t, nm, false, 7).unwrap();
        assert_eq!((run.cycles, run.bank_stall), case.want, "{case:?}");
        let g = timing::gemm_terms(&a, m as u64, k as u64, t as u64, nm);
        assert_eq!(
            (g.total, g.bank_stall),
            case.want,
            "timing::gemm_terms, {case:?}"
        );
    }

    /// sat-small's input region physically banked (4 banks of 8 bytes, skewed), a dense
    /// 4×4×t GEMM from byte 0. With t = 16 the column's rows are one bank row (32 bytes) apart
    /// and the skew puts them in 4 banks: one cycle a column, as on ideal banks (4 + 16 + 3 +
    /// 3), plus the 2 cycles the sequencers' fetch runs late (`timing::ws_fetch_lead`). With
    /// t = 32 they are two bank rows apart: words 8q + j/4 sit in banks 0, 2, 0, 2 (plus j's),
    /// two to a bank, so every column takes 2 cycles: 4 + 64 + 3 + 3 + 2.
    ///
    /// Every region physical, `y` (INT32) at byte 4096: slot j's 4 words `512 + 2o·t/4 + j/2`.
    /// At t = 16 the rows are two bank rows apart, banks 0, 2, 0, 2: degree 2, so each column
    /// takes max(1, 2) and the output buffer writes D + 1 = 3 cycles past the last result
    /// (`timing::ws_output_tail`): 4 + 32 + 6 + 2 + 3 = 47. At t = 32 they are four bank rows
    /// apart, one bank: degree 4, 4 + 128 + 6 + 2 + 5 = 145. With m = 5, t = 32 the second
    /// output block is one row (degree 1, its columns take x's 2, its preload from word 4 one
    /// cycle a step): 4 + max(128, 4) + 64 + 6 + 2, and the tail is the GEMM's largest degree,
    /// not the last slot's: + 5 = 209.
    #[test]
    fn physical_banks_fetch_a_column_in_its_bank_degree() {
        let text = include_str!("../../../configs/arch/sat-small.yaml");
        let input_only = text.replace(
            "input: {bytes: 16384, banks: 4, bank_width_bytes: 8, ports: 2, latency: 1}",
            "input: {bytes: 16384, banks: 4, bank_width_bytes: 8, ports: 2, latency: 1, banking: physical}",
        );
        let every = text.replace("latency: 1}", "latency: 1, banking: physical}");
        let input_cases = [(4, 16, 28), (4, 32, 76)];
        let every_cases = [(4, 16, 47), (4, 32, 145), (5, 32, 209)];
        for (text, cases) in [(input_only, &input_cases[..]), (every, &every_cases[..])] {
            let a = Arch::parse("p.yaml", &text).unwrap();
            for &(m, t, want) in cases {
                let k = 4usize;
                let w = values(3, m * k);
                let x = values(5, k * t);
                let (mut y, mut want_y) = (vec![0i32; m * t], vec![0i32; m * t]);
                let at = timing::GemmPlacement {
                    w: (&a.weight, 0),
                    x: (&a.input, 0),
                    y: (&a.output, 4096),
                };
                let wb = weight_bytes(m, k, None, &w);
                let run = run_gemm(&a, m, k, t, None, &wb, &x, &mut y, false, Some(at));
                reference(m, k, t, None, &w, &x, &mut want_y, false);
                assert_eq!(y, want_y);
                assert_eq!(run.cycles, want, "m = {m}, t = {t}");
                let g = timing::gemm_terms_placed(&a, m as u64, 4, t as u64, None, Some(at));
                assert_eq!((g.total, g.bank_stall), (run.cycles, run.bank_stall));
            }
        }
    }

    #[test]
    fn hand_counted_cycles() {
        let ws = |rows, cols, bw: (u64, u64), mkt, nm, want| Case {
            rows,
            cols,
            os: false,
            banks: bw.0,
            width: bw.1,
            mkt,
            nm,
            want,
        };
        let os = |rows, cols, bw: (u64, u64), mkt, nm, want| Case {
            os: true,
            ..ws(rows, cols, bw, mkt, nm, want)
        };
        for case in [
            // timing.rs's own examples: 4 + 4·10 + 3 + 3 = 50 and 4 + 2·10 + 6 = 30.
            ws(4, 4, (4, 8), (8, 8, 10), None, (50, 0)),
            ws(4, 4, (4, 8), (8, 16, 10), Some((2, 8)), (30, 0)),
            // One fold with t < R: preload 4, one column, skew 3, drain 3 = 11 (no next fold
            // waits for a preload).
            ws(4, 4, (4, 8), (4, 4, 1), None, (11, 0)),
            // Two folds, t = 1: the second preload is exposed: 4 + 4 + 1 + 6 = 15.
            ws(4, 4, (4, 8), (4, 8, 1), None, (15, 0)),
            // 2 B a cycle: a 4-value column takes p = 4 beats. 2 folds of t = 3:
            // 4 + max(12, 4) + 12 + 6 = 34; stall (12 − 4) + (12 − 3) = 17.
            ws(4, 4, (1, 2), (4, 8, 3), None, (34, 17)),
            // 3:4 on R = 5, 16 B a cycle: folds span groups {0,1}, {1,2,3}, {3,4}: the middle
            // fold needs 3 groups = 24 B, 2 beats, where ⌈R/N⌉ = 2 groups fit one:
            // 5 + 8 + 16 + 8 + 4 + 0 = 41, stall 16 − 8 = 8.
            ws(5, 1, (2, 8), (1, 16, 8), Some((3, 4)), (41, 8)),
            // OS 4×4, k = 8, one fold: 8 steps + skew 3 + 3 + drain 4 = 18.
            os(4, 4, (4, 8), (4, 8, 4), None, (18, 0)),
            // Two folds of K' = 2 < C = 4: the second capture waits for the first drain:
            // 2 + 4 + 3 + 3 + 4 = 16.
            os(4, 4, (4, 8), (8, 2, 4), None, (16, 0)),
            // 4 B a cycle: a step fetches C = 4 values in 2 beats: 2·8 + 3 + 3 + 4 = 26.
            os(4, 4, (1, 4), (4, 8, 4), None, (26, 8)),
            // 2:4 OS: k = 8 is 2 groups of 2 steps; C·M = 16 values = 32 B, 1 beat at 32 B:
            // L = 4; 4 + 3 + 3 + 4 = 14.
            os(4, 4, (4, 8), (4, 8, 4), Some((2, 4)), (14, 0)),
            // Same at 8 B a cycle: a group start takes 4 beats, the step after 1: L = 2·5 = 10,
            // stall 10 − 4 = 6.
            os(4, 4, (1, 8), (4, 8, 4), Some((2, 4)), (20, 6)),
        ] {
            check(&case);
        }
    }

    fn nm_strategy() -> impl Strategy<Value = Option<(u64, u64)>> {
        prop_oneof![
            Just(None),
            (1u64..=15)
                .prop_flat_map(|n| (Just(n), n + 1..=16))
                .prop_map(Some),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 384,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Bit-exact against the reference; cycles and bank stall equal `timing::gemm_terms`.
        #[test]
        fn matches_reference_and_timing(
            rows in 1u64..=8, cols in 1u64..=8, os: bool,
            banks in 1u64..=5, width in prop::sample::select(vec![1u64, 2, 4, 8]),
            nm in nm_strategy(),
            m in 1usize..=40, k in 1usize..=40, t in 1usize..=40,
            accumulate: bool, seed: u64,
        ) {
            let a = arch(rows, cols, os, banks, width);
            let nm = nm.map(|(n, m)| Nm::new(n, m).unwrap());
            let run = run_checked(&a, m, k, t, nm, accumulate, seed)?;
            let (m, k, t) = (m as u64, k as u64, t as u64);
            let terms = timing::gemm_terms(&a, m, k, t, nm);
            prop_assert_eq!((run.cycles, run.bank_stall), (terms.total, terms.bank_stall));
        }
    }
}
