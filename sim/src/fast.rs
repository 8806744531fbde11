//! Fast mode: every operation advances by its whole duration from the timing equations.

use crate::machine::{Executor, OpCost};
use nmsat_compiler::arch::{Arch, Banking, RegionId};
use nmsat_compiler::dma_beats::timing_key;
use nmsat_compiler::isa::{Instr, Op, Xfer};
use nmsat_compiler::prune::Nm;
use nmsat_compiler::timing;
use std::collections::HashMap;

/// Times operations with [`timing::op_cycles`]; touches no data.
pub struct Fast<'a> {
    arch: &'a Arch,
    /// A transfer on a physically banked region costs a pass over its elements, so each kind
    /// ([`timing_key`]: its shape, wherever it lies) is timed once.
    transfers: HashMap<(Xfer, Option<bool>), u64>,
    /// GEMMs by shape and by where `x` lies within a bank row of its region.
    gemms: HashMap<GemmKey, timing::GemmCycles>,
}

/// m, k, t, N:M, and x's region and offset within a bank row.
type GemmKey = (u64, u64, u64, Option<Nm>, RegionId, u64);

impl<'a> Fast<'a> {
    /// Fast mode on `arch`.
    pub fn new(arch: &'a Arch) -> Fast<'a> {
        Fast {
            arch,
            transfers: HashMap::new(),
            gemms: HashMap::new(),
        }
    }
}

impl Executor for Fast<'_> {
    fn execute(&mut self, _index: usize, instr: &Instr) -> Result<OpCost, String> {
        if let Op::Load { xfer } | Op::Store { xfer, .. } = &instr.op {
            if self.arch.region(xfer.sp.region).banking == Banking::Physical {
                let requant = match instr.op {
                    Op::Store { requant, .. } => Some(requant),
                    _ => None,
                };
                let key = (timing_key(self.arch, xfer), requant);
                let (arch, op) = (self.arch, &instr.op);
                let cycles = *self
                    .transfers
                    .entry(key)
                    .or_insert_with(|| timing::op_cycles(arch, op));
                return Ok(OpCost {
                    cycles,
                    bank_stall: 0,
                });
            }
        }
        if let Op::Gemm {
            x,
            m,
            k,
            t,
            sparsity,
            ..
        } = &instr.op
        {
            let region = self.arch.region(x.region);
            // On physical banks a GEMM's columns cost what their words need of the banks, a
            // function of where x lies within a bank row.
            let line = region.banks * region.bank_width_bytes;
            let key = (*m, *k, *t, *sparsity, x.region, x.addr % line);
            let arch = self.arch;
            let g = *self.gemms.entry(key).or_insert_with(|| {
                timing::gemm_terms_placed(arch, *m, *k, *t, *sparsity, Some((region, x.addr)))
            });
            return Ok(OpCost {
                cycles: g.total,
                bank_stall: g.bank_stall,
            });
        }
        Ok(OpCost {
            cycles: timing::op_cycles(self.arch, &instr.op),
            bank_stall: 0,
        })
    }
}
