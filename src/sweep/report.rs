//! `report.html`: one self-contained page with the sweep's description, its tables (speedup
//! per N:M, ablation, Pareto fronts, accuracy beside speedup, failures, every point) and its
//! plots inlined as SVG.

use super::accuracy::AccuracySpec;
use super::plots::{focus_text, Figure};
use super::results::Record;
use super::select;
use super::spec::{Sampling, Spec};
use super::value::Value;
use std::fmt::Write;
use std::path::Path;

/// Rows of the all-points table beyond which the page points to `results.csv` instead.
const MAX_ROWS: usize = 2000;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |x| format!("{x:.digits$}"))
}

fn table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    out.push_str("<table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn pivot(out: &mut String, corner: &str, (cols, rows): &select::NmTable) {
    let mut header = vec![corner.to_string()];
    header.extend(cols.iter().cloned());
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|(m, v)| {
            let mut r = vec![m.clone()];
            r.extend(
                v.iter()
                    .map(|x| cell(x.map(|s| s), 3) + if x.is_some() { "×" } else { "" }),
            );
            r
        })
        .collect();
    table(out, &header, &body);
}

/// The accuracy every trained point reached beside its speedup, best accuracy first.
fn accuracy_table(h: &mut String, a: &AccuracySpec, records: &[Record]) {
    h.push_str("<h2 id=\"accuracy\">Accuracy beside speedup</h2>\n");
    let _ = writeln!(
        h,
        "<p>Each point trained under its own recipe and N:M on its own design, through the \
         compiled programs on the functional simulator: {}.</p>",
        esc(&a.describe())
    );
    let mut trained: Vec<&Record> = records
        .iter()
        .filter(|r| r.accuracy.is_some() && r.metrics.is_some())
        .collect();
    let acc = |r: &Record| r.accuracy.as_ref().map_or(0.0, |a| a.test_accuracy);
    trained.sort_by(|x, y| acc(y).total_cmp(&acc(x)).then(x.index.cmp(&y.index)));
    let rows: Vec<Vec<String>> = trained
        .iter()
        .map(|r| {
            let (m, a) = (
                r.metrics.as_ref().expect("filtered"),
                r.accuracy.as_ref().expect("filtered"),
            );
            vec![
                r.key.clone(),
                r.design.model.clone(),
                r.design.recipe.clone(),
                r.design.nm.clone(),
                format!("{:.3}×", m.speedup),
                format!("{:.1}%", 100.0 * a.test_accuracy),
                format!("{:.1}%", 100.0 * a.train_accuracy),
                format!("{:.3}", a.loss),
            ]
        })
        .collect();
    table(
        h,
        &[
            "point",
            "model",
            "recipe",
            "N:M",
            "speedup",
            "test accuracy",
            "train accuracy",
            "loss",
        ]
        .map(String::from),
        &rows,
    );
}

