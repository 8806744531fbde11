//! Running the synthesis tools: everything they print goes to one log file in the output
//! directory; a failure quotes the tool's error lines and the log's path.

use crate::error::HwError;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The command that installs every tool the synthesis flows run.
pub const SYNTH_INSTALL_HINT: &str =
    "apt-get update && apt-get install -y yosys nextpnr-ice40 fpga-icestorm";

/// At most this many error lines are quoted in a failure; the rest are in the log.
const MAX_ERROR_LINES: usize = 20;

/// The log of one synthesis run (`synth.log` in the output directory).
pub(crate) struct Log {
    path: PathBuf,
    file: File,
}

impl Log {
    /// Creates (truncates) the log at `path`.
    pub(crate) fn create(path: &Path) -> Result<Log, HwError> {
        let file = File::create(path).map_err(HwError::io(path))?;
        Ok(Log {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends a line of the flow's own.
    pub(crate) fn note(&mut self, line: &str) -> Result<(), HwError> {
        writeln!(self.file, "{line}").map_err(HwError::io(&self.path))
    }

    /// Runs `cmd` in `dir`, appends its command line, output and wall time to the log and
    /// returns what it printed (stdout, then stderr) and the seconds it took.
    pub(crate) fn run(&mut self, cmd: &mut Command, dir: &Path) -> Result<(String, f64), HwError> {
        let tool = cmd.get_program().to_string_lossy().into_owned();
        let line = std::iter::once(tool.clone())
            .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ");
        self.note(&format!("$ {line}"))?;
        let start = Instant::now();
        let out = cmd.current_dir(dir).output().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                HwError::MissingSynthTool { tool: tool.clone() }
            } else {
                HwError::Io {
                    path: PathBuf::from(&tool),
                    source: e,
                }
            }
        })?;
        let seconds = start.elapsed().as_secs_f64();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.file
            .write_all(text.as_bytes())
            .map_err(HwError::io(&self.path))?;
        self.note(&format!("# {tool}: {} after {seconds:.1} s", out.status))?;
        if !out.status.success() {
            return Err(HwError::SynthFailed {
                tool,
                status: out.status.to_string(),
                errors: error_lines(&text),
                log: self.path.clone(),
            });
        }
        Ok((text, seconds))
    }
}

/// The lines of a tool's output that say what went wrong: those mentioning an error, or the
/// last lines when none does (a crash prints no "ERROR").
pub(crate) fn error_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .take(MAX_ERROR_LINES)
        .collect();
    let chosen = if errors.is_empty() {
        &lines[lines.len().saturating_sub(10)..]
    } else {
        &errors[..]
    };
    chosen
        .iter()
        .map(|l| format!("  {}", l.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_prefer_lines_that_name_an_error() {
        let text = "Info: placing\nERROR: Unable to place cell 'x'\nInfo: done\n";
        assert_eq!(error_lines(text), "  ERROR: Unable to place cell 'x'");
        let crash = (0..30).map(|i| format!("line {i}\n")).collect::<String>();
        let quoted = error_lines(&crash);
        assert!(
            quoted.starts_with("  line 20") && quoted.ends_with("line 29"),
            "{quoted}"
        );
    }

    #[test]
    fn failures_quote_the_errors_and_the_log() {
        let dir = std::env::temp_dir().join(format!("nmsat-synth-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut log = Log::create(&dir.join("synth.log")).unwrap();
        let e = log
            .run(
                Command::new("sh").args(["-c", "echo fine; echo 'ERROR: broken' >&2; exit 1"]),
                &dir,
            )
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("ERROR: broken") && msg.contains("synth.log"),
            "{msg}"
        );
        assert!(!msg.contains("fine"), "{msg}");
        let logged = std::fs::read_to_string(dir.join("synth.log")).unwrap();
        assert!(
            logged.contains("fine") && logged.contains("$ sh -c"),
            "{logged}"
        );
        let e = log
            .run(&mut Command::new("nmsat-no-such-synth-tool"), &dir)
            .unwrap_err();
        assert!(e.to_string().contains(SYNTH_INSTALL_HINT), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
