//! `SynthReport`: what a synthesis run measured, as a table and as JSON (`report.json`,
//! which is also the cache entry).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One resource of the device: how much the design uses and how much there is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Short name: `LUT4`, `DFF`, `BRAM`, `DSP`, … (`LUT`, `FF`, `DSP48E2`, `RAMB18`, … on xcvu9p).
    pub name: String,
    /// The primitives counted (`SB_LUT4`, `SB_DFF*`, `LUT1..LUT6`).
    pub cells: String,
    /// Used by the whole design as synthesized (with the IO harness on iCE40).
    pub used: u64,
    /// The device's capacity; `None` where the count has no single capacity (carry chains).
    pub available: Option<u64>,
    /// Used by the generated core alone (without the IO harness), where they differ.
    pub core: Option<u64>,
}

impl Resource {
    /// `used / available`, if there is a capacity.
    pub fn utilization(&self) -> Option<f64> {
        self.available
            .filter(|&a| a > 0)
            .map(|a| self.used as f64 / a as f64)
    }

    /// Whether the design needs more than the device has.
    pub fn overflows(&self) -> bool {
        self.available.is_some_and(|a| self.used > a)
    }
}

/// The clock: requested by the description, achieved after place and route (iCE40).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockReport {
    /// `clock_mhz` of the description.
    pub requested_mhz: f64,
    /// nextpnr's post-route fmax of the clock (iCE40 only).
    pub achieved_mhz: Option<f64>,
    /// icetime's critical path as a frequency (iCE40 only).
    pub icetime_mhz: Option<f64>,
}

/// The IO harness around the core on iCE40 (see `harness.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HarnessReport {
    /// Input bits of the core, each a flip-flop of the harness's shift chain.
    pub input_bits: usize,
    /// Output bits of the core, XOR-reduced to one pin.
    pub output_bits: usize,
}

/// The wall time of one step of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolTime {
    /// The tool (`yosys`, `nextpnr-ice40`, …).
    pub tool: String,
    /// Wall seconds.
    pub seconds: f64,
}

/// Everything a synthesis run measured. File paths are relative to [`SynthReport::dir`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthReport {
    /// The description's name.
    pub arch: String,
    /// The target's name (`ice40-up5k`).
    pub target: String,
    /// The device (`iCE40UP5K-SG48`, `xcvu9p-fsgd2104-2L-e`).
    pub part: String,
    /// The generated top module that was synthesized.
    pub top: String,
    /// FNV-1a of the generated Verilog, hex.
    pub rtl_hash: String,
    /// The cache key: the RTL hash with the target, the clock and the flow's version.
    pub key: String,
    /// True for the xcvu9p: yosys `synth_xilinx` estimates, not Vivado results.
    pub estimate: bool,
    /// Resources used and available.
    pub resources: Vec<Resource>,
    /// Requested and achieved clock.
    pub clock: ClockReport,
    /// The IO harness, on iCE40.
    pub harness: Option<HarnessReport>,
    /// Output files by role (`bitstream`, `log`, `vivado_tcl`, …), relative to `dir`.
    pub files: BTreeMap<String, PathBuf>,
    /// Wall seconds of each tool run, in order (`rtl`: generating the Verilog).
    pub seconds: Vec<ToolTime>,
    /// The tools' versions (yosys's banner line, …).
    pub tools: Vec<String>,
    /// Whether this report was read from the cache instead of running the tools.
    #[serde(skip)]
    pub cached: bool,
    /// The directory the run wrote into (not serialized: cache entries may move).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl SynthReport {
    /// The resource named `name`.
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name == name)
    }

    /// How much of `name` the design uses (0 if the report has no such resource).
    pub fn used(&self, name: &str) -> u64 {
        self.resource(name).map_or(0, |r| r.used)
    }

    /// An output file by role, with the run's directory joined.
    pub fn file(&self, role: &str) -> Option<PathBuf> {
        self.files.get(role).map(|f| self.dir.join(f))
    }

    /// Total wall seconds of the tool runs.
    pub fn total_seconds(&self) -> f64 {
        self.seconds.iter().map(|t| t.seconds).sum()
    }

    /// Records a tool's wall time.
    pub(crate) fn time(&mut self, tool: &str, seconds: f64) {
        self.seconds.push(ToolTime {
            tool: tool.into(),
            seconds,
        });
    }

    /// The JSON form (what `report.json` holds, plus `cached` and `dir`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("cached".into(), self.cached.into());
            o.insert("dir".into(), self.dir.display().to_string().into());
        }
        v
    }

    /// Reads `dir/report.json` if it is a report with cache key `key`.
    pub(crate) fn load_cached(dir: &Path, key: &str) -> Option<SynthReport> {
        let text = std::fs::read_to_string(dir.join(REPORT_FILE)).ok()?;
        let mut r: SynthReport = serde_json::from_str(&text).ok()?;
        // A cache entry is only good if every file it names is still there.
        let complete = r.files.values().all(|f| dir.join(f).is_file());
        if r.key != key || !complete {
            return None;
        }
        r.cached = true;
        r.dir = dir.to_path_buf();
        Some(r)
    }
}

