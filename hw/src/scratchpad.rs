//! `Scratchpad`: one scratchpad region, as the timing model sees it: a byte memory that
//! serves its bandwidth whatever the access pattern.
//!
//! ```text
//!  contiguous write: up to 8 bytes at any address        (DMA loads, rows as they are)
//!  scatter write:    4 INT16 elements at 4 addresses      (DMA loads that transpose)
//!  contiguous read:  16 bytes from any address            (DMA stores)
//!  gather read:      4 × 4 bytes at 4 addresses           (DMA stores that transpose)
//!  2 vector reads:   16 bytes each from any address       (the vector unit's sources)
//!  vector write:     up to 16 bytes at any address        (the vector unit's destination)
//!  4 group reads:    32 bytes each from any address       (the prune unit's M-groups)
//!  4 group writes:   `plen` ≤ 40 bytes each at any address (the packed groups)
//!  reads answer the cycle after their address
//! ```
//!
//! `timing::dma_cycles` charges the scratchpad side `⌈bytes / (banks·width)⌉` beats whatever
//! the addresses — a crossbar in front of the banks that never conflicts. This region realises
//! exactly that (a multi-ported byte array, which Verilator simulates directly); a physically
//! banked region needs the model to charge bank conflicts first (see ARCHITECTURE.md).
//! Addresses beyond the region wrap.
//!
//! rust-hdl's own RAM is a leaf written as Verilog text with a Rust model beside it; this is
//! the same kind of leaf: `update` is the model rust-hdl simulates, `hdl` the Verilog.

use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Elements a scatter write or a gather read moves.
pub const SCATTER: usize = 4;
/// Groups the prune unit reads and writes a cycle, at most.
pub const GROUP_PORTS: usize = 4;

/// A byte-addressed scratchpad region; see the module docs for its ports.
#[derive(LogicBlock)]
pub struct Scratchpad {
    /// The clock of every port.
    pub clock: Signal<In, Clock>,
    /// Byte enables of the contiguous write (bit j: byte j of `wdata` to `waddr + j`).
    pub we: Signal<In, Bits<8>>,
    /// Address of byte 0 of the contiguous write.
    pub waddr: Signal<In, Bits<16>>,
    /// The bytes to write.
    pub wdata: Signal<In, Bits<64>>,
    /// Element enables of the scatter write.
    pub ewe: Signal<In, Bits<SCATTER>>,
    /// Byte address of each scattered element.
    pub eaddr: [Signal<In, Bits<16>>; SCATTER],
    /// The elements (little-endian INT16).
    pub edata: [Signal<In, Bits<16>>; SCATTER],
    /// Address of byte 0 of the contiguous read.
    pub raddr: Signal<In, Bits<16>>,
    /// Bytes `raddr … raddr+15`, the cycle after `raddr` was presented.
    pub rdata: Signal<Out, Bits<128>>,
    /// Byte address of each gathered word.
    pub gaddr: [Signal<In, Bits<16>>; SCATTER],
    /// Bytes `gaddr … gaddr+3` of each, the cycle after.
    pub gdata: [Signal<Out, Bits<32>>; SCATTER],
    /// Addresses of the two vector reads.
    pub vraddr: [Signal<In, Bits<16>>; 2],
    /// 16 bytes from each, the cycle after.
    pub vrdata: [Signal<Out, Bits<128>>; 2],
    /// Byte enables of the vector write.
    pub vwe: Signal<In, Bits<16>>,
    /// Address of its byte 0.
    pub vwaddr: Signal<In, Bits<16>>,
    /// Its bytes.
    pub vwdata: Signal<In, Bits<128>>,
    /// Addresses of the group reads.
    pub praddr: [Signal<In, Bits<16>>; GROUP_PORTS],
    /// 32 bytes from each, the cycle after.
    pub prdata: [Signal<Out, Bits<256>>; GROUP_PORTS],
    /// Enables of the group writes.
    pub pwe: [Signal<In, Bit>; GROUP_PORTS],
    /// Their addresses.
    pub pwaddr: [Signal<In, Bits<16>>; GROUP_PORTS],
    /// Their bytes (the first `plen`).
    pub pwdata: [Signal<In, Bits<320>>; GROUP_PORTS],
    /// Bytes each group write moves.
    pub plen: Signal<In, Bits<6>>,
    _mem: Vec<u8>,
}

impl Scratchpad {
    /// A region of `bytes` bytes (at most 64 KiB, at least 1).
    pub fn new(bytes: u64) -> Self {
        Self {
            clock: Default::default(),
            we: Default::default(),
            waddr: Default::default(),
            wdata: Default::default(),
            ewe: Default::default(),
            eaddr: Default::default(),
            edata: Default::default(),
            raddr: Default::default(),
            rdata: Default::default(),
            gaddr: Default::default(),
            gdata: Default::default(),
            vraddr: Default::default(),
            vrdata: Default::default(),
            vwe: Default::default(),
            vwaddr: Default::default(),
            vwdata: Default::default(),
            praddr: Default::default(),
            prdata: Default::default(),
            pwe: Default::default(),
            pwaddr: Default::default(),
            pwdata: Default::default(),
            plen: Default::default(),
            _mem: vec![0; (bytes as usize).clamp(1, 1 << 16)],
        }
    }

    fn read(&self, addr: usize, n: usize) -> LiteralType {
        let size = self._mem.len();
        (0..n).fold(0, |acc, j| {
            acc | (self._mem[(addr + j) % size] as LiteralType) << (8 * j)
        })
    }
}

