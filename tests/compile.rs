//! End-to-end compilation: every zoo model compiles, passes the checker, round-trips, and every
//! bad input is an error with file, line and field and exit code 2.

use nmsat_compiler::arch::Arch;
use nmsat_compiler::check::check;
use nmsat_compiler::graph::{Recipe, TrainOptions};
use nmsat_compiler::isa::{Op, Phase, Program, Unit};
use nmsat_compiler::model::{load_model, zoo_names};
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::compile;
use std::process::Command;

const NM: Nm = Nm { n: 2, m: 8 };

fn compiled(arch: &str, model: &str, opts: &TrainOptions) -> Program {
    let arch = Arch::load(arch).unwrap();
    let model = load_model(model).unwrap();
    let c = compile(&arch, &model, opts).unwrap();
    check(&arch, &c.program).unwrap_or_else(|e| panic!("{}: {e}", model.name));
    c.program
}

#[test]
fn every_zoo_model_compiles_to_a_legal_program_under_every_recipe() {
    for &name in zoo_names() {
        // ViT-B/16 at batch 16 is half a million instructions: batch 1 keeps the debug build fast.
        let batch = if name == "vit-b16" { 1 } else { 4 };
        for recipe in [Recipe::Bdwp, Recipe::SrSte, Recipe::Dense] {
            let opts = TrainOptions {
                recipe,
                ..TrainOptions::bdwp(batch, NM)
            };
            let p = compiled("sat-vcu1525", name, &opts);
            let counts = p.unit_counts();
            assert!(
                counts[Unit::Array.index()] > 0 && counts[Unit::Load.index()] > 0,
                "{name}"
            );
            let prunes = counts[Unit::Prune.index()];
            assert_eq!(
                prunes > 0,
                recipe != Recipe::Dense,
                "{name} {recipe:?}: {prunes} prunes"
            );
        }
    }
}

#[test]
fn every_optimization_switch_still_gives_legal_programs() {
    let text = include_str!("../configs/arch/sat-vcu1525.yaml");
    for (flag, name) in [
        ("interleave", "resnet18"),
        ("pregenerate", "resnet9"),
        ("double_buffer", "resnet9"),
    ] {
        let off = text.replace(&format!("  {flag}: true"), &format!("  {flag}: false"));
        assert_ne!(off, text, "{flag} not found");
        let arch = Arch::parse("off.yaml", &off).unwrap();
        let model = load_model(name).unwrap();
        let c = compile(&arch, &model, &TrainOptions::bdwp(4, NM)).unwrap();
        check(&arch, &c.program).unwrap_or_else(|e| panic!("{flag} off: {e}"));
        if flag == "pregenerate" {
            // Without pre-generation no N:M form is kept in DRAM: every prune happens inside
            // the FF or BP GEMM that loads the dense tile. With it, all are pre-generation.
            let on = compiled("sat-vcu1525", name, &TrainOptions::bdwp(4, NM));
            let prunes = |p: &Program| {
                p.instrs
                    .iter()
                    .filter(|i| matches!(i.op, Op::Prune { .. }))
                    .map(|i| i.phase)
                    .collect::<Vec<_>>()
            };
            assert!(
                !prunes(&c.program).is_empty()
                    && prunes(&c.program)
                        .iter()
                        .all(|&ph| ph == Phase::Ff || ph == Phase::Bp)
            );
            assert!(!prunes(&on).is_empty() && prunes(&on).iter().all(|&ph| ph == Phase::Prune));
            assert!(!c.program.tensors.iter().any(|t| t.name.ends_with(".w_ff")));
        }
    }
}

#[test]
fn tiny_mlp_macs_follow_bdwp_exactly() {
    let arch = Arch::load("sat-small").unwrap();
    let model = load_model("tiny-mlp").unwrap();
    let c = compile(&arch, &model, &TrainOptions::bdwp(8, NM)).unwrap();
    let s = &c.summary;
    // FF: 64→32→10 over 8 samples. BP skips the first layer (no gradient for the input).
    assert_eq!(
        s.macs_dense,
        [
            8 * (64 * 32 + 32 * 10),
            8 * 32 * 10,
            8 * (64 * 32 + 32 * 10)
        ]
    );
    // FF sparse along the input dim (64 and 32 are multiples of 8): 2/8 of the reduction.
    assert_eq!(s.macs_effective[0], 8 * (64 * 32 + 32 * 10) / 4);
    // BP of fc2: reduction over its 10 outputs → ⌈10/8⌉·2 = 4 kept per row.
    assert_eq!(s.macs_effective[1], 8 * 32 * 4);
    assert_eq!(s.macs_effective[2], s.macs_dense[2]);
}

