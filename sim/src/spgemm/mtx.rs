//! Matrix Market reader: coordinate format; real, integer and pattern fields; general and
//! symmetric storage. Every error names the file, the line and what is wrong.

use super::csr::Csr;
use nmsat_compiler::diag::Diagnostic;

/// Reads a Matrix Market file.
pub fn read_mtx(path: &str) -> Result<Csr, Diagnostic> {
    let text = std::fs::read_to_string(path).map_err(|e| Diagnostic {
        file: path.to_string(),
        line: None,
        field: String::new(),
        message: format!("cannot read matrix: {e}"),
        allowed: Some("a Matrix Market (.mtx) file".into()),
    })?;
    parse_mtx(path, &text)
}

#[derive(Clone, Copy, PartialEq)]
enum Field {
    Real,
    Integer,
    Pattern,
}

fn err(file: &str, line: usize, field: &str, message: String, allowed: &str) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line: Some(line),
        field: field.to_string(),
        message,
        allowed: (!allowed.is_empty()).then(|| allowed.to_string()),
    }
}

/// Parses the text of a Matrix Market file (`file` names it in errors).
pub fn parse_mtx(file: &str, text: &str) -> Result<Csr, Diagnostic> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (n, header) = lines.next().unwrap_or((1, ""));
    let words: Vec<String> = header
        .split_whitespace()
        .map(|w| w.to_lowercase())
        .collect();
    if words.first().map(String::as_str) != Some("%%matrixmarket") || words.len() != 5 {
        return Err(err(
            file,
            n,
            "header",
            format!("`{header}` is not a Matrix Market header"),
            "%%MatrixMarket matrix coordinate real|integer|pattern general|symmetric",
        ));
    }
    let want = |i: usize, what: &str, ok: &[&str]| -> Result<String, Diagnostic> {
        if ok.contains(&words[i].as_str()) {
            Ok(words[i].clone())
        } else {
            Err(err(
                file,
                n,
                &format!("header {what}"),
                format!("unsupported {what} `{}`", words[i]),
                &ok.join(", "),
            ))
        }
    };
    want(1, "object", &["matrix"])?;
    want(2, "format", &["coordinate"])?;
    let field = match want(3, "field", &["real", "integer", "pattern"])?.as_str() {
        "real" => Field::Real,
        "integer" => Field::Integer,
        _ => Field::Pattern,
    };
    let symmetric = want(4, "symmetry", &["general", "symmetric"])? == "symmetric";

    // Comments and blank lines may precede the size line and sit between entries.
    let mut data = lines.filter(|(_, l)| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('%')
    });
    let Some((n, size)) = data.next() else {
        return Err(err(
            file,
            text.lines().count().max(1),
            "size line",
            "the file ends before the size line".into(),
            "ROWS COLS ENTRIES",
        ));
    };
    let nums: Vec<&str> = size.split_whitespace().collect();
    let parse_count = |s: &str, what: &str| -> Result<usize, Diagnostic> {
        s.parse::<usize>().map_err(|_| {
            err(
                file,
                n,
                &format!("size line {what}"),
                format!("`{s}` is not a non-negative integer"),
                "ROWS COLS ENTRIES",
            )
        })
    };
    if nums.len() != 3 {
        return Err(err(
            file,
            n,
            "size line",
            format!("expected 3 numbers, found {}", nums.len()),
            "ROWS COLS ENTRIES",
        ));
    }
    let (nrows, ncols, count) = (
        parse_count(nums[0], "rows")?,
        parse_count(nums[1], "cols")?,
        parse_count(nums[2], "entries")?,
    );
    if nrows > u32::MAX as usize || ncols > u32::MAX as usize {
        return Err(err(
            file,
            n,
            "size line",
            format!("{nrows}×{ncols} is larger than 32-bit indices allow"),
            "at most 4294967295 rows and columns",
        ));
    }
    if symmetric && nrows != ncols {
        return Err(err(
            file,
            n,
            "size line",
            format!("a symmetric matrix must be square, not {nrows}×{ncols}"),
            "ROWS = COLS",
        ));
    }

    let mut t: Vec<(u32, u32, f64)> = Vec::with_capacity(count * (1 + symmetric as usize));
    let mut seen = 0usize;
    let mut last_line = n;
    for (n, line) in data {
        last_line = n;
        seen += 1;
        if seen > count {
            return Err(err(
                file,
                n,
                "entries",
                format!("more entries than the {count} the size line declares"),
                &format!("exactly {count} entries"),
            ));
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let expect = if field == Field::Pattern { 2 } else { 3 };
        if w.len() != expect {
            return Err(err(
                file,
                n,
                &format!("entry {seen}"),
                format!("expected {expect} fields, found {}", w.len()),
                if field == Field::Pattern {
                    "ROW COL"
                } else {
                    "ROW COL VALUE"
                },
            ));
        }
        let index = |s: &str, what: &str, max: usize| -> Result<u32, Diagnostic> {
            match s.parse::<u64>() {
                Ok(v) if v >= 1 && v <= max as u64 => Ok((v - 1) as u32),
                Ok(v) => Err(err(
                    file,
                    n,
                    &format!("entry {seen} {what}"),
                    format!("{what} index {v} is out of range"),
                    &format!("1..={max} (indices are 1-based)"),
                )),
                Err(_) => Err(err(
                    file,
                    n,
                    &format!("entry {seen} {what}"),
                    format!("`{s}` is not a {what} index"),
                    &format!("an integer in 1..={max}"),
                )),
            }
        };
        let r = index(w[0], "row", nrows)?;
        let c = index(w[1], "column", ncols)?;
        let v = match field {
            Field::Pattern => 1.0,
            Field::Integer => w[2].parse::<i64>().map(|x| x as f64).map_err(|_| {
                err(
                    file,
                    n,
                    &format!("entry {seen} value"),
                    format!("`{}` is not an integer", w[2]),
                    "an integer (the header says `integer`)",
                )
            })?,
            Field::Real => match w[2].parse::<f64>() {
                Ok(x) if x.is_finite() => x,
                _ => {
                    return Err(err(
                        file,
                        n,
                        &format!("entry {seen} value"),
                        format!("`{}` is not a finite real number", w[2]),
                        "a decimal number such as -1.5e3",
                    ))
                }
            },
        };
        if symmetric && c > r {
            return Err(err(
                file,
                n,
                &format!("entry {seen}"),
                format!(
                    "({}, {}) is above the diagonal of a symmetric matrix",
                    r + 1,
                    c + 1
                ),
                "entries with ROW ≥ COL (a symmetric file stores the lower triangle)",
            ));
        }
        t.push((r, c, v));
        if symmetric && r != c {
            t.push((c, r, v));
        }
    }
    if seen < count {
        return Err(err(
            file,
            last_line,
            "entries",
            format!("the size line declares {count} entries but the file has {seen}"),
            &format!("exactly {count} entries"),
        ));
    }
    Ok(Csr::from_triplets(nrows, ncols, t))
}

/// Writes `m` as a `coordinate real general` Matrix Market text (values in shortest
/// round-trip form, so reading it back gives the same matrix).
pub fn to_mtx(m: &Csr) -> String {
    let mut s = format!(
        "%%MatrixMarket matrix coordinate real general\n{} {} {}\n",
        m.nrows,
        m.ncols,
        m.nnz()
    );
    for i in 0..m.nrows {
        let (cs, vs) = m.row(i);
        for (&c, &v) in cs.iter().zip(vs) {
            s.push_str(&format!("{} {} {v:?}\n", i + 1, c + 1));
        }
    }
    s
}
