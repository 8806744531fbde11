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
//! **Conv rows** are convolutions over the IFMAP as listed, without padding, but SCALE-Sim sizes
//! the output as `⌈(in − filter + stride) / stride⌉ = ⌈(in − filter) / stride⌉ + 1`: when the
//! stride does not divide `in − filter`, a last partial window counts (AlexNet's 224×224 conv1 at
//! stride 4 gives 55×55, not 54×54). To keep SCALE-Sim's GEMM shapes and MAC counts with an
//! `Op::Conv2d` that is consistent in itself, such a row gets the smallest symmetric padding that
//! yields the same output size (2 for that conv1); rows that divide evenly stay unpadded.
//! An optional ninth column whose header mentions "stride" is the stride width
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

use super::infer_shapes::{numel, Totals, MAX_DIM, MAX_NUMEL};
use super::layer::{Layer, Model, Op, Shape};
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

/// One non-empty CSV line: its 1-based number and trimmed fields.
struct Row<'a> {
    line: usize,
    fields: Vec<&'a str>,
}

/// Splits `text` into rows. A `#` starts a comment; trailing empty fields come from the
/// customary trailing comma; lines left without fields are skipped.
fn rows(text: &str) -> impl Iterator<Item = Row<'_>> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.split('#').next().unwrap_or("");
        let mut fields: Vec<&str> = l.split(',').map(str::trim).collect();
        while fields.last() == Some(&"") {
            fields.pop();
        }
        (!fields.is_empty()).then_some(Row {
            line: i + 1,
            fields,
        })
    })
}

/// Reads the rows of one file against its header; diagnostics name the header's columns.
struct Reader<'a> {
    file: &'a str,
    header: Row<'a>,
    form: Form,
}

/// Parses a SCALE-Sim topology CSV (`file` names it in diagnostics and gives the model name).
pub fn parse_scalesim(file: &str, text: &str) -> Result<Model, Diagnostic> {
    let mut rows = rows(text);
    let both = format!("`{CONV_HEADER}` or `{GEMM_HEADER}`");
    let Some(header) = rows.next() else {
        return Err(Reader::error(
            file,
            None,
            "",
            "empty topology file".into(),
            &both,
        ));
    };
    let r = Reader::new(file, header)?;
    let mut layers: Vec<Layer> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut totals = Totals::default();
    let mut input = None;
    for row in rows {
        let (layer, x) = r.layer(&row)?;
        if let Some(first) = seen.insert(layer.name.clone(), row.line) {
            let msg = format!(
                "duplicate layer name `{}` (first on line {first})",
                layer.name
            );
            return Err(r.err(&row, 0, msg, "names unique in the file"));
        }
        if numel(&x) > MAX_NUMEL {
            return Err(r.err(&row, 1, "the input of this layer is too large".into(), ""));
        }
        totals.add(&layer).map_err(|m| r.err(&row, 0, m, ""))?;
        input.get_or_insert(x);
        layers.push(layer);
    }
    let Some(input) = input else {
        let line = Some(r.header.line);
        return Err(Reader::error(
            file,
            line,
            "",
            "the topology has no layer rows".into(),
            "",
        ));
    };
    let name = std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str());
    let name = name.unwrap_or(file).to_string();
    Ok(Model {
        name,
        input,
        layers,
    })
}