#[test]
fn program_round_trips_through_json_and_binary() {
    let p = compiled("sat-small", "tiny-mlp", &TrainOptions::bdwp(4, NM));
    assert_eq!(Program::from_json(&p.to_json()).unwrap(), p);
    let bin = p.to_binary();
    assert!(
        bin.len() < p.to_json().len() / 3,
        "binary {} vs json {}",
        bin.len(),
        p.to_json().len()
    );
    assert_eq!(Program::from_binary(&bin).unwrap(), p);
    assert!(Program::from_binary(&bin[..bin.len() / 2]).is_err());
    assert!(Program::from_binary(b"JUNK").is_err());
}

#[test]
fn checker_rejects_a_missing_wait_and_an_out_of_region_buffer() {
    let arch = Arch::load("sat-small").unwrap();
    let p = compiled("sat-small", "tiny-mlp", &TrainOptions::bdwp(4, NM));
    // Drop the waits of the first GEMM: it would read its tiles before the DMA wrote them.
    let mut bad = p.clone();
    let g = bad
        .instrs
        .iter()
        .position(|i| matches!(i.op, Op::Gemm { .. }))
        .unwrap();
    bad.instrs[g].waits.clear();
    let e = check(&arch, &bad).unwrap_err();
    assert!(
        e.contains(&format!("instruction {g}")) && e.contains("races"),
        "{e}"
    );
    // A wait for more instructions than precede it could never be satisfied.
    let mut bad = p.clone();
    bad.instrs[0].waits.push((Unit::Array, 1));
    assert!(check(&arch, &bad)
        .unwrap_err()
        .contains("only 0 precede it"));
    // A load past the end of its region.
    let mut bad = p;
    if let Op::Load { xfer } = &mut bad.instrs[0].op {
        xfer.sp.addr = arch.input.bytes;
    }
    assert!(check(&arch, &bad)
        .unwrap_err()
        .contains("exceeds the region"));
}

