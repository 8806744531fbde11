//! `ArrayFeeder`: the array unit's controller — the exact model's `WsFeeder` in RTL. Each cycle
//! it issues one stream slot to the left edge (a column of a fold, or a bubble while a column's
//! fetch takes more beats) and one array row to the weight bus (the next fold's preload), and
//! it tracks every address and count with additions only:
//!
//! ```text
//!  left edge:  fold f opens once its preload is complete (switch rides its first slot);
//!              column j fires after `beats` fetch cycles; after column t−1 the fold closes
//!  weight bus: fold f's preload starts once fold f−1's switch has left; rows R−1 … 0
//!  both:       fold = nb·k_folds + kb; kb walks the reduction (groups of N positions),
//!              nb the blocks of C output rows
//! ```
//!
//! The instruction's fields are held from the issue cycle on, and in that cycle they pass
//! straight through, because the exact model's first preload row enters in the issue cycle.
//! The last slot's result leaves the last column R−1+C−1 cycles after the slot leaves the
//! feeder: `done` then, and every register returns to its idle value.

use super::fields::GEMM_FIELDS;
use super::walk::{FoldAdvance, PreloadAdvance};
use crate::ws_pe::DEST_BITS;
use rust_hdl::prelude::*;

/// The feeder; see the module docs.
#[derive(LogicBlock)]
pub struct ArrayFeeder {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// The array queue issues a GEMM in this cycle; `g` holds its fields.
    pub start: Signal<In, Bit>,
    /// The instruction's fields ([`super::GemmOp`] order).
    pub g: [Signal<In, Bits<16>>; GEMM_FIELDS],
    /// The last result leaves the array in this cycle.
    pub done: Signal<Out, Bit>,
    /// Held fields the edges use.
    pub x_base: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub w_base: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub y_base: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub t2: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub t4: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub k: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub m: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub n: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub mm: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub ib: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub xg: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub wstride: Signal<Out, Bits<16>>,
    /// See `x_base`.
    pub sparse: Signal<Out, Bit>,
    /// Left-edge slot: valid column, switch.
    pub s_valid: Signal<Out, Bit>,
    /// See `s_valid`.
    pub s_sw: Signal<Out, Bit>,
    /// Offset in x of row 0's group, column j; its slot in the group; rows of x before it.
    pub s_xo: Signal<Out, Bits<16>>,
    /// See `s_xo`.
    pub s_res: Signal<Out, Bits<16>>,
    /// See `s_xo`.
    pub s_xrows: Signal<Out, Bits<16>>,
    /// Offset in y of (output row of column 0, j), that output row, and whether the result
    /// overwrites y (first reduction fold, not accumulating).
    pub s_yo: Signal<Out, Bits<16>>,
    /// See `s_yo`.
    pub s_oc: Signal<Out, Bits<16>>,
    /// See `s_yo`.
    pub s_ow: Signal<Out, Bit>,
    /// Weight-bus row: on, destination row + 1, offset in w of column 0's group, the slot in
    /// the group, whether the position is inside K′, and column 0's output row.
    pub p_on: Signal<Out, Bit>,
    /// See `p_on`.
    pub p_dd: Signal<Out, Bits<DEST_BITS>>,
    /// See `p_on`.
    pub p_wo: Signal<Out, Bits<16>>,
    /// See `p_on`.
    pub p_s: Signal<Out, Bits<16>>,
    /// See `p_on`.
    pub p_qv: Signal<Out, Bit>,
    /// See `p_on`.
    pub p_oc: Signal<Out, Bits<16>>,
    rows: Constant<Bits<16>>,
    cols: Constant<Bits<16>>,
    /// R−1+C−1: cycles from the last slot to its last result.
    drain: Constant<Bits<16>>,
    hold: [DFF<Bits<16>>; GEMM_FIELDS],
    f: [Signal<Local, Bits<16>>; GEMM_FIELDS],
    adv: FoldAdvance,
    padv: PreloadAdvance,
    busy: DFF<Bit>,
    tail: DFF<Bits<16>>,
    fold: DFF<Bits<16>>,
    open: DFF<Bit>,
    col: DFF<Bits<16>>,
    beat: DFF<Bits<16>>,
    switched: DFF<Bits<16>>,
    kb: DFF<Bits<16>>,
    res: DFF<Bits<16>>,
    xg_off: DFF<Bits<16>>,
    xrows: DFF<Bits<16>>,
    yo_nb: DFF<Bits<16>>,
    oc_nb: DFF<Bits<16>>,
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
    act: Signal<Local, Bit>,
    need: Signal<Local, Bits<16>>,
    opening: Signal<Local, Bit>,
    beat_c: Signal<Local, Bits<16>>,
    col_c: Signal<Local, Bits<16>>,
    switched_c: Signal<Local, Bits<16>>,
    is_open: Signal<Local, Bit>,
    fire: Signal<Local, Bit>,
    fold_end: Signal<Local, Bit>,
    last: Signal<Local, Bit>,
    top_g_c: Signal<Local, Bits<16>>,
    top_res_c: Signal<Local, Bits<16>>,
    pre_start: Signal<Local, Bit>,
    pon: Signal<Local, Bit>,
    prow_c: Signal<Local, Bits<16>>,
    pg_c: Signal<Local, Bits<16>>,
    ps_c: Signal<Local, Bits<16>>,
    pq_c: Signal<Local, Bits<16>>,
}

