//! The DMA engine's load and store sides, beat by beat.
//!
//! ```text
//!  DRAM ──(link B/cycle, after `latency`)──► [arrival] ──(banks·width B/cycle)──► scratchpad
//! ```
//! After `setup` cycles the engine requests `min(dma, channels·per-channel)` bytes of whole DRAM
//! words a cycle; each request returns `latency` cycles later, and the scratchpad side writes
//! what has arrived (in proportion, when the two sides differ in size: requantization halves a
//! store, word alignment pads a load, a gather keeps part of the rows it streams) at its bank
//! bandwidth.
//!
//! The write path arranges elements by the transfer's shape (see [`XferShape`]): as they come,
//! transposed, gathered into a window tile (im2col, with the view's pad value outside the
//! image), gathered or scattered pixel by pixel over a stride phase's grid, or gathered into the
//! BP view of conv weights. A shaped transfer's DRAM rows must be the ones its shape implies, and every element
//! it moves must lie inside its DRAM span, so that the timing and the checker see what the data
//! path does.

use super::{i16s, put_i16s, Memory};
use crate::machine::OpCost;
use nmsat_compiler::arch::{Arch, Banking, Region};
use nmsat_compiler::datapath::requant;
use nmsat_compiler::dma_beats::beat_words;
use nmsat_compiler::isa::{DramRows, Im2colTile, Xfer, XferShape};
use nmsat_compiler::timing::dram_bytes;

/// Cycles of a transfer moving `dram` bytes on the DRAM side and `sp` on the scratchpad side,
/// stepped one cycle at a time.
fn beats(arch: &Arch, dram: u64, sp: u64, sp_bw: u64) -> u64 {
    let link = arch.dma.bytes_per_cycle.min(arch.dram_bytes_per_cycle());
    let (setup, latency) = (arch.dma.setup_cycles, arch.dram.latency);
    let (mut requested, mut arrived, mut written) = (0u64, 0u64, 0u64);
    let mut in_flight = std::collections::VecDeque::new();
    let mut cycle = 0;
    loop {
        if cycle >= setup && requested < dram {
            requested = (requested + link).min(dram);
            in_flight.push_back((cycle + latency, requested));
        }
        while in_flight.front().is_some_and(|&(at, _)| at <= cycle) {
            arrived = in_flight.pop_front().expect("checked").1;
        }
        written = (written + sp_bw).min(arrived * sp / dram.max(1));
        cycle += 1;
        if written == sp {
            return cycle;
        }
    }
}

/// Checks the scratchpad side of a transfer against its buffer (`scale` scratchpad bytes per
/// DRAM element byte: 2 when INT32 accumulators are stored as INT16) and a shaped transfer's
/// DRAM rows against its shape.
fn check_shape(x: &Xfer, scale: u64, store: bool) -> Result<(), String> {
    let rows = DramRows {
        addr: x.dram_addr,
        rows: x.rows,
        row_bytes: x.row_bytes,
        stride: x.dram_stride,
    };
    let (elems, implied) = match x.shape {
        XferShape::Copy => (x.rows * x.row_bytes / 2, rows),
        XferShape::Transpose if !x.row_bytes.is_multiple_of(2) => {
            return Err("a transposing transfer moves whole INT16 elements".into())
        }
        XferShape::Transpose => (x.rows * x.row_bytes / 2, rows),
        XferShape::Im2col(_) | XferShape::ConvBp(_) if store => {
            return Err(format!("{:?} transfers are loads only", x.shape))
        }
        XferShape::Im2col(t) => (t.nk * t.npx, t.gather_rows()),
        XferShape::Scatter(t) => (t.nk * t.npx, t.scatter_rows()),
        XferShape::ConvBp(t) => (t.nr * t.nk, t.dram_rows()),
    };
    if implied != rows {
        return Err(format!(
            "DRAM rows {rows:?} are not the ones the transfer's shape implies ({implied:?})"
        ));
    }
    let sp = if x.shape == XferShape::Copy {
        x.rows * x.row_bytes * scale
    } else {
        elems * 2 * scale
    };
    if sp != x.sp.bytes {
        return Err(format!(
            "transfer of {elems} elements ({} rows of {} bytes) does not fill its {}-byte buffer",
            x.rows, x.row_bytes, x.sp.bytes
        ));
    }
    Ok(())
}

