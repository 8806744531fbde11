//! `BankedRegion`: a scratchpad region built as physical memory banks, from rust-hdl's `RAM`
//! alone, with one write port and one read port per copy; [`BankedRegionModel`] is its
//! cycle-exact reference in plain Rust.
//!
//! # Organisation
//!
//! A region of `bytes` bytes is cut into `B` banks of `W`-byte words, `D = bytes / (B·W)` rows
//! deep. Words go round the banks, each bank row rotated by its index (the timing model's
//! `Region::bank`), so byte address `a` lives at
//!
//! ```text
//!   word w = a / W          row = w / B = a / (W·B)
//!   bank   = (w + row) mod B          byte = a mod W
//! ```
//!
//! so that any run of fewer than `B` words, and `B` words an odd number of bank rows apart (on
//! a power-of-two number of banks), touch each bank at most once.
//!
//! rust-hdl's `RAM<D, N>` has one write port without byte enables and one read port whose data
//! is registered, `2^N` words deep with `N` a const generic. Byte-granular writes therefore
//! make each bank word out of `W` byte-wide RAMs (`RAM<Bits<8>, log2 D>`), a byte enable being
//! the write enable of its RAM. A second read port costs a second copy of the storage: the
//! region holds `C` copies, each with its own read port, and every write goes to all of them
//! (broadcast), so the copies always hold the same bytes. In all `C·B·W` byte RAMs:
//!
//! ```text
//!   wen$b, wrow$b, wdata$b ──┬──────────────┬── … (every copy)
//!                            ▼              ▼
//!   copy c, bank b:  [RAM byte 0] … [RAM byte W-1]   byte_ram$((c·B + b)·W + j)
//!                            │              │
//!   rrow$(c·B+b) ───────────►┴──────┬───────┘
//!                                   ▼
//!   rdata$(c·B+b) = {byte W-1, …, byte 0}   (zero above 8·W bits)
//! ```
//!
//! # Ports and timing
//!
//! Per bank `b`: `wen$b` (byte enables, bit `j` writes byte `j`; the low `W` bits are used),
//! `wrow$b` and `wdata$b` (byte `j` in bits `8j … 8j+7`; the low `8·W` bits are used). Per copy
//! `c` and bank `b`, at index `c·B + b`: `rrow` and `rdata`. Only the low `log2 D` bits of a
//! row are used, so rows wrap modulo the depth.
//!
//! `rdata` is the word at the row presented one cycle earlier (the RAM's registered read).
//! When that row is written in the same cycle, `rdata` holds the bytes from before the write
//! (read-first): the RAM's Verilog updates `read_data` and `mem` with non-blocking
//! assignments at the same edge, so the read samples the old word; its Rust model reads
//! before it writes too.
//!
//! Depth is known only at run time but `N` is a const generic: [`ByteRam`] is an enum over
//! `N = 4 ..= 16` that implements `Block` by delegating to the RAM it holds, so each RAM keeps
//! its own Verilog and model and appears as an ordinary sub-module (`top$byte_ram$i`).
//!
//! # Synthesis
//!
//! yosys (0.23) infers one block RAM per byte RAM; the bytes never become flip-flops. A
//! 16 KiB region of 4 banks × 8 bytes with 2 copies is 64 byte RAMs of 512 × 8 bits:
//!
//! * `synth_xilinx -family xcup`: 64 RAMB18E2 and no other cell (simple dual-port mode reads
//!   first by itself). A 4 Kbit byte RAM fills under a quarter of its 18 Kbit block, and yosys
//!   does not merge separate memories, so the region takes four times the blocks that one
//!   512 × 64 memory with byte enables per bank and copy would (8 RAMB36E2).
//! * `synth_ice40`: 64 SB_RAM40_4K (each exactly 512 × 8), plus some flip-flops and LUTs:
//!   yosys treats the block's same-address read and write as undefined, so it keeps the
//!   read-first contract with a delayed write and a bypass. Storage marked `no_rw_check`
//!   would not need them, but rust-hdl's `RAM` writes its own Verilog.

