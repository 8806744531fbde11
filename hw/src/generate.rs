//! `generate`: the RTL of an accelerator description, written to a directory for `nmsat hdl`.
//!
//! Writes three files into the output directory:
//!
//! * `nmsat_array.v`: the systolic array (top module `nmsat_array`) and all its sub-modules;
//! * `nmsat_core.v`: the core (top module `nmsat_core`: controller, DMA engine, scratchpad
//!   regions), when the description's DMA and scratchpads are ones the RTL times exactly
//!   (see [`crate::check_dma`]); otherwise the report says why it was left out;
//! * `files.f`: the Verilog files, one per line, relative to the list itself
//!   (`verilator -F out/files.f`);
//! * `report.txt`: what [`Report`]'s `Display` prints: parameters, module count, top ports.

use crate::array::{array_for, ArrayShape, ARRAY_TOP};
use crate::core::{core_for, CORE_TOP};
use crate::cosim::{top_ports, Dir, Port};
use crate::error::HwError;
use crate::pe::IDX_BITS;
use crate::verilog::{to_verilog, verilator_lint, write_verilog, yosys_check};
use nmsat_compiler::arch::Arch;
use nmsat_compiler::prune::Nm;
use std::fmt;
use std::path::{Path, PathBuf};

/// What [`generate`] wrote.
#[derive(Clone, Debug)]
pub struct Report {
    /// The description's name.
    pub arch: String,
    /// The top module.
    pub top: String,
    /// Rows, columns and lanes of the array.
    pub shape: ArrayShape,
    /// The N:M patterns the description lists (all run on the array: M ≤ lanes).
    pub patterns: Vec<Nm>,
    /// The Verilog files, in the order `files.f` lists them.
    pub verilog: Vec<PathBuf>,
    /// The file list.
    pub file_list: PathBuf,
    /// The report text file.
    pub report: PathBuf,
    /// Verilog modules (rust-hdl emits one per instance).
    pub modules: usize,
    /// Lines of Verilog.
    pub lines: usize,
    /// The top module's ports, in declaration order.
    pub ports: Vec<Port>,
    /// The core, or why it was not generated.
    pub core: Result<CoreRtl, String>,
}

/// The core's Verilog, as [`generate`] wrote it.
#[derive(Clone, Debug)]
pub struct CoreRtl {
    /// Its top module.
    pub top: String,
    /// Its file.
    pub verilog: PathBuf,
    /// Verilog modules.
    pub modules: usize,
    /// Lines of Verilog.
    pub lines: usize,
    /// The top module's ports.
    pub ports: Vec<Port>,
    /// Bytes of the weight, input and output regions.
    pub regions: [u64; 3],
    /// The regions are physically banked ([`crate::CorePhysical`]).
    pub physical: bool,
}

/// Modules in rust-hdl output: it starts every module declaration at the beginning of a line.
fn module_count(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("module ")).count()
}

/// Writes the core's Verilog into `out_dir`, or says why the description has no RTL core.
fn generate_core(arch: &Arch, out_dir: &Path) -> Result<Result<CoreRtl, String>, HwError> {
    let core = match core_for(arch) {
        Ok(c) => c,
        Err(e @ HwError::Unsupported { .. }) => return Ok(Err(e.to_string())),
        Err(e) => return Err(e),
    };
    let text = to_verilog(core.as_ref(), CORE_TOP)?;
    let verilog = out_dir.join(format!("{CORE_TOP}.v"));
    write_verilog(&text, &verilog)?;
    Ok(Ok(CoreRtl {
        top: CORE_TOP.to_string(),
        verilog,
        modules: module_count(&text),
        lines: text.lines().count(),
        ports: top_ports(core.as_ref())?,
        regions: nmsat_compiler::arch::RegionId::ALL.map(|r| arch.region(r).bytes),
        physical: crate::core::banking(arch)? == nmsat_compiler::arch::Banking::Physical,
    }))
}

/// Writes the RTL of `arch` into `out_dir` (created if missing): see the module docs.
pub fn generate(arch: &Arch, out_dir: &Path) -> Result<Report, HwError> {
    let shape = ArrayShape::from_arch(arch)?;
    let uut = array_for(arch)?;
    let text = to_verilog(uut.as_ref(), ARRAY_TOP)?;
    let ports = top_ports(uut.as_ref())?;
    std::fs::create_dir_all(out_dir).map_err(HwError::io(out_dir))?;
    let file_name = format!("{ARRAY_TOP}.v");
    let verilog = out_dir.join(&file_name);
    write_verilog(&text, &verilog)?;
    let core = generate_core(arch, out_dir)?;
    let mut list = format!("{file_name}\n");
    if core.is_ok() {
        list.push_str(&format!("{CORE_TOP}.v\n"));
    }
    let file_list = out_dir.join("files.f");
    std::fs::write(&file_list, list).map_err(HwError::io(&file_list))?;
    let report = Report {
        arch: arch.name.clone(),
        top: ARRAY_TOP.to_string(),
        shape,
        patterns: arch.patterns.clone(),
        verilog: vec![verilog],
        file_list,
        report: out_dir.join("report.txt"),
        modules: module_count(&text),
        lines: text.lines().count(),
        ports,
        core,
    };
    std::fs::write(&report.report, format!("{report}\n")).map_err(HwError::io(&report.report))?;
    Ok(report)
}

