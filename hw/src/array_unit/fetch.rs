//! `FetchFeeder`: the array unit's controller on physically banked regions — the exact model's
//! `WsFeeder` with each column and each preload row fetched as one access set through a bank
//! read sequencer, in the set's bank degree. A column's `x` set and the output buffer's read
//! of its slot in y start together, and the column's period ends when both are through, the
//! longer of the two degrees (`timing::WsPlaced::column`).
//!
//! # The schedule
//!
//! A sequencer latches a set in its `start` cycle S, serves a set of degree d in S+1 … S+d
//! (`last` in S+d) and holds every entry's word in S+d+1; the next set may start in S+d.
//! The model's column (or preload row) of period p occupies cycles A … A+p−1 and fires in the
//! last. Starting its set in A makes sets tile time exactly as the model's periods do
//! (S_{j+1} = S_j + d_j), and puts `last` in A+p: one cycle after the model fires. So this
//! controller keeps the model's state but learns of a fire one cycle late, from `last`, and
//! decides in that same cycle what the model decides in it (a fold opening, a preload
//! starting) from the state after the fire:
//!
//! ```text
//!  model:   A ─ p cycles ─► fires in X = A+p−1 │ opens, starts in X+1
//!  here:    set starts in A … `last` in X+1 ──► processes the fire, opens, starts in X+1
//!  grid:    the column's words are all held in X+2: the slot enters row 0 in X+2
//! ```
//!
//! The first preload row's set cannot start before the GEMM issues (cycle 0, where the model
//! fetches it), so everything the grid sees is the model's edges exactly two cycles late: the
//! switch (decided in the model's cycle) is delayed two registers, a fire or a preload row
//! (learnt a cycle late) one. The model charges those two cycles (`timing::ws_fetch_lead`),
//! so `done` (the last result leaving the grid) comes in the cycle `run_gemm` takes it to; the
//! unit's own `done` waits for the output buffer's last write (`timing::ws_output_tail`).

use super::fields::GEMM_FIELDS;
use super::walk::{FoldAdvance, PreloadAdvance};
use crate::ws_pe::DEST_BITS;
use rust_hdl::prelude::*;

