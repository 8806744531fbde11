//! `WsArray`: an R×C grid of [`WsPe`]s — the exact simulator's weight-stationary array in
//! RTL, with its edges (the left-edge feeder, the weight bus, the output buffer) outside.
//!
//! ```text
//!          sh_in$c, sh_sel_in$c, sh_dest_in$c, ps_in$c  (top edge, one per column)
//!                   ▼                ▼
//!  a_in, fl_in ─► PE(0,0) ─► PE(0,1) ─► … ─► a_right_unused, fl_right_unused   (row r: a_in$(r·L+l), fl_in$r)
//!                   ▼                ▼
//!                PE(1,0) ─► …
//!                   ▼
//!          sh_bottom_unused$c, …, ps_out$c  (bottom edge: the sums leaving the grid)
//! ```
//!
//! The stream leaving the right edge and the shadow chain leaving the bottom go nowhere in the
//! core; their names follow Verilator's convention for signals left unused on purpose (its
//! default `--unused-regexp` is `*unused*`), so `-Wall` stays quiet where the grid is placed.
//!
//! Wired by hand for the same reason as [`crate::SystolicArray`] (run-time R and C); `update`
//! is the Rust view and `hdl` the Verilog view of the one wiring list.

use crate::array::{by_lanes, signals, ArrayShape};
use crate::error::HwError;
use crate::pe::IDX_BITS;
use crate::ws_pe::{WsPe, DEST_BITS, FLAG_BITS};
use rust_hdl::core::ast::{VerilogExpression, VerilogStatement};
use rust_hdl::prelude::*;

/// The grid; see the module docs for the ports.
#[derive(LogicBlock)]
pub struct WsArray<const L: usize> {
    /// The clock of every PE.
    pub clock: Signal<In, Clock>,
    /// Dense (0) or N:M (1), to every PE.
    pub sparse: Signal<In, Bit>,
    /// Activation lanes entering row r at `r·L + l`.
    pub a_in: Vec<Signal<In, Signed<16>>>,
    /// Flags entering row r.
    pub fl_in: Vec<Signal<In, Bits<FLAG_BITS>>>,
    /// Activation lanes leaving the right edge.
    pub a_right_unused: Vec<Signal<Out, Signed<16>>>,
    /// Flags leaving the right edge.
    pub fl_right_unused: Vec<Signal<Out, Bits<FLAG_BITS>>>,
    /// Shadow-chain weights entering column c.
    pub sh_in: Vec<Signal<In, Signed<16>>>,
    /// Their selects.
    pub sh_sel_in: Vec<Signal<In, Bits<IDX_BITS>>>,
    /// Their destination rows + 1 (0: none).
    pub sh_dest_in: Vec<Signal<In, Bits<DEST_BITS>>>,
    /// Shadow chain leaving the bottom.
    pub sh_bottom_unused: Vec<Signal<Out, Signed<16>>>,
    /// See `sh_out`.
    pub sh_sel_bottom_unused: Vec<Signal<Out, Bits<IDX_BITS>>>,
    /// See `sh_out`.
    pub sh_dest_bottom_unused: Vec<Signal<Out, Bits<DEST_BITS>>>,
    /// Partial sums entering the top.
    pub ps_in: Vec<Signal<In, Signed<32>>>,
    /// Partial sums (results) leaving the bottom: the sums the bottom row forms this cycle
    /// (which of them are results, the edges know: the slot of column c's was issued R−1+c
    /// cycles ago).
    pub ps_out: Vec<Signal<Out, Signed<32>>>,
    /// The PEs, row-major.
    pub pe: Vec<WsPe<L>>,
    _rows: usize,
    _cols: usize,
}

impl<const L: usize> WsArray<L> {
    /// A `rows × cols` grid; call `connect_all()` before use.
    pub fn new(rows: usize, cols: usize) -> Self {
        assert!(rows > 0 && cols > 0, "an array needs at least one PE");
        Self {
            clock: Default::default(),
            sparse: Default::default(),
            a_in: signals(rows * L),
            fl_in: signals(rows),
            a_right_unused: signals(rows * L),
            fl_right_unused: signals(rows),
            sh_in: signals(cols),
            sh_sel_in: signals(cols),
            sh_dest_in: signals(cols),
            sh_bottom_unused: signals(cols),
            sh_sel_bottom_unused: signals(cols),
            sh_dest_bottom_unused: signals(cols),
            ps_in: signals(cols),
            ps_out: signals(cols),
            pe: (0..rows * cols).map(|i| WsPe::new(i / cols)).collect(),
            _rows: rows,
            _cols: cols,
        }
    }