impl ArrayFeeder {
    /// The feeder of an `rows × cols` array.
    pub fn new(rows: usize, cols: usize) -> Self {
        let c16 = |v: usize| Constant::new(bits(v as LiteralType));
        Self {
            clock: Default::default(),
            start: Default::default(),
            g: Default::default(),
            done: Default::default(),
            x_base: Default::default(),
            w_base: Default::default(),
            y_base: Default::default(),
            t2: Default::default(),
            t4: Default::default(),
            k: Default::default(),
            m: Default::default(),
            n: Default::default(),
            mm: Default::default(),
            ib: Default::default(),
            xg: Default::default(),
            wstride: Default::default(),
            sparse: Default::default(),
            s_valid: Default::default(),
            s_sw: Default::default(),
            last: Default::default(),
            s_xo: Default::default(),
            s_res: Default::default(),
            s_xrows: Default::default(),
            s_yo: Default::default(),
            s_oc: Default::default(),
            s_ow: Default::default(),
            p_on: Default::default(),
            p_dd: Default::default(),
            p_wo: Default::default(),
            p_s: Default::default(),
            p_qv: Default::default(),
            p_oc: Default::default(),
            rows: c16(rows),
            cols: c16(cols),
            drain: c16(rows + cols - 2),
            hold: Default::default(),
            f: Default::default(),
            adv: Default::default(),
            padv: Default::default(),
            busy: Default::default(),
            tail: Default::default(),
            fold: Default::default(),
            open: Default::default(),
            col: Default::default(),
            beat: Default::default(),
            switched: Default::default(),
            kb: Default::default(),
            res: Default::default(),
            xg_off: Default::default(),
            xrows: Default::default(),
            yo_nb: Default::default(),
            oc_nb: Default::default(),
            pre_on: Default::default(),
            pre_fold: Default::default(),
            pre_row: Default::default(),
            preloaded: Default::default(),
            kbp: Default::default(),
            kbp_q: Default::default(),
            top_g: Default::default(),
            top_res: Default::default(),
            pg: Default::default(),
            ps: Default::default(),
            pq: Default::default(),
            wo_nb: Default::default(),
            poc: Default::default(),
            act: Default::default(),
            need: Default::default(),
            opening: Default::default(),
            beat_c: Default::default(),
            col_c: Default::default(),
            switched_c: Default::default(),
            is_open: Default::default(),
            fire: Default::default(),
            fold_end: Default::default(),
            top_g_c: Default::default(),
            top_res_c: Default::default(),
            pre_start: Default::default(),
            pon: Default::default(),
            prow_c: Default::default(),
            pg_c: Default::default(),
            ps_c: Default::default(),
            pq_c: Default::default(),
        }
    }
}

