//! Data-parallel training over K SAT cores gives exactly the weights one core gives on the
//! whole batch, whichever reduction sums the gradients; and the reductions themselves sum.

use nmsat_compiler::arch::{Arch, Reduction};
use nmsat_compiler::graph::{Recipe, TrainOptions};
use nmsat_compiler::isa::Program;
use nmsat_compiler::model::{parse_model, Model};
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::compile;
use nmsat_sim::exact::Memory;
use nmsat_sim::multicore::{self, reduce};
use proptest::prelude::*;

mod reference;
use reference::values;

/// `sat-small` with 64 KiB scratchpads (room for the conv nets' classifier rows) on `cores`
/// cores.
fn sat_small(cores: u64, reduction: &str) -> Arch {
    let text = format!(
        "{}multicore: {{cores: {cores}, reduction: {reduction}}}\n",
        include_str!("../../configs/arch/sat-small.yaml").replace("bytes: 16384", "bytes: 65536")
    );
    Arch::parse("sat-small-multi.yaml", &text).unwrap()
}

/// fc1, an optional layer norm, ReLU or GELU, fc2: no batch norm, whose statistics are per core.
fn mlp(tokens: u64, input: u64, hidden: u64, out: u64, ln: bool, gelu: bool) -> Model {
    let mut text = format!(
        "name: mlp\ninput: {{tokens: {tokens}, dim: {input}}}\nlayers:\n  - {{name: fc1, op: linear, out_features: {hidden}}}\n"
    );
    if ln {
        text += "  - {name: norm, op: layernorm}\n";
    }
    let act = if gelu { "gelu" } else { "relu" };
    text += &format!(
        "  - {{name: act, op: {act}}}\n  - {{name: fc2, op: linear, out_features: {out}}}\n"
    );
    parse_model("mlp.yaml", &text).unwrap()
}

/// A strided convolution, pooling, a grouped convolution and a classifier.
fn convnet(c0: u64, hw: u64, co1: u64, stride: u64, max: bool, classes: u64) -> Model {
    let text = format!(
        "name: conv\ninput: {{channels: {c0}, height: {hw}, width: {hw}}}\nlayers:\n\
         - {{name: conv1, op: conv2d, out_channels: {co1}, kernel: 3, stride: {stride}, padding: 1}}\n\
         - {{name: relu1, op: relu}}\n\
         - {{name: pool1, op: {}, kernel: 2, stride: 1, padding: 0}}\n\
         - {{name: conv2, op: conv2d, out_channels: {}, kernel: 1, stride: 1, padding: 0, groups: 2}}\n\
         - {{name: fc, op: linear, out_features: {classes}}}\n",
        if max { "maxpool" } else { "avgpool" },
        2 * co1,
    );
    parse_model("conv.yaml", &text).unwrap()
}

fn tensor<'p>(prog: &'p Program, name: &str) -> &'p nmsat_compiler::isa::Tensor {
    prog.tensors.iter().find(|t| t.name == name).unwrap()
}

