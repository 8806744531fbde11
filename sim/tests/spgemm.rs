//! SpGEMM on the PIUMA-like machine: every kernel equals the reference product on random,
//! banded, power-law (R-MAT) and empty-row matrices, and the hash table's overflow and
//! collision paths are exercised.

use nmsat_compiler::arch::piuma::Piuma;
use nmsat_sim::spgemm::csr::{spgemm_reference, Csr};
use nmsat_sim::spgemm::rmat::{Rmat, SplitMix64};
use nmsat_sim::spgemm::smash::{self, SmashOptions};
use nmsat_sim::spgemm::{run_kernel, speedups, Kernel, KernelRun};

fn piuma() -> Piuma {
    Piuma::load("piuma-block").unwrap()
}

/// Integer values in -4..=4 (never 0), so every sum is exact in f64 and `==` is the check.
fn value(rng: &mut SplitMix64) -> f64 {
    let v = rng.below(8) as f64 - 4.0;
    if v >= 0.0 {
        v + 1.0
    } else {
        v
    }
}

fn random(rows: usize, cols: usize, nnz: usize, seed: u64) -> Csr {
    let mut rng = SplitMix64(seed);
    let t = (0..nnz)
        .map(|_| {
            let r = rng.below(rows as u64) as u32;
            let c = rng.below(cols as u64) as u32;
            (r, c, value(&mut rng))
        })
        .collect();
    Csr::from_triplets(rows, cols, t)
}

fn banded(n: usize, half_width: usize, seed: u64) -> Csr {
    let mut rng = SplitMix64(seed);
    let mut t = Vec::new();
    for i in 0..n {
        for j in i.saturating_sub(half_width)..(i + half_width + 1).min(n) {
            t.push((i as u32, j as u32, value(&mut rng)));
        }
    }
    Csr::from_triplets(n, n, t)
}

/// Every third row empty, and the last rows too.
fn with_empty_rows(m: &Csr) -> Csr {
    let mut t = Vec::new();
    for i in 0..m.nrows {
        if i % 3 == 1 || i + 4 >= m.nrows {
            continue;
        }
        let (c, v) = m.row(i);
        t.extend(c.iter().zip(v).map(|(&c, &v)| (i as u32, c, v)));
    }
    Csr::from_triplets(m.nrows, m.ncols, t)
}

fn check_all(p: &Piuma, a: &Csr, b: &Csr, what: &str) -> Vec<KernelRun> {
    let want = spgemm_reference(a, b).unwrap();
    let runs: Vec<KernelRun> = Kernel::ALL
        .iter()
        .map(|&k| run_kernel(p, k, a, b).unwrap())
        .collect();
    for r in &runs {
        assert_eq!(
            r.c,
            want,
            "{what}: {} differs from the reference",
            r.kernel.name()
        );
        let s = &r.stats;
        assert_eq!(s.nnz_out, want.nnz() as u64, "{what}");
        if s.flops > 0 {
            assert!(s.cycles > 0 && s.dram_read_bytes > 0, "{what}: {s:?}");
        }
        assert!(
            s.thread_utilization <= 1.0 && s.issue_utilization <= 1.0,
            "{s:?}"
        );
        assert!(s.dram_utilization <= 1.0, "{s:?}");
    }
    runs
}

#[test]
fn kernels_equal_reference_on_random_matrices() {
    let p = piuma();
    for (rows, inner, cols, nnz_a, nnz_b, seed) in [
        (60, 50, 70, 300, 400, 1),
        (200, 200, 200, 2000, 2000, 2),
        (5, 300, 4, 40, 30, 3),
    ] {
        let a = random(rows, inner, nnz_a, seed);
        let b = random(inner, cols, nnz_b, seed + 100);
        check_all(&p, &a, &b, &format!("random {rows}×{inner}×{cols}"));
    }
}

#[test]
fn kernels_equal_reference_on_banded_matrices() {
    let p = piuma();
    let a = banded(300, 3, 7);
    check_all(&p, &a, &a, "banded A·A");
    let b = banded(300, 10, 8);
    check_all(&p, &a, &b, "banded A·B");
}