/// The controller; see the module docs.
#[derive(LogicBlock, Default)]
pub struct FetchFeeder {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// The array queue issues a GEMM in this cycle; `g` holds its fields.
    pub start: Signal<In, Bit>,
    /// The instruction's fields ([`super::GemmOp`] order).
    pub g: [Signal<In, Bits<16>>; GEMM_FIELDS],
    /// The array's rows R and columns C, and R−1+C−1 (the cycles from the last slot to its
    /// last result).
    pub rows: Signal<In, Bits<16>>,
    /// See `rows`.
    pub cols: Signal<In, Bits<16>>,
    /// See `rows`.
    pub drain: Signal<In, Bits<16>>,
    /// The x, y and w read sequencers' last serving cycles.
    pub x_last: Signal<In, Bit>,
    /// See `x_last`.
    pub y_last: Signal<In, Bit>,
    /// See `x_last`.
    pub w_last: Signal<In, Bit>,
    /// The last result leaves the array in this cycle.
    pub done: Signal<Out, Bit>,
    /// Held fields: w's and y's first bytes, 2t, 4t, m, N, M, index bits, bytes of w per
    /// output row, N:M.
    pub w_base: Signal<Out, Bits<16>>,
    /// See `w_base`.
    pub y_base: Signal<Out, Bits<16>>,
    /// See `w_base`.
    pub t2: Signal<Out, Bits<16>>,
    /// See `w_base`.
    pub t4: Signal<Out, Bits<16>>,
    /// See `w_base`.
    pub m: Signal<Out, Bits<16>>,
    /// See `w_base`.
    pub n: Signal<Out, Bits<16>>,
    /// See `w_base`.
    pub mm: Signal<Out, Bits<16>>,
    /// See `w_base`.
    pub ib: Signal<Out, Bits<16>>,
    /// See `w_base`.
    pub wstride: Signal<Out, Bits<16>>,
    /// See `w_base`.
    pub sparse: Signal<Out, Bit>,
    /// The x set to start: its first entry's byte in the region (x[first][j]) and row of x,
    /// and the end of its rows (`timing::ws_column_rows`).
    pub xs_start: Signal<Out, Bit>,
    /// See `xs_start`.
    pub xs_addr: Signal<Out, Bits<16>>,
    /// See `xs_start`.
    pub xs_row: Signal<Out, Bits<16>>,
    /// See `xs_start`.
    pub xs_end: Signal<Out, Bits<16>>,
    /// The y set that starts with the x set: the slot's results, from offset `ys_yo` in y
    /// (column 0's), output row `ys_oc` on.
    pub ys_yo: Signal<Out, Bits<16>>,
    /// See `ys_yo`.
    pub ys_oc: Signal<Out, Bits<16>>,
    /// The w set to start: column 0's group (offset in w), the slot in the group, whether the
    /// position is inside K′, and column 0's output row.
    pub ws_start: Signal<Out, Bit>,
    /// See `ws_start`.
    pub ws_wo: Signal<Out, Bits<16>>,
    /// See `ws_start`.
    pub ws_s: Signal<Out, Bits<16>>,
    /// See `ws_start`.
    pub ws_qv: Signal<Out, Bit>,
    /// See `ws_start`.
    pub ws_oc: Signal<Out, Bits<16>>,
    /// The slot entering row 0 (the model's, two cycles late): valid, switch, row 0's slot in
    /// its group, offset in y, output row of column 0, overwrite.
    pub s_valid: Signal<Out, Bit>,
    /// See `s_valid`.
    pub s_sw: Signal<Out, Bit>,
    /// See `s_valid`.
    pub s_res: Signal<Out, Bits<16>>,
    /// See `s_valid`.
    pub s_yo: Signal<Out, Bits<16>>,
    /// See `s_valid`.
    pub s_oc: Signal<Out, Bits<16>>,
    /// See `s_valid`.
    pub s_ow: Signal<Out, Bit>,
    /// The slot belongs to its output block's first reduction fold.
    pub s_first: Signal<Out, Bit>,
    /// The weight-bus row entering column 0 (two cycles late): on, destination row + 1.
    pub p_on: Signal<Out, Bit>,
    /// See `p_on`.
    pub p_dd: Signal<Out, Bits<DEST_BITS>>,
    hold: [DFF<Bits<16>>; GEMM_FIELDS],
    f: [Signal<Local, Bits<16>>; GEMM_FIELDS],
    adv: FoldAdvance,
    padv: PreloadAdvance,
    busy: DFF<Bit>,
    tail: DFF<Bits<16>>,
    // Left edge: the model's state, and whether a column's set is being served.
    fold: DFF<Bits<16>>,
    open: DFF<Bit>,
    col: DFF<Bits<16>>,
    switched: DFF<Bits<16>>,
    kb: DFF<Bits<16>>,
    res: DFF<Bits<16>>,
    xg_off: DFF<Bits<16>>,
    xrows: DFF<Bits<16>>,
    yo_nb: DFF<Bits<16>>,
    oc_nb: DFF<Bits<16>>,
    xbusy: DFF<Bit>,
    // The column's x and y sets: which has had its last serving cycle.
    xgot: DFF<Bit>,
    ygot: DFF<Bit>,
    // Weight bus.
    pre_on: DFF<Bit>,
    pre_fold: DFF<Bits<16>>,
    pre_row: DFF<Bits<16>>,
    preloaded: DFF<Bits<16>>,
    kbp: DFF<Bits<16>>,
    kbp_q: DFF<Bits<16>>,
    top_g: DFF<Bits<16>>,
    top_res: DFF<Bits<16>>,
    pg: DFF<Bits<16>>,
    ps: DFF<Bits<16>>,
    pq: DFF<Bits<16>>,
    wo_nb: DFF<Bits<16>>,
    poc: DFF<Bits<16>>,
    wbusy: DFF<Bit>,
    // The grid's view.
    sv: DFF<Bit>,
    sw1: DFF<Bit>,
    sw2: DFF<Bit>,
    sres: DFF<Bits<16>>,
    syo: DFF<Bits<16>>,
    soc: DFF<Bits<16>>,
    sow: DFF<Bit>,
    sfirst: DFF<Bit>,
    pon_q: DFF<Bit>,
    pdd_q: DFF<Bits<DEST_BITS>>,
    // The state after this cycle's fire and preload row (`_a`), and after opening (`_b`).
    act: Signal<Local, Bit>,
    xev: Signal<Local, Bit>,
    fold_end: Signal<Local, Bit>,
    last: Signal<Local, Bit>,
    open_a: Signal<Local, Bit>,
    col_a: Signal<Local, Bits<16>>,
    fold_a: Signal<Local, Bits<16>>,
    kb_a: Signal<Local, Bits<16>>,
    res_a: Signal<Local, Bits<16>>,
    xg_a: Signal<Local, Bits<16>>,
    xrows_a: Signal<Local, Bits<16>>,
    yo_a: Signal<Local, Bits<16>>,
    oc_a: Signal<Local, Bits<16>>,
    opening: Signal<Local, Bit>,
    switched_b: Signal<Local, Bits<16>>,
    need: Signal<Local, Bits<16>>,
    xs_top: Signal<Local, Bits<16>>,
    wev: Signal<Local, Bit>,
    pre_done: Signal<Local, Bit>,
    pre_on_a: Signal<Local, Bit>,
    pre_fold_a: Signal<Local, Bits<16>>,
    preloaded_a: Signal<Local, Bits<16>>,
    prow_a: Signal<Local, Bits<16>>,
    pg_a: Signal<Local, Bits<16>>,
    ps_a: Signal<Local, Bits<16>>,
    pq_a: Signal<Local, Bits<16>>,
    kbp_a: Signal<Local, Bits<16>>,
    kbp_q_a: Signal<Local, Bits<16>>,
    top_g_a: Signal<Local, Bits<16>>,
    top_res_a: Signal<Local, Bits<16>>,
    wo_a: Signal<Local, Bits<16>>,
    poc_a: Signal<Local, Bits<16>>,
    pre_start: Signal<Local, Bit>,
    prow_b: Signal<Local, Bits<16>>,
    pg_b: Signal<Local, Bits<16>>,
    ps_b: Signal<Local, Bits<16>>,
    pq_b: Signal<Local, Bits<16>>,
}

