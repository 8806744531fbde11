//! Synthesis flows: the generated RTL of a description, through the real tools, to an iCE40
//! bitstream or to XCVU9P resource estimates (`nmsat synth`).
//!
//! * [`synth`] writes into an output directory: `rtl/` (what [`generate`] writes), the yosys
//!   script, the tools' outputs, `synth.log` (everything the tools printed) and
//!   `report.json` ([`SynthReport`]). A directory whose `report.json` has the same cache key
//!   is reused without running a tool.
//! * [`synth_cached`] keeps one directory per cache key under a cache root, for callers that
//!   synthesize many descriptions (the sweep's area axis).
//!
//! The cache key is a hash of the generated Verilog, the target, the clock and [`FLOW_VERSION`]:
//! descriptions that differ only in what the RTL does not depend on share an entry. The flows
//! build on [`generate`]'s [`Report`] (its top and files), never on a module name.
//!
//! [`generate`]: crate::generate()

mod harness;
mod ice40;
mod report;
mod stat;
mod target;
mod tools;
mod xilinx;

pub use harness::{harness, Harness, CLOCK_PORT, HARNESS_TOP};
pub use report::{ClockReport, HarnessReport, Resource, SynthReport, ToolTime, REPORT_FILE};
pub use target::{Ice40Device, Target, XCVU9P_PART};
pub use tools::SYNTH_INSTALL_HINT;

use crate::cosim::fnv1a;
use crate::error::HwError;
use crate::generate::{generate, Report};
use nmsat_compiler::arch::Arch;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tools::Log;

/// Part of every cache key: bump it when a flow changes what it reports.
pub const FLOW_VERSION: &str = "nmsat-synth-1";

/// Generates the RTL of `arch` into `out_dir/rtl` and runs `target`'s flow in `out_dir`
/// (created if missing), or returns the report already there if its cache key matches.
pub fn synth(arch: &Arch, target: Target, out_dir: &Path) -> Result<SynthReport, HwError> {
    std::fs::create_dir_all(out_dir).map_err(HwError::io(out_dir))?;
    let dir = out_dir.canonicalize().map_err(HwError::io(out_dir))?;
    let (rtl, keys, rtl_seconds) = generate_rtl(arch, target, &dir)?;
    if let Some(r) = SynthReport::load_cached(&dir, &keys.key) {
        return Ok(r);
    }
    run_flow(arch, target, &rtl, &dir, keys, rtl_seconds)
}

