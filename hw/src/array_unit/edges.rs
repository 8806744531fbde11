//! The array's edges, one small stage per row or column, and the registers between them.
//! An edge serves the slot (or weight-bus row) of its own cycle; a step register passes it to
//! the next row or column a cycle later, advanced by one position. These registers are the
//! skew of the exact model's edges (`Skew`): row i sees the feeder's slot of i cycles ago,
//! column c the weight-bus row of c cycles ago, and the output buffer's column c the slot of
//! R−1+c cycles ago, as its result leaves the grid.

use crate::pe::IDX_BITS;
use crate::ws_pe::{DEST_BITS, FLAG_BITS};
use rust_hdl::prelude::*;

/// Bits of a gather's lane count.
pub const GATHER_COUNT_BITS: usize = 5;

/// A left-edge stage: row i's activations for its slot, one strided gather of the M rows of
/// the slot's group (lane 0 alone dense), none beyond x's k rows.
#[derive(LogicBlock, Default)]
pub struct RowEdge {
    /// Held fields: x's first byte, its rows, lanes per group.
    pub x_base: Signal<In, Bits<16>>,
    /// See `x_base`.
    pub k: Signal<In, Bits<16>>,
    /// See `x_base`.
    pub mm: Signal<In, Bits<16>>,
    /// The slot this row takes now: valid column, switch, offset in x of its group's first
    /// row at column j, and the rows of x before that row.
    pub s_valid: Signal<In, Bit>,
    /// See `s_valid`.
    pub s_sw: Signal<In, Bit>,
    /// See `s_valid`.
    pub s_xo: Signal<In, Bits<16>>,
    /// See `s_valid`.
    pub s_xrows: Signal<In, Bits<16>>,
    /// The gather: first byte and lanes to read (the scratchpad returns zero beyond).
    pub gaddr: Signal<Out, Bits<16>>,
    /// See `gaddr`.
    pub gcount: Signal<Out, Bits<GATHER_COUNT_BITS>>,
    /// The row's flags into the grid.
    pub fl: Signal<Out, Bits<FLAG_BITS>>,
    left: Signal<Local, Bits<16>>,
}

impl Logic for RowEdge {
    #[hdl_gen]
    fn update(&mut self) {
        self.gaddr.next = self.x_base.val() + self.s_xo.val();
        self.left.next = self.k.val() - self.s_xrows.val();
        self.gcount.next = 0.into();
        if self.s_valid.val() & (self.s_xrows.val() < self.k.val()) {
            self.gcount.next = self.mm.val().get_bits::<GATHER_COUNT_BITS>(0);
            if self.left.val() < self.mm.val() {
                self.gcount.next = self.left.val().get_bits::<GATHER_COUNT_BITS>(0);
            }
        }
        // Bit 0 valid, bit 1 switch.
        self.fl.next = 0.into();
        if self.s_valid.val() {
            self.fl.next = 1.into();
        }
        if self.s_sw.val() {
            self.fl.next = 2.into();
            if self.s_valid.val() {
                self.fl.next = 3.into();
            }
        }
    }
}

