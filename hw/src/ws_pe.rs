//! `WsPe`: the weight-stationary PE of the exact simulator's array
//! (`nmsat_sim::exact::array`), register for register: a shadow weight chain lets the next
//! fold's weights preload while the current fold streams, and a *switch* flag riding with the
//! stream makes each PE swap shadow and active weight exactly when the fold's first column
//! reaches it.
//!
//! ```text
//!            sh_in, sh_sel_in, sh_dest_in      ps_in
//!                 │  (shadow chain)              │
//!         ┌───────▼──────────────────────────────▼───────┐
//!  a_in ─►│ [a] [fl] ──────────────────────────────────► │─► a_out, fl_out
//!  fl_in  │ switch (fl_in): [w],[sel] ◄── [sh],[sh_sel]  │
//!         │ chain: [sh],[sh_sel],[sh_dest] ◄── *_in      │
//!         │        while sh_dest_in > row                │
//!         │ ps_out = [ps_in] + w'·a_in[sel'] (int32 wrap)│
//!         └───────┬──────────────────────────────┬───────┘
//!                 ▼ sh_out, sh_sel_out, sh_dest_out  ▼ ps_out      [x]: register
//! ```
//!
//! Each cycle: `a, fl ← a_in, fl_in`; if `fl_in` carries SWITCH the active weight and select
//! take the shadow's *current* values; the shadow takes the value from above while that
//! value's destination row is this row or below (`sh_dest_in`, encoded as row + 1, 0 = none,
//! is greater than the PE's row); and `ps_out = [ps_in] + w′·a_in[sel′]` with the weight and
//! select of this cycle (after a switch). Dense mode uses lane 0.
//!
//! The partial-sum register sits on the PE's *input* (`[ps_in]` holds last cycle's `ps_in`):
//! the sum a PE forms in cycle τ is the one the exact model latches at the end of τ, and the
//! bottom row's `ps_out` is the result leaving the array in that cycle, which the output
//! buffer adds at the same clock edge, as the exact model's output buffer does.

use crate::pe::{IDX_BITS, MAX_LANES};
use rust_hdl::prelude::*;

/// Bits of a destination row + 1 (rows ≤ 16).
pub const DEST_BITS: usize = 5;
/// Flag bits travelling with the stream: bit 0 valid, bit 1 switch.
pub const FLAG_BITS: usize = 2;

/// One weight-stationary PE with `L` activation lanes, at row `row` of its array.
#[derive(LogicBlock)]
pub struct WsPe<const L: usize> {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// 0: dense (lane 0), 1: N:M (lane `sel`).
    pub sparse: Signal<In, Bit>,
    /// Activation lanes from the left.
    pub a_in: [Signal<In, Signed<16>>; L],
    /// Their flags.
    pub fl_in: Signal<In, Bits<FLAG_BITS>>,
    /// The activation lanes, a cycle later, to the right.
    pub a_out: [Signal<Out, Signed<16>>; L],
    /// Their flags.
    pub fl_out: Signal<Out, Bits<FLAG_BITS>>,
    /// Shadow chain from above: weight, select, destination row + 1.
    pub sh_in: Signal<In, Signed<16>>,
    /// See `sh_in`.
    pub sh_sel_in: Signal<In, Bits<IDX_BITS>>,
    /// See `sh_in`.
    pub sh_dest_in: Signal<In, Bits<DEST_BITS>>,
    /// Shadow chain to the PE below.
    pub sh_out: Signal<Out, Signed<16>>,
    /// See `sh_out`.
    pub sh_sel_out: Signal<Out, Bits<IDX_BITS>>,
    /// See `sh_out`.
    pub sh_dest_out: Signal<Out, Bits<DEST_BITS>>,
    /// Partial sum from above.
    pub ps_in: Signal<In, Signed<32>>,
    /// Partial sum to the PE below.
    pub ps_out: Signal<Out, Signed<32>>,
    row: Constant<Bits<DEST_BITS>>,
    lane_id: [Constant<Bits<IDX_BITS>>; L],
    w_next: Signal<Local, Signed<16>>,
    sel_next: Signal<Local, Bits<IDX_BITS>>,
    operand: Signal<Local, Signed<16>>,
    a: [DFF<Signed<16>>; L],
    fl: DFF<Bits<FLAG_BITS>>,
    w: DFF<Signed<16>>,
    sel: DFF<Bits<IDX_BITS>>,
    sh: DFF<Signed<16>>,
    sh_sel: DFF<Bits<IDX_BITS>>,
    sh_dest: DFF<Bits<DEST_BITS>>,
    ps: DFF<Signed<32>>,
}

