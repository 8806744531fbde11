//! `SystolicArray`: an R×C weight-stationary array of [`Pe`]s whose R, C and lane count come
//! from an [`Arch`] at run time.
//!
//! ```text
//!              w_in[c], idx_in[c], psum_in[c]   (one per column, top edge)
//!                 │            │
//!  a_in[r·L+l] ─►[PE 0,0]──►[PE 0,1]──► … ──► a_out[r·L+l]   activations hop right
//!                 │            │                              one PE per cycle
//!  a_in[…]     ─►[PE 1,0]──►[PE 1,1]──► … ──► a_out[…]
//!                 │            │             (weights shift down while `load`,
//!                 ▼            ▼              partial sums flow down every cycle)
//!              w_out[c], idx_out[c], psum_out[c]   (bottom edge)
//!  clock, load, sparse: to every PE
//! ```
//!
//! PEs are numbered row-major, `i = r·C + c`. The right-edge activations and the bottom
//! weights are ports too, so arrays can be chained and no PE output is left dangling
//! (Verilator -Wall would flag it as UNUSEDSIGNAL). The input skew of a WS array (row r
//! delayed by r cycles) is the driver's job ([`crate::driver`]).
//!
//! Why the wiring is hand-written: `#[hdl_gen]` loop bounds may be run-time values, but the
//! generated code only rewrites the first `[...]` of a name and only evaluates loop variables,
//! so neither `pe[r][c].a_in[l]` nor `pe[r * cols + c]` translate. A `Vec<Pe<L>>` field (rust-hdl
//! implements `Block` for `Vec<B>` and names the elements `pe$0`, `pe$1`, …) plus a hand-written
//! `Logic` impl works: `update` and `connect` are plain Rust loops and `hdl` emits the same
//! wiring as a `Verilog::Combinatorial` list, so rust-hdl's own checks still see it.

use crate::error::HwError;
use crate::pe::{Pe, IDX_BITS, MAX_LANES};
use nmsat_compiler::arch::{Arch, Dataflow, DatapathKind};
use rust_hdl::core::ast::{VerilogExpression, VerilogStatement};
use rust_hdl::prelude::*;

/// The name of the array's top module in the generated Verilog (sub-modules are named after
/// it: `nmsat_array$pe$0`, `nmsat_array$pe$0$psum`, …).
pub const ARRAY_TOP: &str = "nmsat_array";

/// The largest number of PEs per side the generator accepts.
///
/// rust-hdl 0.46 makes every PE instance its own Verilog module (4 + L modules per PE, no
/// de-duplication), so the work grows with R·C and faster: measured with 4 lanes, 16×16 is
/// 2 049 modules, 1.8 MiB of Verilog, 2 s to generate and ~21 s to Verilate and compile;
/// 32×32 is 8 193 modules, 7.4 MiB, 10 s to generate, 17 s of lint, 23 s of yosys and 18 s of
/// `verilator --cc` before the C++ compile. 16 per side is what the tests cover and CI affords.
pub const MAX_SIDE: usize = 16;

/// The lane counts the PE is instantiated with (its const generic `L`).
pub const LANE_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];

/// The size of an array: what the generator reads from an [`Arch`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArrayShape {
    /// PE rows: the reduction dimension of one dense weight tile.
    pub rows: usize,
    /// PE columns: the output columns of one tile.
    pub cols: usize,
    /// Activation lanes per PE = the largest M the array runs (1 for a dense-only array).
    pub lanes: usize,
}