use crate::array::signals;
use crate::error::HwError;
use nmsat_compiler::arch::{skewed_bank, Arch, Banking};
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Banks a region may have (a power of two).
pub const MAX_BANKS: usize = 32;
/// Read ports (copies of the storage) a region may have.
pub const MAX_COPIES: usize = 4;
/// Rows per bank, at least and at most (powers of two): rust-hdl's RAM is instantiated for
/// address widths 4 ..= 16, and the row ports are 16 bits wide.
pub const MIN_DEPTH: u64 = 1 << 4;
/// See [`MIN_DEPTH`].
pub const MAX_DEPTH: u64 = 1 << 16;

/// The shape of a banked region (see the module docs), checked: only [`RegionShape::new`]
/// makes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionShape {
    bytes: u64,
    banks: usize,
    width: usize,
    copies: usize,
}

impl RegionShape {
    /// The shape, if the RTL can build it; otherwise an [`HwError::Unsupported`] that says
    /// which parameter is wrong and why.
    pub fn new(bytes: u64, banks: usize, width: usize, copies: usize) -> Result<Self, HwError> {
        let unsupported = |field, value: String, reason: String, allowed: &str| {
            Err(HwError::Unsupported {
                field,
                value,
                reason,
                allowed: allowed.into(),
            })
        };
        if !(banks.is_power_of_two() && banks <= MAX_BANKS) {
            return unsupported(
                "banks",
                banks.to_string(),
                "a word's bank is its word address modulo the banks: they must be a power of \
                 two (the address's low bits), and at most 32"
                    .into(),
                "1, 2, 4, 8, 16 or 32",
            );
        }
        if ![1, 2, 4, 8].contains(&width) {
            return unsupported(
                "width",
                width.to_string(),
                "a bank word is built from byte-wide RAMs and travels on 64-bit ports".into(),
                "1, 2, 4 or 8",
            );
        }
        if !(1..=MAX_COPIES).contains(&copies) {
            return unsupported(
                "copies",
                copies.to_string(),
                "each copy is one read port; there must be at least one and at most four".into(),
                "1..=4",
            );
        }
        let row = (banks * width) as u64;
        let allowed = format!(
            "{row}·2^k bytes for k in 4..=16 ({} ..= {} bytes with {banks} banks of {width} bytes)",
            row * MIN_DEPTH,
            row * MAX_DEPTH
        );
        if !bytes.is_multiple_of(row) {
            return unsupported(
                "bytes",
                bytes.to_string(),
                format!("a region is whole rows of banks·width = {row} bytes"),
                &allowed,
            );
        }
        let depth = bytes / row;
        if !(depth.is_power_of_two() && (MIN_DEPTH..=MAX_DEPTH).contains(&depth)) {
            return unsupported(
                "bytes",
                bytes.to_string(),
                format!(
                    "it gives {depth} rows per bank ({bytes} / {row}); a bank's depth must be a \
                     power of two from {MIN_DEPTH} to {MAX_DEPTH} (rust-hdl's RAM is 2^N deep)"
                ),
                &allowed,
            );
        }
        Ok(Self {
            bytes,
            banks,
            width,
            copies,
        })
    }

    /// Bytes in the region (in one copy).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Banks `B`.
    pub fn banks(&self) -> usize {
        self.banks
    }

    /// Bytes per bank word `W`.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Copies `C`, one read port each.
    pub fn copies(&self) -> usize {
        self.copies
    }

    /// Rows per bank, `bytes / (banks·width)`.
    pub fn depth(&self) -> usize {
        (self.bytes / (self.banks * self.width) as u64) as usize
    }

    /// Address bits of each byte RAM, `log2 depth`.
    pub fn row_bits(&self) -> usize {
        self.depth().trailing_zeros() as usize
    }

    /// Where byte address `addr` (modulo the region) lives: `(bank, row, byte)`, banks
    /// skewed as the timing model's `Region::bank` says.
    pub fn locate(&self, addr: u64) -> (usize, usize, usize) {
        let a = (addr % self.bytes) as usize;
        let (w, b) = (self.width, self.banks);
        let bank = skewed_bank((a / w) as u64, b as u64) as usize;
        (bank, a / (w * b), a % w)
    }

