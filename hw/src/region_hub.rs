//! `RegionHub`: one physically banked scratchpad region ([`BankedRegion`]) shared by the core's
//! units under the issue rule of `nmsat_sim::machine` (docs/physical-banking.md): the write
//! port serves the unit that holds it, and every unit that reads the region reads a copy of its
//! own for its whole operation, so each sees the banks as if it were alone.
//!
//! ```text
//!  unit u ─ write bundle (wen, wrow, wdata per bank) ─ writing[u] ─► OR ─► the write port
//!         ─ read bundle (rrow per bank) ─────────────► copy c that u holds this cycle
//!         ◄ rdata per bank ─────────────────────────── copy c that u held last cycle
//! ```
//!
//! Units are numbered as the controller's queues; a bundle is what a
//! [`BankWriteSequencer`](crate::BankWriteSequencer) or a
//! [`BankReadSequencer`](crate::BankReadSequencer) drives. In each cycle:
//!
//! - `writing[u]`: u holds the write port (its issue cycle included). The issue model lets one
//!   operation hold it at a time, so the port takes the bundles of the units that say so, OR-ed.
//! - `reading[u]`: u holds a read copy. A unit keeps its copy while `reading[u]` stays high, and
//!   a copy is free once its holder stops reading. A unit that reads without a copy takes the
//!   lowest-numbered free copy, units in queue order, so units that issue in the same cycle
//!   take different copies. The issue model never lets more units read a region than it has
//!   copies; if that happened, `fault` would rise and the unit's reads would go nowhere.
//! - The region answers a cycle after the row (its reads are registered), so unit u's `rdata`
//!   comes from the copy u held in the previous cycle: a unit that reads in its last cycle gets
//!   its words even when the copy passes to another unit in the next.
//!
//! The bookkeeping is one register per copy: the units that held it last cycle (at most one).
//! [`CopyOwners`] is its model in plain Rust; rust-hdl's simulation runs it, Verilator the
//! Verilog written beside it.

use crate::array::signals;
use crate::banked_region::{BankedRegion, RegionShape};
use crate::error::HwError;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Units a hub serves at most (the bits of `reading` and `writing`).
pub const MAX_UNITS: usize = 8;

/// Which unit holds each read copy: the ownership of [`RegionHub`], cycle by cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOwners {
    units: usize,
    /// The unit that held each copy in the previous cycle.
    held: Vec<Option<usize>>,
}

impl CopyOwners {
    /// No copy held, `copies` of them shared by `units` units.
    pub fn new(units: usize, copies: usize) -> Self {
        Self {
            units,
            held: vec![None; copies],
        }
    }

    /// The holder of each copy this cycle, given which units read (bit u of `reading`), and
    /// whether a reading unit found no free copy.
    pub fn current(&self, reading: u8) -> (Vec<Option<usize>>, bool) {
        let reads = |u: usize| reading >> u & 1 == 1;
        let mut now: Vec<Option<usize>> =
            self.held.iter().map(|h| h.filter(|&u| reads(u))).collect();
        let mut fault = false;
        for u in (0..self.units).filter(|&u| reads(u)) {
            if now.contains(&Some(u)) {
                continue;
            }
            match now.iter().position(Option::is_none) {
                Some(c) => now[c] = Some(u),
                None => fault = true,
            }
        }
        (now, fault)
    }

    /// The copy whose answer unit `u` receives this cycle: the one it held in the previous.
    pub fn answering(&self, u: usize) -> Option<usize> {
        self.held.iter().position(|&h| h == Some(u))
    }

    /// The clock edge.
    pub fn edge(&mut self, reading: u8) {
        self.held = self.current(reading).0;
    }
}

