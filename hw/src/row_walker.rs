//! `RowWalker`: walks the 8-byte DRAM words a 2-D transfer touches, in transfer order, and says
//! which bytes of each word belong to it and where they go in the scratchpad.
//!
//! A transfer moves `rows` rows of `row_bytes`, `stride` apart from `dram_addr`. Row `i`
//! spans `[s, e) = [dram_addr + i·stride, s + row_bytes)` and touches the words
//! `⌊s/8⌋ … ⌊(e−1)/8⌋` — exactly the words `timing::dram_bytes` charges. For the word at byte
//! address `a` the useful bytes are `[b0, b1) = [max(a, s), min(a+8, e))`, so
//!
//! ```text
//! lo = b0 − a,   n = b1 − b0,   sp = sp_addr + (i·row_bytes + b0 − s)·(2 if wide else 1)
//! ```
//!
//! where `wide` scales the scratchpad side for stores of INT32 accumulators as INT16. For a
//! transposing transfer the elements of row `i` land a column apart: element `j` at
//! `sp_addr + (j·rows + i)·e` (`e` = 2, or 4 when wide), so the word's first element is at
//! `tsp = sp_addr + i·e + ((b0 − s)/2)·rows·e` and the next ones `estride = rows·e` further;
//! the walker keeps `tsp` by additions only (`+ (n/2)·estride` a word, `+ e` a row). The
//! walker holds `(i, s, a)` and the running `i·row_bytes`; `advance` steps to the next word
//! (the next row's first word after a row's last), `start` loads a transfer. The DMA engine
//! runs two walkers over the same transfer: one that issues requests and one that consumes
//! the responses `latency` cycles later, so no per-request state needs storing.
//!
//! **Grids.** A scatter's rows are the pixels of a stride phase's grid: `stride` apart inside
//! a grid row, further at the end of one. The walker counts the rows' grid position `(x, y)`
//! from `(grid_x0, grid_y0)` and steps the row start by `stride`, by `row_jump` after the last
//! of `grid_w` pixels of a grid row, or by `img_jump` after the last grid row of `grid_h` (the
//! encoder computes the jumps). A plain transfer is one grid row as long as the transfer.

use rust_hdl::prelude::*;

/// The DRAM word size the walker steps by: `dram.access_bytes` must be 8.
pub const WORD_BYTES: u64 = 8;

/// Word-by-word walker over one 2-D DRAM transfer.
#[derive(LogicBlock, Default)]
pub struct RowWalker {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// Load the transfer below (the first word is current from the next cycle).
    pub start: Signal<In, Bit>,
    /// Step to the next word.
    pub advance: Signal<In, Bit>,
    /// First byte of the first row.
    pub dram_addr: Signal<In, Bits<32>>,
    /// Rows (≥ 1).
    pub rows: Signal<In, Bits<16>>,
    /// Bytes per row (≥ 1).
    pub row_bytes: Signal<In, Bits<16>>,
    /// Bytes from one row's start to the next's.
    pub stride: Signal<In, Bits<32>>,
    /// Scratchpad byte address of the first row.
    pub sp_addr: Signal<In, Bits<16>>,
    /// The scratchpad side holds two bytes per DRAM byte.
    pub wide: Signal<In, Bit>,
    /// Rows per grid row.
    pub grid_w: Signal<In, Bits<16>>,
    /// Grid rows per image.
    pub grid_h: Signal<In, Bits<16>>,
    /// Grid position of the first row.
    pub grid_x0: Signal<In, Bits<16>>,
    /// See `grid_x0`.
    pub grid_y0: Signal<In, Bits<16>>,
    /// Bytes from the last row of a grid row to the next row.
    pub row_jump: Signal<In, Bits<32>>,
    /// Bytes from the last row of an image's grid to the next row.
    pub img_jump: Signal<In, Bits<32>>,
    /// A word remains: the outputs below describe it.
    pub more: Signal<Out, Bit>,
    /// It is the transfer's last word.
    pub last: Signal<Out, Bit>,
    /// Byte address of the current word (a multiple of 8).
    pub word: Signal<Out, Bits<32>>,
    /// First useful byte within the word.
    pub lo: Signal<Out, Bits<4>>,
    /// Useful bytes in the word (1..=8).
    pub n: Signal<Out, Bits<4>>,
    /// Scratchpad byte address of the first useful byte.
    pub sp: Signal<Out, Bits<16>>,
    /// Transposing: scratchpad byte address of the word's first element.
    pub tsp: Signal<Out, Bits<16>>,
    /// Transposing: scratchpad bytes from one of the word's elements to the next.
    pub estride: Signal<Out, Bits<16>>,
    row: DFF<Bits<16>>,
    row_start: DFF<Bits<32>>,
    word_addr: DFF<Bits<32>>,
    sp_row: DFF<Bits<16>>,
    active: DFF<Bit>,
    rows_q: DFF<Bits<16>>,
    row_bytes_q: DFF<Bits<16>>,
    stride_q: DFF<Bits<32>>,
    sp_addr_q: DFF<Bits<16>>,
    wide_q: DFF<Bit>,
    trow: DFF<Bits<16>>,
    tword: DFF<Bits<16>>,
    estride_q: DFF<Bits<16>>,
    gx: DFF<Bits<16>>,
    gy: DFF<Bits<16>>,
    grid_w_q: DFF<Bits<16>>,
    grid_h_q: DFF<Bits<16>>,
    row_jump_q: DFF<Bits<32>>,
    img_jump_q: DFF<Bits<32>>,
    esize: Signal<Local, Bits<16>>,
    tstep: Signal<Local, Bits<16>>,
    row_end: Signal<Local, Bits<32>>,
    word_end: Signal<Local, Bits<32>>,
    b0: Signal<Local, Bits<32>>,
    b1: Signal<Local, Bits<32>>,
    offset: Signal<Local, Bits<16>>,
    row_done: Signal<Local, Bit>,
    next_start: Signal<Local, Bits<32>>,
}

