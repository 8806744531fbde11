//! `Pe`: one processing element of the weight-stationary systolic array (dense and N:M sparse).
//!
//! ```text
//!                   w_in  idx_in           psum_in
//!                     │     │                 │
//!              ┌──────▼─────▼─────────────────▼──────┐
//!              │     [w]  [idx]   (take w_in/idx_in  │
//!              │      │     │      while `load`)     │
//!  a_in[0..L] ─┼─┬────┼─────┼───► [a] ───────────────┼─► a_out[0..L]
//!              │ └► L:1 mux ◄┘ (lane idx if `sparse`,│
//!              │      │ sel     else lane 0)         │
//!              │      ▼                              │
//!              │   psum_in + w·sel ──► [psum] ───────┼─► psum_out
//!              └──────┬─────┬────────────────────────┘
//!                     ▼     ▼
//!                   w_out idx_out            [x]: a register on `clock`
//! ```
//!
//! Each cycle the PE registers `psum_out <= psum_in + w · sel` (int16 × int16 → int32, exact
//! product, wrapping int32 add: [`nmsat_compiler::datapath::mac`]) and `a_out <= a_in`, the
//! activation hop to the right neighbour. Weights shift down each column through
//! `w_in`/`w_out` while `load` is high, so `R` cycles of `load` fill an `R`-row column.
//!
//! `L` (activation lanes = the largest M the PE runs, `sparsity.mux_lanes`) is a const generic
//! because rust-hdl port widths and arrays are types; a run-time M is served by dispatching
//! over the lane counts 1, 2, 4, 8, 16 (see [`crate::array`]). The index is always 4 bits
//! (M ≤ 16); an index ≥ `L` selects lane 0.

use rust_hdl::prelude::*;

/// Width of the in-group index: M ≤ 16.
pub const IDX_BITS: usize = 4;
/// The largest number of activation lanes (M) a PE can have.
pub const MAX_LANES: usize = 1 << IDX_BITS;

/// One weight-stationary PE with `L` activation lanes (`1 ≤ L ≤ 16`).
#[derive(LogicBlock)]
pub struct Pe<const L: usize> {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// Weight shift strobe: while high, the held weight and index take `w_in`/`idx_in`.
    pub load: Signal<In, Bit>,
    /// 0: dense (lane 0 feeds the multiplier), 1: N:M sparse (lane `idx` does).
    pub sparse: Signal<In, Bit>,
    /// The weight shifted in from above while `load` is high.
    pub w_in: Signal<In, Signed<16>>,
    /// Its in-group index.
    pub idx_in: Signal<In, Bits<IDX_BITS>>,
    /// The held weight, to the PE below.
    pub w_out: Signal<Out, Signed<16>>,
    /// The held index, to the PE below.
    pub idx_out: Signal<Out, Bits<IDX_BITS>>,
    /// Activation lanes from the left.
    pub a_in: [Signal<In, Signed<16>>; L],
    /// The activation lanes, one cycle later, to the right.
    pub a_out: [Signal<Out, Signed<16>>; L],
    /// The partial sum from above.
    pub psum_in: Signal<In, Signed<32>>,
    /// `psum_in + w · sel`, registered, to the PE below.
    pub psum_out: Signal<Out, Signed<32>>,
    // rust-hdl has no `let` in `#[hdl_gen]`: the mux output is a local signal.
    sel: Signal<Local, Signed<16>>,
    // Lane numbers as constants: `#[hdl_gen]` cannot compare a signal with a loop variable
    // (no `as` casts), but it can index a constant array with one.
    lane_id: [Constant<Bits<IDX_BITS>>; L],
    w: DFF<Signed<16>>,
    idx: DFF<Bits<IDX_BITS>>,
    a: [DFF<Signed<16>>; L],
    psum: DFF<Signed<32>>,
}

// `[T; L]` with a generic `L` has no derived `Default`.
impl<const L: usize> Default for Pe<L> {
    fn default() -> Self {
        assert!(
            (1..=MAX_LANES).contains(&L),
            "a PE has 1..=16 lanes, not {L}"
        );
        Self {
            clock: Default::default(),
            load: Default::default(),
            sparse: Default::default(),
            w_in: Default::default(),
            idx_in: Default::default(),
            w_out: Default::default(),
            idx_out: Default::default(),
            a_in: std::array::from_fn(|_| Default::default()),
            a_out: std::array::from_fn(|_| Default::default()),
            psum_in: Default::default(),
            psum_out: Default::default(),
            sel: Default::default(),
            lane_id: std::array::from_fn(|l| Constant::new(bits(l as LiteralType))),
            w: Default::default(),
            idx: Default::default(),
            a: std::array::from_fn(|_| Default::default()),
            psum: Default::default(),
        }
    }
}

impl<const L: usize> Logic for Pe<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, w, idx, psum);
        for l in 0..L {
            self.a[l].clock.next = self.clock.val();
            self.a[l].d.next = self.a_in[l].val();
            self.a_out[l].next = self.a[l].q.val();
        }
        if self.load.val() {
            self.w.d.next = self.w_in.val();
            self.idx.d.next = self.idx_in.val();
        }
        self.w_out.next = self.w.q.val();
        self.idx_out.next = self.idx.q.val();
        self.sel.next = self.a_in[0].val();
        if self.sparse.val() {
            // Starting at lane 0 is redundant with the default above, but it keeps every
            // `lane_id` constant used (Verilator -Wall: UNUSEDPARAM otherwise).
            for l in 0..L {
                if self.idx.q.val() == self.lane_id[l].val() {
                    self.sel.next = self.a_in[l].val();
                }
            }
        }
        // All operands are `signed` in the Verilog, so the 32-bit context sign-extends the
        // 16-bit factors before the multiply: the product is exact and the add wraps.
        self.psum.d.next = self.psum_in.val() + self.w.q.val() * self.sel.val();
        self.psum_out.next = self.psum.q.val();
    }
}
