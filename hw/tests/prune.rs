//! The top-N-of-M unit: rust-hdl simulation and Verilator co-simulation against the project's
//! `prune::nm_mask` (including its tie-break: the lower index wins).

mod common;

use common::{verilate, Rng};
use nmsat_compiler::prune::{nm_mask, Nm};
use nmsat_hw::{settle, Prune};
use rust_hdl::prelude::*;

/// Random groups: full range, then small ranges that force ties, then the edge values.
fn groups(m: usize, rng: &mut Rng) -> Vec<Vec<i16>> {
    let mut g: Vec<Vec<i16>> = (0..200).map(|_| rng.vec_i16(m)).collect();
    g.extend((0..400).map(|_| (0..m).map(|_| rng.small(2)).collect()));
    let edges = [i16::MIN, i16::MAX, -i16::MAX, 0, 1, -1];
    g.extend((0..200).map(|_| (0..m).map(|_| edges[rng.next_u64() as usize % 6]).collect()));
    g.push(vec![0; m]);
    g.push(vec![i16::MIN; m]);
    g
}

/// (kept values, kept indices, mask) the project's pruning gives for one group.
fn expected(group: &[i16], nm: Nm) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
    let mask = nm_mask(group, nm);
    let keep: Vec<usize> = (0..group.len()).filter(|&i| mask[i]).collect();
    let values = keep.iter().map(|&i| i64::from(group[i])).collect();
    let indices = keep.iter().map(|&i| i as i64).collect();
    (
        values,
        indices,
        mask.iter().map(|&k| i64::from(k)).collect(),
    )
}

const PATTERNS: [Nm; 6] = [
    Nm { n: 1, m: 2 },
    Nm { n: 1, m: 4 },
    Nm { n: 2, m: 4 },
    Nm { n: 3, m: 5 },
    Nm { n: 2, m: 8 },
    Nm { n: 4, m: 16 },
];

#[test]
fn rust_hdl_update_matches_nm_mask() {
    let mut rng = Rng(11);
    for nm in PATTERNS {
        let mut uut = Prune::new(nm).unwrap();
        uut.connect_all();
        for g in groups(nm.m as usize, &mut rng) {
            for (s, &w) in uut.w_in.iter_mut().zip(&g) {
                s.next = signed(i64::from(w));
            }
            settle(&mut uut);
            let values = uut
                .w_out
                .iter()
                .map(|s| s.val().bigint().try_into().unwrap())
                .collect();
            let indices = uut
                .idx_out
                .iter()
                .map(|s| s.val().to_u64() as i64)
                .collect();
            let mask = uut.mask.iter().map(|s| i64::from(s.val())).collect();
            assert_eq!((values, indices, mask), expected(&g, nm), "{nm} {g:?}");
        }
    }
}

/// Verilates one unit per pattern and checks it on the random groups.
fn verilated_matches_nm_mask(patterns: &[Nm], seed: u64) {
    let mut rng = Rng(seed);
    for &nm in patterns {
        let (n, m) = (nm.n as usize, nm.m as usize);
        let mut uut = Prune::new(nm).unwrap();
        uut.connect_all();
        let mut model = verilate(&uut, "nmsat_prune").instantiate();
        let port = |base: &str, i: usize| format!("{base}${i}");
        let w_in: Vec<usize> = (0..m)
            .map(|i| model.input(&port("w_in", i)).unwrap())
            .collect();
        let w_out: Vec<usize> = (0..n)
            .map(|i| model.output(&port("w_out", i)).unwrap())
            .collect();
        let idx: Vec<usize> = (0..n)
            .map(|i| model.output(&port("idx_out", i)).unwrap())
            .collect();
        let mask: Vec<usize> = (0..m)
            .map(|i| model.output(&port("mask", i)).unwrap())
            .collect();
        for g in groups(m, &mut rng) {
            for (&p, &w) in w_in.iter().zip(&g) {
                model.set(p, i64::from(w));
            }
            model.eval();
            let got = |ports: &[usize]| ports.iter().map(|&p| model.get(p)).collect::<Vec<_>>();
            assert_eq!(
                (got(&w_out), got(&idx), got(&mask)),
                expected(&g, nm),
                "{nm} {g:?}"
            );
        }
    }
}

// Split in two so that the two halves' C++ builds run on both cores.
#[test]
fn verilated_small_groups_match_nm_mask() {
    verilated_matches_nm_mask(&PATTERNS[..3], 12);
}

#[test]
fn verilated_large_groups_match_nm_mask() {
    verilated_matches_nm_mask(&PATTERNS[3..], 13);
}
