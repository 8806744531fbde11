//! Drives a systolic array through one weight tile: weight load, skewed activation streaming
//! and output collection. The same driver runs the Verilated model ([`VerilatedArray`]) and
//! rust-hdl's own simulation of [`SystolicArray`], through the [`ArrayPorts`] trait.
//!
//! Tiles come in the project's compressed N:M form: [`Tile::sparse`] packs each weight column
//! with [`nmsat_compiler::prune::pack_row`] and reads the groups back with
//! [`nmsat_compiler::prune::unpack_group`], so the array is fed exactly what the prune unit
//! writes and the scratchpads hold.

use crate::array::{build_array, ArrayShape, SystolicArray, ARRAY_TOP};
use crate::cosim::{top_ports, BuildOptions, BuildTimes, Design, Model};
use crate::error::HwError;
use crate::verilog::to_verilog;
use nmsat_compiler::prune::{pack_row, unpack_group, Nm};
use rust_hdl::prelude::*;

/// What the array computes with the loaded tile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One weight per PE row: reduction length `K = R`.
    Dense,
    /// N of every M weights kept along the reduction: PE rows `g·N .. g·N+N` share the
    /// activation group `g` (M lanes), so `K = R·M/N`.
    Sparse(Nm),
}

impl Mode {
    /// The reduction length one tile covers on an array with `rows` PE rows.
    pub fn reduction(self, rows: usize) -> usize {
        match self {
            Mode::Dense => rows,
            Mode::Sparse(nm) => rows / nm.n as usize * nm.m as usize,
        }
    }

    /// Whether an array of `shape` runs this mode: M must fit the lanes, and N must divide
    /// the rows so that no M-group straddles two tiles.
    pub fn check(self, shape: ArrayShape) -> Result<(), HwError> {
        let Mode::Sparse(nm) = self else {
            return Ok(());
        };
        let (n, m) = (nm.n as usize, nm.m as usize);
        if n == 0 || n >= m || m > shape.lanes || !shape.rows.is_multiple_of(n) {
            return Err(HwError::Usage(format!(
                "{nm} does not run on a {}×{} array with {} lanes: it needs 1 ≤ N < M ≤ lanes \
                 and N dividing the rows",
                shape.rows, shape.cols, shape.lanes
            )));
        }
        Ok(())
    }
}

/// One weight tile as the PEs hold it: `rows × cols` values and in-group indices, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    /// PE rows.
    pub rows: usize,
    /// PE columns.
    pub cols: usize,
    /// The weight of PE `(r, c)` at `r * cols + c`.
    pub values: Vec<i16>,
    /// Its index within its M-group (0 for dense tiles).
    pub indices: Vec<u8>,
}

impl Tile {
    /// A dense `rows × cols` tile (row-major `w`).
    ///
    /// # Panics
    /// If `w` does not have `rows * cols` entries.
    pub fn dense(w: &[i16], rows: usize, cols: usize) -> Tile {
        assert_eq!(w.len(), rows * cols, "a {rows}×{cols} tile");
        Tile {
            rows,
            cols,
            values: w.to_vec(),
            indices: vec![0; rows * cols],
        }
    }

    /// The compressed tile of a dense `k × cols` weight matrix (row-major `w`) pruned `nm`
    /// along `k`: PE row `g·N + j` holds the `j`-th kept weight of M-group `g`, so the tile has
    /// `k / M · N` rows.
    ///
    /// # Panics
    /// If `k` is not a multiple of M or `w` does not have `k * cols` entries.
    pub fn sparse(w: &[i16], k: usize, cols: usize, nm: Nm) -> Tile {
        let (n, m) = (nm.n as usize, nm.m as usize);
        assert!(
            k.is_multiple_of(m) && w.len() == k * cols,
            "a {k}×{cols} matrix in {nm} groups"
        );
        let rows = k / m * n;
        let mut tile = Tile {
            rows,
            cols,
            values: vec![0; rows * cols],
            indices: vec![0; rows * cols],
        };
        for c in 0..cols {
            let column: Vec<i16> = (0..k).map(|x| w[x * cols + c]).collect();
            let packed = pack_row(&column, nm);
            for g in 0..k / m {
                for (j, (idx, v)) in unpack_group(&packed, nm, g).into_iter().enumerate() {
                    tile.values[(g * n + j) * cols + c] = v;
                    // `unpack_group` yields indices < M ≤ 16.
                    tile.indices[(g * n + j) * cols + c] = idx as u8;
                }
            }
        }
        tile
    }
}

