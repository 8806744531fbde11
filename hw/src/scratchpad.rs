//! `Scratchpad`: one scratchpad region, as the timing model sees it: a byte memory that
//! serves its bandwidth whatever the access pattern.
//!
//! ```text
//!  contiguous write: up to 8 bytes at any address        (DMA loads, rows as they are)
//!  scatter write:    4 INT16 elements at 4 addresses      (DMA loads that transpose)
//!  replicating write: 4 INT16 elements, each at up to 9 addresses (DMA gathers: im2col
//!                    windows, BP weights; see `gather_map`)
//!  fill:             one INT16 value over up to 256 bytes   (the padding of an im2col tile),
//!                    but not over bytes the replicating write set since the transfer began
//!  contiguous read:  16 bytes from any address            (DMA stores)
//!  gather read:      4 × 4 bytes at 4 addresses           (DMA stores that transpose)
//!  3 vector reads:   16 bytes each from any address       (the vector unit's sources)
//!  window read:      64 bytes from any address            (the vector unit's SR-STE groups)
//!  2 vector writes:  up to 16 bytes each at any address   (the vector unit's destination;
//!                                                          SGD's momenta beside its weights)
//!  4 group reads:    32 bytes each from any address       (the prune unit's M-groups)
//!  4 group writes:   `plen` ≤ 40 bytes each at any address (the packed groups)
//!  reads answer the cycle after their address
//!
//!  array ports, as many as the region's role in a GEMM needs, answering in the same cycle:
//!  gathers:          per array row, `count` ≤ L INT16 lanes at a stride   (input region: x)
//!  weight reads:     per array column, a value and 3 index bytes          (weight region: w)
//!  y read-modify-write: per array column, 4 bytes read and written        (output region: y)
//! ```
//!
//! The replicating write and the fill exist because a gather's element lands in up to 9 places
//! as it arrives and its padding comes from no DRAM word: the model charges such a tile its
//! bytes at the region's bandwidth but lets them follow the arrived fraction of the DRAM side,
//! which a port writing one copy at a time in arrival order cannot do when the DRAM is the
//! bottleneck. The DMA engine still spends the beats the model charges (see `dma`). The fill
//! runs while the answers arrive, so the region marks each byte the replicating write sets with
//! the transfer's number (transfers counted at their start, 32 bits: no program has more) and
//! the fill leaves the current transfer's: whichever comes first, a gathered byte keeps its
//! element and a padding byte gets the pad value.
//!
//! `timing::dma_cycles` charges the scratchpad side `⌈bytes / (banks·width)⌉` beats whatever
//! the addresses — a crossbar in front of the banks that never conflicts. This region realises
//! exactly that (a multi-ported byte array, which Verilator simulates directly); a physically
//! banked region needs the model to charge bank conflicts first (see ARCHITECTURE.md).
//! Addresses beyond the region wrap.
//!
//! rust-hdl's own RAM is a leaf written as Verilog text with a Rust model beside it; this is
//! the same kind of leaf: `update` is the model rust-hdl simulates, `hdl` the Verilog.

