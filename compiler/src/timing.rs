//! Timing equations of every unit: small pure functions, each derived in its doc comment.
//!
//! The compiler's tile chooser, the simulator's fast mode and (as the property the exact mode is
//! tested against) the cycle-by-cycle simulator all use these functions; nothing else writes a
//! timing formula down.

use crate::arch::{Arch, Banking, Dataflow, Region};
use crate::isa::{Buf, Op, VecOp, Xfer};
use crate::prune::Nm;

/// Reduction length the array actually steps through: K itself for dense, ⌈K/M⌉·N for N:M.
pub fn effective_k(k: u64, sparsity: Option<Nm>) -> u64 {
    match sparsity {
        Some(nm) => nm.compressed_len(k),
        None => k,
    }
}

/// Beats the input scratchpad needs to deliver `bytes`: `⌈bytes / (banks·width)⌉`, at least 1.
fn input_beats(arch: &Arch, bytes: u64) -> u64 {
    bytes.div_ceil(arch.input.bytes_per_cycle()).max(1)
}

/// Cycles per column entering a weight-stationary fold `kb` (its reduction rows kb·R …
/// kb·R+R−1): the feeder fetches one column of activations for the R rows, `R` values dense;
/// sparse, the M-groups those compressed rows belong to (rows of one group share its fetch),
/// which is `⌊(kb·R+R−1)/N⌋ − ⌊kb·R/N⌋ + 1` groups of M values. A column that needs more than
/// the banks deliver in a cycle enters every `⌈bytes / (banks·width)⌉` cycles: the
/// bank-conflict term.
pub fn ws_column_beats(arch: &Arch, sparsity: Option<Nm>, kb: u64) -> u64 {
    let r = arch.rows;
    match sparsity {
        None => input_beats(arch, 2 * r),
        Some(nm) => {
            let q0 = kb * r;
            input_beats(arch, 2 * nm.m * ((q0 + r - 1) / nm.n - q0 / nm.n + 1))
        }
    }
}

/// The `x` rows the weight-stationary feeder fetches for a column of reduction fold `kb`
/// (`[first, end)`, clamped to the `k` rows `x` has): the fold's R rows dense; sparse, every
/// M-group its R compressed rows span, as [`ws_column_beats`] counts them.
pub fn ws_column_rows(arch: &Arch, sparsity: Option<Nm>, k: u64, kb: u64) -> (u64, u64) {
    let (r, q0) = (arch.rows, kb * arch.rows);
    let (first, end) = match sparsity {
        None => (q0, q0 + r),
        Some(nm) => {
            let last = (q0 + r - 1).min(nm.compressed_len(k) - 1);
            (q0 / nm.n * nm.m, (last / nm.n + 1) * nm.m)
        }
    };
    (first.min(k), end.min(k))
}

/// Where a GEMM's streamed operand `x` (`[k × t]` INT16) lies: at byte `addr` of `region`.
#[derive(Debug, Clone, Copy)]
pub struct StreamedOperand<'a> {
    pub region: &'a Region,
    pub addr: u64,
    pub k: u64,
    pub t: u64,
    pub sparsity: Option<Nm>,
}

/// Cycles the feeder takes to fetch column `j` of fold `kb` of `x` from a physically banked
/// region: the [`bank_degree`] of the words of `x[q][j]` over [`ws_column_rows`], at least
/// one (a column enters on a cycle of its own). The rows are `2t` bytes apart, so the skew of
/// [`Region::bank`] serves the column of a tile whose rows are an odd number of bank rows long
/// in one cycle per `B` rows.
pub fn ws_column_degree(arch: &Arch, x: &StreamedOperand, kb: u64, j: u64) -> u64 {
    let (first, end) = ws_column_rows(arch, x.sparsity, x.k, kb);
    let w = x.region.bank_width_bytes;
    let words = (first..end).map(|q| (x.addr + 2 * (q * x.t + j)) / w);
    bank_degree(x.region, words).max(1)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The named terms of a GEMM's cycles on the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmCycles {
    /// Folds (stationary tiles) the GEMM needs.
    pub folds: u64,
    /// All cycles.
    pub total: u64,
    /// Of those, the cycles lost to input bandwidth (bank conflicts).
    pub bank_stall: u64,
}