impl ArrayShape {
    /// The array an accelerator description asks for, or why it cannot be generated.
    pub fn from_arch(arch: &Arch) -> Result<ArrayShape, HwError> {
        // Names the description, so that a message read without the command line still says
        // which file was at fault.
        let in_arch = |e: HwError| match e {
            HwError::Unsupported {
                field,
                value,
                reason,
                allowed,
            } => HwError::Unsupported {
                field,
                value,
                reason: format!("{reason} (in `{}`)", arch.name),
                allowed,
            },
            other => other,
        };
        if arch.dataflow != Dataflow::WeightStationary {
            return Err(in_arch(HwError::Unsupported {
                field: "array.dataflow",
                value: format!("{:?}", arch.dataflow),
                reason: "the RTL array is weight-stationary only".into(),
                allowed: "weight-stationary".into(),
            }));
        }
        if arch.datapath != DatapathKind::Int16 {
            return Err(in_arch(HwError::Unsupported {
                field: "datapath.kind",
                value: format!("{:?}", arch.datapath),
                reason: "the RTL datapath is int16 × int16 → int32 only".into(),
                allowed: "int16".into(),
            }));
        }
        let shape = ArrayShape {
            rows: arch.rows as usize,
            cols: arch.cols as usize,
            lanes: arch.mux_lanes as usize,
        };
        shape.check().map_err(in_arch)?;
        Ok(shape)
    }

    /// Whether the generator builds this shape; the error names the field and says why not.
    pub fn check(&self) -> Result<(), HwError> {
        for (field, v) in [("array.rows", self.rows), ("array.cols", self.cols)] {
            if !(1..=MAX_SIDE).contains(&v) {
                return Err(HwError::Unsupported {
                    field,
                    value: v.to_string(),
                    reason: format!(
                        "arrays of 1..={MAX_SIDE} PEs per side are generated; rust-hdl 0.46 \
                         emits one Verilog module per PE instance, so a larger array takes \
                         minutes to generate, check and Verilate (32×32: 7.4 MiB of Verilog)"
                    ),
                    allowed: format!("1..={MAX_SIDE}"),
                });
            }
        }
        if !LANE_COUNTS.contains(&self.lanes) {
            return Err(HwError::Unsupported {
                field: "sparsity.mux_lanes",
                value: self.lanes.to_string(),
                reason: format!(
                    "the PE's activation mux has 1, 2, 4, 8 or 16 lanes (a const generic of the \
                     rust-hdl PE); use the next one up ({})",
                    self.lanes.next_power_of_two().min(MAX_LANES)
                ),
                allowed: "1, 2, 4, 8, 16".into(),
            });
        }
        Ok(())
    }

    /// PEs in the array.
    pub fn pes(&self) -> usize {
        self.rows * self.cols
    }
}

/// An R×C array of `Pe<L>`; see the module docs for the port layout.
#[derive(LogicBlock)]
pub struct SystolicArray<const L: usize> {
    /// The clock of every PE.
    pub clock: Signal<In, Clock>,
    /// Weight shift strobe, to every PE.
    pub load: Signal<In, Bit>,
    /// Dense (0) or N:M sparse (1), to every PE.
    pub sparse: Signal<In, Bit>,
    /// `rows * L` activation lanes entering the left edge, row-major.
    pub a_in: Vec<Signal<In, Signed<16>>>,
    /// `rows * L` activation lanes leaving the right edge.
    pub a_out: Vec<Signal<Out, Signed<16>>>,
    /// Weights shifted into the top of each column while `load` is high.
    pub w_in: Vec<Signal<In, Signed<16>>>,
    /// Their in-group indices.
    pub idx_in: Vec<Signal<In, Bits<IDX_BITS>>>,
    /// The weights held by the bottom row.
    pub w_out: Vec<Signal<Out, Signed<16>>>,
    /// The indices held by the bottom row.
    pub idx_out: Vec<Signal<Out, Bits<IDX_BITS>>>,
    /// Partial sums (biases) entering the top of each column.
    pub psum_in: Vec<Signal<In, Signed<32>>>,
    /// Partial sums leaving the bottom of each column.
    pub psum_out: Vec<Signal<Out, Signed<32>>>,
    /// The PEs, row-major.
    pub pe: Vec<Pe<L>>,
    // Fields whose names start with `_` are skipped by `#[derive(LogicBlock)]`: that is where
    // the run-time sizes live.
    _rows: usize,
    _cols: usize,
}