/// The register from row i to row i+1: the slot, its group one reduction position on (the
/// same group, or the next one after the group's last slot).
#[derive(LogicBlock, Default)]
pub struct RowStep {
    /// The clock of the registers.
    pub clock: Signal<In, Clock>,
    /// Held fields: N, M, bytes of x from group to group.
    pub n: Signal<In, Bits<16>>,
    /// See `n`.
    pub mm: Signal<In, Bits<16>>,
    /// See `n`.
    pub xg: Signal<In, Bits<16>>,
    /// Row i's slot (see [`RowEdge`]), its slot in the group, and the output buffer's part:
    /// offset in y, output row, overwrite.
    pub s_valid: Signal<In, Bit>,
    /// See `s_valid`.
    pub s_sw: Signal<In, Bit>,
    /// See `s_valid`.
    pub s_xo: Signal<In, Bits<16>>,
    /// See `s_valid`.
    pub s_res: Signal<In, Bits<16>>,
    /// See `s_valid`.
    pub s_xrows: Signal<In, Bits<16>>,
    /// See `s_valid`.
    pub s_yo: Signal<In, Bits<16>>,
    /// See `s_valid`.
    pub s_oc: Signal<In, Bits<16>>,
    /// See `s_valid`.
    pub s_ow: Signal<In, Bit>,
    /// Row i+1's slot, a cycle later (its slot in the group comes from a [`ResStep`]).
    pub q_valid: Signal<Out, Bit>,
    /// See `q_valid`.
    pub q_sw: Signal<Out, Bit>,
    /// See `q_valid`.
    pub q_xo: Signal<Out, Bits<16>>,
    /// See `q_valid`.
    pub q_xrows: Signal<Out, Bits<16>>,
    /// See `q_valid`.
    pub q_yo: Signal<Out, Bits<16>>,
    /// See `q_valid`.
    pub q_oc: Signal<Out, Bits<16>>,
    /// See `q_valid`.
    pub q_ow: Signal<Out, Bit>,
    valid: DFF<Bit>,
    sw: DFF<Bit>,
    xo: DFF<Bits<16>>,
    xrows: DFF<Bits<16>>,
    yo: DFF<Bits<16>>,
    oc: DFF<Bits<16>>,
    ow: DFF<Bit>,
}

impl Logic for RowStep {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, valid, sw, xo, xrows, yo, oc, ow);
        self.valid.d.next = self.s_valid.val();
        self.sw.d.next = self.s_sw.val();
        self.xo.d.next = self.s_xo.val();
        self.xrows.d.next = self.s_xrows.val();
        if self.s_res.val() + 1 == self.n.val() {
            self.xo.d.next = self.s_xo.val() + self.xg.val();
            self.xrows.d.next = self.s_xrows.val() + self.mm.val();
        }
        self.yo.d.next = self.s_yo.val();
        self.oc.d.next = self.s_oc.val();
        self.ow.d.next = self.s_ow.val();
        self.q_valid.next = self.valid.q.val();
        self.q_sw.next = self.sw.q.val();
        self.q_xo.next = self.xo.q.val();
        self.q_xrows.next = self.xrows.q.val();
        self.q_yo.next = self.yo.q.val();
        self.q_oc.next = self.oc.q.val();
        self.q_ow.next = self.ow.q.val();
    }
}

/// The slot-in-group register from row i to row i+1, apart from [`RowStep`] because the last
/// row has no row below it to need one.
#[derive(LogicBlock, Default)]
pub struct ResStep {
    /// The clock of the register.
    pub clock: Signal<In, Clock>,
    /// N.
    pub n: Signal<In, Bits<16>>,
    /// Row i's slot in its group.
    pub s_res: Signal<In, Bits<16>>,
    /// Row i+1's, a cycle later.
    pub q_res: Signal<Out, Bits<16>>,
    res: DFF<Bits<16>>,
}

impl Logic for ResStep {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, res);
        self.res.d.next = self.s_res.val() + 1;
        if self.s_res.val() + 1 == self.n.val() {
            self.res.d.next = 0.into();
        }
        self.q_res.next = self.res.q.val();
    }
}

/// A weight-bus stage: column c's weight for its weight-bus row — the slot's value and index
/// in the packed group (dense: the value) — zero outside w.
#[derive(LogicBlock, Default)]
pub struct TopEdge {
    /// Held fields: w's first byte, output rows, N, index bits.
    pub w_base: Signal<In, Bits<16>>,
    /// See `w_base`.
    pub m: Signal<In, Bits<16>>,
    /// See `w_base`.
    pub n: Signal<In, Bits<16>>,
    /// See `w_base`.
    pub ib: Signal<In, Bits<16>>,
    /// The weight-bus row this column takes now: on, destination row + 1, offset in w of the
    /// column's group, the slot in the group, whether the position is inside K′, and the
    /// column's output row.
    pub p_on: Signal<In, Bit>,
    /// See `p_on`.
    pub p_dd: Signal<In, Bits<DEST_BITS>>,
    /// See `p_on`.
    pub p_wo: Signal<In, Bits<16>>,
    /// See `p_on`.
    pub p_s: Signal<In, Bits<16>>,
    /// See `p_on`.
    pub p_qv: Signal<In, Bit>,
    /// See `p_on`.
    pub p_oc: Signal<In, Bits<16>>,
    /// Reads of the weight region: the value, and the group's index bytes.
    pub vaddr: Signal<Out, Bits<16>>,
    /// See `vaddr`.
    pub vdata: Signal<In, Signed<16>>,
    /// See `vaddr`.
    pub iaddr: Signal<Out, Bits<16>>,
    /// See `vaddr`.
    pub idata: Signal<In, Bits<24>>,
    /// The column's shadow-chain input.
    pub sh: Signal<Out, Signed<16>>,
    /// See `sh`.
    pub sh_sel: Signal<Out, Bits<IDX_BITS>>,
    /// See `sh`.
    pub sh_dest: Signal<Out, Bits<DEST_BITS>>,
    sib: Signal<Local, Bits<24>>,
    index: Signal<Local, Bits<IDX_BITS>>,
}

