//! `Core`: the accelerator core as one top module — the controller's five instruction queues,
//! the DMA engine behind the load and store queues, the prune unit, the array unit, the vector
//! unit and the three scratchpad regions.
//!
//! ```text
//!   instruction port (per queue: pc ─► fields)          DRAM port (word requests/answers)
//!          │                                                   ▲
//!   ┌──────▼───────────────────────────────────────────┐       │
//!   │ Sequencer load ─► store ─► prune ─► array ─► vec │ issue │
//!   │   (waits on completed counts, resource ports)    ├──────►│ Dma, PruneUnit, ArrayUnit,
//!   └──────────────────────────────────────────────────┘  done │ VectorUnit ◄──► weight │ input │
//!                                                               output scratchpad regions
//! ```
//!
//! The instructions stay outside: each queue shows its `pc` and reads that instruction's
//! fields from the instruction port in the same cycle (an asynchronous instruction ROM, which
//! the co-simulation harness plays, as it plays the DRAM behind the DMA port). The fields are
//! the ISA's, encoded by [`crate::encode`]. Transfers move rows as they are, transpose an
//! INT16 block, move the pixels of a stride phase's grid (`Copy`, `Transpose`, `Scatter`) or
//! gather a window tile or a tile of BP conv weights (`Im2col`, `ConvBp`; windows of up to
//! 3 × 3 taps a stride phase); the vector unit runs the element-wise operations (`Relu`,
//! `ReluGrad`, `Add`, `Fill`), the SGD step, the loss gradient, pooling and its gradients,
//! `MaskDecay`, batch norm, and GELU, layer norm and the softmax and their gradients. The other
//! vector operations and larger gathers are refused by the encoder, naming the instruction.
//!
//! This is the core on the ideal crossbar (`banking: ideal`). On physically banked regions
//! `core_for` builds [`CorePhysical`](crate::CorePhysical) instead, with the same ports
//! (declared once, by `core_top!`); a description with some regions of each is refused.

use crate::array::{by_lanes, ArrayShape};
use crate::array_unit::{ArrayUnit, GEMM_FIELDS};
use crate::controller::{Sequencer, RESOURCES, UNITS};
use crate::dma::Dma;
use crate::gather_map::{GATHER_FIELDS, GATHER_PORTS, WORD_ELEMS};
use crate::prune_unit::PruneUnit;
use crate::scratchpad::GROUP_PORTS;
use crate::scratchpad::{GemmPorts, Scratchpad, SCATTER, VECTOR_READS, VECTOR_WRITES};
use crate::vector_unit::VectorUnit;
use nmsat_compiler::arch::{Arch, Banking, RegionId};
use rust_hdl::prelude::*;

/// The name of the core's top module in the generated Verilog.
pub const CORE_TOP: &str = "nmsat_core";

