//! `Dma`: the DMA engine behind the core's load and store queues: 2-D copies between the
//! DRAM port and a scratchpad region, one 8-byte DRAM word a cycle, requantizing INT32
//! accumulators to INT16 on stores when asked. A scatter's rows are the pixels of a stride
//! phase's grid, which the walkers step through (see [`RowWalker`]); its scratchpad side is a
//! plain or a transposed block. A gathering load (`Im2col`, `ConvBp`) streams the DRAM rows
//! its shape implies like a copy, and its [`GatherMap`] sends every answered element to each
//! of its places in the tile through the region's replicating write (the padding filled
//! alongside, past the bytes this transfer has already set).
//!
//! ```text
//!            start ─► Setup (setup_cycles) ─► Stream ─────────────────────────► Idle
//!  request walker ──► mem_valid/addr/wdata   one word a cycle, in transfer order
//!  response walker ◄─ mem_rvalid/rdata       the same words, `latency` cycles later
//!  load:  response word ─► >> 8·lo ─► scratchpad write (n bytes at sp)
//!  gather: response word ─► >> 8·lo ─► gather map (row, column: the walker's sp from 0)
//!          ─► replicating write (each element at up to 9 addresses); the fill alongside
//!  store: scratchpad read (one cycle ahead) ─► [requant] ─► << 8·lo ─► DRAM write (mask)
//! ```
//!
//! **Timing.** Issued at τ, the engine spends `setup` cycles, then requests word w at
//! τ + setup + w for the `W` words the transfer touches; the memory answers each request
//! (read data, or a write's acknowledgement) `latency` cycles later, and the engine is done
//! in the cycle the last answer arrives, so it is busy for
//!
//! ```text
//! setup + W + latency  =  setup + latency + ⌈dram_bytes / 8⌉
//! ```
//!
//! which is `timing::dma_cycles` whenever the DRAM link is one 8-byte word a cycle and the
//! scratchpad side is not the bottleneck (its bandwidth at least twice the link's, so even a
//! requantizing store, which reads 4 scratchpad bytes per DRAM byte pair, keeps up):
//! [`check_arch`] says so before any RTL is built.
//!
//! A gather's tile can outgrow its DRAM rows (a 3 × 3 window repeats each element up to 9
//! times), so its scratchpad side may be the bottleneck. The model then charges
//! `S = ⌈sp_bytes / (banks·width)⌉` beats from the first answer; the replicating write has
//! every copy in place when its word arrives, and the engine holds the transfer (and the DRAM)
//! until both sides are through: done in the cycle
//!
//! ```text
//! τ + setup + latency + max(W, S) − 1,   beats counted from the first answer (cycle τ+setup+latency)
//! ```
//!
//! which is `timing::dma_cycles` again. The encoder sends `S` with every load (stores never
//! need it: their scratchpad side is at most twice their DRAM side).
//!
//! Stores read the scratchpad one cycle ahead of each DRAM write (its read latency), which is
//! why `setup` must be at least 2: the first read happens in the last setup cycle.

use crate::gather_map::{GatherMap, GATHER_FIELDS, GATHER_PORTS, WORD_ELEMS};
use crate::row_walker::RowWalker;
use crate::scratchpad::SCATTER;
use rust_hdl::prelude::*;

/// Engine states, kept in a plain 2-bit register (rust-hdl's state enums leave unused
/// parameters in the Verilog, which lint flags): waiting for `start`, counting the setup
/// cycles, requesting words and taking the answers.
const STATES: [u64; 3] = [0, 1, 2];

