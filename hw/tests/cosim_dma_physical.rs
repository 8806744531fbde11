//! `DmaPhysical` on a two-copy `BankedRegion`, run by Verilator against the exact simulator's
//! DMA on a physically banked region (`nmsat_sim::exact::dma`): after every transfer every
//! byte of the region (read through the probe copy) and of the DRAM matches, and `done` comes
//! exactly `timing::transfer_cycles` (= the exact run's cycles) after `start`, transfers
//! following each other back to back. Random copies and transposes, loads and stores
//! (requantizing or not) at unaligned addresses on three region shapes (4 × 8, 8 × 4 and
//! 2 × 8 bytes), and every transfer of a compiled digits-CNN iteration — copies, transposes,
//! scatters, Im2col gathers with their padding, ConvBp gathers — on two of them.

mod common;

use common::{scratch, Rng};
use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::dma_beats::beat_words;
use nmsat_compiler::isa::{Buf, Op, Xfer, XferShape};
use nmsat_compiler::timing::{bank_degree, dma_cycles, transfer_cycles, Direction};
use nmsat_hw::{
    encode_transfer, to_verilog, verilator_lint, write_verilog, yosys_check, BankedRegion,
    DmaPhysical, Model, RegionShape, GATHER_FIELDS, TRANSFER_INPUTS,
};
use nmsat_sim::exact::{dma, Memory};
use nmsat_sim::piuma::Spad;
use rust_hdl::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

const TOP: &str = "dma_phys_top";

/// The engine, its region (copy 0 the engine's read port, copy 1 the probe) and the DRAM port.
#[derive(LogicBlock)]
struct Top {
    clock: Signal<In, Clock>,
    start: Signal<In, Bit>,
    store: Signal<In, Bit>,
    requant: Signal<In, Bit>,
    transpose: Signal<In, Bit>,
    dram_addr: Signal<In, Bits<32>>,
    rows: Signal<In, Bits<16>>,
    row_bytes: Signal<In, Bits<16>>,
    stride: Signal<In, Bits<32>>,
    sp_addr: Signal<In, Bits<16>>,
    grid_w: Signal<In, Bits<16>>,
    grid_h: Signal<In, Bits<16>>,
    grid_x0: Signal<In, Bits<16>>,
    grid_y0: Signal<In, Bits<16>>,
    row_jump: Signal<In, Bits<32>>,
    img_jump: Signal<In, Bits<32>>,
    gf: [Signal<In, Bits<32>>; GATHER_FIELDS],
    done: Signal<Out, Bit>,
    mem_valid: Signal<Out, Bit>,
    mem_write: Signal<Out, Bit>,
    mem_addr: Signal<Out, Bits<32>>,
    mem_wdata: Signal<Out, Bits<64>>,
    mem_wmask: Signal<Out, Bits<8>>,
    mem_last: Signal<Out, Bit>,
    mem_rvalid: Signal<In, Bit>,
    mem_rdata: Signal<In, Bits<64>>,
    p_row: Vec<Signal<In, Bits<16>>>,
    p_data: Vec<Signal<Out, Bits<64>>>,
    dma: DmaPhysical,
    region: BankedRegion,
}

/// The engine's transfer inputs, then its gather fields, as the top passes them through.
fn fields() -> Vec<String> {
    let gf = (0..GATHER_FIELDS).map(|j| format!("gf${j}"));
    TRANSFER_INPUTS
        .iter()
        .map(|f| f.to_string())
        .chain(gf)
        .collect()
}
const OUTS: [&str; 7] = [
    "done",
    "mem_valid",
    "mem_write",
    "mem_addr",
    "mem_wdata",
    "mem_wmask",
    "mem_last",
];

