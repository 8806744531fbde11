//! `CorePhysical`: the core on a description whose three scratchpad regions are all
//! `banking: physical` — the same controller and the same ports as [`Core`](crate::Core), with
//! each region a [`RegionHub`] over a [`BankedRegion`](crate::BankedRegion) (the skewed banks of
//! docs/physical-banking.md), the DMA engine a [`DmaPhysical`], the prune unit a
//! [`BankedPruneUnit`], the array unit a [`PhysicalArrayUnit`] and the vector unit a
//! [`BankedVectorUnit`]. The built-in `sat-small-banked` is such a description.
//!
//! ```text
//!   Sequencer load ─► store ─► prune ─► array ─► vector      (the controller, as in `Core`)
//!        │ issue, holds ─► reading[u] / writing[u] of each hub
//!   DmaPhysical ── write bundle = unit 0's (loads), read bundle = unit 1's (stores) ──┐
//!   BankedPruneUnit ── read and write bundles = unit 2's ──────────────────────────────┤
//!   PhysicalArrayUnit ── w, x, y read bundles and the y write bundle = unit 3's ──────┤
//!   BankedVectorUnit ── a read and a write bundle per region = unit 4's ───────────────┤
//!                                          hub 0 (weight) ◄─┬─ every bundle ──────────┘
//!                                          hub 1 (input)  ◄─┤
//!                                          hub 2 (output) ◄─┘
//! ```
//!
//! # The hubs
//!
//! Every unit drives its bundles to all three hubs; a hub takes unit u's writes while
//! `writing[u]` and serves its reads on a copy of their own while `reading[u]`, both from the
//! controller, whose resources are `machine::resources` (`Resource::index`: the regions' read
//! copies 0–2, the DRAM 3, the regions' write ports 4–6):
//!
//! ```text
//!   reading[u] of region r = issue_u · res_u[r]     + holds_u[r]
//!   writing[u] of region r = issue_u · res_u[4 + r] + holds_u[4 + r]   (+ the load's tail, below)
//! ```
//!
//! A hub answers a unit that holds none of its copies with zeros, so a unit whose region comes
//! from its instruction (the DMA engine, the prune unit) takes the OR of the three hubs' words
//! for it: only the hub its instruction names answers.
//!
//! # The DMA engine's `done`
//!
//! [`DmaPhysical`] raises `done` in the first cycle after its transfer (a cycle later than the
//! ideal engine) and takes the next `start` in that cycle, so the load and store sequencers
//! run with `free_at_done` ([`crate::controller`]): the transfer holds the DRAM and its region
//! over `[τ, τ + T)`, as the exact model charges. A load writes its last set in that `done`
//! cycle, though, so its hub keeps its write bundle one cycle longer — the *tail*:
//! `dma.done · load · (region = r)` — and a load issuing in that cycle (which writes nothing
//! before its next cycle) joins only once the tail has passed, so the last set of one load
//! never lands in the next load's region too.
//!
//! # The array unit
//!
//! [`PhysicalArrayUnit`] reads w from the weight region, x from the input region and y from
//! the output region, each through its own read bundle in its slot (unit 3) of that region's
//! hub, and writes y through the output hub. Its `done` comes in the cycle its last write set
//! is served, as the exact model charges (`timing::ws_fetch_lead`, `timing::ws_output_tail`);
//! a GEMM holds a read copy of y as well as its write port (`machine::resources`), since the
//! output buffer reads every slot.
//!
//! # The vector unit
//!
//! [`BankedVectorUnit`] has a read bundle and a write bundle per region, laid out region after
//! region; each goes to its slot (unit 4) of that region's hub. Its sources' and destination's
//! regions come with the instruction, so only the hubs it holds a copy or the write port of
//! serve it.
//!
//! The engine and the hubs are simulated through their Verilog only (Verilator), and so is
//! this core: its `update` does nothing.