/// INT32 (Q.2f) → INT16 (Q.f): round half up, then saturate (`datapath::requant`).
///
/// With `K = 2^(38−f)`, `u = (x + 2^(f−1) + 2^38) >> f` is `⌊(x + 2^(f−1))/2^f⌋ + K` computed
/// on non-negative 40-bit numbers, so a logical shift is the arithmetic one; saturation
/// compares `u` with `K ± 2^15`.
#[derive(LogicBlock)]
pub struct Requant {
    /// The accumulator, two's complement.
    pub x: Signal<In, Bits<32>>,
    /// The INT16 result.
    pub y: Signal<Out, Bits<16>>,
    ext: Signal<Local, Bits<40>>,
    u: Signal<Local, Bits<40>>,
    bias: Constant<Bits<40>>,
    shift: Constant<Bits<6>>,
    k: Constant<Bits<40>>,
    hi: Constant<Bits<40>>,
    lo: Constant<Bits<40>>,
}

impl Requant {
    /// A requantizer for `frac_bits` fraction bits (0..=15).
    pub fn new(frac_bits: u32) -> Self {
        let f = frac_bits as u64;
        let half = if f == 0 { 0 } else { 1 << (f - 1) };
        let k = 1u64 << (38 - f);
        Self {
            x: Default::default(),
            y: Default::default(),
            ext: Default::default(),
            u: Default::default(),
            bias: Constant::new(bits(half + (1 << 38))),
            shift: Constant::new(bits(f)),
            k: Constant::new(bits(k)),
            hi: Constant::new(bits(k + 0x7FFF)),
            lo: Constant::new(bits(k - 0x8000)),
        }
    }
}

impl Logic for Requant {
    #[hdl_gen]
    fn update(&mut self) {
        self.ext.next = bit_cast::<40, 32>(self.x.val());
        if self.x.val().get_bit(31) {
            self.ext.next = bit_cast::<40, 32>(self.x.val()) | (bits::<40>(255) << 32);
        }
        self.u.next = (self.ext.val() + self.bias.val()) >> self.shift.val();
        self.y.next = bit_cast::<16, 40>(self.u.val() - self.k.val());
        if self.u.val() > self.hi.val() {
            self.y.next = 0x7FFF.into();
        }
        if self.u.val() < self.lo.val() {
            self.y.next = 0x8000.into();
        }
    }
}