/// Where element `j` of DRAM row `i` lands in the scratchpad block (in elements).
fn sp_index(x: &Xfer, i: usize, j: usize) -> usize {
    match x.shape {
        XferShape::Transpose => j * x.rows as usize + i,
        _ => i * (x.row_bytes / 2) as usize + j,
    }
}

/// One cycle of a physically banked region: every bank serves one of its words in `left`
/// (words by bank); says whether none is left.
fn serve(left: &mut [u64]) -> bool {
    for n in left.iter_mut() {
        *n = n.saturating_sub(1);
    }
    left.iter().all(|&n| n == 0)
}

/// Words of each bank in `words`.
fn by_bank(region: &Region, words: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut left = vec![0; region.banks as usize];
    for w in words {
        left[region.bank(w) as usize] += 1;
    }
    left
}

/// A transfer on a physically banked region, stepped one cycle at a time: requests while the
/// answer queue (`latency + 1` entries) has room, answers after `latency`, and the region's
/// write path taking the padding's fill first, then the queue's head beat, one word of every
/// bank a cycle. A store reads each beat the same way and requests its DRAM write the cycle
/// after the beat's last read.
fn physical_beats(arch: &Arch, x: &Xfer, scale: u64, store: bool) -> u64 {
    let region = arch.region(x.sp.region);
    let sets = beat_words(arch, x, scale);
    let (setup, lat) = (arch.dma.setup_cycles, arch.dram.latency);
    let n = sets.beats.len();
    let bank_words = |i: usize| by_bank(region, sets.beats[i].iter().copied());
    if store {
        let mut cycle = setup.saturating_sub(1);
        for i in 0..n {
            let mut left = bank_words(i);
            loop {
                cycle += 1;
                if serve(&mut left) {
                    break;
                }
            }
        }
        return cycle + lat + 1;
    }
    let w = region.bank_width_bytes;
    let mut fill = if sets.padded {
        by_bank(region, x.sp.addr / w..(x.sp.addr + x.sp.bytes).div_ceil(w))
    } else {
        Vec::new()
    };
    let queue_len = lat as usize + 1;
    let (mut requested, mut written) = (0usize, 0usize);
    let mut in_flight = std::collections::VecDeque::new();
    let mut arrived = std::collections::VecDeque::new();
    let mut head: Option<Vec<u64>> = None;
    let mut cycle = 0u64;
    while written < n || !fill.is_empty() || cycle < setup + lat {
        if cycle >= setup && requested < n && requested - written < queue_len {
            in_flight.push_back((cycle + lat, requested));
            requested += 1;
        }
        while in_flight.front().is_some_and(|&(at, _)| at <= cycle) {
            arrived.push_back(in_flight.pop_front().expect("checked").1);
        }
        if !fill.is_empty() {
            if serve(&mut fill) {
                fill.clear();
            }
        } else {
            if head.is_none() {
                head = arrived.pop_front().map(bank_words);
            }
            if let Some(left) = head.as_mut() {
                if serve(left) {
                    head = None;
                    written += 1;
                }
            }
        }
        cycle += 1;
    }
    cycle
}

fn cost(arch: &Arch, mem: &Memory, x: &Xfer, scale: u64, store: bool) -> OpCost {
    if arch.region(x.sp.region).banking == Banking::Physical {
        return OpCost {
            cycles: physical_beats(arch, x, scale, store),
            bank_stall: 0,
        };
    }
    let sp_bw = mem.sp[x.sp.region as usize].desc().bytes_per_cycle();
    OpCost {
        cycles: beats(arch, dram_bytes(arch, x), x.sp.bytes, sp_bw),
        bank_stall: 0,
    }
}

