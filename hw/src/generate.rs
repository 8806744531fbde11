//! `generate`: the RTL of an accelerator description, written to a directory for `nmsat hdl`.
//!
//! Writes three files into the output directory:
//!
//! * `nmsat_array.v`: the systolic array (top module `nmsat_array`) and all its sub-modules;
//! * `files.f`: the Verilog files, one per line, relative to the list itself
//!   (`verilator -F out/files.f`);
//! * `report.txt`: what [`Report`]'s `Display` prints: parameters, module count, top ports.

use crate::array::{array_for, ArrayShape, ARRAY_TOP};
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
    let file_list = out_dir.join("files.f");
    std::fs::write(&file_list, format!("{file_name}\n")).map_err(HwError::io(&file_list))?;
    let report = Report {
        arch: arch.name.clone(),
        top: ARRAY_TOP.to_string(),
        shape,
        patterns: arch.patterns.clone(),
        verilog: vec![verilog],
        file_list,
        report: out_dir.join("report.txt"),
        // rust-hdl starts every module declaration at the beginning of a line.
        modules: text.lines().filter(|l| l.starts_with("module ")).count(),
        lines: text.lines().count(),
        ports,
    };
    std::fs::write(&report.report, format!("{report}\n")).map_err(HwError::io(&report.report))?;
    Ok(report)
}

/// Runs `verilator --lint-only -Wall` and yosys `hierarchy -check; proc; check -assert` on
/// what [`generate`] wrote.
pub fn check_generated(report: &Report) -> Result<(), HwError> {
    verilator_lint(&report.verilog, &report.top)?;
    yosys_check(&report.verilog, &report.top)
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
        for (base, count, p) in port_groups(&self.ports) {
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
        writeln!(
            f,
            "layout: a_in$i/a_out$i are row i/{}, lane i%{}; w_*, idx_*, psum_* $c are column c",
            s.lanes, s.lanes
        )?;
        write!(
            f,
            "files: {} (list: {})",
            self.verilog
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.file_list.display()
        )
    }
}