impl Logic for Scratchpad {
    fn update(&mut self) {
        if !self.clock.pos_edge() {
            return;
        }
        let size = self._mem.len();
        let raddr = self.raddr.val().index();
        let lo: Bits<128> = bits(self.read(raddr, 8));
        let hi: Bits<128> = bits(self.read(raddr + 8, 8));
        self.rdata.next = lo | (hi << 64);
        for e in 0..SCATTER {
            self.gdata[e].next = bits(self.read(self.gaddr[e].val().index(), 4));
        }
        for p in 0..2 {
            let a = self.vraddr[p].val().index();
            let lo: Bits<128> = bits(self.read(a, 8));
            let hi: Bits<128> = bits(self.read(a + 8, 8));
            self.vrdata[p].next = lo | (hi << 64);
        }
        for g in 0..GROUP_PORTS {
            let a = self.praddr[g].val().index();
            let mut out: Bits<256> = 0.into();
            for q in 0..4 {
                out = out | (bits::<256>(self.read(a + 8 * q, 8)) << (64 * q as LiteralType));
            }
            self.prdata[g].next = out;
        }
        let plen = self.plen.val().index();
        for g in 0..GROUP_PORTS {
            if self.pwe[g].val() {
                let (a, d) = (self.pwaddr[g].val().index(), self.pwdata[g].val());
                for j in 0..plen.min(40) {
                    self._mem[(a + j) % size] = d.get_bits::<8>(8 * j).index() as u8;
                }
            }
        }
        let (vwe, vwaddr) = (self.vwe.val().index(), self.vwaddr.val().index());
        let vwdata = self.vwdata.val();
        for j in 0..16 {
            if vwe >> j & 1 == 1 {
                self._mem[(vwaddr + j) % size] = vwdata.get_bits::<8>(8 * j).index() as u8;
            }
        }
        let (we, waddr) = (self.we.val().index(), self.waddr.val().index());
        let wdata: LiteralType = self.wdata.val().into();
        for j in 0..8 {
            if we >> j & 1 == 1 {
                self._mem[(waddr + j) % size] = (wdata >> (8 * j)) as u8;
            }
        }
        let ewe = self.ewe.val().index();
        for e in 0..SCATTER {
            if ewe >> e & 1 == 1 {
                let (a, d) = (self.eaddr[e].val().index(), self.edata[e].val().index());
                self._mem[a % size] = d as u8;
                self._mem[(a + 1) % size] = (d >> 8) as u8;
            }
        }
    }

    fn connect(&mut self) {
        self.rdata.connect();
        self.gdata.iter_mut().for_each(|s| s.connect());
        self.vrdata.iter_mut().for_each(|s| s.connect());
        self.prdata.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        let size = self._mem.len();
        // Address arithmetic is done at 17 bits so that a run that crosses the end wraps.
        let wrap = |a: String| format!("(({a}) % 17'd{size})");
        let mut v = format!(
            "reg [7:0] mem [0:{last}];\n\
             integer j;\n\
             always @(posedge clock) begin\n",
            last = size - 1
        );
        for j in 0..16 {
            let _ = writeln!(
                v,
                "    rdata[{hi}:{lo}] <= mem[{a}];",
                hi = 8 * j + 7,
                lo = 8 * j,
                a = wrap(format!("{{1'b0, raddr}} + 17'd{j}"))
            );
        }
        for e in 0..SCATTER {
            for b in 0..4 {
                let _ = writeln!(
                    v,
                    "    gdata${e}[{hi}:{lo}] <= mem[{a}];",
                    hi = 8 * b + 7,
                    lo = 8 * b,
                    a = wrap(format!("{{1'b0, gaddr${e}}} + 17'd{b}"))
                );
            }
        }
        for p in 0..2 {
            for j in 0..16 {
                let _ = writeln!(
                    v,
                    "    vrdata${p}[{hi}:{lo}] <= mem[{a}];",
                    hi = 8 * j + 7,
                    lo = 8 * j,
                    a = wrap(format!("{{1'b0, vraddr${p}}} + 17'd{j}"))
                );
            }
        }
        for g in 0..GROUP_PORTS {
            for j in 0..32 {
                let _ = writeln!(
                    v,
                    "    prdata${g}[{hi}:{lo}] <= mem[{a}];",
                    hi = 8 * j + 7,
                    lo = 8 * j,
                    a = wrap(format!("{{1'b0, praddr${g}}} + 17'd{j}"))
                );
            }
        }
        for g in 0..GROUP_PORTS {
            for j in 0..40 {
                let _ = writeln!(
                    v,
                    "    if (pwe${g} && plen > 6'd{j}) mem[{a}] <= pwdata${g}[{hi}:{lo}];",
                    a = wrap(format!("{{1'b0, pwaddr${g}}} + 17'd{j}")),
                    hi = 8 * j + 7,
                    lo = 8 * j
                );
            }
        }
        for j in 0..16 {
            let _ = writeln!(
                v,
                "    if (vwe[{j}]) mem[{a}] <= vwdata[{hi}:{lo}];",
                a = wrap(format!("{{1'b0, vwaddr}} + 17'd{j}")),
                hi = 8 * j + 7,
                lo = 8 * j
            );
        }
        for j in 0..8 {
            let _ = writeln!(
                v,
                "    if (we[{j}]) mem[{a}] <= wdata[{hi}:{lo}];",
                a = wrap(format!("{{1'b0, waddr}} + 17'd{j}")),
                hi = 8 * j + 7,
                lo = 8 * j
            );
        }
        for e in 0..SCATTER {
            for b in 0..2 {
                let _ = writeln!(
                    v,
                    "    if (ewe[{e}]) mem[{a}] <= edata${e}[{hi}:{lo}];",
                    a = wrap(format!("{{1'b0, eaddr${e}}} + 17'd{b}")),
                    hi = 8 * b + 7,
                    lo = 8 * b
                );
            }
        }
        v.push_str("end\n");
        Verilog::Custom(v.replace("integer j;\n", ""))
    }
}
