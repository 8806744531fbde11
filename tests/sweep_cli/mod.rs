//! What the sweep CLI tests share: running `nmsat`, a scratch directory per test, and the
//! check that a bad sweep file is refused before anything runs.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn nmsat() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nmsat"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

pub fn run(args: &[&str]) -> Output {
    nmsat().args(args).output().expect("the binary runs")
}

pub fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "nmsat {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    // The test binary's name keeps the tests of different binaries apart.
    let d = std::env::temp_dir().join(format!(
        "nmsat-{}-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A sweep file with `body` fails with exit code 2 before running anything, and its message
/// names the file, the line and the field and contains `needle`.
pub fn check_rejected(dir: &Path, name: &str, body: &str, line: usize, field: &str, needle: &str) {
    let spec = dir.join(format!("{name}.yaml"));
    std::fs::write(&spec, body).unwrap();
    let out_dir = dir.join(name);
    let out = run(&["sweep", s(&spec), "--out", s(&out_dir)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: {err}");
    let at = format!("{}:{line}: field `{field}`: ", spec.display());
    assert!(err.contains(&at), "{name}: expected `{at}` in: {err}");
    assert!(
        err.contains(needle),
        "{name}: expected `{needle}` in: {err}"
    );
    assert!(!out_dir.exists(), "{name}: it started before failing");
}