/// Cycles of a GEMM `y[m×t] += w[m×k]·x[k×t]` on the R×C array.
///
/// **Weight-stationary.** A fold holds an R (reduction) × C (output) weight tile; there are
/// F = ⌈K'/R⌉·⌈m/C⌉ folds, reduction folds inner, where K' is [`effective_k`]. Fold f streams
/// its t columns, one every p_f = [`ws_column_beats`] cycles. The next fold's weights load one
/// row a cycle into shadow registers meanwhile, so every fold but the last occupies the feeder
/// for max(p_f·t, R) cycles; only the first preload and the last skew and drain are exposed:
///
/// ```text
/// preload R  +  Σ_{f<F−1} max(p_f·t, R)  +  p_{F−1}·t  +  skew (R−1)  +  drain (C−1)
/// ```
///
/// **Output-stationary.** A fold computes an R×C output tile (R of m, C of t); there are
/// F = ⌈m/R⌉·⌈t/C⌉ folds. The top edge needs C activations per reduction step: dense, one
/// step every ⌈2C/(banks·width)⌉ cycles, so a fold streams L = k·⌈2C/bw⌉ cycles; sparse, each
/// fetched M-group serves the N steps of its group, L = ⌈k/M⌉·(⌈2CM/bw⌉ + N − 1). Results shift
/// out through C columns while the next fold streams, so every fold after the first takes
/// max(L, C):
///
/// ```text
/// L  +  (F−1)·max(L, C)  +  skew (R−1)  +  (C−1)  +  drain C
/// ```
///
/// The bank-conflict term is what these exceed the same schedule at one column (WS) or one
/// step (OS) per cycle.
pub fn gemm_terms(arch: &Arch, m: u64, k: u64, t: u64, sparsity: Option<Nm>) -> GemmCycles {
    let (r, c) = (arch.rows, arch.cols);
    let kk = effective_k(k, sparsity);
    match arch.dataflow {
        Dataflow::WeightStationary => {
            let (k_folds, m_blocks) = (kk.div_ceil(r), m.div_ceil(c));
            // Per reduction fold: its steady cycles and its stall, as a non-last fold.
            let (mut cycles, mut stall) = (0, 0);
            for kb in 0..k_folds {
                let pt = ws_column_beats(arch, sparsity, kb) * t;
                cycles += pt.max(r);
                stall += pt.max(r) - t.max(r);
            }
            let last = ws_column_beats(arch, sparsity, k_folds - 1) * t;
            GemmCycles {
                folds: k_folds * m_blocks,
                total: r + m_blocks * cycles - (last.max(r) - last) + (r - 1) + (c - 1),
                bank_stall: m_blocks * stall - (last.max(r) - t.max(r)) + (last - t),
            }
        }
        Dataflow::OutputStationary => {
            let bw = |bytes: u64| input_beats(arch, bytes);
            let l = match sparsity {
                None => k * bw(2 * c),
                Some(nm) => k.div_ceil(nm.m) * (bw(2 * c * nm.m) + nm.n - 1),
            };
            let folds = m.div_ceil(r) * t.div_ceil(c);
            GemmCycles {
                folds,
                total: l + (folds - 1) * l.max(c) + (r - 1) + (c - 1) + c,
                bank_stall: (l - kk) + (folds - 1) * (l.max(c) - kk.max(c)),
            }
        }
    }
}

/// Where a GEMM's operands lie: (region, byte) of `w`, `x` and `y`.
#[derive(Debug, Clone, Copy)]
pub struct GemmPlacement<'a> {
    pub w: (&'a Region, u64),
    pub x: (&'a Region, u64),
    pub y: (&'a Region, u64),
}

impl GemmPlacement<'_> {
    /// Some operand lies in a physically banked region.
    pub fn physical(&self) -> bool {
        [self.w.0, self.x.0, self.y.0]
            .iter()
            .any(|r| r.banking == Banking::Physical)
    }
}

/// Cycles by which a weight-stationary GEMM's edges run late when the array fetches its
/// weights and activations through bank sequencers (its weight or input region physical).
///
/// On ideal regions the edges read combinationally: the first preload row enters the weight
/// bus in the issue cycle. A bank sequencer latches a set in its start cycle S, serves it from
/// S+1 (a cycle at least) and the region answers a cycle after the row, so the set's words are
/// all held in S+2 at the earliest. The first preload row's set starts no earlier than the
/// issue cycle, so it reaches the grid 2 cycles late; every later set starts in the first cycle
/// of its period (`hw::PhysicalArrayUnit`), so the whole GEMM keeps its spacing, 2 cycles late.
pub fn ws_fetch_lead(at: &GemmPlacement) -> u64 {
    let fetched = |r: &Region| r.banking == Banking::Physical;
    if fetched(at.w.0) || fetched(at.x.0) {
        2
    } else {
        0
    }
}

/// Cycles a weight-stationary GEMM's output buffer keeps writing after its last result leaves
/// the grid: `D + 1` when `y` lies in a physically banked region, D the largest [`bank_degree`]
/// of the slots' sets written so far (`y_degree_max`, [`WsPlaced::y_degree`]); 0 on an ideal
/// one, whose read-modify-write takes the results in the cycle they leave.
///
/// **The buffer (`hw::PhysicalArrayUnit`).** Slot j's C results `y[nb·C + c][j]` are one set
/// of degree `d_j`. Its read set starts in the first cycle of column j's period, beside the
/// column's `x` set, so the period is `c_j = max(x_j, d_j)` ([`WsPlaced::column`]) and the
/// unit learns `d_j`. Column c's result leaves the grid c cycles after column 0's, and delay
/// registers align the slot's C sums at `E_j`, the cycle its last column leaves. Slots leave
/// in order, `E_{j+1} − E_j ≥ c_{j+1} ≥ d_{j+1}` (a fold boundary only adds to the gap).
///
/// The write set of slot j starts at `S_j = E_j + X_j − d_j` with `X_j = 1 + max_{i≤j} d_i`
/// (the running maximum in the order slots leave), so it is served in `S_j+1 … E_j + X_j`:
///
/// - it starts after the sums are registered: `S_j ≥ E_j + 1`, as `X_j ≥ d_j + 1`;
/// - it never overlaps the previous write, which a write sequencer requires
///   (`S_{j+1} ≥ S_j + d_j`): `S_{j+1} − S_j = (E_{j+1} − E_j − d_{j+1}) + (X_{j+1} − X_j)
///   + d_j ≥ d_j`, both brackets being ≥ 0.
///
/// A fixed offset `E_j + X` would need `c_{j+1} ≥ d_j`, which the model does not promise (a
/// fast slot after a slow one); ending every write `X_j` after its slot's exit shifts each by
/// its own degree instead. The last slot's write is served through `E_last + 1 + D`, so the
/// GEMM is busy `D + 1` cycles beyond the cycle its last result leaves.
pub fn ws_output_tail(at: &GemmPlacement, y_degree_max: u64) -> u64 {
    match at.y.0.banking {
        Banking::Physical => y_degree_max + 1,
        Banking::Ideal => 0,
    }
}

/// A weight-stationary GEMM whose operands lie in physically banked regions, fold by fold
/// (fold `f` = `nb·k_folds + kb`: output block nb, reduction fold kb), in the sets its edges
/// fetch at once. An operand on an ideal region costs what [`gemm_terms`] charges.
pub struct WsPlaced<'a> {
    pub arch: &'a Arch,
    pub m: u64,
    pub k: u64,
    pub t: u64,
    pub sparsity: Option<Nm>,
    pub at: GemmPlacement<'a>,
}