use crate::array::{by_lanes, ArrayShape};
use crate::array_unit::{PhysicalArrayUnit, GEMM_FIELDS};
use crate::banked_region::RegionShape;
use crate::banked_vector::{BankedVectorUnit, VECTOR_FIELDS};
use crate::controller::{Sequencer, RESOURCES, UNITS};
use crate::core::core_top;
use crate::dma_physical::DmaPhysical;
use crate::gather_map::GATHER_FIELDS;
use crate::prune_banks::BankedPruneUnit;
use crate::region_hub::{RegionHub, MAX_UNITS};
use crate::scratchpad::GROUP_PORTS;
use crate::HwError;
use nmsat_compiler::arch::{Arch, Banking, RegionId};
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// The queues in the controller's order, as the core's ports name them.
const QUEUES: [&str; UNITS] = ["load", "store", "prune", "array", "vector"];
/// The hub slots of the units that drive bundles: the DMA engine's two queues and the prune
/// unit.
const LOAD: usize = 0;
const STORE: usize = 1;
const PRUNE: usize = 2;
const ARRAY: usize = 3;
const VECTOR: usize = 4;

/// The prefixes of unit `u`'s write and read bundles toward region `r` (in `RegionId` order),
/// where it has them: the DMA engine and the prune unit reach every region through one bundle
/// of each kind; the array unit reads w, x and y each from its own region and writes y.
fn bundles(u: usize, r: usize) -> (Option<&'static str>, Option<&'static str>) {
    match (u, r) {
        (LOAD, _) => (Some("dma$"), None),
        (STORE, _) => (None, Some("dma$")),
        (PRUNE, _) => (Some("pru$"), Some("pru$")),
        (ARRAY, 0) => (None, Some("arr$w_")),
        (ARRAY, 1) => (None, Some("arr$x_")),
        (ARRAY, _) => (Some("arr$y_"), Some("arr$y_")),
        _ => (Some("vec$"), Some("vec$")),
    }
}

/// Which queues' `done` comes in their unit's first free cycle on the core of `arch` (the DMA
/// engine's on physical banks; see the module docs), or why `arch` has no core.
pub(crate) fn free_at_done(arch: &Arch) -> Result<[bool; UNITS], HwError> {
    Ok(match crate::core::banking(arch)? {
        Banking::Ideal => [false; UNITS],
        Banking::Physical => std::array::from_fn(|u| u == LOAD || u == STORE),
    })
}

core_top! {
    /// The core on physically banked regions: see the module docs.
    pub struct CorePhysical<const L: usize> {
        load: Sequencer = Default::default(),
        store: Sequencer = Default::default(),
        prune: Sequencer = Default::default(),
        array: Sequencer = Default::default(),
        vector: Sequencer = Default::default(),
        dma: DmaPhysical = dma,
        pru: BankedPruneUnit = pru,
        arr: PhysicalArrayUnit<L> = PhysicalArrayUnit::new(arch)?,
        vec: BankedVectorUnit = BankedVectorUnit::for_arch(arch)?,
        hub: Vec<RegionHub> = hubs,
        _ports: [u64; RESOURCES] = nmsat_sim::machine::resource_ports(arch),
        _latency: u64 = arch.dram.latency,
        _free: [bool; UNITS] = free_at_done(arch)?,
    }

    /// The core of `arch`, whose regions must all be physical with one bank shape (the DMA
    /// engine and the prune unit reach every region through one bundle of each kind).
    pub fn new(arch: &Arch) -> Result<Self, HwError> {
        let shape = |r: RegionId| {
            let d = arch.region(r);
            RegionShape::new(
                d.bytes,
                d.banks as usize,
                d.bank_width_bytes as usize,
                d.ports as usize,
            )
            .map_err(|e| in_region(e, r))
        };
        let hubs = RegionId::ALL
            .iter()
            .map(|&r| RegionHub::new(UNITS, shape(r)?))
            .collect::<Result<Vec<_>, HwError>>()?;
        // The prune unit refuses regions of different banks or widths, naming the field.
        let pru = BankedPruneUnit::for_arch(arch)?;
        // The engine's walkers address the deepest region; its banks are every region's.
        let deepest = hubs
            .iter()
            .map(RegionHub::shape)
            .max_by_key(RegionShape::bytes)
            .expect("three regions");
        let dma = DmaPhysical::new(
            arch.dma.setup_cycles,
            arch.dram.latency,
            arch.frac_bits,
            deepest,
        )?;
    }
}

