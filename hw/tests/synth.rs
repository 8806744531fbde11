//! The synthesis flows with the real tools: the UP5K bitstream, the XCVU9P estimates growing
//! with the array, the cache, and the errors for a design too big and a target unknown.
//!
//! A missing tool fails these tests with the install command (`HwError::MissingSynthTool`),
//! never skips them: CI installs yosys, nextpnr-ice40 and fpga-icestorm (`.ci/run`).

mod common;

use common::{arch, resized, scratch};
use nmsat_hw::synth::{synth, synth_cached, SynthReport, Target, REPORT_FILE};
use nmsat_hw::HwError;
use std::time::Instant;

fn ok(r: Result<SynthReport, HwError>) -> SynthReport {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn up5k_design_builds_a_bitstream_that_fits_and_meets_its_clock() {
    let dir = scratch("synth-up5k");
    let a = arch("sat-ice40-up5k");
    let r = ok(synth(&a, Target::Ice40Up5k, &dir));
    assert!(!r.cached && !r.estimate);
    assert_eq!(r.part, "iCE40UP5K-SG48");
    let bin = r.file("bitstream").expect("a bitstream");
    // An iCE40 UP5K bitstream has a fixed size (every configuration bit is written).
    let size = std::fs::metadata(&bin).unwrap().len();
    assert!(size > 100_000, "{}: {size} bytes", bin.display());
    for res in &r.resources {
        let avail = res.available.unwrap_or_else(|| panic!("{res:?}"));
        assert!(res.used <= avail, "{res:?}");
    }
    // One SB_MAC16 per PE: yosys 0.23 loses half of them without the flow's workaround.
    let pes = a.rows * a.cols;
    assert_eq!(r.resource("DSP").unwrap().core, Some(pes), "{r}");
    assert!(r.used("LUT4") > 0 && r.used("DFF") > 0 && r.used("LC") >= r.used("LUT4"));
    let core_dffs = r.resource("DFF").unwrap().core.unwrap();
    let harness = r.harness.as_ref().unwrap();
    assert!(
        r.used("DFF") >= core_dffs + harness.input_bits as u64,
        "{r}"
    );
    let achieved = r.clock.achieved_mhz.expect("nextpnr fmax");
    assert!(achieved >= r.clock.requested_mhz, "{r}");
    assert!(r.clock.icetime_mhz.is_some(), "{r}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(REPORT_FILE)).unwrap()).unwrap();
    assert_eq!(json["target"], "ice40-up5k");
    assert_eq!(json["resources"][0]["name"], "LUT4");
    let log = std::fs::read_to_string(r.file("log").unwrap()).unwrap();
    assert!(
        log.contains("$ nextpnr-ice40") && log.contains("$ icepack"),
        "{log}"
    );

    // The same RTL again: read from the cache, no tool run.
    let start = Instant::now();
    let again = ok(synth(&a, Target::Ice40Up5k, &dir));
    assert!(again.cached && start.elapsed().as_secs_f64() < 5.0);
    assert_eq!(again.resources, r.resources);
}

#[test]
fn xcvu9p_estimates_grow_with_the_array_and_are_cached() {
    let cache = scratch("synth-xcvu9p-cache");
    // Dense-only PEs (one lane) keep the three runs cheap; the growth is the array's.
    let mut luts = Vec::new();
    for n in [2, 4, 8] {
        let r = ok(synth_cached(&resized(n, n, 1), Target::Xcvu9p, &cache));
        assert!(r.estimate && !r.cached);
        assert_eq!(r.part, "xcvu9p-fsgd2104-2L-e");
        assert_eq!(r.used("DSP48E2"), n * n, "one DSP48E2 per PE\n{r}");
        let tcl = std::fs::read_to_string(r.file("vivado_tcl").unwrap()).unwrap();
        assert!(tcl.contains(&format!("synth_design -top {{{}}} -part xcvu9p", r.top)));
        let xdc = std::fs::read_to_string(r.file("xdc").unwrap()).unwrap();
        assert!(xdc.contains("create_clock"), "{xdc}");
        luts.push((r.used("LUT"), r.used("FF")));
    }
    assert!(
        luts.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1),
        "LUT and FF estimates must grow with the array: {luts:?}"
    );
    // Another description with the same RTL (only its name differs) shares the entry.
    let mut twin = resized(2, 2, 1);
    twin.name = "twin".into();
    let r = ok(synth_cached(&twin, Target::Xcvu9p, &cache));
    assert!(r.cached, "{r}");
    assert_eq!((r.used("LUT"), r.used("FF")), luts[0]);
}

#[test]
fn a_design_too_big_for_the_up5k_fails_before_place_and_route_with_the_numbers() {
    let dir = scratch("synth-up5k-too-big");
    // 3×3 PEs need 9 SB_MAC16s; the UP5K has 8.
    let e = synth(&resized(3, 3, 1), Target::Ice40Up5k, &dir).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, HwError::DoesNotFit { .. }), "{msg}");
    assert!(msg.contains("does not fit the iCE40UP5K-SG48"), "{msg}");
    assert!(
        msg.contains("DSP (SB_MAC16): 9 needed, 8 available"),
        "{msg}"
    );
    assert!(!dir.join("design.asc").exists() && !dir.join(REPORT_FILE).exists());
}

#[test]
fn an_unknown_target_is_a_clear_error() {
    let e = "ecp5-85k".parse::<Target>().unwrap_err().to_string();
    assert!(e.contains("unknown synthesis target `ecp5-85k`"), "{e}");
    assert!(e.contains("ice40-up5k, ice40-hx8k, xcvu9p"), "{e}");
}