impl<'a> Reader<'a> {
    fn error(
        file: &str,
        line: Option<usize>,
        field: &str,
        message: String,
        allowed: &str,
    ) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            line,
            field: field.to_string(),
            message,
            allowed: (!allowed.is_empty()).then(|| allowed.to_string()),
        }
    }

    /// Tells the form from the header.
    fn new(file: &'a str, header: Row<'a>) -> Result<Self, Diagnostic> {
        let col = |i: usize| header.fields.get(i).copied().unwrap_or("");
        let fields = header.fields.join(", ");
        let fail = |message: String, allowed: &str| {
            Err(Self::error(
                file,
                Some(header.line),
                "header",
                message,
                allowed,
            ))
        };
        let form = if col(1).eq_ignore_ascii_case("m") {
            if !(col(2).eq_ignore_ascii_case("n") && col(3).eq_ignore_ascii_case("k")) {
                return fail(
                    format!("GEMM header `{fields}` is not M, N, K"),
                    GEMM_HEADER,
                );
            }
            Form::Gemm
        } else if col(1).to_ascii_lowercase().contains("ifmap") {
            if header.fields.len() < 8 {
                let n = header.fields.len();
                return fail(format!("conv header has {n} columns, needs 8"), CONV_HEADER);
            }
            Form::Conv {
                stride_w: col(8).to_ascii_lowercase().contains("stride"),
            }
        } else {
            let both = format!("`{CONV_HEADER}` or `{GEMM_HEADER}`");
            return fail(format!("unrecognized header `{fields}`"), &both);
        };
        Ok(Reader { file, header, form })
    }

    /// The header of column `i`.
    fn col(&self, i: usize) -> &'a str {
        self.header.fields.get(i).copied().unwrap_or("")
    }

    fn err(&self, row: &Row, i: usize, message: String, allowed: &str) -> Diagnostic {
        Self::error(self.file, Some(row.line), self.col(i), message, allowed)
    }

    /// Column `i` of `row` as a dimension.
    fn num(&self, row: &Row, i: usize) -> Result<u64, Diagnostic> {
        let f = row.fields[i];
        let allowed = format!("an integer in 1..={MAX_DIM}");
        match f.parse::<u64>() {
            Ok(0) => Err(self.err(row, i, "must be at least 1".into(), &allowed)),
            Ok(v) if v <= MAX_DIM => Ok(v),
            _ => Err(self.err(row, i, format!("`{f}` is not a valid size"), &allowed)),
        }
    }

    /// The layer of one row, and the shape of its input.
    fn layer(&self, row: &Row) -> Result<(Layer, Shape), Diagnostic> {
        let columns = match self.form {
            Form::Conv { stride_w: true } => 9,
            Form::Conv { stride_w: false } => 8,
            Form::Gemm => 4,
        };
        let n = row.fields.len();
        if n < columns {
            let msg = format!("missing column `{}`", self.col(n));
            return Err(self.err(row, n, msg, &format!("{columns} columns")));
        }
        let name = row.fields[0].to_string();
        if name.is_empty() {
            return Err(self.err(row, 0, "empty layer name".into(), "a name"));
        }
        let (op, x, out) = match self.form {
            Form::Conv { stride_w } => self.conv(row, stride_w, name.contains("DP"))?,
            Form::Gemm => {
                let (m, n, k) = (self.num(row, 1)?, self.num(row, 2)?, self.num(row, 3)?);
                let op = Op::Linear {
                    in_f: k,
                    out_f: n,
                    tokens: m,
                    bias: false,
                };
                (
                    op,
                    Shape::Seq { tokens: m, dim: k },
                    Shape::Seq { tokens: m, dim: n },
                )
            }
        };
        Ok((
            Layer {
                name,
                op,
                inputs: vec![],
                out,
            },
            x,
        ))
    }

    /// A conv row: the op, its input and its output shape. `depthwise` follows SCALE-Sim's
    /// `if 'DP' in name` convention.
    fn conv(
        &self,
        row: &Row,
        stride_w: bool,
        depthwise: bool,
    ) -> Result<(Op, Shape, Shape), Diagnostic> {
        let d = |i| self.num(row, i);
        let (h, w, kh, kw, c, f, s) = (d(1)?, d(2)?, d(3)?, d(4)?, d(5)?, d(6)?, d(7)?);
        if stride_w && d(8)? != s {
            let msg = format!(
                "stride width {} differs from stride height {s}",
                row.fields[8]
            );
            return Err(self.err(row, 8, msg, "equal strides"));
        }
        for (i, dim, k, i_dim) in [(3, "height", kh, h), (4, "width", kw, w)] {
            if k > i_dim {
                let msg = format!("filter {dim} {k} is larger than the IFMAP {dim} {i_dim}");
                return Err(self.err(row, i, msg, &format!("1..={i_dim}")));
            }
        }
        let groups = if depthwise { c } else { 1 };
        let (out_h, out_w) = ((h - kh).div_ceil(s) + 1, (w - kw).div_ceil(s) + 1);
        // The smallest symmetric padding giving SCALE-Sim's rounded-up output size.
        let padding = [(h, kh, out_h), (w, kw, out_w)]
            .iter()
            .map(|&(i, k, o)| (s * (o - 1) - (i - k)).div_ceil(2))
            .max()
            .unwrap_or(0);
        let conv_out = |i: u64, k: u64| (i + 2 * padding - k) / s + 1;
        if (conv_out(h, kh), conv_out(w, kw)) != (out_h, out_w) {
            let msg = format!(
                "SCALE-Sim's {out_h}×{out_w} output needs different paddings in height and width"
            );
            return Err(self.err(
                row,
                7,
                msg,
                "a stride that divides IFMAP − filter in both dimensions alike",
            ));
        }
        let out_ch = f * groups;
        let op = Op::Conv2d {
            in_ch: c,
            out_ch,
            kh,
            kw,
            stride: s,
            padding,
            groups,
            in_h: h,
            in_w: w,
            out_h,
            out_w,
            bias: false,
        };
        let out = Shape::Image {
            c: out_ch,
            h: out_h,
            w: out_w,
        };
        Ok((op, Shape::Image { c, h, w }, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Verbatim copies of files in github.com/scalesim-project/scale-sim-v2 (`topologies/`),
    // kept byte for byte so SCALE-Sim itself still reads them: `conv_nets/alexnet.csv`
    // (commit 5aff5713), `GEMM_mnk/vit_s.csv` (9b3f10a5) and `conv_nets/mobilnet_paper.csv`
    // (1f53104f; tabs, `#dw` notes, a row without its trailing comma).
    const ALEXNET: &str = include_str!("../../../configs/models/scalesim/alexnet.csv");
    const VIT_S: &str = include_str!("../../../configs/models/scalesim/vit_s.csv");
    const MOBILENET: &str = include_str!("../../../configs/models/scalesim/mobilnet_paper.csv");

    /// SCALE-Sim's own MAC count of a conv row (`topo_calc_hyperparams`).
    fn scalesim_macs(h: u64, w: u64, kh: u64, kw: u64, c: u64, f: u64, s: u64) -> u64 {
        let oh = (h - kh + s).div_ceil(s);
        let ow = (w - kw + s).div_ceil(s);
        oh * ow * kh * kw * c * f
    }

    #[test]
    fn alexnet_conv_rows_keep_scalesim_shapes_and_macs() {
        let m = parse_scalesim("topologies/alexnet.csv", ALEXNET).unwrap();
        assert_eq!(m.name, "alexnet");
        assert_eq!(
            m.input,
            Shape::Image {
                c: 3,
                h: 224,
                w: 224
            }
        );
        let rows = [
            (224, 224, 11, 11, 3, 96, 4),
            (27, 27, 5, 5, 96, 256, 1),
            (13, 13, 3, 3, 256, 384, 1),
            (13, 13, 3, 3, 384, 384, 1),
            (13, 13, 3, 3, 384, 256, 1),
        ];
        assert_eq!(m.layers.len(), rows.len());
        for (l, &(h, w, kh, kw, c, f, s)) in m.layers.iter().zip(&rows) {
            assert_eq!(
                l.forward_macs(),
                scalesim_macs(h, w, kh, kw, c, f, s),
                "{}",
                l.name
            );
            assert!(l.inputs.is_empty());
        }
        // Conv1: ⌈(224 − 11) / 4⌉ + 1 = 55, reproduced by padding 2; the rest divide evenly.
        assert!(matches!(
            m.layers[0].op,
            Op::Conv2d {
                out_h: 55,
                out_w: 55,
                padding: 2,
                stride: 4,
                ..
            }
        ));
        assert!(matches!(
            m.layers[1].op,
            Op::Conv2d {
                out_h: 23,
                padding: 0,
                ..
            }
        ));
        assert_eq!(m.layers[4].name, "Conv5");
        assert_eq!(m.forward_macs(), 805_118_496);
    }

    #[test]
    fn gemm_rows_are_m_tokens_of_k_to_n() {
        let m = parse_scalesim("vit_s.csv", VIT_S).unwrap();
        assert_eq!(m.layers.len(), 5);
        assert_eq!(
            m.layers[1].op,
            Op::Linear {
                in_f: 64,
                out_f: 1176,
                tokens: 196,
                bias: false
            }
        );
        assert_eq!(
            m.layers[1].out,
            Shape::Seq {
                tokens: 196,
                dim: 1176
            }
        );
        assert_eq!(
            m.input,
            Shape::Seq {
                tokens: 196,
                dim: 384
            }
        );
        let mnk = [
            (196, 192, 384),
            (196, 1176, 64),
            (196, 64, 1176),
            (196, 1536, 384),
            (196, 384, 1536),
        ];
        assert_eq!(
            m.forward_macs(),
            mnk.iter().map(|(m, n, k)| m * n * k).sum::<u64>()
        );
        assert_eq!(m.forward_macs(), 275_165_184);
    }

    #[test]
    fn ragged_real_files_parse() {
        let m = parse_scalesim("mobilnet_paper.csv", MOBILENET).unwrap();
        assert_eq!(m.layers.len(), 28);
        assert_eq!(m.layers[10].name, "Conv11"); // no trailing comma
        assert_eq!(m.layers[13].name, "Conv14_dw_0"); // tab-indented
        assert_eq!(m.forward_macs(), 551_539_642);
        // The GEMM form without trailing commas (as in GEMM_mnk/gpt2.csv).
        let m = parse_scalesim(
            "g.csv",
            "Layer,M,N,K\nQKT,1024,1024,64\nLinear1,1024,4800,1600\n",
        )
        .unwrap();
        assert_eq!(m.forward_macs(), 1024 * 1024 * 64 + 1024 * 4800 * 1600);
        // Extra annotation columns and rows of empty fields (as in conv_nets/Resnet50.csv).
        let text = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,,,Eh,Ew,e2\n,,,,,,,,,,,,\nConv1,224,224,7,7,3,64,2,,,110,110,12100\n";
        let m = parse_scalesim("r.csv", text).unwrap();
        assert_eq!(m.forward_macs(), scalesim_macs(224, 224, 7, 7, 3, 64, 2));
    }

    #[test]
    fn dp_rows_are_depthwise_with_scalesims_macs() {
        let text = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nConv_DP1, 10, 10, 3, 3, 8, 1, 1,\n";
        let m = parse_scalesim("dw.csv", text).unwrap();
        assert!(matches!(
            m.layers[0].op,
            Op::Conv2d {
                in_ch: 8,
                out_ch: 8,
                groups: 8,
                ..
            }
        ));
        // SCALE-Sim expands it into 8 one-channel layers of one filter.
        assert_eq!(m.forward_macs(), 8 * scalesim_macs(10, 10, 3, 3, 1, 1, 1));
    }

    /// Parses `text` and asserts the diagnostic's line, column header and that it mentions `needle`.
    fn check(text: &str, line: Option<usize>, field: &str, needle: &str) {
        let e = match parse_scalesim("t.csv", text) {
            Ok(_) => panic!("expected an error at {field} for:\n{text}"),
            Err(e) => e,
        };
        assert_eq!((e.line, e.field.as_str()), (line, field), "{e}");
        assert!(e.to_string().contains(needle), "`{needle}` not in: {e}");
    }

    const CONV: &str = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n";
    const CONV9: &str = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Stride height, Stride width,\n";
    const GEMM: &str = "Layer, M, N, K,\n";

    /// Files that must fail: (header, rows, line, column, text of the diagnostic).
    #[rustfmt::skip]
    const BAD_ROWS: &[(&str, &str, Option<usize>, &str, &str)] = &[
        (CONV, "c1, 8, 8, 3, 3, x, 4, 1,", Some(2), "Channels", "`x` is not a valid size (allowed: an integer in 1..="),
        (CONV, "c1, 8, 8, 3, 3, 2, 4, 0,", Some(2), "Strides", "must be at least 1"),
        (CONV, "c1, 8, 8, 3, 3, 2, -4, 1,", Some(2), "Num Filter", "`-4` is not a valid size"),
        (CONV, "c1, 8, 8, 9, 3, 2, 4, 1,", Some(2), "Filter Height", "filter height 9 is larger than the IFMAP height 8"),
        (CONV, "c1, 8, 8, 3, 9, 2, 4, 1,", Some(2), "Filter Width", "larger than the IFMAP width"),
        (CONV, "\nc1, 8, 8, 3, 3, 2, 4,", Some(3), "Strides", "missing column `Strides`"),
        (CONV, "c1, 8, 8, 3, 3, 2, 4, 1,\nc1, 8, 8, 3, 3, 2, 4, 1,", Some(3), "Layer name", "duplicate layer name `c1` (first on line 2)"),
        (CONV, " , 8, 8, 3, 3, 2, 4, 1,", Some(2), "Layer name", "empty layer name"),
        (CONV, "c1, 9, 8, 2, 2, 2, 4, 2,", Some(2), "Strides", "different paddings"),
        (CONV9, "c1, 8, 8, 3, 3, 2, 4, 1, 2,", Some(2), "Stride width", "stride width 2 differs from stride height 1"),
        (GEMM, "g1, 4, 4,", Some(2), "K", "missing column `K`"),
        (GEMM, "g1, 4, 0, 4,", Some(2), "N", "must be at least 1"),
        (GEMM, "g1, 4, 4, 99999999999,", Some(2), "K", "not a valid size"),
        // One GEMM row of 2^24 × 2^24 × 2^24 is 2^72 MACs, more than a u64 holds.
        (GEMM, "g, 16777216, 16777216, 16777216,", Some(2), "Layer", "too large to count"),
        (GEMM, "", Some(1), "", "no layer rows"),
        ("Layer, M, K, N,\n", "g1, 4, 4, 4,", Some(1), "header", "is not M, N, K"),
        ("Layer, Height, Width\n", "", Some(1), "header", "unrecognized header `Layer, Height, Width` (allowed: `Layer name, IFMAP Height"),
        ("Layer name, IFMAP Height, IFMAP Width, Filter Height\n", "", Some(1), "header", "needs 8"),
        ("\n  \n", "", None, "", "empty topology file"),
    ];

    #[test]
    fn bad_rows_name_line_and_column() {
        for &(header, rows, line, field, needle) in BAD_ROWS {
            check(&format!("{header}{rows}\n"), line, field, needle);
        }
    }
}
