//! Exact mode: each operation executed cycle by cycle with real data, over byte-addressed
//! DRAM and scratchpads.
//!
//! Operations interact only through the issue model ([`crate::machine`]): an operation's data
//! effects are applied when it issues, which the program checker makes equivalent to any
//! other order that respects its waits.
//!
//! Every instruction the compiler emits executes: GEMMs dense and N:M, every transfer shape
//! (copies, transposes, the window gathers of convolutions and pooling, the scatters of stride
//! phases, the gathers of BP conv weights; see `dma.rs`), the prune unit, and every vector
//! operation (`vector_unit.rs` defines their fixed-point semantics: activations, pooling, batch
//! and layer norm, softmax, GELU, the loss, SGD). What a program computes is then exactly what the
//! layouts of [`nmsat_compiler::isa`] say. Two model-level simplifications remain in the
//! training graph, not here: norms have no learned scale and shift and layers no bias; and a
//! `reshape` moves no data, so the class-token reshapes of a ViT and the head split of its
//! attention matmuls (`heads` consecutive blocks of each operand) are not PyTorch's data flow.

pub mod array;
pub mod dma;
pub mod prune_unit;
mod vector_banks;
pub mod vector_unit;

use crate::machine::{Executor, OpCost};
use crate::piuma::Spad;
use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::isa::{Buf, Instr, Op, Program};
use nmsat_compiler::timing;

/// The machine's memories: DRAM and the three scratchpad regions, each a banked scratchpad
/// of the PIUMA-like model.
#[derive(Debug, Clone)]
pub struct Memory {
    pub dram: Vec<u8>,
    pub sp: [Spad; 3],
}

impl Memory {
    /// Zeroed memories large enough for `prog`'s tensors.
    pub fn new(arch: &Arch, prog: &Program) -> Memory {
        let end = prog
            .tensors
            .iter()
            .map(|t| t.addr + t.bytes)
            .max()
            .unwrap_or(0);
        Memory {
            dram: vec![
                0;
                end.div_ceil(arch.dram.access_bytes) as usize
                    * arch.dram.access_bytes as usize
            ],
            sp: RegionId::ALL.map(|r| Spad::new(arch.region(r).scratchpad())),
        }
    }

    fn tensor<'p>(
        prog: &'p Program,
        name: &str,
    ) -> Result<&'p nmsat_compiler::isa::Tensor, String> {
        prog.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("the program has no tensor `{name}`"))
    }

    /// Writes INT16 values into the DRAM tensor `name`.
    pub fn write_i16(&mut self, prog: &Program, name: &str, values: &[i16]) -> Result<(), String> {
        let t = Memory::tensor(prog, name)?;
        if values.len() as u64 * 2 > t.bytes {
            return Err(format!(
                "{} values do not fit tensor `{name}` ({} bytes)",
                values.len(),
                t.bytes
            ));
        }
        for (i, v) in values.iter().enumerate() {
            let a = t.addr as usize + 2 * i;
            self.dram[a..a + 2].copy_from_slice(&v.to_le_bytes());
        }
        Ok(())
    }

    /// Reads the DRAM tensor `name` as INT16 values.
    pub fn read_i16(&self, prog: &Program, name: &str) -> Result<Vec<i16>, String> {
        let t = Memory::tensor(prog, name)?;
        let bytes = &self.dram[t.addr as usize..(t.addr + t.bytes) as usize];
        Ok(bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect())
    }

    /// The bytes of a scratchpad range.
    pub fn sp(&self, b: &Buf) -> &[u8] {
        self.sp[b.region as usize].bytes(b.addr as usize..b.end() as usize)
    }

    /// The bytes of a scratchpad range, to write.
    pub fn sp_mut(&mut self, b: &Buf) -> &mut [u8] {
        self.sp[b.region as usize].bytes_mut(b.addr as usize..b.end() as usize)
    }
}

/// INT16 little-endian bytes to values.
fn i16s(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Values to INT16 little-endian bytes.
fn put_i16s(out: &mut [u8], values: &[i16]) {
    for (o, v) in out.chunks_exact_mut(2).zip(values) {
        o.copy_from_slice(&v.to_le_bytes());
    }
}

/// Executes operations cycle by cycle on [`Memory`].
pub struct Exact<'a> {
    pub arch: &'a Arch,
    pub mem: &'a mut Memory,
}

impl Executor for Exact<'_> {
    fn execute(&mut self, _index: usize, instr: &Instr) -> Result<OpCost, String> {
        let arch = self.arch;
        match &instr.op {
            Op::Load { xfer } => dma::load(arch, self.mem, xfer),
            Op::Store { xfer, requant } => dma::store(arch, self.mem, xfer, *requant),
            Op::Prune {
                src,
                dst,
                rows,
                k,
                nm,
                ..
            } => prune_unit::run(arch, self.mem, src, dst, *rows, *k, *nm),
            Op::Gemm {
                w,
                x,
                y,
                m,
                k,
                t,
                sparsity,
                accumulate,
            } => {
                let need_x = 2 * k * t;
                let need_y = 4 * m * t;
                if x.bytes < need_x || y.bytes < need_y {
                    return Err(format!("GEMM {m}×{k}×{t}: operand buffers too small"));
                }
                let wb = self.mem.sp(w).to_vec();
                let xv = i16s(&self.mem.sp(x)[..need_x as usize]);
                let mut yv: Vec<i32> = self.mem.sp(y)[..need_y as usize]
                    .chunks_exact(4)
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                let run = array::run_gemm(
                    arch,
                    *m as usize,
                    *k as usize,
                    *t as usize,
                    *sparsity,
                    &wb,
                    &xv,
                    &mut yv,
                    *accumulate,
                    Some(timing::GemmPlacement {
                        w: (arch.region(w.region), w.addr),
                        x: (arch.region(x.region), x.addr),
                        y: (arch.region(y.region), y.addr),
                    }),
                );
                for (o, v) in self.mem.sp_mut(y).chunks_exact_mut(4).zip(&yv) {
                    o.copy_from_slice(&v.to_le_bytes());
                }
                Ok(OpCost {
                    cycles: run.cycles,
                    bank_stall: run.bank_stall,
                })
            }
            Op::Vector {
                op,
                srcs,
                dst,
                elems,
                width,
            } => vector_unit::run(arch, self.mem, *op, srcs, dst, *elems, *width),
        }
    }
}