impl WsPlaced<'_> {
    /// Reduction folds per block of C outputs.
    fn k_folds(&self) -> u64 {
        effective_k(self.k, self.sparsity).div_ceil(self.arch.rows)
    }

    /// Folds in all.
    pub fn folds(&self) -> u64 {
        self.k_folds() * self.m.div_ceil(self.arch.cols)
    }

    /// Cycles column `j` of fold `f` spends at the feeder: the fetch of its `x` column
    /// ([`Self::x_cycles`]) and, as the output buffer takes the slot's C results at once and
    /// must keep up, the degree of their read-modify-write in `y` ([`Self::y_degree`]).
    pub fn column(&self, f: u64, j: u64) -> u64 {
        let (nb, kb) = (f / self.k_folds(), f % self.k_folds());
        self.x_cycles(kb, j).max(self.y_degree(nb, j))
    }

    /// Cycles the feeder fetches column `j` of reduction fold `kb` in: [`ws_column_degree`] on
    /// a physical region, [`ws_column_beats`] on an ideal one.
    pub fn x_cycles(&self, kb: u64, j: u64) -> u64 {
        let (region, addr) = self.at.x;
        if region.banking == Banking::Ideal {
            return ws_column_beats(self.arch, self.sparsity, kb);
        }
        let x = StreamedOperand {
            region,
            addr,
            k: self.k,
            t: self.t,
            sparsity: self.sparsity,
        };
        ws_column_degree(self.arch, &x, kb, j)
    }

    /// The degree of column `j`'s results of output block `nb` in `y` (`[m × t]` INT32): the
    /// words of their 4 bytes each (two words a result on banks narrower than 4 bytes); 0 on
    /// an ideal region.
    pub fn y_degree(&self, nb: u64, j: u64) -> u64 {
        let (region, addr) = self.at.y;
        if region.banking == Banking::Ideal {
            return 0;
        }
        let (c, w) = (self.arch.cols, region.bank_width_bytes);
        let rows = nb * c..((nb + 1) * c).min(self.m);
        let words = rows.flat_map(|o| {
            let a = addr + 4 * (o * self.t + j);
            a / w..(a + 4).div_ceil(w)
        });
        bank_degree(region, words)
    }

    /// Cycles of preload step `s` of fold `f` (the weights bound for PE row R−1−s, one per
    /// array column): 1 on an ideal region; on a physical one the degree of their words — a
    /// dense weight's 2 bytes, a packed one's value and the bytes of its index bits.
    pub fn preload_step(&self, f: u64, s: u64) -> u64 {
        let (wr, wa) = self.at.w;
        if wr.banking == Banking::Ideal {
            return 1;
        }
        let (r, c) = (self.arch.rows, self.arch.cols);
        let (nb, kb) = (f / self.k_folds(), f % self.k_folds());
        let q = kb * r + (r - 1 - s);
        let kk = effective_k(self.k, self.sparsity);
        let mut bytes: Vec<(u64, u64)> = Vec::new();
        for o in nb * c..((nb + 1) * c).min(self.m) {
            if q >= kk {
                continue;
            }
            match self.sparsity {
                None => bytes.push((o * self.k * 2 + q * 2, 2)),
                Some(nm) => {
                    let gb = crate::prune::group_bytes(nm) as u64;
                    let bits = nm.index_bits() as u64;
                    let (g, i) = (q / nm.n, q % nm.n);
                    let group = (o * self.k.div_ceil(nm.m) + g) * gb;
                    bytes.push((group + 2 * i, 2));
                    let (b0, b1) = (i * bits / 8, ((i + 1) * bits).div_ceil(8));
                    bytes.push((group + 2 * nm.n + b0, b1 - b0));
                }
            }
        }
        let w = wr.bank_width_bytes;
        let words = bytes
            .iter()
            .flat_map(|&(b, n)| (wa + b) / w..(wa + b + n).div_ceil(w));
        bank_degree(wr, words).max(1)
    }

    /// Columns after which [`Self::column`] repeats: the `x` words move 2 bytes a column and
    /// the `y` words 4, and a move by whole bank rows rotates every bank alike (an operand on
    /// an ideal region does not depend on the column).
    pub fn column_period(&self) -> u64 {
        let period = |(r, _): (&Region, u64), step: u64| {
            let line = r.banks * r.bank_width_bytes;
            if r.banking == Banking::Physical {
                line / gcd(step, line)
            } else {
                1
            }
        };
        let (a, b) = (period(self.at.x, 2), period(self.at.y, 4));
        a / gcd(a, b) * b
    }

    /// Cycles of fold `f`'s preload: [`Self::preload_step`] over its R steps.
    pub fn fold_preload(&self, f: u64) -> u64 {
        (0..self.arch.rows).map(|s| self.preload_step(f, s)).sum()
    }

    /// The GEMM's cycles: fold f opens once its preload (`P_f` cycles, started as fold f−1
    /// opened) and fold f−1's columns (`S_{f−1}`) are through, so
    ///
    /// ```text
    /// P_0  +  Σ_{f<F−1} max(S_f, P_{f+1})  +  S_{F−1}  +  skew (R−1)  +  drain (C−1)
    /// ```
    ///
    /// which is [`gemm_terms`]' with `P_f = R` and `S_f = p_f·t`, plus [`ws_fetch_lead`] and the
    /// output buffer's [`ws_output_tail`] over the largest `y` degree of the GEMM's slots. The
    /// bank stall counts the cycles a fold's columns take beyond `t`, and beyond R while another
    /// fold follows.
    ///
    /// Folds whose sets are the same words moved by whole bank rows cost the same (every
    /// bank rotates alike), so each kind is computed once: a reduction fold's `x` column
    /// degrees by where its first row starts within a bank row and how many rows it has, an
    /// output block's `y` degrees likewise, a fold's preload by where its first weight starts.
    pub fn terms(&self) -> GemmCycles {
        use std::collections::HashMap;
        let (r, c, t) = (self.arch.rows, self.arch.cols, self.t);
        let (folds, k_folds) = (self.folds(), self.k_folds());
        let period = self.column_period().min(t);
        let within = |(region, a): (&Region, u64), bytes: u64| {
            (a + bytes) % (region.banks * region.bank_width_bytes)
        };
        let kk = effective_k(self.k, self.sparsity);
        // x: one period of column cycles per kind of reduction fold (on ideal banks, per fold).
        let mut xs: HashMap<(u64, u64, u64), Vec<u64>> = HashMap::new();
        let x_kind = |kb: u64| {
            if self.at.x.0.banking == Banking::Ideal {
                return (0, 0, kb);
            }
            let (first, end) = ws_column_rows(self.arch, self.sparsity, self.k, kb);
            (within(self.at.x, 2 * first * t), end - first, 0)
        };
        // y: one period of degrees per kind of output block.
        let mut ys: HashMap<(u64, u64), Vec<u64>> = HashMap::new();
        // Preload: P per kind of fold.
        let mut ps: HashMap<(u64, u64, u64, u64), u64> = HashMap::new();
        let rows_of = |nb: u64| ((nb + 1) * c).min(self.m) - nb * c;
        let mut columns = |f: u64| -> u64 {
            let (nb, kb) = (f / k_folds, f % k_folds);
            let xv = xs
                .entry(x_kind(kb))
                .or_insert_with(|| (0..period).map(|j| self.x_cycles(kb, j)).collect());
            let yv = ys
                .entry((within(self.at.y, 4 * nb * c * t), rows_of(nb)))
                .or_insert_with(|| (0..period).map(|j| self.y_degree(nb, j)).collect());
            let one = |n: u64| -> u64 { (0..n as usize).map(|j| xv[j].max(yv[j])).sum() };
            t / period * one(period) + one(t % period)
        };
        let mut preload = |f: u64| -> u64 {
            let (nb, kb) = (f / k_folds, f % k_folds);
            let q0 = kb * r;
            let shift = match self.sparsity {
                None => 2 * (nb * c * self.k + q0),
                Some(nm) => {
                    let gb = crate::prune::group_bytes(nm) as u64;
                    (nb * c * self.k.div_ceil(nm.m) + q0 / nm.n) * gb
                }
            };
            let phase = self.sparsity.map_or(0, |nm| q0 % nm.n);
            let key = (within(self.at.w, shift), rows_of(nb), r.min(kk - q0), phase);
            *ps.entry(key).or_insert_with(|| self.fold_preload(f))
        };
        let (mut total, mut stall) = (preload(0), 0);
        for f in 0..folds {
            let cols = columns(f);
            if f + 1 < folds {
                total += cols.max(preload(f + 1));
                stall += cols.max(r) - t.max(r);
            } else {
                total += cols;
                stall += cols - t;
            }
        }
        let y_max = ys.values().flatten().copied().max().unwrap_or(0);
        GemmCycles {
            folds,
            total: total
                + (r - 1)
                + (c - 1)
                + ws_fetch_lead(&self.at)
                + ws_output_tail(&self.at, y_max),
            bank_stall: stall,
        }
    }
}

