//! The INT16 datapath: each instruction executed by the exact simulator's units on
//! [`crate::exact::Memory`], so that a functional run computes bit for bit what exact mode and
//! the RTL compute. Host values enter and leave through `datapath::quantize`/`dequantize`.

use super::Functional;
use crate::exact::{Exact, Memory};
use crate::machine::Executor;
use nmsat_compiler::arch::Arch;
use nmsat_compiler::datapath::{dequantize, quantize};
use nmsat_compiler::isa::{Instr, Program};
use nmsat_compiler::prune::{group_bytes, unpack_group, Nm};

/// The exact simulator's memories, with the Q.f format of the description they serve.
pub struct Int16Machine {
    pub mem: Memory,
    frac_bits: u32,
}

impl Int16Machine {
    /// Zeroed memories for `prog` on `arch`.
    pub fn new(arch: &Arch, prog: &Program) -> Int16Machine {
        Int16Machine {
            mem: Memory::new(arch, prog),
            frac_bits: arch.frac_bits,
        }
    }
}

impl Functional for Int16Machine {
    fn write_real(&mut self, prog: &Program, name: &str, values: &[f32]) -> Result<(), String> {
        let q: Vec<i16> = values
            .iter()
            .map(|&v| quantize(v as f64, self.frac_bits))
            .collect();
        self.mem.write_i16(prog, name, &q)
    }

    fn write_int(&mut self, prog: &Program, name: &str, values: &[i16]) -> Result<(), String> {
        self.mem.write_i16(prog, name, values)
    }

    fn read_real(&self, prog: &Program, name: &str) -> Result<Vec<f32>, String> {
        Ok(self
            .mem
            .read_i16(prog, name)?
            .into_iter()
            .map(|q| dequantize(q, self.frac_bits) as f32)
            .collect())
    }

    fn read_compressed(
        &self,
        prog: &Program,
        name: &str,
        rows: u64,
        k: u64,
        nm: Nm,
    ) -> Result<Vec<f32>, String> {
        let t = prog
            .tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("the program has no tensor `{name}`"))?;
        let groups = k.div_ceil(nm.m) as usize;
        let row_bytes = groups * group_bytes(nm);
        if (rows as usize * row_bytes) as u64 > t.bytes {
            return Err(format!(
                "tensor `{name}` is smaller than {rows}×{k} at {nm}"
            ));
        }
        let mut dense = Vec::with_capacity((rows * k) as usize);
        for r in 0..rows as usize {
            let a = t.addr as usize + r * row_bytes;
            let packed = &self.mem.dram[a..a + row_bytes];
            let mut row = vec![0.0f32; groups * nm.m as usize];
            for g in 0..groups {
                for (i, v) in unpack_group(packed, nm, g) {
                    row[g * nm.m as usize + i] += dequantize(v, self.frac_bits) as f32;
                }
            }
            dense.extend_from_slice(&row[..k as usize]);
        }
        Ok(dense)
    }

    fn execute(&mut self, arch: &Arch, instr: &Instr) -> Result<(), String> {
        Exact {
            arch,
            mem: &mut self.mem,
        }
        .execute(0, instr)
        .map(|_| ())
    }
}