/// Writes `<dir>/report.html`.
pub fn write(
    spec: &Spec,
    records: &[Record],
    total: usize,
    figs: &[Figure],
    dir: &Path,
) -> Result<(), String> {
    let mut h = String::new();
    let title = format!("nmsat sweep `{}`", spec.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0;font-size:13px}}\
         th,td{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         th{{background:#f0f0f0}} td:first-child{{text-align:left}}\
         figure{{margin:2em 0}} figure svg{{max-width:100%;height:auto}}\
         figcaption{{font-size:14px;color:#444}} code{{background:#f4f4f4}}\
         </style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let ok = records.iter().filter(|r| r.ok).count();
    let failed = records.len() - ok;
    let sampling = match spec.sampling {
        Sampling::Grid => "grid".to_string(),
        Sampling::Random { points, seed } => format!("random, {points} points, seed {seed}"),
    };
    let _ = writeln!(
        h,
        "<p>Description <code>{}</code>, base accelerator <code>{}</code>, {} mode, {} sampling. \
         {} of {} points finished: {} ok, {} failed. Full data: <a href=\"results.csv\">results.csv</a>, \
         <a href=\"results.jsonl\">results.jsonl</a>.</p>",
        esc(&spec.file),
        esc(&spec.base.name),
        if spec.exact { "exact" } else { "fast" },
        sampling,
        records.len(),
        total,
        ok,
        failed
    );
    h.push_str("<h2>Axes</h2>\n");
    let axes: Vec<Vec<String>> = spec
        .axes
        .iter()
        .zip(&spec.focus)
        .map(|(a, f)| {
            vec![
                a.name.clone(),
                a.values
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                f.to_string(),
            ]
        })
        .collect();
    table(
        &mut h,
        &["axis".into(), "values".into(), "focus".into()],
        &axes,
    );
    if !spec.constraints.is_empty() {
        h.push_str("<p>Constraints: ");
        let cs: Vec<String> = spec
            .constraints
            .iter()
            .map(|(t, _)| format!("<code>{}</code>", esc(t)))
            .collect();
        h.push_str(&cs.join(", "));
        h.push_str("</p>\n");
    }
    if let Some(t) = select::speedup_by_nm(spec, records) {
        h.push_str("<h2>Speedup over dense training per N:M</h2>\n");
        let _ = writeln!(
            h,
            "<p>At the focus design ({}).</p>",
            esc(&focus_text(spec))
        );
        pivot(&mut h, "model", &t);
    }
    if let Some(t) = select::ablation(spec, records) {
        h.push_str("<h2>Ablation of the dataflow optimizations</h2>\n");
        pivot(&mut h, "model", &t);
    }
    h.push_str(&format!(
        "<h2>Pareto fronts: {} vs training throughput</h2>\n<p>{}</p>\n",
        spec.area.short(),
        spec.area.note()
    ));
    let mut front_rows = Vec::new();
    for m in select::models(spec, records) {
        for r in select::pareto(records, &m) {
            let x = r.metrics.as_ref().expect("ok records have metrics");
            front_rows.push(vec![
                m.clone(),
                r.key.clone(),
                format!("{:.0}", r.design.area()),
                format!("{:.1}", x.samples_per_s),
                format!("{:.3}×", x.speedup),
                format!("{:.1}%", 100.0 * x.utilization),
            ]);
        }
    }
    table(
        &mut h,
        &[
            "model",
            "point",
            spec.area.short(),
            "samples/s",
            "speedup",
            "utilization",
        ]
        .map(String::from),
        &front_rows,
    );
    if let Some(a) = &spec.accuracy {
        accuracy_table(&mut h, a, records);
    }
    let failures: Vec<Vec<String>> = records
        .iter()
        .filter(|r| !r.ok)
        .map(|r| vec![r.key.clone(), r.error.clone().unwrap_or_default()])
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(h, "<h2>Failed points ({})</h2>", failures.len());
        table(&mut h, &["point".into(), "error".into()], &failures);
    }
    for f in figs {
        let svg = std::fs::read_to_string(dir.join(format!("{}.svg", f.stem)))
            .map_err(|e| format!("{}.svg: {e}", f.stem))?;
        let svg = svg.trim_start_matches(|c| c != '<');
        let svg = match svg.strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or(rest, |(_, b)| b),
            None => svg,
        };
        let _ = write!(
            h,
            "<figure id=\"{}\"><h2>{}</h2>\n{}\n<figcaption>{} (<a href=\"{}.png\">PNG</a>, \
             <a href=\"{}.svg\">SVG</a>)</figcaption></figure>\n",
            esc(&f.stem),
            esc(&f.title),
            svg.trim(),
            esc(&f.note),
            esc(&f.stem),
            esc(&f.stem)
        );
    }
    let _ = writeln!(h, "<h2>Every point ({})</h2>", records.len());
    let mut header: Vec<String> = vec!["#".into()];
    header.extend(spec.axes.iter().map(|a| a.name.clone()));
    header.extend(
        [
            "speedup",
            "samples/s",
            "utilization",
            "cycles",
            "DRAM GB/s",
            "energy (mJ)",
        ]
        .map(String::from),
    );
    if spec.accuracy.is_some() {
        header.push("test accuracy".into());
    }
    header.push("error".into());
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| r.index);
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .take(MAX_ROWS)
        .map(|r| {
            let mut row = vec![r.index.to_string()];
            row.extend(spec.axes.iter().map(|a| {
                r.point
                    .get(&a.name)
                    .and_then(Value::from_json)
                    .map_or(String::new(), |v| v.to_string())
            }));
            let m = r.metrics.as_ref();
            row.extend([
                cell(m.map(|x| x.speedup), 3),
                cell(m.map(|x| x.samples_per_s), 1),
                cell(m.map(|x| 100.0 * x.utilization), 1),
                m.map_or("—".into(), |x| x.cycles.to_string()),
                cell(m.map(|x| x.dram_gbps), 2),
                cell(m.map(|x| x.energy_pj * 1e-9), 3),
            ]);
            if spec.accuracy.is_some() {
                let acc = r.accuracy.as_ref().map(|a| 100.0 * a.test_accuracy);
                row.push(cell(acc, 1) + if acc.is_some() { "%" } else { "" });
            }
            row.push(r.error.clone().unwrap_or_default());
            row
        })
        .collect();
    table(&mut h, &header, &rows);
    if sorted.len() > MAX_ROWS {
        let _ = writeln!(
            h,
            "<p>The first {MAX_ROWS} of {} points; all are in <a href=\"results.csv\">results.csv</a>.</p>",
            sorted.len()
        );
    }
    h.push_str("</body></html>\n");
    let path = dir.join("report.html");
    std::fs::write(&path, h).map_err(|e| format!("{}: cannot write: {e}", path.display()))
}