/// `e`, a refusal of a region's shape, naming the description's field of region `r`.
fn in_region(e: HwError, r: RegionId) -> HwError {
    let HwError::Unsupported {
        field,
        value,
        reason,
        allowed,
    } = e
    else {
        return e;
    };
    let field = match (r, field) {
        (RegionId::Weight, "banks") => "scratchpads.weight.banks",
        (RegionId::Weight, "width") => "scratchpads.weight.bank_width_bytes",
        (RegionId::Weight, "copies") => "scratchpads.weight.ports",
        (RegionId::Weight, _) => "scratchpads.weight.bytes",
        (RegionId::Input, "banks") => "scratchpads.input.banks",
        (RegionId::Input, "width") => "scratchpads.input.bank_width_bytes",
        (RegionId::Input, "copies") => "scratchpads.input.ports",
        (RegionId::Input, _) => "scratchpads.input.bytes",
        (RegionId::Output, "banks") => "scratchpads.output.banks",
        (RegionId::Output, "width") => "scratchpads.output.bank_width_bytes",
        (RegionId::Output, "copies") => "scratchpads.output.ports",
        (RegionId::Output, _) => "scratchpads.output.bytes",
    };
    HwError::Unsupported {
        field,
        value,
        reason,
        allowed,
    }
}

/// The core of `arch` on the heap, with `connect_all()` done. (A function of its own: the
/// core is large, and its temporaries would otherwise sit in the frame of `core_for`, which
/// builds the ideal core too.)
pub(crate) fn boxed(arch: &Arch) -> Result<Box<dyn Block>, HwError> {
    fn make<const L: usize>(arch: &Arch) -> Result<Box<dyn Block>, HwError> {
        let mut core = Box::new(CorePhysical::<L>::new(arch)?);
        core.connect_all();
        Ok(core)
    }
    let shape = ArrayShape::from_arch(arch)?;
    shape.check()?;
    by_lanes!(shape.lanes, make(arch))
}

impl<const L: usize> CorePhysical<L> {
    fn banks(&self) -> usize {
        self.hub[0].shape().banks()
    }

    fn verilog(&self) -> String {
        let banks = self.banks();
        let mut v = String::new();
        // The DMA engine's transfer: whether a store, and its region.
        let _ = writeln!(
            v,
            "reg dma_store;\nreg [1:0] dma_region;\nreg [31:0] rsp_addr [0:{}];",
            self._latency - 1
        );
        let _ = writeln!(
            v,
            "always @(posedge clock) begin\n\
             \x20   if (load$issue) begin dma_store <= 1'b0; dma_region <= ld_region; end\n\
             \x20   if (store$issue) begin dma_store <= 1'b1; dma_region <= st_region; end\n\
             \x20   rsp_addr[0] <= mem_addr;"
        );
        for i in 1..self._latency {
            let _ = writeln!(v, "    rsp_addr[{i}] <= rsp_addr[{}];", i - 1);
        }
        v.push_str("end\n");
        // The prune unit's element count, rows·k: rows = total / per_row, and a row's k is its
        // full groups' elements and its last group's.
        v.push_str(
            "wire [15:0] p_rows = (p_per_row == 16'd0) ? 16'd0 : p_total / p_per_row;\n\
             wire [15:0] p_k = (p_per_row - 16'd1) * {11'd0, p_m} + {11'd0, p_last_v};\n\
             wire [31:0] p_elems = p_rows * p_k;\n",
        );
        // The load's tail: its last set, written in the engine's `done` cycle.
        v.push_str("wire load_tail = dma$done & ~dma_store;\n");
        v.push_str("always @(*) begin\n");
        self.controller(&mut v);
        self.engines(&mut v);
        self.hubs(&mut v, banks);
        v.push_str("end\n");
        v.push_str(&self.unused());
        v
    }