/// [`gemm_terms`] of a GEMM placed as `at` says: fold by fold ([`WsPlaced::terms`]) when a
/// weight-stationary GEMM has an operand on a physically banked region; otherwise (ideal
/// banks, output-stationary) nothing changes.
pub fn gemm_terms_placed(
    arch: &Arch,
    m: u64,
    k: u64,
    t: u64,
    sparsity: Option<Nm>,
    at: Option<GemmPlacement>,
) -> GemmCycles {
    match at {
        Some(at) if arch.dataflow == Dataflow::WeightStationary && at.physical() => {
            let g = WsPlaced {
                arch,
                m,
                k,
                t,
                sparsity,
                at,
            };
            g.terms()
        }
        _ => gemm_terms(arch, m, k, t, sparsity),
    }
}

/// Total cycles of [`gemm_terms`].
pub fn gemm_cycles(arch: &Arch, m: u64, k: u64, t: u64, sparsity: Option<Nm>) -> u64 {
    gemm_terms(arch, m, k, t, sparsity).total
}

/// DRAM bytes a transfer moves: every row touches whole `access_bytes` words, so a row at
/// address a of length L costs `(⌈(a+L)/w⌉ − ⌊a/w⌋)·w` bytes.
pub fn dram_bytes(arch: &Arch, x: &Xfer) -> u64 {
    let w = arch.dram.access_bytes;
    let row = |a: u64| ((a + x.row_bytes).div_ceil(w) - a / w) * w;
    if x.dram_stride.is_multiple_of(w) || x.rows <= 1 {
        // Every row has the same alignment.
        x.rows * row(x.dram_addr)
    } else {
        (0..x.rows)
            .map(|i| row(x.dram_addr + i * x.dram_stride))
            .sum()
    }
}

