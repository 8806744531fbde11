//! Verilator co-simulation of the systolic array, sized from `Arch`es, against the project's
//! reference GEMM (`datapath::mac` over weights pruned by `prune::nm_prune`).

mod common;

use common::{arch, options, pruned_columns, reference_gemm, resized, Rng};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::prune::Nm;
use nmsat_compiler::timing::{gemm_cycles, ws_column_beats};
use nmsat_hw::{
    gemm, load_weights, stream_cycles, ArrayPorts, ArrayShape, Mode, Tile, VerilatedArray,
};

const DENSE: Mode = Mode::Dense;
const S1_4: Mode = Mode::Sparse(Nm { n: 1, m: 4 });
const S2_4: Mode = Mode::Sparse(Nm { n: 2, m: 4 });
const S2_8: Mode = Mode::Sparse(Nm { n: 2, m: 8 });

/// Loads random weights (pruned to `mode` in the project's compressed form), streams random
/// activations and biases, and checks against the reference; full-range int16 values make the
/// int32 sums wrap.
fn check(p: &mut impl ArrayPorts, mode: Mode, m_rows: usize, rng: &mut Rng) {
    let ArrayShape { rows, cols, .. } = p.shape();
    let k = mode.reduction(rows);
    let w = rng.vec_i16(k * cols);
    let (tile, w_ref) = match mode {
        Mode::Dense => (Tile::dense(&w, rows, cols), w),
        Mode::Sparse(nm) => (
            Tile::sparse(&w, k, cols, nm),
            pruned_columns(&w, k, cols, nm),
        ),
    };
    let a = rng.vec_i16(m_rows * k);
    let bias = rng.vec_i32(m_rows * cols);
    load_weights(p, &tile).unwrap();
    let bottom: Vec<i16> = (0..cols).map(|c| p.w_out(c)).collect();
    assert_eq!(
        bottom,
        tile.values[(rows - 1) * cols..],
        "weight shift chain"
    );
    let y = gemm(p, mode, &a, m_rows, &bias).unwrap();
    assert_eq!(
        y,
        reference_gemm(&a, &w_ref, &bias, m_rows, k, cols),
        "{mode:?}"
    );
}

/// The array `arch` describes, Verilated (or loaded from the cache).
fn verilated(arch: &Arch) -> VerilatedArray {
    let shape = ArrayShape::from_arch(arch).unwrap();
    // A missing Verilator is a failure carrying the install command, never a skip.
    let (arr, _) = VerilatedArray::build(shape, &options()).unwrap_or_else(|e| panic!("{e}"));
    arr
}

/// Dense, 1:4, 2:4 and 2:8 tiles on one model, then a second 2:4 tile: nothing from the
/// earlier tiles may leak into it.
fn run(arch: &Arch, seed: u64) {
    let mut rng = Rng(seed);
    let mut arr = verilated(arch);
    let rows = arch.rows as usize;
    for mode in [DENSE, S1_4, S2_4, S2_8] {
        check(&mut arr, mode, 3 * rows + 1, &mut rng);
    }
    check(&mut arr, S2_4, 5, &mut rng);
}

#[test]
fn array_2x2_with_8_lanes_dense_and_sparse() {
    run(&resized(2, 2, 8), 1);
}

#[test]
fn sat_small_4x4_dense_and_sparse() {
    run(&arch("sat-small"), 2);
}

#[test]
fn array_8x8_with_8_lanes_dense_and_sparse() {
    run(&resized(8, 8, 8), 3);
}

#[test]
fn non_square_2x4_with_8_lanes_runs_dense_1_of_4_and_2_of_8() {
    // Rows ≠ columns: catches wiring that mixes up the two (`i - cols` against `i - 1`).
    let mut arr = verilated(&resized(2, 4, 8));
    let mut rng = Rng(7);
    for mode in [S2_8, DENSE, S1_4] {
        check(&mut arr, mode, 7, &mut rng);
    }
}

#[test]
fn sat_ice40_up5k_2x2_runs_its_patterns() {
    let a = arch("sat-ice40-up5k");
    let mut arr = verilated(&a);
    let mut rng = Rng(4);
    check(&mut arr, DENSE, 6, &mut rng);
    for &nm in &a.patterns {
        check(&mut arr, Mode::Sparse(nm), 6, &mut rng);
    }
    // 2:8 needs an 8:1 mux; this array has 4 lanes.
    let e = gemm(&mut arr, S2_8, &[0; 16], 1, &[0; 2]).unwrap_err();
    assert!(e.to_string().contains("4 lanes"), "{e}");
}

#[test]
fn cycles_match_the_compilers_timing_equation() {
    // One fold (K' = R, m = C) on sat-small, where every column enters in one beat: the
    // RTL's load + stream cycles are `timing::gemm_cycles`.
    let a = arch("sat-small");
    let mut arr = verilated(&a);
    let shape = arr.shape();
    let mut rng = Rng(5);
    for (mode, nm) in [(DENSE, None), (S2_8, Some(Nm { n: 2, m: 8 }))] {
        assert_eq!(ws_column_beats(&a, nm, 0), 1, "{mode:?}: the premise");
        let t = 9;
        let before = arr.cycles();
        check(&mut arr, mode, t, &mut rng);
        let k = mode.reduction(shape.rows) as u64;
        let expected = gemm_cycles(&a, a.cols, k, t as u64, nm);
        assert_eq!(arr.cycles() - before, expected, "{mode:?}");
        assert_eq!(
            (shape.rows + stream_cycles(shape, t)) as u64,
            expected,
            "{mode:?}"
        );
    }
}

#[test]
fn trace_writes_a_vcd() {
    let shape = ArrayShape {
        rows: 2,
        cols: 2,
        lanes: 2,
    };
    let mut opts = options();
    opts.trace = true;
    let (mut arr, _) = VerilatedArray::build(shape, &opts).unwrap();
    let vcd = common::scratch("trace").join("array2x2.vcd");
    arr.model().trace(&vcd).unwrap();
    check(&mut arr, Mode::Sparse(Nm { n: 1, m: 2 }), 4, &mut Rng(6));
    drop(arr); // closes the VCD
    let text = std::fs::read_to_string(&vcd).unwrap();
    assert!(
        text.contains("$enddefinitions") && text.contains("psum_out"),
        "{vcd:?}"
    );
}
