//! What a sweep leaves: one JSON record per finished point in `results.jsonl` (appended and
//! flushed as each point finishes, so an interrupted sweep loses nothing), and `results.csv`,
//! one row per point in point order, written from the records.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

/// The resolved design and workload of a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub arch: String,
    pub model: String,
    pub nm: String,
    pub batch: u64,
    pub recipe: String,
    pub ablation: String,
    pub rows: u64,
    pub cols: u64,
    pub mux_lanes: u64,
    pub clock_mhz: f64,
    /// Peak DRAM bandwidth, GB/s.
    pub dram_gbps_peak: f64,
    /// Peak multiply-accumulates per second of the array, in G.
    pub peak_gmacs: f64,
    /// PE-count area proxy (see `axes::area_proxy`), not a synthesis estimate.
    pub area_proxy_pe: f64,
    /// yosys's XCVU9P LUT estimate of the RTL, when the sweep asks for it (`area.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synth_luts: Option<u64>,
    /// yosys's XCVU9P DSP48E2 count, beside `synth_luts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synth_dsps: Option<u64>,
}

impl Design {
    /// The area the Pareto front is drawn over: the synthesis estimate if there is one,
    /// else the PE-count proxy.
    pub fn area(&self) -> f64 {
        self.synth_luts.map_or(self.area_proxy_pe, |l| l as f64)
    }
}

/// Cycles one unit lost, by what it waited for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StallRecord {
    pub dma: u64,
    pub prune: u64,
    pub dependency: u64,
    pub bank: u64,
}

/// What a point measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub cycles: u64,
    pub dense_cycles: u64,
    pub speedup: f64,
    pub seconds: f64,
    /// Training samples per second: batch / seconds.
    pub samples_per_s: f64,
    pub utilization: f64,
    pub dense_utilization: f64,
    pub macs_dense: u64,
    pub macs_effective: u64,
    pub dram_read: u64,
    pub dram_written: u64,
    pub dram_gbps: f64,
    pub energy_pj: f64,
    pub dense_energy_pj: f64,
    pub instructions: u64,
    /// Busy cycles per unit (load, store, prune, array, vector).
    pub busy: [u64; 5],
    /// Stalls per unit, in the same order.
    pub stalls: [StallRecord; 5],
}

/// One layer of a focus point (what the roofline and the stall breakdown are drawn from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub name: String,
    pub macs_dense: u64,
    pub macs_effective: u64,
    /// DRAM bytes the layer's transfers move.
    pub dram_bytes: u64,
    /// First issue to last completion of the layer's instructions.
    pub span_cycles: u64,
    pub array_busy: u64,
    /// What the array waited for before the layer's GEMMs.
    pub array_stalls: StallRecord,
}

/// Wall-clock seconds spent on a point (the only field that differs between equal runs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Wall {
    pub compile_s: f64,
    pub simulate_s: f64,
    /// Compiling and simulating the dense baseline, when this point was the one to do it.
    pub dense_s: f64,
    /// Training for the accuracy, when this point was the one to do it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub train_s: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// What training the point's model under its recipe and N:M reached (`accuracy.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub dataset: String,
    pub datapath: String,
    pub epochs: u64,
    pub seed: u64,
    /// Of the last epoch, on the held-out split.
    pub test_accuracy: f64,
    /// Of the last epoch's training batches.
    pub train_accuracy: f64,
    /// Mean cross-entropy of the last epoch.
    pub loss: f64,
}

/// One line of `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub index: usize,
    pub key: String,
    /// Axis name → value.
    pub point: serde_json::Map<String, serde_json::Value>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub design: Design,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerRecord>,
    /// Only in sweeps with an `accuracy` setting (absent from older results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<Accuracy>,
    #[serde(default)]
    pub wall: Wall,
}

pub const UNITS: [&str; 5] = ["load", "store", "prune", "array", "vector"];

