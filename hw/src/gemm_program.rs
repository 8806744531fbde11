//! `gemm_program`: one GEMM `y[m×t] = w[m×k]·x[k×t]` as a program for the whole core, what
//! `nmsat cosim --gemm` runs: load x and the dense w, prune w on chip when the GEMM is N:M
//! (the pre-generation path), run the array unit, store y.
//!
//! ```text
//!  Load x  → input region [0, 2kt)            Load w → input region [2kt, 2kt + 2mk)
//!  Prune w → weight region (N:M only; dense: Load w straight into the weight region)
//!  Gemm    → y in the output region [0, 4mt)   Store y → DRAM
//! ```
//!
//! The host fills `x` and `w` with bytes from the seed (any INT16 values; the int32
//! accumulators wrap alike in both simulators).

use crate::HwError;
use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::isa::{
    Buf, Instr, Op, Phase, Program, PruneAlong, Tensor, Unit, Xfer, XferShape,
};
use nmsat_compiler::prune::{group_bytes, Nm};

/// The program of one `m × k × t` GEMM on `arch`'s core (named `gemm-MxNxK` with N = t, as
/// `--gemm` spells it), or which region it does not fit.
pub fn gemm_program(
    arch: &Arch,
    (m, k, t): (u64, u64, u64),
    sparsity: Option<Nm>,
) -> Result<Program, HwError> {
    let fits = |region: RegionId, bytes: u64| {
        let have = arch.region(region).bytes;
        if bytes <= have {
            Ok(())
        } else {
            Err(HwError::Usage(format!(
                "a {m}×{k}×{t} GEMM needs {bytes} bytes of the {} region, which has {have}; \
                 the whole GEMM must fit the core's regions at once (a compiled model tiles it)",
                region.name()
            )))
        }
    };
    let (x_bytes, w_bytes, y_bytes) = (2 * k * t, 2 * m * k, 4 * m * t);
    let packed = sparsity.map(|nm| m * k.div_ceil(nm.m) * group_bytes(nm) as u64);
    match packed {
        None => {
            fits(RegionId::Input, x_bytes)?;
            fits(RegionId::Weight, w_bytes)?;
        }
        Some(p) => {
            fits(RegionId::Input, x_bytes + w_bytes)?;
            fits(RegionId::Weight, p)?;
        }
    }
    fits(RegionId::Output, y_bytes)?;
    let buf = |region, addr, bytes| Buf {
        region,
        addr,
        bytes,
    };
    // DRAM: x, then w, then y, each 8-byte aligned.
    let (x_at, w_at) = (0, x_bytes.next_multiple_of(8));
    let y_at = w_at + w_bytes.next_multiple_of(8);
    let load = |dram_addr, rows, row_bytes, sp: Buf| Op::Load {
        xfer: Xfer {
            dram_addr,
            rows,
            row_bytes,
            dram_stride: row_bytes,
            sp,
            shape: XferShape::Copy,
        },
    };
    let x = buf(RegionId::Input, 0, x_bytes);
    let w_dense = match packed {
        None => buf(RegionId::Weight, 0, w_bytes),
        Some(_) => buf(RegionId::Input, x_bytes, w_bytes),
    };
    let w = match packed {
        None => w_dense,
        Some(p) => buf(RegionId::Weight, 0, p),
    };
    let y = buf(RegionId::Output, 0, y_bytes);
    let instr = |op, waits: Vec<(Unit, u32)>| Instr {
        op,
        waits,
        layer: 0,
        phase: Phase::Ff,
    };
    let mut instrs = vec![
        instr(load(x_at, k, 2 * t, x), vec![]),
        instr(load(w_at, m, 2 * k, w_dense), vec![]),
    ];
    let mut gemm_waits = vec![(Unit::Load, 2)];
    if let Some(nm) = sparsity {
        instrs.push(instr(
            Op::Prune {
                src: w_dense,
                dst: w,
                rows: m,
                k,
                nm,
                along: PruneAlong::Input,
            },
            vec![(Unit::Load, 2)],
        ));
        gemm_waits.push((Unit::Prune, 1));
    }
    instrs.push(instr(
        Op::Gemm {
            w,
            x,
            y,
            m,
            k,
            t,
            sparsity,
            accumulate: false,
        },
        gemm_waits,
    ));
    instrs.push(instr(
        Op::Store {
            xfer: Xfer {
                dram_addr: y_at,
                rows: m,
                row_bytes: 4 * t,
                dram_stride: 4 * t,
                sp: y,
                shape: XferShape::Copy,
            },
            requant: false,
        },
        vec![(Unit::Array, 1)],
    ));
    let tensor = |name: &str, addr, bytes, host_init| Tensor {
        name: name.into(),
        addr,
        bytes,
        host_init,
    };
    Ok(Program {
        arch: arch.name.clone(),
        model: format!(
            "gemm-{m}x{t}x{k}-{}",
            sparsity.map_or("dense".into(), |nm| nm.to_string())
        ),
        batch: 1,
        nm: sparsity,
        layers: vec!["gemm".into()],
        tensors: vec![
            tensor("x", x_at, x_bytes, true),
            tensor("w", w_at, w_bytes, true),
            tensor("y", y_at, y_bytes, false),
        ],
        instrs,
    })
}