impl Top {
    fn new(arch: &Arch, r: RegionShape) -> Top {
        let b = r.banks();
        Top {
            clock: Default::default(),
            start: Default::default(),
            store: Default::default(),
            requant: Default::default(),
            transpose: Default::default(),
            dram_addr: Default::default(),
            rows: Default::default(),
            row_bytes: Default::default(),
            stride: Default::default(),
            sp_addr: Default::default(),
            grid_w: Default::default(),
            grid_h: Default::default(),
            grid_x0: Default::default(),
            grid_y0: Default::default(),
            row_jump: Default::default(),
            img_jump: Default::default(),
            gf: Default::default(),
            done: Default::default(),
            mem_valid: Default::default(),
            mem_write: Default::default(),
            mem_addr: Default::default(),
            mem_wdata: Default::default(),
            mem_wmask: Default::default(),
            mem_last: Default::default(),
            mem_rvalid: Default::default(),
            mem_rdata: Default::default(),
            p_row: (0..b).map(|_| Default::default()).collect(),
            p_data: (0..b).map(|_| Default::default()).collect(),
            dma: DmaPhysical::new(arch.dma.setup_cycles, arch.dram.latency, arch.frac_bits, r)
                .unwrap(),
            region: BankedRegion::from_shape(r).unwrap(),
        }
    }
}

impl Logic for Top {
    // Only the Verilog is simulated (Verilator).
    fn update(&mut self) {}

    fn connect(&mut self) {
        let d = &mut self.dma;
        for s in [&mut d.start, &mut d.store, &mut d.requant, &mut d.transpose] {
            s.connect();
        }
        d.clock.connect();
        d.mem_rvalid.connect();
        d.dram_addr.connect();
        d.rows.connect();
        d.row_bytes.connect();
        d.stride.connect();
        d.sp_addr.connect();
        d.grid_w.connect();
        d.grid_h.connect();
        d.grid_x0.connect();
        d.grid_y0.connect();
        d.row_jump.connect();
        d.img_jump.connect();
        d.gf.iter_mut().for_each(|s| s.connect());
        d.mem_rdata.connect();
        d.rdata.iter_mut().for_each(|s| s.connect());
        let r = &mut self.region;
        r.clock.connect();
        r.wen.iter_mut().for_each(|s| s.connect());
        r.wrow.iter_mut().for_each(|s| s.connect());
        r.wdata.iter_mut().for_each(|s| s.connect());
        r.rrow.iter_mut().for_each(|s| s.connect());
        for s in [&mut self.done, &mut self.mem_valid, &mut self.mem_write] {
            s.connect();
        }
        self.mem_last.connect();
        self.mem_addr.connect();
        self.mem_wdata.connect();
        self.mem_wmask.connect();
        self.p_data.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        let b = self.p_row.len();
        let mut v = String::from(
            "always @(*) begin\n    dma$clock = clock;\n    region$clock = clock;\n    \
             dma$mem_rvalid = mem_rvalid;\n    dma$mem_rdata = mem_rdata;\n",
        );
        for f in fields() {
            let _ = writeln!(v, "    dma${f} = {f};");
        }
        for f in OUTS {
            let _ = writeln!(v, "    {f} = dma${f};");
        }
        for k in 0..b {
            let _ = writeln!(
                v,
                "    region$wen${k} = dma$wen${k};\n    region$wrow${k} = dma$wrow${k};\n    \
                 region$wdata${k} = dma$wdata${k};\n    region$rrow${k} = dma$rrow${k};\n    \
                 dma$rdata${k} = region$rdata${k};\n    region$rrow${p} = p_row${k};\n    \
                 p_data${k} = region$rdata${p};",
                p = b + k
            );
        }
        v.push_str("end\n");
        Verilog::Custom(v)
    }
}

/// sat-small with its regions physically banked, resized to `banks` × `width` bytes.
fn physical(banks: u64, width: u64) -> Arch {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/arch/sat-small.yaml"
    ))
    .unwrap()
    .replace(
        "banks: 4, bank_width_bytes: 8, ports: 2, latency: 1}",
        &format!(
            "banks: {banks}, bank_width_bytes: {width}, ports: 2, latency: 1, banking: physical}}"
        ),
    );
    Arch::parse("physical.yaml", &text).unwrap()
}

fn shape(arch: &Arch) -> RegionShape {
    let r = arch.region(RegionId::Input);
    RegionShape::new(r.bytes, r.banks as usize, r.bank_width_bytes as usize, 2).unwrap()
}

fn build(arch: &Arch) -> Arc<nmsat_hw::Design> {
    let mut top = Top::new(arch, shape(arch));
    top.connect_all();
    common::verilate(&top, TOP)
}

/// One transfer: load, or store (requantizing or not).
#[derive(Clone, Copy, Debug)]
struct Job {
    x: Xfer,
    store: bool,
    requant: bool,
}

