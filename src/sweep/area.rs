//! The sweep's area axis: the PE-count proxy (`axes::area_proxy`, the default) or yosys's
//! XCVU9P estimate of the generated RTL (`area: yosys-xcvu9p` in the sweep description).
//!
//! The estimate is the LUT count of `synth_xilinx -family xcup` (`nmsat synth --target
//! xcvu9p`); the DSP48E2 count, one per PE, is recorded beside it. Runs are cached by a hash
//! of the RTL under the sweep's output directory, so points that differ only in workload,
//! clock-independent fields or name share one synthesis, and a resumed sweep none.

use nmsat_compiler::arch::Arch;
use nmsat_hw::synth::{synth_cached, Target};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// How a sweep measures area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// PE equivalents (`axes::area_proxy`): no synthesis.
    PeProxy,
    /// yosys's LUT estimate on the XCVU9P.
    YosysXcvu9p,
}

impl Area {
    /// The names a sweep description may give, in the order messages list them.
    pub const NAMES: [&'static str; 2] = ["pe-proxy", "yosys-xcvu9p"];

    /// The area model named `s`.
    pub fn parse(s: &str) -> Option<Area> {
        match s {
            "pe-proxy" => Some(Area::PeProxy),
            "yosys-xcvu9p" => Some(Area::YosysXcvu9p),
            _ => None,
        }
    }

    /// The axis label of plots and tables.
    pub fn label(self) -> &'static str {
        match self {
            Area::PeProxy => "area proxy (PE equivalents: rows·cols incl. N:M mux; not synthesis)",
            Area::YosysXcvu9p => "area: LUTs on the XCVU9P (yosys synth_xilinx estimate)",
        }
    }

    /// What a reader of the Pareto front should know about the area figure.
    pub fn note(self) -> &'static str {
        match self {
            Area::PeProxy => {
                "Area is a PE-count proxy (rows·cols, each PE's M:1 activation mux counted as \
                 1/32 PE per lane beyond the first), not a synthesis estimate."
            }
            Area::YosysXcvu9p => {
                "Area is the LUT count yosys (synth_xilinx -family xcup, out of context) \
                 estimates for the generated RTL on the XCVU9P; every design also uses one \
                 DSP48E2 per PE (results.csv: synth_dsps). Estimates, not Vivado results."
            }
        }
    }

    /// The short name of the area figure (table headers, titles).
    pub fn short(self) -> &'static str {
        match self {
            Area::PeProxy => "area proxy (PE)",
            Area::YosysXcvu9p => "LUTs (yosys, xcvu9p)",
        }
    }
}

/// A synthesis estimate: LUTs and DSP48E2s.
pub type Estimate = (u64, u64);

type Slot = Arc<OnceLock<Result<Estimate, String>>>;

/// Synthesis estimates of a sweep's designs, each computed once per distinct description.
pub struct Estimates {
    cache: PathBuf,
    /// By the description without its name: equal descriptions give equal RTL, so the
    /// threads wait for one synthesis instead of running it twice.
    slots: Mutex<HashMap<String, Slot>>,
}

impl Estimates {
    /// Estimates cached under `cache`.
    pub fn new(cache: &Path) -> Estimates {
        Estimates {
            cache: cache.to_path_buf(),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The LUT and DSP48E2 estimate of `arch`'s RTL.
    pub fn estimate(&self, arch: &Arch) -> Result<Estimate, String> {
        let key = format!(
            "{:?}",
            Arch {
                name: String::new(),
                ..arch.clone()
            }
        );
        let slot = self
            .slots
            .lock()
            .expect("no panics while held")
            .entry(key)
            .or_default()
            .clone();
        slot.get_or_init(|| {
            let r = synth_cached(arch, Target::Xcvu9p, &self.cache)
                .map_err(|e| format!("area (yosys-xcvu9p): {e}"))?;
            Ok((r.used("LUT"), r.used("DSP48E2")))
        })
        .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::evaluate::Evaluator;
    use crate::sweep::points::points;
    use crate::sweep::results::Record;
    use crate::sweep::select::pareto;
    use crate::sweep::spec::Spec;

    #[test]
    fn yosys_area_replaces_the_proxy_and_is_cached() {
        let text = "arch: sat-small\narea: yosys-xcvu9p\naxes:\n  array.rows: [1, 2]\n  \
                    array.cols: [1]\n  model: [tiny-mlp]\n  batch: [4]\n  nm: [\"1:4\"]\n";
        let spec = Spec::parse("s.yaml", text, Path::new(".")).unwrap();
        assert_eq!(spec.area, Area::YosysXcvu9p);
        let cache = std::env::temp_dir().join(format!("nmsat-sweep-area-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        let pts = points(&spec).unwrap();
        let ev = Evaluator::new(&spec, &cache);
        let recs: Vec<Record> = pts.iter().map(|p| ev.evaluate(p, false)).collect();
        let mut luts = Vec::new();
        for r in &recs {
            assert!(r.ok, "{:?}", r.error);
            let d = &r.design;
            // A missing yosys fails here with the install command in the record's error.
            assert_eq!(
                d.synth_dsps,
                Some(d.rows * d.cols),
                "one DSP48E2 per PE: {d:?}"
            );
            let l = d.synth_luts.expect("an estimate");
            assert_eq!(d.area(), l as f64);
            luts.push(l);
        }
        assert!(
            luts[0] < luts[1],
            "a 2×1 array needs more LUTs than 1×1: {luts:?}"
        );
        // The front is ordered by the estimate, not by the proxy.
        let front = pareto(&recs, "tiny-mlp");
        assert!(front
            .windows(2)
            .all(|w| w[0].design.area() < w[1].design.area()));
        // A second evaluator (a resumed sweep) reads both estimates from the cache.
        let entries = || std::fs::read_dir(&cache).unwrap().count();
        assert_eq!(entries(), 2);
        let again = Evaluator::new(&spec, &cache).evaluate(&pts[1], false);
        assert_eq!(again.design.synth_luts, Some(luts[1]));
        assert_eq!(entries(), 2);
        let _ = std::fs::remove_dir_all(&cache);
    }

    #[test]
    fn the_proxy_is_the_default_and_unknown_models_are_refused() {
        let base = "arch: sat-small\naxes:\n  model: [tiny-mlp]\n";
        let spec = Spec::parse("s.yaml", base, Path::new(".")).unwrap();
        assert_eq!(spec.area, Area::PeProxy);
        let bad = format!("{base}area: vivado\n");
        let e = Spec::parse("s.yaml", &bad, Path::new("."))
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("unknown area model `vivado`"), "{e}");
        assert!(e.contains("pe-proxy, yosys-xcvu9p"), "{e}");
    }
}
