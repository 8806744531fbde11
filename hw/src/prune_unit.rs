//! `PruneUnit`: the core's prune (pre-generation) unit: `groups_per_cycle` M-groups a cycle,
//! each ranked and packed by a [`RankPack`], with the exact simulator's semantics
//! (`prune::pack_with_mask` of `nm_mask`) and timing (`timing::prune_cycles`).
//!
//! ```text
//!  issue τ ─► batch b (groups b·G … b·G+G−1, rows run on) read at τ+1+b
//!          ─► ranked, packed and written at τ+2+b ─► done in cycle τ + B + latency − 1
//! ```
//!
//! Group lane j takes the groups `j, j + G, j + 2G, …` (G = groups a cycle) of the `rows ×
//! ⌈k/M⌉` groups, row after row: group (r, c) starts at element `r·k + c·M` of the dense
//! source and holds `min(M, k − c·M)` elements; its packed form goes to byte `(r·⌈k/M⌉ +
//! c)·gb` of the destination. A lane advances by G groups a batch with additions only: the
//! encoder gives `G div ⌈k/M⌉` rows as elements (`qk`), `G mod ⌈k/M⌉` groups (`rem`, and as
//! elements `remm`) and the padding of a row's last group (`pad`, subtracted on a carry into
//! the next row). B = ⌈rows·⌈k/M⌉ / G⌉ batches stream through a `latency`-deep pipeline
//! (at least 2: the read, then ranking, packing and the write).
//!
//! `hold` freezes every register: on physically banked regions
//! ([`BankedPruneUnit`](crate::BankedPruneUnit)) a step lasts until its access sets are
//! served. The core's ideal regions never hold it.

use crate::pipeline_tail::PipelineTail;
use crate::rank_pack::RankPack;
use crate::scratchpad::GROUP_PORTS;
use rust_hdl::prelude::*;

/// The unit; see the module docs.
#[derive(LogicBlock)]
pub struct PruneUnit {
    /// The clock of every register.
    pub clock: Signal<In, Clock>,
    /// Begin the operation described by the inputs below.
    pub start: Signal<In, Bit>,
    /// Keep every register as it is: the pipeline waits (the banked memory side,
    /// [`crate::BankedPruneUnit`], holds it until a step's access sets are served). Low on
    /// ideal regions; `start` overrides it.
    pub hold: Signal<In, Bit>,
    /// N.
    pub n: Signal<In, Bits<5>>,
    /// M.
    pub m: Signal<In, Bits<5>>,
    /// Bits per index.
    pub ib: Signal<In, Bits<3>>,
    /// Bytes of a packed group.
    pub gb: Signal<In, Bits<6>>,
    /// Groups in all.
    pub total: Signal<In, Bits<16>>,
    /// Groups per row, ⌈k/M⌉.
    pub per_row: Signal<In, Bits<16>>,
    /// Elements of a row's last group.
    pub last_v: Signal<In, Bits<5>>,
    /// Elements a lane advances for the whole rows of one batch.
    pub qk: Signal<In, Bits<16>>,
    /// Groups a lane advances within a row per batch.
    pub rem: Signal<In, Bits<16>>,
    /// The same in elements.
    pub remm: Signal<In, Bits<16>>,
    /// Padding of a row's last group (elements).
    pub pad: Signal<In, Bits<16>>,
    /// Destination bytes a lane advances per batch.
    pub dstep: Signal<In, Bits<16>>,
    /// First source byte.
    pub src: Signal<In, Bits<16>>,
    /// First destination byte.
    pub dst: Signal<In, Bits<16>>,
    /// Each lane's first group: its column in its row.
    pub init_c: [Signal<In, Bits<16>>; GROUP_PORTS],
    /// Its first element.
    pub init_elem: [Signal<In, Bits<16>>; GROUP_PORTS],
    /// Its destination offset.
    pub init_dst: [Signal<In, Bits<16>>; GROUP_PORTS],
    /// The operation completes in this cycle.
    pub done: Signal<Out, Bit>,
    /// Group read addresses.
    pub raddr: [Signal<Out, Bits<16>>; GROUP_PORTS],
    /// Their data.
    pub rdata: [Signal<In, Bits<256>>; GROUP_PORTS],
    /// Group write enables.
    pub we: [Signal<Out, Bit>; GROUP_PORTS],
    /// Group write addresses.
    pub waddr: [Signal<Out, Bits<16>>; GROUP_PORTS],
    /// Packed groups.
    pub wdata: [Signal<Out, Bits<320>>; GROUP_PORTS],
    /// Bytes each group write moves.
    pub wlen: Signal<Out, Bits<6>>,
    /// The group networks.
    pub network: [RankPack; GROUP_PORTS],
    pipe: PipelineTail,
    n_q: DFF<Bits<5>>,
    m_q: DFF<Bits<5>>,
    ib_q: DFF<Bits<3>>,
    gb_q: DFF<Bits<6>>,
    total_q: DFF<Bits<16>>,
    last_c: DFF<Bits<16>>,
    per_row_q: DFF<Bits<16>>,
    last_v_q: DFF<Bits<5>>,
    qk_q: DFF<Bits<16>>,
    rem_q: DFF<Bits<16>>,
    remm_q: DFF<Bits<16>>,
    pad_q: DFF<Bits<16>>,
    dstep_q: DFF<Bits<16>>,
    src_q: DFF<Bits<16>>,
    dst_q: DFF<Bits<16>>,
    g: [DFF<Bits<16>>; GROUP_PORTS],
    c: [DFF<Bits<16>>; GROUP_PORTS],
    elem: [DFF<Bits<16>>; GROUP_PORTS],
    doff: [DFF<Bits<16>>; GROUP_PORTS],
    staged: [DFF<Bit>; GROUP_PORTS],
    staged_addr: [DFF<Bits<16>>; GROUP_PORTS],
    staged_v: [DFF<Bits<5>>; GROUP_PORTS],
    lane_on: [Constant<Bit>; GROUP_PORTS],
    lane_id: [Constant<Bits<16>>; GROUP_PORTS],
    per_batch: Constant<Bits<16>>,
    active: [Signal<Local, Bit>; GROUP_PORTS],
    next_c: [Signal<Local, Bits<16>>; GROUP_PORTS],
}