    /// The byte address of byte `byte` of the word at `row` of `bank`: `locate`'s inverse.
    pub fn address(&self, bank: usize, row: usize, byte: usize) -> u64 {
        let b = self.banks;
        ((row * b + (bank + b - row % b) % b) * self.width + byte) as u64
    }
}

/// Defines [`ByteRam`] over the address widths rust-hdl's RAM is instantiated for, with
/// `each_ram!` to run one body on whichever RAM a value holds (the body is expanded once per
/// width, so `Bits<N>` is inferred in each arm).
macro_rules! byte_ram {
    ($($variant:ident = $n:literal),* $(,)?) => {
        /// One byte lane of a bank word: a `RAM<Bits<8>, N>` whose `N` is chosen at run time.
        pub enum ByteRam {
            $(
                #[doc = concat!("`2^", stringify!($n), "` bytes.")]
                $variant(RAM<Bits<8>, $n>),
            )*
        }

        macro_rules! each_ram {
            ($ram:expr, $r:ident => $body:expr) => {
                match $ram {
                    $(ByteRam::$variant($r) => $body,)*
                }
            };
        }

        impl ByteRam {
            /// A RAM `2^row_bits` bytes deep, if rust-hdl's RAM is instantiated for it.
            fn new(row_bits: usize) -> Option<Self> {
                match row_bits {
                    $($n => Some(ByteRam::$variant(RAM::default())),)*
                    _ => None,
                }
            }
        }
    };
}

byte_ram!(
    A4 = 4,
    A5 = 5,
    A6 = 6,
    A7 = 7,
    A8 = 8,
    A9 = 9,
    A10 = 10,
    A11 = 11,
    A12 = 12,
    A13 = 13,
    A14 = 14,
    A15 = 15,
    A16 = 16,
);

impl ByteRam {
    /// Drives every input for the next settle; `raddr` and `waddr` are already below the depth.
    fn drive(&mut self, clock: Clock, raddr: u64, waddr: u64, data: u8, enable: bool) {
        each_ram!(self, r => {
            r.read_clock.next = clock;
            r.write_clock.next = clock;
            r.read_address.next = bits(raddr);
            r.write_address.next = bits(waddr);
            r.write_data.next = bits(data as LiteralType);
            r.write_enable.next = enable;
        })
    }

    /// The registered read.
    fn read_data(&self) -> u8 {
        each_ram!(self, r => r.read_data.val().index() as u8)
    }

    /// Marks the inputs the parent drives as connected, for rust-hdl's checks.
    fn connect_inputs(&mut self) {
        each_ram!(self, r => {
            r.read_clock.connect();
            r.write_clock.connect();
            r.read_address.connect();
            r.write_address.connect();
            r.write_data.connect();
            r.write_enable.connect();
        })
    }
}

// The enum is transparent: it visits its RAM under its own name, so the RAM's ports, model
// and Verilog are what rust-hdl sees.
impl Block for ByteRam {
    fn connect_all(&mut self) {
        each_ram!(self, r => r.connect_all())
    }
    fn update_all(&mut self) {
        each_ram!(self, r => r.update_all())
    }
    fn has_changed(&self) -> bool {
        each_ram!(self, r => r.has_changed())
    }
    fn accept(&self, name: &str, probe: &mut dyn Probe) {
        each_ram!(self, r => r.accept(name, probe))
    }
}

impl Logic for ByteRam {
    fn update(&mut self) {}
}