/// The Verilated top and the exact simulator's memories, side by side.
struct Bench {
    arch: Arch,
    m: Model,
    idx: HashMap<String, usize>,
    /// The RTL's DRAM (the harness serves the port) and the model's memories.
    dram: Vec<u8>,
    model: Memory,
    cycle: u64,
    /// Requests in flight: due cycle, word address, is a write.
    pending: VecDeque<(u64, u64)>,
    fields: Vec<String>,
}

impl Bench {
    fn new(design: &Arc<nmsat_hw::Design>, arch: &Arch, dram_bytes: usize, seed: u64) -> Bench {
        let m = design.instantiate();
        let mut idx = HashMap::new();
        for p in design.inputs().iter().chain(design.outputs()) {
            let i = m.input(&p.name).or_else(|_| m.output(&p.name)).unwrap();
            idx.insert(p.name.clone(), i);
        }
        let mut rng = Rng(seed);
        let dram: Vec<u8> = (0..dram_bytes).map(|_| rng.next_u64() as u8).collect();
        let model = Memory {
            dram: dram.clone(),
            sp: RegionId::ALL.map(|r| Spad::new(arch.region(r).scratchpad())),
        };
        Bench {
            arch: arch.clone(),
            m,
            idx,
            dram,
            model,
            cycle: 0,
            pending: VecDeque::new(),
            fields: fields(),
        }
    }

    fn set(&mut self, name: &str, value: u64) {
        let i = self.idx[name];
        self.m.set(i, value as i64);
    }

    fn get(&self, name: &str) -> u64 {
        self.m.get(self.idx[name]) as u64
    }

    /// One cycle: the DRAM's answer due now, the outputs (and, when `done` is high and a
    /// transfer is waiting, its start in this cycle), the requests they make, the edge. Returns
    /// `done`.
    fn cycle(&mut self, next: Option<&[u64; 15 + GATHER_FIELDS]>) -> Result<bool, String> {
        let lat = self.arch.dram.latency;
        let due = self
            .pending
            .front()
            .is_some_and(|&(at, _)| at == self.cycle);
        let mut rdata = 0;
        if due {
            let (_, a) = self.pending.pop_front().unwrap();
            let a = a as usize;
            rdata = u64::from_le_bytes(self.dram[a..a + 8].try_into().unwrap());
        }
        self.set("mem_rvalid", u64::from(due));
        self.set("mem_rdata", rdata);
        self.m.eval();
        let done = self.get("done") == 1;
        if let (true, Some(fields)) = (done, next) {
            for (f, &v) in self.fields.clone().iter().zip(fields) {
                self.set(f, v);
            }
            self.m.eval();
        }
        if self.get("mem_valid") == 1 {
            let a = self.get("mem_addr");
            if !a.is_multiple_of(8) || a as usize + 8 > self.dram.len() {
                return Err(format!("cycle {}: request at DRAM byte {a}", self.cycle));
            }
            if self.get("mem_write") == 1 {
                let (mask, data) = (self.get("mem_wmask"), self.get("mem_wdata"));
                for j in 0..8 {
                    if mask >> j & 1 == 1 {
                        self.dram[a as usize + j] = (data >> (8 * j)) as u8;
                    }
                }
            }
            self.pending.push_back((self.cycle + lat, a));
        }
        self.m.step(1);
        self.set("start", 0);
        self.cycle += 1;
        Ok(done)
    }

    /// The engine's inputs for `job` (with `start`), after the model has run it; and the
    /// cycles it takes, checked equal in the exact DMA and `timing::transfer_cycles`.
    fn model_run(
        &mut self,
        job: &Job,
        index: usize,
    ) -> Result<([u64; 15 + GATHER_FIELDS], u64), String> {
        let x = &job.x;
        let t = encode_transfer(&self.arch, index, x, job.requant).map_err(|e| e.to_string())?;
        let cost = if job.store {
            dma::store(&self.arch, &mut self.model, x, job.requant)?
        } else {
            dma::load(&self.arch, &mut self.model, x)?
        };
        let dir = if job.store {
            Direction::Store {
                requant: job.requant,
            }
        } else {
            Direction::Load
        };
        let want = transfer_cycles(&self.arch, x, dir);
        if cost.cycles != want {
            return Err(format!(
                "the exact DMA takes {} cycles, timing::transfer_cycles {want}",
                cost.cycles
            ));
        }
        let mut fields = [0; 15 + GATHER_FIELDS];
        fields[..15].copy_from_slice(&[
            1,
            u64::from(job.store),
            u64::from(t.requant),
            u64::from(t.transpose),
            u64::from(t.dram_addr),
            u64::from(t.rows),
            u64::from(t.row_bytes),
            u64::from(t.stride),
            u64::from(t.sp_addr),
            u64::from(t.grid.w),
            u64::from(t.grid.h),
            u64::from(t.grid.x0),
            u64::from(t.grid.y0),
            u64::from(t.grid.row_jump),
            u64::from(t.grid.img_jump),
        ]);
        for (f, &g) in fields[15..].iter_mut().zip(&t.gather) {
            *f = u64::from(g);
        }
        Ok((fields, want))
    }

