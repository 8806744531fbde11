//! Fast mode gives the same schedule — and so the same cycles and statistics — as exact mode,
//! on random small accelerators and random training programs.

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
            "optimizations: {interleave: true, pregenerate: true, double_buffer: true}",
            &format!(
                "optimizations: {{interleave: {}, pregenerate: {}, double_buffer: {}}}",
                opts[0], opts[1], opts[2]
            ),
        );
    Arch::parse("random.yaml", &text).unwrap()
}

/// A two-layer perceptron of the given sizes, as the model YAML says it.
fn mlp(tokens: u64, input: u64, hidden: u64, out: u64) -> nmsat_compiler::model::Model {
    let text = format!(
        "name: random-mlp\ninput: {{tokens: {tokens}, dim: {input}}}\nlayers:\n  - {{name: fc1, op: linear, out_features: {hidden}}}\n  - {{name: act, op: relu}}\n  - {{name: fc2, op: linear, out_features: {out}}}\n"
    );
    parse_model("random-mlp.yaml", &text).unwrap()
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
        opts in prop::array::uniform3(any::<bool>()),
        nm in nm_strategy(), recipe in prop::sample::select(vec![Recipe::Bdwp, Recipe::SrSte, Recipe::Dense]),
        tokens in 1u64..=3, input in 1u64..=40, hidden in 1u64..=40, out in 2u64..=12, batch in 1u64..=5,
    ) {
        let a = arch(rows, cols, os, banks, dram_bpc, latency, ports, opts);
        let model = mlp(tokens, input, hidden, out);
        let o = TrainOptions { recipe, ..TrainOptions::bdwp(batch, nm) };
        let prog = compile(&a, &model, &o).unwrap().program;
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
