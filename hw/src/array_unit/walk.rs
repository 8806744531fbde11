//! The fold walks both controllers share ([`super::feeder::ArrayFeeder`] on ideal regions,
//! [`super::fetch::FetchFeeder`] on physical ones): where the next fold's stream and preload
//! begin, by additions only. Folds run `nb·k_folds + kb`: the next reduction fold starts R
//! positions on — ⌊R/N⌋ groups, plus one when the slot residue R mod N carries — and after the
//! last one the next block of C output rows starts again at position 0.

use rust_hdl::prelude::*;

/// The left edge's next fold: its reduction fold, the slot of its first position in its group,
/// the offset in x and the rows of x before that group, the offset in y and the output row of
/// its block. Combinational.
#[derive(LogicBlock, Default)]
pub struct FoldAdvance {
    /// This fold's walk.
    pub kb: Signal<In, Bits<16>>,
    /// See `kb`.
    pub res: Signal<In, Bits<16>>,
    /// See `kb`.
    pub xg_off: Signal<In, Bits<16>>,
    /// See `kb`.
    pub xrows: Signal<In, Bits<16>>,
    /// See `kb`.
    pub yo_nb: Signal<In, Bits<16>>,
    /// See `kb`.
    pub oc_nb: Signal<In, Bits<16>>,
    /// Fields ([`super::GemmOp`]): k_folds, N, M, xg, xkb, rkb, R mod N, ynb; and C.
    pub k_folds: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub n: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub mm: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub xg: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub xkb: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub rkb: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub rmod: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub ynb: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub cols: Signal<In, Bits<16>>,
    /// The next fold's walk.
    pub kb_n: Signal<Out, Bits<16>>,
    /// See `kb_n`.
    pub res_n: Signal<Out, Bits<16>>,
    /// See `kb_n`.
    pub xg_n: Signal<Out, Bits<16>>,
    /// See `kb_n`.
    pub xrows_n: Signal<Out, Bits<16>>,
    /// See `kb_n`.
    pub yo_n: Signal<Out, Bits<16>>,
    /// See `kb_n`.
    pub oc_n: Signal<Out, Bits<16>>,
    res_sum: Signal<Local, Bits<16>>,
}

impl Logic for FoldAdvance {
    #[hdl_gen]
    fn update(&mut self) {
        self.res_sum.next = self.res.val() + self.rmod.val();
        self.yo_n.next = self.yo_nb.val();
        self.oc_n.next = self.oc_nb.val();
        if self.kb.val() + 1 == self.k_folds.val() {
            self.kb_n.next = 0.into();
            self.res_n.next = 0.into();
            self.xg_n.next = 0.into();
            self.xrows_n.next = 0.into();
            self.yo_n.next = self.yo_nb.val() + self.ynb.val();
            self.oc_n.next = self.oc_nb.val() + self.cols.val();
        } else {
            self.kb_n.next = self.kb.val() + 1;
            self.res_n.next = self.res_sum.val();
            self.xg_n.next = self.xg_off.val() + self.xkb.val();
            self.xrows_n.next = self.xrows.val() + self.rkb.val();
            if self.res_sum.val() >= self.n.val() {
                self.res_n.next = self.res_sum.val() - self.n.val();
                self.xg_n.next = self.xg_off.val() + self.xkb.val() + self.xg.val();
                self.xrows_n.next = self.xrows.val() + self.rkb.val() + self.mm.val();
            }
        }
    }
}

/// The weight bus's next fold: its reduction fold, that fold's first position, the group and
/// slot of its position R−1 (where its preload starts), the offset in w of its block and the
/// output row of its column 0. Combinational.
#[derive(LogicBlock, Default)]
pub struct PreloadAdvance {
    /// This fold's walk.
    pub kbp: Signal<In, Bits<16>>,
    /// See `kbp`.
    pub kbp_q: Signal<In, Bits<16>>,
    /// See `kbp`.
    pub top_g: Signal<In, Bits<16>>,
    /// See `kbp`.
    pub top_res: Signal<In, Bits<16>>,
    /// See `kbp`.
    pub wo_nb: Signal<In, Bits<16>>,
    /// See `kbp`.
    pub poc: Signal<In, Bits<16>>,
    /// Fields ([`super::GemmOp`]): k_folds, N, gb, R mod N, wnb, wkb, top group and slot of
    /// the first fold; and R, C.
    pub k_folds: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub n: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub gb: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub rmod: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub wnb: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub wkb: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub top_g0: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub top_res0: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub rows: Signal<In, Bits<16>>,
    /// See `k_folds`.
    pub cols: Signal<In, Bits<16>>,
    /// The next fold's walk.
    pub kbp_n: Signal<Out, Bits<16>>,
    /// See `kbp_n`.
    pub kbp_q_n: Signal<Out, Bits<16>>,
    /// See `kbp_n`.
    pub top_g_n: Signal<Out, Bits<16>>,
    /// See `kbp_n`.
    pub top_res_n: Signal<Out, Bits<16>>,
    /// See `kbp_n`.
    pub wo_n: Signal<Out, Bits<16>>,
    /// See `kbp_n`.
    pub poc_n: Signal<Out, Bits<16>>,
    top_sum: Signal<Local, Bits<16>>,
}

impl Logic for PreloadAdvance {
    #[hdl_gen]
    fn update(&mut self) {
        self.top_sum.next = self.top_res.val() + self.rmod.val();
        self.wo_n.next = self.wo_nb.val();
        self.poc_n.next = self.poc.val();
        if self.kbp.val() + 1 == self.k_folds.val() {
            self.kbp_n.next = 0.into();
            self.kbp_q_n.next = 0.into();
            self.top_g_n.next = self.top_g0.val();
            self.top_res_n.next = self.top_res0.val();
            self.wo_n.next = self.wo_nb.val() + self.wnb.val();
            self.poc_n.next = self.poc.val() + self.cols.val();
        } else {
            self.kbp_n.next = self.kbp.val() + 1;
            self.kbp_q_n.next = self.kbp_q.val() + self.rows.val();
            self.top_res_n.next = self.top_sum.val();
            self.top_g_n.next = self.top_g.val() + self.wkb.val();
            if self.top_sum.val() >= self.n.val() {
                self.top_res_n.next = self.top_sum.val() - self.n.val();
                self.top_g_n.next = self.top_g.val() + self.wkb.val() + self.gb.val();
            }
        }
    }
}
