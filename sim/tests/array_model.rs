//! The exact array model's speed on a 32×32 array.
//!
//! `cargo test --release -p nmsat-sim --test array_model speed -- --nocapture` prints the
//! PE-cycles a second (R·C·cycles over wall time); the project's target is 200 M on one core.

use nmsat_sim::exact::array;

use nmsat_compiler::arch::Arch;
use nmsat_compiler::prune::{self, Nm};
use nmsat_compiler::{datapath, timing};
use std::time::Instant;

#[test]
fn speed_on_a_32x32_array() {
    let arch = Arch::load("sat-vcu1525").unwrap();
    // Debug builds run a small GEMM so that `cargo test` stays quick; the figure that counts
    // comes from a release build.
    let (m, k, t) = if cfg!(debug_assertions) {
        (64, 128, 64)
    } else {
        (256, 1024, 512)
    };
    let value = |i: usize| (i.wrapping_mul(0x9E37_79B9) >> 7) as i16;
    let w: Vec<i16> = (0..m * k).map(value).collect();
    let x: Vec<i16> = (0..k * t).map(|i| value(i ^ 0x5555)).collect();
    for nm in [None, Some(Nm { n: 2, m: 8 })] {
        let bytes: Vec<u8> = match nm {
            None => w.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Some(nm) => (0..m)
                .flat_map(|o| prune::pack_row(&w[o * k..(o + 1) * k], nm))
                .collect(),
        };
        let mut y = vec![0i32; m * t];
        let start = Instant::now();
        let run = array::run_gemm(&arch, m, k, t, nm, &bytes, &x, &mut y, false, None);
        let secs = start.elapsed().as_secs_f64();
        let pe_cycles = arch.rows * arch.cols * run.cycles;
        println!(
            "{m}×{k}×{t} {}: {} cycles, {:.1} M PE-cycles in {secs:.3} s = {:.0} M PE-cycles/s",
            nm.map_or("dense".to_string(), |nm| nm.to_string()),
            run.cycles,
            pe_cycles as f64 / 1e6,
            pe_cycles as f64 / secs / 1e6
        );
        // t ≥ R and N | R: the regime where timing.rs is exact.
        let (m64, k64, t64) = (m as u64, k as u64, t as u64);
        assert_eq!(run.cycles, timing::gemm_cycles(&arch, m64, k64, t64, nm));
        for o in (0..m).step_by(37) {
            let row = &w[o * k..(o + 1) * k];
            let row = nm.map_or_else(|| row.to_vec(), |nm| prune::nm_prune(row, nm));
            for j in (0..t).step_by(13) {
                let want = (0..k).fold(0, |acc, q| datapath::mac(acc, row[q], x[q * t + j]));
                assert_eq!(y[o * t + j], want, "y[{o}][{j}]");
            }
        }
    }
}