/// The DMA engine (one transfer at a time; the load and store queues share it because they
/// share the DRAM).
#[derive(LogicBlock)]
pub struct Dma {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// Begin the transfer described by the inputs below (only while idle).
    pub start: Signal<In, Bit>,
    /// 1: scratchpad → DRAM; 0: DRAM → scratchpad.
    pub store: Signal<In, Bit>,
    /// Stores only: the scratchpad holds INT32 accumulators, written as INT16.
    pub requant: Signal<In, Bit>,
    /// The INT16 block lands (loads) or is read (stores) transposed: column-major.
    pub transpose: Signal<In, Bit>,
    /// First DRAM byte.
    pub dram_addr: Signal<In, Bits<32>>,
    /// Rows.
    pub rows: Signal<In, Bits<16>>,
    /// Bytes per DRAM row.
    pub row_bytes: Signal<In, Bits<16>>,
    /// DRAM bytes from one row to the next.
    pub stride: Signal<In, Bits<32>>,
    /// First scratchpad byte.
    pub sp_addr: Signal<In, Bits<16>>,
    /// A scatter's grid (see [`RowWalker`]): rows per grid row, grid rows per image.
    pub grid_w: Signal<In, Bits<16>>,
    /// See `grid_w`.
    pub grid_h: Signal<In, Bits<16>>,
    /// Grid position of the first row.
    pub grid_x0: Signal<In, Bits<16>>,
    /// See `grid_x0`.
    pub grid_y0: Signal<In, Bits<16>>,
    /// DRAM bytes from a grid row's last row to the next row.
    pub row_jump: Signal<In, Bits<32>>,
    /// DRAM bytes from an image's last row to the next row.
    pub img_jump: Signal<In, Bits<32>>,
    /// A gathering load's fields (see `gather_map::field`); zero otherwise.
    pub gf: [Signal<In, Bits<32>>; GATHER_FIELDS],
    /// The transfer completes in this cycle (the engine is free the next).
    pub done: Signal<Out, Bit>,
    /// An answer arrived that no request asked for (sticky until the next `start`).
    pub fault: Signal<Out, Bit>,
    /// A DRAM request this cycle.
    pub mem_valid: Signal<Out, Bit>,
    /// It is a write.
    pub mem_write: Signal<Out, Bit>,
    /// Byte address of the requested word (a multiple of 8).
    pub mem_addr: Signal<Out, Bits<32>>,
    /// Write data.
    pub mem_wdata: Signal<Out, Bits<64>>,
    /// Write byte enables.
    pub mem_wmask: Signal<Out, Bits<8>>,
    /// The request is the transfer's last word (like AXI's LAST).
    pub mem_last: Signal<Out, Bit>,
    /// The word the engine takes this cycle's answer for (the memory checks it answers that).
    pub mem_rsp_addr: Signal<Out, Bits<32>>,
    /// The answer to the request made `latency` cycles ago.
    pub mem_rvalid: Signal<In, Bit>,
    /// Read data of that answer.
    pub mem_rdata: Signal<In, Bits<64>>,
    /// Scratchpad write byte enables.
    pub sp_we: Signal<Out, Bits<8>>,
    /// Scratchpad write address.
    pub sp_waddr: Signal<Out, Bits<16>>,
    /// Scratchpad write data.
    pub sp_wdata: Signal<Out, Bits<64>>,
    /// Scratchpad read address.
    pub sp_raddr: Signal<Out, Bits<16>>,
    /// Scratchpad read data (of the address presented the cycle before).
    pub sp_rdata: Signal<In, Bits<128>>,
    /// Transposing loads: element enables of the scratchpad's scatter write.
    pub sp_ewe: Signal<Out, Bits<SCATTER>>,
    /// Their byte addresses.
    pub sp_eaddr: [Signal<Out, Bits<16>>; SCATTER],
    /// The elements.
    pub sp_edata: [Signal<Out, Bits<16>>; SCATTER],
    /// Transposing stores: byte addresses of the scratchpad's gather read.
    pub sp_gaddr: [Signal<Out, Bits<16>>; SCATTER],
    /// Its data, the cycle after.
    pub sp_gdata: [Signal<In, Bits<32>>; SCATTER],
    /// Gathering loads: enables of the scratchpad's replicating write (port `t·4 + e` writes
    /// element e of the answered word).
    pub sp_rwe: Signal<Out, Bits<GATHER_PORTS>>,
    /// Their byte addresses.
    pub sp_rwaddr: [Signal<Out, Bits<16>>; GATHER_PORTS],
    /// The answered word's elements.
    pub sp_rwdata: [Signal<Out, Bits<16>>; WORD_ELEMS],
    /// Im2col loads with padding: set `sp_fill_n` scratchpad bytes from `sp_fill_addr` to the
    /// pad value.
    pub sp_fill: Signal<Out, Bit>,
    /// See `sp_fill`.
    pub sp_fill_addr: Signal<Out, Bits<16>>,
    /// See `sp_fill`.
    pub sp_fill_n: Signal<Out, Bits<9>>,
    /// See `sp_fill`.
    pub sp_fill_value: Signal<Out, Bits<16>>,
    /// A transfer starts: the regions count it, so that the fill leaves only the bytes its own
    /// gather set (see [`crate::Scratchpad`]).
    pub sp_xfer_start: Signal<Out, Bit>,
    /// Where a gathering load's elements land.
    pub gather: GatherMap,
    /// Walks the words as they are requested (stores: as their bytes are read).
    pub req: RowWalker,
    /// Walks the words as they are answered.
    pub rsp: RowWalker,
    /// Requantizes the four accumulators of one DRAM word.
    pub quant: [Requant; 4],
    state: DFF<Bits<2>>,
    faulted: DFF<Bit>,
    staged_last: DFF<Bit>,
    count: DFF<Bits<16>>,
    is_store: DFF<Bit>,
    is_requant: DFF<Bit>,
    is_transpose: DFF<Bit>,
    // Stores: the word whose bytes were read last cycle, written to DRAM this cycle.
    staged: DFF<Bit>,
    staged_word: DFF<Bits<32>>,
    staged_lo: DFF<Bits<4>>,
    staged_n: DFF<Bits<4>>,
    // The scratchpad beats elapsed since the first answer, and whether it came / all came.
    beats: DFF<Bits<32>>,
    pacing: DFF<Bit>,
    arrived: DFF<Bit>,
    beat_now: Signal<Local, Bit>,
    all_in: Signal<Local, Bit>,
    setup: Constant<Bits<16>>,
    idle: Constant<Bits<2>>,
    setup_state: Constant<Bits<2>>,
    stream: Constant<Bits<2>>,
    fetch: Signal<Local, Bit>,
    word_data: Signal<Local, Bits<64>>,
    // Offsets of a word's elements in a transposed block: 0, 1, 2 and 3 element strides.
    req_off: [Signal<Local, Bits<16>>; SCATTER],
    rsp_off: [Signal<Local, Bits<16>>; SCATTER],
    load_elems: Signal<Local, Bits<5>>,
    lo_bits: Signal<Local, Bits<6>>,
    store_mask: Signal<Local, Bits<9>>,
    load_mask: Signal<Local, Bits<9>>,
}

