//! Reader for SCALE-Sim topology CSV files, so the workloads its users already have run here.
//!
//! Two forms exist (scale-sim-v2 `scalesim/topology_utils.py`), told apart by the header:
//!
//! ```text
//! Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
//! Conv1     ,224         ,224        ,11           ,11          ,3       ,96        ,4      ,
//!
//! Layer, M, N, K,
//! L0, 196, 192, 384,
//! ```
//!
//! **Conv rows** are *valid* convolutions (no padding: SCALE-Sim files list the already padded
//! IFMAP), `out = ⌈(in − filter + stride) / stride⌉ = ⌊(in − filter) / stride⌋ + 1` as SCALE-Sim
//! computes it. An optional ninth column whose header mentions "stride" is the stride width
//! (SCALE-Sim repeats the one stride otherwise). A layer whose name contains `DP` is depthwise:
//! SCALE-Sim expands it into `Channels` one-channel layers of `Num Filter` filters each; here it is
//! one grouped convolution with `groups = Channels` and `Channels × Num Filter` outputs, which has
//! the same MACs and weights.
//!
//! **GEMM rows** `M, N, K`: SCALE-Sim turns them into the conv `IFMAP M×K, filter 1×K, 1 channel,
//! N filters` (`entries = [m, k, 1, k, 1, n, 1, 1]`), i.e. an `M×K` input times a `K×N` weight
//! giving `M×N`: `M` rows (tokens, or im2col output pixels), `K` the reduction, `N` the output
//! features. Here that is `Op::Linear { tokens: M, in_f: K, out_f: N }` with `M·N·K` MACs.
//!
//! The files in the wild are ragged, and each quirk below is tolerated because a real file has
//! it: spaces and tabs around fields, a trailing comma (or none), blank lines and rows of empty
//! fields, extra annotation columns after the known ones (ignored), and `#` comments such as the
//! `#dw` notes of `mobilnet_paper.csv`.
//!
//! Every row becomes an independent layer reading the model input (`inputs` empty): a topology
//! file lists GEMMs, not a graph. `Model::input` is the first row's input, so for the other rows
//! the input size must be taken from the `Op` (`in_ch × in_h × in_w`, or `tokens × in_f`).

use super::layer::{Layer, Model, Op, Shape};
use super::yaml::{numel, Totals, MAX_DIM, MAX_NUMEL};
use crate::diag::Diagnostic;
use std::collections::HashMap;

const CONV_HEADER: &str =
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides";
const GEMM_HEADER: &str = "Layer, M, N, K";

/// The two topology forms.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Conv { stride_w: bool },
    Gemm,
}

/// One CSV line, with the fields the reader looks at.
struct Row<'a> {
    line: usize,
    fields: Vec<&'a str>,
}