impl Logic for TopEdge {
    #[hdl_gen]
    fn update(&mut self) {
        // A packed group: N values, then N indices of `ib` bits each.
        self.vaddr.next = self.w_base.val() + self.p_wo.val() + (self.p_s.val() << 1);
        self.iaddr.next = self.w_base.val() + self.p_wo.val() + (self.n.val() << 1);
        // s·ib for ib ≤ 3 without a multiplier.
        self.sib.next = 0.into();
        if self.ib.val() == 1 {
            self.sib.next = bit_cast::<24, 16>(self.p_s.val());
        }
        if self.ib.val() == 2 {
            self.sib.next = bit_cast::<24, 16>(self.p_s.val() << 1);
        }
        if self.ib.val() == 3 {
            self.sib.next = bit_cast::<24, 16>((self.p_s.val() << 1) + self.p_s.val());
        }
        self.index.next = bit_cast::<IDX_BITS, 24>(self.idata.val() >> self.sib.val());
        self.sh.next = 0.into();
        self.sh_sel.next = 0.into();
        if self.p_on.val() & self.p_qv.val() & (self.p_oc.val() < self.m.val()) {
            self.sh.next = self.vdata.val();
            // Index bits beyond `ib` belong to the next slot.
            if self.ib.val() == 1 {
                self.sh_sel.next = self.index.val() & 1;
            }
            if self.ib.val() == 2 {
                self.sh_sel.next = self.index.val() & 3;
            }
            if self.ib.val() == 3 {
                self.sh_sel.next = self.index.val() & 7;
            }
        }
        self.sh_dest.next = 0.into();
        if self.p_on.val() {
            self.sh_dest.next = self.p_dd.val();
        }
    }
}

/// The register from column c to column c+1 of the weight bus: the row, one output row on.
#[derive(LogicBlock, Default)]
pub struct TopStep {
    /// The clock of the registers.
    pub clock: Signal<In, Clock>,
    /// Bytes of w per output row.
    pub wstride: Signal<In, Bits<16>>,
    /// Column c's row (see [`TopEdge`]).
    pub p_on: Signal<In, Bit>,
    /// See `p_on`.
    pub p_dd: Signal<In, Bits<DEST_BITS>>,
    /// See `p_on`.
    pub p_wo: Signal<In, Bits<16>>,
    /// See `p_on`.
    pub p_s: Signal<In, Bits<16>>,
    /// See `p_on`.
    pub p_qv: Signal<In, Bit>,
    /// See `p_on`.
    pub p_oc: Signal<In, Bits<16>>,
    /// Column c+1's row, a cycle later.
    pub q_on: Signal<Out, Bit>,
    /// See `q_on`.
    pub q_dd: Signal<Out, Bits<DEST_BITS>>,
    /// See `q_on`.
    pub q_wo: Signal<Out, Bits<16>>,
    /// See `q_on`.
    pub q_s: Signal<Out, Bits<16>>,
    /// See `q_on`.
    pub q_qv: Signal<Out, Bit>,
    /// See `q_on`.
    pub q_oc: Signal<Out, Bits<16>>,
    on: DFF<Bit>,
    dd: DFF<Bits<DEST_BITS>>,
    wo: DFF<Bits<16>>,
    s: DFF<Bits<16>>,
    qv: DFF<Bit>,
    oc: DFF<Bits<16>>,
}

