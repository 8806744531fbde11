//! Shared test helpers: a seeded RNG, the Verilator cache, the project's reference GEMM.
#![allow(dead_code)] // each test binary uses a different subset

use nmsat_compiler::arch::Arch;
use nmsat_compiler::datapath::mac;
use nmsat_compiler::prune::{nm_prune, Nm};
use nmsat_hw::{to_verilog, top_ports, BuildOptions, Design};
use rust_hdl::prelude::Block;
use std::path::PathBuf;
use std::sync::Arc;

/// SplitMix64: deterministic, dependency-free random numbers.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn i16(&mut self) -> i16 {
        self.next_u64() as i16
    }
    pub fn i32(&mut self) -> i32 {
        self.next_u64() as i32
    }
    /// Uniform in `-r..=r`: small ranges force ties.
    pub fn small(&mut self, r: i16) -> i16 {
        let span = 2 * r as u64 + 1;
        (self.next_u64() % span) as i16 - r
    }
    pub fn vec_i16(&mut self, n: usize) -> Vec<i16> {
        (0..n).map(|_| self.i16()).collect()
    }
    pub fn vec_i32(&mut self, n: usize) -> Vec<i32> {
        (0..n).map(|_| self.i32()).collect()
    }
}

/// Built models are cached under the cargo target dir, so re-runs skip the C++ compile.
pub fn options() -> BuildOptions {
    BuildOptions::new(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("verilator-cache"))
}

/// A directory of its own per test, so parallel tests never share files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("hw-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A loaded Verilator model of any rust-hdl block (with `connect_all` done).
pub fn verilate(uut: &dyn Block, top: &str) -> Arc<Design> {
    let verilog = to_verilog(uut, top).unwrap();
    let ports = top_ports(uut).unwrap();
    // A missing Verilator is a failure carrying the install command, never a skip.
    let (design, _) =
        Design::build(&verilog, top, &ports, &options()).unwrap_or_else(|e| panic!("{e}"));
    design
}

/// A shipped description.
pub fn arch(name: &str) -> Arch {
    Arch::load(name).unwrap_or_else(|e| panic!("{e}"))
}

/// `sat-small` resized: how the tests reach array sizes no shipped description has.
pub fn resized(rows: u64, cols: u64, mux_lanes: u64) -> Arch {
    let mut a = arch("sat-small");
    a.name = format!("test-{rows}x{cols}x{mux_lanes}");
    (a.rows, a.cols, a.mux_lanes) = (rows, cols, mux_lanes);
    a.patterns.retain(|nm| nm.m <= mux_lanes);
    a
}

/// The project's reference: `y = bias + a · w` accumulated with `datapath::mac` (exact
/// int16 products, wrapping int32 sums). `a` is `m × k`, `w` is `k × n`, all row-major.
pub fn reference_gemm(
    a: &[i16],
    w: &[i16],
    bias: &[i32],
    m: usize,
    k: usize,
    n: usize,
) -> Vec<i32> {
    assert_eq!((a.len(), w.len(), bias.len()), (m * k, k * n, m * n));
    (0..m * n)
        .map(|ij| {
            let (i, j) = (ij / n, ij % n);
            (0..k).fold(bias[ij], |acc, x| mac(acc, a[i * k + x], w[x * n + j]))
        })
        .collect()
}

/// `w` (`k × cols`, row-major) with every column pruned `nm` along `k` by the project's
/// `nm_prune`: the dense matrix the sparse array must multiply by.
pub fn pruned_columns(w: &[i16], k: usize, cols: usize, nm: Nm) -> Vec<i16> {
    let mut out = vec![0; k * cols];
    for c in 0..cols {
        let column: Vec<i16> = (0..k).map(|x| w[x * cols + c]).collect();
        for (x, v) in nm_prune(&column, nm).into_iter().enumerate() {
            out[x * cols + c] = v;
        }
    }
    out
}

/// Every `VecOp`, by name without its fields: the operations a random-program test must draw.
pub const VEC_OPS: [&str; 19] = [
    "Add",
    "BatchGradStats",
    "BatchNorm",
    "BatchNormGrad",
    "BatchStats",
    "Fill",
    "Gelu",
    "GeluGrad",
    "Loss",
    "MaskDecay",
    "Norm",
    "NormGrad",
    "Pool",
    "PoolGrad",
    "Relu",
    "ReluGrad",
    "Sgd",
    "Softmax",
    "SoftmaxGrad",
];
