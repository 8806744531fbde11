//! Compressed sparse rows, and the plain reference SpGEMM every kernel is checked against.

/// A sparse matrix in CSR form: row `i` holds `cols[rowptr[i]..rowptr[i+1]]` (ascending, no
/// duplicates) and the matching `vals`.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    pub nrows: usize,
    pub ncols: usize,
    pub rowptr: Vec<usize>,
    pub cols: Vec<u32>,
    pub vals: Vec<f64>,
}

impl Csr {
    /// An `nrows × ncols` matrix with no entries.
    pub fn empty(nrows: usize, ncols: usize) -> Csr {
        Csr {
            nrows,
            ncols,
            rowptr: vec![0; nrows + 1],
            cols: Vec::new(),
            vals: Vec::new(),
        }
    }

    /// Builds a matrix from `(row, col, value)` triplets in any order; duplicates are summed
    /// (in the order given). Panics on an index out of range: callers check user input first.
    pub fn from_triplets(nrows: usize, ncols: usize, mut t: Vec<(u32, u32, f64)>) -> Csr {
        // A stable sort keeps duplicates in input order, so their sum is deterministic.
        t.sort_by_key(|&(r, c, _)| (r, c));
        let mut m = Csr::empty(nrows, ncols);
        m.cols.reserve(t.len());
        m.vals.reserve(t.len());
        let mut last: Option<(u32, u32)> = None;
        for (r, c, v) in t {
            assert!(
                (r as usize) < nrows && (c as usize) < ncols,
                "({r}, {c}) out of range"
            );
            if last == Some((r, c)) {
                *m.vals.last_mut().expect("a previous entry") += v;
            } else {
                m.rowptr[r as usize + 1] += 1;
                m.cols.push(c);
                m.vals.push(v);
                last = Some((r, c));
            }
        }
        for i in 0..nrows {
            m.rowptr[i + 1] += m.rowptr[i];
        }
        m
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        self.cols.len()
    }

    /// Entries of row `i` in CSR order.
    pub fn row_len(&self, i: usize) -> usize {
        self.rowptr[i + 1] - self.rowptr[i]
    }

    /// Column indices and values of row `i`.
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let r = self.rowptr[i]..self.rowptr[i + 1];
        (&self.cols[r.clone()], &self.vals[r])
    }

    /// The transpose, also in CSR form (which is `self` in CSC form).
    pub fn transpose(&self) -> Csr {
        let mut t = Csr::empty(self.ncols, self.nrows);
        for &c in &self.cols {
            t.rowptr[c as usize + 1] += 1;
        }
        for i in 0..self.ncols {
            t.rowptr[i + 1] += t.rowptr[i];
        }
        let mut next = t.rowptr.clone();
        t.cols = vec![0; self.nnz()];
        t.vals = vec![0.0; self.nnz()];
        for i in 0..self.nrows {
            let (cs, vs) = self.row(i);
            for (&c, &v) in cs.iter().zip(vs) {
                let at = &mut next[c as usize];
                t.cols[*at] = i as u32;
                t.vals[*at] = v;
                *at += 1;
            }
        }
        t
    }

    /// Multiplications row `i` of `self · b` takes: `Σ_k∈row i nnz(b row k)`.
    pub fn flops_per_row(&self, b: &Csr) -> Vec<u64> {
        (0..self.nrows)
            .map(|i| {
                self.row(i)
                    .0
                    .iter()
                    .map(|&k| b.row_len(k as usize) as u64)
                    .sum()
            })
            .collect()
    }

    /// Whether both have the same structure and every value agrees within `rel` of the larger
    /// magnitude (`rel = 0` is exact equality).
    pub fn approx_eq(&self, other: &Csr, rel: f64) -> Result<(), String> {
        if (self.nrows, self.ncols) != (other.nrows, other.ncols) {
            return Err(format!(
                "shape {}×{} ≠ {}×{}",
                self.nrows, self.ncols, other.nrows, other.ncols
            ));
        }
        for i in 0..self.nrows {
            let (ca, va) = self.row(i);
            let (cb, vb) = other.row(i);
            if ca != cb {
                return Err(format!(
                    "row {i}: columns differ ({} vs {} entries)",
                    ca.len(),
                    cb.len()
                ));
            }
            for ((&c, &x), &y) in ca.iter().zip(va).zip(vb) {
                if (x - y).abs() > rel * x.abs().max(y.abs()) {
                    return Err(format!("({i}, {c}): {x} ≠ {y}"));
                }
            }
        }
        Ok(())
    }
}

/// The reference product `a · b`: row-wise with a dense accumulator, terms added in ascending
/// k. Structural: an entry exists wherever some product was formed, even if the sum is zero.
pub fn spgemm_reference(a: &Csr, b: &Csr) -> Result<Csr, String> {
    check_shapes(a, b)?;
    let mut acc = vec![0.0f64; b.ncols];
    let mut seen = vec![false; b.ncols];
    let mut c = Csr::empty(a.nrows, b.ncols);
    let mut touched: Vec<u32> = Vec::new();
    for i in 0..a.nrows {
        let (ka, va) = a.row(i);
        for (&k, &x) in ka.iter().zip(va) {
            let (jb, vb) = b.row(k as usize);
            for (&j, &y) in jb.iter().zip(vb) {
                if !seen[j as usize] {
                    seen[j as usize] = true;
                    touched.push(j);
                }
                acc[j as usize] += x * y;
            }
        }
        touched.sort_unstable();
        for &j in &touched {
            c.cols.push(j);
            c.vals.push(acc[j as usize]);
            acc[j as usize] = 0.0;
            seen[j as usize] = false;
        }
        touched.clear();
        c.rowptr[i + 1] = c.cols.len();
    }
    Ok(c)
}