/// The ports of an array, whatever simulates it. Inputs take effect at the next `step`;
/// outputs are as of the last `step`.
pub trait ArrayPorts {
    /// Rows, columns and lanes.
    fn shape(&self) -> ArrayShape;
    /// Drives `load`.
    fn set_load(&mut self, on: bool);
    /// Drives `sparse`.
    fn set_sparse(&mut self, on: bool);
    /// Drives activation lane `l` of row `r`, which is `a_in[r * lanes + l]`.
    fn set_a(&mut self, lane: usize, v: i16);
    /// Drives the weight and index entering column `col`.
    fn set_w(&mut self, col: usize, w: i16, idx: u8);
    /// Drives the partial sum entering column `col`.
    fn set_psum(&mut self, col: usize, v: i32);
    /// One clock cycle.
    fn step(&mut self);
    /// The partial sum leaving column `col`.
    fn psum_out(&self, col: usize) -> i32;
    /// The weight held at the bottom of column `col`.
    fn w_out(&self, col: usize) -> i16;
}

/// Shifts `tile` into the array in `R` cycles: the last row goes first, so afterwards PE
/// `(r, c)` holds `tile.values[r * C + c]`.
pub fn load_weights(p: &mut impl ArrayPorts, tile: &Tile) -> Result<(), HwError> {
    let shape = p.shape();
    if (tile.rows, tile.cols) != (shape.rows, shape.cols) {
        return Err(HwError::Usage(format!(
            "a {}×{} tile does not fit a {}×{} array",
            tile.rows, tile.cols, shape.rows, shape.cols
        )));
    }
    p.set_load(true);
    for r in (0..shape.rows).rev() {
        for c in 0..shape.cols {
            let i = r * shape.cols + c;
            p.set_w(c, tile.values[i], tile.indices[i]);
        }
        p.step();
    }
    p.set_load(false);
    Ok(())
}

/// Cycles [`gemm`] streams `t` activation rows through a loaded R×C tile.
///
/// Activation row `m` enters array row `r` at cycle `m + r` (the skew) and reaches PE `(r, c)`
/// at cycle `m + r + c`; PE `(R−1, c)` registers `y[m][c]` at the end of that cycle, so the
/// last result (`m = t−1`, `c = C−1`) is out after cycle `t + R + C − 3`:
///
/// ```text
/// stream t  +  skew (R−1)  +  drain (C−1)  =  t + R + C − 2
/// ```
///
/// With the `R` cycles of [`load_weights`] this is the single-fold case of
/// `nmsat_compiler::timing::gemm_terms` at one column per cycle: `2R + C + t − 2`.
pub fn stream_cycles(shape: ArrayShape, t: usize) -> usize {
    if t == 0 {
        0
    } else {
        t + shape.rows + shape.cols - 2
    }
}

/// Streams `m_rows` activation rows (`m_rows × K`, row-major, `K = mode.reduction(R)`)
/// through the loaded tile and returns `bias + a · W` (`m_rows × C`, wrapping int32).
///
/// # Panics
/// If `a` or `bias` has the wrong length.
pub fn gemm(
    p: &mut impl ArrayPorts,
    mode: Mode,
    a: &[i16],
    m_rows: usize,
    bias: &[i32],
) -> Result<Vec<i32>, HwError> {
    let shape = p.shape();
    let ArrayShape { rows, cols, lanes } = shape;
    mode.check(shape)?;
    let k = mode.reduction(rows);
    assert_eq!((a.len(), bias.len()), (m_rows * k, m_rows * cols));
    p.set_sparse(mode != Mode::Dense);
    let mut y = vec![0; m_rows * cols];
    for t in 0..stream_cycles(shape, m_rows) {
        for r in 0..rows {
            // Activation row `t - r` is at the left edge of array row `r` (the skew).
            let m_row = t.checked_sub(r).filter(|&m| m < m_rows);
            for l in 0..lanes {
                let col = match mode {
                    Mode::Dense => (l == 0).then_some(r),
                    Mode::Sparse(nm) => {
                        let (n, m) = (nm.n as usize, nm.m as usize);
                        (l < m).then_some(r / n * m + l)
                    }
                };
                let v = match (m_row, col) {
                    (Some(mr), Some(x)) => a[mr * k + x],
                    _ => 0,
                };
                p.set_a(r * lanes + l, v);
            }
        }
        for c in 0..cols {
            // The bias meets activation row `m` at the top of column `c` at cycle `m + c`.
            let m_row = t.checked_sub(c).filter(|&m| m < m_rows);
            p.set_psum(c, m_row.map_or(0, |m| bias[m * cols + c]));
        }
        p.step();
        for c in 0..cols {
            if let Some(m) = (t + 1).checked_sub(rows + c).filter(|&m| m < m_rows) {
                y[m * cols + c] = p.psum_out(c);
            }
        }
    }
    Ok(y)
}

/// A Verilated array: port indices resolved once by name.
pub struct VerilatedArray {
    model: Model,
    shape: ArrayShape,
    load: usize,
    sparse: usize,
    a_in: Vec<usize>,
    w_in: Vec<usize>,
    idx_in: Vec<usize>,
    psum_in: Vec<usize>,
    psum_out: Vec<usize>,
    w_out: Vec<usize>,
    cycles: u64,
}

