//! Fast mode: every operation advances by its whole duration from the timing equations.

use crate::machine::{Executor, OpCost};
use nmsat_compiler::arch::{Arch, Banking, Region, RegionId};
use nmsat_compiler::dma_beats::timing_key;
use nmsat_compiler::isa::{Buf, Instr, Op, VecOp, Xfer};
use nmsat_compiler::prune::Nm;
use nmsat_compiler::timing;
use std::collections::HashMap;

/// Times operations with [`timing::op_cycles`]; touches no data.
pub struct Fast<'a> {
    arch: &'a Arch,
    /// A transfer on a physically banked region costs a pass over its elements, so each kind
    /// ([`timing_key`]: its shape, wherever it lies) is timed once.
    transfers: HashMap<(Xfer, Option<bool>), u64>,
    /// GEMMs by shape and by where each operand lies within a bank row of its region.
    gemms: HashMap<GemmKey, timing::GemmCycles>,
    /// Prunes on physical banks by shape and by where each operand lies within a bank row.
    prunes: HashMap<PruneKey, u64>,
    /// Vector operations by their fields and where each buffer lies within a bank row.
    vectors: HashMap<VectorKey, (u64, u64)>,
}

/// (m, k, t, N:M), the regions of w, x and y, and their offsets within a bank row.
type GemmKey = ((u64, u64, u64, Option<Nm>), [RegionId; 3], [u64; 3]);

/// (rows, k, N:M), the regions of src and dst, and their offsets within a bank row.
type PruneKey = ((u64, u64, Nm), [RegionId; 2], [u64; 2]);

/// `addr`'s offset within a bank row of `region`: moving a set by whole bank rows rotates
/// every word's bank by the same amount, which keeps its bank degree.
fn within_bank_row(region: &Region, addr: u64) -> u64 {
    addr % (region.banks * region.bank_width_bytes)
}
/// (op, elems, width), and each source's and the destination's region and address less the
/// whole bank rows before its region's first buffer (0 on an ideal region).
type VectorKey = ((VecOp, u64, u64), Vec<(RegionId, u64)>, (RegionId, u64));

impl<'a> Fast<'a> {
    /// Fast mode on `arch`.
    pub fn new(arch: &'a Arch) -> Fast<'a> {
        Fast {
            arch,
            transfers: HashMap::new(),
            gemms: HashMap::new(),
            prunes: HashMap::new(),
            vectors: HashMap::new(),
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
                let cycles = match self.transfers.get(&key) {
                    Some(&c) => c,
                    None => {
                        let c = timing::op_cycles(arch, op)?;
                        self.transfers.insert(key, c);
                        c
                    }
                };
                return Ok(OpCost {
                    cycles,
                    bank_stall: 0,
                });
            }
        }
        if let Op::Gemm {
            w,
            x,
            y,
            m,
            k,
            t,
            sparsity,
            ..
        } = &instr.op
        {
            let arch = self.arch;
            let at = timing::GemmPlacement {
                w: (arch.region(w.region), w.addr),
                x: (arch.region(x.region), x.addr),
                y: (arch.region(y.region), y.addr),
            };
            if !at.physical() {
                let g = timing::gemm_terms(arch, *m, *k, *t, *sparsity);
                return Ok(OpCost {
                    cycles: g.total,
                    bank_stall: g.bank_stall,
                });
            }
            // On physical banks a GEMM's sets cost what their words need of the banks, a
            // function of where each operand lies within a bank row of its region.
            let within = |(r, a): (&Region, u64)| within_bank_row(r, a);
            let key = (
                (*m, *k, *t, *sparsity),
                [w.region, x.region, y.region],
                [within(at.w), within(at.x), within(at.y)],
            );
            let g = *self.gemms.entry(key).or_insert_with(|| {
                timing::gemm_terms_placed(arch, *m, *k, *t, *sparsity, Some(at))
            });
            return Ok(OpCost {
                cycles: g.total,
                bank_stall: g.bank_stall,
            });
        }
        if let Op::Prune {
            src,
            dst,
            rows,
            k,
            nm,
            ..
        } = &instr.op
        {
            let arch = self.arch;
            let (from, to) = (arch.region(src.region), arch.region(dst.region));
            if from.banking == Banking::Physical || to.banking == Banking::Physical {
                let key = (
                    (*rows, *k, *nm),
                    [src.region, dst.region],
                    [
                        within_bank_row(from, src.addr),
                        within_bank_row(to, dst.addr),
                    ],
                );
                let cycles = *self
                    .prunes
                    .entry(key)
                    .or_insert_with(|| timing::prune_cycles_placed(arch, src, dst, *rows, *k, *nm));
                // The longer pipeline of physical banks is latency, not a bank stall.
                let lead = timing::prune_latency_at(arch, src, dst) - arch.prune_latency;
                let unstalled = timing::prune_cycles(arch, rows * k.div_ceil(nm.m)) + lead;
                return Ok(OpCost {
                    cycles,
                    bank_stall: cycles - unstalled,
                });
            }
        }
        if let Op::Vector {
            op,
            srcs,
            dst,
            elems,
            width,
        } = &instr.op
        {
            let arch = self.arch;
            let bufs = || srcs.iter().chain([dst]);
            if !bufs().any(|b| arch.region(b.region).banking == Banking::Physical) {
                return Ok(OpCost {
                    cycles: timing::vector_cycles(arch, *op, *elems),
                    bank_stall: 0,
                });
            }
            // On physical banks the steps' sets cost what their words need of the banks. A
            // step's reads of one region are one set, so the buffers of a region move together:
            // by the whole bank rows before the first of them, which rotates every bank alike
            // and keeps each set's degree. On ideal banks addresses do not matter.
            let within = |b: &Buf| {
                let r = arch.region(b.region);
                let line = r.banks * r.bank_width_bytes;
                let at = match r.banking {
                    Banking::Physical => {
                        let first = bufs().filter(|o| o.region == b.region).map(|o| o.addr);
                        b.addr - first.min().unwrap_or(0) / line * line
                    }
                    Banking::Ideal => 0,
                };
                (b.region, at)
            };
            let key = (
                (*op, *elems, *width),
                srcs.iter().map(within).collect(),
                within(dst),
            );
            if let Some(&(cycles, bank_stall)) = self.vectors.get(&key) {
                return Ok(OpCost { cycles, bank_stall });
            }
            let (cycles, bank_stall) = timing::vector_terms(arch, *op, srcs, dst, *elems, *width)?;
            self.vectors.insert(key, (cycles, bank_stall));
            return Ok(OpCost { cycles, bank_stall });
        }
        Ok(OpCost {
            cycles: timing::op_cycles(self.arch, &instr.op)?,
            bank_stall: 0,
        })
    }
}
