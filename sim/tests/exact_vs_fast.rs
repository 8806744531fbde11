//! Fast mode gives the same schedule — and so the same cycles and statistics — as exact mode,
//! on random small accelerators and random training programs: perceptrons and small
//! convolutional networks.

use nmsat_compiler::arch::Arch;
use nmsat_compiler::graph::{Recipe, TrainOptions};
use nmsat_compiler::model::{load_model, parse_model};
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::compile;
use nmsat_sim::{simulate_exact, simulate_fast};
use proptest::prelude::*;

/// A description derived from sat-small with the given knobs.
#[allow(clippy::too_many_arguments)]
fn arch(
    rows: u64,
    cols: u64,
    os: bool,
    banks: u64,
    dram_bpc: u64,
    latency: u64,
    ports: u64,
    opts: [bool; 3],
    physical: bool,
) -> Arch {
    let text = include_str!("../../configs/arch/sat-small.yaml")
        .replace("  rows: 4", &format!("  rows: {rows}"))
        .replace("  cols: 4", &format!("  cols: {cols}"))
        .replace(
            "dataflow: weight-stationary",
            if os {
                "dataflow: output-stationary"
            } else {
                "dataflow: weight-stationary"
            },
        )
        .replace("mux_lanes: 8", "mux_lanes: 16")
        .replace(
            r#"patterns: ["1:4", "2:4", "1:8", "2:8", "4:8"]"#,
            r#"patterns: ["1:2", "1:4", "2:4", "3:4", "1:8", "2:8", "3:8", "4:8", "1:16", "4:16"]"#,
        )
        .replace(
            "input: {bytes: 16384, banks: 4,",
            &format!(
                "input: {{bytes: {}, banks: {banks},",
                16384 / (banks * 8) * banks * 8
            ),
        )
        .replace(
            "bytes_per_cycle_per_channel: 8, latency: 10",
            &format!("bytes_per_cycle_per_channel: {dram_bpc}, latency: {latency}"),
        )
        .replace("ports: 2", &format!("ports: {ports}"))
        .replace(
            "latency: 1}",
            // Physical banks are modelled for the weight-stationary array only.
            if physical && !os {
                "latency: 1, banking: physical}"
            } else {
                "latency: 1}"
            },
        )
        .replace(
            "optimizations: {interleave: true, pregenerate: true, double_buffer: true}",
            &format!(
                "optimizations: {{interleave: {}, pregenerate: {}, double_buffer: {}}}",
                opts[0], opts[1], opts[2]
            ),
        );
    Arch::parse("random.yaml", &text).unwrap()
}

/// A two-layer perceptron of the given sizes, as the model YAML says it: fc1, an optional norm
/// (`norm` 1: layer norm, 2: batch norm), ReLU or GELU, fc2 and an optional softmax.
#[allow(clippy::too_many_arguments)]
fn mlp(
    tokens: u64,
    input: u64,
    hidden: u64,
    out: u64,
    norm: u8,
    gelu: bool,
    softmax: bool,
) -> nmsat_compiler::model::Model {
    let mut text = format!(
        "name: random-mlp\ninput: {{tokens: {tokens}, dim: {input}}}\nlayers:\n  - {{name: fc1, op: linear, out_features: {hidden}}}\n"
    );
    match norm {
        1 => text += "  - {name: norm, op: layernorm}\n",
        2 => text += "  - {name: norm, op: batchnorm}\n",
        _ => {}
    }
    let act = if gelu { "gelu" } else { "relu" };
    text += &format!(
        "  - {{name: act, op: {act}}}\n  - {{name: fc2, op: linear, out_features: {out}}}\n"
    );
    if softmax {
        text += "  - {name: sm, op: softmax}\n";
    }
    parse_model("random-mlp.yaml", &text).unwrap()
}

/// A convolution of the given geometry (and a batch norm), a pooling layer and a grouped
/// convolution, then a classifier: every window view, stride phase and scatter the compiler
/// emits for images.
#[allow(clippy::too_many_arguments)]
fn convnet(
    c0: u64,
    hw: (u64, u64),
    conv1: (u64, u64, u64, u64),
    bn: bool,
    pool: (bool, u64, u64, u64),
    conv2: (u64, u64, u64, u64, u64),
    classes: u64,
) -> Option<nmsat_compiler::model::Model> {
    let (co1, k1, s1, p1) = conv1;
    let (max, pk, ps, pp) = pool;
    let (co2, k2, s2, p2, g2) = conv2;
    let text = format!(
        "name: random-conv\ninput: {{channels: {c0}, height: {}, width: {}}}\nlayers:\n\
         - {{name: conv1, op: conv2d, out_channels: {co1}, kernel: {k1}, stride: {s1}, padding: {p1}}}\n\
         {}\
         - {{name: relu1, op: relu}}\n\
         - {{name: pool1, op: {}, kernel: {pk}, stride: {ps}, padding: {pp}}}\n\
         - {{name: conv2, op: conv2d, out_channels: {co2}, kernel: {k2}, stride: {s2}, padding: {p2}, groups: {g2}}}\n\
         - {{name: fc, op: linear, out_features: {classes}}}\n",
        hw.0,
        hw.1,
        if bn { "- {name: bn1, op: batchnorm}\n" } else { "" },
        if max { "maxpool" } else { "avgpool" },
    );
    parse_model("random-conv.yaml", &text).ok()
}

