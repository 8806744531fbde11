//! nmsat-hw: the accelerator's RTL in rust-hdl, sized from an [`Arch`] at run time, with
//! Verilog generation, external checks and Verilator co-simulation driven from Rust.
//!
//! * [`Pe`], [`SystolicArray`] ([`array_for`] an `Arch`), [`Prune`]: the array and prune
//!   unit; [`WsPe`], [`WsArray`]: the weight-stationary grid with shadow weight chains that
//!   the exact simulator's array models register for register;
//! * [`Core`]: the core as one top — [`Sequencer`]s (the controller), [`Dma`] with its
//!   [`RowWalker`]s, the [`PruneUnit`] with its [`RankPack`] group networks, the
//!   [`VectorUnit`] with its [`SgdLanes`], [`LossLanes`], [`GroupPhase`] and [`GroupKeep`], [`DecayLanes`],
//!   [`BatchLanes`], [`GeluLanes`], [`NormLanes`] and [`SoftmaxGradLanes`], the [`ArrayUnit`]
//!   (the grid with its edges), [`Scratchpad`] regions; [`encode`] turns a program into its
//!   queues;
//! * [`BankedRegion`]: a physically banked region of rust-hdl `RAM`s, with its reference
//!   [`BankedRegionModel`], and the [`BankWriteSequencer`] and [`BankReadSequencer`] that
//!   serve an access set over its banks in its bank degree; the [`StepReadServer`] and
//!   [`StepWriteServer`] that serve a held unit's live set round by round, and the
//!   [`BankedVectorUnit`] they serve; [`CorePhysical`]: the core on such regions (a
//!   [`RegionHub`] each, [`DmaPhysical`], [`BankedPruneUnit`], [`PhysicalArrayUnit`]), with
//!   `Core`'s ports;
//! * [`generate`]: the Verilog, file list and report `nmsat hdl` writes; [`to_verilog`],
//!   [`verilator_lint`], [`yosys_check`]: generation and the external checks;
//! * [`Design`], [`Model`]: Verilator models built into shared libraries and loaded at run
//!   time (cached by hash); [`VerilatedArray`], [`load_weights`], [`gemm`]: drive an array;
//!   [`run_core`], [`cosim_program`]: a program on the core against the exact simulator
//!   ([`random_program`], [`gemm_program`] make them);
//!   [`ws_gemm`]: a GEMM on the grid with the exact model's edges;
//! * [`mod@synth`]: the iCE40 and XCVU9P flows `nmsat synth` runs.
//!
//! The arithmetic is [`nmsat_compiler::datapath`]'s and the N:M choice is
//! [`nmsat_compiler::prune::nm_mask`]'s; the tests check the RTL against them.
//!
//! [`Arch`]: nmsat_compiler::arch::Arch
#![deny(missing_docs)]

mod array;
mod array_unit;
mod bank_sequencer;
mod banked_region;
mod banked_vector;
mod batch_norm;
mod controller;
mod core;
mod core_physical;
mod core_run;
mod cosim;
mod dma;
mod dma_physical;
mod driver;
mod encode;
mod error;
mod gather_map;
mod gelu_lanes;
mod gemm_program;
mod generate;
mod group_window;
mod mask_decay;
mod pe;
mod pipeline_tail;
mod prune;
mod prune_banks;
mod prune_unit;
mod random_program;
mod rank_pack;
mod region_hub;
mod row_lanes;
mod row_walker;
mod scratchpad;
mod step_server;
pub mod synth;
mod vector_arith;
mod vector_unit;
mod verilog;
mod ws_array;
mod ws_driver;
mod ws_pe;