    /// Every (destination, source) pair of the wiring, as Verilog names.
    fn wiring(&self) -> Vec<(String, String)> {
        let (rows, cols) = (self._rows, self._cols);
        let mut w = Vec::new();
        let mut wire = |dst: String, src: String| w.push((dst, src));
        const CHAIN: [&str; 4] = ["sh", "sh_sel", "sh_dest", "ps"];
        for r in 0..rows {
            for c in 0..cols {
                let i = r * cols + c;
                for port in ["clock", "sparse"] {
                    wire(format!("pe${i}${port}"), port.to_string());
                }
                for l in 0..L {
                    let src = if c == 0 {
                        format!("a_in${}", r * L + l)
                    } else {
                        format!("pe${}$a_out${l}", i - 1)
                    };
                    wire(format!("pe${i}$a_in${l}"), src);
                }
                let src = if c == 0 {
                    format!("fl_in${r}")
                } else {
                    format!("pe${}$fl_out", i - 1)
                };
                wire(format!("pe${i}$fl_in"), src);
                for port in CHAIN {
                    let src = if r == 0 {
                        format!("{port}_in${c}")
                    } else {
                        format!("pe${}${port}_out", i - cols)
                    };
                    wire(format!("pe${i}${port}_in"), src);
                }
            }
        }
        for r in 0..rows {
            let i = r * cols + cols - 1;
            for l in 0..L {
                wire(
                    format!("a_right_unused${}", r * L + l),
                    format!("pe${i}$a_out${l}"),
                );
            }
            wire(format!("fl_right_unused${r}"), format!("pe${i}$fl_out"));
        }
        for c in 0..cols {
            let i = (rows - 1) * cols + c;
            for port in ["sh", "sh_sel", "sh_dest"] {
                wire(
                    format!("{port}_bottom_unused${c}"),
                    format!("pe${i}${port}_out"),
                );
            }
            wire(format!("ps_out${c}"), format!("pe${i}$ps_out"));
        }
        w
    }
}

impl<const L: usize> Logic for WsArray<L> {
    fn update(&mut self) {
        let (rows, cols) = (self._rows, self._cols);
        for r in 0..rows {
            for c in 0..cols {
                let i = r * cols + c;
                self.pe[i].clock.next = self.clock.val();
                self.pe[i].sparse.next = self.sparse.val();
                for l in 0..L {
                    self.pe[i].a_in[l].next = if c == 0 {
                        self.a_in[r * L + l].val()
                    } else {
                        self.pe[i - 1].a_out[l].val()
                    };
                }
                self.pe[i].fl_in.next = if c == 0 {
                    self.fl_in[r].val()
                } else {
                    self.pe[i - 1].fl_out.val()
                };
                if r == 0 {
                    self.pe[i].sh_in.next = self.sh_in[c].val();
                    self.pe[i].sh_sel_in.next = self.sh_sel_in[c].val();
                    self.pe[i].sh_dest_in.next = self.sh_dest_in[c].val();
                    self.pe[i].ps_in.next = self.ps_in[c].val();
                } else {
                    let up = i - cols;
                    self.pe[i].sh_in.next = self.pe[up].sh_out.val();
                    self.pe[i].sh_sel_in.next = self.pe[up].sh_sel_out.val();
                    self.pe[i].sh_dest_in.next = self.pe[up].sh_dest_out.val();
                    self.pe[i].ps_in.next = self.pe[up].ps_out.val();
                }
            }
        }
        for r in 0..rows {
            let i = r * cols + cols - 1;
            for l in 0..L {
                self.a_right_unused[r * L + l].next = self.pe[i].a_out[l].val();
            }
            self.fl_right_unused[r].next = self.pe[i].fl_out.val();
        }
        for c in 0..cols {
            let i = (rows - 1) * cols + c;
            self.sh_bottom_unused[c].next = self.pe[i].sh_out.val();
            self.sh_sel_bottom_unused[c].next = self.pe[i].sh_sel_out.val();
            self.sh_dest_bottom_unused[c].next = self.pe[i].sh_dest_out.val();
            self.ps_out[c].next = self.pe[i].ps_out.val();
        }
    }

    // By hand, like `SystolicArray`: every signal this module drives.
    fn connect(&mut self) {
        for pe in &mut self.pe {
            pe.clock.connect();
            pe.sparse.connect();
            pe.a_in.iter_mut().for_each(|s| s.connect());
            pe.fl_in.connect();
            pe.sh_in.connect();
            pe.sh_sel_in.connect();
            pe.sh_dest_in.connect();
            pe.ps_in.connect();
        }
        self.a_right_unused.iter_mut().for_each(|s| s.connect());
        self.fl_right_unused.iter_mut().for_each(|s| s.connect());
        self.sh_bottom_unused.iter_mut().for_each(|s| s.connect());
        self.sh_sel_bottom_unused
            .iter_mut()
            .for_each(|s| s.connect());
        self.sh_dest_bottom_unused
            .iter_mut()
            .for_each(|s| s.connect());
        self.ps_out.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        let sig = VerilogExpression::Signal;
        Verilog::Combinatorial(
            self.wiring()
                .into_iter()
                .map(|(dst, src)| VerilogStatement::Assignment(sig(dst), sig(src)))
                .collect(),
        )
    }
}

/// The grid of a checked shape, with `connect_all()` done (lane counts dispatched to the
/// const-generic PE).
pub fn build_ws_array(shape: ArrayShape) -> Result<Box<dyn Block>, HwError> {
    fn make<const L: usize>(rows: usize, cols: usize) -> Box<dyn Block> {
        let mut a = WsArray::<L>::new(rows, cols);
        a.connect_all();
        Box::new(a)
    }
    shape.check()?;
    Ok(by_lanes!(shape.lanes, make(shape.rows, shape.cols)))
}