/// The DRAM address of an element a shaped transfer moves, checked against its span.
fn in_span(x: &Xfer, addr: u64) -> Result<usize, String> {
    let (lo, hi) = x.dram_span();
    if addr < lo || addr + 2 > hi {
        return Err(format!(
            "{:?} transfer touches DRAM byte {addr} outside its span [{lo}, {hi})",
            x.shape
        ));
    }
    Ok(addr as usize)
}

fn read_i16(mem: &Memory, a: usize) -> i16 {
    i16::from_le_bytes([mem.dram[a], mem.dram[a + 1]])
}

/// For every element of a window tile: its scratchpad index, and the DRAM address it comes
/// from or goes to (None in the padding).
fn window_elems(t: &Im2colTile, scatter: bool) -> Vec<(usize, Option<u64>)> {
    let mut v = Vec::with_capacity((t.nk * t.npx) as usize);
    for k in t.k0..t.k0 + t.nk {
        let (c, u, w) = t.geom.k_index(k);
        for px in t.px0..t.px0 + t.npx {
            let pixel = if scatter {
                Some(t.scatter_pixel(px))
            } else {
                t.geom.source(px, u, w)
            };
            v.push((t.sp_index(k, px), pixel.map(|p| t.addr(p, c))));
        }
    }
    v
}

/// DRAM → scratchpad.
pub fn load(arch: &Arch, mem: &mut Memory, x: &Xfer) -> Result<OpCost, String> {
    check_shape(x, 1, false)?;
    let (rows, rb) = (x.rows as usize, x.row_bytes as usize);
    let row = |i: usize| {
        let a = (x.dram_addr + i as u64 * x.dram_stride) as usize;
        a..a + rb
    };
    match x.shape {
        XferShape::Copy => {
            // Bytes as they are: packed N:M rows need not be whole elements.
            let mut block = Vec::with_capacity(rows * rb);
            for i in 0..rows {
                block.extend_from_slice(&mem.dram[row(i)]);
            }
            mem.sp_mut(&x.sp).copy_from_slice(&block);
        }
        XferShape::Transpose => {
            let mut vals = vec![0i16; rows * rb / 2];
            for i in 0..rows {
                for (j, v) in i16s(&mem.dram[row(i)]).into_iter().enumerate() {
                    vals[sp_index(x, i, j)] = v;
                }
            }
            put_i16s(mem.sp_mut(&x.sp), &vals);
        }
        XferShape::Im2col(t) | XferShape::Scatter(t) => {
            let scatter = matches!(x.shape, XferShape::Scatter(_));
            let mut vals = vec![0i16; (t.nk * t.npx) as usize];
            for (i, addr) in window_elems(&t, scatter) {
                vals[i] = match addr {
                    Some(a) => read_i16(mem, in_span(x, a)?),
                    None => t.geom.pad_value,
                };
            }
            put_i16s(mem.sp_mut(&x.sp), &vals);
        }
        XferShape::ConvBp(t) => {
            let mut vals = Vec::with_capacity((t.nr * t.nk) as usize);
            for ci in t.r0..t.r0 + t.nr {
                for k in t.k0..t.k0 + t.nk {
                    let (co, dy, dx) = t.geom.k_index(k);
                    vals.push(read_i16(mem, in_span(x, t.addr(co, ci, dy, dx))?));
                }
            }
            put_i16s(mem.sp_mut(&x.sp), &vals);
        }
    }
    Ok(cost(arch, mem, x, 1, false))
}