fn nm_strategy() -> impl Strategy<Value = Nm> {
    prop::sample::select(vec![
        (1, 2),
        (1, 4),
        (2, 4),
        (3, 4),
        (1, 8),
        (2, 8),
        (3, 8),
        (4, 8),
        (1, 16),
        (4, 16),
    ])
    .prop_map(|(n, m)| Nm { n, m })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fast_mode_equals_exact_mode(
        rows in 1u64..=8, cols in 1u64..=8, os: bool, banks in 1u64..=4,
        dram_bpc in prop::sample::select(vec![2u64, 8, 24]), latency in 0u64..=20, ports in 1u64..=3,
        opts in prop::array::uniform3(any::<bool>()), physical: bool,
        nm in nm_strategy(), recipe in prop::sample::select(vec![Recipe::Bdwp, Recipe::SrSte, Recipe::Dense]),
        tokens in 1u64..=3, input in 1u64..=40, hidden in 1u64..=40, out in 2u64..=12, batch in 1u64..=5,
        norm in 0u8..=2, gelu: bool, softmax: bool,
    ) {
        let a = arch(rows, cols, os, banks, dram_bpc, latency, ports, opts, physical);
        // A batch norm's passes hold 16 bytes of statistics per channel besides their rows.
        let hidden = if norm == 2 { hidden.min(20) } else { hidden };
        let model = mlp(tokens, input, hidden, out, norm, gelu, softmax);
        let o = TrainOptions { recipe, ..TrainOptions::bdwp(batch, nm) };
        let prog = compile(&a, &model, &o).unwrap().program;
        nmsat_compiler::check::check(&a, &prog).unwrap();
        let fast = simulate_fast(&a, &prog).unwrap();
        let exact = simulate_exact(&a, &prog).unwrap();
        prop_assert_eq!(&fast.schedule, &exact.schedule);
        prop_assert_eq!(&fast.stats, &exact.stats);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random small convolution layers (kernel 1..3, stride 1..2, padding 0..1, pooling,
    /// groups) on random accelerators: fast mode equals exact mode, which executes every window
    /// gather, stride phase and scatter.
    #[test]
    fn fast_mode_equals_exact_mode_on_conv_programs(
        rows in 1u64..=6, cols in 1u64..=6, os: bool, banks in 1u64..=4,
        dram_bpc in prop::sample::select(vec![2u64, 8, 24]), latency in 0u64..=20, ports in 1u64..=3,
        opts in prop::array::uniform3(any::<bool>()), physical: bool,
        nm in nm_strategy(), recipe in prop::sample::select(vec![Recipe::Bdwp, Recipe::SrSte, Recipe::Dense]),
        c0 in 1u64..=6, h in 2u64..=7, w in 2u64..=7,
        conv1 in (1u64..=12, 1u64..=3, 1u64..=2, 0u64..=1), bn: bool,
        pool in (any::<bool>(), 1u64..=3, 1u64..=2, 0u64..=1),
        conv2 in (1u64..=6, 1u64..=3, 1u64..=2, 0u64..=1, 1u64..=2),
        classes in 2u64..=5, batch in 1u64..=2,
    ) {
        let (co2, g2) = (conv2.0 * conv2.4, conv2.4);
        let co1 = conv1.0.div_ceil(g2) * g2;
        let pool = (pool.0, pool.1, pool.2, pool.3.min(pool.1 / 2));
        let model = convnet(c0, (h, w), (co1, conv1.1, conv1.2, conv1.3), bn, pool,
                            (co2, conv2.1, conv2.2, conv2.3, g2), classes);
        // Geometries whose windows do not fit the image are not models.
        prop_assume!(model.is_some());
        let a = arch(rows, cols, os, banks, dram_bpc, latency, ports, opts, physical);
        let o = TrainOptions { recipe, ..TrainOptions::bdwp(batch, nm) };
        let compiled = compile(&a, &model.expect("assumed"), &o);
        // A row (a weight row of the classifier, a norm's channels) larger than the tile
        // budget of the 16 KiB scratchpads is a compile error naming a scratchpad, not a
        // program.
        prop_assume!(!matches!(&compiled, Err(d) if d.field.starts_with("scratchpads")));
        let prog = compiled.unwrap().program;
        nmsat_compiler::check::check(&a, &prog).unwrap();
        let fast = simulate_fast(&a, &prog).unwrap();
        let exact = simulate_exact(&a, &prog).unwrap();
        prop_assert_eq!(&fast.schedule, &exact.schedule);
        prop_assert_eq!(&fast.stats, &exact.stats);
    }
}

#[test]
fn fast_mode_equals_exact_mode_on_the_tiny_mlp_iteration() {
    for arch_name in ["sat-small"] {
        let a = Arch::load(arch_name).unwrap();
        let model = load_model("tiny-mlp").unwrap();
        for nm in [Nm { n: 2, m: 4 }, Nm { n: 1, m: 4 }] {
            let prog = compile(&a, &model, &TrainOptions::bdwp(4, nm))
                .unwrap()
                .program;
            let fast = simulate_fast(&a, &prog).unwrap();
            let exact = simulate_exact(&a, &prog).unwrap();
            assert_eq!(fast.schedule, exact.schedule, "{arch_name} {nm}");
            assert!(fast.stats.cycles > 0);
        }
    }
}