impl Logic for RowWalker {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            row,
            row_start,
            word_addr,
            sp_row,
            active,
            rows_q,
            row_bytes_q,
            stride_q,
            sp_addr_q,
            wide_q,
            trow,
            tword,
            estride_q,
            gx,
            gy,
            grid_w_q,
            grid_h_q,
            row_jump_q,
            img_jump_q
        );
        self.row_end.next = self.row_start.q.val() + bit_cast::<32, 16>(self.row_bytes_q.q.val());
        self.word_end.next = self.word_addr.q.val() + 8;
        self.b0.next = self.word_addr.q.val();
        if self.row_start.q.val() > self.word_addr.q.val() {
            self.b0.next = self.row_start.q.val();
        }
        self.b1.next = self.word_end.val();
        if self.row_end.val() < self.word_end.val() {
            self.b1.next = self.row_end.val();
        }
        self.lo.next = bit_cast::<4, 32>(self.b0.val() - self.word_addr.q.val());
        self.n.next = bit_cast::<4, 32>(self.b1.val() - self.b0.val());
        self.word.next = self.word_addr.q.val();
        self.offset.next =
            self.sp_row.q.val() + bit_cast::<16, 32>(self.b0.val() - self.row_start.q.val());
        self.sp.next = self.sp_addr_q.q.val() + self.offset.val();
        if self.wide_q.q.val() {
            self.sp.next = self.sp_addr_q.q.val() + (self.offset.val() << 1);
        }
        self.tsp.next = self.tword.q.val();
        self.estride.next = self.estride_q.q.val();
        self.esize.next = 2.into();
        if self.wide_q.q.val() {
            self.esize.next = 4.into();
        }
        // (n/2)·estride for the n ∈ {2, 4, 6, 8} bytes of a word of whole elements.
        self.tstep.next = self.estride_q.q.val();
        if self.n.val() == 4 {
            self.tstep.next = self.estride_q.q.val() << 1;
        }
        if self.n.val() == 6 {
            self.tstep.next = (self.estride_q.q.val() << 1) + self.estride_q.q.val();
        }
        if self.n.val() == 8 {
            self.tstep.next = self.estride_q.q.val() << 2;
        }
        self.row_done.next = self.word_end.val() >= self.row_end.val();
        self.more.next = self.active.q.val();
        self.last.next = self.active.q.val()
            & self.row_done.val()
            & (self.row.q.val() + 1 == self.rows_q.q.val());
        self.next_start.next = self.row_start.q.val() + self.stride_q.q.val();
        if self.gx.q.val() + 1 == self.grid_w_q.q.val() {
            self.next_start.next = self.row_start.q.val() + self.row_jump_q.q.val();
            if self.gy.q.val() + 1 == self.grid_h_q.q.val() {
                self.next_start.next = self.row_start.q.val() + self.img_jump_q.q.val();
            }
        }
        if self.advance.val() & self.active.q.val() {
            self.tword.d.next = self.tword.q.val() + self.tstep.val();
            if self.row_done.val() {
                self.trow.d.next = self.trow.q.val() + self.esize.val();
                self.tword.d.next = self.trow.q.val() + self.esize.val();
                self.row.d.next = self.row.q.val() + 1;
                self.gx.d.next = self.gx.q.val() + 1;
                if self.gx.q.val() + 1 == self.grid_w_q.q.val() {
                    self.gx.d.next = 0.into();
                    self.gy.d.next = self.gy.q.val() + 1;
                    if self.gy.q.val() + 1 == self.grid_h_q.q.val() {
                        self.gy.d.next = 0.into();
                    }
                }
                self.row_start.d.next = self.next_start.val();
                self.word_addr.d.next = (self.next_start.val() >> 3) << 3;
                self.sp_row.d.next = self.sp_row.q.val() + self.row_bytes_q.q.val();
                if self.last.val() {
                    self.active.d.next = false;
                }
            } else {
                self.word_addr.d.next = self.word_end.val();
            }
        }
        if self.start.val() {
            self.row.d.next = 0.into();
            self.row_start.d.next = self.dram_addr.val();
            self.word_addr.d.next = (self.dram_addr.val() >> 3) << 3;
            self.sp_row.d.next = 0.into();
            self.active.d.next = true;
            self.rows_q.d.next = self.rows.val();
            self.row_bytes_q.d.next = self.row_bytes.val();
            self.stride_q.d.next = self.stride.val();
            self.sp_addr_q.d.next = self.sp_addr.val();
            self.wide_q.d.next = self.wide.val();
            self.gx.d.next = self.grid_x0.val();
            self.gy.d.next = self.grid_y0.val();
            self.grid_w_q.d.next = self.grid_w.val();
            self.grid_h_q.d.next = self.grid_h.val();
            self.row_jump_q.d.next = self.row_jump.val();
            self.img_jump_q.d.next = self.img_jump.val();
            self.trow.d.next = self.sp_addr.val();
            self.tword.d.next = self.sp_addr.val();
            self.estride_q.d.next = self.rows.val() << 1;
            if self.wide.val() {
                self.estride_q.d.next = self.rows.val() << 2;
            }
        }
    }
}