/// Runs `verilator --lint-only -Wall` and yosys `hierarchy -check; proc; check -assert` on
/// what [`generate`] wrote.
pub fn check_generated(report: &Report) -> Result<(), HwError> {
    verilator_lint(&report.verilog, &report.top)?;
    yosys_check(&report.verilog, &report.top)?;
    if let Ok(core) = &report.core {
        let files = [core.verilog.clone()];
        verilator_lint(&files, &core.top)?;
        yosys_check(&files, &core.top)?;
    }
    Ok(())
}

/// Ports grouped by base name: `a_in$0 … a_in$31` → (`a_in`, 32 ports).
fn port_groups(ports: &[Port]) -> Vec<(&str, usize, &Port)> {
    let mut groups: Vec<(&str, usize, &Port)> = Vec::new();
    for p in ports {
        // rust-hdl names the elements of a `Vec` port `name$index`.
        let base = match p.name.rsplit_once('$') {
            Some((b, i)) if i.bytes().all(|c| c.is_ascii_digit()) => b,
            _ => p.name.as_str(),
        };
        match groups.last_mut() {
            Some((b, n, _)) if *b == base => *n += 1,
            _ => groups.push((base, 1, p)),
        }
    }
    groups
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shape;
        let patterns: Vec<String> = self.patterns.iter().map(Nm::to_string).collect();
        writeln!(f, "{}: RTL of `{}`", self.top, self.arch)?;
        writeln!(
            f,
            "parameters: {} rows × {} cols weight-stationary, {} activation lanes ({}:1 mux, \
             {IDX_BITS}-bit index), int16 × int16 → int32 wrapping",
            s.rows, s.cols, s.lanes, s.lanes
        )?;
        writeln!(
            f,
            "N:M patterns: {}",
            if patterns.is_empty() {
                "none (dense only)".to_string()
            } else {
                patterns.join(", ")
            }
        )?;
        writeln!(
            f,
            "modules: {} ({} PEs, one module per instance), {} lines of Verilog",
            self.modules,
            s.pes(),
            self.lines
        )?;
        writeln!(f, "top ports:")?;
        write_ports(f, &self.ports)?;
        writeln!(
            f,
            "layout: a_in$i/a_out$i are row i/{}, lane i%{}; w_*, idx_*, psum_* $c are column c",
            s.lanes, s.lanes
        )?;
        match &self.core {
            Ok(c) => {
                let [w, i, o] = c.regions;
                let sizes = format!("{w} / {i} / {o} bytes");
                let units = if c.physical {
                    format!(
                        "DMA engine and prune unit on physically banked regions of {sizes} (a \
                         region hub each); the array and vector units are not on banks yet, so \
                         GEMM and vector instructions are refused"
                    )
                } else {
                    format!(
                        "DMA engine, prune unit, vector unit (element-wise operations, SGD, loss \
                         gradient, pooling), scratchpad regions of {sizes}; the array unit is \
                         not in the core yet"
                    )
                };
                writeln!(
                    f,
                    "{}: controller (load, store, prune, array, vector queues), {units}",
                    c.top
                )?;
                writeln!(
                    f,
                    "modules: {}, {} lines of Verilog; top ports:",
                    c.modules, c.lines
                )?;
                write_ports(f, &c.ports)?;
            }
            Err(why) => writeln!(f, "{CORE_TOP}: not generated: {why}")?,
        }
        let mut files: Vec<String> = self
            .verilog
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if let Ok(c) = &self.core {
            files.push(c.verilog.display().to_string());
        }
        write!(
            f,
            "files: {} (list: {})",
            files.join(", "),
            self.file_list.display()
        )
    }
}

/// One line per port group: direction, name range, type.
fn write_ports(f: &mut fmt::Formatter<'_>, ports: &[Port]) -> fmt::Result {
    {
        for (base, count, p) in port_groups(ports) {
            let dir = match p.dir {
                Dir::In => "in ",
                Dir::Out => "out",
            };
            let name = if count > 1 {
                format!("{base}$0..{base}${}", count - 1)
            } else {
                base.to_string()
            };
            let sign = if p.signed { "signed " } else { "" };
            let width = if p.width > 1 {
                format!("[{}:0]", p.width - 1)
            } else {
                String::new()
            };
            let line = format!("  {dir} {name:<28} {sign}{width}");
            writeln!(f, "{}", line.trim_end())?;
        }
    }
    Ok(())
}
