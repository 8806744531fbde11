//! `random_program`: random programs of loads, stores, prunes, GEMMs and element-wise vector
//! operations — every unit of the RTL core — for co-simulation tests, `nmsat cosim --random`
//! and the RTL speed figure.
//!
//! Each transfer moves up to 8 rows of up to 64 bytes at unaligned DRAM addresses with
//! unaligned strides — or, a third of them, transposes a block of up to 8 × 24 INT16 elements
//! — to or from a random region (a store may requantize INT32 accumulators); each instruction waits on a random earlier instruction of either DMA
//! queue, so loads and stores contend for the DRAM and the controller's issue rules decide.

use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::isa::{
    Buf, Instr, Op, Phase, Program, PruneAlong, Tensor, Unit, VecOp, Xfer, XferShape,
};
use nmsat_compiler::prune::{group_bytes, Nm};

/// DRAM bytes the random transfers address (the tensor `dram`; the scratchpads' final contents
/// follow it, in `scratchpads`).
pub const PROGRAM_DRAM_BYTES: u64 = 16384;

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
    let dram_addr = even(rng.below(PROGRAM_DRAM_BYTES - span));
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

/// A random prune of up to 4 rows of up to 40 weights at one of `arch`'s patterns, into a
/// buffer apart from its source (the unit streams, see `encode`).
fn prune(rng: &mut SplitMix, arch: &Arch) -> Op {
    let nm = arch.patterns[rng.below(arch.patterns.len() as u64) as usize];
    let (rows, k) = (1 + rng.below(4), 1 + rng.below(40));
    let packed = rows * k.div_ceil(nm.m) * group_bytes(nm) as u64;
    let place = |rng: &mut SplitMix, bytes: u64, align: u64| {
        let region = RegionId::ALL[rng.below(3) as usize];
        Buf {
            region,
            addr: rng.below(arch.region(region).bytes - bytes) & !(align - 1),
            bytes,
        }
    };
    let src = place(rng, 2 * rows * k, 2);
    let dst = loop {
        let d = place(rng, packed, 1);
        if d.region != src.region || d.end() <= src.addr || src.end() <= d.addr {
            break d;
        }
    };
    Op::Prune {
        src,
        dst,
        rows,
        k,
        nm,
        along: PruneAlong::Input,
    }
}

/// A random GEMM of up to 12 × 24 × 12 (shapes that are rarely multiples of the array), dense
/// or at one of `arch`'s patterns whose M is a power of two (so that any index bits name a
/// lane of the group: the packed weights are whatever the weight region holds), accumulating
/// or not, with its operands where the array unit reads them.
fn gemm(rng: &mut SplitMix, arch: &Arch) -> Op {
    let (m, k, t) = (1 + rng.below(12), 1 + rng.below(24), 1 + rng.below(12));
    let patterns: Vec<Nm> = arch
        .patterns
        .iter()
        .copied()
        .filter(|nm| nm.m.is_power_of_two() && nm.m <= arch.mux_lanes)
        .collect();
    let sparsity = match rng.below(patterns.len() as u64 + 1) as usize {
        0 => None,
        i => Some(patterns[i - 1]),
    };
    let w_bytes = match sparsity {
        None => 2 * m * k,
        Some(nm) => m * k.div_ceil(nm.m) * group_bytes(nm) as u64,
    };
    let mut place = |region: RegionId, bytes: u64| Buf {
        region,
        addr: rng.below(arch.region(region).bytes - bytes),
        bytes,
    };
    Op::Gemm {
        w: place(RegionId::Weight, w_bytes),
        x: place(RegionId::Input, 2 * k * t),
        y: place(RegionId::Output, 4 * m * t),
        m,
        k,
        t,
        sparsity,
        accumulate: rng.below(2) == 0,
    }
}

/// Whether two operations touch a common scratchpad byte, one of them writing it.
fn conflict(a: &Op, b: &Op) -> bool {
    let overlap = |x: &Buf, y: &Buf| x.region == y.region && x.addr < y.end() && y.addr < x.end();
    let any = |xs: &[Buf], ys: &[Buf]| xs.iter().any(|x| ys.iter().any(|y| overlap(x, y)));
    let (aw, bw) = (a.sp_writes(), b.sp_writes());
    any(&aw, &bw) || any(&aw, &b.sp_reads()) || any(&a.sp_reads(), &bw)
}