impl Logic for ArrayFeeder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, busy, tail, fold, open, col, beat, switched, kb, res, xg_off, xrows,
            yo_nb, oc_nb, pre_on, pre_fold, pre_row, preloaded, kbp, kbp_q, top_g, top_res, pg, ps,
            pq, wo_nb, poc
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
        // 19 wnb, 20 wkb, 21 top_g0, 22 top_res0, 23 ynb, 24 beats_lo, 25 beats_hi, 26 th,
        // 27 accumulate.
        self.x_base.next = self.f[0].val();
        self.w_base.next = self.f[1].val();
        self.y_base.next = self.f[2].val();
        self.t2.next = self.f[3].val() << 1;
        self.t4.next = self.f[3].val() << 2;
        self.m.next = self.f[4].val();
        self.k.next = self.f[5].val();
        self.n.next = self.f[9].val();
        self.mm.next = self.f[10].val();
        self.ib.next = self.f[11].val();
        self.sparse.next = self.f[13].val() != 0;
        self.xg.next = self.f[14].val();
        self.wstride.next = self.f[18].val();

        self.act.next = self.start.val() | self.busy.q.val();
        if self.start.val() {
            self.busy.d.next = true;
        }

        // Left edge. A fold opens once its preload is complete and the previous fold closed.
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
        self.need.next = self.f[24].val();
        if self.res.q.val() >= self.f[26].val() {
            self.need.next = self.f[25].val();
        }
        self.opening.next = self.act.val()
            & !self.open.q.val()
            & (self.fold.q.val() < self.f[7].val())
            & (self.preloaded.q.val() > self.fold.q.val());
        self.beat_c.next = self.beat.q.val();
        self.col_c.next = self.col.q.val();
        self.switched_c.next = self.switched.q.val();
        if self.opening.val() {
            self.beat_c.next = 0.into();
            self.col_c.next = 0.into();
            self.switched_c.next = self.fold.q.val() + 1;
        }
        self.switched.d.next = self.switched_c.val();
        self.is_open.next = self.open.q.val() | self.opening.val();
        self.fire.next = self.is_open.val() & (self.beat_c.val() + 1 == self.need.val());
        self.fold_end.next = self.fire.val() & (self.col_c.val() + 1 == self.f[3].val());
        self.s_valid.next = self.fire.val();
        self.s_sw.next = self.opening.val();
        self.last.next = self.fold_end.val() & (self.fold.q.val() + 1 == self.f[7].val());
        self.s_xo.next = self.xg_off.q.val() + (self.col_c.val() << 1);
        self.s_res.next = self.res.q.val();
        self.s_xrows.next = self.xrows.q.val();
        self.s_yo.next = self.yo_nb.q.val() + (self.col_c.val() << 2);
        self.s_oc.next = self.oc_nb.q.val();
        self.s_ow.next = (self.kb.q.val() == 0) & (self.f[27].val() == 0);
        if self.is_open.val() {
            self.open.d.next = !self.fold_end.val();
            self.beat.d.next = self.beat_c.val() + 1;
            self.col.d.next = self.col_c.val();
            if self.fire.val() {
                self.beat.d.next = 0.into();
                self.col.d.next = self.col_c.val() + 1;
            }
            if self.fold_end.val() {
                self.col.d.next = 0.into();
                self.fold.d.next = self.fold.q.val() + 1;
                self.kb.d.next = self.adv.kb_n.val();
                self.res.d.next = self.adv.res_n.val();
                self.xg_off.d.next = self.adv.xg_n.val();
                self.xrows.d.next = self.adv.xrows_n.val();
                self.yo_nb.d.next = self.adv.yo_n.val();
                self.oc_nb.d.next = self.adv.oc_n.val();
            }
        }

        // Weight bus. A preload may start once the previous fold's switch has left; it sends
        // rows R−1 … 0, walking the reduction positions down from the fold's R−1.
        self.top_g_c.next = self.top_g.q.val();
        self.top_res_c.next = self.top_res.q.val();
        if self.start.val() {
            self.top_g_c.next = self.f[21].val();
            self.top_res_c.next = self.f[22].val();
        }
        self.top_g.d.next = self.top_g_c.val();
        self.top_res.d.next = self.top_res_c.val();
        self.padv.kbp.next = self.kbp.q.val();
        self.padv.kbp_q.next = self.kbp_q.q.val();
        self.padv.top_g.next = self.top_g_c.val();
        self.padv.top_res.next = self.top_res_c.val();
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
        self.pre_start.next = self.act.val()
            & !self.pre_on.q.val()
            & (self.pre_fold.q.val() < self.f[7].val())
            & (self.switched_c.val() >= self.pre_fold.q.val());
        self.pon.next = self.pre_on.q.val() | self.pre_start.val();
        self.prow_c.next = self.pre_row.q.val();
        self.pg_c.next = self.pg.q.val();
        self.ps_c.next = self.ps.q.val();
        self.pq_c.next = self.pq.q.val();
        if self.pre_start.val() {
            self.prow_c.next = 0.into();
            self.pg_c.next = self.top_g_c.val();
            self.ps_c.next = self.top_res_c.val();
            self.pq_c.next = self.kbp_q.q.val() + self.rows.val() - 1;
        }
        self.p_on.next = self.pon.val();
        self.p_dd.next = bit_cast::<DEST_BITS, 16>(self.rows.val() - self.prow_c.val());
        self.p_wo.next = self.wo_nb.q.val() + self.pg_c.val();
        self.p_s.next = self.ps_c.val();
        self.p_qv.next = self.pq_c.val() < self.f[6].val();
        self.p_oc.next = self.poc.q.val();
        if self.pon.val() {
            self.pre_on.d.next = true;
            self.pre_row.d.next = self.prow_c.val() + 1;
            self.pq.d.next = self.pq_c.val() - 1;
            self.pg.d.next = self.pg_c.val();
            self.ps.d.next = self.ps_c.val() - 1;
            if self.ps_c.val() == 0 {
                self.ps.d.next = self.f[9].val() - 1;
                self.pg.d.next = self.pg_c.val() - self.f[12].val();
            }
            if self.prow_c.val() + 1 == self.rows.val() {
                self.pre_on.d.next = false;
                self.pre_fold.d.next = self.pre_fold.q.val() + 1;
                self.preloaded.d.next = self.pre_fold.q.val() + 1;
                self.kbp.d.next = self.padv.kbp_n.val();
                self.kbp_q.d.next = self.padv.kbp_q_n.val();
                self.top_g.d.next = self.padv.top_g_n.val();
                self.top_res.d.next = self.padv.top_res_n.val();
                self.wo_nb.d.next = self.padv.wo_n.val();
                self.poc.d.next = self.padv.poc_n.val();
            }
        }

        // Completion: the last slot's result reaches the last column R−1+C−1 cycles later.
        self.done.next = self.tail.q.val() == 1;
        if self.tail.q.val() != 0 {
            self.tail.d.next = self.tail.q.val() - 1;
        }
        if self.last.val() {
            self.tail.d.next = self.drain.val();
        }
        if self.done.val() {
            self.busy.d.next = false;
            self.fold.d.next = 0.into();
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
