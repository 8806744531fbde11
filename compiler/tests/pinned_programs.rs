//! Pins the exact programs the compiler emits for a few small training iterations, so that a
//! change meant to make compilation faster (or any refactoring of the scheduler, the buffer
//! assignment, the hazard tracking or the range maps) cannot silently change an instruction,
//! a buffer address or a wait — and with them every simulated cycle.
//!
//! The pinned figures were taken from programs verified by `check` and by the simulator. When a
//! change to the compiled programs is intended (a new ISA field, a better schedule), re-pin with
//! the values the failing assertion prints and say so in the change.

use nmsat_compiler::arch::Arch;
use nmsat_compiler::check::check;
use nmsat_compiler::graph::{Recipe, TrainOptions};
use nmsat_compiler::model::load_model;
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::compile;

/// FNV-1a, 64 bits: a hash that does not depend on the Rust version or the platform.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Compiles and checks one iteration; returns (instructions, waits, hash of the JSON form).
fn pin(arch: &str, model: &str, batch: u64, recipe: Recipe, nm: Nm) -> (usize, usize, u64) {
    let arch = Arch::load(arch).unwrap();
    let model = load_model(model).unwrap();
    let opts = TrainOptions {
        recipe,
        ..TrainOptions::bdwp(batch, nm)
    };
    let prog = compile(&arch, &model, &opts).unwrap().program;
    check(&arch, &prog).unwrap();
    let waits = prog.instrs.iter().map(|i| i.waits.len()).sum();
    (prog.instrs.len(), waits, fnv1a(prog.to_json().as_bytes()))
}

const NM_2_8: Nm = Nm { n: 2, m: 8 };

#[test]
fn tiny_mlp_on_sat_small_is_pinned() {
    assert_eq!(
        pin("sat-small", "tiny-mlp", 16, Recipe::Bdwp, NM_2_8),
        (264, 319, 7_648_846_384_161_538_576)
    );
    assert_eq!(
        pin("sat-small", "tiny-mlp", 16, Recipe::Dense, NM_2_8),
        (303, 344, 2_310_300_334_998_885_642)
    );
}

#[test]
fn resnet9_on_sat_vcu1525_is_pinned() {
    assert_eq!(
        pin("sat-vcu1525", "resnet9", 2, Recipe::Bdwp, NM_2_8),
        (4536, 7704, 254_364_214_295_912_287)
    );
}
