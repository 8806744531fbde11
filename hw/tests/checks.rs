//! Generated Verilog passes `verilator --lint-only -Wall` and yosys `check -assert`.
//! Verilator and yosys missing is a failure (with the install command), never a skip.

mod common;

use common::scratch;
use nmsat_compiler::prune::Nm;
use nmsat_hw::{
    build_array, to_verilog, verilator_lint, write_verilog, yosys_check, ArrayShape, Pe, Prune,
};
use rust_hdl::prelude::*;

/// Generates `uut` with top module `top` and runs both external checks on it.
fn check(name: &str, top: &str, uut: &dyn Block) {
    let file = scratch(&format!("checks-{name}")).join(format!("{top}.v"));
    write_verilog(&to_verilog(uut, top).unwrap(), &file).unwrap();
    let files = [file];
    verilator_lint(&files, top).unwrap_or_else(|e| panic!("{name}: {e}"));
    yosys_check(&files, top).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn check_array(rows: usize, cols: usize, lanes: usize) {
    let shape = ArrayShape { rows, cols, lanes };
    let uut = build_array(shape).unwrap();
    check(
        &format!("array{rows}x{cols}x{lanes}"),
        "nmsat_array",
        uut.as_ref(),
    );
}

#[test]
fn pe_with_16_lanes_is_clean() {
    let mut pe = Pe::<16>::default();
    pe.connect_all();
    check("pe16", "nmsat_pe", &pe);
}

#[test]
fn square_arrays_2_4_8_are_clean() {
    for side in [2, 4, 8] {
        check_array(side, side, 4);
    }
}

#[test]
fn array_16x16_is_clean() {
    check_array(16, 16, 4);
}

#[test]
fn non_square_arrays_and_other_lane_counts_are_clean() {
    for (rows, cols, lanes) in [(1, 1, 1), (2, 8, 2), (4, 2, 8), (3, 5, 16)] {
        check_array(rows, cols, lanes);
    }
}

#[test]
fn prune_units_are_clean() {
    for (n, m) in [(1, 2), (2, 4), (1, 4), (2, 8), (4, 16), (15, 16)] {
        let mut uut = Prune::new(Nm { n, m }).unwrap();
        uut.connect_all();
        check(&format!("prune{n}of{m}"), "nmsat_prune", &uut);
    }
}

#[test]
fn core_is_clean() {
    let arch = common::arch("sat-small");
    let core = nmsat_hw::core_for(&arch).unwrap();
    check("core-sat-small", nmsat_hw::CORE_TOP, core.as_ref());
}

#[test]
fn ws_grids_are_clean() {
    for (rows, cols, lanes) in [(2, 2, 8), (4, 4, 8), (3, 5, 2)] {
        let grid = nmsat_hw::build_ws_array(ArrayShape { rows, cols, lanes }).unwrap();
        check(
            &format!("ws{rows}x{cols}x{lanes}"),
            "nmsat_ws_array",
            grid.as_ref(),
        );
    }
}

#[test]
fn rank_pack_units_are_clean() {
    for lanes in [2, 8, 16] {
        let mut unit = nmsat_hw::RankPack::new(lanes);
        unit.connect_all();
        check(&format!("rank-pack{lanes}"), "nmsat_rank_pack", &unit);
    }
}