/// A region shared by `units` units; see the module docs.
#[derive(LogicBlock)]
pub struct RegionHub {
    /// The clock.
    pub clock: Signal<In, Clock>,
    /// Bit u: unit u holds a read copy this cycle.
    pub reading: Signal<In, Bits<MAX_UNITS>>,
    /// Bit u: unit u holds the write port this cycle.
    pub writing: Signal<In, Bits<MAX_UNITS>>,
    /// Unit u's write bundle, bank b at `u·banks + b`: byte enables.
    pub wen: Vec<Signal<In, Bits<8>>>,
    /// See `wen`: rows.
    pub wrow: Vec<Signal<In, Bits<16>>>,
    /// See `wen`: data.
    pub wdata: Vec<Signal<In, Bits<64>>>,
    /// Unit u's read rows, bank b at `u·banks + b`.
    pub rrow: Vec<Signal<In, Bits<16>>>,
    /// What unit u's reads of the previous cycle returned, bank b at `u·banks + b`.
    pub rdata: Vec<Signal<Out, Bits<64>>>,
    /// A reading unit found no free copy this cycle.
    pub fault: Signal<Out, Bit>,
    /// The storage.
    pub region: BankedRegion,
    _owners: CopyOwners,
    _units: usize,
}

impl RegionHub {
    /// A hub of `units` units over a region of `shape` (its copies are the read copies).
    pub fn new(units: usize, shape: RegionShape) -> Result<Self, HwError> {
        if !(1..=MAX_UNITS).contains(&units) {
            return Err(HwError::Unsupported {
                field: "units",
                value: units.to_string(),
                reason: "a hub serves at least one and at most 8 units".into(),
                allowed: format!("1 ..= {MAX_UNITS}"),
            });
        }
        let n = units * shape.banks();
        Ok(Self {
            clock: Default::default(),
            reading: Default::default(),
            writing: Default::default(),
            wen: signals(n),
            wrow: signals(n),
            wdata: signals(n),
            rrow: signals(n),
            rdata: signals(n),
            fault: Default::default(),
            region: BankedRegion::from_shape(shape)?,
            _owners: CopyOwners::new(units, shape.copies()),
            _units: units,
        })
    }

    /// The region's shape.
    pub fn shape(&self) -> RegionShape {
        self.region.shape()
    }

    fn verilog(&self) -> String {
        let s = self.region.shape();
        let (units, banks, copies) = (self._units, s.banks(), s.copies());
        let top = units - 1;
        let mut v = String::new();
        for c in 0..copies {
            let _ = writeln!(
                v,
                "reg [{top}:0] held{c};\nwire [{top}:0] keep{c} = held{c} & reading[{top}:0];"
            );
        }
        let has: Vec<String> = (0..copies).map(|c| format!("keep{c}")).collect();
        let _ = writeln!(
            v,
            "wire [{top}:0] want = reading[{top}:0] & ~({});",
            has.join(" | ")
        );
        // Units in queue order take the lowest free copy: `free{c}_{u}` is copy c still free
        // when unit u looks, `take{c}_{u}` unit u taking it.
        for c in 0..copies {
            let _ = writeln!(v, "wire free{c}_0 = ~|keep{c};");
        }
        let mut missed = Vec::new();
        for u in 0..units {
            for c in 0..copies {
                let before: Vec<String> = (0..c).map(|e| format!(" & ~take{e}_{u}")).collect();
                let _ = writeln!(
                    v,
                    "wire take{c}_{u} = want[{u}] & free{c}_{u}{};",
                    before.concat()
                );
                if u + 1 < units {
                    let _ = writeln!(v, "wire free{c}_{} = free{c}_{u} & ~take{c}_{u};", u + 1);
                }
            }
            let took: Vec<String> = (0..copies).map(|c| format!("take{c}_{u}")).collect();
            missed.push(format!("(want[{u}] & ~({}))", took.join(" | ")));
        }
        for c in 0..copies {
            let takes: Vec<String> = (0..units).rev().map(|u| format!("take{c}_{u}")).collect();
            let _ = writeln!(
                v,
                "wire [{top}:0] now{c} = keep{c} | {{{}}};",
                takes.join(", ")
            );
        }
        v.push_str("always @(posedge clock) begin\n");
        for c in 0..copies {
            let _ = writeln!(v, "    held{c} <= now{c};");
        }
        v.push_str("end\nalways @(*) begin\n    region$clock = clock;\n");
        let _ = writeln!(v, "    fault = {};", missed.join(" | "));
        for b in 0..banks {
            for (port, width) in [("wen", 8), ("wrow", 16), ("wdata", 64)] {
                let dst = format!("region${port}${b}");
                let src = |u| (format!("writing[{u}]"), format!("{port}${}", u * banks + b));
                select(&mut v, &dst, width, (0..units).map(src));
            }
            for c in 0..copies {
                let dst = format!("region$rrow${}", c * banks + b);
                let src = |u| (format!("now{c}[{u}]"), format!("rrow${}", u * banks + b));
                select(&mut v, &dst, 16, (0..units).map(src));
            }
            for u in 0..units {
                let dst = format!("rdata${}", u * banks + b);
                let src = |c| {
                    let data = format!("region$rdata${}", c * banks + b);
                    (format!("held{c}[{u}]"), data)
                };
                select(&mut v, &dst, 64, (0..copies).map(src));
            }
        }
        v.push_str("end\n");
        if units < MAX_UNITS {
            let _ = writeln!(
                v,
                "wire _unused_bits = &{{1'b0, reading[{m}:{units}], writing[{m}:{units}]}};",
                m = MAX_UNITS - 1
            );
        }
        v
    }
}

