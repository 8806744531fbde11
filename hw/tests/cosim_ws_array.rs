//! The weight-stationary PE grid in RTL (shadow chains, switch flags) against the exact
//! simulator's array on whole GEMMs: many folds, shapes that are not multiples of the array,
//! dense and N:M, accumulating or not — the same results and the same cycle count.

mod common;

use common::{options, resized, Rng};
use nmsat_compiler::prune::{pack_row, Nm};
use nmsat_hw::{build_ws_array_design, ws_gemm};
use nmsat_sim::exact::array::run_gemm;

fn check(side: usize, cases: usize, seed: u64) {
    let arch = resized(side as u64, side as u64, 8);
    let design = build_ws_array_design(&arch, &options()).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Rng(seed);
    let patterns = [
        None,
        Some(Nm { n: 1, m: 4 }),
        Some(Nm { n: 2, m: 4 }),
        Some(Nm { n: 2, m: 8 }),
    ];
    for case in 0..cases {
        let sparsity = patterns[case % patterns.len()];
        let m = 1 + rng.next_u64() as usize % (3 * side);
        let k = 1 + rng.next_u64() as usize % (5 * side);
        let t = 1 + rng.next_u64() as usize % (3 * side);
        let accumulate = rng.next_u64().is_multiple_of(2);
        let w: Vec<i16> = (0..m * k).map(|_| rng.small(300)).collect();
        let x: Vec<i16> = (0..k * t).map(|_| rng.small(300)).collect();
        let bytes: Vec<u8> = match sparsity {
            None => w.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Some(nm) => w.chunks(k).flat_map(|row| pack_row(row, nm)).collect(),
        };
        let y0: Vec<i32> = (0..m * t).map(|_| rng.i32() >> 8).collect();
        let mut want = y0.clone();
        let exact = run_gemm(
            &arch, m, k, t, sparsity, &bytes, &x, &mut want, accumulate, None,
        );
        let mut got = y0;
        let mut model = design.instantiate();
        let cycles = ws_gemm(
            &mut model,
            &arch,
            (m, k, t),
            sparsity,
            &bytes,
            &x,
            &mut got,
            accumulate,
        )
        .unwrap();
        let what = format!("{side}×{side} case {case}: {m}×{k}×{t} {sparsity:?} acc={accumulate}");
        assert_eq!(cycles, exact.cycles, "{what}");
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn grid_2x2_matches_the_exact_array() {
    check(2, 24, 1);
}

#[test]
fn grid_4x4_matches_the_exact_array() {
    check(4, 24, 2);
}

#[test]
fn grid_8x8_matches_the_exact_array() {
    check(8, 16, 3);
}