/// `n` fresh signals, for the `Vec` ports whose length is a run-time value.
pub(crate) fn signals<D: Direction, T: Synth>(n: usize) -> Vec<Signal<D, T>> {
    (0..n).map(|_| Signal::default()).collect()
}

impl<const L: usize> SystolicArray<L> {
    /// A `rows × cols` array; call `connect_all()` before simulating or generating Verilog.
    ///
    /// # Panics
    /// If `rows` or `cols` is zero ([`build_array`] checks shapes and returns errors instead).
    pub fn new(rows: usize, cols: usize) -> Self {
        assert!(rows > 0 && cols > 0, "an array needs at least one PE");
        Self {
            clock: Default::default(),
            load: Default::default(),
            sparse: Default::default(),
            a_in: signals(rows * L),
            a_out: signals(rows * L),
            w_in: signals(cols),
            idx_in: signals(cols),
            w_out: signals(cols),
            idx_out: signals(cols),
            psum_in: signals(cols),
            psum_out: signals(cols),
            pe: (0..rows * cols).map(|_| Pe::default()).collect(),
            _rows: rows,
            _cols: cols,
        }
    }

    /// Rows, columns and lanes.
    pub fn shape(&self) -> ArrayShape {
        ArrayShape {
            rows: self._rows,
            cols: self._cols,
            lanes: L,
        }
    }