/// `dst = ` the OR of each `(bit, value)`'s `value` where its one-bit `bit` is set, all
/// `width` bits wide.
fn select(v: &mut String, dst: &str, width: usize, terms: impl Iterator<Item = (String, String)>) {
    let terms: Vec<String> = terms
        .map(|(bit, value)| format!("({{{width}{{{bit}}}}} & {value})"))
        .collect();
    let _ = writeln!(v, "    {dst} = {};", terms.join(" | "));
}

impl Logic for RegionHub {
    fn update(&mut self) {
        let banks = self.region.shape().banks();
        let reading = self.reading.val().index() as u8;
        if self.clock.pos_edge() {
            self._owners.edge(reading);
        }
        let (now, fault) = self._owners.current(reading);
        self.region.clock.next = self.clock.val();
        let writing = self.writing.val().index();
        for b in 0..banks {
            let (mut wen, mut wrow, mut wdata) = (0u64, 0u64, 0u64);
            for u in (0..self._units).filter(|u| writing >> u & 1 == 1) {
                wen |= self.wen[u * banks + b].val().to_u64();
                wrow |= self.wrow[u * banks + b].val().to_u64();
                wdata |= self.wdata[u * banks + b].val().to_u64();
            }
            self.region.wen[b].next = bits(wen);
            self.region.wrow[b].next = bits(wrow);
            self.region.wdata[b].next = bits(wdata);
            for (c, holder) in now.iter().enumerate() {
                let row = holder.map_or(0, |u| self.rrow[u * banks + b].val().to_u64());
                self.region.rrow[c * banks + b].next = bits(row);
            }
            for u in 0..self._units {
                let data = self
                    ._owners
                    .answering(u)
                    .map_or(0, |c| self.region.rdata[c * banks + b].val().to_u64());
                self.rdata[u * banks + b].next = bits(data);
            }
        }
        self.fault.next = fault;
    }

    fn connect(&mut self) {
        self.rdata.iter_mut().for_each(|s| s.connect());
        self.fault.connect();
        self.region.clock.connect();
        self.region.wen.iter_mut().for_each(|s| s.connect());
        self.region.wrow.iter_mut().for_each(|s| s.connect());
        self.region.wdata.iter_mut().for_each(|s| s.connect());
        self.region.rrow.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Units in queue order take the lowest free copies, keep them while they read, and give
    /// them up when they stop; a reader beyond the copies is a fault.
    #[test]
    fn readers_take_the_lowest_free_copy_in_queue_order() {
        let mut o = CopyOwners::new(5, 2);
        // Units 1 and 3 issue together: 1 takes copy 0, 3 copy 1.
        assert_eq!(o.current(0b01010), (vec![Some(1), Some(3)], false));
        o.edge(0b01010);
        assert_eq!((o.answering(1), o.answering(3)), (Some(0), Some(1)));
        // Unit 1 stops and unit 4 starts in the same cycle: 4 takes copy 0, 3 keeps copy 1.
        assert_eq!(o.current(0b11000), (vec![Some(4), Some(3)], false));
        o.edge(0b11000);
        // Unit 1's answer of its last read has come from copy 0 in the cycle it stopped; now
        // copy 0 answers unit 4.
        assert_eq!((o.answering(1), o.answering(4)), (None, Some(0)));
        // A third reader finds no copy.
        assert_eq!(o.current(0b11001), (vec![Some(4), Some(3)], true));
    }
}
