//! `ArrayUnit`: the core's array unit — the weight-stationary grid ([`WsArray`]) with the
//! exact model's edges in RTL: the feeder, the weight bus, the output buffer and the skew
//! registers between them (`nmsat_sim::exact::array`).
//!
//! ```text
//!                 weight region ─► TopEdge c ─(TopStep)─► TopEdge c+1 …   (value + index)
//!                                      │ sh, sh_sel, sh_dest
//!  ArrayFeeder ─ slot ─► RowEdge 0 ─► ┌▼────────────┐
//!   (fields held      (RowStep)       │   WsArray   │  input region: one strided gather
//!    from issue)       RowEdge 1 ─►   │   R × C     │  of an M-group per row
//!                        …            └┬────────────┘
//!                                      │ ps, flags (the sums the bottom row forms)
//!                 output region ◄─ BottomEdge c ─(BottomStep)─► BottomEdge c+1 …  (y += ps)
//! ```
//!
//! Each edge reads its region through its own port in the cycle it needs the value (the
//! regions answer these reads combinationally), so the grid sees, cycle for cycle, what the
//! exact model's grid sees: `WsEdges` of the same GEMM, and the cycle count is `run_gemm`'s.
//!
//! On physically banked regions the unit is [`PhysicalArrayUnit`] instead: the same grid, with
//! the feeder and the weight bus fetching each column and each preload row as one access set
//! through a bank read sequencer (`fetch`, `physical`), and an output buffer that reads each
//! slot's results as a set with its column and writes them back as one after they leave the
//! grid. Which one a description gets follows its regions' `banking`:
//! [`PhysicalArrayUnit::new`] refuses an ideal input, weight or output region.

mod edges;
mod feeder;
mod fetch;
mod fields;
mod physical;
mod walk;

pub use edges::GATHER_COUNT_BITS;
pub use fields::{GemmOp, GEMM_FIELDS};
pub use physical::{forward_depth, x_set_entries, PhysicalArrayUnit};

use crate::array::signals;
use crate::ws_array::WsArray;
use edges::{BottomEdge, BottomStep, ResStep, RowEdge, RowStep, TopEdge, TopStep};
use feeder::ArrayFeeder;
use rust_hdl::prelude::*;

/// The array unit of an R×C grid with `L` activation lanes per PE; see the module docs.
#[derive(LogicBlock)]
pub struct ArrayUnit<const L: usize> {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// The array queue issues a GEMM in this cycle.
    pub start: Signal<In, Bit>,
    /// Its fields ([`GemmOp`]), valid in the issue cycle.
    pub g: [Signal<In, Bits<16>>; GEMM_FIELDS],
    /// The GEMM's last result is written in this cycle.
    pub done: Signal<Out, Bit>,
    /// Per row: the input region gather (first byte, lanes, bytes between lanes) and its
    /// `L` lanes (row r's at `r·L + l`).
    pub gaddr: Vec<Signal<Out, Bits<16>>>,
    /// See `gaddr`.
    pub gcount: Vec<Signal<Out, Bits<GATHER_COUNT_BITS>>>,
    /// See `gaddr`.
    pub gstride: Vec<Signal<Out, Bits<16>>>,
    /// See `gaddr`.
    pub gdata: Vec<Signal<In, Signed<16>>>,
    /// Per column: the weight region's value and index reads.
    pub vaddr: Vec<Signal<Out, Bits<16>>>,
    /// See `vaddr`.
    pub vdata: Vec<Signal<In, Signed<16>>>,
    /// See `vaddr`.
    pub iaddr: Vec<Signal<Out, Bits<16>>>,
    /// See `vaddr`.
    pub idata: Vec<Signal<In, Bits<24>>>,
    /// Per column: the output region's read-modify-write of y.
    pub yaddr: Vec<Signal<Out, Bits<16>>>,
    /// See `yaddr`.
    pub yrdata: Vec<Signal<In, Bits<32>>>,
    /// See `yaddr`.
    pub ywe: Vec<Signal<Out, Bit>>,
    /// See `yaddr`.
    pub ywdata: Vec<Signal<Out, Bits<32>>>,
    feeder: ArrayFeeder,
    row_edge: Vec<RowEdge>,
    row_step: Vec<RowStep>,
    res_step: Vec<ResStep>,
    top_edge: Vec<TopEdge>,
    top_step: Vec<TopStep>,
    bottom_edge: Vec<BottomEdge>,
    bottom_step: Vec<BottomStep>,
    grid: WsArray<L>,
    zero: Constant<Signed<32>>,
    _rows: usize,
    _cols: usize,
}

