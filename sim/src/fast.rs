//! Fast mode: every operation advances by its whole duration from the timing equations.

use crate::machine::{Executor, OpCost};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::isa::{Instr, Op};
use nmsat_compiler::timing;

/// Times operations with [`timing::op_cycles`]; touches no data.
pub struct Fast<'a> {
    pub arch: &'a Arch,
}

impl Executor for Fast<'_> {
    fn execute(&mut self, _index: usize, instr: &Instr) -> Result<OpCost, String> {
        let bank_stall = match &instr.op {
            Op::Gemm {
                m, k, t, sparsity, ..
            } => timing::gemm_terms(self.arch, *m, *k, *t, *sparsity).bank_stall,
            _ => 0,
        };
        Ok(OpCost {
            cycles: timing::op_cycles(self.arch, &instr.op),
            bank_stall,
        })
    }
}
