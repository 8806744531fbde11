//! What the plots and the report show, picked from the records: the speedup of each N:M
//! pattern per model, the ablation, the roofline and stall breakdown of the focus design, and
//! the Pareto front of area against training throughput.

use super::axes::{AxisKind, ABLATIONS};
use super::results::{LayerRecord, Record};
use super::spec::Spec;
use super::value::Value;

/// Whether `r` is the focus design on every axis but the `free` ones.
pub fn at_focus(spec: &Spec, r: &Record, free: &[AxisKind]) -> bool {
    spec.axes.iter().zip(&spec.focus).all(|(a, f)| {
        free.contains(&a.kind)
            || r.point.get(&a.name).and_then(Value::from_json).as_ref() == Some(f)
    })
}

/// The models of the sweep in axis order (or in order of appearance).
pub fn models(spec: &Spec, records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = match spec.axis(AxisKind::Model) {
        Some(i) => spec.axes[i].values.iter().map(Value::to_string).collect(),
        None => Vec::new(),
    };
    for r in records {
        if !v.contains(&r.design.model) {
            v.push(r.design.model.clone());
        }
    }
    v.retain(|m| records.iter().any(|r| &r.design.model == m));
    v
}

/// Speedup over dense of each pattern of the N:M axis, per model, at the focus design:
/// (patterns, [(model, speedup per pattern)]). None when the sweep does not vary N:M.
pub type NmTable = (Vec<String>, Vec<(String, Vec<Option<f64>>)>);

pub fn speedup_by_nm(spec: &Spec, records: &[Record]) -> Option<NmTable> {
    let axis = spec.axis(AxisKind::Nm)?;
    let nms: Vec<String> = spec.axes[axis]
        .values
        .iter()
        .map(Value::to_string)
        .collect();
    if nms.len() < 2 {
        return None;
    }
    let rows = models(spec, records)
        .into_iter()
        .map(|m| {
            let cells = nms
                .iter()
                .map(|nm| {
                    records
                        .iter()
                        .find(|r| {
                            r.ok && r.design.model == m
                                && r.point.get("nm").and_then(|v| v.as_str()) == Some(nm)
                                && at_focus(spec, r, &[AxisKind::Model, AxisKind::Nm])
                        })
                        .and_then(|r| r.metrics.as_ref().map(|x| x.speedup))
                })
                .collect();
            (m, cells)
        })
        .collect();
    Some((nms, rows))
}

/// Speedup over dense per model with every optimization on and with each switched off, at the
/// focus design. None when the sweep has no ablation axis.
pub fn ablation(spec: &Spec, records: &[Record]) -> Option<NmTable> {
    let axis = spec.axis(AxisKind::Ablation)?;
    let variants: Vec<String> = ABLATIONS
        .iter()
        .filter(|a| spec.axes[axis].values.contains(&Value::Str(a.to_string())))
        .map(|a| a.to_string())
        .collect();
    if variants.len() < 2 {
        return None;
    }
    let rows = models(spec, records)
        .into_iter()
        .map(|m| {
            let cells = variants
                .iter()
                .map(|v| {
                    records
                        .iter()
                        .find(|r| {
                            r.ok && r.design.model == m
                                && &r.design.ablation == v
                                && at_focus(spec, r, &[AxisKind::Model, AxisKind::Ablation])
                        })
                        .and_then(|r| r.metrics.as_ref().map(|x| x.speedup))
                })
                .collect();
            (m, cells)
        })
        .collect();
    Some((variants, rows))
}

/// The focus point of each model that finished with its layers.
pub fn focus_points<'r>(spec: &Spec, records: &'r [Record]) -> Vec<&'r Record> {
    models(spec, records)
        .into_iter()
        .filter_map(|m| {
            records.iter().find(|r| {
                r.ok && r.design.model == m
                    && !r.layers.is_empty()
                    && at_focus(spec, r, &[AxisKind::Model])
            })
        })
        .collect()
}