impl Dma {
    /// An engine with `setup_cycles` (≥ 2) of setup and the datapath's `frac_bits`.
    pub fn new(setup_cycles: u64, frac_bits: u32) -> Self {
        Self {
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
            fault: Default::default(),
            mem_valid: Default::default(),
            mem_write: Default::default(),
            mem_addr: Default::default(),
            mem_wdata: Default::default(),
            mem_wmask: Default::default(),
            mem_last: Default::default(),
            mem_rsp_addr: Default::default(),
            mem_rvalid: Default::default(),
            mem_rdata: Default::default(),
            sp_we: Default::default(),
            sp_waddr: Default::default(),
            sp_wdata: Default::default(),
            sp_raddr: Default::default(),
            sp_rdata: Default::default(),
            sp_ewe: Default::default(),
            sp_eaddr: Default::default(),
            sp_edata: Default::default(),
            sp_gaddr: Default::default(),
            sp_gdata: Default::default(),
            sp_rwe: Default::default(),
            sp_rwaddr: std::array::from_fn(|_| Default::default()),
            sp_rwdata: Default::default(),
            sp_fill: Default::default(),
            sp_fill_addr: Default::default(),
            sp_fill_n: Default::default(),
            sp_fill_value: Default::default(),
            sp_xfer_start: Default::default(),
            gather: Default::default(),
            req: Default::default(),
            rsp: Default::default(),
            quant: std::array::from_fn(|_| Requant::new(frac_bits)),
            state: Default::default(),
            faulted: Default::default(),
            staged_last: Default::default(),
            count: Default::default(),
            is_store: Default::default(),
            is_requant: Default::default(),
            is_transpose: Default::default(),
            staged: Default::default(),
            staged_word: Default::default(),
            staged_lo: Default::default(),
            staged_n: Default::default(),
            beats: Default::default(),
            pacing: Default::default(),
            arrived: Default::default(),
            beat_now: Default::default(),
            all_in: Default::default(),
            setup: Constant::new(bits(setup_cycles)),
            idle: Constant::new(bits(STATES[0])),
            setup_state: Constant::new(bits(STATES[1])),
            stream: Constant::new(bits(STATES[2])),
            fetch: Default::default(),
            word_data: Default::default(),
            req_off: Default::default(),
            rsp_off: Default::default(),
            load_elems: Default::default(),
            lo_bits: Default::default(),
            store_mask: Default::default(),
            load_mask: Default::default(),
        }
    }
}