impl VerilatedArray {
    /// Generates the array of `shape`, Verilates it (or loads it from `opts.cache_dir`) and
    /// instantiates one model.
    pub fn build(shape: ArrayShape, opts: &BuildOptions) -> Result<(Self, BuildTimes), HwError> {
        let uut = build_array(shape)?;
        let verilog = to_verilog(uut.as_ref(), ARRAY_TOP)?;
        let ports = top_ports(uut.as_ref())?;
        let (design, times) = Design::build(&verilog, ARRAY_TOP, &ports, opts)?;
        Ok((Self::new(design.instantiate(), shape)?, times))
    }

    /// Wraps a model of an array of `shape`, resolving its ports by name.
    pub fn new(model: Model, shape: ArrayShape) -> Result<Self, HwError> {
        let ins = |base: &str, count: usize| -> Result<Vec<usize>, HwError> {
            (0..count)
                .map(|i| model.input(&format!("{base}${i}")))
                .collect()
        };
        let outs = |base: &str, count: usize| -> Result<Vec<usize>, HwError> {
            (0..count)
                .map(|i| model.output(&format!("{base}${i}")))
                .collect()
        };
        let ArrayShape { rows, cols, lanes } = shape;
        Ok(Self {
            load: model.input("load")?,
            sparse: model.input("sparse")?,
            a_in: ins("a_in", rows * lanes)?,
            w_in: ins("w_in", cols)?,
            idx_in: ins("idx_in", cols)?,
            psum_in: ins("psum_in", cols)?,
            psum_out: outs("psum_out", cols)?,
            w_out: outs("w_out", cols)?,
            model,
            shape,
            cycles: 0,
        })
    }

    /// The model, e.g. to start a VCD trace.
    pub fn model(&mut self) -> &mut Model {
        &mut self.model
    }

    /// Clock cycles run so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }
}

impl ArrayPorts for VerilatedArray {
    fn shape(&self) -> ArrayShape {
        self.shape
    }
    fn set_load(&mut self, on: bool) {
        self.model.set(self.load, i64::from(on));
    }
    fn set_sparse(&mut self, on: bool) {
        self.model.set(self.sparse, i64::from(on));
    }
    fn set_a(&mut self, lane: usize, v: i16) {
        self.model.set(self.a_in[lane], i64::from(v));
    }
    fn set_w(&mut self, col: usize, w: i16, idx: u8) {
        self.model.set(self.w_in[col], i64::from(w));
        self.model.set(self.idx_in[col], i64::from(idx));
    }
    fn set_psum(&mut self, col: usize, v: i32) {
        self.model.set(self.psum_in[col], i64::from(v));
    }
    fn step(&mut self) {
        self.model.step(1);
        self.cycles += 1;
    }
    fn psum_out(&self, col: usize) -> i32 {
        // Signed 32-bit port, sign-extended by the shim: the cast is exact.
        self.model.get(self.psum_out[col]) as i32
    }
    fn w_out(&self, col: usize) -> i16 {
        self.model.get(self.w_out[col]) as i16
    }
}

/// Propagates `uut`'s signals until nothing changes, as rust-hdl's `Simulation` does.
pub fn settle(uut: &mut impl Block) {
    for _ in 0..10_000 {
        uut.update_all();
        if !uut.has_changed() {
            return;
        }
    }
    panic!("the design does not settle (a combinational loop?)");
}

fn to_i16(x: Signed<16>) -> i16 {
    x.inner().to_u16() as i16
}

/// rust-hdl's own (slow, BigInt-based) simulation of the array, for cross-checking `update`.
impl<const L: usize> ArrayPorts for SystolicArray<L> {
    fn shape(&self) -> ArrayShape {
        SystolicArray::shape(self)
    }
    fn set_load(&mut self, on: bool) {
        self.load.next = on;
    }
    fn set_sparse(&mut self, on: bool) {
        self.sparse.next = on;
    }
    fn set_a(&mut self, lane: usize, v: i16) {
        self.a_in[lane].next = signed(i64::from(v));
    }
    fn set_w(&mut self, col: usize, w: i16, idx: u8) {
        self.w_in[col].next = signed(i64::from(w));
        self.idx_in[col].next = bits(LiteralType::from(idx));
    }
    fn set_psum(&mut self, col: usize, v: i32) {
        self.psum_in[col].next = signed(i64::from(v));
    }
    fn step(&mut self) {
        self.clock.next = false.into();
        settle(self);
        self.clock.next = true.into();
        settle(self);
    }
    fn psum_out(&self, col: usize) -> i32 {
        self.psum_out[col].val().inner().to_u32() as i32
    }
    fn w_out(&self, col: usize) -> i16 {
        to_i16(self.w_out[col].val())
    }
}