/// A random element-wise vector operation of up to 64 elements.
fn vector(rng: &mut SplitMix, arch: &Arch) -> Op {
    let elems = 1 + rng.below(64);
    let buf = |rng: &mut SplitMix| {
        let region = RegionId::ALL[rng.below(3) as usize];
        Buf {
            region,
            addr: rng.below(arch.region(region).bytes - 2 * elems) & !1,
            bytes: 2 * elems,
        }
    };
    let (op, sources) = match rng.below(5) {
        0 => (VecOp::Relu, 1),
        1 => (VecOp::ReluGrad, 2),
        2 => (VecOp::Add, 1),
        3 => (VecOp::Add, 2),
        _ => (VecOp::Fill, 0),
    };
    // The unit streams: a destination meets a source only in place (see `encode`).
    let dst = buf(rng);
    let apart = |s: &Buf| s.region != dst.region || s.end() <= dst.addr || dst.end() <= s.addr;
    let srcs: Vec<Buf> = (0..sources)
        .map(|i| {
            if i == 0 && rng.below(4) == 0 {
                return dst;
            }
            loop {
                let s = buf(rng);
                if apart(&s) {
                    break s;
                }
            }
        })
        .collect();
    Op::Vector {
        op,
        srcs,
        dst,
        elems,
        width: elems,
    }
}

/// `n` random loads, stores and vector operations for `arch` (whose regions must hold 768
/// bytes), from `seed`.
pub fn random_program(arch: &Arch, n: usize, seed: u64) -> Program {
    let mut rng = SplitMix(seed);
    let mut instrs: Vec<Instr> = Vec::with_capacity(n);
    let queues = [
        Unit::Load,
        Unit::Store,
        Unit::Vector,
        Unit::Prune,
        Unit::Array,
    ];
    let mut issued = [0u32; 5];
    // Each instruction's place in its queue.
    let mut position: Vec<u32> = Vec::with_capacity(n);
    for _ in 0..n {
        let q = match rng.below(5) {
            3 if arch.patterns.is_empty() => 2,
            q => q as usize,
        };
        // Random waits, raised so that every earlier instruction of another queue whose
        // scratchpad accesses conflict with this one's completes first: like a compiled
        // program, a random one is free of races, so its result does not depend on how long
        // an operation takes to apply its effects.
        let mut wait = [0u32; 5];
        for (v, w) in wait.iter_mut().enumerate() {
            if issued[v] > 0 && rng.below(2) == 1 {
                *w = 1 + rng.below(u64::from(issued[v])) as u32;
            }
        }
        let op = match queues[q] {
            Unit::Store => {
                let requant = rng.below(3) == 0;
                Op::Store {
                    xfer: transfer(&mut rng, arch, requant),
                    requant,
                }
            }
            Unit::Load => Op::Load {
                xfer: transfer(&mut rng, arch, false),
            },
            Unit::Vector => vector(&mut rng, arch),
            Unit::Prune => prune(&mut rng, arch),
            _ => gemm(&mut rng, arch),
        };
        for (i, earlier) in instrs.iter().enumerate() {
            let v = queues
                .iter()
                .position(|&u| u == earlier.op.unit())
                .expect("one of the five queues");
            if v != q && conflict(&earlier.op, &op) {
                wait[v] = wait[v].max(position[i] + 1);
            }
        }
        position.push(issued[q]);
        issued[q] += 1;
        let waits = queues
            .iter()
            .zip(wait)
            .filter(|&(_, c)| c > 0)
            .map(|(&u, c)| (u, c))
            .collect();
        instrs.push(Instr {
            op,
            waits,
            layer: 0,
            phase: Phase::Ff,
        });
    }
    // Finally every region is stored whole behind the program's DRAM, after everything else,
    // so that comparing the DRAM compares the scratchpads too.
    let mut dump_at = PROGRAM_DRAM_BYTES;
    for region in RegionId::ALL {
        let bytes = arch.region(region).bytes;
        let row = 256.min(bytes);
        instrs.push(Instr {
            op: Op::Store {
                xfer: Xfer {
                    dram_addr: dump_at,
                    rows: bytes / row,
                    row_bytes: row,
                    dram_stride: row,
                    sp: Buf {
                        region,
                        addr: 0,
                        bytes: bytes / row * row,
                    },
                    shape: XferShape::Copy,
                },
                requant: false,
            },
            waits: queues.iter().zip(&issued).map(|(&u, &c)| (u, c)).collect(),
            layer: 0,
            phase: Phase::Ff,
        });
        issued[1] += 1;
        dump_at += bytes;
    }
    Program {
        arch: arch.name.clone(),
        model: format!("random-{n}-seed-{seed}"),
        batch: 1,
        nm: None,
        layers: vec!["random".into()],
        tensors: vec![
            Tensor {
                name: "dram".into(),
                addr: 0,
                bytes: PROGRAM_DRAM_BYTES,
                host_init: true,
            },
            Tensor {
                name: "scratchpads".into(),
                addr: PROGRAM_DRAM_BYTES,
                bytes: dump_at - PROGRAM_DRAM_BYTES,
                host_init: false,
            },
        ],
        instrs,
    }
}