use crate::array::signals;
use crate::array_unit::GATHER_COUNT_BITS;
use crate::gather_map::{FILL_BYTES, GATHER_PORTS, WORD_ELEMS};
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Elements a scatter write or a gather read moves.
pub const SCATTER: usize = 4;
/// Groups the prune unit reads and writes a cycle, at most.
pub const GROUP_PORTS: usize = 4;
/// The vector unit's read ports (its sources).
pub const VECTOR_READS: usize = 3;
/// The vector unit's write ports.
pub const VECTOR_WRITES: usize = 2;

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
    /// Enables of the replicating write (port j writes element `j mod 4`).
    pub rwe: Signal<In, Bits<GATHER_PORTS>>,
    /// Byte address of each port's element.
    pub rwaddr: [Signal<In, Bits<16>>; GATHER_PORTS],
    /// The elements.
    pub rwdata: [Signal<In, Bits<16>>; WORD_ELEMS],
    /// Set the `fill_n` (≤ `FILL_BYTES`) bytes from the even address `fill_addr` to
    /// `fill_value` (its low byte at even addresses).
    pub fill: Signal<In, Bit>,
    /// See `fill`.
    pub fill_addr: Signal<In, Bits<16>>,
    /// See `fill`.
    pub fill_n: Signal<In, Bits<9>>,
    /// See `fill`.
    pub fill_value: Signal<In, Bits<16>>,
    /// A transfer starts: count it, so that the fill leaves only the bytes its replicating
    /// write sets (see the module docs).
    pub xfer_start: Signal<In, Bit>,
    /// Address of byte 0 of the contiguous read.
    pub raddr: Signal<In, Bits<16>>,
    /// Bytes `raddr … raddr+15`, the cycle after `raddr` was presented.
    pub rdata: Signal<Out, Bits<128>>,
    /// Byte address of each gathered word.
    pub gaddr: [Signal<In, Bits<16>>; SCATTER],
    /// Bytes `gaddr … gaddr+3` of each, the cycle after.
    pub gdata: [Signal<Out, Bits<32>>; SCATTER],
    /// Addresses of the vector reads.
    pub vraddr: [Signal<In, Bits<16>>; VECTOR_READS],
    /// 16 bytes from each, the cycle after.
    pub vrdata: [Signal<Out, Bits<128>>; VECTOR_READS],
    /// Address of the window read.
    pub vgaddr: Signal<In, Bits<16>>,
    /// 64 bytes from it, the cycle after.
    pub vgdata: Signal<Out, Bits<512>>,
    /// Byte enables of the vector writes.
    pub vwe: [Signal<In, Bits<16>>; VECTOR_WRITES],
    /// Address of each one's byte 0.
    pub vwaddr: [Signal<In, Bits<16>>; VECTOR_WRITES],
    /// Their bytes.
    pub vwdata: [Signal<In, Bits<128>>; VECTOR_WRITES],
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
    /// Array gathers: first byte, lanes and bytes between lanes of each.
    pub arr_gaddr: Vec<Signal<In, Bits<16>>>,
    /// See `arr_gaddr`.
    pub arr_gcount: Vec<Signal<In, Bits<GATHER_COUNT_BITS>>>,
    /// See `arr_gaddr`.
    pub arr_gstride: Vec<Signal<In, Bits<16>>>,
    /// Gather g's lane l at `g·lanes + l` (zero from lane `count` on), this cycle.
    pub arr_gdata: Vec<Signal<Out, Signed<16>>>,
    /// Weight value reads: address, and the INT16 there this cycle.
    pub arr_waddr: Vec<Signal<In, Bits<16>>>,
    /// See `arr_waddr`.
    pub arr_wdata: Vec<Signal<Out, Signed<16>>>,
    /// Index reads: address, and the 3 bytes from there this cycle.
    pub arr_iaddr: Vec<Signal<In, Bits<16>>>,
    /// See `arr_iaddr`.
    pub arr_idata: Vec<Signal<Out, Bits<24>>>,
    /// y read-modify-write: address, the 4 bytes there this cycle, and the write at the edge.
    pub arr_yaddr: Vec<Signal<In, Bits<16>>>,
    /// See `arr_yaddr`.
    pub arr_yrdata: Vec<Signal<Out, Bits<32>>>,
    /// See `arr_yaddr`.
    pub arr_ywe: Vec<Signal<In, Bit>>,
    /// See `arr_yaddr`.
    pub arr_ywdata: Vec<Signal<In, Bits<32>>>,
    _mem: Vec<u8>,
    /// The transfer that last set each byte through the replicating write, and the current
    /// transfer (counted by `xfer_start`): the fill leaves the current transfer's bytes.
    _held: Vec<u32>,
    _epoch: u32,
    _lanes: usize,
}

/// The array ports a region has: see the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GemmPorts {
    /// Gathers and the lanes of each.
    pub gathers: usize,
    /// See `gathers`.
    pub lanes: usize,
    /// Weight value-and-index read pairs.
    pub weights: usize,
    /// y read-modify-write ports.
    pub outputs: usize,
}

