//! `nmsat train`: the JSON report and the accuracy curves of a short run, and errors that name
//! the flag and what is allowed.

use std::process::Command;

fn nmsat(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nmsat"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn json_report_and_curves() {
    let dir = std::env::temp_dir().join(format!("nmsat-train-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let (code, stdout, stderr) = nmsat(&[
        "train",
        "--dataset",
        "winequality",
        "--recipe",
        "sdgf",
        "--nm",
        "1:4",
        "--epochs",
        "3",
        "--seed",
        "2",
        "--out",
        out,
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["model"], "wine-mlp");
    assert_eq!(v["recipe"], "sdgf");
    assert_eq!(v["epochs"].as_array().unwrap().len(), 3);
    let acc = v["final_test_accuracy"].as_f64().unwrap();
    assert!(acc > 1.0 / 6.0 && acc <= 1.0, "{acc}");
    // The speedup is dense over the run's average iteration (SDGF's stages differ).
    let speedup = v["speedup"].as_f64().unwrap();
    let (dense, avg) = (
        v["dense_cycles_per_iteration"].as_f64().unwrap(),
        v["cycles_per_iteration"].as_f64().unwrap(),
    );
    assert!(
        avg > 0.0 && (speedup - dense / avg).abs() < 1e-9,
        "{speedup}"
    );
    let last = v["epochs"][2]["cycles"].as_f64().unwrap();
    assert!((last / v["iterations"].as_f64().unwrap() - avg).abs() < 1e-6);
    assert!(v["seconds_to_final"].as_f64().unwrap() > 0.0);
    for p in v["plots"].as_array().unwrap() {
        let p = p.as_str().unwrap();
        assert!(std::fs::metadata(p).unwrap().len() > 1000, "{p}");
    }
    let (code, table, _) = nmsat(&[
        "train",
        "--model",
        "digits-mlp",
        "--recipe",
        "bdwp",
        "--epochs",
        "1",
        "--out",
        out,
    ]);
    assert_eq!(code, 0);
    assert!(
        table.contains("modelled cycles per iteration") && table.contains("final test accuracy"),
        "{table}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_flags_name_what_is_allowed() {
    for (args, needle) in [
        (&["--recipe", "mdgf"][..], "--recipe"),
        (&["--datapath", "f16"], "f32, int16"),
        (&["--dataset", "mnist"], "digits, winequality"),
        (&["--nm", "8:8"], "--nm"),
        (&["--model", "wine-mlp"], "--model"),
        (&["--batch", "0"], "--batch"),
        (&["--lr=-1"], "--lr"),
        (&["--dense-layers", "nope"], "--dense-layers"),
        (&["--nm", "3:16"], "the patterns of the description"),
    ] {
        let mut a = vec!["train", "--epochs", "1"];
        a.extend_from_slice(args);
        let (code, _, stderr) = nmsat(&a);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