impl Logic for Dma {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            faulted,
            staged_last,
            count,
            is_store,
            is_requant,
            is_transpose,
            staged,
            staged_word,
            staged_lo,
            staged_n,
            beats,
            pacing,
            arrived
        );
        clock!(self, clock, req, rsp, gather);
        self.gather.start.next = self.start.val();
        for j in 0..GATHER_FIELDS {
            self.gather.f[j].next = self.gf[j].val();
        }
        self.gather.sp.next = self.rsp.sp.val();
        self.gather.n.next = self.rsp.n.val();
        // Both walkers see the transfer at `start`.
        self.req.start.next = self.start.val();
        self.req.dram_addr.next = self.dram_addr.val();
        self.req.rows.next = self.rows.val();
        self.req.row_bytes.next = self.row_bytes.val();
        self.req.stride.next = self.stride.val();
        self.req.sp_addr.next = self.sp_addr.val();
        self.req.wide.next = self.requant.val();
        self.req.grid_w.next = self.grid_w.val();
        self.req.grid_h.next = self.grid_h.val();
        self.req.grid_x0.next = self.grid_x0.val();
        self.req.grid_y0.next = self.grid_y0.val();
        self.req.row_jump.next = self.row_jump.val();
        self.req.img_jump.next = self.img_jump.val();
        self.rsp.start.next = self.start.val();
        self.rsp.dram_addr.next = self.dram_addr.val();
        self.rsp.rows.next = self.rows.val();
        self.rsp.row_bytes.next = self.row_bytes.val();
        self.rsp.stride.next = self.stride.val();
        self.rsp.sp_addr.next = self.sp_addr.val();
        self.rsp.wide.next = self.requant.val();
        self.rsp.grid_w.next = self.grid_w.val();
        self.rsp.grid_h.next = self.grid_h.val();
        self.rsp.grid_x0.next = self.grid_x0.val();
        self.rsp.grid_y0.next = self.grid_y0.val();
        self.rsp.row_jump.next = self.row_jump.val();
        self.rsp.img_jump.next = self.img_jump.val();

        // Loads request during Stream; stores read a cycle earlier, from the last setup cycle.
        self.fetch.next = false;
        if (self.state.q.val() == self.idle.val()) & self.start.val() {
            self.state.d.next = self.setup_state.val();
            self.count.d.next = self.setup.val() - 1;
            self.is_store.d.next = self.store.val();
            self.is_requant.d.next = self.requant.val();
            self.is_transpose.d.next = self.transpose.val();
        }
        if self.state.q.val() == self.setup_state.val() {
            self.count.d.next = self.count.q.val() - 1;
            if self.count.q.val() == 1 {
                self.state.d.next = self.stream.val();
                self.fetch.next = self.is_store.q.val() & self.req.more.val();
            }
        }
        // Done once the last answer is in and the scratchpad side has had the beats the model
        // charges it, counted from the first answer (only a gather's can outlast the DRAM's).
        self.beat_now.next = self.mem_rvalid.val() | self.pacing.q.val();
        self.all_in.next = (self.mem_rvalid.val() & self.rsp.last.val()) | self.arrived.q.val();
        self.done.next = (self.state.q.val() == self.stream.val())
            & self.all_in.val()
            & self.beat_now.val()
            & (self.beats.q.val() + 1 >= self.gather.sp_beats.val());
        if self.state.q.val() == self.stream.val() {
            self.fetch.next = self.req.more.val();
            if self.beat_now.val() {
                self.pacing.d.next = true;
                self.beats.d.next = self.beats.q.val() + 1;
            }
            if self.all_in.val() {
                self.arrived.d.next = true;
            }
            if self.done.val() {
                self.state.d.next = self.idle.val();
            }
        }
        if self.start.val() {
            self.beats.d.next = 0.into();
            self.pacing.d.next = false;
            self.arrived.d.next = false;
        }
        if self.mem_rvalid.val() & !self.rsp.more.val() {
            self.faulted.d.next = true;
        }
        if self.start.val() {
            self.faulted.d.next = false;
        }
        self.fault.next = self.faulted.q.val();
        self.mem_rsp_addr.next = self.rsp.word.val();
        self.req.advance.next = self.fetch.val();
        self.rsp.advance.next = self.mem_rvalid.val();

        // Stores: stage the word being read; write it to DRAM the next cycle.
        self.sp_raddr.next = self.req.sp.val();
        self.staged.d.next = self.fetch.val() & self.is_store.q.val();
        self.staged_word.d.next = self.req.word.val();
        self.staged_lo.d.next = self.req.lo.val();
        self.staged_n.d.next = self.req.n.val();
        self.staged_last.d.next = self.req.last.val();
        self.req_off[0].next = 0.into();
        self.req_off[1].next = self.req.estride.val();
        self.req_off[2].next = self.req.estride.val() << 1;
        self.req_off[3].next = (self.req.estride.val() << 1) + self.req.estride.val();
        for e in 0..SCATTER {
            self.sp_gaddr[e].next = self.req.tsp.val() + self.req_off[e].val();
        }
        for i in 0..4 {
            self.quant[i].x.next = self.sp_rdata.val().get_bits::<32>(i * 32);
        }
        self.word_data.next = self.sp_rdata.val().get_bits::<64>(0);
        if self.is_transpose.q.val() {
            for i in 0..4 {
                self.quant[i].x.next = self.sp_gdata[i].val();
            }
            self.word_data.next = bit_cast::<64, 16>(self.sp_gdata[0].val().get_bits::<16>(0))
                | (bit_cast::<64, 16>(self.sp_gdata[1].val().get_bits::<16>(0)) << 16)
                | (bit_cast::<64, 16>(self.sp_gdata[2].val().get_bits::<16>(0)) << 32)
                | (bit_cast::<64, 16>(self.sp_gdata[3].val().get_bits::<16>(0)) << 48);
        }
        if self.is_requant.q.val() {
            self.word_data.next = bit_cast::<64, 16>(self.quant[0].y.val())
                | (bit_cast::<64, 16>(self.quant[1].y.val()) << 16)
                | (bit_cast::<64, 16>(self.quant[2].y.val()) << 32)
                | (bit_cast::<64, 16>(self.quant[3].y.val()) << 48);
        }
        self.lo_bits.next = bit_cast::<6, 4>(self.staged_lo.q.val()) << 3;
        self.mem_valid.next = false;
        self.mem_write.next = false;
        self.mem_addr.next = self.req.word.val();
        self.mem_last.next = self.req.last.val();
        self.mem_wdata.next = self.word_data.val() << self.lo_bits.val();
        self.store_mask.next = (bits::<9>(1) << self.staged_n.q.val()) - 1;
        self.mem_wmask.next = bit_cast::<8, 9>(self.store_mask.val()) << self.staged_lo.q.val();
        if self.is_store.q.val() {
            self.mem_valid.next = self.staged.q.val();
            self.mem_write.next = self.staged.q.val();
            self.mem_addr.next = self.staged_word.q.val();
            self.mem_last.next = self.staged_last.q.val();
        } else {
            self.mem_valid.next = self.fetch.val();
        }

        // Loads: the answered word's useful bytes go to the scratchpad.
        self.sp_we.next = 0.into();
        self.load_mask.next = (bits::<9>(1) << self.rsp.n.val()) - 1;
        self.sp_waddr.next = self.rsp.sp.val();
        self.sp_wdata.next = self.mem_rdata.val() >> (bit_cast::<6, 4>(self.rsp.lo.val()) << 3);
        self.rsp_off[0].next = 0.into();
        self.rsp_off[1].next = self.rsp.estride.val();
        self.rsp_off[2].next = self.rsp.estride.val() << 1;
        self.rsp_off[3].next = (self.rsp.estride.val() << 1) + self.rsp.estride.val();
        for e in 0..SCATTER {
            self.sp_eaddr[e].next = self.rsp.tsp.val() + self.rsp_off[e].val();
            self.sp_edata[e].next = self.sp_wdata.val().get_bits::<16>(e * 16);
        }
        // A transposed word holds whole elements: n/2 of them.
        self.load_elems.next = (bits::<5>(1) << (self.rsp.n.val() >> 1)) - 1;
        self.sp_ewe.next = 0.into();
        // Gathers: every copy of the word's elements through the replicating write.
        for e in 0..WORD_ELEMS {
            self.sp_rwdata[e].next = self.sp_edata[e].val();
        }
        for j in 0..GATHER_PORTS {
            self.sp_rwaddr[j].next = self.gather.addr[j].val();
        }
        self.sp_rwe.next = 0.into();
        self.sp_fill.next = self.gather.fill.val();
        self.sp_fill_addr.next = self.gather.fill_addr.val();
        self.sp_fill_n.next = self.gather.fill_n.val();
        self.sp_fill_value.next = self.gather.fill_value.val();
        self.sp_xfer_start.next = self.start.val();
        if self.mem_rvalid.val() & !self.is_store.q.val() & self.gather.active.val() {
            self.sp_rwe.next = self.gather.we.val();
        }
        if self.mem_rvalid.val() & !self.is_store.q.val() & !self.gather.active.val() {
            if self.is_transpose.q.val() {
                self.sp_ewe.next = bit_cast::<SCATTER, 5>(self.load_elems.val());
            } else {
                self.sp_we.next = bit_cast::<8, 9>(self.load_mask.val());
            }
        }
    }
}

