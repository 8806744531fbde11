//! `Scratchpad`: one scratchpad region as 16 byte-wide lanes, so that any run of consecutive
//! bytes up to a lane row lands in distinct lanes and moves in one cycle.
//!
//! ```text
//!  byte a ──► lane a mod 16, row ⌊a/16⌋          write: up to 8 bytes at any address
//!  lane 0 │ lane 1 │ … │ lane 15                 read:  16 bytes from any address,
//!  (each lane: one write and one read port)             the cycle after
//! ```
//!
//! A write of byte `j` of `wdata` (enabled by bit `j` of `we`) goes to byte `waddr + j`; the
//! read returns bytes `raddr … raddr+15` on `rdata` one cycle later (byte `j` in bits
//! `8j … 8j+7`). Each lane has one write and one read port, which is what block RAMs offer;
//! the byte rotation in front of and behind the lanes is a barrel shifter. Addresses wrap
//! at the region's size rounded up to whole lane rows.
//!
//! rust-hdl's own RAM is a leaf written as Verilog text with a Rust model beside it; this is
//! the same kind of leaf: `update` is the model rust-hdl simulates, `hdl` the Verilog.

use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Byte lanes of a region.
pub const LANES: usize = 16;

/// A byte-addressed scratchpad region with one 8-byte write port and one 16-byte read port.
#[derive(LogicBlock)]
pub struct Scratchpad {
    /// The clock of both ports.
    pub clock: Signal<In, Clock>,
    /// Byte enables of the write (bit j: write byte j of `wdata` to `waddr + j`).
    pub we: Signal<In, Bits<8>>,
    /// Address of byte 0 of the write.
    pub waddr: Signal<In, Bits<16>>,
    /// The bytes to write.
    pub wdata: Signal<In, Bits<64>>,
    /// Address of byte 0 of the read.
    pub raddr: Signal<In, Bits<16>>,
    /// Bytes `raddr … raddr+15`, the cycle after `raddr` was presented.
    pub rdata: Signal<Out, Bits<128>>,
    _depth: usize,
    _mem: Vec<u8>,
}

impl Scratchpad {
    /// A region of at least `bytes` bytes (rounded up to whole lane rows, at most 64 KiB).
    pub fn new(bytes: u64) -> Self {
        let depth = (bytes as usize).div_ceil(LANES).max(1);
        Self {
            clock: Default::default(),
            we: Default::default(),
            waddr: Default::default(),
            wdata: Default::default(),
            raddr: Default::default(),
            rdata: Default::default(),
            _depth: depth,
            _mem: vec![0; depth * LANES],
        }
    }

    /// Row index bits the lanes need.
    fn row_bits(&self) -> usize {
        (usize::BITS - (self._depth - 1).leading_zeros()).max(1) as usize
    }
}

impl Logic for Scratchpad {
    fn update(&mut self) {
        if !self.clock.pos_edge() {
            return;
        }
        let size = self._mem.len();
        let raddr = self.raddr.val().index();
        let mut out: Bits<128> = 0.into();
        for j in 0..LANES {
            let byte = self._mem[(raddr + j) % size] as LiteralType;
            out = out | (bits::<128>(byte) << (8 * j as LiteralType));
        }
        self.rdata.next = out;
        let (we, waddr) = (self.we.val().index(), self.waddr.val().index());
        let wdata: LiteralType = self.wdata.val().into();
        for j in 0..8 {
            if we >> j & 1 == 1 {
                self._mem[(waddr + j) % size] = (wdata >> (8 * j)) as u8;
            }
        }
    }

    fn connect(&mut self) {
        self.rdata.connect();
    }

    fn hdl(&self) -> Verilog {
        let (d, rb) = (self._depth, self.row_bits());
        // Only the row bits of the lane addresses are used (the low 4 bits are the lane, the
        // high ones lie beyond the region): a documented lint waiver around the sums.
        let mut v = String::from("/* verilator lint_off UNUSEDSIGNAL */\n");
        // Lane l takes write byte j = (l − waddr) mod 16 when j < 8, at row ⌊(waddr + j)/16⌋;
        // it reads row ⌊(raddr + (l − raddr) mod 16)/16⌋. Rows wrap at the depth.
        for l in 0..LANES {
            let _ = write!(
                v,
                "reg [7:0] lane{l} [0:{dm}];\n\
                 wire [3:0] wj{l} = 4'd{l} - waddr[3:0];\n\
                 wire [15:0] wa{l} = waddr + {{12'd0, wj{l}}};\n\
                 wire [3:0] rj{l} = 4'd{l} - raddr[3:0];\n\
                 wire [15:0] ra{l} = raddr + {{12'd0, rj{l}}};\n\
                 reg [7:0] q{l};\n\
                 always @(posedge clock) begin\n\
                 \x20   if (!wj{l}[3] && we[wj{l}[2:0]]) lane{l}[{wrow}] <= wdata[{{3'd0, wj{l}[2:0]}} * 6'd8 +: 8];\n\
                 \x20   q{l} <= lane{l}[{rrow}];\n\
                 end\n",
                dm = d - 1,
                wrow = row_index(&format!("wa{l}"), rb, d),
                rrow = row_index(&format!("ra{l}"), rb, d),
            );
        }
        v.push_str("/* verilator lint_on UNUSEDSIGNAL */\n");
        let lanes: Vec<String> = (0..LANES).rev().map(|l| format!("q{l}")).collect();
        let _ = write!(
            v,
            "reg [3:0] rsh;\n\
             always @(posedge clock) rsh <= raddr[3:0];\n\
             wire [127:0] qs = {{{}}};\n\
             wire [255:0] qq = {{qs, qs}};\n\
             always @(*) rdata = qq[{{4'd0, rsh}} * 8'd8 +: 128];\n",
            lanes.join(", ")
        );
        Verilog::Custom(v)
    }
}

/// The row of lane address `a` (`a[15:4]`), reduced to the lanes' depth `d` with `rb` bits.
fn row_index(a: &str, rb: usize, d: usize) -> String {
    let row = format!("{a}[{}:4]", 3 + rb.min(12));
    if d.is_power_of_two() {
        row
    } else {
        format!("({row} % {rb}'d{d})")
    }
}