/// Like [`synth`], in `cache_root/<target>-<key>/`: a description whose RTL was synthesized
/// for `target` before (under any name) costs one RTL generation. Safe to call concurrently.
pub fn synth_cached(
    arch: &Arch,
    target: Target,
    cache_root: &Path,
) -> Result<SynthReport, HwError> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    std::fs::create_dir_all(cache_root).map_err(HwError::io(cache_root))?;
    let root = cache_root.canonicalize().map_err(HwError::io(cache_root))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = root.join(format!(".tmp-{}-{n}", std::process::id()));
    let result = (|| {
        std::fs::create_dir_all(&tmp).map_err(HwError::io(&tmp))?;
        let (rtl, keys, rtl_seconds) = generate_rtl(arch, target, &tmp)?;
        let entry = root.join(format!("{}-{}", target.name(), keys.key));
        if let Some(r) = SynthReport::load_cached(&entry, &keys.key) {
            return Ok(r);
        }
        let key = keys.key.clone();
        if let Err(e) = run_flow(arch, target, &rtl, &tmp, keys, rtl_seconds) {
            // Kept for its log (the error names it), beside the entry it would have been.
            let failed = entry.with_extension("failed");
            let _ = std::fs::remove_dir_all(&failed);
            if std::fs::rename(&tmp, &failed).is_ok() {
                if let HwError::SynthFailed {
                    tool,
                    status,
                    errors,
                    ..
                } = e
                {
                    return Err(HwError::SynthFailed {
                        tool,
                        status,
                        errors,
                        log: failed.join("synth.log"),
                    });
                }
            }
            return Err(e);
        }
        // Built aside and renamed: a concurrent caller never sees half an entry. If one
        // finished first, its entry is as good as ours; an incomplete one is replaced.
        if std::fs::rename(&tmp, &entry).is_err() {
            if let Some(r) = SynthReport::load_cached(&entry, &key) {
                return Ok(SynthReport { cached: false, ..r });
            }
            let _ = std::fs::remove_dir_all(&entry);
            std::fs::rename(&tmp, &entry).map_err(HwError::io(&entry))?;
        }
        SynthReport::load_cached(&entry, &key)
            .map(|r| SynthReport { cached: false, ..r })
            .ok_or_else(|| HwError::Usage(format!("{}: incomplete cache entry", entry.display())))
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// The RTL hash and the cache key.
struct Keys {
    rtl_hash: String,
    key: String,
}

/// Writes the RTL into `dir/rtl` and hashes it.
fn generate_rtl(arch: &Arch, target: Target, dir: &Path) -> Result<(Report, Keys, f64), HwError> {
    let start = Instant::now();
    let rtl = generate(arch, &dir.join("rtl"))?;
    let mut texts = Vec::new();
    for f in &rtl.verilog {
        texts.push(std::fs::read_to_string(f).map_err(HwError::io(f))?);
    }
    let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let rtl_hash = format!("{:016x}", fnv1a(&text_refs));
    let clock = arch.clock_mhz.to_string();
    let mut parts = vec![FLOW_VERSION, target.name(), &clock, &rtl.top];
    parts.extend(&text_refs);
    let key = format!("{:016x}", fnv1a(&parts));
    Ok((rtl, Keys { rtl_hash, key }, start.elapsed().as_secs_f64()))
}

/// Runs `target`'s flow in `dir` and writes `report.json`.
fn run_flow(
    arch: &Arch,
    target: Target,
    rtl: &Report,
    dir: &Path,
    keys: Keys,
    rtl_seconds: f64,
) -> Result<SynthReport, HwError> {
    // A report left by an earlier run must not outlive a failure of this one.
    let _ = std::fs::remove_file(dir.join(REPORT_FILE));
    let mut log = Log::create(&dir.join("synth.log"))?;
    log.note(&format!(
        "# nmsat synth: `{}` for {} ({}), top `{}`, RTL hash {}",
        arch.name,
        target.name(),
        target.part(),
        rtl.top,
        keys.rtl_hash
    ))?;
    let mut report = SynthReport {
        arch: arch.name.clone(),
        target: target.name().into(),
        part: target.part().into(),
        top: rtl.top.clone(),
        rtl_hash: keys.rtl_hash,
        key: keys.key,
        estimate: target == Target::Xcvu9p,
        resources: Vec::new(),
        clock: ClockReport {
            requested_mhz: arch.clock_mhz,
            achieved_mhz: None,
            icetime_mhz: None,
        },
        harness: None,
        files: [("log".to_string(), PathBuf::from("synth.log"))].into(),
        seconds: vec![ToolTime {
            tool: "rtl".into(),
            seconds: rtl_seconds,
        }],
        tools: Vec::new(),
        cached: false,
        dir: dir.to_path_buf(),
    };
    for (i, f) in rtl.verilog.iter().enumerate() {
        report
            .files
            .insert(format!("rtl{i}"), PathBuf::from(relative(f, dir)));
    }
    match target.ice40() {
        Some(dev) => ice40::run(target, dev, rtl, dir, &mut log, &mut report)?,
        None => xilinx::run(rtl, dir, &mut log, &mut report)?,
    }
    let path = dir.join(REPORT_FILE);
    let json = serde_json::to_string_pretty(&report).map_err(|e| HwError::Io {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&path, json + "\n").map_err(HwError::io(&path))?;
    Ok(report)
}

/// `read_verilog` lines for the RTL files, relative to `dir` (where yosys runs).
pub(crate) fn read_verilog_commands(rtl: &Report, dir: &Path) -> String {
    rtl.verilog
        .iter()
        // Quoted: yosys splits on spaces.
        .map(|f| format!("read_verilog \"{}\"\n", relative(f, dir)))
        .collect()
}

/// `path` relative to `dir` if it is below it, else as it is.
pub(crate) fn relative(path: &Path, dir: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

/// yosys's version line (`Yosys 0.23 (git sha1 …)`) from its output.
pub(crate) fn yosys_banner(out: &str) -> Option<String> {
    out.lines()
        .map(str::trim)
        .find(|l| l.starts_with("Yosys ") && l.contains("git sha1"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_separates_parts() {
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]));
        // The published FNV-1a test vector for "a", followed by our 0xff separator.
        let mut h: u64 = 0xaf63_dc4c_8601_ec8c;
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        assert_eq!(fnv1a(&["a"]), h);
    }

    #[test]
    fn targets_parse_and_unknown_ones_list_the_allowed() {
        assert_eq!("ice40-up5k".parse::<Target>().unwrap(), Target::Ice40Up5k);
        assert_eq!("XCVU9P".parse::<Target>().unwrap(), Target::Xcvu9p);
        let e = "ecp5".parse::<Target>().unwrap_err().to_string();
        assert!(e.contains("`ecp5`"), "{e}");
        assert!(e.contains("ice40-up5k, ice40-hx8k, xcvu9p"), "{e}");
    }
}
