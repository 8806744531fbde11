//! `nmsat cosim` end to end: a random program matches on the Verilated core, and programs
//! the core cannot run yet, or that were compiled for another description, are refused with
//! exit code 2 and the reason.

use std::path::PathBuf;
use std::process::{Command, Output};

fn nmsat(args: &[&str]) -> Output {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-verilator-cache");
    Command::new(env!("CARGO_BIN_EXE_nmsat"))
        .args(args)
        .arg("--cache")
        .arg(cache)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn random_programs_match_and_report_three_speeds() {
    let o = nmsat(&["cosim", "--arch", "sat-small", "--random", "80", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["match"], true);
    assert_eq!(v["rtl_cycles"], v["exact_cycles"]);
    assert_eq!(v["fast_cycles"], v["exact_cycles"]);
    for sim in ["rtl", "exact", "fast"] {
        assert!(v["cycles_per_second"][sim].as_f64().unwrap() > 0.0, "{sim}");
    }
}

/// On `sat-small-banked` (sat-small with every region physical), `--random` programs of every
/// unit and the issue's GEMM run on the physical core to the exact simulator's cycles.
#[test]
fn the_physical_core_runs_random_programs_and_the_issue_gemm() {
    for args in [
        &["--random", "40"][..],
        &["--gemm", "37x29x45", "--nm", "2:8"][..],
    ] {
        let mut all = vec!["cosim", "--arch", "sat-small-banked", "--json"];
        all.extend_from_slice(args);
        let o = nmsat(&all);
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["match"], true, "{args:?}");
        assert_eq!(v["rtl_cycles"], v["exact_cycles"], "{args:?}");
    }
}

#[test]
fn programs_the_core_cannot_run_are_refused_with_the_reason() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cosim-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let prog = dir.join("mlp.json");
    let c = Command::new(env!("CARGO_BIN_EXE_nmsat"))
        .args([
            "compile",
            "--arch",
            "sat-small",
            "--model",
            "tiny-mlp",
            "--batch",
            "4",
        ])
        .arg("--out")
        .arg(&prog)
        .output()
        .unwrap();
    assert!(c.status.success(), "{}", text(&c));
    // The tiny MLP runs whole on the core; its ReLU turned into a softmax of one-element rows
    // does not (three passes of a batch a row against the model's 4/lanes cycles a row).
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&prog).unwrap()).unwrap();
    let relu = v["instrs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .position(|i| i["op"]["Vector"]["op"] == "Relu")
        .expect("a ReLU");
    v["instrs"][relu]["op"]["Vector"]["op"] = "Softmax".into();
    v["instrs"][relu]["op"]["Vector"]["width"] = 1.into();
    std::fs::write(&prog, v.to_string()).unwrap();
    let p = prog.to_str().unwrap();
    let o = nmsat(&["cosim", "--arch", "sat-small", "--program", p]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("cannot run it: instruction {relu}"))
            && text(&o).contains("Softmax")
            && text(&o).contains("outlast"),
        "{}",
        text(&o)
    );
    let o = nmsat(&["cosim", "--arch", "sat-ice40-up5k", "--program", p]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("compiled for `sat-small`"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_gemm_through_the_core_matches_the_exact_simulator() {
    let o = nmsat(&[
        "cosim",
        "--arch",
        "sat-small",
        "--gemm",
        "37x29x45",
        "--nm",
        "2:8",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("gemm-37x29x45-2:8 on sat-small: 5 instructions")
            && text(&o).contains("match: every instruction's start and end cycle"),
        "{}",
        text(&o)
    );
    let o = nmsat(&["cosim", "--gemm", "9x10x11", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["match"], true);
    assert_eq!(v["rtl_cycles"], v["exact_cycles"]);
    assert_eq!(v["rtl_cycles"], v["fast_cycles"]);
}

#[test]
fn a_tiny_mlp_training_iteration_through_the_core_matches() {
    let o = nmsat(&[
        "cosim",
        "--arch",
        "sat-small",
        "--model",
        "tiny-mlp",
        "--batch",
        "4",
        "--recipe",
        "dense",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["match"], true);
    assert_eq!(v["program"], "tiny-mlp");
    assert_eq!(v["rtl_cycles"], v["exact_cycles"]);
}

#[test]
fn bad_gemm_arguments_are_refused() {
    for (args, needle) in [
        (vec!["--gemm", "37x29"], "not MxNxK"),
        (vec!["--gemm", "0x2x3"], "not MxNxK"),
        (vec!["--gemm", "8x8x8", "--nm", "3:16"], "--nm"),
    ] {
        let mut all = vec!["cosim", "--arch", "sat-small"];
        all.extend(args);
        let o = nmsat(&all);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(needle), "{}", text(&o));
    }
}