/// Scratchpad → DRAM, requantizing INT32 accumulators to INT16 when asked to.
pub fn store(arch: &Arch, mem: &mut Memory, x: &Xfer, requant_acc: bool) -> Result<OpCost, String> {
    let scale = if requant_acc { 2 } else { 1 };
    check_shape(x, scale, true)?;
    let (rows, rb) = (x.rows as usize, x.row_bytes as usize);
    let sp = mem.sp(&x.sp).to_vec();
    let value = |at: usize| {
        if requant_acc {
            let b = &sp[4 * at..4 * at + 4];
            requant(i32::from_le_bytes([b[0], b[1], b[2], b[3]]), arch.frac_bits)
        } else {
            i16::from_le_bytes([sp[2 * at], sp[2 * at + 1]])
        }
    };
    if let XferShape::Scatter(t) = x.shape {
        for (i, addr) in window_elems(&t, true) {
            let a = in_span(x, addr.expect("a scatter moves grid pixels"))?;
            mem.dram[a..a + 2].copy_from_slice(&value(i).to_le_bytes());
        }
        return Ok(cost(arch, mem, x, scale, true));
    }
    for i in 0..rows {
        let a = (x.dram_addr + i as u64 * x.dram_stride) as usize;
        if x.shape == XferShape::Copy && !requant_acc {
            mem.dram[a..a + rb].copy_from_slice(&sp[i * rb..(i + 1) * rb]);
            continue;
        }
        let vals: Vec<i16> = (0..rb / 2).map(|j| value(sp_index(x, i, j))).collect();
        put_i16s(&mut mem.dram[a..a + rb], &vals);
    }
    Ok(cost(arch, mem, x, scale, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmsat_compiler::arch::RegionId;
    use nmsat_compiler::datapath::requant as requant_fn;
    use nmsat_compiler::isa::Buf;
    use nmsat_compiler::timing::{bank_degree, dma_cycles, transfer_cycles, Direction};
    use proptest::prelude::*;

    proptest! {
        /// The beat-level engine takes exactly the cycles of `timing::dma_cycles`.
        #[test]
        fn beats_match_the_timing_equation(
            addr in 0u64..64, rows in 1u64..6, row_bytes in 1u64..200, pad in 0u64..40,
            banks in 1u64..5, width in prop::sample::select(vec![1u64, 2, 8]),
            bpc in 1u64..100, dma in 1u64..300, setup in 0u64..40, latency in 0u64..40, wide in any::<bool>()) {
            let text = include_str!("../../../configs/arch/sat-small.yaml")
                .replace("input: {bytes: 16384, banks: 4, bank_width_bytes: 8", &format!("input: {{bytes: {}, banks: {banks}, bank_width_bytes: {width}", 16384 / (banks * width) * banks * width))
                .replace("dma: {bytes_per_cycle: 16, setup_cycles: 4}", &format!("dma: {{bytes_per_cycle: {dma}, setup_cycles: {setup}}}"))
                .replace("bytes_per_cycle_per_channel: 8, latency: 10", &format!("bytes_per_cycle_per_channel: {bpc}, latency: {latency}"));
            let arch = Arch::parse("t.yaml", &text).unwrap();
            let sp_bytes = rows * row_bytes * if wide { 2 } else { 1 };
            let x = Xfer { dram_addr: addr, rows, row_bytes, dram_stride: row_bytes + pad,
                           sp: Buf { region: RegionId::Input, addr: 0, bytes: sp_bytes }, shape: XferShape::Copy };
            let got = beats(&arch, dram_bytes(&arch, &x), sp_bytes, arch.input.bytes_per_cycle());
            prop_assert_eq!(got, dma_cycles(&arch, &x));
        }

        /// On a physically banked region, the cycle-stepped engine takes exactly
        /// `timing::transfer_cycles` (the recurrence over the beats' bank degrees), for plain and
        /// transposing loads and stores, requantizing or not.
        #[test]
        fn physical_beats_match_the_recurrence(
            addr in 0u64..64, rows in 1u64..20, elems in 1u64..40, pad in 0u64..40, sp_addr in 0u64..100,
            banks in 1u64..9, width in prop::sample::select(vec![1u64, 2, 4, 8]),
            bpc in prop::sample::select(vec![8u64, 16, 64]), setup in 0u64..8, latency in 0u64..20,
            transpose: bool, store: bool, requant: bool) {
            let text = include_str!("../../../configs/arch/sat-small.yaml")
                .replace("input: {bytes: 16384, banks: 4, bank_width_bytes: 8, ports: 2, latency: 1}",
                         &format!("input: {{bytes: {}, banks: {banks}, bank_width_bytes: {width}, ports: 2, latency: 1, banking: physical}}", 16384 / (banks * width) * banks * width))
                .replace("dma: {bytes_per_cycle: 16, setup_cycles: 4}", &format!("dma: {{bytes_per_cycle: 64, setup_cycles: {setup}}}"))
                .replace("bytes_per_cycle_per_channel: 8, latency: 10", &format!("bytes_per_cycle_per_channel: {bpc}, latency: {latency}"));
            let arch = Arch::parse("t.yaml", &text).unwrap();
            let scale = if store && requant { 2 } else { 1 };
            let row_bytes = 2 * elems;
            let x = Xfer { dram_addr: addr, rows, row_bytes, dram_stride: row_bytes + pad,
                           sp: Buf { region: RegionId::Input, addr: sp_addr, bytes: rows * row_bytes * scale },
                           shape: if transpose { XferShape::Transpose } else { XferShape::Copy } };
            let dir = if store { Direction::Store { requant: scale == 2 } } else { Direction::Load };
            prop_assert_eq!(physical_beats(&arch, &x, scale, store), transfer_cycles(&arch, &x, dir));
        }
    }

    /// Transposing loads on 4 banks of 8 bytes, each DRAM word 4 elements of a row landing a
    /// tile row apart. Rows of 16 elements (32 bytes, one bank row): the skew puts the 4 words
    /// in 4 banks, one cycle a word as on an ideal region. Rows of 12 (24 bytes): row 0's first
    /// word lands on words 0, 3, 6 and 9, in banks 0, 3, 3 and 3 (3 + 0, 6 + 1 and 9 + 2 mod 4),
    /// so it takes 3 cycles.
    #[test]
    fn transposing_loads_take_the_degree_of_their_columns() {
        let text = include_str!("../../../configs/arch/sat-small.yaml")
            .replace("latency: 1}", "latency: 1, banking: physical}");
        let arch = Arch::parse("t.yaml", &text).unwrap();
        let x = Xfer {
            dram_addr: 0,
            rows: 16,
            row_bytes: 32,
            dram_stride: 32,
            sp: Buf {
                region: RegionId::Input,
                addr: 0,
                bytes: 512,
            },
            shape: XferShape::Transpose,
        };
        let sets = beat_words(&arch, &x, 1);
        assert_eq!(sets.beats.len(), 64);
        assert_eq!(sets.beats[0], [0, 4, 8, 12]);
        assert_eq!(physical_beats(&arch, &x, 1, false), 4 + 10 + 64);
        assert_eq!(
            transfer_cycles(&arch, &x, Direction::Load),
            dma_cycles(&arch, &x)
        );
        let x = Xfer {
            rows: 12,
            sp: Buf { bytes: 384, ..x.sp },
            ..x
        };
        let sets = beat_words(&arch, &x, 1);
        assert_eq!(sets.beats[0], [0, 3, 6, 9]);
        assert_eq!(
            bank_degree(arch.region(RegionId::Input), sets.beats[0].iter().copied()),
            3
        );
        assert!(physical_beats(&arch, &x, 1, false) > dma_cycles(&arch, &x));
        assert_eq!(
            physical_beats(&arch, &x, 1, false),
            transfer_cycles(&arch, &x, Direction::Load)
        );
    }

    /// The pieces `transfer_cycles` times are the bytes the data path moves: every load and
    /// store of compiled convolutional and perceptron iterations, each piece's scratchpad bytes
    /// checked against its DRAM bytes.
    #[test]
    fn pieces_are_what_the_data_path_moves() {
        use nmsat_compiler::dma_beats::{beat_degrees, dram_addr, pieces, timing_key};
        use nmsat_compiler::graph::TrainOptions;
        use nmsat_compiler::isa::Op;
        use nmsat_compiler::model::load_model;
        use nmsat_compiler::prune::Nm;
        use nmsat_compiler::schedule::compile;
        let arch = Arch::load("sat-small").unwrap();
        let text = include_str!("../../../configs/arch/sat-small.yaml")
            .replace("latency: 1}", "latency: 1, banking: physical}");
        let physical = Arch::parse("physical.yaml", &text).unwrap();
        let mut shapes = std::collections::BTreeSet::new();
        for model in ["digits-cnn", "tiny-mlp", "toy-vit"] {
            let model = load_model(model).unwrap();
            let prog = compile(&arch, &model, &TrainOptions::bdwp(2, Nm { n: 2, m: 8 }))
                .unwrap()
                .program;
            let mut mem = Memory::new(&arch, &prog);
            for (i, b) in mem.dram.iter_mut().enumerate() {
                *b = (i as u64)
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .rotate_left(17) as u8;
            }
            for ins in &prog.instrs {
                let (x, is_store, requant) = match ins.op {
                    Op::Load { xfer } => (xfer, false, false),
                    Op::Store { xfer, requant } => (xfer, true, requant),
                    _ => continue,
                };
                let kind = format!("{:?}", x.shape);
                let kind = kind.split('(').next().unwrap_or_default().to_string();
                shapes.insert((kind, is_store, requant));
                let scale = if requant { 2 } else { 1 };
                // Where a transfer lies changes none of its beats' degrees.
                let dir = if is_store {
                    Direction::Store { requant }
                } else {
                    Direction::Load
                };
                assert_eq!(
                    transfer_cycles(&physical, &timing_key(&physical, &x), dir),
                    transfer_cycles(&physical, &x, dir),
                    "{x:?}"
                );
                // The degrees the timing counts bank by bank are those of the beats' sets.
                let sets = beat_words(&physical, &x, scale);
                let region = physical.region(x.sp.region);
                let degrees: Vec<u64> = sets
                    .beats
                    .iter()
                    .map(|b| nmsat_compiler::timing::bank_degree(region, b.iter().copied()))
                    .collect();
                assert_eq!(
                    beat_degrees(&physical, &x, scale),
                    (degrees, sets.padded),
                    "{x:?}"
                );
                if is_store {
                    for (j, b) in mem.sp_mut(&x.sp).iter_mut().enumerate() {
                        *b = (j * 7 + 3) as u8;
                    }
                    store(&arch, &mut mem, &x, requant).unwrap();
                } else {
                    load(&arch, &mut mem, &x).unwrap();
                }
                let sp = mem.sp(&x.sp).to_vec();
                for p in pieces(&x, scale) {
                    let at = (p.sp) as usize;
                    let Some((r, c)) = p.dram else {
                        let XferShape::Im2col(t) = x.shape else {
                            panic!("padding in {:?}", x.shape)
                        };
                        assert_eq!(sp[at..at + 2], t.geom.pad_value.to_le_bytes());
                        continue;
                    };
                    let a = dram_addr(&x, r, c) as usize;
                    let dram = &mem.dram[a..a + p.len as usize];
                    if requant {
                        let acc = i32::from_le_bytes(sp[at..at + 4].try_into().unwrap());
                        assert_eq!(dram, requant_fn(acc, arch.frac_bits).to_le_bytes());
                    } else {
                        assert_eq!(dram, &sp[at..at + p.len as usize], "{:?}", x.shape);
                    }
                }
            }
        }
        // Plain and transposing loads, both gathers, plain stores and requantizing ones.
        assert!(shapes.len() >= 6, "{shapes:?}");
    }
}