/// Parses a SCALE-Sim topology CSV (`file` names it in diagnostics and gives the model name).
pub fn parse_scalesim(file: &str, text: &str) -> Result<Model, Diagnostic> {
    let err = |line: Option<usize>, field: &str, message: String, allowed: &str| Diagnostic {
        file: file.to_string(),
        line,
        field: field.to_string(),
        message,
        allowed: (!allowed.is_empty()).then(|| allowed.to_string()),
    };
    let mut rows = text.lines().enumerate().filter_map(|(i, l)| {
        // A `#` starts a comment; trailing empty fields come from the customary trailing comma.
        let l = l.split('#').next().unwrap_or("");
        let mut fields: Vec<&str> = l.split(',').map(str::trim).collect();
        while fields.last() == Some(&"") {
            fields.pop();
        }
        (!fields.is_empty()).then_some(Row { line: i + 1, fields })
    });
    let both = format!("`{CONV_HEADER}` or `{GEMM_HEADER}`");
    let header = rows.next().ok_or_else(|| err(None, "", "empty topology file".into(), &both))?;
    let col = |i: usize| header.fields.get(i).copied().unwrap_or("");
    let form = if col(1).eq_ignore_ascii_case("m") {
        if !(col(2).eq_ignore_ascii_case("n") && col(3).eq_ignore_ascii_case("k")) {
            return Err(err(Some(header.line), "header", format!("GEMM header `{}` is not M, N, K", header.fields.join(", ")), GEMM_HEADER));
        }
        Form::Gemm
    } else if col(1).to_ascii_lowercase().contains("ifmap") {
        if header.fields.len() < 8 {
            return Err(err(Some(header.line), "header", format!("conv header has {} columns, needs 8", header.fields.len()), CONV_HEADER));
        }
        Form::Conv { stride_w: col(8).to_ascii_lowercase().contains("stride") }
    } else {
        return Err(err(Some(header.line), "header", format!("unrecognized header `{}`", header.fields.join(", ")), &both));
    };
    let columns = match form {
        Form::Conv { stride_w: true } => 9,
        Form::Conv { stride_w: false } => 8,
        Form::Gemm => 4,
    };

    let name = std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or(file);
    let mut layers: Vec<Layer> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut totals = Totals::default();
    let mut input = None;
    for row in rows {
        let at = Some(row.line);
        if row.fields.len() < columns {
            return Err(err(at, col(row.fields.len()), format!("missing column `{}`", col(row.fields.len())), &format!("{columns} columns")));
        }
        let num = |i: usize| -> Result<u64, Diagnostic> {
            let f = row.fields[i];
            let allowed = format!("an integer in 1..={MAX_DIM}");
            match f.parse::<u64>() {
                Ok(0) => Err(err(at, col(i), "must be at least 1".into(), &allowed)),
                Ok(v) if v <= MAX_DIM => Ok(v),
                _ => Err(err(at, col(i), format!("`{f}` is not a valid size"), &allowed)),
            }
        };
        let lname = row.fields[0].to_string();
        if lname.is_empty() {
            return Err(err(at, col(0), "empty layer name".into(), "a name"));
        }
        if let Some(first) = seen.insert(lname.clone(), row.line) {
            return Err(err(at, col(0), format!("duplicate layer name `{lname}` (first on line {first})"), "names unique in the file"));
        }
        let (op, x, out) = match form {
            Form::Conv { stride_w } => {
                let (h, w, kh, kw, c, f, s) = (num(1)?, num(2)?, num(3)?, num(4)?, num(5)?, num(6)?, num(7)?);
                if stride_w && num(8)? != s {
                    return Err(err(at, col(8), format!("stride width {} differs from stride height {s}", row.fields[8]), "equal strides"));
                }
                if kh > h {
                    return Err(err(at, col(3), format!("filter height {kh} is larger than the IFMAP height {h}"), &format!("1..={h}")));
                }
                if kw > w {
                    return Err(err(at, col(4), format!("filter width {kw} is larger than the IFMAP width {w}"), &format!("1..={w}")));
                }
                // SCALE-Sim's convention (`if 'DP' in name`) marks depthwise layers.
                let groups = if lname.contains("DP") { c } else { 1 };
                let (out_h, out_w) = ((h - kh) / s + 1, (w - kw) / s + 1);
                let out_ch = f * groups;
                let op = Op::Conv2d {
                    in_ch: c,
                    out_ch,
                    kh,
                    kw,
                    stride: s,
                    padding: 0,
                    groups,
                    in_h: h,
                    in_w: w,
                    out_h,
                    out_w,
                    bias: false,
                };
                (op, Shape::Image { c, h, w }, Shape::Image { c: out_ch, h: out_h, w: out_w })
            }
            Form::Gemm => {
                let (m, n, k) = (num(1)?, num(2)?, num(3)?);
                let op = Op::Linear { in_f: k, out_f: n, tokens: m, bias: false };
                (op, Shape::Seq { tokens: m, dim: k }, Shape::Seq { tokens: m, dim: n })
            }
        };
        let layer = Layer { name: lname, op, inputs: vec![], out };
        if numel(&x) > MAX_NUMEL {
            return Err(err(at, col(1), "the input of this layer is too large".into(), ""));
        }
        totals.add(&layer).map_err(|m| err(at, col(0), m, ""))?;
        input.get_or_insert(x);
        layers.push(layer);
    }
    let input = input.ok_or_else(|| err(Some(header.line), "", "the topology has no layer rows".into(), ""))?;
    Ok(Model { name: name.to_string(), input, layers })
}