/// Cycles of one DMA transfer.
///
/// The engine moves data at the lowest of its own width, the DRAM channels' peak and the
/// scratchpad's banks; the transfer is exposed to setup and one DRAM round trip:
///
/// ```text
/// setup + latency + max(⌈dram_bytes / min(dma, dram)⌉, ⌈sp_bytes / (banks·width)⌉)
/// ```
pub fn dma_cycles(arch: &Arch, x: &Xfer) -> u64 {
    let link = arch.dma.bytes_per_cycle.min(arch.dram_bytes_per_cycle());
    let sp: &Region = arch.region(x.sp.region);
    let beats = dram_bytes(arch, x)
        .div_ceil(link)
        .max(x.sp.bytes.div_ceil(sp.bytes_per_cycle()));
    arch.dma.setup_cycles + arch.dram.latency + beats
}

/// Cycles a physically banked region needs to serve one access set, given its words (word
/// index `byte / width`, in any order, repeats allowed): each bank serves one word a cycle, so
/// it is the most distinct words one bank ([`Region::bank`]) holds. An empty set needs none.
pub fn bank_degree(region: &Region, words: impl IntoIterator<Item = u64>) -> u64 {
    let mut words: Vec<u64> = words.into_iter().collect();
    words.sort_unstable();
    words.dedup();
    let mut banks: Vec<u64> = words.iter().map(|&w| region.bank(w)).collect();
    banks.sort_unstable();
    banks
        .chunk_by(|a, b| a == b)
        .map(|run| run.len() as u64)
        .max()
        .unwrap_or(0)
}

/// Which way a transfer goes, for [`transfer_cycles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Load,
    /// `requant`: the scratchpad holds INT32 accumulators, 4 bytes per DRAM element.
    Store {
        requant: bool,
    },
}

/// Cycles of one DMA operation: [`dma_cycles`] on an ideal region, [`dma_cycles_physical`]
/// over the transfer's [`crate::dma_beats`] on a physically banked one.
pub fn transfer_cycles(arch: &Arch, x: &Xfer, dir: Direction) -> u64 {
    if arch.region(x.sp.region).banking == Banking::Ideal {
        return dma_cycles(arch, x);
    }
    let scale = match dir {
        Direction::Store { requant: true } => 2,
        _ => 1,
    };
    let region = arch.region(x.sp.region);
    let (degrees, padded) = crate::dma_beats::beat_degrees(arch, x, scale);
    let fill = if padded {
        fill_cycles(region, x.sp.addr, x.sp.bytes)
    } else {
        0
    };
    dma_cycles_physical(arch, &degrees, fill, dir != Direction::Load)
}

/// Cycles a physically banked region takes to set `bytes` bytes from `addr` to one value
/// (the padding of a window tile): one word of every bank a cycle, so the [`bank_degree`] of
/// the words the range touches — the bank rows it touches, or one fewer where its two partial
/// rows meet different banks.
pub fn fill_cycles(region: &Region, addr: u64, bytes: u64) -> u64 {
    let w = region.bank_width_bytes;
    bank_degree(region, addr / w..(addr + bytes).div_ceil(w))
}

/// Cycles of a DMA transfer on a physically banked region, whose beat `i` (one `link` of DRAM
/// bytes) needs `d_i = degrees[i]` cycles of the region (its set's [`bank_degree`]).
///
/// **Load.** The engine requests beat i at `r_i` and the DRAM answers at `a_i = r_i + L`
/// (latency L). Answers wait in a queue of `Q = L + 1` entries, which the write path drains in
/// order, beat i over `[s_i, e_i)` with `s_i = max(a_i, e_{i−1})` (and after the padding's
/// `fill` cycles) and `e_i = s_i + max(d_i, 1)`: a beat leaves the queue in its own cycle even
/// when it writes nothing. A request needs a free entry, which beat `i−Q` frees as it ends:
/// `r_i = max(setup + i, e_{i−Q})`. Q = L + 1 is the round trip, so beats of degree 1 are never
/// held back (`e_{i−Q} = setup + i`) and the transfer takes `setup + L + n`, as
/// [`dma_cycles`] does on an ideal region. The engine is busy until the last write ends:
///
/// ```text
/// e_{n−1}        (loads)
/// ```
///
/// **Store.** The read path reads beat i over `[x_i, x_i + d_i)`, `x_i = max(setup − 1,
/// x_{i−1} + d_{i−1})` (the first read in the last setup cycle, its data one cycle later),
/// requests its DRAM write at `x_i + d_i`, and the DRAM acknowledges L cycles later; the
/// engine is busy until the last acknowledgement, `x_{n−1} + d_{n−1} + L + 1` — again
/// `setup + L + n` when every beat has degree 1 (and `setup ≥ 1`).
pub fn dma_cycles_physical(arch: &Arch, degrees: &[u64], fill: u64, store: bool) -> u64 {
    let (setup, lat) = (arch.dma.setup_cycles, arch.dram.latency);
    if store {
        let mut next = setup.saturating_sub(1);
        for &d in degrees {
            next += d.max(1);
        }
        return next + lat + 1;
    }
    let q = lat as usize + 1;
    let mut ends: Vec<u64> = Vec::with_capacity(degrees.len());
    let mut prev = fill;
    for (i, &d) in degrees.iter().enumerate() {
        let request = (setup + i as u64).max(if i >= q { ends[i - q] } else { 0 });
        let s = (request + lat).max(prev);
        prev = s + d.max(1);
        ends.push(prev);
    }
    prev.max(setup + lat)
}

