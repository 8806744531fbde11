//! SpGEMM inputs: the Matrix Market reader (formats, and a clear error for each malformed
//! file) and the R-MAT generator.

use nmsat_sim::spgemm::csr::Csr;
use nmsat_sim::spgemm::mtx::{parse_mtx, read_mtx, to_mtx};
use nmsat_sim::spgemm::rmat::Rmat;

fn ok(text: &str) -> Csr {
    parse_mtx("m.mtx", text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn reads_real_integer_pattern_general_and_symmetric() {
    let real = ok("%%MatrixMarket matrix coordinate real general\n\
                   % a comment\n\
                   %\n\
                   3 4 3\n\
                   1 1 1.5\n\
                   \n\
                   3 4 -2e1\n\
                   1 1 0.5\n");
    assert_eq!((real.nrows, real.ncols), (3, 4));
    // Duplicates are summed.
    assert_eq!(real.row(0), (&[0u32][..], &[2.0][..]));
    assert_eq!(real.row(2), (&[3u32][..], &[-20.0][..]));
    let int = ok("%%MatrixMarket matrix coordinate integer general\n2 2 2\n1 2 7\n2 1 -3\n");
    assert_eq!(int.vals, vec![7.0, -3.0]);
    // Header words are case-insensitive; pattern entries have the value 1.
    let pat = ok("%%MatrixMarket MATRIX Coordinate Pattern General\n2 3 2\n1 3\n2 2\n");
    assert_eq!(
        (pat.cols.clone(), pat.vals.clone()),
        (vec![2, 1], vec![1.0, 1.0])
    );
    // Symmetric: the lower triangle is mirrored, the diagonal kept once.
    let sym = ok("%%MatrixMarket matrix coordinate real symmetric\n3 3 3\n1 1 4\n3 1 2\n3 2 5\n");
    assert_eq!(sym.nnz(), 5);
    assert_eq!(sym.row(0), (&[0u32, 2][..], &[4.0, 2.0][..]));
    assert_eq!(sym.row(1), (&[2u32][..], &[5.0][..]));
    assert_eq!(sym.row(2), (&[0u32, 1][..], &[2.0, 5.0][..]));
    let none = ok("%%MatrixMarket matrix coordinate real general\n4 2 0\n");
    assert_eq!((none.nrows, none.ncols, none.nnz()), (4, 2, 0));
}

/// One malformed file: the error names the file, the line, the field and what is wrong.
fn bad(text: &str, line: usize, field: &str, needle: &str) {
    let e = parse_mtx("bad.mtx", text).unwrap_err();
    assert_eq!(e.file, "bad.mtx");
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.field, field, "{e}");
    let msg = e.to_string();
    assert!(msg.contains(needle), "`{msg}` lacks `{needle}`");
    assert!(msg.starts_with(&format!("bad.mtx:{line}: ")), "{msg}");
}

#[test]
fn malformed_files_give_clear_errors() {
    const H: &str = "%%MatrixMarket matrix coordinate real general\n";
    // Bad headers.
    bad("", 1, "header", "not a Matrix Market header");
    bad("3 3 1\n1 1 1\n", 1, "header", "not a Matrix Market header");
    bad(
        "%%MatrixMarket matrix array real general\n2 2\n",
        1,
        "header format",
        "unsupported format `array`",
    );
    bad(
        "%%MatrixMarket matrix coordinate complex general\n",
        1,
        "header field",
        "unsupported field `complex`",
    );
    bad(
        "%%MatrixMarket matrix coordinate real skew-symmetric\n",
        1,
        "header symmetry",
        "allowed: general, symmetric",
    );
    bad(
        "%%MatrixMarket vector coordinate real general\n",
        1,
        "header object",
        "unsupported object",
    );
    // Size line.
    bad(H, 1, "size line", "ends before the size line");
    bad(
        &format!("{H}% c\n3 3\n"),
        3,
        "size line",
        "expected 3 numbers, found 2",
    );
    bad(
        &format!("{H}3 x 1\n"),
        2,
        "size line cols",
        "`x` is not a non-negative integer",
    );
    bad(
        "%%MatrixMarket matrix coordinate real symmetric\n2 3 0\n",
        2,
        "size line",
        "must be square",
    );
    // Out-of-range and non-numeric indices (1-based).
    bad(
        &format!("{H}3 3 2\n1 1 1\n4 1 1\n"),
        4,
        "entry 2 row",
        "row index 4 is out of range",
    );
    bad(
        &format!("{H}3 3 1\n1 0 1\n"),
        3,
        "entry 1 column",
        "column index 0 is out of range (allowed: 1..=3 (indices are 1-based))",
    );
    bad(
        &format!("{H}3 3 1\n1 -1 1\n"),
        3,
        "entry 1 column",
        "`-1` is not a column index",
    );
    // Wrong counts.
    bad(
        &format!("{H}3 3 3\n1 1 1\n2 2 2\n"),
        4,
        "entries",
        "declares 3 entries but the file has 2",
    );
    bad(
        &format!("{H}3 3 1\n1 1 1\n2 2 2\n"),
        4,
        "entries",
        "more entries than the 1",
    );
    bad(
        &format!("{H}3 3 1\n1 1\n"),
        3,
        "entry 1",
        "expected 3 fields, found 2",
    );
    bad(
        "%%MatrixMarket matrix coordinate pattern general\n3 3 1\n1 1 1\n",
        3,
        "entry 1",
        "expected 2 fields, found 3",
    );
    // Non-numeric values.
    bad(
        &format!("{H}3 3 1\n1 1 abc\n"),
        3,
        "entry 1 value",
        "`abc` is not a finite real number",
    );
    bad(
        &format!("{H}3 3 1\n1 1 nan\n"),
        3,
        "entry 1 value",
        "not a finite real number",
    );
    bad(
        "%%MatrixMarket matrix coordinate integer general\n3 3 1\n1 1 2.5\n",
        3,
        "entry 1 value",
        "`2.5` is not an integer",
    );
    // The upper triangle of a symmetric file.
    bad(
        "%%MatrixMarket matrix coordinate real symmetric\n3 3 1\n1 2 1\n",
        3,
        "entry 1",
        "above the diagonal",
    );
}

#[test]
fn missing_file_names_it() {
    let e = read_mtx("/nonexistent/x.mtx").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.mtx: cannot read matrix"),
        "{e}"
    );
}

