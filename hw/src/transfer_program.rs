//! `transfer_program`: random programs of loads and stores — what the RTL core runs end to
//! end while its prune, array and vector units are still missing — for co-simulation tests,
//! `nmsat cosim --transfers` and the RTL speed figure.
//!
//! Each transfer moves up to 8 rows of up to 64 bytes at unaligned DRAM addresses with
//! unaligned strides — or, a third of them, transposes a block of up to 8 × 24 INT16 elements
//! — to or from a random region (a store may requantize INT32 accumulators); each instruction waits on a random earlier instruction of either DMA
//! queue, so loads and stores contend for the DRAM and the controller's issue rules decide.

use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::isa::{Buf, Instr, Op, Phase, Program, Tensor, Unit, Xfer, XferShape};

/// DRAM bytes the program addresses (one tensor, `dram`).
pub const TRANSFER_DRAM_BYTES: u64 = 16384;

/// SplitMix64: deterministic random numbers without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn transfer(rng: &mut SplitMix, arch: &Arch, requant: bool) -> Xfer {
    // Requantized and transposed rows hold whole INT16 elements at even addresses.
    let transpose = rng.below(3) == 0;
    let whole = requant || transpose;
    let even = |v: u64| if whole { v & !1 } else { v };
    let rows = 1 + rng.below(8);
    let row_bytes = if whole {
        2 * (1 + rng.below(24))
    } else {
        1 + rng.below(64)
    };
    let stride = row_bytes + even(rng.below(40));
    let span = (rows - 1) * stride + row_bytes;
    let dram_addr = even(rng.below(TRANSFER_DRAM_BYTES - span));
    let sp_bytes = rows * row_bytes * if requant { 2 } else { 1 };
    let region = RegionId::ALL[rng.below(3) as usize];
    let align = if requant {
        !3
    } else if transpose {
        !1
    } else {
        !0
    };
    let sp_addr = rng.below(arch.region(region).bytes - sp_bytes) & align;
    Xfer {
        dram_addr,
        rows,
        row_bytes,
        dram_stride: stride,
        sp: Buf {
            region,
            addr: sp_addr,
            bytes: sp_bytes,
        },
        shape: if transpose {
            XferShape::Transpose
        } else {
            XferShape::Copy
        },
    }
}

/// `n` random loads and stores for `arch` (whose regions must hold 768 bytes), from `seed`.
pub fn transfer_program(arch: &Arch, n: usize, seed: u64) -> Program {
    let mut rng = SplitMix(seed);
    let mut instrs = Vec::with_capacity(n);
    let mut issued = [0u32; 2];
    for _ in 0..n {
        let store = rng.below(2) == 1;
        let mut waits = Vec::new();
        for (q, unit) in [Unit::Load, Unit::Store].into_iter().enumerate() {
            if issued[q] > 0 && rng.below(2) == 1 {
                waits.push((unit, 1 + rng.below(u64::from(issued[q])) as u32));
            }
        }
        let op = if store {
            let requant = rng.below(3) == 0;
            Op::Store {
                xfer: transfer(&mut rng, arch, requant),
                requant,
            }
        } else {
            Op::Load {
                xfer: transfer(&mut rng, arch, false),
            }
        };
        issued[store as usize] += 1;
        instrs.push(Instr {
            op,
            waits,
            layer: 0,
            phase: Phase::Ff,
        });
    }
    Program {
        arch: arch.name.clone(),
        model: format!("transfers-{n}-seed-{seed}"),
        batch: 1,
        nm: None,
        layers: vec!["transfers".into()],
        tensors: vec![Tensor {
            name: "dram".into(),
            addr: 0,
            bytes: TRANSFER_DRAM_BYTES,
            host_init: true,
        }],
        instrs,
    }
}