/// Declares a core top: the ports below — one list for the ideal [`Core`] and the physical
/// [`CorePhysical`](crate::CorePhysical), so `run_core`, `nmsat cosim` and `nmsat hdl` drive
/// either by the same names — then the struct's own fields (`name: Type = initial value`),
/// and its constructor: the given statements, then the struct with every port idle.
macro_rules! core_top {
    (
        $(#[$attr:meta])* pub struct $name:ident $(<const $l:ident: usize>)? {
            $($(#[$fattr:meta])* $field:ident: $fty:ty = $init:expr,)*
        }
        $(#[$cattr:meta])*
        pub fn $ctor:ident($($arg:ident: $aty:ty),*) -> Result<Self, $err:ty> {
            $($body:tt)*
        }
    ) => {
        $(#[$attr])*
        #[derive(LogicBlock)]
        pub struct $name $(<const $l: usize>)? {
        /// The clock of every register.
        pub clock: Signal<In, Clock>,
        /// Each queue has an instruction at its `pc`.
        pub valid: [Signal<In, Bit>; $crate::controller::UNITS],
        /// Each queue's instruction's resources (bit r: resource r).
        pub res: [Signal<In, Bits<{ $crate::controller::RESOURCES }>>; $crate::controller::UNITS],
        /// The load instruction's waits (per queue).
        pub wait_load: [Signal<In, Bits<16>>; $crate::controller::UNITS],
        /// The store instruction's waits.
        pub wait_store: [Signal<In, Bits<16>>; $crate::controller::UNITS],
        /// The prune instruction's waits.
        pub wait_prune: [Signal<In, Bits<16>>; $crate::controller::UNITS],
        /// The array instruction's waits.
        pub wait_array: [Signal<In, Bits<16>>; $crate::controller::UNITS],
        /// The vector instruction's waits.
        pub wait_vector: [Signal<In, Bits<16>>; $crate::controller::UNITS],
        /// Load: first DRAM byte.
        pub ld_dram_addr: Signal<In, Bits<32>>,
        /// Load: rows.
        pub ld_rows: Signal<In, Bits<16>>,
        /// Load: bytes per row.
        pub ld_row_bytes: Signal<In, Bits<16>>,
        /// Load: DRAM stride.
        pub ld_stride: Signal<In, Bits<32>>,
        /// Load: region (0 weight, 1 input, 2 output).
        pub ld_region: Signal<In, Bits<2>>,
        /// Load: first scratchpad byte.
        pub ld_sp_addr: Signal<In, Bits<16>>,
        /// Load: the block lands transposed.
        pub ld_transpose: Signal<In, Bit>,
        /// Load: a scatter's rows per grid row.
        pub ld_grid_w: Signal<In, Bits<16>>,
        /// Load: a scatter's grid rows per image.
        pub ld_grid_h: Signal<In, Bits<16>>,
        /// Load: grid position of the first row.
        pub ld_grid_x0: Signal<In, Bits<16>>,
        /// Load: see `grid_x0`.
        pub ld_grid_y0: Signal<In, Bits<16>>,
        /// Load: DRAM bytes after a grid row's last row.
        pub ld_row_jump: Signal<In, Bits<32>>,
        /// Load: DRAM bytes after an image's last row.
        pub ld_img_jump: Signal<In, Bits<32>>,
        /// Load: a gather's fields (see `gather_map::field`).
        pub ld_gf: [Signal<In, Bits<32>>; $crate::gather_map::GATHER_FIELDS],
        /// Store: first DRAM byte.
        pub st_dram_addr: Signal<In, Bits<32>>,
        /// Store: rows.
        pub st_rows: Signal<In, Bits<16>>,
        /// Store: bytes per row.
        pub st_row_bytes: Signal<In, Bits<16>>,
        /// Store: DRAM stride.
        pub st_stride: Signal<In, Bits<32>>,
        /// Store: region.
        pub st_region: Signal<In, Bits<2>>,
        /// Store: first scratchpad byte.
        pub st_sp_addr: Signal<In, Bits<16>>,
        /// Store: requantize INT32 accumulators.
        pub st_requant: Signal<In, Bit>,
        /// Store: the block is read transposed.
        pub st_transpose: Signal<In, Bit>,
        /// Store: a scatter's rows per grid row.
        pub st_grid_w: Signal<In, Bits<16>>,
        /// Store: a scatter's grid rows per image.
        pub st_grid_h: Signal<In, Bits<16>>,
        /// Store: grid position of the first row.
        pub st_grid_x0: Signal<In, Bits<16>>,
        /// Store: see `grid_x0`.
        pub st_grid_y0: Signal<In, Bits<16>>,
        /// Store: DRAM bytes after a grid row's last row.
        pub st_row_jump: Signal<In, Bits<32>>,
        /// Store: DRAM bytes after an image's last row.
        pub st_img_jump: Signal<In, Bits<32>>,
        /// Vector: operation code (`VOP_*`).
        pub v_op: Signal<In, Bits<5>>,
        /// Vector: source 0's region.
        pub v_src0_region: Signal<In, Bits<2>>,
        /// Vector: source 0's first byte.
        pub v_src0: Signal<In, Bits<16>>,
        /// Vector: source 1's region.
        pub v_src1_region: Signal<In, Bits<2>>,
        /// Vector: source 1's first byte.
        pub v_src1: Signal<In, Bits<16>>,
        /// Vector: there is a source 1.
        pub v_two: Signal<In, Bit>,
        /// Vector: source 2's region.
        pub v_src2_region: Signal<In, Bits<2>>,
        /// Vector: source 2's first byte.
        pub v_src2: Signal<In, Bits<16>>,
        /// Vector: the destination's region.
        pub v_dst_region: Signal<In, Bits<2>>,
        /// Vector: the destination's first byte.
        pub v_dst: Signal<In, Bits<16>>,
        /// Vector: elements.
        pub v_elems: Signal<In, Bits<16>>,
        /// Vector SGD: learning rate, momentum and SR-STE decay (Q16.16).
        pub v_lr: Signal<In, Bits<32>>,
        /// See `v_lr`.
        pub v_mu: Signal<In, Bits<32>>,
        /// See `v_lr`.
        pub v_lambda: Signal<In, Bits<32>>,
        /// Vector SGD: the SR-STE term is on; its N and M (their row length in `v_width`; see
        /// [`VectorUnit`]).
        pub v_srste: Signal<In, Bit>,
        /// See `v_srste`.
        pub v_n: Signal<In, Bits<5>>,
        /// See `v_srste`.
        pub v_m: Signal<In, Bits<5>>,
        /// Vector loss: classes per row and the mean's divisor (row operations: elements per row,
        /// and 1).
        pub v_classes: Signal<In, Bits<16>>,
        /// See `v_classes`.
        pub v_batch: Signal<In, Bits<16>>,
        /// Pooling: elements per result, source elements (`elems · taps`), and a sum's scale
        /// (Q16.16).
        pub v_taps: Signal<In, Bits<8>>,
        /// See `v_taps`.
        pub v_total: Signal<In, Bits<16>>,
        /// See `v_taps`.
        pub v_recip: Signal<In, Bits<17>>,
        /// Pooling gradient of max: the taps' window positions (see `PoolLanes`).
        pub v_pbase: Signal<In, Bits<8>>,
        /// See `v_pbase`.
        pub v_pstep: Signal<In, Bits<8>>,
        /// See `v_pbase`.
        pub v_prow: Signal<In, Bits<8>>,
        /// See `v_pbase`.
        pub v_kb: Signal<In, Bits<8>>,
        /// Vector batch norm: source 3's region and first byte (`BatchNormGrad`'s gradient
        /// statistics).
        pub v_src3_region: Signal<In, Bits<2>>,
        /// See `v_src3_region`.
        pub v_src3: Signal<In, Bits<16>>,
        /// Vector batch norm: the tile's columns and rows, and the rows of the statistics;
        /// SR-STE and `MaskDecay`: the row length the N:M groups restart at.
        pub v_width: Signal<In, Bits<16>>,
        /// See `v_width`.
        pub v_trows: Signal<In, Bits<16>>,
        /// See `v_width`.
        pub v_rows: Signal<In, Bits<16>>,
        /// Prune: N, M, index bits, packed group bytes.
        pub p_n: Signal<In, Bits<5>>,
        /// See `p_n`.
        pub p_m: Signal<In, Bits<5>>,
        /// See `p_n`.
        pub p_ib: Signal<In, Bits<3>>,
        /// See `p_n`.
        pub p_gb: Signal<In, Bits<6>>,
        /// Prune: groups in all, per row, and a row's last group's elements.
        pub p_total: Signal<In, Bits<16>>,
        /// See `p_total`.
        pub p_per_row: Signal<In, Bits<16>>,
        /// See `p_total`.
        pub p_last_v: Signal<In, Bits<5>>,
        /// Prune: a lane's advance per batch (see [`PruneUnit`]).
        pub p_qk: Signal<In, Bits<16>>,
        /// See `p_qk`.
        pub p_rem: Signal<In, Bits<16>>,
        /// See `p_qk`.
        pub p_remm: Signal<In, Bits<16>>,
        /// See `p_qk`.
        pub p_pad: Signal<In, Bits<16>>,
        /// See `p_qk`.
        pub p_dstep: Signal<In, Bits<16>>,
        /// Prune: the source's region and first byte.
        pub p_src_region: Signal<In, Bits<2>>,
        /// See `p_src_region`.
        pub p_src: Signal<In, Bits<16>>,
        /// Prune: the destination's region and first byte.
        pub p_dst_region: Signal<In, Bits<2>>,
        /// See `p_dst_region`.
        pub p_dst: Signal<In, Bits<16>>,
        /// Prune: each lane's first group (column, element, destination offset).
        pub p_init_c: [Signal<In, Bits<16>>; $crate::scratchpad::GROUP_PORTS],
        /// See `p_init_c`.
        pub p_init_elem: [Signal<In, Bits<16>>; $crate::scratchpad::GROUP_PORTS],
        /// See `p_init_c`.
        pub p_init_dst: [Signal<In, Bits<16>>; $crate::scratchpad::GROUP_PORTS],
        /// Array: the GEMM's fields ([`crate::GemmOp`]).
        pub g: [Signal<In, Bits<16>>; $crate::array_unit::GEMM_FIELDS],
        /// Each queue's next instruction.
        pub pc: [Signal<Out, Bits<16>>; $crate::controller::UNITS],
        /// Each queue issues in this cycle.
        pub issue: [Signal<Out, Bit>; $crate::controller::UNITS],
        /// Each queue's unit completes in this cycle.
        pub done: [Signal<Out, Bit>; $crate::controller::UNITS],
        /// DRAM request.
        pub mem_valid: Signal<Out, Bit>,
        /// It is a write.
        pub mem_write: Signal<Out, Bit>,
        /// Word byte address.
        pub mem_addr: Signal<Out, Bits<32>>,
        /// Write data.
        pub mem_wdata: Signal<Out, Bits<64>>,
        /// Write byte enables.
        pub mem_wmask: Signal<Out, Bits<8>>,
        /// The request is its transfer's last word.
        pub mem_last: Signal<Out, Bit>,
        /// The word this cycle's answer must be for.
        pub mem_rsp_addr: Signal<Out, Bits<32>>,
        /// The DMA engine got an answer it had not asked for (sticky until its next transfer).
        pub fault: Signal<Out, Bit>,
        /// Ports of each resource in use this cycle (in flight and issuing).
        pub ports_used: [Signal<Out, Bits<4>>; $crate::controller::RESOURCES],
        /// The answer to the request of `latency` cycles ago.
        pub mem_rvalid: Signal<In, Bit>,
        /// Its read data.
        pub mem_rdata: Signal<In, Bits<64>>,
            $($(#[$fattr])* $field: $fty,)*
        }

        impl $(<const $l: usize>)? $name $(<$l>)? {
            $(#[$cattr])*
            pub fn $ctor($($arg: $aty),*) -> Result<Self, $err> {
                $($body)*
                Ok(Self {
                    clock: Default::default(),
                    valid: Default::default(),
                    res: Default::default(),
                    wait_load: Default::default(),
                    wait_store: Default::default(),
                    wait_prune: Default::default(),
                    wait_array: Default::default(),
                    wait_vector: Default::default(),
                    ld_dram_addr: Default::default(),
                    ld_rows: Default::default(),
                    ld_row_bytes: Default::default(),
                    ld_stride: Default::default(),
                    ld_region: Default::default(),
                    ld_sp_addr: Default::default(),
                    ld_transpose: Default::default(),
                    ld_grid_w: Default::default(),
                    ld_grid_h: Default::default(),
                    ld_grid_x0: Default::default(),
                    ld_grid_y0: Default::default(),
                    ld_row_jump: Default::default(),
                    ld_img_jump: Default::default(),
                    ld_gf: Default::default(),
                    st_dram_addr: Default::default(),
                    st_rows: Default::default(),
                    st_row_bytes: Default::default(),
                    st_stride: Default::default(),
                    st_region: Default::default(),
                    st_sp_addr: Default::default(),
                    st_requant: Default::default(),
                    st_transpose: Default::default(),
                    st_grid_w: Default::default(),
                    st_grid_h: Default::default(),
                    st_grid_x0: Default::default(),
                    st_grid_y0: Default::default(),
                    st_row_jump: Default::default(),
                    st_img_jump: Default::default(),
                    v_op: Default::default(),
                    v_src0_region: Default::default(),
                    v_src0: Default::default(),
                    v_src1_region: Default::default(),
                    v_src1: Default::default(),
                    v_two: Default::default(),
                    v_src2_region: Default::default(),
                    v_src2: Default::default(),
                    v_dst_region: Default::default(),
                    v_dst: Default::default(),
                    v_elems: Default::default(),
                    v_lr: Default::default(),
                    v_mu: Default::default(),
                    v_lambda: Default::default(),
                    v_srste: Default::default(),
                    v_n: Default::default(),
                    v_m: Default::default(),
                    v_classes: Default::default(),
                    v_batch: Default::default(),
                    v_taps: Default::default(),
                    v_total: Default::default(),
                    v_recip: Default::default(),
                    v_pbase: Default::default(),
                    v_pstep: Default::default(),
                    v_prow: Default::default(),
                    v_kb: Default::default(),
                    v_src3_region: Default::default(),
                    v_src3: Default::default(),
                    v_width: Default::default(),
                    v_trows: Default::default(),
                    v_rows: Default::default(),
                    p_n: Default::default(),
                    p_m: Default::default(),
                    p_ib: Default::default(),
                    p_gb: Default::default(),
                    p_total: Default::default(),
                    p_per_row: Default::default(),
                    p_last_v: Default::default(),
                    p_qk: Default::default(),
                    p_rem: Default::default(),
                    p_remm: Default::default(),
                    p_pad: Default::default(),
                    p_dstep: Default::default(),
                    p_src_region: Default::default(),
                    p_src: Default::default(),
                    p_dst_region: Default::default(),
                    p_dst: Default::default(),
                    p_init_c: Default::default(),
                    p_init_elem: Default::default(),
                    p_init_dst: Default::default(),
                    g: Default::default(),
                    pc: Default::default(),
                    issue: Default::default(),
                    done: Default::default(),
                    mem_valid: Default::default(),
                    mem_write: Default::default(),
                    mem_addr: Default::default(),
                    mem_wdata: Default::default(),
                    mem_wmask: Default::default(),
                    mem_last: Default::default(),
                    mem_rsp_addr: Default::default(),
                    fault: Default::default(),
                    ports_used: Default::default(),
                    mem_rvalid: Default::default(),
                    mem_rdata: Default::default(),
                    $($field: $init),*
                })
            }
        }
    };
}
pub(crate) use core_top;

core_top! {
    /// The core, with `L` activation lanes per PE: see the module docs.
    pub struct Core<const L: usize> {
        load: Sequencer = Default::default(),
        store: Sequencer = Default::default(),
        prune: Sequencer = Default::default(),
        array: Sequencer = Default::default(),
        vector: Sequencer = Default::default(),
        dma: Dma = Dma::new(arch.dma.setup_cycles, arch.frac_bits),
        vec: VectorUnit = VectorUnit::new(arch.vector_lanes, arch.vector_latency, arch.frac_bits),
        pru: PruneUnit = PruneUnit::new(
            arch.mux_lanes as usize,
            arch.prune_groups_per_cycle as usize,
            arch.prune_latency,
        ),
        gemm: ArrayUnit<L> = ArrayUnit::new(shape.rows, shape.cols),
        sp_weight: Scratchpad = Scratchpad::new(
            arch.region(RegionId::Weight).bytes,
            GemmPorts {
                weights: shape.cols,
                ..GemmPorts::default()
            },
        ),
        sp_input: Scratchpad = Scratchpad::new(
            arch.region(RegionId::Input).bytes,
            GemmPorts {
                gathers: shape.rows,
                lanes: L,
                ..GemmPorts::default()
            },
        ),
        sp_output: Scratchpad = Scratchpad::new(
            arch.region(RegionId::Output).bytes,
            GemmPorts {
                outputs: shape.cols,
                ..GemmPorts::default()
            },
        ),
        ports: [Constant<Bits<4>>; RESOURCES] = ports.map(|p| Constant::new(bits(p))),
        counts: [Signal<Local, Bits<16>>; UNITS] = Default::default(),
        /// The vector unit's access sizes, which only physically banked regions need (the name
        /// waives Verilator's unused-signal warning).
        vec_sizes_unused: Signal<Local, Bit> = Default::default(),
        dma_store: DFF<Bit> = Default::default(),
        dma_region: DFF<Bits<2>> = Default::default(),
        vsrc_region: [DFF<Bits<2>>; VECTOR_READS] = Default::default(),
        vdst_region: DFF<Bits<2>> = Default::default(),
        vsrc3_region: DFF<Bits<2>> = Default::default(),
        psrc_region: DFF<Bits<2>> = Default::default(),
        pdst_region: DFF<Bits<2>> = Default::default(),
        _rows: usize = shape.rows,
        _cols: usize = shape.cols,
    }

    /// The core of `arch` (its units' checks first).
    pub fn new(arch: &Arch) -> Result<Self, crate::HwError> {
        check_units(arch)?;
        let shape = ArrayShape::from_arch(arch)?;
        assert_eq!(shape.lanes, L, "the core's lanes are the array's");
        let ports = nmsat_sim::machine::resource_ports(arch);
    }
}

/// The core of `arch`, with `connect_all()` done (its array's lane count dispatched to the
/// const-generic core; a description whose regions are all physical gets
/// [`CorePhysical`](crate::CorePhysical)),
/// or why the description has no RTL core.
pub fn core_for(arch: &Arch) -> Result<Box<dyn Block>, crate::HwError> {
    fn make<const L: usize>(arch: &Arch) -> Result<Box<dyn Block>, crate::HwError> {
        let mut core = Core::<L>::new(arch)?;
        core.connect_all();
        Ok(Box::new(core))
    }
    if banking(arch)? == Banking::Physical {
        return crate::core_physical::boxed(arch);
    }
    check_units(arch)?;
    let shape = ArrayShape::from_arch(arch)?;
    shape.check()?;
    by_lanes!(shape.lanes, make(arch))
}

/// The banking of all three regions: the core puts every region on the ideal crossbar or
/// every region on physical banks, never some of each.
pub(crate) fn banking(arch: &Arch) -> Result<Banking, crate::HwError> {
    let fields = [
        ("scratchpads.weight.banking", RegionId::Weight),
        ("scratchpads.input.banking", RegionId::Input),
        ("scratchpads.output.banking", RegionId::Output),
    ];
    let first = arch.region(RegionId::Weight).banking;
    match fields
        .iter()
        .find(|(_, r)| arch.region(*r).banking != first)
    {
        None => Ok(first),
        Some(&(field, r)) => Err(crate::HwError::Unsupported {
            field,
            value: banking_name(arch.region(r).banking).into(),
            reason: format!(
                "the weight region is {} but this one is not: the core's DMA engine and prune \
                 unit reach every region through one set of ports, built either for the ideal \
                 crossbar or for physical banks (in `{}`)",
                banking_name(first),
                arch.name
            ),
            allowed: "the same banking in all three regions: all ideal or all physical".into(),
        }),
    }
}

/// A banking as the description spells it.
fn banking_name(b: Banking) -> &'static str {
    match b {
        Banking::Ideal => "ideal",
        Banking::Physical => "physical",
    }
}

/// The checks of the units whose timing the description must allow, before the array's.
fn check_units(arch: &Arch) -> Result<(), crate::HwError> {
    if banking(arch)? == Banking::Physical {
        return Err(crate::HwError::Unsupported {
            field: "scratchpads.weight.banking",
            value: "physical".into(),
            reason: format!(
                "`Core` is built on the ideal crossbar; `core_for` builds `CorePhysical` for \
                 physically banked regions (in `{}`)",
                arch.name
            ),
            allowed: "ideal".into(),
        });
    }
    crate::dma::check_arch(arch)?;
    crate::vector_unit::check_arch(arch)?;
    crate::prune_unit::check_arch(arch)?;
    // The array unit's skew chains run from the first row (column) to a last one apart from it.
    for (field, side) in [("array.rows", arch.rows), ("array.cols", arch.cols)] {
        if side < 2 {
            return Err(crate::HwError::unsupported(
                arch,
                field,
                side,
                "the core's array unit needs at least 2 rows and 2 columns (a 1-wide array is \
                 generated on its own, without a core)",
                "2 … 16",
            ));
        }
    }
    Ok(())
}

impl<const L: usize> Logic for Core<L> {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(
            self, clock, load, store, prune, array, vector, dma, vec, pru, gemm, sp_weight,
            sp_input, sp_output
        );
        dff_setup!(
            self,
            clock,
            dma_store,
            dma_region,
            vdst_region,
            vsrc3_region,
            psrc_region,
            pdst_region
        );
        for p in 0..VECTOR_READS {
            self.vsrc_region[p].clock.next = self.clock.val();
            self.vsrc_region[p].d.next = self.vsrc_region[p].q.val();
        }

        // The controller: every queue sees every completed count and the ports taken by the
        // instructions in flight and by the queues before it.
        self.load.valid.next = self.valid[0].val();
        self.store.valid.next = self.valid[1].val();
        self.prune.valid.next = self.valid[2].val();
        self.array.valid.next = self.valid[3].val();
        self.vector.valid.next = self.valid[4].val();
        self.load.free_at_done.next = false;
        self.store.free_at_done.next = false;
        self.prune.free_at_done.next = false;
        self.array.free_at_done.next = false;
        self.vector.free_at_done.next = false;
        self.load.res.next = self.res[0].val();
        self.store.res.next = self.res[1].val();
        self.prune.res.next = self.res[2].val();
        self.array.res.next = self.res[3].val();
        self.vector.res.next = self.res[4].val();
        self.counts[0].next = self.load.count.val();
        self.counts[1].next = self.store.count.val();
        self.counts[2].next = self.prune.count.val();
        self.counts[3].next = self.array.count.val();
        self.counts[4].next = self.vector.count.val();
        for v in 0..UNITS {
            self.load.wait[v].next = self.wait_load[v].val();
            self.store.wait[v].next = self.wait_store[v].val();
            self.prune.wait[v].next = self.wait_prune[v].val();
            self.array.wait[v].next = self.wait_array[v].val();
            self.vector.wait[v].next = self.wait_vector[v].val();
            self.load.completed[v].next = self.counts[v].val();
            self.store.completed[v].next = self.counts[v].val();
            self.prune.completed[v].next = self.counts[v].val();
            self.array.completed[v].next = self.counts[v].val();
            self.vector.completed[v].next = self.counts[v].val();
        }
        for r in 0..RESOURCES {
            self.load.ports[r].next = self.ports[r].val();
            self.store.ports[r].next = self.ports[r].val();
            self.prune.ports[r].next = self.ports[r].val();
            self.array.ports[r].next = self.ports[r].val();
            self.vector.ports[r].next = self.ports[r].val();
            self.load.before[r].next = self.load.holds[r].val()
                + self.store.holds[r].val()
                + self.prune.holds[r].val()
                + self.array.holds[r].val()
                + self.vector.holds[r].val();
            self.store.before[r].next = self.load.after[r].val();
            self.prune.before[r].next = self.store.after[r].val();
            self.array.before[r].next = self.prune.after[r].val();
            self.vector.before[r].next = self.array.after[r].val();
            self.ports_used[r].next = self.vector.after[r].val();
        }
        self.pc[0].next = self.load.pc.val();
        self.pc[1].next = self.store.pc.val();
        self.pc[2].next = self.prune.pc.val();
        self.pc[3].next = self.array.pc.val();
        self.pc[4].next = self.vector.pc.val();
        self.issue[0].next = self.load.issue.val();
        self.issue[1].next = self.store.issue.val();
        self.issue[2].next = self.prune.issue.val();
        self.issue[3].next = self.array.issue.val();
        self.issue[4].next = self.vector.issue.val();

        // The DMA engine serves whichever DMA queue issued (never both: one DRAM port).
        self.dma.start.next = self.load.issue.val() | self.store.issue.val();
        self.dma.store.next = self.store.issue.val();
        self.dma.requant.next = false;
        self.dma.transpose.next = self.ld_transpose.val();
        self.dma.dram_addr.next = self.ld_dram_addr.val();
        self.dma.rows.next = self.ld_rows.val();
        self.dma.row_bytes.next = self.ld_row_bytes.val();
        self.dma.stride.next = self.ld_stride.val();
        self.dma.sp_addr.next = self.ld_sp_addr.val();
        self.dma.grid_w.next = self.ld_grid_w.val();
        self.dma.grid_h.next = self.ld_grid_h.val();
        self.dma.grid_x0.next = self.ld_grid_x0.val();
        self.dma.grid_y0.next = self.ld_grid_y0.val();
        self.dma.row_jump.next = self.ld_row_jump.val();
        self.dma.img_jump.next = self.ld_img_jump.val();
        for j in 0..GATHER_FIELDS {
            self.dma.gf[j].next = self.ld_gf[j].val();
            if self.store.issue.val() {
                self.dma.gf[j].next = 0.into();
            }
        }
        if self.load.issue.val() {
            self.dma_store.d.next = false;
            self.dma_region.d.next = self.ld_region.val();
        }
        if self.store.issue.val() {
            self.dma.requant.next = self.st_requant.val();
            self.dma.transpose.next = self.st_transpose.val();
            self.dma.dram_addr.next = self.st_dram_addr.val();
            self.dma.rows.next = self.st_rows.val();
            self.dma.row_bytes.next = self.st_row_bytes.val();
            self.dma.stride.next = self.st_stride.val();
            self.dma.sp_addr.next = self.st_sp_addr.val();
            self.dma.grid_w.next = self.st_grid_w.val();
            self.dma.grid_h.next = self.st_grid_h.val();
            self.dma.grid_x0.next = self.st_grid_x0.val();
            self.dma.grid_y0.next = self.st_grid_y0.val();
            self.dma.row_jump.next = self.st_row_jump.val();
            self.dma.img_jump.next = self.st_img_jump.val();
            self.dma_store.d.next = true;
            self.dma_region.d.next = self.st_region.val();
        }
        self.load.done.next = self.dma.done.val() & !self.dma_store.q.val();
        self.store.done.next = self.dma.done.val() & self.dma_store.q.val();
        self.prune.done.next = self.pru.done.val();

        // The prune unit: groups from the source's region, packed groups to the destination's.
        self.pru.start.next = self.prune.issue.val();
        self.pru.hold.next = false;
        self.pru.n.next = self.p_n.val();
        self.pru.m.next = self.p_m.val();
        self.pru.ib.next = self.p_ib.val();
        self.pru.gb.next = self.p_gb.val();
        self.pru.total.next = self.p_total.val();
        self.pru.per_row.next = self.p_per_row.val();
        self.pru.last_v.next = self.p_last_v.val();
        self.pru.qk.next = self.p_qk.val();
        self.pru.rem.next = self.p_rem.val();
        self.pru.remm.next = self.p_remm.val();
        self.pru.pad.next = self.p_pad.val();
        self.pru.dstep.next = self.p_dstep.val();
        self.pru.src.next = self.p_src.val();
        self.pru.dst.next = self.p_dst.val();
        if self.prune.issue.val() {
            self.psrc_region.d.next = self.p_src_region.val();
            self.pdst_region.d.next = self.p_dst_region.val();
        }
        self.sp_weight.plen.next = self.pru.wlen.val();
        self.sp_input.plen.next = self.pru.wlen.val();
        self.sp_output.plen.next = self.pru.wlen.val();
        for g in 0..GROUP_PORTS {
            self.pru.init_c[g].next = self.p_init_c[g].val();
            self.pru.init_elem[g].next = self.p_init_elem[g].val();
            self.pru.init_dst[g].next = self.p_init_dst[g].val();
            self.sp_weight.praddr[g].next = self.pru.raddr[g].val();
            self.sp_input.praddr[g].next = self.pru.raddr[g].val();
            self.sp_output.praddr[g].next = self.pru.raddr[g].val();
            self.pru.rdata[g].next = self.sp_weight.prdata[g].val();
            if self.psrc_region.q.val() == 1 {
                self.pru.rdata[g].next = self.sp_input.prdata[g].val();
            }
            if self.psrc_region.q.val() == 2 {
                self.pru.rdata[g].next = self.sp_output.prdata[g].val();
            }
            self.sp_weight.pwaddr[g].next = self.pru.waddr[g].val();
            self.sp_input.pwaddr[g].next = self.pru.waddr[g].val();
            self.sp_output.pwaddr[g].next = self.pru.waddr[g].val();
            self.sp_weight.pwdata[g].next = self.pru.wdata[g].val();
            self.sp_input.pwdata[g].next = self.pru.wdata[g].val();
            self.sp_output.pwdata[g].next = self.pru.wdata[g].val();
            self.sp_weight.pwe[g].next = self.pru.we[g].val() & (self.pdst_region.q.val() == 0);
            self.sp_input.pwe[g].next = self.pru.we[g].val() & (self.pdst_region.q.val() == 1);
            self.sp_output.pwe[g].next = self.pru.we[g].val() & (self.pdst_region.q.val() == 2);
        }
        self.array.done.next = self.gemm.done.val();

        // The array unit: x from the input region, w from the weight region, y in the output
        // region (the encoder refuses a GEMM whose operands lie elsewhere).
        self.gemm.start.next = self.array.issue.val();
        for i in 0..GEMM_FIELDS {
            self.gemm.g[i].next = self.g[i].val();
        }
        for i in 0..self._rows {
            self.sp_input.arr_gaddr[i].next = self.gemm.gaddr[i].val();
            self.sp_input.arr_gcount[i].next = self.gemm.gcount[i].val();
            self.sp_input.arr_gstride[i].next = self.gemm.gstride[i].val();
        }
        for j in 0..(self._rows * L) {
            self.gemm.gdata[j].next = self.sp_input.arr_gdata[j].val();
        }
        for i in 0..self._cols {
            self.sp_weight.arr_waddr[i].next = self.gemm.vaddr[i].val();
            self.gemm.vdata[i].next = self.sp_weight.arr_wdata[i].val();
            self.sp_weight.arr_iaddr[i].next = self.gemm.iaddr[i].val();
            self.gemm.idata[i].next = self.sp_weight.arr_idata[i].val();
            self.sp_output.arr_yaddr[i].next = self.gemm.yaddr[i].val();
            self.gemm.yrdata[i].next = self.sp_output.arr_yrdata[i].val();
            self.sp_output.arr_ywe[i].next = self.gemm.ywe[i].val();
            self.sp_output.arr_ywdata[i].next = self.gemm.ywdata[i].val();
        }
        self.vector.done.next = self.vec.done.val();

        // The vector unit, its sources and destination in whichever regions they are.
        self.vec.start.next = self.vector.issue.val();
        self.vec.hold.next = false;
        self.vec_sizes_unused.next = (self.vec.rbytes[0].val() != 0)
            | (self.vec.rbytes[1].val() != 0)
            | (self.vec.rbytes[2].val() != 0)
            | self.vec.rsrc3.val()
            | (self.vec.gbytes.val() != 0);
        self.vec.op.next = self.v_op.val();
        self.vec.src0.next = self.v_src0.val();
        self.vec.src1.next = self.v_src1.val();
        self.vec.src2.next = self.v_src2.val();
        self.vec.two.next = self.v_two.val();
        self.vec.dst.next = self.v_dst.val();
        self.vec.elems.next = self.v_elems.val();
        self.vec.lr.next = self.v_lr.val();
        self.vec.mu.next = self.v_mu.val();
        self.vec.lambda.next = self.v_lambda.val();
        self.vec.srste.next = self.v_srste.val();
        self.vec.n.next = self.v_n.val();
        self.vec.m.next = self.v_m.val();
        self.vec.classes.next = self.v_classes.val();
        self.vec.batch.next = self.v_batch.val();
        self.vec.taps.next = self.v_taps.val();
        self.vec.total.next = self.v_total.val();
        self.vec.recip.next = self.v_recip.val();
        self.vec.pbase.next = self.v_pbase.val();
        self.vec.pstep.next = self.v_pstep.val();
        self.vec.prow.next = self.v_prow.val();
        self.vec.kb.next = self.v_kb.val();
        self.vec.src3.next = self.v_src3.val();
        self.vec.width.next = self.v_width.val();
        self.vec.trows.next = self.v_trows.val();
        self.vec.rows.next = self.v_rows.val();
        if self.vector.issue.val() {
            self.vsrc_region[0].d.next = self.v_src0_region.val();
            self.vsrc_region[1].d.next = self.v_src1_region.val();
            self.vsrc_region[2].d.next = self.v_src2_region.val();
            self.vdst_region.d.next = self.v_dst_region.val();
            self.vsrc3_region.d.next = self.v_src3_region.val();
        }
        for p in 0..VECTOR_READS {
            self.sp_weight.vraddr[p].next = self.vec.raddr[p].val();
            self.sp_input.vraddr[p].next = self.vec.raddr[p].val();
            self.sp_output.vraddr[p].next = self.vec.raddr[p].val();
            self.vec.rdata[p].next = self.sp_weight.vrdata[p].val();
            if self.vsrc_region[p].q.val() == 1 {
                self.vec.rdata[p].next = self.sp_input.vrdata[p].val();
            }
            if self.vsrc_region[p].q.val() == 2 {
                self.vec.rdata[p].next = self.sp_output.vrdata[p].val();
            }
        }
        // Port 1's data in source 3's region: `BatchNormGrad`'s gradient statistics.
        self.vec.rdata3.next = self.sp_weight.vrdata[1].val();
        if self.vsrc3_region.q.val() == 1 {
            self.vec.rdata3.next = self.sp_input.vrdata[1].val();
        }
        if self.vsrc3_region.q.val() == 2 {
            self.vec.rdata3.next = self.sp_output.vrdata[1].val();
        }
        // The SR-STE window is source 0's (the weights').
        self.sp_weight.vgaddr.next = self.vec.gaddr.val();
        self.sp_input.vgaddr.next = self.vec.gaddr.val();
        self.sp_output.vgaddr.next = self.vec.gaddr.val();
        self.vec.gdata.next = self.sp_weight.vgdata.val();
        if self.vsrc_region[0].q.val() == 1 {
            self.vec.gdata.next = self.sp_input.vgdata.val();
        }
        if self.vsrc_region[0].q.val() == 2 {
            self.vec.gdata.next = self.sp_output.vgdata.val();
        }
        for p in 0..VECTOR_WRITES {
            self.sp_weight.vwaddr[p].next = self.vec.waddr[p].val();
            self.sp_input.vwaddr[p].next = self.vec.waddr[p].val();
            self.sp_output.vwaddr[p].next = self.vec.waddr[p].val();
            self.sp_weight.vwdata[p].next = self.vec.wdata[p].val();
            self.sp_input.vwdata[p].next = self.vec.wdata[p].val();
            self.sp_output.vwdata[p].next = self.vec.wdata[p].val();
            self.sp_weight.vwe[p].next = 0.into();
            self.sp_input.vwe[p].next = 0.into();
            self.sp_output.vwe[p].next = 0.into();
            if self.vdst_region.q.val() == 0 {
                self.sp_weight.vwe[p].next = self.vec.we[p].val();
            }
            if self.vdst_region.q.val() == 1 {
                self.sp_input.vwe[p].next = self.vec.we[p].val();
            }
            if self.vdst_region.q.val() == 2 {
                self.sp_output.vwe[p].next = self.vec.we[p].val();
            }
        }
        self.done[0].next = self.load.done.val();
        self.done[1].next = self.store.done.val();
        self.done[2].next = self.pru.done.val();
        self.done[3].next = self.gemm.done.val();
        self.done[4].next = self.vec.done.val();
        self.mem_valid.next = self.dma.mem_valid.val();
        self.mem_write.next = self.dma.mem_write.val();
        self.mem_addr.next = self.dma.mem_addr.val();
        self.mem_wdata.next = self.dma.mem_wdata.val();
        self.mem_wmask.next = self.dma.mem_wmask.val();
        self.mem_last.next = self.dma.mem_last.val();
        self.mem_rsp_addr.next = self.dma.mem_rsp_addr.val();
        self.fault.next = self.dma.fault.val();
        self.dma.mem_rvalid.next = self.mem_rvalid.val();
        self.dma.mem_rdata.next = self.mem_rdata.val();

        // The scratchpad regions: the DMA engine's port goes to the transfer's region.
        self.sp_weight.we.next = 0.into();
        self.sp_input.we.next = 0.into();
        self.sp_output.we.next = 0.into();
        self.sp_weight.waddr.next = self.dma.sp_waddr.val();
        self.sp_input.waddr.next = self.dma.sp_waddr.val();
        self.sp_output.waddr.next = self.dma.sp_waddr.val();
        self.sp_weight.wdata.next = self.dma.sp_wdata.val();
        self.sp_input.wdata.next = self.dma.sp_wdata.val();
        self.sp_output.wdata.next = self.dma.sp_wdata.val();
        self.sp_weight.raddr.next = self.dma.sp_raddr.val();
        self.sp_input.raddr.next = self.dma.sp_raddr.val();
        self.sp_output.raddr.next = self.dma.sp_raddr.val();
        self.sp_weight.ewe.next = 0.into();
        self.sp_input.ewe.next = 0.into();
        self.sp_output.ewe.next = 0.into();
        for e in 0..SCATTER {
            self.sp_weight.eaddr[e].next = self.dma.sp_eaddr[e].val();
            self.sp_input.eaddr[e].next = self.dma.sp_eaddr[e].val();
            self.sp_output.eaddr[e].next = self.dma.sp_eaddr[e].val();
            self.sp_weight.edata[e].next = self.dma.sp_edata[e].val();
            self.sp_input.edata[e].next = self.dma.sp_edata[e].val();
            self.sp_output.edata[e].next = self.dma.sp_edata[e].val();
            self.sp_weight.gaddr[e].next = self.dma.sp_gaddr[e].val();
            self.sp_input.gaddr[e].next = self.dma.sp_gaddr[e].val();
            self.sp_output.gaddr[e].next = self.dma.sp_gaddr[e].val();
            self.dma.sp_gdata[e].next = self.sp_weight.gdata[e].val();
            if self.dma_region.q.val() == 1 {
                self.dma.sp_gdata[e].next = self.sp_input.gdata[e].val();
            }
            if self.dma_region.q.val() == 2 {
                self.dma.sp_gdata[e].next = self.sp_output.gdata[e].val();
            }
        }
        self.dma.sp_rdata.next = self.sp_weight.rdata.val();
        if self.dma_region.q.val() == 1 {
            self.dma.sp_rdata.next = self.sp_input.rdata.val();
        }
        if self.dma_region.q.val() == 2 {
            self.dma.sp_rdata.next = self.sp_output.rdata.val();
        }
        // Gathers: the replicating write and the fill.
        self.sp_weight.rwe.next = 0.into();
        self.sp_input.rwe.next = 0.into();
        self.sp_output.rwe.next = 0.into();
        self.sp_weight.fill.next = false;
        self.sp_input.fill.next = false;
        self.sp_output.fill.next = false;
        for j in 0..GATHER_PORTS {
            self.sp_weight.rwaddr[j].next = self.dma.sp_rwaddr[j].val();
            self.sp_input.rwaddr[j].next = self.dma.sp_rwaddr[j].val();
            self.sp_output.rwaddr[j].next = self.dma.sp_rwaddr[j].val();
        }
        for e in 0..WORD_ELEMS {
            self.sp_weight.rwdata[e].next = self.dma.sp_rwdata[e].val();
            self.sp_input.rwdata[e].next = self.dma.sp_rwdata[e].val();
            self.sp_output.rwdata[e].next = self.dma.sp_rwdata[e].val();
        }
        self.sp_weight.fill_addr.next = self.dma.sp_fill_addr.val();
        self.sp_input.fill_addr.next = self.dma.sp_fill_addr.val();
        self.sp_output.fill_addr.next = self.dma.sp_fill_addr.val();
        self.sp_weight.fill_n.next = self.dma.sp_fill_n.val();
        self.sp_input.fill_n.next = self.dma.sp_fill_n.val();
        self.sp_output.fill_n.next = self.dma.sp_fill_n.val();
        self.sp_weight.fill_value.next = self.dma.sp_fill_value.val();
        self.sp_input.fill_value.next = self.dma.sp_fill_value.val();
        self.sp_output.fill_value.next = self.dma.sp_fill_value.val();
        self.sp_weight.xfer_start.next = self.dma.sp_xfer_start.val();
        self.sp_input.xfer_start.next = self.dma.sp_xfer_start.val();
        self.sp_output.xfer_start.next = self.dma.sp_xfer_start.val();
        if self.dma_region.q.val() == 0 {
            self.sp_weight.we.next = self.dma.sp_we.val();
            self.sp_weight.ewe.next = self.dma.sp_ewe.val();
            self.sp_weight.rwe.next = self.dma.sp_rwe.val();
            self.sp_weight.fill.next = self.dma.sp_fill.val();
        }
        if self.dma_region.q.val() == 1 {
            self.sp_input.we.next = self.dma.sp_we.val();
            self.sp_input.ewe.next = self.dma.sp_ewe.val();
            self.sp_input.rwe.next = self.dma.sp_rwe.val();
            self.sp_input.fill.next = self.dma.sp_fill.val();
        }
        if self.dma_region.q.val() == 2 {
            self.sp_output.we.next = self.dma.sp_we.val();
            self.sp_output.ewe.next = self.dma.sp_ewe.val();
            self.sp_output.rwe.next = self.dma.sp_rwe.val();
            self.sp_output.fill.next = self.dma.sp_fill.val();
        }
    }
}