fn nmsat(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nmsat"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_compile_json_has_the_promised_fields() {
    let (code, out, err) = nmsat(&[
        "compile",
        "--arch",
        "sat-small",
        "--model",
        "tiny-mlp",
        "--nm",
        "2:8",
        "--batch",
        "4",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["macs_effective"].as_u64().unwrap() < v["macs_dense"].as_u64().unwrap());
    assert!(v["instructions"].as_u64().unwrap() > 0);
}

/// Writes `text` to a temporary YAML file and returns its path.
fn temp_yaml(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("nmsat-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn bad_inputs_exit_2_with_file_line_field_and_what_is_allowed() {
    let small = include_str!("../configs/arch/sat-small.yaml");
    let mlp = include_str!("../configs/models/tiny-mlp.yaml");
    let line_of =
        |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    // (arch text, model text, --nm, expected stderr fragments)
    let cases: Vec<(String, String, &str, Vec<String>)> = vec![
        // Unknown field.
        (
            small.replace("  rows: 4", "  rowz: 4"),
            mlp.into(),
            "2:8",
            vec![
                format!(":{}: field `array.rowz`", line_of(small, "rows: 4")),
                "unknown field".into(),
                "allowed".into(),
            ],
        ),
        // Wrong type.
        (
            small.replace("  cols: 4", "  cols: four"),
            mlp.into(),
            "2:8",
            vec![
                format!(":{}: field `array.cols`", line_of(small, "cols: 4")),
                "invalid type".into(),
            ],
        ),
        // Zero dimension.
        (
            small.replace("  rows: 4", "  rows: 0"),
            mlp.into(),
            "2:8",
            vec![
                format!(":{}: field `array.rows`", line_of(small, "rows: 4")),
                "at least 1".into(),
            ],
        ),
        // Negative dimension.
        (
            small.replace("  cols: 4", "  cols: -4"),
            mlp.into(),
            "2:8",
            vec![
                format!(":{}: field `array.cols`", line_of(small, "cols: 4")),
                "at least 1, got -4".into(),
            ],
        ),
        // A pattern the array's mux cannot run.
        (
            small.into(),
            mlp.into(),
            "2:16",
            vec![
                "field `sparsity.patterns`".into(),
                "16:1 activation mux".into(),
                "allowed: 1:4, 2:4".into(),
            ],
        ),
        // N ≥ M.
        (
            small.into(),
            mlp.into(),
            "8:8",
            vec!["field `--nm`".into(), "smaller than M".into()],
        ),
        // A layer whose smallest tile cannot fit a scratchpad.
        (
            small.replace(
                "weight: {bytes: 16384, banks: 4",
                "weight: {bytes: 64, banks: 4",
            ),
            mlp.into(),
            "2:8",
            vec![
                format!(
                    ":{}: field `scratchpads.weight.bytes`",
                    line_of(small, "weight: {bytes")
                ),
                "needs".into(),
                "allowed: ≥".into(),
            ],
        ),
        // Zero dimension in a model.
        (
            small.into(),
            mlp.replacen("out_features: 32", "out_features: 0", 1),
            "2:8",
            vec![
                format!(":{}:", line_of(mlp, "out_features: 32")),
                "at least 1".into(),
            ],
        ),
    ];
    for (i, (arch, model, nm, needles)) in cases.into_iter().enumerate() {
        let a = temp_yaml(&format!("arch{i}.yaml"), &arch);
        let m = temp_yaml(&format!("model{i}.yaml"), &model);
        let (code, _, err) = nmsat(&[
            "compile", "--arch", &a, "--model", &m, "--nm", nm, "--batch", "4",
        ]);
        assert_eq!(code, 2, "case {i}: {err}");
        assert!(!err.contains("panicked"), "case {i}: {err}");
        for n in needles {
            assert!(err.contains(&n), "case {i}: `{n}` not in: {err}");
        }
    }
}

#[test]
fn scalesim_rows_train_as_independent_layers() {
    // Regression: rows of a SCALE-Sim topology read no other row, so all but the last had no
    // gradient and skipped BP and WU.
    let arch = Arch::load("sat-vcu1525").unwrap();
    let model = load_model("configs/models/scalesim/vit_s.csv").unwrap();
    let c = compile(&arch, &model, &TrainOptions::bdwp(2, NM)).unwrap();
    check(&arch, &c.program).unwrap();
    let s = &c.summary;
    // WU of every row; BP of every row but the first, which reads the model input.
    assert_eq!(s.macs_dense[2], s.macs_dense[0]);
    let first = 2 * model.layers[0].forward_macs();
    assert_eq!(s.macs_dense[1], s.macs_dense[0] - first);
}

#[test]
fn clock_energy_and_name_change_neither_the_program_nor_the_schedule() {
    // The sweep shares programs and schedules between descriptions with equal schedule keys;
    // that is only sound if these fields really are never read by the compiler or the timing.
    let base = Arch::load("sat-small").unwrap();
    let mut other = base.clone();
    other.name = "renamed".into();
    other.clock_mhz = 333.0;
    other.energy.mac = 7.0;
    other.energy.static_mw = 1e4;
    assert_eq!(base.schedule_key(), other.schedule_key());
    let model = load_model("tiny-mlp").unwrap();
    let opts = TrainOptions::bdwp(4, NM);
    let (a, b) = (
        compile(&base, &model, &opts).unwrap().program,
        compile(&other, &model, &opts).unwrap().program,
    );
    assert_eq!(a.instrs, b.instrs);
    let (ra, rb) = (
        nmsat_sim::simulate_fast(&base, &a).unwrap(),
        nmsat_sim::simulate_fast(&other, &b).unwrap(),
    );
    assert_eq!(ra.schedule, rb.schedule);
    assert_ne!(ra.stats.energy_pj, rb.stats.energy_pj);
    // A field the compiler does read changes the key.
    let mut wider = base.clone();
    wider.cols = 8;
    assert_ne!(base.schedule_key(), wider.schedule_key());
}