pub use crate::array::{
    array_for, build_array, ArrayShape, SystolicArray, ARRAY_TOP, LANE_COUNTS, MAX_SIDE,
};
pub use crate::array_unit::{
    forward_depth, x_set_entries, ArrayUnit, GemmOp, PhysicalArrayUnit, GEMM_FIELDS,
};
pub use crate::bank_sequencer::{
    ranks, BankReadSequencer, BankReadSequencerModel, BankWriteSequencer, BankWriteSequencerModel,
    SequencerShape, WriteEntry, MAX_ENTRIES, WORD_BITS,
};
pub use crate::banked_region::{
    BankWrite, BankedRegion, BankedRegionModel, ByteRam, RegionShape, MAX_BANKS, MAX_COPIES,
    MAX_DEPTH, MIN_DEPTH,
};
pub use crate::banked_vector::{BankedVectorUnit, VECTOR_FIELDS};
pub use crate::batch_norm::BatchLanes;
pub use crate::controller::{Sequencer, RESOURCES, UNITS};
pub use crate::core::{core_for, Core, CORE_TOP};
pub use crate::core_physical::CorePhysical;
pub use crate::core_run::{
    build_core, cosim_program, first_mismatch, run_core, vector_fields as core_vector_fields,
    Cosim, Mismatch, RtlRun, VECTOR_FIELDS as CORE_VECTOR_FIELDS,
};
pub use crate::cosim::{top_ports, BuildOptions, BuildTimes, Design, Dir, Model, Port};
pub use crate::dma::{check_arch as check_dma, Dma, Requant};
pub use crate::dma_physical::{DmaPhysical, LOAD_ENTRIES, STORE_ENTRIES, TRANSFER_INPUTS};
pub use crate::driver::{
    gemm, load_weights, settle, stream_cycles, ArrayPorts, Mode, Tile, VerilatedArray,
};
pub use crate::encode::{
    encode, encode_transfer, PruneOp, QueuedInstr, Queues, SrSteFields, Transfer, VectorOp,
};
pub use crate::error::{HwError, INSTALL_HINT};
pub use crate::gather_map::{field::FILL as GATHER_FILL, GATHER_FIELDS};
pub use crate::gelu_lanes::GeluLanes;
pub use crate::gemm_program::gemm_program;
pub use crate::generate::{check_generated, generate, CoreRtl, Report};
pub use crate::group_window::{window_span, GroupKeep, GroupPhase, WindowSpan};
pub use crate::mask_decay::DecayLanes;
pub use crate::pe::{Pe, IDX_BITS, MAX_LANES};
pub use crate::pipeline_tail::PipelineTail;
pub use crate::prune::Prune;
pub use crate::prune_banks::{run_degree, BankedPruneUnit};
pub use crate::prune_unit::PruneUnit;
pub use crate::random_program::{load_program, random_program, vector_program, PROGRAM_DRAM_BYTES};
pub use crate::rank_pack::{RankPack, GROUP_BITS, LANE_BITS};
pub use crate::region_hub::{CopyOwners, RegionHub};
pub use crate::row_lanes::{NormLanes, SoftmaxGradLanes};
pub use crate::row_walker::{RowWalker, WORD_BYTES};
pub use crate::scratchpad::{Scratchpad, SCATTER};
pub use crate::step_server::{StepReadServer, StepWriteServer, ROUND_BITS};
pub use crate::synth::{synth, synth_cached, SynthReport, Target};
pub use crate::vector_arith::{LossLanes, SgdLanes};
pub use crate::vector_unit::{
    batch_fits, row_passes, rows_fit, Lane, VectorUnit, MAX_VECTOR_LANES, VOP_ADD, VOP_ADD3,
    VOP_BATCH_GRAD_STATS, VOP_BATCH_NORM, VOP_BATCH_NORM_GRAD, VOP_BATCH_STATS, VOP_FILL, VOP_GELU,
    VOP_GELU_GRAD, VOP_LOSS, VOP_MASK_DECAY, VOP_NORM, VOP_NORM_GRAD, VOP_RELU, VOP_RELU_GRAD,
    VOP_SGD, VOP_SOFTMAX, VOP_SOFTMAX_GRAD,
};
pub use crate::verilog::{to_verilog, verilator_lint, write_verilog, yosys_check, VERILOG_HEADER};
pub use crate::ws_array::{build_ws_array, WsArray};
pub use crate::ws_driver::{build_ws_array_design, ws_gemm, WS_ARRAY_TOP};
pub use crate::ws_pe::{WsPe, DEST_BITS, FLAG_BITS};