#[test]
fn kernels_equal_reference_on_power_law_matrices() {
    let p = piuma();
    let a = Rmat::graph500(10, 8, 42).generate().unwrap();
    let runs = check_all(&p, &a, &a, "R-MAT scale 10");
    let smash = &runs[0].stats;
    assert!(smash.cas >= smash.flops, "one CAS per product at least");
    assert_eq!(smash.float_adds, smash.flops);
    assert!(smash.hash_load_peak > 0.0 && smash.hash_load_peak <= 0.5);
    assert!(smash.windows >= 1);
    // Every ordered pair of distinct kernels has a speedup.
    let s = speedups(&runs.iter().map(|r| r.stats.clone()).collect::<Vec<_>>());
    assert_eq!(s.len(), 6);
}

#[test]
fn kernels_equal_reference_with_empty_rows() {
    let p = piuma();
    let a = with_empty_rows(&random(120, 80, 900, 11));
    let b = with_empty_rows(&random(80, 90, 700, 12));
    check_all(&p, &a, &b, "empty rows");
    // All empty, and zero-sized.
    check_all(&p, &Csr::empty(10, 20), &random(20, 5, 30, 13), "empty A");
    check_all(&p, &Csr::empty(0, 3), &Csr::empty(3, 0), "0×3 by 3×0");
}

#[test]
fn smash_overflow_passes_and_collisions_keep_the_product_exact() {
    let p = piuma();
    let a = Rmat::graph500(9, 8, 5).generate().unwrap();
    let want = spgemm_reference(&a, &a).unwrap();
    // 64 slots at load 0.5: a window holds 32 entries; wide rows take column passes.
    let small = SmashOptions {
        table_bytes: Some(64 * 16),
        max_load: 0.5,
    };
    let r = smash::run(&p, &a, &a, &small).unwrap();
    assert_eq!(r.c, want);
    assert!(r.stats.overflow_passes > 0, "{:?}", r.stats);
    assert!(r.stats.hash_collisions > 0, "{:?}", r.stats);
    // A full table by bound (load 1.0) collides more than a half-empty one.
    let full = SmashOptions {
        table_bytes: Some(64 * 16),
        max_load: 1.0,
    };
    let r1 = smash::run(&p, &a, &a, &full).unwrap();
    assert_eq!(r1.c, want);
    let per = |r: &KernelRun| r.stats.hash_collisions as f64 / r.stats.flops as f64;
    assert!(per(&r1) > per(&r), "{} vs {}", per(&r1), per(&r));
    // A table that cannot exist is an error, not a panic.
    let bad = SmashOptions {
        table_bytes: Some(16),
        max_load: 0.5,
    };
    assert!(smash::run(&p, &a, &a, &bad).is_err());
}

#[test]
fn runs_are_deterministic_and_shapes_are_checked() {
    let p = piuma();
    let a = Rmat::graph500(8, 8, 3).generate().unwrap();
    for k in Kernel::ALL {
        let x = run_kernel(&p, k, &a, &a).unwrap();
        let y = run_kernel(&p, k, &a, &a).unwrap();
        assert_eq!(x.stats, y.stats, "{}", k.name());
    }
    let b = random(7, 9, 10, 1);
    let e = run_kernel(&p, Kernel::Smash, &b, &b).unwrap_err();
    assert!(e.contains("inner dimensions"), "{e}");
}

#[test]
fn a_one_block_machine_runs_every_kernel() {
    let text = include_str!("../../configs/arch/piuma-block.yaml")
        .replace("rows: 2", "rows: 1")
        .replace("cols: 4", "cols: 1");
    let p = Piuma::parse("one.yaml", &text).unwrap();
    assert_eq!(p.blocks(), 1);
    let a = random(100, 100, 800, 21);
    let runs = check_all(&p, &a, &a, "one block");
    assert!(runs.iter().all(|r| r.stats.remote_atomics == 0));
}

#[test]
fn outer_product_takes_list_slots_with_remote_atomics() {
    // Row owners are spread over the blocks, so most list slots are in another block.
    let p = piuma();
    let a = random(400, 400, 3000, 31);
    let r = run_kernel(&p, Kernel::Outer, &a, &a).unwrap();
    assert!(
        r.stats.remote_atomics > r.stats.fetch_adds / 2,
        "{:?}",
        r.stats
    );
    let s = run_kernel(&p, Kernel::Smash, &a, &a).unwrap();
    assert_eq!(s.stats.remote_atomics, 0, "SMASH keeps its table local");
}