fn blocks<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| T::default()).collect()
}

impl<const L: usize> ArrayUnit<L> {
    /// The unit of a `rows × cols` grid (each at least 2, as `ArrayShape::check` requires).
    pub fn new(rows: usize, cols: usize) -> Self {
        assert!(
            rows >= 2 && cols >= 2,
            "the array unit needs a 2×2 grid or larger"
        );
        Self {
            clock: Default::default(),
            start: Default::default(),
            g: Default::default(),
            done: Default::default(),
            gaddr: signals(rows),
            gcount: signals(rows),
            gstride: signals(rows),
            gdata: signals(rows * L),
            vaddr: signals(cols),
            vdata: signals(cols),
            iaddr: signals(cols),
            idata: signals(cols),
            yaddr: signals(cols),
            yrdata: signals(cols),
            ywe: signals(cols),
            ywdata: signals(cols),
            feeder: ArrayFeeder::new(rows, cols),
            row_edge: blocks(rows),
            row_step: blocks(rows - 1),
            res_step: blocks(rows - 2),
            top_edge: blocks(cols),
            top_step: blocks(cols - 1),
            bottom_edge: blocks(cols),
            bottom_step: blocks(cols - 1),
            grid: WsArray::new(rows, cols),
            zero: Constant::new(signed(0)),
            _rows: rows,
            _cols: cols,
        }
    }
}