impl PruneUnit {
    /// A unit ranking `groups_per_cycle` (1..=4) groups of up to `lanes` elements a cycle,
    /// with a `latency`-deep pipeline (≥ 2).
    pub fn new(lanes: usize, groups_per_cycle: usize, latency: u64) -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            hold: Default::default(),
            n: Default::default(),
            m: Default::default(),
            ib: Default::default(),
            gb: Default::default(),
            total: Default::default(),
            per_row: Default::default(),
            last_v: Default::default(),
            qk: Default::default(),
            rem: Default::default(),
            remm: Default::default(),
            pad: Default::default(),
            dstep: Default::default(),
            src: Default::default(),
            dst: Default::default(),
            init_c: Default::default(),
            init_elem: Default::default(),
            init_dst: Default::default(),
            done: Default::default(),
            raddr: Default::default(),
            rdata: Default::default(),
            we: Default::default(),
            waddr: Default::default(),
            wdata: Default::default(),
            wlen: Default::default(),
            network: std::array::from_fn(|_| RankPack::new(lanes)),
            pipe: PipelineTail::new(latency),
            n_q: Default::default(),
            m_q: Default::default(),
            ib_q: Default::default(),
            gb_q: Default::default(),
            total_q: Default::default(),
            last_c: Default::default(),
            per_row_q: Default::default(),
            last_v_q: Default::default(),
            qk_q: Default::default(),
            rem_q: Default::default(),
            remm_q: Default::default(),
            pad_q: Default::default(),
            dstep_q: Default::default(),
            src_q: Default::default(),
            dst_q: Default::default(),
            g: Default::default(),
            c: Default::default(),
            elem: Default::default(),
            doff: Default::default(),
            staged: Default::default(),
            staged_addr: Default::default(),
            staged_v: Default::default(),
            lane_on: std::array::from_fn(|j| Constant::new(j < groups_per_cycle)),
            lane_id: std::array::from_fn(|j| Constant::new(bits(j as LiteralType))),
            per_batch: Constant::new(bits(groups_per_cycle as LiteralType)),
            active: Default::default(),
            next_c: Default::default(),
        }
    }
}

