//! Measures Verilog generation, Verilator build and simulation speed for square arrays.
//!
//! `cargo run -p nmsat-hw --release --example measure -- [SIDE[xLANES]...]` (default 4 16,
//! 4 lanes). Builds into a fresh cache directory so every Verilator build is cold, with
//! `NMSAT_HW_JOBS` (default 1) compiler processes.

use nmsat_compiler::prune::Nm;
use nmsat_hw::{
    build_array, gemm, load_weights, to_verilog, top_ports, ArrayShape, BuildOptions, Design,
    HwError, Mode, Tile, VerilatedArray, ARRAY_TOP,
};
use std::time::Instant;

fn main() -> Result<(), HwError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = if args.is_empty() {
        vec!["4".to_string(), "16".to_string()]
    } else {
        args
    };
    let jobs = std::env::var("NMSAT_HW_JOBS").map_or(1, |j| j.parse().expect("a number"));
    let cache = std::env::temp_dir().join(format!("nmsat-hw-measure-{}", std::process::id()));
    let mut opts = BuildOptions::new(&cache);
    opts.jobs = jobs;
    for arg in args {
        let (side, lanes) = match arg.split_once('x') {
            Some((s, l)) => (s.parse().expect("SIDE"), l.parse().expect("LANES")),
            None => (arg.parse().expect("SIDE"), 4),
        };
        let shape = ArrayShape {
            rows: side,
            cols: side,
            lanes,
        };
        let t = Instant::now();
        let uut = build_array(shape)?;
        let t_build = t.elapsed();
        let t = Instant::now();
        let verilog = to_verilog(uut.as_ref(), ARRAY_TOP)?;
        let t_gen = t.elapsed();
        let t = Instant::now();
        let ports = top_ports(uut.as_ref())?;
        let t_ports = t.elapsed();
        let (design, bt) = Design::build(&verilog, ARRAY_TOP, &ports, &opts)?;
        println!(
            "{side}x{side} ({lanes} lanes): construct {t_build:.2?}, to_verilog (checks + emit) \
             {t_gen:.2?}, ports {t_ports:.2?}, {} lines / {} KiB Verilog",
            verilog.lines().count(),
            verilog.len() / 1024
        );
        println!(
            "  verilator {:.2?}, runtime C++ {:.2?} (once per toolchain), model C++ {:.2?} \
             (jobs {jobs}), link {:.2?}, dlopen {:.2?}",
            bt.verilator, bt.runtime_cxx, bt.model_cxx, bt.link, bt.load
        );
        let t = Instant::now();
        let (_again, bt2) = Design::build(&verilog, ARRAY_TOP, &ports, &opts)?;
        println!(
            "  cached rebuild (generation excluded): {:.2?} (cached = {})",
            t.elapsed(),
            bt2.cached
        );

        // Raw model speed: inputs fixed, the loop runs inside the shim.
        let mut model = design.instantiate();
        let cycles = 2_000_000 / (side * side) as u64;
        let t = Instant::now();
        model.step(cycles);
        let raw = cycles as f64 / t.elapsed().as_secs_f64();
        // Driven speed: a real tile, new inputs every cycle from Rust (one FFI call a cycle).
        let mut arr = VerilatedArray::new(design.instantiate(), shape)?;
        let nm = Nm {
            n: 2,
            m: 4.min(lanes as u64).max(2),
        };
        let mode = if lanes >= 4 {
            Mode::Sparse(nm)
        } else {
            Mode::Dense
        };
        let m_rows = 200_000 / side;
        let k = mode.reduction(side);
        let a: Vec<i16> = (0..m_rows * k).map(|i| (i * 7919) as i16).collect();
        let bias = vec![0; m_rows * side];
        let w: Vec<i16> = (0..side * side).map(|i| (i * 31) as i16).collect();
        let mut tile = Tile::dense(&w, side, side);
        tile.indices = (0..side * side).map(|i| (i % 4) as u8).collect();
        load_weights(&mut arr, &tile)?;
        let t = Instant::now();
        let before = arr.cycles();
        let _y = gemm(&mut arr, mode, &a, m_rows, &bias)?;
        let driven = (arr.cycles() - before) as f64 / t.elapsed().as_secs_f64();
        println!(
            "  simulation: {raw:.0} cycles/s raw ({:.1}M MAC/s), {driven:.0} cycles/s driven by gemm()",
            raw * (side * side) as f64 / 1e6
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
    Ok(())
}