/// A banked region of rust-hdl RAMs; see the module docs.
#[derive(LogicBlock)]
pub struct BankedRegion {
    /// The clock of every port.
    pub clock: Signal<In, Clock>,
    /// Per bank: byte enables of its write (bit `j`: byte `j`; the low `width` bits are used).
    pub wen: Vec<Signal<In, Bits<8>>>,
    /// Per bank: the row written.
    pub wrow: Vec<Signal<In, Bits<16>>>,
    /// Per bank: the bytes (byte `j` in bits `8j … 8j+7`).
    pub wdata: Vec<Signal<In, Bits<64>>>,
    /// Per copy `c` and bank `b`, at `c·banks + b`: the row read.
    pub rrow: Vec<Signal<In, Bits<16>>>,
    /// Per copy and bank, as `rrow`: the word at the row presented a cycle earlier, as it was
    /// before that cycle's write.
    pub rdata: Vec<Signal<Out, Bits<64>>>,
    /// The byte RAMs, `(c·banks + b)·width + j` for byte `j` of bank `b` in copy `c`.
    pub byte_ram: Vec<ByteRam>,
    _shape: RegionShape,
}

impl BankedRegion {
    /// A region of the given shape (see [`RegionShape::new`] for what is supported);
    /// `connect_all` is left to the caller, as for every block.
    pub fn new(bytes: u64, banks: usize, width: usize, copies: usize) -> Result<Self, HwError> {
        Self::from_shape(RegionShape::new(bytes, banks, width, copies)?)
    }

    /// A region of a checked shape.
    pub fn from_shape(shape: RegionShape) -> Result<Self, HwError> {
        let rams = shape.copies() * shape.banks() * shape.width();
        let byte_ram = (0..rams)
            .map(|_| ByteRam::new(shape.row_bits()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| HwError::Unsupported {
                field: "bytes",
                value: shape.bytes().to_string(),
                reason: format!("no byte RAM is {} rows deep", shape.depth()),
                allowed: format!("depths {MIN_DEPTH} ..= {MAX_DEPTH}, powers of two"),
            })?;
        let ports = shape.copies() * shape.banks();
        Ok(Self {
            clock: Default::default(),
            wen: signals(shape.banks()),
            wrow: signals(shape.banks()),
            wdata: signals(shape.banks()),
            rrow: signals(ports),
            rdata: signals(ports),
            byte_ram,
            _shape: shape,
        })
    }

    /// The shape the region was built with.
    pub fn shape(&self) -> RegionShape {
        self._shape
    }

    fn verilog(&self) -> String {
        let s = self._shape;
        let (n, w) = (s.row_bits(), s.width());
        let mut v = String::from("always @(*) begin\n");
        for i in 0..self.byte_ram.len() {
            let _ = writeln!(v, "    byte_ram${i}$read_clock = clock;");
            let _ = writeln!(v, "    byte_ram${i}$write_clock = clock;");
        }
        v.push_str("end\nalways @(*) begin\n");
        for port in 0..s.copies() * s.banks() {
            let b = port % s.banks();
            let mut word = Vec::new();
            for j in (0..w).rev() {
                let i = port * w + j;
                let _ = writeln!(
                    v,
                    "    byte_ram${i}$read_address = rrow${port}[{}:0];",
                    n - 1
                );
                let _ = writeln!(v, "    byte_ram${i}$write_address = wrow${b}[{}:0];", n - 1);
                let _ = writeln!(
                    v,
                    "    byte_ram${i}$write_data = wdata${b}[{}:{}];",
                    8 * j + 7,
                    8 * j
                );
                let _ = writeln!(v, "    byte_ram${i}$write_enable = wen${b}[{j}];");
                word.push(format!("byte_ram${i}$read_data"));
            }
            if w < 8 {
                word.insert(0, format!("{}'d0", 64 - 8 * w));
            }
            let _ = writeln!(v, "    rdata${port} = {{{}}};", word.join(", "));
        }
        v.push_str("end\n");
        // Row bits above the depth, enables above the width and data above 8·width bits are
        // deliberately ignored: Verilator's default `*unused*` pattern waives them.
        let mut unused = Vec::new();
        if n < 16 {
            unused.extend((0..s.copies() * s.banks()).map(|p| format!("rrow${p}[15:{n}]")));
            unused.extend((0..s.banks()).map(|b| format!("wrow${b}[15:{n}]")));
        }
        if w < 8 {
            unused.extend((0..s.banks()).map(|b| format!("wen${b}[7:{w}]")));
            unused.extend((0..s.banks()).map(|b| format!("wdata${b}[63:{}]", 8 * w)));
        }
        if !unused.is_empty() {
            let _ = writeln!(v, "wire _unused_bits = &{{1'b0, {}}};", unused.join(", "));
        }
        v
    }
}

impl Logic for BankedRegion {
    fn update(&mut self) {
        let s = self._shape;
        let (w, mask) = (s.width(), s.depth() as u64 - 1);
        let clock = self.clock.val();
        for port in 0..s.copies() * s.banks() {
            let b = port % s.banks();
            let raddr = self.rrow[port].val().index() as u64 & mask;
            let waddr = self.wrow[b].val().index() as u64 & mask;
            let (wen, wdata) = (self.wen[b].val().index(), self.wdata[b].val());
            let mut word: u64 = 0;
            for j in 0..w {
                let ram = &mut self.byte_ram[port * w + j];
                let byte = wdata.get_bits::<8>(8 * j).index() as u8;
                ram.drive(clock, raddr, waddr, byte, wen >> j & 1 == 1);
                word |= u64::from(ram.read_data()) << (8 * j);
            }
            self.rdata[port].next = bits(word);
        }
    }

