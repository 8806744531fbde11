//! The f32 datapath's machine: DRAM and scratchpads holding real numbers.
//!
//! The memories keep the program's byte addresses: one f32 *slot* per byte, a value living in
//! the slot of its first byte. An INT16 element `e` of a range at byte `a` is slot `a + 2e`,
//! an INT32 accumulator slot `a + 4e`; a packed N:M group at byte `g` holds kept value `j` in
//! slot `g + 2j` and its index in the group in slot `g + 2j + 1` (the value's second byte);
//! a batch-norm statistics column `c` holds its two sums in elements `8c` and `8c + 1`. So every
//! transfer moves exactly the byte ranges the INT16 program moves, packed rows of odd length
//! included, and no operation needs to know it runs on reals.

use super::{f32_dma, f32_gemm, f32_vector, Functional};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::{Buf, Instr, Op, Program, Tensor};
use nmsat_compiler::prune::{group_bytes, Nm};

/// DRAM and the three scratchpad regions, one f32 per byte.
#[derive(Debug, Clone)]
pub struct F32Machine {
    pub(super) dram: Vec<f32>,
    pub(super) sp: [Vec<f32>; 3],
}

impl F32Machine {
    /// Zeroed memories large enough for `prog`'s tensors and scratchpad ranges.
    pub fn new(prog: &Program) -> F32Machine {
        let dram = prog
            .tensors
            .iter()
            .map(|t| t.addr + t.bytes)
            .max()
            .unwrap_or(0);
        let mut sp = [0u64; 3];
        for ins in &prog.instrs {
            for b in ins.op.sp_reads().iter().chain(&ins.op.sp_writes()) {
                let r = &mut sp[b.region as usize];
                *r = (*r).max(b.end());
            }
        }
        F32Machine {
            dram: vec![0.0; dram as usize],
            sp: sp.map(|n| vec![0.0; n as usize]),
        }
    }

    fn tensor<'p>(prog: &'p Program, name: &str) -> Result<&'p Tensor, String> {
        prog.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("the program has no tensor `{name}`"))
    }

    /// The slots of a scratchpad range, checked against the region.
    pub(super) fn sp(&self, b: &Buf) -> Result<&[f32], String> {
        self.sp[b.region as usize]
            .get(b.addr as usize..b.end() as usize)
            .ok_or_else(|| format!("{b:?} lies outside the {:?} scratchpad", b.region))
    }

    pub(super) fn sp_mut(&mut self, b: &Buf) -> Result<&mut [f32], String> {
        self.sp[b.region as usize]
            .get_mut(b.addr as usize..b.end() as usize)
            .ok_or_else(|| format!("{b:?} lies outside the {:?} scratchpad", b.region))
    }

    /// The INT16 elements of a scratchpad range.
    pub(super) fn elems(&self, b: &Buf) -> Result<Vec<f32>, String> {
        Ok(self.sp(b)?.iter().step_by(2).copied().collect())
    }

    /// Writes INT16 elements to the start of a scratchpad range.
    pub(super) fn put_elems(&mut self, b: &Buf, values: &[f32]) -> Result<(), String> {
        let s = self.sp_mut(b)?;
        if values.len() * 2 > s.len() {
            return Err(format!(
                "{} results overflow a {}-byte buffer",
                values.len(),
                s.len()
            ));
        }
        for (i, &v) in values.iter().enumerate() {
            s[2 * i] = v;
        }
        Ok(())
    }

    /// The DRAM slot of byte `a`.
    pub(super) fn dram_at(&self, a: u64) -> Result<f32, String> {
        self.dram
            .get(a as usize)
            .copied()
            .ok_or_else(|| format!("DRAM byte {a} lies outside the memory map"))
    }

    pub(super) fn dram_set(&mut self, a: u64, v: f32) -> Result<(), String> {
        let n = self.dram.len();
        *self
            .dram
            .get_mut(a as usize)
            .ok_or_else(|| format!("DRAM byte {a} lies outside the {n}-byte memory map"))? = v;
        Ok(())
    }
}

impl Functional for F32Machine {
    fn write_real(&mut self, prog: &Program, name: &str, values: &[f32]) -> Result<(), String> {
        let t = F32Machine::tensor(prog, name)?;
        if values.len() as u64 * 2 > t.bytes {
            return Err(format!(
                "{} values do not fit tensor `{name}` ({} bytes)",
                values.len(),
                t.bytes
            ));
        }
        for (i, &v) in values.iter().enumerate() {
            self.dram_set(t.addr + 2 * i as u64, v)?;
        }
        Ok(())
    }

    fn write_int(&mut self, prog: &Program, name: &str, values: &[i16]) -> Result<(), String> {
        let reals: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        self.write_real(prog, name, &reals)
    }

    fn read_real(&self, prog: &Program, name: &str) -> Result<Vec<f32>, String> {
        let t = F32Machine::tensor(prog, name)?;
        (0..t.bytes / 2)
            .map(|i| self.dram_at(t.addr + 2 * i))
            .collect()
    }

    fn read_compressed(
        &self,
        prog: &Program,
        name: &str,
        rows: u64,
        k: u64,
        nm: Nm,
    ) -> Result<Vec<f32>, String> {
        let t = F32Machine::tensor(prog, name)?;
        let (groups, gb) = (k.div_ceil(nm.m), group_bytes(nm) as u64);
        if rows * groups * gb > t.bytes {
            return Err(format!(
                "tensor `{name}` is smaller than {rows}×{k} at {nm}"
            ));
        }
        let mut dense = vec![0.0; (rows * groups * nm.m) as usize];
        for g in 0..rows * groups {
            let base = t.addr + g * gb;
            for j in 0..nm.n {
                let v = self.dram_at(base + 2 * j)?;
                let idx = self.dram_at(base + 2 * j + 1)? as u64;
                dense[(g * nm.m + idx) as usize] += v;
            }
        }
        // Drop the padding of each row's last group.
        let width = (groups * nm.m) as usize;
        Ok(dense
            .chunks(width)
            .flat_map(|r| r[..k as usize].iter().copied())
            .collect())
    }

    fn execute(&mut self, _arch: &Arch, instr: &Instr) -> Result<(), String> {
        match &instr.op {
            Op::Load { xfer } => f32_dma::load(self, xfer),
            Op::Store { xfer, requant } => f32_dma::store(self, xfer, *requant),
            Op::Prune {
                src,
                dst,
                rows,
                k,
                nm,
                ..
            } => f32_gemm::prune(self, src, dst, *rows, *k, *nm),
            Op::Gemm {
                w,
                x,
                y,
                m,
                k,
                t,
                sparsity,
                accumulate,
            } => f32_gemm::gemm(self, (w, x, y), (*m, *k, *t), *sparsity, *accumulate),
            Op::Vector {
                op,
                srcs,
                dst,
                elems,
                width,
            } => f32_vector::run(self, *op, srcs, dst, *elems, *width),
        }
    }
}