/// One core on `batch` samples, then K cores on `batch / K` each: every core ends with the
/// single core's weights, momenta and weight gradients.
fn check_equal(
    model: &Model,
    cores: u64,
    reduction: &str,
    per_core: u64,
    nm: Nm,
    recipe: Recipe,
    seed: u64,
) {
    let one = sat_small(1, "atomic");
    let many = sat_small(cores, reduction);
    let batch = per_core * cores;
    let opts = |b| TrainOptions {
        recipe,
        lr: 0.5,
        ..TrainOptions::bdwp(b, nm)
    };
    let p1 = compile(&one, model, &opts(batch)).unwrap().program;
    nmsat_compiler::check::check(&one, &p1).unwrap();
    let pk = compile(&many, model, &opts(per_core)).unwrap().program;
    nmsat_compiler::check::check(&many, &pk).unwrap();
    let pk = multicore::data_parallel(pk, batch);

    let classes = model.layers.last().unwrap().out.numel() as i64;
    let samples = |t: &str, prog: &Program| tensor(prog, t).bytes as usize / 2;
    let x = values(seed, samples("input", &p1), 256);
    let labels: Vec<i16> = values(seed + 1, batch as usize, 1000)
        .iter()
        .map(|v| (*v as i64).rem_euclid(classes) as i16)
        .collect();
    // Weights and optimizer state: every host-provided tensor but the samples.
    let shared: Vec<(String, Vec<i16>)> = p1
        .tensors
        .iter()
        .filter(|t| t.host_init && t.name != "input" && t.name != "labels")
        .enumerate()
        .map(|(i, t)| {
            (
                t.name.clone(),
                values(seed + 2 + i as u64, t.bytes as usize / 2, 64),
            )
        })
        .collect();
    let load = |prog: &Program, mem: &mut Memory, xs: &[i16], ls: &[i16]| {
        mem.write_i16(prog, "input", xs).unwrap();
        mem.write_i16(prog, "labels", ls).unwrap();
        for (name, v) in &shared {
            mem.write_i16(prog, name, v).unwrap();
        }
    };
    let mut m1 = Memory::new(&one, &p1);
    load(&p1, &mut m1, &x, &labels);
    nmsat_sim::simulate_exact_on(&one, &p1, &mut m1).unwrap();

    let (xs, ls) = (x.len() / cores as usize, per_core as usize);
    let mut mems: Vec<Memory> = (0..cores as usize)
        .map(|c| {
            let mut m = Memory::new(&many, &pk);
            load(
                &pk,
                &mut m,
                &x[c * xs..(c + 1) * xs],
                &labels[c * ls..(c + 1) * ls],
            );
            m
        })
        .collect();
    let run = multicore::simulate_exact_on(&many, &pk, &mut mems).unwrap();
    assert!(run.reduction.tiles > 0, "no gradient tile was reduced");
    assert_eq!(
        run.stats,
        multicore::simulate_fast(&many, &pk).unwrap().stats
    );

    let mut checked = 0;
    for t in p1
        .tensors
        .iter()
        .filter(|t| t.name.ends_with(".w") || t.name.ends_with(".v") || t.name.ends_with(".dw"))
    {
        let want = m1.read_i16(&p1, &t.name).unwrap();
        for (c, m) in mems.iter().enumerate() {
            assert_eq!(
                m.read_i16(&pk, &t.name).unwrap(),
                want,
                "core {c}: {}",
                t.name
            );
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} tensors compared");
    // The iteration moved the weights, so equal weights are not equal starting points.
    let w0 = &shared
        .iter()
        .find(|(n, _)| n == "fc1.w" || n == "conv1.w")
        .unwrap();
    assert_ne!(
        m1.read_i16(&p1, &w0.0).unwrap(),
        w0.1,
        "the update moved nothing"
    );
}

fn nm() -> impl Strategy<Value = Nm> {
    prop::sample::select(vec![(1, 4), (2, 4), (2, 8), (4, 8)]).prop_map(|(n, m)| Nm { n, m })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn k_cores_train_the_weights_one_core_trains(
        cores in 2u64..=4, ring: bool, per_core in 1u64..=3,
        tokens in 1u64..=2, input in 8u64..=40, hidden in 4u64..=40, out in 2u64..=10,
        ln: bool, gelu: bool, nm in nm(),
        recipe in prop::sample::select(vec![Recipe::Bdwp, Recipe::SrSte, Recipe::Dense]), seed in 0u64..1000,
    ) {
        let model = mlp(tokens, input, hidden, out, ln, gelu);
        check_equal(&model, cores, if ring { "ring" } else { "atomic" }, per_core, nm, recipe, seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    /// Convolutions reduce their gradients from im2col windows over each core's images.
    #[test]
    fn k_cores_train_conv_nets_like_one_core(
        cores in 2u64..=4, ring: bool, per_core in 1u64..=2,
        c0 in 1u64..=4, hw in 4u64..=6, co1 in 2u64..=6, stride in 1u64..=2, max: bool, classes in 2u64..=5,
        seed in 0u64..1000,
    ) {
        let model = convnet(c0, hw, 2 * co1, stride, max, classes);
        check_equal(&model, cores, if ring { "ring" } else { "atomic" }, per_core, Nm { n: 2, m: 4 }, Recipe::Bdwp, seed);
    }

    /// Both reductions leave the wrapping sum in every core's copy, for any tile length
    /// (shorter than the core count too) and values near the INT32 limits.
    #[test]
    fn reductions_sum_exactly(k in 1usize..=8, words in 0usize..=50, seed in 0u64..1000, ring: bool) {
        let acc: Vec<Vec<i32>> = (0..k)
            .map(|c| values(seed + c as u64, words, 30000).iter().map(|&v| (v as i32) << 16 | (v as i32 & 0xffff)).collect())
            .collect();
        let want: Vec<i32> = (0..words)
            .map(|w| acc.iter().fold(0i32, |s, a| s.wrapping_add(a[w])))
            .collect();
        let mut got = acc.clone();
        reduce(if ring { Reduction::Ring } else { Reduction::Atomic }, &mut got);
        for (c, g) in got.iter().enumerate() {
            prop_assert_eq!(g, &want, "core {}", c);
        }
    }
}

#[test]
fn batch_must_split_over_the_cores() {
    let a = sat_small(3, "atomic");
    assert_eq!(multicore::per_core_batch(&a, 12), Ok(4));
    let e = multicore::per_core_batch(&a, 16).unwrap_err();
    assert!(e.contains("16") && e.contains("3 cores"), "{e}");
}

#[test]
fn reduction_lengthens_only_gradient_stores() {
    let model = mlp(1, 32, 32, 10, false, false);
    let nm = Nm { n: 2, m: 8 };
    let one = sat_small(1, "atomic");
    let prog = compile(&one, &model, &TrainOptions::bdwp(4, nm))
        .unwrap()
        .program;
    let base = nmsat_sim::simulate_fast(&one, &prog).unwrap();
    let solo = multicore::simulate_fast(&one, &prog).unwrap();
    assert_eq!(solo.stats, base.stats, "one core reduces nothing");
    assert_eq!(solo.reduction.cycles, 0);
    for r in ["atomic", "ring"] {
        let a = sat_small(4, r);
        let run = multicore::simulate_fast(&a, &prog).unwrap();
        // fc1 (32×32) and fc2 (10×32) gradients, every accumulator once.
        assert_eq!(run.reduction.words, 32 * 32 + 10 * 32, "{r}");
        assert_eq!(run.core_cycles, base.stats.cycles);
        assert!(
            run.stats.cycles > run.core_cycles,
            "{r}: the reduction cost nothing"
        );
        assert!(
            run.exposed_reduction_cycles() <= run.reduction.cycles,
            "{r}"
        );
        if r == "atomic" {
            assert_eq!(run.reduction.atomics, 3 * run.reduction.words);
        } else {
            assert_eq!(run.reduction.atomics, 0);
        }
    }
}