impl Logic for TopStep {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, on, dd, wo, s, qv, oc);
        self.on.d.next = self.p_on.val();
        self.dd.d.next = self.p_dd.val();
        self.wo.d.next = self.p_wo.val() + self.wstride.val();
        self.s.d.next = self.p_s.val();
        self.qv.d.next = self.p_qv.val();
        self.oc.d.next = self.p_oc.val() + 1;
        self.q_on.next = self.on.q.val();
        self.q_dd.next = self.dd.q.val();
        self.q_wo.next = self.wo.q.val();
        self.q_s.next = self.s.q.val();
        self.q_qv.next = self.qv.q.val();
        self.q_oc.next = self.oc.q.val();
    }
}

/// An output-buffer stage: column c's result, added into y (or written, for the first
/// reduction fold of a GEMM that does not accumulate) in the cycle it leaves the grid.
#[derive(LogicBlock, Default)]
pub struct BottomEdge {
    /// Held fields: y's first byte, output rows.
    pub y_base: Signal<In, Bits<16>>,
    /// See `y_base`.
    pub m: Signal<In, Bits<16>>,
    /// The slot whose result leaves this column now: whether it is a column of x, where the
    /// result goes in y, its output row, and whether it overwrites.
    pub b_valid: Signal<In, Bit>,
    /// See `b_valid`.
    pub b_yo: Signal<In, Bits<16>>,
    /// See `b_yo`.
    pub b_oc: Signal<In, Bits<16>>,
    /// See `b_yo`.
    pub b_ow: Signal<In, Bit>,
    /// The grid's result.
    pub ps: Signal<In, Signed<32>>,
    /// Read-modify-write of y.
    pub addr: Signal<Out, Bits<16>>,
    /// See `addr`.
    pub rdata: Signal<In, Bits<32>>,
    /// See `addr`.
    pub we: Signal<Out, Bit>,
    /// See `addr`.
    pub wdata: Signal<Out, Bits<32>>,
}

impl Logic for BottomEdge {
    #[hdl_gen]
    fn update(&mut self) {
        self.addr.next = self.y_base.val() + self.b_yo.val();
        self.we.next = self.b_valid.val() & (self.b_oc.val() < self.m.val());
        self.wdata.next = self.rdata.val() + unsigned_cast(self.ps.val());
        if self.b_ow.val() {
            self.wdata.next = unsigned_cast(self.ps.val());
        }
    }
}

/// The register from output column c to c+1: the slot, one output row on.
#[derive(LogicBlock, Default)]
pub struct BottomStep {
    /// The clock of the registers.
    pub clock: Signal<In, Clock>,
    /// Bytes of y per output row.
    pub t4: Signal<In, Bits<16>>,
    /// Column c's slot (see [`BottomEdge`]).
    pub b_valid: Signal<In, Bit>,
    /// See `b_valid`.
    pub b_yo: Signal<In, Bits<16>>,
    /// See `b_yo`.
    pub b_oc: Signal<In, Bits<16>>,
    /// See `b_yo`.
    pub b_ow: Signal<In, Bit>,
    /// Column c+1's, a cycle later.
    pub q_valid: Signal<Out, Bit>,
    /// See `q_valid`.
    pub q_yo: Signal<Out, Bits<16>>,
    /// See `q_yo`.
    pub q_oc: Signal<Out, Bits<16>>,
    /// See `q_yo`.
    pub q_ow: Signal<Out, Bit>,
    valid: DFF<Bit>,
    yo: DFF<Bits<16>>,
    oc: DFF<Bits<16>>,
    ow: DFF<Bit>,
}

impl Logic for BottomStep {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, valid, yo, oc, ow);
        self.valid.d.next = self.b_valid.val();
        self.q_valid.next = self.valid.q.val();
        self.yo.d.next = self.b_yo.val() + self.t4.val();
        self.oc.d.next = self.b_oc.val() + 1;
        self.ow.d.next = self.b_ow.val();
        self.q_yo.next = self.yo.q.val();
        self.q_oc.next = self.oc.q.val();
        self.q_ow.next = self.ow.q.val();
    }
}