    /// Runs `jobs` back to back, each started in the cycle of its predecessor's `done`, and
    /// checks that each `done` comes the model's cycles after its `start`.
    fn run_chain(&mut self, jobs: &[Job]) -> Result<(), String> {
        let mut plan = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            plan.push(self.model_run(job, i)?);
        }
        let Some(first) = plan.first() else {
            return Ok(());
        };
        for (f, &v) in self.fields.clone().iter().zip(&first.0) {
            self.set(f, v);
        }
        let mut start = self.cycle;
        for (j, job) in jobs.iter().enumerate() {
            loop {
                let now = self.cycle;
                if now - start > 100_000 {
                    return Err(format!("{job:?}: no done in 100 000 cycles"));
                }
                if self.cycle(plan.get(j + 1).map(|p| &p.0))? {
                    let (got, want) = (now - start, plan[j].1);
                    if got != want {
                        return Err(format!(
                            "{job:?}: done {got} cycles after start, the model takes {want}"
                        ));
                    }
                    start = now;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Every byte of the region (read through the probe copy) and of the DRAM against the
    /// model's.
    fn compare(&mut self, region: RegionId, what: &str) -> Result<(), String> {
        let s = shape(&self.arch);
        let (b, w) = (s.banks(), s.width());
        let buf = Buf {
            region,
            addr: 0,
            bytes: s.bytes(),
        };
        let want = self.model.sp(&buf).to_vec();
        for row in 0..s.depth() {
            for k in 0..b {
                self.set(&format!("p_row${k}"), row as u64);
            }
            self.cycle(None)?;
            self.m.eval();
            for k in 0..b {
                let word = self.get(&format!("p_data${k}"));
                for j in 0..w {
                    let a = s.address(k, row, j) as usize;
                    let got = (word >> (8 * j)) as u8;
                    if got != want[a] {
                        return Err(format!(
                            "{what}: region byte {a} (bank {k} row {row}) is {got:#x}, \
                             expected {:#x}",
                            want[a]
                        ));
                    }
                }
            }
        }
        if let Some(a) = (0..self.dram.len()).find(|&a| self.dram[a] != self.model.dram[a]) {
            return Err(format!(
                "{what}: DRAM byte {a} is {:#x}, expected {:#x}",
                self.dram[a], self.model.dram[a]
            ));
        }
        Ok(())
    }
}

/// A random transfer on the input region: a copy or transpose, load or store (requantizing
/// or not), at unaligned DRAM and scratchpad addresses, or an Im2col gather; transposes of
/// many rows put a DRAM word's elements in few banks (sets of high degree).
fn random_job(rng: &mut Rng, arch: &Arch, dram_len: u64) -> Job {
    let kind = rng.next_u64() % 8;
    if kind >= 6 {
        return random_im2col(rng, arch, dram_len);
    }
    let (store, requant, transpose) = match kind {
        0 => (false, false, false),
        1 => (false, false, true),
        2 => (true, false, false),
        3 => (true, false, true),
        4 => (true, true, false),
        _ => (true, true, true),
    };
    let rows = 1 + rng.next_u64() % if transpose { 40 } else { 12 };
    let row_bytes = if !transpose && !requant {
        1 + rng.next_u64() % 40
    } else {
        2 * (1 + rng.next_u64() % 16)
    };
    // A DRAM word holds whole elements of a transposed or requantized row (the walkers' and
    // the ideal engine's rule too): even addresses and strides.
    let even = if transpose || requant { 2 } else { 1 };
    let stride = (row_bytes + rng.next_u64() % 24) / even * even;
    let scale = if requant { 2 } else { 1 };
    let sp_bytes = rows * row_bytes * scale;
    let region = arch.region(RegionId::Input).bytes;
    // Requantizing stores read whole INT32 accumulators: a 4-byte aligned block.
    let align = if requant { 4 } else { 1 };
    let sp_addr = rng.next_u64() % (region - sp_bytes) / align * align;
    let dram_addr = rng.next_u64() % (dram_len - rows * stride - 8) / even * even;
    Job {
        x: Xfer {
            dram_addr,
            rows,
            row_bytes,
            dram_stride: stride,
            sp: Buf {
                region: RegionId::Input,
                addr: sp_addr,
                bytes: sp_bytes,
            },
            shape: if transpose {
                XferShape::Transpose
            } else {
                XferShape::Copy
            },
        },
        store,
        requant,
    }
}

/// A random Im2col tile the encoder accepts: up to 2 images of 3..=8 pixels a side, 1..=6
/// channels of a wider pixel, kernels whose stride phases the gather map covers, padded or
/// not, a random range of reduction indices and pixels, either layout, at an even scratchpad
/// byte (the encoder's rule).
fn random_im2col(rng: &mut Rng, arch: &Arch, dram_len: u64) -> Job {
    use nmsat_compiler::isa::{Im2col, Im2colTile};
    loop {
        let pick = |rng: &mut Rng, n: u64| rng.next_u64() % n;
        let (kh, kw, stride, pad) = [
            (3, 3, 1, 1),
            (3, 3, 2, 1),
            (5, 5, 2, 2),
            (1, 1, 1, 0),
            (2, 2, 2, 0),
            (3, 3, 1, 0),
        ][pick(rng, 6) as usize];
        let channels = 1 + pick(rng, 6);
        let (in_h, in_w) = (3 + pick(rng, 6), 3 + pick(rng, 6));
        let out = |n: u64| (n as i64 + 2 * pad - kh as i64) / stride as i64 + 1;
        let (out_h, out_w) = (out(in_h), out(in_w));
        if out_h < 1 || out_w < 1 {
            continue;
        }
        let geom = Im2col {
            pixel_elems: channels + pick(rng, 3),
            channels,
            images: 1 + pick(rng, 2),
            in_h,
            in_w,
            out_h: out_h as u64,
            out_w: out_w as u64,
            kh,
            kw,
            stride,
            pad_h: pad,
            pad_w: pad,
            block: if pick(rng, 2) == 0 { 1 } else { channels },
            pad_value: rng.i16(),
        };
        let (k, px) = (geom.k(), geom.pixels());
        let k0 = pick(rng, k);
        let nk = 1 + pick(rng, (k - k0).min(40));
        let px0 = pick(rng, px);
        let npx = 1 + pick(rng, (px - px0).min(24));
        let t = Im2colTile {
            geom,
            base: 2 * pick(rng, dram_len / 4),
            ch0: 0,
            k0,
            nk,
            px0,
            npx,
            pixel_major: pick(rng, 2) == 0,
        };
        let rows = t.gather_rows();
        let bytes = nk * npx * 2;
        let region = arch.region(RegionId::Input).bytes;
        let x = Xfer {
            dram_addr: rows.addr,
            rows: rows.rows,
            row_bytes: rows.row_bytes,
            dram_stride: rows.stride,
            sp: Buf {
                region: RegionId::Input,
                addr: 2 * pick(rng, (region - bytes) / 2),
                bytes,
            },
            shape: XferShape::Im2col(t),
        };
        if x.dram_span().1 + 8 <= dram_len && encode_transfer(arch, 0, &x, false).is_ok() {
            return Job {
                x,
                store: false,
                requant: false,
            };
        }
    }
}

/// Copy loads that set every byte of the input region (the model starts it at zero, the
/// RTL's RAMs too), so that stores read data.
fn fill_region(arch: &Arch) -> Vec<Job> {
    let bytes = arch.region(RegionId::Input).bytes;
    (0..bytes / 4096)
        .map(|i| Job {
            x: Xfer {
                dram_addr: 3 + i * 4096,
                rows: 32,
                row_bytes: 128,
                dram_stride: 128,
                sp: Buf {
                    region: RegionId::Input,
                    addr: i * 4096,
                    bytes: 4096,
                },
                shape: XferShape::Copy,
            },
            store: false,
            requant: false,
        })
        .collect()
}

/// Random chains of transfers (1 to 3 back to back) on `arch`'s input region, compared after
/// each chain.
fn random_run(arch: &Arch, seed: u64, chains: usize) {
    let design = build(arch);
    let dram_len = 1 << 16;
    let mut b = Bench::new(&design, arch, dram_len, seed);
    b.run_chain(&fill_region(arch)).unwrap();
    b.compare(RegionId::Input, "fill").unwrap();
    let mut rng = Rng(seed ^ 0x5eed);
    let (mut top_degree, mut held, mut padded) = (0, 0, 0);
    for c in 0..chains {
        let n = 1 + (rng.next_u64() % 3) as usize;
        let jobs: Vec<Job> = (0..n)
            .map(|_| random_job(&mut rng, arch, dram_len as u64))
            .collect();
        for j in &jobs {
            let (d, slower) = degree_and_stall(arch, j);
            top_degree = top_degree.max(d);
            held += usize::from(slower);
            padded += usize::from(beat_words(arch, &j.x, 1).padded && !j.store);
        }
        let what = format!("chain {c}: {jobs:?}");
        b.run_chain(&jobs)
            .unwrap_or_else(|e| panic!("{}: {e}", arch.name));
        b.compare(RegionId::Input, &what)
            .unwrap_or_else(|e| panic!("{}: {e}", arch.name));
    }
    // The sets reach high degrees, the queue holds requests back in some transfers, and
    // gathers fill their padding.
    assert!(
        top_degree >= 3 && held >= 10 && padded >= 5,
        "degree {top_degree}, {held} slower, {padded} padded gathers"
    );
    eprintln!(
        "{}: {chains} chains, top degree {top_degree}, {held} transfers slower than on ideal \
         banks, {padded} padded gathers",
        arch.name
    );
}

/// The largest bank degree of `job`'s beats, and whether it takes longer than on an ideal
/// region.
fn degree_and_stall(arch: &Arch, job: &Job) -> (u64, bool) {
    let scale = if job.requant { 2 } else { 1 };
    let region = arch.region(job.x.sp.region);
    let sets = beat_words(arch, &job.x, scale);
    let d = sets
        .beats
        .iter()
        .map(|b| bank_degree(region, b.iter().copied()))
        .max()
        .unwrap_or(0);
    let dir = if job.store {
        Direction::Store {
            requant: job.requant,
        }
    } else {
        Direction::Load
    };
    (
        d,
        transfer_cycles(arch, &job.x, dir) > dma_cycles(arch, &job.x),
    )
}

#[test]
fn random_transfers_on_4_banks_of_8_bytes_match_the_exact_dma() {
    random_run(&physical(4, 8), 1, 100);
}

#[test]
fn random_transfers_on_8_banks_of_4_bytes_match_the_exact_dma() {
    random_run(&physical(8, 4), 2, 100);
}

#[test]
fn random_transfers_on_2_banks_of_8_bytes_match_the_exact_dma() {
    random_run(&physical(2, 8), 3, 100);
}

#[test]
fn verilog_passes_verilator_lint_and_yosys_check() {
    for (banks, width) in [(4, 8), (8, 4), (2, 8), (16, 2)] {
        let arch = physical(banks, width);
        let name = format!("dma-phys-{banks}x{width}");
        let dir = scratch(&name);
        let mut dma = DmaPhysical::new(
            arch.dma.setup_cycles,
            arch.dram.latency,
            arch.frac_bits,
            shape(&arch),
        )
        .unwrap();
        dma.connect_all();
        let mut top = Top::new(&arch, shape(&arch));
        top.connect_all();
        for (top_name, verilog) in [
            ("dma_physical", to_verilog(&dma, "dma_physical").unwrap()),
            (TOP, to_verilog(&top, TOP).unwrap()),
        ] {
            let file = dir.join(format!("{top_name}.v"));
            write_verilog(&verilog, &file).unwrap();
            let files = [file];
            verilator_lint(&files, top_name).unwrap_or_else(|e| panic!("{name} {top_name}: {e}"));
            yosys_check(&files, top_name).unwrap_or_else(|e| panic!("{name} {top_name}: {e}"));
        }
    }
}

/// Every transfer of a compiled digits-CNN training iteration (batch 4, on `arch`), replayed
/// region by region in program order: copies, transposes, scatters, and the gathers (Im2col
/// with its padding, ConvBp).
fn replay_digits_cnn(arch: &Arch) {
    let arch = arch.clone();
    let model = nmsat_compiler::model::load_model(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/models/digits-cnn.yaml"
    ))
    .unwrap();
    let opts = nmsat_compiler::graph::TrainOptions::dense(4);
    let prog = nmsat_compiler::schedule::compile(&arch, &model, &opts)
        .unwrap()
        .program;
    let dram_len = Memory::new(&arch, &prog).dram.len();
    let design = build(&arch);
    let mut kinds = HashMap::new();
    for region in RegionId::ALL {
        let jobs: Vec<Job> = prog
            .instrs
            .iter()
            .filter_map(|ins| match &ins.op {
                Op::Load { xfer } => Some(Job {
                    x: *xfer,
                    store: false,
                    requant: false,
                }),
                Op::Store { xfer, requant } => Some(Job {
                    x: *xfer,
                    store: true,
                    requant: *requant,
                }),
                _ => None,
            })
            .filter(|j| j.x.sp.region == region)
            .collect();
        let mut b = Bench::new(&design, &arch, dram_len, region as u64);
        for (c, chain) in jobs.chunks(4).enumerate() {
            for j in chain {
                let kind = match j.x.shape {
                    XferShape::Scatter(_) => "scatter",
                    XferShape::Im2col(_) => "im2col",
                    XferShape::ConvBp(_) => "conv_bp",
                    XferShape::Transpose => "transpose",
                    _ => "copy",
                };
                *kinds.entry((kind, j.store, j.requant)).or_insert(0) += 1;
            }
            b.run_chain(chain)
                .unwrap_or_else(|e| panic!("{region:?} chain {c}: {e}"));
            b.compare(region, &format!("{region:?} chain {c}: {chain:?}"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    eprintln!(
        "{}: digits-cnn transfers replayed (kind, store, requant): {kinds:?}",
        arch.name
    );
    for kind in ["copy", "transpose", "scatter", "im2col", "conv_bp"] {
        assert!(
            kinds.keys().any(|k| k.0 == kind),
            "no {kind} in the iteration: {kinds:?}"
        );
    }
}

#[test]
fn a_digits_cnn_iterations_transfers_on_4_banks_of_8_bytes_match_the_exact_dma() {
    replay_digits_cnn(&physical(4, 8));
}

#[test]
fn a_digits_cnn_iterations_transfers_on_8_banks_of_4_bytes_match_the_exact_dma() {
    replay_digits_cnn(&physical(8, 4));
}

#[test]
fn parameters_the_rtl_cannot_build_are_unsupported_with_the_field_at_fault() {
    let r = RegionShape::new(16384, 4, 8, 2).unwrap();
    let field = |e: Result<DmaPhysical, nmsat_hw::HwError>| match e {
        Err(nmsat_hw::HwError::Unsupported { field, .. }) => field,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("built"),
    };
    assert_eq!(field(DmaPhysical::new(2, 10, 8, r)), "dma.setup_cycles");
    assert_eq!(field(DmaPhysical::new(4, 0, 8, r)), "dram.latency");
    let bytes = RegionShape::new(16384, 16, 1, 2).unwrap();
    assert_eq!(field(DmaPhysical::new(4, 10, 8, bytes)), "width");
    assert!(DmaPhysical::new(3, 1, 8, r).is_ok());
}

/// The engine fills an Im2col tile's padding exactly when the model charges the fill: when
/// some element of the tile (not merely of its pixels' windows) lies outside the image.
#[test]
fn the_fill_flag_is_set_exactly_for_tiles_with_padding() {
    let arch = physical(4, 8);
    let mut rng = Rng(9);
    let (mut padded, mut plain) = (0, 0);
    for _ in 0..2000 {
        let j = random_im2col(&mut rng, &arch, 1 << 16);
        let t = encode_transfer(&arch, 0, &j.x, false).unwrap();
        let want = beat_words(&arch, &j.x, 1).padded;
        assert_eq!(t.gather[nmsat_hw::GATHER_FILL] != 0, want, "{:?}", j.x);
        *if want { &mut padded } else { &mut plain } += 1;
    }
    assert!(padded > 100 && plain > 100, "{padded} padded, {plain} not");
}