impl Scratchpad {
    /// A region of `bytes` bytes (at most 64 KiB, at least 1) with the array ports `array`.
    pub fn new(bytes: u64, array: GemmPorts) -> Self {
        Self {
            clock: Default::default(),
            we: Default::default(),
            waddr: Default::default(),
            wdata: Default::default(),
            ewe: Default::default(),
            eaddr: Default::default(),
            edata: Default::default(),
            rwe: Default::default(),
            rwaddr: std::array::from_fn(|_| Default::default()),
            rwdata: Default::default(),
            fill: Default::default(),
            fill_addr: Default::default(),
            fill_n: Default::default(),
            fill_value: Default::default(),
            xfer_start: Default::default(),
            raddr: Default::default(),
            rdata: Default::default(),
            gaddr: Default::default(),
            gdata: Default::default(),
            vraddr: Default::default(),
            vrdata: Default::default(),
            vgaddr: Default::default(),
            vgdata: Default::default(),
            vwe: Default::default(),
            vwaddr: Default::default(),
            vwdata: Default::default(),
            praddr: Default::default(),
            prdata: Default::default(),
            pwe: Default::default(),
            pwaddr: Default::default(),
            pwdata: Default::default(),
            plen: Default::default(),
            arr_gaddr: signals(array.gathers),
            arr_gcount: signals(array.gathers),
            arr_gstride: signals(array.gathers),
            arr_gdata: signals(array.gathers * array.lanes),
            arr_waddr: signals(array.weights),
            arr_wdata: signals(array.weights),
            arr_iaddr: signals(array.weights),
            arr_idata: signals(array.weights),
            arr_yaddr: signals(array.outputs),
            arr_yrdata: signals(array.outputs),
            arr_ywe: signals(array.outputs),
            arr_ywdata: signals(array.outputs),
            _mem: vec![0; (bytes as usize).clamp(1, 1 << 16)],
            _held: vec![0; (bytes as usize).clamp(1, 1 << 16)],
            _epoch: 0,
            _lanes: array.lanes,
        }
    }

    /// The `N / 8` bytes from `addr`, byte j in bits 8j … 8j+7.
    fn read<const N: usize>(&self, addr: usize) -> Bits<N> {
        let size = self._mem.len();
        (0..N / 8).fold(bits(0), |acc, j| {
            acc | (bits::<N>(self._mem[(addr + j) % size] as LiteralType) << (8 * j as LiteralType))
        })
    }

    /// Writes byte j of `data` to `addr + j` for each `j < bytes` that `enabled` allows.
    fn write<const N: usize>(
        &mut self,
        addr: usize,
        data: Bits<N>,
        bytes: usize,
        enabled: impl Fn(usize) -> bool,
    ) {
        let size = self._mem.len();
        for j in (0..bytes.min(N / 8)).filter(|&j| enabled(j)) {
            self._mem[(addr + j) % size] = data.get_bits::<8>(8 * j).index() as u8;
        }
    }
}

impl Logic for Scratchpad {
    // Reads see the memory before this edge's writes, as the Verilog's non-blocking
    // assignments do, and the writes land in the Verilog's order.
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.clock_edge();
        }
        self.array_reads();
    }

    fn connect(&mut self) {
        self.rdata.connect();
        self.gdata.iter_mut().for_each(|s| s.connect());
        self.vrdata.iter_mut().for_each(|s| s.connect());
        self.vgdata.connect();
        self.prdata.iter_mut().for_each(|s| s.connect());
        self.arr_gdata.iter_mut().for_each(|s| s.connect());
        self.arr_wdata.iter_mut().for_each(|s| s.connect());
        self.arr_idata.iter_mut().for_each(|s| s.connect());
        self.arr_yrdata.iter_mut().for_each(|s| s.connect());
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}

