//! `Target`: the devices `nmsat synth` builds for, and what each of them holds.

use crate::error::HwError;
use std::fmt;
use std::str::FromStr;

/// A synthesis target: an iCE40 (bitstream) or the VCU1525's UltraScale+ (estimates).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Lattice iCE40 UltraPlus 5K in the SG48 package (the iCEBreaker's device).
    Ice40Up5k,
    /// Lattice iCE40 HX8K in the CT256 package (the HX8K breakout board's device).
    Ice40Hx8k,
    /// AMD/Xilinx Virtex UltraScale+ XCVU9P, the VCU1525's device: yosys estimates and a
    /// Vivado script, no bitstream.
    Xcvu9p,
}

/// The iCE40 facts the flow needs: nextpnr and icetime names, capacities, pins.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ice40Device {
    /// nextpnr-ice40's device flag without dashes and icetime's `-d` (`up5k`).
    pub device: &'static str,
    /// The package (`sg48`).
    pub package: &'static str,
    /// Logic cells: one LUT4 and one DFF each.
    pub logic_cells: u64,
    /// SB_RAM40_4K block RAMs.
    pub brams: u64,
    /// SB_MAC16 DSPs.
    pub dsps: u64,
    /// User IO pins of the package (nextpnr counts every IO site of the die).
    pub io_pins: u64,
    /// A global-buffer pin for the clock: the board oscillator's (iCEBreaker pin 35,
    /// HX8K breakout J3).
    pub clock_pin: &'static str,
    /// Two more pins for the IO harness's serial in and out (a button and an LED on those
    /// boards; any IO would do).
    pub serial_pins: [&'static str; 2],
}

const UP5K: Ice40Device = Ice40Device {
    device: "up5k",
    package: "sg48",
    logic_cells: 5280,
    brams: 30,
    dsps: 8,
    io_pins: 39,
    clock_pin: "35",
    serial_pins: ["10", "11"],
};

const HX8K: Ice40Device = Ice40Device {
    device: "hx8k",
    package: "ct256",
    logic_cells: 7680,
    brams: 32,
    dsps: 0,
    io_pins: 206,
    clock_pin: "J3",
    serial_pins: ["A1", "B5"],
};

impl Target {
    /// Every target, in the order help texts list them.
    pub const ALL: [Target; 3] = [Target::Ice40Up5k, Target::Ice40Hx8k, Target::Xcvu9p];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::Ice40Up5k => "ice40-up5k",
            Target::Ice40Hx8k => "ice40-hx8k",
            Target::Xcvu9p => "xcvu9p",
        }
    }

    /// The device in its vendor's words (`iCE40UP5K-SG48`, `xcvu9p-fsgd2104-2L-e`).
    pub fn part(self) -> &'static str {
        match self {
            Target::Ice40Up5k => "iCE40UP5K-SG48",
            Target::Ice40Hx8k => "iCE40HX8K-CT256",
            Target::Xcvu9p => XCVU9P_PART,
        }
    }

    /// The iCE40 facts, or `None` for the Xilinx target.
    pub fn ice40(self) -> Option<&'static Ice40Device> {
        match self {
            Target::Ice40Up5k => Some(&UP5K),
            Target::Ice40Hx8k => Some(&HX8K),
            Target::Xcvu9p => None,
        }
    }

    /// The names of all targets, comma-separated (for "allowed:" in messages).
    pub fn allowed() -> String {
        Target::ALL.map(Target::name).join(", ")
    }
}

/// The VCU1525's part, for the Vivado script.
pub const XCVU9P_PART: &str = "xcvu9p-fsgd2104-2L-e";

/// XCVU9P capacities (AMD DS923, Virtex UltraScale+ device table): CLB LUTs, CLB flip-flops,
/// DSP48E2 slices, 36 Kb block RAMs (each splits into two RAMB18s).
pub(crate) const XCVU9P_LUTS: u64 = 1_182_240;
pub(crate) const XCVU9P_FFS: u64 = 2_364_480;
pub(crate) const XCVU9P_DSPS: u64 = 6_840;
pub(crate) const XCVU9P_RAMB36: u64 = 2_160;

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = HwError;

    fn from_str(s: &str) -> Result<Target, HwError> {
        Target::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| HwError::UnknownTarget {
                name: s.to_string(),
                allowed: Target::allowed(),
            })
    }
}
