//! Without Verilator and yosys on the PATH, the checks and the co-simulation fail with the
//! install command: CI must never pass by skipping them.
//!
//! The only test in its binary, because it empties `PATH` for the whole process.

use nmsat_hw::{verilator_lint, yosys_check, ArrayShape, BuildOptions, HwError, VerilatedArray};
use std::path::PathBuf;

#[test]
fn missing_tools_fail_with_the_install_command() {
    std::env::set_var("PATH", "");
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("missing-tools");
    let file = tmp.join("x.v");
    let shape = ArrayShape {
        rows: 2,
        cols: 2,
        lanes: 1,
    };
    let errors = [
        verilator_lint(std::slice::from_ref(&file), "x").unwrap_err(),
        yosys_check(&[file], "x").unwrap_err(),
        VerilatedArray::build(shape, &BuildOptions::new(tmp))
            .err()
            .expect("no Verilator, no model"),
    ];
    for e in errors {
        assert!(matches!(e, HwError::MissingTool { .. }), "{e:?}");
        assert!(
            e.to_string().contains("apt-get install -y verilator yosys"),
            "{e}"
        );
    }
}