// hdl_gen indexes a vector only by a literal or an expression of loop variables, so each
// chain's first element (fed by the feeder) gets its own statements, and the last row is
// named by a loop of one iteration.
impl<const L: usize> Logic for ArrayUnit<L> {
    #[hdl_gen]
    fn update(&mut self) {
        self.feeder.clock.next = self.clock.val();
        self.feeder.start.next = self.start.val();
        for i in 0..GEMM_FIELDS {
            self.feeder.g[i].next = self.g[i].val();
        }
        self.done.next = self.feeder.done.val();
        self.grid.clock.next = self.clock.val();
        self.grid.sparse.next = self.feeder.sparse.val();

        // Left edge: row 0 takes the feeder's slot, row i the slot row i−1 took a cycle ago.
        for i in 0..self._rows {
            self.row_edge[i].x_base.next = self.feeder.x_base.val();
            self.row_edge[i].k.next = self.feeder.k.val();
            self.row_edge[i].mm.next = self.feeder.mm.val();
            self.gaddr[i].next = self.row_edge[i].gaddr.val();
            self.gcount[i].next = self.row_edge[i].gcount.val();
            self.gstride[i].next = self.feeder.t2.val();
            self.grid.fl_in[i].next = self.row_edge[i].fl.val();
        }
        for j in 0..(self._rows * L) {
            self.grid.a_in[j].next = self.gdata[j].val();
        }
        for i in 0..(self._rows - 1) {
            self.row_step[i].clock.next = self.clock.val();
            self.row_step[i].n.next = self.feeder.n.val();
            self.row_step[i].mm.next = self.feeder.mm.val();
            self.row_step[i].xg.next = self.feeder.xg.val();
        }
        for i in 0..(self._rows - 2) {
            self.res_step[i].clock.next = self.clock.val();
            self.res_step[i].n.next = self.feeder.n.val();
        }
        self.row_edge[0].s_valid.next = self.feeder.s_valid.val();
        self.row_edge[0].s_sw.next = self.feeder.s_sw.val();
        self.row_edge[0].s_xo.next = self.feeder.s_xo.val();
        self.row_edge[0].s_xrows.next = self.feeder.s_xrows.val();
        self.row_step[0].s_valid.next = self.feeder.s_valid.val();
        self.row_step[0].s_sw.next = self.feeder.s_sw.val();
        self.row_step[0].s_xo.next = self.feeder.s_xo.val();
        self.row_step[0].s_res.next = self.feeder.s_res.val();
        self.row_step[0].s_xrows.next = self.feeder.s_xrows.val();
        self.row_step[0].s_yo.next = self.feeder.s_yo.val();
        self.row_step[0].s_oc.next = self.feeder.s_oc.val();
        self.row_step[0].s_ow.next = self.feeder.s_ow.val();
        for i in 1..self._rows {
            self.row_edge[i].s_valid.next = self.row_step[i - 1].q_valid.val();
            self.row_edge[i].s_sw.next = self.row_step[i - 1].q_sw.val();
            self.row_edge[i].s_xo.next = self.row_step[i - 1].q_xo.val();
            self.row_edge[i].s_xrows.next = self.row_step[i - 1].q_xrows.val();
        }
        for i in 1..(self._rows - 1) {
            self.row_step[i].s_valid.next = self.row_step[i - 1].q_valid.val();
            self.row_step[i].s_sw.next = self.row_step[i - 1].q_sw.val();
            self.row_step[i].s_xo.next = self.row_step[i - 1].q_xo.val();
            self.row_step[i].s_res.next = self.res_step[i - 1].q_res.val();
            self.row_step[i].s_xrows.next = self.row_step[i - 1].q_xrows.val();
            self.row_step[i].s_yo.next = self.row_step[i - 1].q_yo.val();
            self.row_step[i].s_oc.next = self.row_step[i - 1].q_oc.val();
            self.row_step[i].s_ow.next = self.row_step[i - 1].q_ow.val();
        }
        for i in 0..(self._rows.min(3) - 2) {
            self.res_step[i].s_res.next = self.feeder.s_res.val();
        }
        for i in 1..(self._rows - 2) {
            self.res_step[i].s_res.next = self.res_step[i - 1].q_res.val();
        }

        // Weight bus: column 0 takes the feeder's row, column c the row column c−1 took.
        for i in 0..self._cols {
            self.top_edge[i].w_base.next = self.feeder.w_base.val();
            self.top_edge[i].m.next = self.feeder.m.val();
            self.top_edge[i].n.next = self.feeder.n.val();
            self.top_edge[i].ib.next = self.feeder.ib.val();
            self.vaddr[i].next = self.top_edge[i].vaddr.val();
            self.top_edge[i].vdata.next = self.vdata[i].val();
            self.iaddr[i].next = self.top_edge[i].iaddr.val();
            self.top_edge[i].idata.next = self.idata[i].val();
            self.grid.sh_in[i].next = self.top_edge[i].sh.val();
            self.grid.sh_sel_in[i].next = self.top_edge[i].sh_sel.val();
            self.grid.sh_dest_in[i].next = self.top_edge[i].sh_dest.val();
            self.grid.ps_in[i].next = self.zero.val();
        }
        for i in 0..(self._cols - 1) {
            self.top_step[i].clock.next = self.clock.val();
            self.top_step[i].wstride.next = self.feeder.wstride.val();
        }
        self.top_edge[0].p_on.next = self.feeder.p_on.val();
        self.top_edge[0].p_dd.next = self.feeder.p_dd.val();
        self.top_edge[0].p_wo.next = self.feeder.p_wo.val();
        self.top_edge[0].p_s.next = self.feeder.p_s.val();
        self.top_edge[0].p_qv.next = self.feeder.p_qv.val();
        self.top_edge[0].p_oc.next = self.feeder.p_oc.val();
        self.top_step[0].p_on.next = self.feeder.p_on.val();
        self.top_step[0].p_dd.next = self.feeder.p_dd.val();
        self.top_step[0].p_wo.next = self.feeder.p_wo.val();
        self.top_step[0].p_s.next = self.feeder.p_s.val();
        self.top_step[0].p_qv.next = self.feeder.p_qv.val();
        self.top_step[0].p_oc.next = self.feeder.p_oc.val();
        for i in 1..self._cols {
            self.top_edge[i].p_on.next = self.top_step[i - 1].q_on.val();
            self.top_edge[i].p_dd.next = self.top_step[i - 1].q_dd.val();
            self.top_edge[i].p_wo.next = self.top_step[i - 1].q_wo.val();
            self.top_edge[i].p_s.next = self.top_step[i - 1].q_s.val();
            self.top_edge[i].p_qv.next = self.top_step[i - 1].q_qv.val();
            self.top_edge[i].p_oc.next = self.top_step[i - 1].q_oc.val();
        }
        for i in 1..(self._cols - 1) {
            self.top_step[i].p_on.next = self.top_step[i - 1].q_on.val();
            self.top_step[i].p_dd.next = self.top_step[i - 1].q_dd.val();
            self.top_step[i].p_wo.next = self.top_step[i - 1].q_wo.val();
            self.top_step[i].p_s.next = self.top_step[i - 1].q_s.val();
            self.top_step[i].p_qv.next = self.top_step[i - 1].q_qv.val();
            self.top_step[i].p_oc.next = self.top_step[i - 1].q_oc.val();
        }

        // Output buffer: column 0 takes the last row's slot, column c the slot column c−1
        // took a cycle ago, as the result of that slot leaves the grid's column c.
        for i in 0..self._cols {
            self.bottom_edge[i].y_base.next = self.feeder.y_base.val();
            self.bottom_edge[i].m.next = self.feeder.m.val();
            self.bottom_edge[i].ps.next = self.grid.ps_out[i].val();
            self.yaddr[i].next = self.bottom_edge[i].addr.val();
            self.bottom_edge[i].rdata.next = self.yrdata[i].val();
            self.ywe[i].next = self.bottom_edge[i].we.val();
            self.ywdata[i].next = self.bottom_edge[i].wdata.val();
        }
        for i in 0..(self._cols - 1) {
            self.bottom_step[i].clock.next = self.clock.val();
            self.bottom_step[i].t4.next = self.feeder.t4.val();
        }
        for i in (self._rows - 2)..(self._rows - 1) {
            self.bottom_edge[0].b_valid.next = self.row_step[i].q_valid.val();
            self.bottom_step[0].b_valid.next = self.row_step[i].q_valid.val();
            self.bottom_edge[0].b_yo.next = self.row_step[i].q_yo.val();
            self.bottom_edge[0].b_oc.next = self.row_step[i].q_oc.val();
            self.bottom_edge[0].b_ow.next = self.row_step[i].q_ow.val();
            self.bottom_step[0].b_yo.next = self.row_step[i].q_yo.val();
            self.bottom_step[0].b_oc.next = self.row_step[i].q_oc.val();
            self.bottom_step[0].b_ow.next = self.row_step[i].q_ow.val();
        }
        for i in 1..self._cols {
            self.bottom_edge[i].b_valid.next = self.bottom_step[i - 1].q_valid.val();
            self.bottom_edge[i].b_yo.next = self.bottom_step[i - 1].q_yo.val();
            self.bottom_edge[i].b_oc.next = self.bottom_step[i - 1].q_oc.val();
            self.bottom_edge[i].b_ow.next = self.bottom_step[i - 1].q_ow.val();
        }
        for i in 1..(self._cols - 1) {
            self.bottom_step[i].b_valid.next = self.bottom_step[i - 1].q_valid.val();
            self.bottom_step[i].b_yo.next = self.bottom_step[i - 1].q_yo.val();
            self.bottom_step[i].b_oc.next = self.bottom_step[i - 1].q_oc.val();
            self.bottom_step[i].b_ow.next = self.bottom_step[i - 1].q_ow.val();
        }
    }
}