impl<const L: usize> WsPe<L> {
    /// A PE at array row `row` (0 at the top).
    pub fn new(row: usize) -> Self {
        assert!(
            (1..=MAX_LANES).contains(&L),
            "a PE has 1..=16 lanes, not {L}"
        );
        Self {
            clock: Default::default(),
            sparse: Default::default(),
            a_in: std::array::from_fn(|_| Default::default()),
            fl_in: Default::default(),
            a_out: std::array::from_fn(|_| Default::default()),
            fl_out: Default::default(),
            sh_in: Default::default(),
            sh_sel_in: Default::default(),
            sh_dest_in: Default::default(),
            sh_out: Default::default(),
            sh_sel_out: Default::default(),
            sh_dest_out: Default::default(),
            ps_in: Default::default(),
            ps_out: Default::default(),
            row: Constant::new(bits(row as LiteralType)),
            lane_id: std::array::from_fn(|l| Constant::new(bits(l as LiteralType))),
            w_next: Default::default(),
            sel_next: Default::default(),
            operand: Default::default(),
            a: std::array::from_fn(|_| Default::default()),
            fl: Default::default(),
            w: Default::default(),
            sel: Default::default(),
            sh: Default::default(),
            sh_sel: Default::default(),
            sh_dest: Default::default(),
            ps: Default::default(),
        }
    }
}

impl<const L: usize> Logic for WsPe<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, fl, w, sel, sh, sh_sel, sh_dest, ps);
        for l in 0..L {
            self.a[l].clock.next = self.clock.val();
            self.a[l].d.next = self.a_in[l].val();
            self.a_out[l].next = self.a[l].q.val();
        }
        self.fl.d.next = self.fl_in.val();
        self.fl_out.next = self.fl.q.val();
        // The switch reads the shadow before this cycle's chain write can replace it.
        self.w_next.next = self.w.q.val();
        self.sel_next.next = self.sel.q.val();
        if self.fl_in.val().get_bit(1) {
            self.w_next.next = self.sh.q.val();
            self.sel_next.next = self.sh_sel.q.val();
        }
        self.w.d.next = self.w_next.val();
        self.sel.d.next = self.sel_next.val();
        if self.sh_dest_in.val() > self.row.val() {
            self.sh.d.next = self.sh_in.val();
            self.sh_sel.d.next = self.sh_sel_in.val();
            self.sh_dest.d.next = self.sh_dest_in.val();
        }
        self.sh_out.next = self.sh.q.val();
        self.sh_sel_out.next = self.sh_sel.q.val();
        self.sh_dest_out.next = self.sh_dest.q.val();
        self.operand.next = self.a_in[0].val();
        if self.sparse.val() {
            // Starting at lane 0 keeps every `lane_id` constant used (Verilator -Wall).
            for l in 0..L {
                if self.sel_next.val() == self.lane_id[l].val() {
                    self.operand.next = self.a_in[l].val();
                }
            }
        }
        // Signed operands: the 32-bit context sign-extends the factors; the add wraps.
        self.ps.d.next = self.ps_in.val();
        self.ps_out.next = self.ps.q.val() + self.w_next.val() * self.operand.val();
    }
}