/// A dense accumulator for one row of a product, restricted to a column range: the kernels'
/// functional path (the reference above is kept independent of it).
pub(crate) struct Spa {
    acc: Vec<f64>,
    /// One bit per column: touched by the current row.
    seen: Vec<u64>,
    touched: Vec<u32>,
}

impl Spa {
    pub fn new(ncols: usize) -> Self {
        Spa {
            acc: vec![0.0; ncols],
            seen: vec![0; ncols.div_ceil(64)],
            touched: Vec::new(),
        }
    }

    /// Row `i` of `a · b` over columns `cols`, terms added in ascending k, appended to
    /// `out_cols`/`out_vals` in ascending column order. Returns the products formed.
    pub fn row(
        &mut self,
        a: &Csr,
        b: &Csr,
        i: usize,
        cols: std::ops::Range<u32>,
        out_cols: &mut Vec<u32>,
        out_vals: &mut Vec<f64>,
    ) -> u64 {
        let full = cols.start == 0 && cols.end as usize == b.ncols;
        let mut products = 0;
        let (mut lo, mut hi) = (u32::MAX, 0);
        let (ka, va) = a.row(i);
        for (&k, &x) in ka.iter().zip(va) {
            let (mut jb, mut vb) = b.row(k as usize);
            if !full {
                let l = jb.partition_point(|&j| j < cols.start);
                let h = jb.partition_point(|&j| j < cols.end);
                (jb, vb) = (&jb[l..h], &vb[l..h]);
            }
            products += jb.len() as u64;
            if let (Some(&f), Some(&l)) = (jb.first(), jb.last()) {
                (lo, hi) = (lo.min(f), hi.max(l));
            }
            for (&j, &y) in jb.iter().zip(vb) {
                let (w, bit) = (j as usize / 64, 1u64 << (j % 64));
                if self.seen[w] & bit == 0 {
                    self.seen[w] |= bit;
                    self.touched.push(j);
                }
                self.acc[j as usize] += x * y;
            }
        }
        // The touched columns in ascending order: sort a few, or read them off the bitmap
        // words between the lowest and the highest (whichever is cheaper).
        let n = self.touched.len();
        if n > 0 && (hi - lo) as usize / 64 >= 4 * n {
            self.touched.sort_unstable();
        } else if n > 0 {
            self.touched.clear();
            for w in lo as usize / 64..=hi as usize / 64 {
                let mut bits = self.seen[w];
                while bits != 0 {
                    self.touched.push((64 * w) as u32 + bits.trailing_zeros());
                    bits &= bits - 1;
                }
            }
        }
        for &j in &self.touched {
            let j = j as usize;
            out_cols.push(j as u32);
            out_vals.push(self.acc[j]);
            self.acc[j] = 0.0;
            self.seen[j / 64] = 0;
        }
        self.touched.clear();
        products
    }
}

/// The inner dimensions of `a · b` must agree.
pub fn check_shapes(a: &Csr, b: &Csr) -> Result<(), String> {
    if a.ncols == b.nrows {
        Ok(())
    } else {
        Err(format!(
            "cannot multiply {}×{} by {}×{}: inner dimensions differ",
            a.nrows, a.ncols, b.nrows, b.ncols
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(nrows: usize, ncols: usize, t: &[(u32, u32, f64)]) -> Csr {
        Csr::from_triplets(nrows, ncols, t.to_vec())
    }

    #[test]
    fn triplets_sort_and_sum_duplicates() {
        let a = m(2, 3, &[(1, 2, 1.0), (0, 1, 2.0), (1, 2, 3.0), (1, 0, 5.0)]);
        assert_eq!(a.rowptr, vec![0, 1, 3]);
        assert_eq!(a.cols, vec![1, 0, 2]);
        assert_eq!(a.vals, vec![2.0, 5.0, 4.0]);
    }

    #[test]
    fn transpose_twice_is_identity() {
        let a = m(3, 4, &[(0, 3, 1.0), (2, 0, 2.0), (2, 3, 3.0), (1, 1, 4.0)]);
        let t = a.transpose();
        assert_eq!((t.nrows, t.ncols), (4, 3));
        assert_eq!(t.row(3), (&[0u32, 2][..], &[1.0, 3.0][..]));
        assert_eq!(t.transpose(), a);
    }

    #[test]
    fn reference_matches_dense_product() {
        let a = m(2, 3, &[(0, 0, 1.0), (0, 2, 2.0), (1, 1, 3.0)]);
        let b = m(3, 2, &[(0, 1, 4.0), (1, 0, 5.0), (2, 1, 6.0), (2, 0, -1.0)]);
        let c = spgemm_reference(&a, &b).unwrap();
        // Row 0: [1 0 2]·B = [-2, 4 + 12]; row 1: [0 3 0]·B = [15, 0].
        assert_eq!(c, m(2, 2, &[(0, 0, -2.0), (0, 1, 16.0), (1, 0, 15.0)]));
        assert_eq!(a.flops_per_row(&b), vec![3, 1]);
        assert!(spgemm_reference(&a, &a).is_err());
    }
}