    /// The sequencers, chained as in `Core`.
    fn controller(&self, v: &mut String) {
        for (u, q) in QUEUES.iter().enumerate() {
            let _ = writeln!(
                v,
                "    {q}$clock = clock;\n    {q}$valid = valid${u};\n    {q}$res = res${u};\n\
                 \x20   {q}$free_at_done = 1'b{};\n    pc${u} = {q}$pc;\n    issue${u} = {q}$issue;",
                u8::from(self._free[u])
            );
            for (w, other) in QUEUES.iter().enumerate() {
                let _ = writeln!(
                    v,
                    "    {q}$wait${w} = wait_{q}${w};\n    {q}$completed${w} = {other}$count;"
                );
            }
            for r in 0..RESOURCES {
                let before = if u == 0 {
                    let held: Vec<String> =
                        QUEUES.iter().map(|h| format!("{h}$holds${r}")).collect();
                    held.join(" + ")
                } else {
                    format!("{}$after${r}", QUEUES[u - 1])
                };
                let _ = writeln!(
                    v,
                    "    {q}$ports${r} = 4'd{};\n    {q}$before${r} = {before};",
                    self._ports[r]
                );
            }
        }
        for r in 0..RESOURCES {
            let _ = writeln!(v, "    ports_used${r} = vector$after${r};");
        }
        v.push_str(
            "    load$done = dma$done & ~dma_store;\n    store$done = dma$done & dma_store;\n\
             \x20   prune$done = pru$done;\n    array$done = arr$done;\n    vector$done = vec$done;\n\
             \x20   done$0 = load$done;\n    done$1 = store$done;\n    done$2 = pru$done;\n\
             \x20   done$3 = arr$done;\n    done$4 = vec$done;\n",
        );
    }

    /// The DMA engine (the issuing queue's fields), the prune unit and the array unit.
    fn engines(&self, v: &mut String) {
        v.push_str(
            "    dma$clock = clock;\n    dma$start = load$issue | store$issue;\n\
             \x20   dma$store = store$issue;\n    dma$requant = store$issue & st_requant;\n",
        );
        for f in [
            "transpose",
            "dram_addr",
            "rows",
            "row_bytes",
            "stride",
            "sp_addr",
            "grid_w",
            "grid_h",
            "grid_x0",
            "grid_y0",
            "row_jump",
            "img_jump",
        ] {
            let _ = writeln!(v, "    dma${f} = store$issue ? st_{f} : ld_{f};");
        }
        for j in 0..GATHER_FIELDS {
            let _ = writeln!(v, "    dma$gf${j} = store$issue ? 32'd0 : ld_gf${j};");
        }
        v.push_str(
            "    dma$mem_rvalid = mem_rvalid;\n    dma$mem_rdata = mem_rdata;\n\
             \x20   mem_valid = dma$mem_valid;\n    mem_write = dma$mem_write;\n\
             \x20   mem_addr = dma$mem_addr;\n    mem_wdata = dma$mem_wdata;\n\
             \x20   mem_wmask = dma$mem_wmask;\n    mem_last = dma$mem_last;\n",
        );
        let _ = writeln!(
            v,
            "    mem_rsp_addr = rsp_addr[{}];\n    fault = hub$0$fault | hub$1$fault | hub$2$fault;",
            self._latency - 1
        );
        v.push_str("    pru$clock = clock;\n    pru$start = prune$issue;\n    pru$elems = p_elems[15:0];\n");
        v.push_str("    arr$clock = clock;\n    arr$start = array$issue;\n");
        for i in 0..GEMM_FIELDS {
            let _ = writeln!(v, "    arr$g${i} = g${i};");
        }
        v.push_str("    vec$clock = clock;\n    vec$start = vector$issue;\n");
        for (f, _) in VECTOR_FIELDS {
            let _ = writeln!(v, "    vec${f} = v_{f};");
        }
        for (i, r) in ["src0", "src1", "src2", "src3", "dst"].iter().enumerate() {
            let _ = writeln!(v, "    vec$region${i} = v_{r}_region;");
        }
        for f in [
            "n", "m", "ib", "gb", "total", "per_row", "last_v", "qk", "rem", "remm", "pad",
            "dstep", "src", "dst",
        ] {
            let _ = writeln!(v, "    pru${f} = p_{f};");
        }
        for g in 0..GROUP_PORTS {
            for f in ["init_c", "init_elem", "init_dst"] {
                let _ = writeln!(v, "    pru${f}${g} = p_{f}${g};");
            }
        }
    }