    /// Every (destination, source) pair of the wiring, as Verilog names: the Verilog view of
    /// what `update` does in Rust. The rust-hdl simulation tests check `update` and the
    /// Verilator co-simulation tests check this, each against the same reference GEMM.
    fn wiring(&self) -> Vec<(String, String)> {
        let (rows, cols) = (self._rows, self._cols);
        let mut w = Vec::new();
        let mut wire = |dst: String, src: String| w.push((dst, src));
        for r in 0..rows {
            for c in 0..cols {
                let i = r * cols + c;
                for port in ["clock", "load", "sparse"] {
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
                for port in ["w", "idx", "psum"] {
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
            for l in 0..L {
                let i = r * cols + cols - 1;
                wire(format!("a_out${}", r * L + l), format!("pe${i}$a_out${l}"));
            }
        }
        for c in 0..cols {
            let i = (rows - 1) * cols + c;
            for port in ["w", "idx", "psum"] {
                wire(format!("{port}_out${c}"), format!("pe${i}${port}_out"));
            }
        }
        w
    }
}

impl<const L: usize> Logic for SystolicArray<L> {
    fn update(&mut self) {
        let (rows, cols) = (self._rows, self._cols);
        for r in 0..rows {
            for c in 0..cols {
                let i = r * cols + c;
                self.pe[i].clock.next = self.clock.val();
                self.pe[i].load.next = self.load.val();
                self.pe[i].sparse.next = self.sparse.val();
                for l in 0..L {
                    self.pe[i].a_in[l].next = if c == 0 {
                        self.a_in[r * L + l].val()
                    } else {
                        self.pe[i - 1].a_out[l].val()
                    };
                }
                if r == 0 {
                    self.pe[i].w_in.next = self.w_in[c].val();
                    self.pe[i].idx_in.next = self.idx_in[c].val();
                    self.pe[i].psum_in.next = self.psum_in[c].val();
                } else {
                    self.pe[i].w_in.next = self.pe[i - cols].w_out.val();
                    self.pe[i].idx_in.next = self.pe[i - cols].idx_out.val();
                    self.pe[i].psum_in.next = self.pe[i - cols].psum_out.val();
                }
            }
        }
        for r in 0..rows {
            for l in 0..L {
                self.a_out[r * L + l].next = self.pe[r * cols + cols - 1].a_out[l].val();
            }
        }
        for c in 0..cols {
            let i = (rows - 1) * cols + c;
            self.w_out[c].next = self.pe[i].w_out.val();
            self.idx_out[c].next = self.pe[i].idx_out.val();
            self.psum_out[c].next = self.pe[i].psum_out.val();
        }
    }

    // `#[hdl_gen]` would derive this from `update`; by hand it must mark every signal this
    // module drives: the children's inputs and its own outputs.
    fn connect(&mut self) {
        for pe in &mut self.pe {
            pe.clock.connect();
            pe.load.connect();
            pe.sparse.connect();
            pe.w_in.connect();
            pe.idx_in.connect();
            pe.psum_in.connect();
            pe.a_in.iter_mut().for_each(|s| s.connect());
        }
        let outs = self.a_out.iter_mut().chain(&mut self.w_out);
        outs.for_each(|s| s.connect());
        self.idx_out.iter_mut().for_each(|s| s.connect());
        self.psum_out.iter_mut().for_each(|s| s.connect());
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

/// `$make::<L>(args)` with the const-generic lane count `L` equal to the run-time `$lanes`,
/// one of [`LANE_COUNTS`] (a checked [`ArrayShape`] guarantees it).
macro_rules! by_lanes {
    ($lanes:expr, $make:ident($($arg:expr),*)) => {
        match $lanes {
            1 => $make::<1>($($arg),*),
            2 => $make::<2>($($arg),*),
            4 => $make::<4>($($arg),*),
            8 => $make::<8>($($arg),*),
            16 => $make::<16>($($arg),*),
            other => unreachable!("lane count {other} passed the shape check"),
        }
    };
}
pub(crate) use by_lanes;

/// Builds an array of a checked shape, with `connect_all()` done. Lane counts are dispatched
/// to the const-generic PE.
pub fn build_array(shape: ArrayShape) -> Result<Box<dyn Block>, HwError> {
    fn make<const L: usize>(rows: usize, cols: usize) -> Box<dyn Block> {
        let mut a = SystolicArray::<L>::new(rows, cols);
        a.connect_all();
        Box::new(a)
    }
    shape.check()?;
    Ok(by_lanes!(shape.lanes, make(shape.rows, shape.cols)))
}

/// The array an accelerator description asks for (`array.rows`, `array.cols`,
/// `sparsity.mux_lanes`), or why it cannot be generated.
pub fn array_for(arch: &Arch) -> Result<Box<dyn Block>, HwError> {
    build_array(ArrayShape::from_arch(arch)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(rows: usize, cols: usize, lanes: usize) -> ArrayShape {
        ArrayShape { rows, cols, lanes }
    }

    #[test]
    fn every_power_of_two_side_from_2_to_16_is_accepted() {
        for side in [2, 4, 8, 16] {
            for lanes in LANE_COUNTS {
                shape(side, side, lanes).check().unwrap();
            }
        }
    }

    #[test]
    fn unsupported_shapes_name_the_field_and_the_reason() {
        for (s, field, needle, allowed) in [
            (shape(32, 4, 4), "array.rows", "1..=16 PEs", "1..=16"),
            (shape(4, 0, 4), "array.cols", "1..=16 PEs", "1..=16"),
            (
                shape(4, 4, 3),
                "sparsity.mux_lanes",
                "next one up (4)",
                "1, 2, 4, 8, 16",
            ),
            (
                shape(4, 4, 12),
                "sparsity.mux_lanes",
                "next one up (16)",
                "1, 2, 4, 8, 16",
            ),
        ] {
            match s.check() {
                Err(e @ HwError::Unsupported { field: f, .. }) => {
                    assert_eq!(f, field, "{s:?}");
                    assert!(e.to_string().contains(needle), "{e}");
                    let HwError::Unsupported { allowed: a, .. } = e else {
                        unreachable!()
                    };
                    assert_eq!(a, allowed);
                }
                other => panic!("{s:?}: {other:?}"),
            }
        }
    }
}