/// Whether the engine runs `arch`'s transfers in `timing::dma_cycles`: see the module docs.
pub fn check_arch(arch: &nmsat_compiler::arch::Arch) -> Result<(), crate::HwError> {
    use nmsat_compiler::arch::RegionId;
    let link = arch.dma.bytes_per_cycle.min(arch.dram_bytes_per_cycle());
    let unsupported = |field, value, reason: &str, allowed: &str| {
        Err(crate::HwError::unsupported(
            arch, field, value, reason, allowed,
        ))
    };
    if arch.dram.access_bytes != WORD {
        return unsupported(
            "dram.access_bytes",
            arch.dram.access_bytes,
            "the RTL DMA engine moves 8-byte DRAM words",
            "8",
        );
    }
    if link != WORD {
        return unsupported(
            "dma.bytes_per_cycle",
            link,
            "the RTL DMA engine moves one DRAM word a cycle, so the link (the lower of \
             dma.bytes_per_cycle and the DRAM channels' bytes a cycle) must be 8",
            "a link of 8 bytes a cycle",
        );
    }
    if arch.dma.setup_cycles < 2 {
        return unsupported(
            "dma.setup_cycles",
            arch.dma.setup_cycles,
            "a store reads the scratchpad in the last setup cycle",
            "≥ 2",
        );
    }
    if arch.dram.latency < 1 {
        return unsupported(
            "dram.latency",
            arch.dram.latency,
            "the DRAM port answers a request at the earliest the cycle after",
            "≥ 1",
        );
    }
    for r in RegionId::ALL {
        let region = arch.region(r);
        if region.bytes_per_cycle() < 2 * WORD {
            return unsupported(
                "scratchpads.*.banks",
                region.bytes_per_cycle(),
                &format!(
                    "the {} scratchpad must take at least 16 bytes a cycle (banks × width) so \
                     that a requantizing store never waits for it",
                    r.name()
                ),
                "banks × bank_width_bytes ≥ 16",
            );
        }
        // The fill then ends within the scratchpad beats the engine holds a gather for.
        if region.bytes_per_cycle() > crate::gather_map::FILL_BYTES as u64 {
            return unsupported(
                "scratchpads.*.banks",
                region.bytes_per_cycle(),
                &format!(
                    "the {} scratchpad must take at most the fill port's {} bytes a cycle \
                     (banks × width), so that an im2col tile's padding is set before its \
                     gather ends",
                    r.name(),
                    crate::gather_map::FILL_BYTES
                ),
                "banks × bank_width_bytes ≤ 256",
            );
        }
        if region.bytes > 1 << 16 {
            return unsupported(
                "scratchpads.*.bytes",
                region.bytes,
                "scratchpad addresses are 16 bits in the RTL",
                "≤ 65536",
            );
        }
    }
    Ok(())
}

/// DRAM word bytes.
const WORD: u64 = crate::row_walker::WORD_BYTES;