impl Scratchpad {
    fn clock_edge(&mut self) {
        self.rdata.next = self.read(self.raddr.val().index());
        for e in 0..SCATTER {
            self.gdata[e].next = self.read(self.gaddr[e].val().index());
        }
        for p in 0..VECTOR_READS {
            self.vrdata[p].next = self.read(self.vraddr[p].val().index());
        }
        self.vgdata.next = self.read(self.vgaddr.val().index());
        for g in 0..GROUP_PORTS {
            self.prdata[g].next = self.read(self.praddr[g].val().index());
        }
        if self.fill.val() {
            let (a, n) = (self.fill_addr.val().index(), self.fill_n.val().index());
            let value = self.fill_value.val().index() as u16;
            let size = self._mem.len();
            for j in 0..n.min(FILL_BYTES) {
                if self._held[(a + j) % size] != self._epoch {
                    self._mem[(a + j) % size] = value.to_le_bytes()[j % 2];
                }
            }
        }
        if self.xfer_start.val() {
            self._epoch = self._epoch.wrapping_add(1);
        }
        let plen = self.plen.val().index();
        for g in 0..GROUP_PORTS {
            if self.pwe[g].val() {
                let (a, d) = (self.pwaddr[g].val().index(), self.pwdata[g].val());
                self.write(a, d, plen, |_| true);
            }
        }
        for p in 0..VECTOR_WRITES {
            let vwe = self.vwe[p].val().index();
            let (a, d) = (self.vwaddr[p].val().index(), self.vwdata[p].val());
            self.write(a, d, 16, |j| vwe >> j & 1 == 1);
        }
        let we = self.we.val().index();
        let (a, d) = (self.waddr.val().index(), self.wdata.val());
        self.write(a, d, 8, |j| we >> j & 1 == 1);
        let ewe = self.ewe.val().index();
        for e in 0..SCATTER {
            if ewe >> e & 1 == 1 {
                let (a, d) = (self.eaddr[e].val().index(), self.edata[e].val());
                self.write(a, d, 2, |_| true);
            }
        }
        let rwe = self.rwe.val().index();
        for j in 0..GATHER_PORTS {
            if rwe >> j & 1 == 1 {
                let (a, d) = (
                    self.rwaddr[j].val().index(),
                    self.rwdata[j % WORD_ELEMS].val(),
                );
                self.write(a, d, 2, |_| true);
                let size = self._held.len();
                self._held[a % size] = self._epoch;
                self._held[(a + 1) % size] = self._epoch;
            }
        }
        for p in 0..self.arr_ywe.len() {
            if self.arr_ywe[p].val() {
                let (a, d) = (self.arr_yaddr[p].val().index(), self.arr_ywdata[p].val());
                self.write(a, d, 4, |_| true);
            }
        }
    }

    /// The array ports' combinational reads.
    fn array_reads(&mut self) {
        for g in 0..self.arr_gaddr.len() {
            let (a, stride) = (
                self.arr_gaddr[g].val().index(),
                self.arr_gstride[g].val().index(),
            );
            let count = self.arr_gcount[g].val().index();
            for l in 0..self._lanes {
                let v: Bits<16> = if l < count {
                    self.read(a + l * stride)
                } else {
                    bits(0)
                };
                self.arr_gdata[g * self._lanes + l].next = signed_cast(v);
            }
        }
        for p in 0..self.arr_waddr.len() {
            self.arr_wdata[p].next = signed_cast(self.read(self.arr_waddr[p].val().index()));
            self.arr_idata[p].next = self.read(self.arr_iaddr[p].val().index());
        }
        for p in 0..self.arr_yaddr.len() {
            self.arr_yrdata[p].next = self.read(self.arr_yaddr[p].val().index());
        }
    }