/// Reads the records of `path` (none if it does not exist), keeping the first of any key seen
/// twice. A last line cut short by a kill is dropped and cut from the file, so that appending
/// goes on from a whole line.
pub fn read_jsonl(path: &Path) -> Result<Vec<Record>, String> {
    let text = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole < text.len() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("{}: cannot open: {e}", path.display()))?;
        f.set_len(whole as u64)
            .map_err(|e| format!("{}: cannot truncate: {e}", path.display()))?;
    }
    let text = String::from_utf8_lossy(&text[..whole]);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: Record = serde_json::from_str(line)
            .map_err(|e| format!("{}:{}: not a result record: {e}", path.display(), i + 1))?;
        if seen.insert(r.key.clone()) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Appends records to `results.jsonl`, one whole line per write, flushed at once.
pub struct JsonlWriter {
    file: std::fs::File,
}

impl JsonlWriter {
    pub fn open(path: &Path) -> Result<JsonlWriter, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: cannot open for appending: {e}", path.display()))?;
        Ok(JsonlWriter { file })
    }

    pub fn append(&mut self, r: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_string(r).expect("plain data");
        line.push('\n');
        // One write call per line: a kill lands before or after it, not inside a record
        // (and `read_jsonl` drops a torn tail should it ever happen).
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }
}