/// Cycles of the prune unit ranking `groups` M-groups: pipeline fill plus one pass of
/// `groups_per_cycle` groups a cycle.
pub fn prune_cycles(arch: &Arch, groups: u64) -> u64 {
    arch.prune_latency + groups.div_ceil(arch.prune_groups_per_cycle)
}

/// The prune unit's pipeline latency on physical banks, at least 4. Its bank sequencers latch
/// each set before serving it: the read set, and the write set the cycle after the read words
/// arrive (cut into groups, ranked and packed), so the last write is served two stages later
/// than the ideal unit's write port takes it, which is in the cycle the groups are ranked
/// (`hw::BankedPruneUnit`). A latency of 4 or more already covers those stages.
pub fn prune_latency_banked(arch: &Arch) -> u64 {
    arch.prune_latency.max(4)
}

/// The prune unit's latency for a prune from `src` to `dst`: [`prune_latency_banked`] when
/// either region is physical (its sequencers then serve that side), else the description's.
pub fn prune_latency_at(arch: &Arch, src: &Buf, dst: &Buf) -> u64 {
    let physical = |b: &Buf| arch.region(b.region).banking == Banking::Physical;
    if physical(src) || physical(dst) {
        prune_latency_banked(arch)
    } else {
        arch.prune_latency
    }
}

/// Cycles of the prune unit when batch `b`'s read set needs `r_b = reads[b]` cycles of its
/// region and its write set `w_b = writes[b]` (their [`bank_degree`]s; 0 on an ideal region).
///
/// The RTL (`hw/src/prune_unit.rs`) reads batch b at τ+1+b and ranks, packs and writes it at
/// τ+2+b: the write trails the read by one step. On physical banks one global enable stalls the
/// whole pipeline while the bank sequencers serve a step's sets, so it advances in lockstep
/// steps s = 0 … B (B batches). Step s reads batch s (s < B) on the operation's read copy of
/// the source region and writes batch s − 1 (s ≥ 1) by the destination's write port. Those are
/// separate ports of the banks, so the two sets are served together and the step lasts
///
/// ```text
/// t_s = max(1, r_s, w_{s−1})        (r_B = w_{−1} = 0: the fill and drain steps have one set)
/// ```
///
/// The issue cycle before the first step and the `L − 2` stages after the last write never
/// wait for the banks, with `L` = [`prune_latency_banked`], so the unit is busy
///
/// ```text
/// 1 + Σ_{s=0}^{B} t_s + (L − 2)  =  L − 1 + Σ_s t_s
/// ```
///
/// With every degree ≤ 1 each step takes one cycle, Σ t_s = B + 1, and this is `L + B`:
/// [`prune_cycles`] when the latency is at least 4, two cycles more at sat-small's 2.
pub fn prune_cycles_physical(arch: &Arch, reads: &[u64], writes: &[u64]) -> u64 {
    let batches = reads.len().max(writes.len());
    let steps: u64 = (0..=batches)
        .map(|s| {
            let r = reads.get(s).copied().unwrap_or(0);
            let w = s
                .checked_sub(1)
                .and_then(|b| writes.get(b))
                .copied()
                .unwrap_or(0);
            r.max(w).max(1)
        })
        .sum();
    prune_latency_banked(arch) + steps - 1
}

/// Cycles of the prune of `rows × k` elements from `src` to `dst`: [`prune_cycles`] when both
/// regions are ideal, else [`prune_cycles_physical`] over the degrees of the
/// [`crate::prune_sets`] of the physical side(s).
pub fn prune_cycles_placed(arch: &Arch, src: &Buf, dst: &Buf, rows: u64, k: u64, nm: Nm) -> u64 {
    let (from, to) = (arch.region(src.region), arch.region(dst.region));
    if from.banking == Banking::Ideal && to.banking == Banking::Ideal {
        return prune_cycles(arch, rows * k.div_ceil(nm.m));
    }
    let degree = |r: &Region, words: &[u64]| match r.banking {
        Banking::Ideal => 0,
        Banking::Physical => bank_degree(r, words.iter().copied()),
    };
    let (reads, writes): (Vec<u64>, Vec<u64>) =
        crate::prune_sets::batches(arch, src, dst, rows, k, nm)
            .iter()
            .map(|b| (degree(from, &b.read), degree(to, &b.write)))
            .unzip();
    prune_cycles_physical(arch, &reads, &writes)
}

