//! Accuracy as an optional output of a sweep point, end to end through the CLI: the CSV columns,
//! training shared by points that differ only in clock, the accuracy-vs-speedup scatter (drawn
//! and redrawn by `nmsat plot`), the report's entry, and settings refused before starting.

use std::collections::HashMap;
use std::path::Path;

mod sweep_cli;
use sweep_cli::{check_rejected, ok, s, scratch};

/// The tiny MLP on the 4×4 core, one epoch on the digits: dense and BDWP at two patterns, at
/// two clocks (which change the timing figures but not what training computes).
const TINY: &str = "\
name: tiny-accuracy
arch: sat-small
axes:
  clock_mhz: [100, 200]
  model: [tiny-mlp]
  batch: [32]
  recipe: [dense, bdwp]
  nm: [\"2:4\", \"2:8\"]
constraints:
  - recipe != \"dense\" or nm == \"2:8\"
accuracy: {dataset: digits, epochs: 1, seed: 3}
";

/// `results.csv` as one map of column → cell per row.
fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{l}");
            header
                .iter()
                .cloned()
                .zip(cells.iter().map(|c| c.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn accuracy_sweep_records_plots_and_reports_accuracy() {
    let dir = scratch("run");
    let spec = dir.join("tiny.yaml");
    std::fs::write(&spec, TINY).unwrap();
    let out_dir = dir.join("out");
    let out = ok(&["sweep", s(&spec), "-j", "2", "--out", s(&out_dir)]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("training"),
        "the summary names the training time"
    );

    let rows = csv_rows(&out_dir.join("results.csv"));
    assert_eq!(rows.len(), 6);
    let mut by_design: HashMap<(String, String), Vec<f64>> = HashMap::new();
    for r in &rows {
        assert_eq!(r["ok"], "true", "{r:?}");
        assert_eq!(
            (r["dataset"].as_str(), r["epochs"].as_str()),
            ("digits", "1")
        );
        let acc: f64 = r["test_accuracy"].parse().unwrap();
        // Ten classes: chance is 10 %; one epoch of the tiny MLP gets far beyond it.
        assert!((0.3..=1.0).contains(&acc), "{r:?}");
        let train: f64 = r["train_accuracy"].parse().unwrap();
        assert!((0.0..=1.0).contains(&train), "{r:?}");
        by_design
            .entry((r["recipe"].clone(), r["nm"].clone()))
            .or_default()
            .push(acc);
        if r["recipe"] == "dense" {
            assert_eq!(r["speedup"], "1");
        }
    }
    // The clock changes no program: both clocks report the one training run's accuracy.
    assert_eq!(by_design.len(), 3);
    for (k, accs) in &by_design {
        assert_eq!(accs.len(), 2, "{k:?}");
        assert_eq!(accs[0], accs[1], "{k:?}");
    }
    let trained = std::fs::read_to_string(out_dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["wall"]["train_s"].as_f64().is_some_and(|t| t > 0.0))
        .count();
    assert_eq!(trained, 3, "one training run per distinct program");

    let svg = out_dir.join("accuracy-vs-speedup.svg");
    let png = out_dir.join("accuracy-vs-speedup.png");
    let text = std::fs::read_to_string(&svg).unwrap();
    for needle in [
        "Test accuracy vs speedup",
        "test accuracy (%)",
        "dense",
        "bdwp",
        "2:4",
    ] {
        assert!(text.contains(needle), "`{needle}` not in the scatter SVG");
    }
    assert!(std::fs::metadata(&png).unwrap().len() > 5_000);

    let report = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(report.contains("<figure id=\"accuracy-vs-speedup\">"));
    assert!(report.contains("Accuracy beside speedup"));
    assert!(report.contains("digits, 1 epoch, f32 datapath, seed 3"));
    let dense = by_design[&("dense".to_string(), "dense".to_string())][0];
    assert!(report.contains(&format!("<td>{:.1}%</td>", 100.0 * dense)));

    // A point trains exactly what `nmsat train` trains with the same settings.
    let out = ok(&[
        "train",
        "--arch",
        "sat-small",
        "--model",
        "tiny-mlp",
        "--recipe",
        "bdwp",
        "--nm",
        "2:8",
        "--batch",
        "32",
        "--epochs",
        "1",
        "--seed",
        "3",
        "--out",
        s(&dir.join("train")),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bdwp = by_design[&("bdwp".to_string(), "2:8".to_string())][0];
    assert_eq!(v["final_test_accuracy"].as_f64(), Some(bdwp));

    // `nmsat plot` redraws the scatter from the results alone.
    std::fs::remove_file(&svg).unwrap();
    std::fs::remove_file(&png).unwrap();
    ok(&["plot", s(&out_dir)]);
    assert!(svg.exists() && png.exists());

    // Resuming finds every point finished, and trains nothing again.
    let out = ok(&["sweep", s(&spec), "--out", s(&out_dir)]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("6 finished before, 0 to run"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_accuracy_settings_fail_before_starting() {
    let dir = scratch("bad");
    check_rejected(
        &dir,
        "zero-epochs",
        &TINY.replace("epochs: 1", "epochs: 0"),
        11,
        "accuracy.epochs",
        "0 epochs train nothing (allowed: 1 or more)",
    );
    check_rejected(
        &dir,
        "unknown-dataset",
        &TINY.replace("dataset: digits", "dataset: cifar10"),
        11,
        "accuracy.dataset",
        "unknown data set `cifar10` (allowed: digits, winequality)",
    );
    check_rejected(
        &dir,
        "untrainable-model",
        &TINY.replace("[tiny-mlp]", "[tiny-mlp, resnet9]"),
        5,
        "axes.model[1]",
        "`resnet9` cannot be trained on `digits`",
    );
    check_rejected(
        &dir,
        "unknown-key",
        &TINY.replace("seed: 3", "seeds: 3"),
        11,
        "accuracy.seeds",
        "unknown field `seeds`",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