#[test]
fn written_matrices_read_back_equal() {
    let m = Rmat::graph500(6, 4, 9).generate().unwrap();
    let path = std::env::temp_dir().join(format!("nmsat-mtx-{}.mtx", std::process::id()));
    std::fs::write(&path, to_mtx(&m)).unwrap();
    let back = read_mtx(path.to_str().unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back, m);
}

#[test]
fn rmat_is_deterministic_and_power_law() {
    let g = Rmat::graph500(12, 8, 7);
    let a = g.generate().unwrap();
    assert_eq!(a, g.generate().unwrap(), "same seed, same matrix");
    assert_ne!(a, Rmat { seed: 8, ..g }.generate().unwrap());
    assert_eq!((a.nrows, a.ncols), (4096, 4096));
    // Duplicates are merged into multiplicities, so values sum to the edge count.
    let edges: f64 = a.vals.iter().sum();
    assert_eq!(edges, 8.0 * 4096.0);
    assert!(a.nnz() < 8 * 4096);
    // Skewed: row 0 (all-"a" quadrant) is far above the mean degree of 8.
    let max = (0..a.nrows).map(|i| a.row_len(i)).max().unwrap();
    assert_eq!(max, a.row_len(0));
    assert!(max > 100, "max degree {max}");
    // Uniform probabilities give no such hub.
    let flat = Rmat {
        a: 0.25,
        b: 0.25,
        c: 0.25,
        d: 0.25,
        ..g
    }
    .generate()
    .unwrap();
    assert!((0..flat.nrows).map(|i| flat.row_len(i)).max().unwrap() < 40);
}

#[test]
fn rmat_rejects_bad_parameters() {
    let g = Rmat::graph500(10, 8, 1);
    assert!(Rmat { a: 0.6, ..g }
        .generate()
        .unwrap_err()
        .contains("sum to"));
    assert!(Rmat {
        d: -0.05,
        a: 0.67,
        ..g
    }
    .generate()
    .unwrap_err()
    .contains("≥ 0"));
    assert!(Rmat { scale: 0, ..g }
        .generate()
        .unwrap_err()
        .contains("scale"));
    assert!(Rmat {
        edge_factor: 0,
        ..g
    }
    .generate()
    .unwrap_err()
    .contains("edge factor"));
}