/// Layers that run GEMMs (the ones a roofline or the array's stall breakdown can place).
pub fn gemm_layers(r: &Record) -> Vec<&LayerRecord> {
    r.layers.iter().filter(|l| l.macs_effective > 0).collect()
}

/// Cycles the array spent on a layer: its GEMMs, and the stalls before them.
pub fn array_cycles(l: &LayerRecord) -> u64 {
    let s = &l.array_stalls;
    l.array_busy + s.dma + s.prune + s.dependency + s.bank
}

/// A layer on the roofline: (name, effective MACs per DRAM byte, achieved GMAC/s over the
/// array's time on the layer — the layer's FF, BP and WU are far apart in an iteration, so
/// its first-to-last span would measure the iteration, not the layer).
pub fn roofline_points(r: &Record) -> Vec<(String, f64, f64)> {
    gemm_layers(r)
        .into_iter()
        .filter(|l| l.dram_bytes > 0 && array_cycles(l) > 0)
        .map(|l| {
            let secs = array_cycles(l) as f64 / (r.design.clock_mhz * 1e6);
            (
                l.name.clone(),
                l.macs_effective as f64 / l.dram_bytes as f64,
                l.macs_effective as f64 / secs / 1e9,
            )
        })
        .collect()
}

/// The points of one model that no other point beats on both area and throughput, by
/// increasing area.
pub fn pareto<'r>(records: &'r [Record], model: &str) -> Vec<&'r Record> {
    let mut pts: Vec<&Record> = records
        .iter()
        .filter(|r| r.ok && r.design.model == model && r.metrics.is_some())
        .collect();
    let tp = |r: &Record| r.metrics.as_ref().map_or(0.0, |m| m.samples_per_s);
    pts.sort_by(|a, b| {
        a.design
            .area()
            .total_cmp(&b.design.area())
            .then(tp(b).total_cmp(&tp(a)))
            .then(a.index.cmp(&b.index))
    });
    let mut best = f64::NEG_INFINITY;
    pts.into_iter()
        .filter(|r| {
            let keep = tp(r) > best;
            best = best.max(tp(r));
            keep
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::results::{Design, Metrics, Wall};

    fn rec(index: usize, area: f64, tp: f64) -> Record {
        Record {
            index,
            key: index.to_string(),
            point: serde_json::Map::new(),
            ok: true,
            error: None,
            design: Design {
                arch: "a".into(),
                model: "m".into(),
                nm: "2:8".into(),
                batch: 1,
                recipe: "bdwp".into(),
                ablation: "all-on".into(),
                rows: 1,
                cols: 1,
                mux_lanes: 1,
                clock_mhz: 1.0,
                dram_gbps_peak: 1.0,
                peak_gmacs: 1.0,
                area_proxy_pe: area,
                synth_luts: None,
                synth_dsps: None,
            },
            metrics: Some(Metrics {
                cycles: 1,
                dense_cycles: 1,
                speedup: 1.0,
                seconds: 1.0,
                samples_per_s: tp,
                utilization: 1.0,
                dense_utilization: 1.0,
                macs_dense: 1,
                macs_effective: 1,
                dram_read: 0,
                dram_written: 0,
                dram_gbps: 0.0,
                energy_pj: 0.0,
                dense_energy_pj: 0.0,
                instructions: 1,
                busy: [0; 5],
                stalls: Default::default(),
            }),
            layers: vec![],
            accuracy: None,
            wall: Wall::default(),
        }
    }

    #[test]
    fn pareto_front_keeps_only_undominated_points() {
        let rs = [
            rec(0, 100.0, 5.0),
            rec(1, 100.0, 7.0),
            rec(2, 200.0, 6.0), // dominated by 1
            rec(3, 400.0, 9.0),
            rec(4, 50.0, 1.0),
            rec(5, 400.0, 9.0), // equal to 3: the first is kept
        ];
        let front: Vec<usize> = pareto(&rs, "m").iter().map(|r| r.index).collect();
        assert_eq!(front, [4, 1, 3]);
    }
}
