//! `nmsat sweep` and `nmsat plot` end to end: outputs, resuming after `kill -9`, shards merged
//! into the same results as one run, errors before starting, failing points recorded.

use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod sweep_cli;
use sweep_cli::{check_rejected, nmsat, ok, run, s, scratch};

const SMALL: &str = "configs/sweeps/test-small.yaml";
/// Points of test-small.yaml: 5 array shapes with rows·cols ≤ 32 × 3 patterns, plus 3 ablation
/// variants at the focus design.
const SMALL_POINTS: usize = 18;

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The records of a results directory by index, without the wall-clock times (the only field
/// that differs between equal runs).
fn records(dir: &Path) -> BTreeMap<u64, Value> {
    let mut m = BTreeMap::new();
    for mut r in lines(&dir.join("results.jsonl")) {
        r.as_object_mut().unwrap().remove("wall");
        let i = r["index"].as_u64().unwrap();
        assert!(m.insert(i, r).is_none(), "point {i} recorded twice");
    }
    m
}

#[test]
fn small_sweep_writes_results_csv_plots_and_report_and_plot_redraws_them() {
    let dir = scratch("small");
    let out = ok(&["sweep", SMALL, "-j", "2", "--out", s(&dir)]);
    let err = String::from_utf8_lossy(&out.stderr);
    // Not a terminal: one plain progress line per point, with rate and ETA.
    assert_eq!(err.matches("points/s, ETA").count(), SMALL_POINTS, "{err}");
    assert!(
        err.contains(&format!("[{SMALL_POINTS}/{SMALL_POINTS}]")),
        "{err}"
    );

    let recs = records(&dir);
    assert_eq!(
        recs.keys().copied().collect::<Vec<_>>(),
        (0..SMALL_POINTS as u64).collect::<Vec<_>>()
    );
    for r in recs.values() {
        assert_eq!(r["ok"], true, "{r}");
        let m = &r["metrics"];
        let speedup = m["dense_cycles"].as_f64().unwrap() / m["cycles"].as_f64().unwrap();
        assert!(
            (m["speedup"].as_f64().unwrap() - speedup).abs() < 1e-12,
            "{r}"
        );
        // The focus point (4×4, 2:8, all on) alone keeps its layers.
        let focus = r["key"]
            .as_str()
            .unwrap()
            .starts_with("array.rows=4 array.cols=4 ")
            && r["point"]["nm"] == "2:8"
            && r["point"]["ablation"] == "all-on";
        assert_eq!(r.get("layers").is_some(), focus, "{r}");
    }
    // The ablation points differ from the all-on point of the same design.
    let at = |ablation: &str| {
        recs.values()
            .find(|r| {
                r["key"]
                    .as_str()
                    .unwrap()
                    .starts_with("array.rows=4 array.cols=4 ")
                    && r["point"]["nm"] == "2:8"
                    && r["point"]["ablation"] == ablation
            })
            .unwrap()["metrics"]["cycles"]
            .as_u64()
            .unwrap()
    };
    assert_ne!(at("all-on"), at("no-double-buffering"));

    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), SMALL_POINTS + 1);
    assert!(
        rows[0].starts_with("index,array.rows,array.cols,model,batch,nm,ablation,ok,error,"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].starts_with("0,2,4,tiny-mlp,4,1:4,all-on,true,,sat-small,"),
        "{}",
        rows[1]
    );
    let width = rows[0].split(',').count();
    assert!(rows.iter().all(|r| r.split(',').count() == width));

    let figures = [
        "speedup-vs-nm",
        "roofline",
        "pareto",
        "stalls-tiny-mlp",
        "ablation",
    ];
    let mut svgs = Vec::new();
    for f in figures {
        let png = std::fs::read(dir.join(format!("{f}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{f}.png");
        let svg = std::fs::read_to_string(dir.join(format!("{f}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{f}.svg");
        svgs.push(svg);
    }
    assert!(svgs[0].contains("1:4") && svgs[0].contains("2:8") && svgs[0].contains("tiny-mlp"));
    assert!(svgs[3].contains("fc1") && svgs[3].contains("waiting on DMA"));
    assert!(svgs[4].contains("no-double-buffering"));
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(report.matches("<svg").count(), figures.len());
    assert!(report.contains("Speedup over dense training per N:M"));
    assert!(report.contains("Ablation of the dataflow optimizations"));
    assert!(report.contains("PE-count proxy"));
    assert!(report.contains(&format!("{SMALL_POINTS} of {SMALL_POINTS} points finished")));

    // `nmsat plot` redraws the same figures and report from the directory alone.
    for f in figures {
        std::fs::remove_file(dir.join(format!("{f}.png"))).unwrap();
        std::fs::remove_file(dir.join(format!("{f}.svg"))).unwrap();
    }
    std::fs::remove_file(dir.join("report.html")).unwrap();
    ok(&["plot", s(&dir)]);
    for (f, svg) in figures.iter().zip(&svgs) {
        assert!(dir.join(format!("{f}.png")).exists());
        let again = std::fs::read_to_string(dir.join(format!("{f}.svg"))).unwrap();
        assert!(&again == svg, "{f}.svg differs when redrawn");
    }
    let again = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(again == report, "report.html differs when redrawn");

    // Running it again finds every point finished and runs none.
    let out = ok(&["sweep", SMALL, "--out", s(&dir)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{SMALL_POINTS} finished before, 0 to run")),
        "{err}"
    );
    assert_eq!(lines(&dir.join("results.jsonl")).len(), SMALL_POINTS);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sweep_killed_with_sigkill_resumes_with_every_point_exactly_once() {
    let dir = scratch("kill");
    // 8 × 8 array shapes × 3 patterns × 2 batches of the tiny MLP: long enough to be killed
    // in the middle on one thread.
    let spec = dir.join("long.yaml");
    std::fs::write(
        &spec,
        "arch: sat-small\naxes:\n  array.rows: {from: 1, to: 8, step: 1}\n  array.cols: {from: 1, to: 8, step: 1}\n  \
         model: [tiny-mlp]\n  batch: [4, 8]\n  nm: [\"1:4\", \"2:4\", \"2:8\"]\n",
    )
    .unwrap();
    let total = 8 * 8 * 2 * 3;
    let out_dir = dir.join("out");
    let jsonl = out_dir.join("results.jsonl");
    let mut child = nmsat()
        .args(["sweep", s(&spec), "-j", "1", "--out", s(&out_dir)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let n = std::fs::read_to_string(&jsonl).map_or(0, |t| t.lines().count());
        if n >= 10 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before it could be killed"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = std::fs::read_to_string(&jsonl).unwrap().lines().count();
    assert!(
        before >= 10 && before < total,
        "killed after {before} of {total} points"
    );

    let out = ok(&["sweep", s(&spec), "-j", "2", "--out", s(&out_dir)]);
    let err = String::from_utf8_lossy(&out.stderr);
    let resumed = err
        .split(" finished before")
        .next()
        .and_then(|h| h.rsplit(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("{err}"));
    // Every whole record written before the kill was kept (a torn last line is re-run).
    assert!(
        resumed + 1 >= before && resumed <= before,
        "{resumed} kept of {before}"
    );
    let all = lines(&jsonl);
    assert_eq!(all.len(), total);
    let keys: HashSet<&str> = all.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), total, "a point was recorded twice");
    let indices: HashSet<u64> = all.iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, (0..total as u64).collect());
    let csv = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), total + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shards_merge_to_the_same_results_as_one_run() {
    let dir = scratch("shards");
    let one = dir.join("one");
    ok(&["sweep", SMALL, "-j", "2", "--out", s(&one)]);
    let mut shards = Vec::new();
    let mut sizes = Vec::new();
    for k in 0..3 {
        let d = dir.join(format!("shard{k}"));
        ok(&[
            "sweep",
            SMALL,
            "-j",
            "1",
            "--shard",
            &format!("{k}/3"),
            "--out",
            s(&d),
        ]);
        let recs = records(&d);
        assert!(
            recs.keys().all(|i| i % 3 == k),
            "shard {k} ran another shard's point"
        );
        sizes.push(recs.len());
        shards.push(d);
    }
    assert_eq!(sizes, [6, 6, 6]);
    let merged = dir.join("merged");
    let mut args = vec!["sweep", "merge", "--out", s(&merged)];
    args.extend(shards.iter().map(|d| s(d)));
    ok(&args);
    assert_eq!(records(&merged), records(&one));
    assert_eq!(
        std::fs::read_to_string(merged.join("results.csv")).unwrap(),
        std::fs::read_to_string(one.join("results.csv")).unwrap()
    );
    for f in ["report.html", "pareto.svg", "speedup-vs-nm.png"] {
        assert!(merged.join(f).exists(), "{f}");
    }
    // Merging part of the shards says what is missing.
    let partial = dir.join("partial");
    let out = ok(&[
        "sweep",
        "merge",
        "--out",
        s(&partial),
        s(&shards[0]),
        s(&shards[2]),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("merged 12 of 18 points"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("6 points are missing"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_sweep_files_fail_before_starting_with_file_line_and_field() {
    let dir = scratch("bad");
    let base = "arch: sat-small\naxes:\n  model: [tiny-mlp]\n  array.rows: [2, 4]\n  nm: [\"1:4\", \"2:8\"]\n";
    check_rejected(
        &dir,
        "unknown-axis",
        &base.replace("array.rows", "array.depth"),
        4,
        "axes.array.depth",
        "unknown axis `array.depth` (allowed: model, nm, batch, recipe, ablation, array.rows, array.cols",
    );
    check_rejected(
        &dir,
        "empty-axis",
        &base.replace("[2, 4]", "[]"),
        4,
        "axes.array.rows",
        "the axis is empty",
    );
    check_rejected(
        &dir,
        "excluded",
        &format!("{base}constraints:\n  - array.rows * array.cols > 4096\n"),
        6,
        "constraints",
        "the constraints exclude every one of the 4 points",
    );
    check_rejected(
        &dir,
        "bad-value",
        &base.replace("[2, 4]", "[2, 0]"),
        4,
        "axes.array.rows[1]",
        "`0` is out of range (allowed: 1..=256)",
    );
    check_rejected(
        &dir,
        "bad-model",
        &base.replace("tiny-mlp", "tiny-mpl"),
        3,
        "axes.model[0]",
        "tiny-mpl",
    );
    let out = run(&[
        "sweep",
        SMALL,
        "--shard",
        "3/3",
        "--out",
        s(&dir.join("shard")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("field `--shard`"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_point_is_recorded_and_the_sweep_goes_on() {
    let dir = scratch("failing");
    let spec = dir.join("f.yaml");
    // sat-small's 8-lane mux cannot run 3:16; and 1000 bytes do not fill its 4 banks of 8.
    std::fs::write(
        &spec,
        "arch: sat-small\naxes:\n  model: [tiny-mlp]\n  scratchpads.input.bytes: [16384, 1000]\n  nm: [\"2:8\", \"3:16\"]\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    ok(&["sweep", s(&spec), "--out", s(&out_dir)]);
    let recs = records(&out_dir);
    assert_eq!(recs.len(), 4);
    let good: Vec<&Value> = recs.values().filter(|r| r["ok"] == true).collect();
    assert_eq!(good.len(), 1);
    assert_eq!(
        good[0]["key"],
        "model=tiny-mlp scratchpads.input.bytes=16384 nm=2:8"
    );
    let err = |i: u64| recs[&i]["error"].as_str().unwrap().to_string();
    assert!(
        err(1).contains("3:16") && err(1).contains("8 lanes"),
        "{}",
        err(1)
    );
    assert!(
        err(2).contains("scratchpads.input.bytes") && err(2).contains("4 banks"),
        "{}",
        err(2)
    );
    let csv = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().filter(|l| l.contains(",false,")).count(), 3);
    let report = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(report.contains("Failed points (3)"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cores_are_an_axis_and_each_point_is_a_data_parallel_iteration() {
    let dir = scratch("cores");
    let spec = dir.join("cores.yaml");
    std::fs::write(
        &spec,
        "arch: sat-vcu1525\naxes:\n  model: [resnet9]\n  batch: [8]\n  nm: [\"2:8\"]\n  multicore.cores: [1, 2, 3, 4, 9]\n",
    )
    .unwrap();
    let out = dir.join("out");
    ok(&["sweep", s(&spec), "--out", s(&out), "-j", "2"]);
    let recs = records(&out);
    let by_cores = |k: i64| {
        recs.values()
            .find(|r| r["point"]["multicore.cores"] == k)
            .unwrap_or_else(|| panic!("no point with {k} cores"))
    };
    let cycles = |k: i64| by_cores(k)["metrics"]["cycles"].as_u64().unwrap();
    // Every point is what `nmsat sim` gives for the same description: one core, and two
    // cores each running half the batch plus the gradient reduction.
    let base = std::fs::read_to_string("configs/arch/sat-vcu1525.yaml").unwrap();
    for k in [1, 2, 4] {
        let arch = dir.join(format!("sat-{k}.yaml"));
        std::fs::write(&arch, format!("{base}\nmulticore: {{cores: {k}}}\n")).unwrap();
        let sim = ok(&[
            "sim",
            "--arch",
            s(&arch),
            "--model",
            "resnet9",
            "--batch",
            "8",
            "--json",
        ]);
        let v: Value = serde_json::from_slice(&sim.stdout).unwrap();
        assert_eq!(v["cycles"].as_u64().unwrap(), cycles(k), "{k} cores");
    }
    assert_ne!(cycles(1), cycles(2));
    // 8 samples do not split over 3 cores; 9 cores do not fit the 8 blocks: recorded errors.
    let err = |k: i64| by_cores(k)["error"].as_str().unwrap().to_string();
    assert!(err(3).contains("does not split evenly"), "{}", err(3));
    assert!(err(9).contains("blocks"), "{}", err(9));
}