    fn verilog(&self) -> String {
        let size = self._mem.len();
        let mut v = format!(
            "reg [7:0] mem [0:{}];\nreg [31:0] held [0:{}];\nreg [31:0] epoch;\nwire [{}:0] fill_pattern = {{{} {{fill_value}}}};\nalways @(posedge clock) begin\n",
            size - 1,
            size - 1,
            8 * FILL_BYTES - 1,
            FILL_BYTES / 2
        );
        // The fill first, so that any same-cycle write wins.
        let _ = writeln!(v, "    if (fill) begin");
        write_port(&mut v, size, "fill_addr", "fill_pattern", FILL_BYTES, |j| {
            format!(
                "fill_n > 9'd{j} && held[{}] != epoch",
                byte_at(size, "fill_addr", j)
            )
        });
        v.push_str("    end\n    if (xfer_start) epoch <= epoch + 32'd1;\n");
        read_port(&mut v, size, "rdata", "raddr", 16);
        for e in 0..SCATTER {
            read_port(
                &mut v,
                size,
                &format!("gdata${e}"),
                &format!("gaddr${e}"),
                4,
            );
        }
        for p in 0..VECTOR_READS {
            read_port(
                &mut v,
                size,
                &format!("vrdata${p}"),
                &format!("vraddr${p}"),
                16,
            );
        }
        read_port(&mut v, size, "vgdata", "vgaddr", 64);
        for g in 0..GROUP_PORTS {
            read_port(
                &mut v,
                size,
                &format!("prdata${g}"),
                &format!("praddr${g}"),
                32,
            );
        }
        for g in 0..GROUP_PORTS {
            let (addr, data) = (format!("pwaddr${g}"), format!("pwdata${g}"));
            write_port(&mut v, size, &addr, &data, 40, |j| {
                format!("pwe${g} && plen > 6'd{j}")
            });
        }
        for p in 0..VECTOR_WRITES {
            let (addr, data) = (format!("vwaddr${p}"), format!("vwdata${p}"));
            write_port(&mut v, size, &addr, &data, 16, |j| format!("vwe${p}[{j}]"));
        }
        write_port(&mut v, size, "waddr", "wdata", 8, |j| format!("we[{j}]"));
        for e in 0..SCATTER {
            let (addr, data) = (format!("eaddr${e}"), format!("edata${e}"));
            write_port(&mut v, size, &addr, &data, 2, |_| format!("ewe[{e}]"));
        }
        for j in 0..GATHER_PORTS {
            let (addr, data) = (format!("rwaddr${j}"), format!("rwdata${}", j % WORD_ELEMS));
            write_port(&mut v, size, &addr, &data, 2, |_| format!("rwe[{j}]"));
            for b in 0..2 {
                let _ = writeln!(
                    v,
                    "    if (rwe[{j}]) held[{}] <= epoch;",
                    byte_at(size, &addr, b)
                );
            }
        }
        for p in 0..self.arr_ywe.len() {
            let (addr, data) = (format!("arr_yaddr${p}"), format!("arr_ywdata${p}"));
            write_port(&mut v, size, &addr, &data, 4, |_| format!("arr_ywe${p}"));
        }
        v.push_str("end\n");
        if !(self.arr_gaddr.is_empty() && self.arr_waddr.is_empty() && self.arr_yaddr.is_empty()) {
            v.push_str("always @(*) begin\n");
            for g in 0..self.arr_gaddr.len() {
                for l in 0..self._lanes {
                    let (addr, lane) = (
                        format!("arr_gaddr${g} + arr_gstride${g} * 16'd{l}"),
                        format!("arr_gdata${}", g * self._lanes + l),
                    );
                    let _ = writeln!(v, "    {lane} = 16'd0;");
                    let _ = writeln!(v, "    if (arr_gcount${g} > 5'd{l}) begin");
                    read_bytes(&mut v, size, &lane, &addr, 2, "=");
                    v.push_str("    end\n");
                }
            }
            for p in 0..self.arr_waddr.len() {
                let (wa, wd) = (format!("arr_waddr${p}"), format!("arr_wdata${p}"));
                read_bytes(&mut v, size, &wd, &wa, 2, "=");
                let (ia, id) = (format!("arr_iaddr${p}"), format!("arr_idata${p}"));
                read_bytes(&mut v, size, &id, &ia, 3, "=");
            }
            for p in 0..self.arr_yaddr.len() {
                let (ya, yd) = (format!("arr_yaddr${p}"), format!("arr_yrdata${p}"));
                read_bytes(&mut v, size, &yd, &ya, 4, "=");
            }
            v.push_str("end\n");
        }
        v
    }
}

/// Byte `j` of address `addr + j`, at 17 bits so that a run that crosses the end wraps.
fn byte_at(size: usize, addr: &str, j: usize) -> String {
    format!("(({{1'b0, {addr}}} + 17'd{j}) % 17'd{size})")
}

/// A read port: `data` takes the `bytes` bytes from `addr` at the clock edge.
fn read_port(v: &mut String, size: usize, data: &str, addr: &str, bytes: usize) {
    read_bytes(v, size, data, addr, bytes, "<=");
}

/// `data` takes the `bytes` bytes from `addr`, by assignment `op` (`<=` at an edge, `=` in a
/// combinational block).
fn read_bytes(v: &mut String, size: usize, data: &str, addr: &str, bytes: usize, op: &str) {
    for j in 0..bytes {
        let a = byte_at(size, addr, j);
        let _ = writeln!(v, "    {data}[{}:{}] {op} mem[{a}];", 8 * j + 7, 8 * j);
    }
}

/// A write port: byte `j` of `data` goes to `addr + j` where `enable(j)` holds.
fn write_port(
    v: &mut String,
    size: usize,
    addr: &str,
    data: &str,
    bytes: usize,
    enable: impl Fn(usize) -> String,
) {
    for j in 0..bytes {
        let a = byte_at(size, addr, j);
        let _ = writeln!(
            v,
            "    if ({}) mem[{a}] <= {data}[{}:{}];",
            enable(j),
            8 * j + 7,
            8 * j
        );
    }
}