    fn connect(&mut self) {
        self.rdata.iter_mut().for_each(|s| s.connect());
        self.byte_ram.iter_mut().for_each(ByteRam::connect_inputs);
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}

/// One bank's write in one cycle: byte `j` of `data` goes to byte `j` of the word at `row`
/// where bit `j` of `enables` is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BankWrite {
    /// Byte enables (the low `width` bits are used).
    pub enables: u8,
    /// The row (modulo the depth).
    pub row: u16,
    /// The bytes, byte `j` in bits `8j … 8j+7`.
    pub data: u64,
}

/// [`BankedRegion`] in plain Rust, cycle for cycle: the bytes of each copy (by byte address)
/// and the registered read words.
#[derive(Clone, Debug)]
pub struct BankedRegionModel {
    shape: RegionShape,
    mem: Vec<Vec<u8>>,
    rdata: Vec<u64>,
}

impl BankedRegionModel {
    /// A region of `shape`, all bytes and read words zero (as the RAMs start in Verilator).
    pub fn new(shape: RegionShape) -> Self {
        Self {
            shape,
            mem: vec![vec![0; shape.bytes() as usize]; shape.copies()],
            rdata: vec![0; shape.copies() * shape.banks()],
        }
    }

    /// The shape modelled.
    pub fn shape(&self) -> RegionShape {
        self.shape
    }

    /// One clock edge: `writes` has one entry per bank, `reads` one row per copy and bank
    /// (`c·banks + b`). The reads sample the bytes before the writes (read-first); the writes
    /// go to every copy.
    pub fn step(&mut self, writes: &[BankWrite], reads: &[u16]) -> Result<(), HwError> {
        let s = self.shape;
        if writes.len() != s.banks() || reads.len() != s.copies() * s.banks() {
            return Err(HwError::Usage(format!(
                "a cycle of a {}-bank, {}-copy region takes {} writes and {} reads, not {} and {}",
                s.banks(),
                s.copies(),
                s.banks(),
                s.copies() * s.banks(),
                writes.len(),
                reads.len()
            )));
        }
        for (port, &row) in reads.iter().enumerate() {
            self.rdata[port] = self.word(port / s.banks(), port % s.banks(), row);
        }
        for (bank, wr) in writes.iter().enumerate() {
            let row = usize::from(wr.row) % s.depth();
            for j in (0..s.width()).filter(|j| wr.enables >> j & 1 == 1) {
                let a = s.address(bank, row, j) as usize;
                for copy in &mut self.mem {
                    copy[a] = (wr.data >> (8 * j)) as u8;
                }
            }
        }
        Ok(())
    }

    /// The registered read of copy `copy`, bank `bank` (the RTL's `rdata$(copy·banks + bank)`).
    pub fn rdata(&self, copy: usize, bank: usize) -> u64 {
        self.rdata[copy * self.shape.banks() + bank]
    }

