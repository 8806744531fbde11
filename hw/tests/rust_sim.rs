//! rust-hdl's own simulation of the hand-written `update` of the array (and the `#[hdl_gen]`
//! PE inside it) against the project's reference GEMM, through the same driver as the
//! Verilator tests.

mod common;

use common::{pruned_columns, reference_gemm, Rng};
use nmsat_compiler::prune::Nm;
use nmsat_hw::{gemm, load_weights, Mode, SystolicArray, Tile};
use rust_hdl::prelude::*;

fn check<const L: usize>(rows: usize, cols: usize, mode: Mode, seed: u64) {
    let mut rng = Rng(seed);
    let mut arr = SystolicArray::<L>::new(rows, cols);
    arr.connect_all();
    let k = mode.reduction(rows);
    let m_rows = 5;
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
    load_weights(&mut arr, &tile).unwrap();
    let y = gemm(&mut arr, mode, &a, m_rows, &bias).unwrap();
    assert_eq!(
        y,
        reference_gemm(&a, &w_ref, &bias, m_rows, k, cols),
        "{mode:?}"
    );
}

#[test]
fn dense_2x3() {
    check::<4>(2, 3, Mode::Dense, 21);
}

#[test]
fn sparse_2_of_4_on_4x2() {
    check::<4>(4, 2, Mode::Sparse(Nm { n: 2, m: 4 }), 22);
}

#[test]
fn sparse_1_of_8_on_2x2() {
    check::<8>(2, 2, Mode::Sparse(Nm { n: 1, m: 8 }), 23);
}