impl Logic for PruneUnit {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, n_q, m_q, ib_q, gb_q, total_q, last_c, per_row_q, last_v_q, qk_q, rem_q,
            remm_q, pad_q, dstep_q, src_q, dst_q
        );
        clock!(self, clock, pipe);
        self.wlen.next = self.gb_q.q.val();
        for j in 0..GROUP_PORTS {
            self.g[j].clock.next = self.clock.val();
            self.c[j].clock.next = self.clock.val();
            self.elem[j].clock.next = self.clock.val();
            self.doff[j].clock.next = self.clock.val();
            self.staged[j].clock.next = self.clock.val();
            self.staged_addr[j].clock.next = self.clock.val();
            self.staged_v[j].clock.next = self.clock.val();
            self.g[j].d.next = self.g[j].q.val();
            self.c[j].d.next = self.c[j].q.val();
            self.elem[j].d.next = self.elem[j].q.val();
            self.doff[j].d.next = self.doff[j].q.val();
            // A lane reads while it has a group left.
            self.active[j].next = self.pipe.busy.val()
                & self.lane_on[j].val()
                & (self.g[j].q.val() < self.total_q.q.val());
            self.raddr[j].next = self.src_q.q.val() + (self.elem[j].q.val() << 1);
            self.staged[j].d.next = self.active[j].val();
            self.staged_addr[j].d.next = self.dst_q.q.val() + self.doff[j].q.val();
            self.staged_v[j].d.next = self.m_q.q.val();
            if self.c[j].q.val() == self.last_c.q.val() {
                self.staged_v[j].d.next = self.last_v_q.q.val();
            }
            // Advance G groups: `rem` columns on, a carry into the next row.
            self.next_c[j].next = self.c[j].q.val() + self.rem_q.q.val();
            if self.active[j].val() {
                self.g[j].d.next = self.g[j].q.val() + self.per_batch.val();
                self.doff[j].d.next = self.doff[j].q.val() + self.dstep_q.q.val();
                self.c[j].d.next = self.next_c[j].val();
                self.elem[j].d.next =
                    self.elem[j].q.val() + self.qk_q.q.val() + self.remm_q.q.val();
                if self.next_c[j].val() >= self.per_row_q.q.val() {
                    self.c[j].d.next = self.next_c[j].val() - self.per_row_q.q.val();
                    self.elem[j].d.next =
                        self.elem[j].q.val() + self.qk_q.q.val() + self.remm_q.q.val()
                            - self.pad_q.q.val();
                }
            }
            // The group read last cycle: ranked, packed, written.
            self.network[j].w.next = self.rdata[j].val();
            self.network[j].n.next = self.n_q.q.val();
            self.network[j].v.next = self.staged_v[j].q.val();
            self.network[j].ib.next = self.ib_q.q.val();
            self.wdata[j].next = self.network[j].out_bits.val();
            self.we[j].next = self.staged[j].q.val();
            self.waddr[j].next = self.staged_addr[j].q.val();
            if self.hold.val() {
                self.g[j].d.next = self.g[j].q.val();
                self.c[j].d.next = self.c[j].q.val();
                self.elem[j].d.next = self.elem[j].q.val();
                self.doff[j].d.next = self.doff[j].q.val();
                self.staged[j].d.next = self.staged[j].q.val();
                self.staged_addr[j].d.next = self.staged_addr[j].q.val();
                self.staged_v[j].d.next = self.staged_v[j].q.val();
            }
        }
        // Drained when lane 0, which has the lowest group, has none left; a held cycle does
        // not count towards the tail.
        self.pipe.start.next = self.start.val();
        self.pipe.drained.next = (self.g[0].q.val() >= self.total_q.q.val()) & !self.hold.val();
        self.done.next = self.pipe.done.val();
        if self.start.val() {
            self.n_q.d.next = self.n.val();
            self.m_q.d.next = self.m.val();
            self.ib_q.d.next = self.ib.val();
            self.gb_q.d.next = self.gb.val();
            self.total_q.d.next = self.total.val();
            self.last_c.d.next = self.per_row.val() - 1;
            self.per_row_q.d.next = self.per_row.val();
            self.last_v_q.d.next = self.last_v.val();
            self.qk_q.d.next = self.qk.val();
            self.rem_q.d.next = self.rem.val();
            self.remm_q.d.next = self.remm.val();
            self.pad_q.d.next = self.pad.val();
            self.dstep_q.d.next = self.dstep.val();
            self.src_q.d.next = self.src.val();
            self.dst_q.d.next = self.dst.val();
            for j in 0..GROUP_PORTS {
                self.g[j].d.next = self.lane_id[j].val();
                self.c[j].d.next = self.init_c[j].val();
                self.elem[j].d.next = self.init_elem[j].val();
                self.doff[j].d.next = self.init_dst[j].val();
            }
        }
    }
}

/// Whether the unit runs `arch`'s prune operations in `timing::prune_cycles`.
pub fn check_arch(arch: &nmsat_compiler::arch::Arch) -> Result<(), crate::HwError> {
    let unsupported = |field, value, reason: &str, allowed: &str| {
        Err(crate::HwError::unsupported(
            arch, field, value, reason, allowed,
        ))
    };
    let g = arch.prune_groups_per_cycle;
    if !(1..=GROUP_PORTS as u64).contains(&g) {
        return unsupported(
            "prune_unit.groups_per_cycle",
            g,
            "the RTL prune unit has up to 4 group networks",
            "1..=4",
        );
    }
    if arch.prune_latency < 2 {
        return unsupported(
            "prune_unit.latency",
            arch.prune_latency,
            "the pipeline reads the groups, then ranks, packs and writes them",
            "≥ 2",
        );
    }
    if arch.mux_lanes < 2 {
        return unsupported(
            "sparsity.mux_lanes",
            arch.mux_lanes,
            "a group network ranks 2 to 16 elements",
            "2..=16",
        );
    }
    Ok(())
}