/// Element operations the vector unit spends per output element of `op`.
///
/// Each is the number of passes a lane makes: e.g. a norm takes mean, variance, normalise and
/// scale-shift (4); SGD with momentum updates v then w (2, 3 with the SR-STE term).
pub fn vector_ops_per_elem(op: VecOp) -> u64 {
    match op {
        VecOp::Relu | VecOp::ReluGrad | VecOp::Add | VecOp::Fill => 1,
        VecOp::Gelu => 4,
        VecOp::GeluGrad => 5,
        VecOp::Norm => 4,
        VecOp::NormGrad => 6,
        // A batch norm's passes split between its statistics and its application.
        VecOp::BatchStats | VecOp::BatchNorm { .. } => 2,
        VecOp::BatchGradStats | VecOp::BatchNormGrad { .. } => 3,
        VecOp::Softmax => 4,
        VecOp::SoftmaxGrad => 3,
        VecOp::Pool { window, .. } => window.max(1),
        // One pass per kernel tap of the stride phase that reaches the element.
        VecOp::PoolGrad {
            kernel,
            stride,
            phase_h,
            phase_w,
            ..
        } => (crate::isa::phase_taps(kernel, phase_h, stride)
            * crate::isa::phase_taps(kernel, phase_w, stride))
        .max(1),
        VecOp::Loss { .. } => 5,
        VecOp::Sgd { srste, .. } => 2 + srste.is_some() as u64,
        // The rank of each weight in its group, then the scaling of the dropped ones.
        VecOp::MaskDecay { .. } => 2,
    }
}

/// Cycles of a vector instruction: pipeline fill plus element operations over the lanes.
pub fn vector_cycles(arch: &Arch, op: VecOp, elems: u64) -> u64 {
    arch.vector_latency + (elems * vector_ops_per_elem(op)).div_ceil(arch.vector_lanes)
}

/// The cycles one step of the vector unit ([`crate::vector_steps::Step`]) takes on its regions:
/// the largest [`bank_degree`] of its sets, 0 when every region it touches is ideal. A step's
/// reads of one region share the operation's read copy of it, so they are one set; its writes
/// of one region share the write port, one set more.
pub fn vector_step_degree(arch: &Arch, step: &crate::vector_steps::Step) -> u64 {
    use crate::vector_steps::Port;
    let mut sets: Vec<((bool, crate::arch::RegionId), Vec<u64>)> = Vec::new();
    for a in &step.accesses {
        let region = arch.region(a.region);
        if region.banking == Banking::Ideal {
            continue;
        }
        let key = (matches!(a.port, Port::Write(_)), a.region);
        let w = region.bank_width_bytes;
        let words = a.addr / w..(a.addr + a.bytes).div_ceil(w);
        match sets.iter_mut().find(|(k, _)| *k == key) {
            Some((_, set)) => set.extend(words),
            None => sets.push((key, words.collect())),
        }
    }
    sets.into_iter()
        .map(|((_, r), words)| bank_degree(arch.region(r), words))
        .max()
        .unwrap_or(0)
}

/// Cycles of a vector instruction whose steps (the cycles after its issue in which it reads a
/// batch or writes results, [`crate::vector_steps`]) need `degrees` cycles of the banks.
///
/// The unit is a pipeline that a global enable stalls: a step whose sets need `d > 1` cycles
/// holds every register, the reads and writes of that cycle served together (the reads on
/// the operation's read copies, the writes on the write port), for `d` cycles. The reads of a
/// batch and its writes a cycle later are in different steps, as in the RTL, so each step
/// lasts `max(1, d_s)` and the unconditioned pipeline's [`vector_cycles`] grows by the excess:
///
/// ```text
/// vector_cycles  +  Σ_s (max(1, d_s) − 1)
/// ```
///
/// With every degree at most 1 that is [`vector_cycles`]. (The RTL's steps lie within its
/// `vector_cycles`, at least 2 of latency; with less the same stalls are charged.)
pub fn vector_cycles_banked(
    arch: &Arch,
    op: VecOp,
    elems: u64,
    degrees: impl IntoIterator<Item = u64>,
) -> (u64, u64) {
    let stall: u64 = degrees.into_iter().map(|d| d.max(1) - 1).sum();
    (vector_cycles(arch, op, elems) + stall, stall)
}

/// Cycles of vector instruction `op` and the bank stall among them: [`vector_cycles`] when
/// every buffer lies in an ideal region, else [`vector_cycles_banked`] over its
/// [`crate::vector_steps::steps`]; an error where the unit has no schedule for it.
pub fn vector_terms(
    arch: &Arch,
    op: VecOp,
    srcs: &[crate::isa::Buf],
    dst: &crate::isa::Buf,
    elems: u64,
    width: u64,
) -> Result<(u64, u64), String> {
    let physical = |b: &crate::isa::Buf| arch.region(b.region).banking == Banking::Physical;
    if !srcs.iter().chain([dst]).any(physical) {
        return Ok((vector_cycles(arch, op, elems), 0));
    }
    let steps = crate::vector_steps::steps(arch, op, srcs, dst, elems, width)
        .map_err(|e| format!("on physically banked regions: {e}"))?;
    let degrees = steps.steps.iter().map(|s| vector_step_degree(arch, s));
    Ok(vector_cycles_banked(arch, op, elems, degrees))
}