/// Quotes a CSV field when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn json_cell(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The CSV text of `records` (sorted by point index), with one column per axis first, and
/// the accuracy columns last when `accuracy` (so that sweeps without one keep their columns).
pub fn csv(axes: &[String], records: &[Record], accuracy: bool) -> String {
    let mut header: Vec<String> = vec!["index".into()];
    header.extend(axes.iter().cloned());
    header.extend(
        [
            "ok",
            "error",
            "arch",
            "model",
            "nm",
            "batch",
            "recipe",
            "ablation",
            "rows",
            "cols",
            "mux_lanes",
            "clock_mhz",
            "dram_gbps_peak",
            "peak_gmacs",
            "area_proxy_pe",
            "synth_luts",
            "synth_dsps",
            "cycles",
            "dense_cycles",
            "speedup",
            "seconds",
            "samples_per_s",
            "utilization",
            "dense_utilization",
            "macs_dense",
            "macs_effective",
            "dram_read",
            "dram_written",
            "dram_gbps",
            "energy_pj",
            "dense_energy_pj",
            "instructions",
        ]
        .map(String::from),
    );
    for u in UNITS {
        header.push(format!("busy_{u}"));
    }
    for u in UNITS {
        for c in ["dma", "prune", "dependency", "bank"] {
            header.push(format!("stall_{u}_{c}"));
        }
    }
    if accuracy {
        header.extend(
            [
                "dataset",
                "datapath",
                "epochs",
                "test_accuracy",
                "train_accuracy",
                "loss",
            ]
            .map(String::from),
        );
    }
    let mut out = header.join(",");
    out.push('\n');
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| r.index);
    for r in sorted {
        let d = &r.design;
        let mut row: Vec<String> = vec![r.index.to_string()];
        row.extend(axes.iter().map(|a| json_cell(r.point.get(a))));
        row.extend([
            r.ok.to_string(),
            r.error.clone().unwrap_or_default(),
            d.arch.clone(),
            d.model.clone(),
            d.nm.clone(),
            d.batch.to_string(),
            d.recipe.clone(),
            d.ablation.clone(),
            d.rows.to_string(),
            d.cols.to_string(),
            d.mux_lanes.to_string(),
            d.clock_mhz.to_string(),
            d.dram_gbps_peak.to_string(),
            d.peak_gmacs.to_string(),
            d.area_proxy_pe.to_string(),
            d.synth_luts.map_or(String::new(), |n| n.to_string()),
            d.synth_dsps.map_or(String::new(), |n| n.to_string()),
        ]);
        match &r.metrics {
            Some(m) => {
                row.extend([
                    m.cycles.to_string(),
                    m.dense_cycles.to_string(),
                    m.speedup.to_string(),
                    m.seconds.to_string(),
                    m.samples_per_s.to_string(),
                    m.utilization.to_string(),
                    m.dense_utilization.to_string(),
                    m.macs_dense.to_string(),
                    m.macs_effective.to_string(),
                    m.dram_read.to_string(),
                    m.dram_written.to_string(),
                    m.dram_gbps.to_string(),
                    m.energy_pj.to_string(),
                    m.dense_energy_pj.to_string(),
                    m.instructions.to_string(),
                ]);
                row.extend(m.busy.iter().map(u64::to_string));
                for s in &m.stalls {
                    row.extend([s.dma, s.prune, s.dependency, s.bank].map(|x| x.to_string()));
                }
            }
            None => row.extend(std::iter::repeat_n(String::new(), 15 + 5 + 20)),
        }
        if accuracy {
            match &r.accuracy {
                Some(a) => row.extend([
                    a.dataset.clone(),
                    a.datapath.clone(),
                    a.epochs.to_string(),
                    a.test_accuracy.to_string(),
                    a.train_accuracy.to_string(),
                    a.loss.to_string(),
                ]),
                None => row.extend(std::iter::repeat_n(String::new(), 6)),
            }
        }
        out.push_str(
            &row.iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: usize, key: &str) -> Record {
        Record {
            index,
            key: key.into(),
            point: serde_json::Map::new(),
            ok: false,
            error: Some("a, \"quoted\" error".into()),
            design: Design {
                arch: "a".into(),
                model: "m".into(),
                nm: "2:8".into(),
                batch: 1,
                recipe: "bdwp".into(),
                ablation: "all-on".into(),
                rows: 4,
                cols: 4,
                mux_lanes: 8,
                clock_mhz: 100.0,
                dram_gbps_peak: 0.8,
                peak_gmacs: 1.6,
                area_proxy_pe: 19.5,
                synth_luts: None,
                synth_dsps: None,
            },
            metrics: None,
            layers: vec![],
            accuracy: None,
            wall: Wall::default(),
        }
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_cut_and_duplicates_are_ignored() {
        let dir = std::env::temp_dir().join(format!("nmsat-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.jsonl");
        let _ = std::fs::remove_file(&path);
        let mut w = JsonlWriter::open(&path).unwrap();
        w.append(&record(0, "a")).unwrap();
        w.append(&record(1, "b")).unwrap();
        w.append(&record(2, "a")).unwrap();
        drop(w);
        let whole = std::fs::read(&path).unwrap().len();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"index\": 3, \"ke").unwrap();
        let r = read_jsonl(&path).unwrap();
        assert_eq!(r.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(std::fs::read(&path).unwrap().len(), whole);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn csv_rows_follow_point_order_and_quote_what_needs_it() {
        let text = csv(&["x".into()], &[record(1, "b"), record(0, "a")], false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let width = lines[0].split(',').count();
        assert!(lines[1].starts_with("0,,false,\"a, \"\"quoted\"\" error\",a,m,2:8,"));
        assert!(lines[2].starts_with("1,"));
        // Every row has the header's number of cells (the quoted comma is one cell).
        assert_eq!(lines[2].replace("\"a, \"", "").split(',').count(), width);
    }

    #[test]
    fn accuracy_is_optional_in_records_and_csv() {
        // A record as sweeps wrote it before accuracy existed still loads.
        let mut old = serde_json::to_value(record(0, "a")).unwrap();
        old["wall"].as_object_mut().unwrap().remove("train_s");
        let r: Record = serde_json::from_value(old).unwrap();
        assert_eq!(r.accuracy, None);
        let line = serde_json::to_string(&r).unwrap();
        assert!(
            !line.contains("accuracy") && !line.contains("train_s"),
            "{line}"
        );
        let mut a = record(0, "a");
        a.accuracy = Some(Accuracy {
            dataset: "digits".into(),
            datapath: "f32".into(),
            epochs: 2,
            seed: 1,
            test_accuracy: 0.9,
            train_accuracy: 0.8,
            loss: 0.5,
        });
        let back: Record = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        let text = csv(&[], &[a, record(1, "b")], true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with(",dataset,datapath,epochs,test_accuracy,train_accuracy,loss"));
        assert!(
            lines[1].ends_with(",digits,f32,2,0.9,0.8,0.5"),
            "{}",
            lines[1]
        );
        assert!(lines[2].ends_with(",,,,,,"), "{}", lines[2]);
        assert!(!csv(&[], &[record(0, "a")], false).contains("test_accuracy"));
    }
}
