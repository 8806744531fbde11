//! The DMA engine on the f32 datapath: the element moves of `exact/dma.rs` (copies, transposes,
//! window gathers, stride-phase scatters, BP conv-weight gathers) over slot memories, without
//! the beats (functional mode keeps no time) and with reals where the INT16 path requantizes.

use super::f32_machine::F32Machine;
use nmsat_compiler::isa::{Im2colTile, Xfer, XferShape};

/// The real value of a window view's pad: INT16's −32768 (max pooling's) is −∞.
fn pad(t: &Im2colTile) -> f32 {
    if t.geom.pad_value == i16::MIN {
        f32::NEG_INFINITY
    } else {
        t.geom.pad_value as f32
    }
}

/// Calls `f(scratchpad element, DRAM address or None in the padding)` for every element of a
/// window tile, in the order of `exact/dma.rs`.
fn window_elems(
    t: &Im2colTile,
    scatter: bool,
    mut f: impl FnMut(usize, Option<u64>) -> Result<(), String>,
) -> Result<(), String> {
    for k in t.k0..t.k0 + t.nk {
        let (c, u, w) = t.geom.k_index(k);
        for px in t.px0..t.px0 + t.npx {
            let pixel = if scatter {
                Some(t.scatter_pixel(px))
            } else {
                t.geom.source(px, u, w)
            };
            f(t.sp_index(k, px), pixel.map(|p| t.addr(p, c)))?;
        }
    }
    Ok(())
}

/// Where element `j` of DRAM row `i` lies in the scratchpad block (in elements).
fn sp_index(x: &Xfer, i: u64, j: u64) -> usize {
    (match x.shape {
        XferShape::Transpose => j * x.rows + i,
        _ => i * (x.row_bytes / 2) + j,
    }) as usize
}

/// DRAM → scratchpad.
pub fn load(m: &mut F32Machine, x: &Xfer) -> Result<(), String> {
    let row = |i: u64| x.dram_addr + i * x.dram_stride;
    match x.shape {
        XferShape::Copy => {
            // Byte slots as they are: packed N:M rows need not be whole elements.
            let rb = x.row_bytes as usize;
            let mut block = Vec::with_capacity(x.rows as usize * rb);
            for i in 0..x.rows {
                let a = row(i) as usize;
                block.extend_from_slice(
                    m.dram.get(a..a + rb).ok_or_else(|| {
                        format!("load of DRAM bytes {a}.. outside the memory map")
                    })?,
                );
            }
            let sp = m.sp_mut(&x.sp)?;
            if sp.len() < block.len() {
                return Err(format!("load of {} bytes into {:?}", block.len(), x.sp));
            }
            sp[..block.len()].copy_from_slice(&block);
        }
        XferShape::Transpose => {
            let mut vals = vec![0.0; (x.rows * x.row_bytes / 2) as usize];
            for i in 0..x.rows {
                for j in 0..x.row_bytes / 2 {
                    vals[sp_index(x, i, j)] = m.dram_at(row(i) + 2 * j)?;
                }
            }
            m.put_elems(&x.sp, &vals)?;
        }
        XferShape::Im2col(t) | XferShape::Scatter(t) => {
            let scatter = matches!(x.shape, XferShape::Scatter(_));
            let mut vals = vec![0.0; (t.nk * t.npx) as usize];
            let p = pad(&t);
            window_elems(&t, scatter, |i, addr| {
                vals[i] = match addr {
                    Some(a) => m.dram_at(a)?,
                    None => p,
                };
                Ok(())
            })?;
            m.put_elems(&x.sp, &vals)?;
        }
        XferShape::ConvBp(t) => {
            let mut vals = Vec::with_capacity((t.nr * t.nk) as usize);
            for ci in t.r0..t.r0 + t.nr {
                for k in t.k0..t.k0 + t.nk {
                    let (co, dy, dx) = t.geom.k_index(k);
                    vals.push(m.dram_at(t.addr(co, ci, dy, dx))?);
                }
            }
            m.put_elems(&x.sp, &vals)?;
        }
    }
    Ok(())
}

/// Scratchpad → DRAM; accumulators (`requant`) pass as they are, reals needing no rounding.
pub fn store(m: &mut F32Machine, x: &Xfer, requant: bool) -> Result<(), String> {
    let sp = m.sp(&x.sp)?.to_vec();
    let stride = if requant { 4 } else { 2 };
    let value = |at: usize| {
        sp.get(stride * at)
            .copied()
            .ok_or_else(|| format!("store reads past its {}-byte buffer", sp.len()))
    };
    if let XferShape::Scatter(t) = x.shape {
        let mut writes = Vec::with_capacity((t.nk * t.npx) as usize);
        window_elems(&t, true, |i, addr| {
            writes.push((addr.expect("a scatter moves grid pixels"), value(i)?));
            Ok(())
        })?;
        for (a, v) in writes {
            m.dram_set(a, v)?;
        }
        return Ok(());
    }
    for i in 0..x.rows {
        let a = x.dram_addr + i * x.dram_stride;
        if x.shape == XferShape::Copy && !requant {
            let rb = x.row_bytes as usize;
            let src = sp
                .get(i as usize * rb..(i as usize + 1) * rb)
                .ok_or("store reads past its buffer")?;
            m.dram
                .get_mut(a as usize..a as usize + rb)
                .ok_or_else(|| format!("store to DRAM bytes {a}.. outside the memory map"))?
                .copy_from_slice(src);
            continue;
        }
        for j in 0..x.row_bytes / 2 {
            m.dram_set(a + 2 * j, value(sp_index(x, i, j))?)?;
        }
    }
    Ok(())
}