    /// Each hub's holders and bundles, and the words the engines take back.
    fn hubs(&self, v: &mut String, banks: usize) {
        for r in 0..RegionId::ALL.len() {
            let hold = |u: usize, res: usize| {
                format!(
                    "({q}$issue & res${u}[{res}]) | {q}$holds${res}[0]",
                    q = QUEUES[u]
                )
            };
            let mut reading: Vec<String> = (0..UNITS).rev().map(|u| hold(u, r)).collect();
            let mut writing: Vec<String> = (0..UNITS).rev().map(|u| hold(u, 4 + r)).collect();
            writing[UNITS - 1 - LOAD] = format!(
                "(load$issue & res${LOAD}[{w}] & ~load_tail) | load$holds${w}[0] \
                 | (load_tail & (dma_region == 2'd{r}))",
                w = 4 + r
            );
            let pad = MAX_UNITS - UNITS;
            for list in [&mut reading, &mut writing] {
                for s in list.iter_mut() {
                    *s = format!("({s})");
                }
            }
            let _ = writeln!(
                v,
                "    hub${r}$clock = clock;\n    hub${r}$reading = {{{pad}'d0, {}}};\n\
                 \x20   hub${r}$writing = {{{pad}'d0, {}}};",
                reading.join(", "),
                writing.join(", ")
            );
            for b in 0..banks {
                for u in 0..UNITS {
                    let (w, rd) = bundles(u, r);
                    let s = u * banks + b;
                    // The vector unit lays its bundles out region after region.
                    let i = if u == VECTOR { r * banks + b } else { b };
                    for (port, width) in [("wen", 8), ("wrow", 16), ("wdata", 64)] {
                        let src = w.map_or(format!("{width}'d0"), |w| format!("{w}{port}${i}"));
                        let _ = writeln!(v, "    hub${r}${port}${s} = {src};");
                    }
                    let src = rd.map_or("16'd0".to_string(), |e| format!("{e}rrow${i}"));
                    let _ = writeln!(v, "    hub${r}$rrow${s} = {src};");
                }
            }
        }
        for b in 0..banks {
            for (engine, u) in [("dma", STORE), ("pru", PRUNE)] {
                let s = u * banks + b;
                let _ = writeln!(
                    v,
                    "    {engine}$rdata${b} = hub$0$rdata${s} | hub$1$rdata${s} | hub$2$rdata${s};"
                );
            }
            // The array unit reads each operand from its own region, each through one hub.
            let s = ARRAY * banks + b;
            for (r, operand) in ["w", "x", "y"].iter().enumerate() {
                let _ = writeln!(v, "    arr${operand}_rdata${b} = hub${r}$rdata${s};");
            }
            // The vector unit reads each region through its own bundle.
            let s = VECTOR * banks + b;
            for r in 0..RegionId::ALL.len() {
                let _ = writeln!(v, "    vec$rdata${} = hub${r}$rdata${s};", r * banks + b);
            }
        }
    }