    /// The word at `row` (modulo the depth) of `bank` in copy `copy`, now.
    pub fn word(&self, copy: usize, bank: usize, row: u16) -> u64 {
        let s = self.shape;
        let row = usize::from(row) % s.depth();
        (0..s.width()).fold(0, |acc, j| {
            acc | u64::from(self.mem[copy][s.address(bank, row, j) as usize]) << (8 * j)
        })
    }

    /// The byte at byte address `addr` (modulo the region) of copy `copy`, now.
    pub fn byte(&self, copy: usize, addr: u64) -> u8 {
        self.mem[copy][(addr % self.shape.bytes()) as usize]
    }
}

/// The one bank shape of `arch`'s three regions — banks, bank width and the row bits of the
/// deepest — for a unit that reaches every region through bundles of one shape; otherwise why
/// not, with `why` (what the unit's bundles are).
pub(crate) fn one_bank_shape(arch: &Arch, why: &str) -> Result<(usize, usize, usize), HwError> {
    let regions = [&arch.weight, &arch.input, &arch.output];
    let first = regions[0];
    if let Some(r) = regions.iter().find(|r| {
        r.banking != Banking::Physical
            || r.banks != first.banks
            || r.bank_width_bytes != first.bank_width_bytes
    }) {
        return Err(HwError::unsupported(
            arch,
            "scratchpad regions",
            r.banks,
            &format!("{why}: all three must be physical, with the same banks and bank width"),
            "physical regions of one bank shape",
        ));
    }
    let width = first.bank_width_bytes.max(1);
    let rows = regions
        .iter()
        .map(|r| (r.bytes / (r.banks.max(1) * width)).max(1))
        .max()
        .unwrap_or(1);
    Ok((
        first.banks as usize,
        width as usize,
        rows.next_power_of_two().trailing_zeros() as usize,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_interleaves_words_over_skewed_banks() {
        let s = RegionShape::new(512, 4, 8, 2).unwrap();
        assert_eq!((s.depth(), s.row_bits()), (16, 4));
        assert_eq!(s.locate(0), (0, 0, 0));
        assert_eq!(s.locate(7), (0, 0, 7));
        assert_eq!(s.locate(8), (1, 0, 0));
        assert_eq!(s.locate(31), (3, 0, 7));
        // Row 1 is rotated by one bank.
        assert_eq!(s.locate(32), (1, 1, 0));
        assert_eq!(s.locate(56), (0, 1, 0));
        assert_eq!(s.locate(512 + 45), s.locate(45));
        let text = include_str!("../../configs/arch/sat-small.yaml");
        let region = nmsat_compiler::arch::Arch::parse("s.yaml", text)
            .unwrap()
            .input;
        for word in 0..4096 {
            assert_eq!(s.locate(word * 8).0 as u64, region.bank(word % 64));
        }
        for a in 0..512 {
            let (b, r, j) = s.locate(a);
            assert_eq!(s.address(b, r, j), a);
        }
    }

    #[test]
    fn the_model_reads_first_and_writes_every_copy() {
        let s = RegionShape::new(256, 2, 4, 3).unwrap();
        let mut m = BankedRegionModel::new(s);
        let write = BankWrite {
            enables: 0b0101,
            row: 3,
            data: 0x4433_2211,
        };
        m.step(&[BankWrite::default(), write], &[3; 6]).unwrap();
        assert_eq!(m.rdata(0, 1), 0, "read-first");
        m.step(&[BankWrite::default(); 2], &[3; 6]).unwrap();
        for c in 0..3 {
            assert_eq!(m.rdata(c, 1), 0x0033_0011, "copy {c}");
            assert_eq!(m.byte(c, s.address(1, 3, 2)), 0x33);
        }
        // Rows wrap modulo the depth (256 / (2·4) = 32).
        assert_eq!(m.word(2, 1, 3 + 32), 0x0033_0011);
        assert!(m.step(&[], &[]).is_err());
    }
}
