//! Cell counts from yosys `stat -json`: per module and for the whole design.

use crate::error::HwError;
use std::collections::BTreeMap;
use std::path::Path;

/// Cell counts by cell type.
pub(crate) type Cells = BTreeMap<String, u64>;

/// What `stat -json` reported.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Stat {
    /// The whole design below the top given to `stat -top` (sub-module cells included).
    pub design: Cells,
    /// Each module's own cells (instances of other modules appear as one cell each).
    pub modules: BTreeMap<String, Cells>,
}

impl Stat {
    /// Reads the file yosys `tee -q -o FILE stat -json` wrote.
    pub(crate) fn read(path: &Path) -> Result<Stat, HwError> {
        let text = std::fs::read_to_string(path).map_err(HwError::io(path))?;
        Stat::parse(&text).ok_or_else(|| {
            HwError::Usage(format!(
                "{}: not the `stat -json` output this yosys flow expects",
                path.display()
            ))
        })
    }

    fn parse(text: &str) -> Option<Stat> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let cells = |m: &serde_json::Value| -> Option<Cells> {
            let by_type = m.get("num_cells_by_type")?.as_object()?;
            Some(
                by_type
                    .iter()
                    .filter_map(|(k, n)| Some((k.clone(), n.as_u64()?)))
                    .collect(),
            )
        };
        let mut modules = BTreeMap::new();
        for (name, m) in v.get("modules")?.as_object()? {
            // yosys escapes public names with a backslash.
            let name = name.strip_prefix('\\').unwrap_or(name).to_string();
            modules.insert(name, cells(m).unwrap_or_default());
        }
        Some(Stat {
            design: cells(v.get("design")?).unwrap_or_default(),
            modules,
        })
    }
}

/// The number of cells whose type `pred` accepts.
pub(crate) fn count(cells: &Cells, pred: impl Fn(&str) -> bool) -> u64 {
    cells.iter().filter(|(t, _)| pred(t)).map(|(_, n)| n).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modules_and_design() {
        let text = r#"{"creator": "Yosys 0.23",
            "modules": {
              "\\top": {"num_cells": 3, "num_cells_by_type": {"SB_DFF": 2, "core": 1}},
              "\\core": {"num_cells": 5, "num_cells_by_type": {"SB_DFFE": 1, "SB_LUT4": 4}}},
            "design": {"num_cells": 7, "num_cells_by_type": {"SB_DFF": 2, "SB_DFFE": 1, "SB_LUT4": 4}}}"#;
        let s = Stat::parse(text).unwrap();
        assert_eq!(count(&s.design, |t| t.starts_with("SB_DFF")), 3);
        assert_eq!(count(&s.modules["core"], |t| t == "SB_LUT4"), 4);
        assert!(Stat::parse("{}").is_none());
    }
}