impl Logic for FetchFeeder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, busy, tail, fold, open, col, switched, kb, res, xg_off, xrows, yo_nb,
            oc_nb, xbusy, xgot, ygot, pre_on, pre_fold, pre_row, preloaded, kbp, kbp_q, top_g,
            top_res, pg, ps, pq, wo_nb, poc, wbusy, sv, sw1, sw2, sres, syo, soc, sow, sfirst,
            pon_q, pdd_q
        );
        for i in 0..GEMM_FIELDS {
            self.hold[i].clock.next = self.clock.val();
            self.hold[i].d.next = self.hold[i].q.val();
            self.f[i].next = self.hold[i].q.val();
            if self.start.val() {
                self.hold[i].d.next = self.g[i].val();
                self.f[i].next = self.g[i].val();
            }
        }
        // Fields in `GemmOp` order: 0 x, 1 w, 2 y, 3 t, 4 m, 5 k, 6 K', 7 folds, 8 k_folds,
        // 9 N, 10 M, 11 ib, 12 gb, 13 sparse, 14 xg, 15 xkb, 16 rkb, 17 rmod, 18 wstride,
        // 19 wnb, 20 wkb, 21 top_g0, 22 top_res0, 23 ynb, 24 rows_lo, 25 rows_hi, 26 th,
        // 27 accumulate.
        self.w_base.next = self.f[1].val();
        self.y_base.next = self.f[2].val();
        self.t2.next = self.f[3].val() << 1;
        self.t4.next = self.f[3].val() << 2;
        self.m.next = self.f[4].val();
        self.n.next = self.f[9].val();
        self.mm.next = self.f[10].val();
        self.ib.next = self.f[11].val();
        self.sparse.next = self.f[13].val() != 0;
        self.wstride.next = self.f[18].val();

        self.act.next = self.start.val() | self.busy.q.val();
        if self.start.val() {
            self.busy.d.next = true;
        }

        // Left edge, the model's previous cycle: the column whose sets end now fired. Its x and
        // y sets start together; the period is the longer of the two (`WsPlaced::column`).
        self.xev.next = self.xbusy.q.val()
            & (self.x_last.val() | self.xgot.q.val())
            & (self.y_last.val() | self.ygot.q.val());
        self.xgot.d.next =
            self.xbusy.q.val() & !self.xev.val() & (self.x_last.val() | self.xgot.q.val());
        self.ygot.d.next =
            self.xbusy.q.val() & !self.xev.val() & (self.y_last.val() | self.ygot.q.val());
        self.fold_end.next = self.xev.val() & (self.col.q.val() + 1 == self.f[3].val());
        self.last.next = self.fold_end.val() & (self.fold.q.val() + 1 == self.f[7].val());
        self.sv.d.next = self.xev.val();
        self.sres.d.next = self.res.q.val();
        self.syo.d.next = self.yo_nb.q.val() + (self.col.q.val() << 2);
        self.soc.d.next = self.oc_nb.q.val();
        self.sow.d.next = (self.kb.q.val() == 0) & (self.f[27].val() == 0);
        self.sfirst.d.next = self.kb.q.val() == 0;
        self.open_a.next = self.open.q.val() & !self.fold_end.val();
        self.col_a.next = self.col.q.val();
        if self.xev.val() {
            self.col_a.next = self.col.q.val() + 1;
        }
        self.fold_a.next = self.fold.q.val();
        self.kb_a.next = self.kb.q.val();
        self.res_a.next = self.res.q.val();
        self.xg_a.next = self.xg_off.q.val();
        self.xrows_a.next = self.xrows.q.val();
        self.yo_a.next = self.yo_nb.q.val();
        self.oc_a.next = self.oc_nb.q.val();
        self.adv.kb.next = self.kb.q.val();
        self.adv.res.next = self.res.q.val();
        self.adv.xg_off.next = self.xg_off.q.val();
        self.adv.xrows.next = self.xrows.q.val();
        self.adv.yo_nb.next = self.yo_nb.q.val();
        self.adv.oc_nb.next = self.oc_nb.q.val();
        self.adv.k_folds.next = self.f[8].val();
        self.adv.n.next = self.f[9].val();
        self.adv.mm.next = self.f[10].val();
        self.adv.xg.next = self.f[14].val();
        self.adv.xkb.next = self.f[15].val();
        self.adv.rkb.next = self.f[16].val();
        self.adv.rmod.next = self.f[17].val();
        self.adv.ynb.next = self.f[23].val();
        self.adv.cols.next = self.cols.val();
        if self.fold_end.val() {
            self.col_a.next = 0.into();
            self.fold_a.next = self.fold.q.val() + 1;
            self.kb_a.next = self.adv.kb_n.val();
            self.res_a.next = self.adv.res_n.val();
            self.xg_a.next = self.adv.xg_n.val();
            self.xrows_a.next = self.adv.xrows_n.val();
            self.yo_a.next = self.adv.yo_n.val();
            self.oc_a.next = self.adv.oc_n.val();
        }

        // Weight bus, the model's previous cycle: the row whose set ends now went out.
        self.wev.next = self.wbusy.q.val() & self.w_last.val();
        self.pre_done.next = self.wev.val() & (self.pre_row.q.val() + 1 == self.rows.val());
        self.pon_q.d.next = self.wev.val();
        self.pdd_q.d.next = bit_cast::<DEST_BITS, 16>(self.rows.val() - self.pre_row.q.val());
        self.pre_on_a.next = self.pre_on.q.val() & !self.pre_done.val();
        self.pre_fold_a.next = self.pre_fold.q.val();
        self.preloaded_a.next = self.preloaded.q.val();
        self.prow_a.next = self.pre_row.q.val();
        self.pg_a.next = self.pg.q.val();
        self.ps_a.next = self.ps.q.val();
        self.pq_a.next = self.pq.q.val();
        self.kbp_a.next = self.kbp.q.val();
        self.kbp_q_a.next = self.kbp_q.q.val();
        self.top_g_a.next = self.top_g.q.val();
        self.top_res_a.next = self.top_res.q.val();
        if self.start.val() {
            self.top_g_a.next = self.f[21].val();
            self.top_res_a.next = self.f[22].val();
        }
        self.wo_a.next = self.wo_nb.q.val();
        self.poc_a.next = self.poc.q.val();
        self.padv.kbp.next = self.kbp.q.val();
        self.padv.kbp_q.next = self.kbp_q.q.val();
        self.padv.top_g.next = self.top_g.q.val();
        self.padv.top_res.next = self.top_res.q.val();
        self.padv.wo_nb.next = self.wo_nb.q.val();
        self.padv.poc.next = self.poc.q.val();
        self.padv.k_folds.next = self.f[8].val();
        self.padv.n.next = self.f[9].val();
        self.padv.gb.next = self.f[12].val();
        self.padv.rmod.next = self.f[17].val();
        self.padv.wnb.next = self.f[19].val();
        self.padv.wkb.next = self.f[20].val();
        self.padv.top_g0.next = self.f[21].val();
        self.padv.top_res0.next = self.f[22].val();
        self.padv.rows.next = self.rows.val();
        self.padv.cols.next = self.cols.val();
        if self.wev.val() {
            self.prow_a.next = self.pre_row.q.val() + 1;
            self.pq_a.next = self.pq.q.val() - 1;
            self.ps_a.next = self.ps.q.val() - 1;
            if self.ps.q.val() == 0 {
                self.ps_a.next = self.f[9].val() - 1;
                self.pg_a.next = self.pg.q.val() - self.f[12].val();
            }
        }
        if self.pre_done.val() {
            self.pre_fold_a.next = self.pre_fold.q.val() + 1;
            self.preloaded_a.next = self.pre_fold.q.val() + 1;
            self.kbp_a.next = self.padv.kbp_n.val();
            self.kbp_q_a.next = self.padv.kbp_q_n.val();
            self.top_g_a.next = self.padv.top_g_n.val();
            self.top_res_a.next = self.padv.top_res_n.val();
            self.wo_a.next = self.padv.wo_n.val();
            self.poc_a.next = self.padv.poc_n.val();
        }

        // This cycle of the model: a fold opens once its preload is complete and the previous
        // fold has closed; its first column's set starts now, as does the next column's.
        self.opening.next = self.act.val()
            & !self.open_a.val()
            & (self.fold_a.val() < self.f[7].val())
            & (self.preloaded_a.val() > self.fold_a.val());
        self.switched_b.next = self.switched.q.val();
        if self.opening.val() {
            self.switched_b.next = self.fold_a.val() + 1;
        }
        self.sw1.d.next = self.opening.val();
        self.sw2.d.next = self.sw1.q.val();
        self.xs_start.next = self.opening.val() | (self.xev.val() & !self.fold_end.val());
        self.xbusy.d.next = self.xs_start.val() | (self.xbusy.q.val() & !self.xev.val());
        self.xs_addr.next = self.f[0].val() + self.xg_a.val() + (self.col_a.val() << 1);
        self.xs_row.next = self.xrows_a.val();
        self.ys_yo.next = self.yo_a.val() + (self.col_a.val() << 2);
        self.ys_oc.next = self.oc_a.val();
        // A fold starting at slot `th` of its group or later spans one group more.
        self.need.next = self.f[24].val();
        if self.res_a.val() >= self.f[26].val() {
            self.need.next = self.f[25].val();
        }
        self.xs_top.next = self.xrows_a.val() + self.need.val();
        self.xs_end.next = self.xs_top.val();
        if self.xs_top.val() > self.f[5].val() {
            self.xs_end.next = self.f[5].val();
        }
        self.open.d.next = self.open_a.val() | self.opening.val();
        self.col.d.next = self.col_a.val();
        self.fold.d.next = self.fold_a.val();
        self.switched.d.next = self.switched_b.val();
        self.kb.d.next = self.kb_a.val();
        self.res.d.next = self.res_a.val();
        self.xg_off.d.next = self.xg_a.val();
        self.xrows.d.next = self.xrows_a.val();
        self.yo_nb.d.next = self.yo_a.val();
        self.oc_nb.d.next = self.oc_a.val();

        // A preload may start once the previous fold's switch has left; it sends rows R−1 … 0,
        // walking the reduction positions down from the fold's R−1.
        self.pre_start.next = self.act.val()
            & !self.pre_on_a.val()
            & (self.pre_fold_a.val() < self.f[7].val())
            & (self.switched_b.val() >= self.pre_fold_a.val());
        self.prow_b.next = self.prow_a.val();
        self.pg_b.next = self.pg_a.val();
        self.ps_b.next = self.ps_a.val();
        self.pq_b.next = self.pq_a.val();
        if self.pre_start.val() {
            self.prow_b.next = 0.into();
            self.pg_b.next = self.top_g_a.val();
            self.ps_b.next = self.top_res_a.val();
            self.pq_b.next = self.kbp_q_a.val() + self.rows.val() - 1;
        }
        self.ws_start.next = self.pre_start.val() | (self.wev.val() & !self.pre_done.val());
        self.wbusy.d.next = self.ws_start.val() | (self.wbusy.q.val() & !self.wev.val());
        self.ws_wo.next = self.wo_a.val() + self.pg_b.val();
        self.ws_s.next = self.ps_b.val();
        self.ws_qv.next = self.pq_b.val() < self.f[6].val();
        self.ws_oc.next = self.poc_a.val();
        self.pre_on.d.next = self.pre_on_a.val() | self.pre_start.val();
        self.pre_fold.d.next = self.pre_fold_a.val();
        self.preloaded.d.next = self.preloaded_a.val();
        self.pre_row.d.next = self.prow_b.val();
        self.pg.d.next = self.pg_b.val();
        self.ps.d.next = self.ps_b.val();
        self.pq.d.next = self.pq_b.val();
        self.kbp.d.next = self.kbp_a.val();
        self.kbp_q.d.next = self.kbp_q_a.val();
        self.top_g.d.next = self.top_g_a.val();
        self.top_res.d.next = self.top_res_a.val();
        self.wo_nb.d.next = self.wo_a.val();
        self.poc.d.next = self.poc_a.val();

        // The grid's view: a fire or a row a cycle on, the switch two.
        self.s_valid.next = self.sv.q.val();
        self.s_sw.next = self.sw2.q.val();
        self.s_res.next = self.sres.q.val();
        self.s_yo.next = self.syo.q.val();
        self.s_oc.next = self.soc.q.val();
        self.s_ow.next = self.sow.q.val();
        self.s_first.next = self.sfirst.q.val();
        self.p_on.next = self.pon_q.q.val();
        self.p_dd.next = self.pdd_q.q.val();

        // Completion: the last slot reaches row 0 a cycle after its fire is learnt, and its
        // last result leaves the last column R−1+C−1 cycles after that.
        self.done.next = self.tail.q.val() == 1;
        if self.tail.q.val() != 0 {
            self.tail.d.next = self.tail.q.val() - 1;
        }
        if self.last.val() {
            self.tail.d.next = self.drain.val() + 1;
        }
        if self.done.val() {
            self.busy.d.next = false;
            self.fold.d.next = 0.into();
            self.col.d.next = 0.into();
            self.switched.d.next = 0.into();
            self.kb.d.next = 0.into();
            self.res.d.next = 0.into();
            self.xg_off.d.next = 0.into();
            self.xrows.d.next = 0.into();
            self.yo_nb.d.next = 0.into();
            self.oc_nb.d.next = 0.into();
            self.pre_fold.d.next = 0.into();
            self.preloaded.d.next = 0.into();
            self.kbp.d.next = 0.into();
            self.kbp_q.d.next = 0.into();
            self.wo_nb.d.next = 0.into();
            self.poc.d.next = 0.into();
        }
    }
}