    /// The inputs and outputs this core does not use, for Verilator's `_unused` waiver: the
    /// prune regions (the hubs route by holder), the high bits of the element count and of the
    /// holds, and the words the hubs would return to the load queue's slot (a load only writes).
    fn unused(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        names.extend(["p_src_region", "p_dst_region", "p_elems[31:16]"].map(String::from));
        for q in QUEUES {
            names.extend((0..RESOURCES).map(|r| format!("{q}$holds${r}[3:1]")));
        }
        let banks = self.banks();
        for r in 0..RegionId::ALL.len() {
            names.extend((0..banks).map(|b| format!("hub${r}$rdata${}", LOAD * banks + b)));
        }
        format!("wire _unused_bits = &{{1'b0, {}}};\n", names.join(", "))
    }
}

impl<const L: usize> Logic for CorePhysical<L> {
    fn update(&mut self) {}

    fn connect(&mut self) {
        for s in [
            &mut self.mem_valid,
            &mut self.mem_write,
            &mut self.mem_last,
            &mut self.fault,
        ] {
            s.connect();
        }
        self.mem_addr.connect();
        self.mem_rsp_addr.connect();
        self.mem_wdata.connect();
        self.mem_wmask.connect();
        self.pc.iter_mut().for_each(|s| s.connect());
        self.issue.iter_mut().for_each(|s| s.connect());
        self.done.iter_mut().for_each(|s| s.connect());
        self.ports_used.iter_mut().for_each(|s| s.connect());
        for q in [
            &mut self.load,
            &mut self.store,
            &mut self.prune,
            &mut self.array,
            &mut self.vector,
        ] {
            q.clock.connect();
            q.valid.connect();
            q.res.connect();
            q.done.connect();
            q.free_at_done.connect();
            q.wait.iter_mut().for_each(|s| s.connect());
            q.completed.iter_mut().for_each(|s| s.connect());
            q.before.iter_mut().for_each(|s| s.connect());
            q.ports.iter_mut().for_each(|s| s.connect());
        }
        let d = &mut self.dma;
        d.clock.connect();
        for s in [&mut d.start, &mut d.store, &mut d.requant, &mut d.transpose] {
            s.connect();
        }
        for s in [
            &mut d.dram_addr,
            &mut d.stride,
            &mut d.row_jump,
            &mut d.img_jump,
        ] {
            s.connect();
        }
        for s in [
            &mut d.rows,
            &mut d.row_bytes,
            &mut d.sp_addr,
            &mut d.grid_w,
            &mut d.grid_h,
            &mut d.grid_x0,
            &mut d.grid_y0,
        ] {
            s.connect();
        }
        d.gf.iter_mut().for_each(|s| s.connect());
        d.mem_rvalid.connect();
        d.mem_rdata.connect();
        d.rdata.iter_mut().for_each(|s| s.connect());
        let p = &mut self.pru;
        p.clock.connect();
        p.start.connect();
        for s in [&mut p.n, &mut p.m, &mut p.last_v] {
            s.connect();
        }
        p.ib.connect();
        p.gb.connect();
        for s in [
            &mut p.total,
            &mut p.per_row,
            &mut p.qk,
            &mut p.rem,
            &mut p.remm,
            &mut p.pad,
            &mut p.dstep,
            &mut p.src,
            &mut p.dst,
            &mut p.elems,
        ] {
            s.connect();
        }
        for a in [&mut p.init_c, &mut p.init_elem, &mut p.init_dst] {
            a.iter_mut().for_each(|s| s.connect());
        }
        p.rdata.iter_mut().for_each(|s| s.connect());
        self.vec.connect_inputs();
        let a = &mut self.arr;
        a.clock.connect();
        a.start.connect();
        a.g.iter_mut().for_each(|s| s.connect());
        for d in [&mut a.x_rdata, &mut a.w_rdata, &mut a.y_rdata] {
            d.iter_mut().for_each(|s| s.connect());
        }
        for h in &mut self.hub {
            h.clock.connect();
            h.reading.connect();
            h.writing.connect();
            h.wen.iter_mut().for_each(|s| s.connect());
            h.wrow.iter_mut().for_each(|s| s.connect());
            h.wdata.iter_mut().for_each(|s| s.connect());
            h.rrow.iter_mut().for_each(|s| s.connect());
        }
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}