/// Cycles the unit that runs `op` is busy with it, or why the model cannot time it.
pub fn op_cycles(arch: &Arch, op: &Op) -> Result<u64, String> {
    Ok(match op {
        Op::Load { xfer } => transfer_cycles(arch, xfer, Direction::Load),
        Op::Store { xfer, requant } => {
            transfer_cycles(arch, xfer, Direction::Store { requant: *requant })
        }
        Op::Prune {
            src,
            dst,
            rows,
            k,
            nm,
            ..
        } => prune_cycles_placed(arch, src, dst, *rows, *k, *nm),
        Op::Gemm {
            w,
            x,
            y,
            m,
            k,
            t,
            sparsity,
            ..
        } => {
            let at = GemmPlacement {
                w: (arch.region(w.region), w.addr),
                x: (arch.region(x.region), x.addr),
                y: (arch.region(y.region), y.addr),
            };
            gemm_terms_placed(arch, *m, *k, *t, *sparsity, Some(at)).total
        }
        Op::Vector {
            op,
            srcs,
            dst,
            elems,
            width,
        } => vector_terms(arch, *op, srcs, dst, *elems, *width)?.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::RegionId;
    use crate::isa::{Buf, XferShape};

    fn arch() -> Arch {
        Arch::load("sat-small").unwrap()
    }

    #[test]
    fn ws_gemm_matches_hand_count() {
        let a = arch();
        // 4×4 array, m=8, k=8, t=10 dense: F = 2·2 = 4 folds; 4 + 4·10 + 3 + 3 = 50.
        assert_eq!(gemm_cycles(&a, 8, 8, 10, None), 50);
        // 2:8 on k=16: K' = 4 → 1 fold per column block, 2 blocks: 4 + 2·10 + 6 = 30.
        assert_eq!(gemm_cycles(&a, 8, 16, 10, Some(Nm { n: 2, m: 8 })), 30);
        // A single fold: nothing follows it, so no preload waits (4 + 1 + 3 + 3).
        assert_eq!(gemm_cycles(&a, 4, 4, 1, None), 11);
        // t shorter than R with two folds: the second fold's preload is exposed.
        assert_eq!(gemm_cycles(&a, 4, 8, 1, None), 4 + 4 + 1 + 6);
    }

    #[test]
    fn dram_bytes_round_to_words() {
        let a = arch();
        let sp = Buf {
            region: RegionId::Input,
            addr: 0,
            bytes: 30,
        };
        let x = |addr, rows, row_bytes, stride| Xfer {
            dram_addr: addr,
            rows,
            row_bytes,
            dram_stride: stride,
            sp,
            shape: XferShape::Copy,
        };
        assert_eq!(dram_bytes(&a, &x(0, 1, 8, 0)), 8);
        assert_eq!(dram_bytes(&a, &x(4, 1, 8, 0)), 16);
        assert_eq!(dram_bytes(&a, &x(0, 3, 10, 16)), 48);
        // Stride 10 shifts the alignment row by row: [0,10) → 16, [10,20) → 16, [20,30) → 16.
        assert_eq!(dram_bytes(&a, &x(0, 3, 10, 10)), 48);
        assert_eq!(dram_bytes(&a, &x(2, 2, 4, 6)), 8 + 8);
    }

    #[test]
    fn dma_is_bound_by_the_slowest_link() {
        let a = arch();
        let sp = Buf {
            region: RegionId::Input,
            addr: 0,
            bytes: 64,
        };
        let x = Xfer {
            dram_addr: 0,
            rows: 1,
            row_bytes: 64,
            dram_stride: 64,
            sp,
            shape: XferShape::Copy,
        };
        // DRAM 8 B/cycle is the bottleneck: 4 setup + 10 latency + 8.
        assert_eq!(dma_cycles(&a, &x), 22);
    }

    /// A result is 4 bytes: on 2-byte banks it is two words, and both count. Slot 0 of a 4×1
    /// y from byte 0 is words 0 … 7, banks 0 1 2 3 1 2 3 0 (skewed): two a bank, degree 2,
    /// where its first words alone (0, 2, 4, 6: banks 0 2 1 3) would be 1. The output tail is
    /// then 3 (`ws_output_tail`), and none on an ideal y.
    #[test]
    fn a_result_on_narrow_banks_is_two_words() {
        let mut a = arch();
        (a.output.banks, a.output.bank_width_bytes) = (4, 2);
        a.output.banking = Banking::Physical;
        let at = GemmPlacement {
            w: (&a.weight, 0),
            x: (&a.input, 0),
            y: (&a.output, 0),
        };
        let g = WsPlaced {
            arch: &a,
            m: 4,
            k: 4,
            t: 1,
            sparsity: None,
            at,
        };
        assert_eq!(g.y_degree(0, 0), 2);
        assert_eq!(ws_output_tail(&at, g.y_degree(0, 0)), 3);
        let ideal = GemmPlacement {
            y: (&a.weight, 0),
            ..at
        };
        assert_eq!(ws_output_tail(&ideal, 2), 0);
    }

    #[test]
    fn prune_steps_overlap_a_read_with_the_previous_batchs_write() {
        let mut a = arch();
        // sat-small's latency of 2 runs 4 deep on physical banks: 2 cycles a prune.
        assert_eq!(prune_latency_banked(&a), 4);
        // With a latency of at least 4, degrees of at most 1 are the ideal unit, for any number
        // of batches.
        a.prune_latency = 5;
        let lat = a.prune_latency;
        for b in 0..6 {
            for pattern in 0..(1u64 << b) {
                let d: Vec<u64> = (0..b).map(|i| pattern >> i & 1).collect();
                let ideal = prune_cycles(&a, b as u64 * a.prune_groups_per_cycle);
                assert_eq!(prune_cycles_physical(&a, &d, &d), ideal);
            }
        }
        // Steps: read 3 | read 1, write 2 | read 4, write 1 | write 5 → 3 + 2 + 4 + 5 = 14.
        assert_eq!(
            prune_cycles_physical(&a, &[3, 1, 4], &[2, 1, 5]),
            lat - 1 + 14
        );
    }
}
