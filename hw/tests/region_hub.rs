//! `RegionHub`: units that take turns at the write port and share the read copies as the issue
//! rule allows each read the region as if alone — on Verilator and on rust-hdl's simulation,
//! with random rows on every bundle, also on the bundles of units that hold nothing (which the
//! hub must ignore) — and its Verilog passes the external checks.

mod common;

use common::{scratch, Rng};
use nmsat_hw::{
    settle, to_verilog, verilator_lint, write_verilog, yosys_check, Model, RegionHub, RegionShape,
};
use rust_hdl::prelude::*;

const TOP: &str = "region_hub";

fn hub(units: usize, shape: RegionShape) -> RegionHub {
    let mut uut = RegionHub::new(units, shape).unwrap();
    uut.connect_all();
    uut
}

/// The inputs a cycle drives and the `rdata` it sees, on either simulation.
trait Hub {
    fn set(&mut self, port: &str, i: Option<usize>, value: u64);
    /// One clock cycle: the inputs apply, then the rising edge.
    fn step(&mut self);
    fn rdata(&self, i: usize) -> u64;
}

struct Verilated {
    m: Model,
}

impl Hub for Verilated {
    fn set(&mut self, port: &str, i: Option<usize>, value: u64) {
        let name = i.map_or(port.to_string(), |i| format!("{port}${i}"));
        let idx = self.m.input(&name).unwrap();
        self.m.set(idx, value as i64);
    }
    fn step(&mut self) {
        self.m.step(1);
    }
    fn rdata(&self, i: usize) -> u64 {
        self.m.get(self.m.output(&format!("rdata${i}")).unwrap()) as u64
    }
}

impl Hub for RegionHub {
    fn set(&mut self, port: &str, i: Option<usize>, value: u64) {
        match (port, i) {
            ("reading", None) => self.reading.next = bits(value),
            ("writing", None) => self.writing.next = bits(value),
            ("wen", Some(i)) => self.wen[i].next = bits(value),
            ("wrow", Some(i)) => self.wrow[i].next = bits(value),
            ("wdata", Some(i)) => self.wdata[i].next = bits(value),
            ("rrow", Some(i)) => self.rrow[i].next = bits(value),
            _ => panic!("no input {port} {i:?}"),
        }
    }
    fn step(&mut self) {
        self.clock.next = false.into();
        settle(self);
        self.clock.next = true.into();
        settle(self);
    }
    fn rdata(&self, i: usize) -> u64 {
        self.rdata[i].val().to_u64()
    }
}

/// One unit's operation: how many more cycles it holds what it holds.
#[derive(Clone, Copy, Default)]
struct Op {
    left: u32,
    reads: bool,
    writes: bool,
}

/// `cycles` cycles of random operations under the issue rule (at most `copies` readers, one
/// writer), every bundle driven with random rows; each unit that reads in a cycle must see,
/// after its edge, the words its rows held before that cycle's write. Returns the cycles in which
/// some unit read (the test's coverage).
fn run(h: &mut dyn Hub, units: usize, s: RegionShape, cycles: u32, seed: u64) -> u32 {
    let (banks, depth, width) = (s.banks(), s.depth() as u64, s.width());
    let mask = u64::MAX >> (64 - 8 * width);
    let mut rng = Rng(seed);
    let mut mem = vec![vec![0u64; depth as usize]; banks];
    let mut ops = vec![Op::default(); units];
    let mut busy_cycles = 0;
    for cycle in 0..cycles {
        for u in 0..units {
            if ops[u].left == 0 {
                ops[u] = Op::default();
                let readers = ops.iter().filter(|o| o.reads).count() as u64;
                let writer = ops.iter().any(|o| o.writes);
                if rng.next_u64().is_multiple_of(3) {
                    ops[u] = Op {
                        left: 1 + (rng.next_u64() % 6) as u32,
                        reads: readers < s.copies() as u64 && !rng.next_u64().is_multiple_of(4),
                        writes: !writer && rng.next_u64().is_multiple_of(2),
                    };
                }
            }
        }
        let bit = |f: &dyn Fn(&Op) -> bool| {
            (0..units).fold(0u64, |m, u| m | (u64::from(f(&ops[u])) << u))
        };
        h.set("reading", None, bit(&|o| o.reads && o.left > 0));
        h.set("writing", None, bit(&|o| o.writes && o.left > 0));
        let mut reads = vec![None; units * banks];
        let mut writes = Vec::new();
        for (u, op) in ops.iter().enumerate() {
            for (b, bank) in mem.iter().enumerate() {
                let i = u * banks + b;
                let row = rng.next_u64() % depth;
                h.set("rrow", Some(i), row);
                let (en, wrow, data) = (
                    rng.next_u64() & 0xff,
                    rng.next_u64() % depth,
                    rng.next_u64(),
                );
                h.set("wen", Some(i), en);
                h.set("wrow", Some(i), wrow);
                h.set("wdata", Some(i), data);
                if op.left > 0 && op.reads {
                    reads[i] = Some(bank[row as usize]);
                }
                if op.left > 0 && op.writes {
                    writes.push((b, wrow as usize, en, data));
                }
            }
        }
        h.step();
        // After the edge: the words the rows of this cycle held before its write (read-first).
        for (i, w) in reads.iter().enumerate() {
            if let Some(w) = w {
                let got = h.rdata(i) & mask;
                assert_eq!(
                    got,
                    w & mask,
                    "cycle {cycle}: unit {} bank {} read {got:#x}, expected {:#x}",
                    i / banks,
                    i % banks,
                    w & mask
                );
            }
        }
        if reads.iter().any(Option::is_some) {
            busy_cycles += 1;
        }
        for (b, row, en, data) in writes {
            for j in (0..width).filter(|j| en >> j & 1 == 1) {
                let m = 0xff << (8 * j);
                mem[b][row] = (mem[b][row] & !m) | (data & m);
            }
        }
        for o in ops.iter_mut() {
            o.left = o.left.saturating_sub(1);
        }
    }
    busy_cycles
}

#[test]
fn units_read_and_write_the_region_as_if_alone() {
    for (units, banks, width, copies, seed) in [(5, 4, 8, 2, 1), (3, 2, 4, 3, 2), (5, 8, 2, 1, 3)] {
        let s = RegionShape::new((banks * width * 16) as u64, banks, width, copies).unwrap();
        let uut = hub(units, s);
        let design = common::verilate(&uut, TOP);
        let mut v = Verilated {
            m: design.instantiate(),
        };
        let busy = run(&mut v, units, s, 3000, seed);
        assert!(busy > 1000, "the run read in only {busy} cycles");
        let mut sim = hub(units, s);
        run(&mut sim, units, s, 600, seed);
    }
}

#[test]
fn a_hub_passes_the_external_checks() {
    let s = RegionShape::new(1024, 4, 8, 2).unwrap();
    let uut = hub(5, s);
    let file = scratch("region_hub").join(format!("{TOP}.v"));
    write_verilog(&to_verilog(&uut, TOP).unwrap(), &file).unwrap();
    let files = [file];
    verilator_lint(&files, TOP).unwrap_or_else(|e| panic!("{e}"));
    yosys_check(&files, TOP).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_hub_of_no_units_or_too_many_is_refused() {
    let s = RegionShape::new(1024, 4, 8, 2).unwrap();
    for units in [0, 9] {
        let e = RegionHub::new(units, s).err().expect("refused");
        assert!(e.to_string().contains("units"), "{e}");
    }
}
