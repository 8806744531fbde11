//! `generate` on the shipped descriptions that fit and on resized ones: the files, the report,
//! and the external checks on what was written; unsupported descriptions are clear errors.

mod common;

use common::{arch, resized, scratch};
use nmsat_compiler::arch::{Dataflow, DatapathKind};
use nmsat_hw::{array_for, check_generated, generate, Dir, HwError, MAX_SIDE};

/// Generates `arch` and checks the result; returns the report text.
fn check(a: &nmsat_compiler::arch::Arch) -> String {
    let out = scratch(&format!("generate-{}", a.name));
    let report = generate(a, &out).unwrap_or_else(|e| panic!("{}: {e}", a.name));
    let (rows, cols, lanes) = (a.rows as usize, a.cols as usize, a.mux_lanes as usize);
    assert_eq!((report.shape.rows, report.shape.cols), (rows, cols));
    // One module per instance: the top, and per PE itself plus its weight, index, psum and
    // per-lane activation registers.
    assert_eq!(report.modules, 1 + rows * cols * (4 + lanes), "{}", a.name);
    let count = |dir: Dir, base: &str| {
        let prefix = format!("{base}$");
        report
            .ports
            .iter()
            .filter(|p| p.dir == dir && p.name.starts_with(&prefix))
            .count()
    };
    assert_eq!(count(Dir::In, "a_in"), rows * lanes);
    assert_eq!(count(Dir::In, "psum_in"), cols);
    assert_eq!(count(Dir::Out, "psum_out"), cols);
    let list = std::fs::read_to_string(&report.file_list).unwrap();
    match &report.core {
        Ok(core) => {
            assert_eq!(list, "nmsat_array.v\nnmsat_core.v\n");
            assert!(core.verilog.is_file());
            assert!(core
                .ports
                .iter()
                .any(|p| p.name == "mem_rdata" && p.width == 64));
        }
        Err(_) => assert_eq!(list, "nmsat_array.v\n"),
    }
    assert!(out.join("nmsat_array.v").is_file());
    let text = std::fs::read_to_string(&report.report).unwrap();
    assert_eq!(text, format!("{report}\n"));
    check_generated(&report).unwrap_or_else(|e| panic!("{}: {e}", a.name));
    text
}

#[test]
fn sat_small_4x4_is_generated_and_clean() {
    let text = check(&arch("sat-small"));
    assert!(text.contains("4 rows × 4 cols"), "{text}");
    assert!(text.contains("nmsat_core: controller"), "{text}");
    assert!(text.contains("16384 / 16384 / 16384 bytes"), "{text}");
    assert!(text.contains("8 activation lanes"), "{text}");
    assert!(text.contains("1:4, 2:4, 1:8, 2:8, 4:8"), "{text}");
    assert!(text.contains("a_in$0..a_in$31"), "{text}");
}

#[test]
fn sat_ice40_up5k_2x2_is_generated_and_clean() {
    let text = check(&arch("sat-ice40-up5k"));
    assert!(text.contains("2 rows × 2 cols"), "{text}");
    // Its DRAM words are 2 bytes; the RTL DMA engine moves 8.
    assert!(
        text.contains("nmsat_core: not generated: dram.access_bytes"),
        "{text}"
    );
}

#[test]
fn resized_8x8_is_generated_and_clean() {
    check(&resized(8, 8, 4));
}

/// The ends of the supported range, 2×2 and 16×16, as whole cores (sat-small is 4×4): the
/// core's Verilog lints and passes yosys at both.
#[test]
fn cores_at_2x2_and_16x16_are_generated_and_clean() {
    for side in [2, 16] {
        let text = check(&resized(side, side, 8));
        assert!(
            text.contains(&format!("{side} rows × {side} cols")),
            "{text}"
        );
        assert!(text.contains("nmsat_core: controller"), "{text}");
    }
}

/// Builds the error `array_for` gives for `a` and checks the field and reason it names.
fn expect_unsupported(a: &nmsat_compiler::arch::Arch, field: &str, needle: &str) {
    match array_for(a) {
        Err(e @ HwError::Unsupported { field: f, .. }) => {
            assert_eq!(f, field);
            let msg = e.to_string();
            assert!(msg.contains(needle) && msg.contains(&a.name), "{msg}");
        }
        Err(e) => panic!("{}: unexpected error {e}", a.name),
        Ok(_) => panic!("{}: no error", a.name),
    }
}

#[test]
fn unsupported_descriptions_say_why() {
    // The shipped 32×32 board design is beyond `MAX_SIDE`.
    let vcu = arch("sat-vcu1525");
    assert!(vcu.rows as usize > MAX_SIDE);
    expect_unsupported(&vcu, "array.rows", "1..=16 PEs per side");
    expect_unsupported(&resized(4, 17, 4), "array.cols", "1..=16 PEs per side");
    expect_unsupported(&resized(4, 4, 3), "sparsity.mux_lanes", "1, 2, 4, 8 or 16");
    let mut os = arch("sat-small");
    os.dataflow = Dataflow::OutputStationary;
    expect_unsupported(&os, "array.dataflow", "weight-stationary only");
    let mut f32 = arch("sat-small");
    f32.datapath = DatapathKind::F32;
    expect_unsupported(&f32, "datapath.kind", "int16");
    // Nothing is written for an unsupported description.
    let out = scratch("generate-unsupported");
    assert!(generate(&vcu, &out).is_err());
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}