/// The report's file name in the output directory.
pub const REPORT_FILE: &str = "report.json";

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for SynthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} on {} ({}): top `{}`, RTL hash {}{}",
            self.arch,
            self.part,
            self.target,
            self.top,
            self.rtl_hash,
            if self.cached { " (cached)" } else { "" }
        )?;
        if self.estimate {
            writeln!(
                f,
                "yosys estimates (synth_xilinx -family xcup, out of context), not Vivado results"
            )?;
        }
        if let Some(h) = &self.harness {
            writeln!(
                f,
                "in an IO harness: {} input bits shifted in from one pin, {} output bits \
                 XOR-reduced to one pin; `core` counts the generated top alone",
                h.input_bits, h.output_bits
            )?;
        }
        let with_core = self.resources.iter().any(|r| r.core.is_some());
        write!(
            f,
            "{:<8} {:<26} {:>10} {:>11} {:>7}",
            "resource", "cells", "used", "available", "util"
        )?;
        if with_core {
            write!(f, " {:>10}", "core")?;
        }
        writeln!(f)?;
        for r in &self.resources {
            let avail = r.available.map_or("-".to_string(), thousands);
            let util = r
                .utilization()
                .map_or("-".to_string(), |u| format!("{:.1}%", 100.0 * u));
            write!(
                f,
                "{:<8} {:<26} {:>10} {avail:>11} {util:>7}",
                r.name,
                r.cells,
                thousands(r.used)
            )?;
            if with_core {
                write!(f, " {:>10}", r.core.map_or(String::new(), thousands))?;
            }
            writeln!(f)?;
        }
        let c = &self.clock;
        match (c.achieved_mhz, c.icetime_mhz) {
            (Some(a), icetime) => {
                write!(
                    f,
                    "clock: requested {:.1} MHz, achieved {a:.1} MHz (nextpnr)",
                    c.requested_mhz
                )?;
                if let Some(t) = icetime {
                    write!(f, ", {t:.1} MHz (icetime)")?;
                }
                writeln!(
                    f,
                    ": {}",
                    if a >= c.requested_mhz {
                        "met"
                    } else {
                        "NOT met"
                    }
                )?;
            }
            (None, _) => writeln!(
                f,
                "clock: {:.1} MHz requested (constrained in the XDC; timing needs Vivado)",
                c.requested_mhz
            )?,
        }
        let times: Vec<String> = self
            .seconds
            .iter()
            .map(|t| format!("{} {:.1} s", t.tool, t.seconds))
            .collect();
        writeln!(
            f,
            "wall time: {}{}",
            times.join(", "),
            if self.cached { " (when it ran)" } else { "" }
        )?;
        let files: Vec<String> = self
            .files
            .iter()
            .map(|(role, p)| format!("{role} {}", p.display()))
            .collect();
        write!(f, "files in {}: {}", self.dir.display(), files.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_182_240), "1,182,240");
    }

    #[test]
    fn overflow_and_utilization() {
        let r = Resource {
            name: "DSP".into(),
            cells: "SB_MAC16".into(),
            used: 9,
            available: Some(8),
            core: None,
        };
        assert!(r.overflows());
        assert_eq!(r.utilization(), Some(9.0 / 8.0));
        let carry = Resource {
            available: None,
            ..r
        };
        assert!(!carry.overflows() && carry.utilization().is_none());
    }
}
