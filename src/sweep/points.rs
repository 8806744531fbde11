//! The points of a sweep: the grid of axis values (the last axis varying fastest) filtered by
//! the constraints, or a seeded random sample of it; and the deterministic slice of them that
//! one shard runs.

use super::spec::{Sampling, Spec};
use super::value::Value;
use nmsat_compiler::diag::Diagnostic;
use std::collections::HashSet;

/// One point of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Position in the sweep's list of points: the order of the results.
    pub index: usize,
    /// One value per axis, in the order of [`Spec::axes`].
    pub values: Vec<Value>,
    /// `axis=value` pairs: what identifies the point across runs, shards and resumes.
    pub key: String,
}

/// Grids up to this size are enumerated; larger ones must be sampled.
const MAX_GRID: u128 = 2_000_000;

/// SplitMix64: a small, well-mixed generator, so that a seed gives the same sample everywhere.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`, up to a bias of n / 2^128.
    fn below(&mut self, n: u128) -> u128 {
        (u128::from(self.next()) << 64 | u128::from(self.next())) % n.max(1)
    }
}

/// The axis values of grid position `i` (mixed radix, last axis fastest).
fn decode(spec: &Spec, mut i: u128) -> Vec<Value> {
    let mut v = vec![Value::Int(0); spec.axes.len()];
    for (a, axis) in spec.axes.iter().enumerate().rev() {
        let n = axis.values.len() as u128;
        v[a] = axis.values[(i % n) as usize].clone();
        i /= n;
    }
    v
}

/// The identifying key of a point.
pub fn key_of(spec: &Spec, values: &[Value]) -> String {
    spec.axes
        .iter()
        .zip(values)
        .map(|(a, v)| format!("{}={v}", a.name))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Number of combinations of axis values.
pub fn grid_size(spec: &Spec) -> u128 {
    spec.axes
        .iter()
        .map(|a| a.values.len() as u128)
        .fold(1u128, |acc, n| acc.saturating_mul(n))
}

/// Every point of the sweep, in order; an error (before anything runs) when the constraints
/// exclude every point or the grid is too large to enumerate.
pub fn points(spec: &Spec) -> Result<Vec<Point>, Diagnostic> {
    let total = grid_size(spec);
    let indices: Vec<u128> = match spec.sampling {
        Sampling::Grid => {
            if total > MAX_GRID {
                return Err(spec.map.error(
                    "axes",
                    format!("the grid has {total} points, more than {MAX_GRID} to enumerate"),
                    "fewer axis values, or sampling: {random: POINTS, seed: SEED}",
                ));
            }
            let mut v = Vec::new();
            for i in 0..total {
                if spec.admits(&decode(spec, i))? {
                    v.push(i);
                }
            }
            v
        }
        Sampling::Random { points, seed } => {
            let mut rng = SplitMix(seed);
            let want = points as usize;
            if total <= MAX_GRID {
                // Partial Fisher–Yates over the admitted grid: `want` distinct points.
                let mut v = Vec::new();
                for i in 0..total {
                    if spec.admits(&decode(spec, i))? {
                        v.push(i);
                    }
                }
                let take = want.min(v.len());
                for k in 0..take {
                    let j = k + rng.below((v.len() - k) as u128) as usize;
                    v.swap(k, j);
                }
                v.truncate(take);
                v
            } else {
                let mut seen = HashSet::new();
                let mut v = Vec::new();
                let mut tries = 0usize;
                while v.len() < want && tries < want.saturating_mul(1000) {
                    tries += 1;
                    let i = rng.below(total);
                    if seen.insert(i) && spec.admits(&decode(spec, i))? {
                        v.push(i);
                    }
                }
                v
            }
        }
    };
    if indices.is_empty() {
        let (field, msg) = if spec.constraints.is_empty() {
            ("axes", "the sweep has no point".to_string())
        } else {
            (
                "constraints",
                format!(
                    "the constraints exclude every one of the {total} points of the grid{}",
                    if total > MAX_GRID {
                        " that were tried"
                    } else {
                        ""
                    }
                ),
            )
        };
        return Err(spec.map.error(
            field,
            msg,
            "constraints that some combination of the axis values meets",
        ));
    }
    let mut indices = indices;
    indices.sort_unstable();
    Ok(indices
        .into_iter()
        .enumerate()
        .map(|(index, g)| {
            let values = decode(spec, g);
            Point {
                index,
                key: key_of(spec, &values),
                values,
            }
        })
        .collect())
}

/// Parses `--shard k/N` (k counted from 0, as Slurm array and Kubernetes job indices are).
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not k/N"))?;
    let k: usize = k
        .trim()
        .parse()
        .map_err(|_| format!("`{k}` is not a shard index"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a shard count"))?;
    if n == 0 || k >= n {
        return Err(format!("shard {k} of {n} does not exist"));
    }
    Ok((k, n))
}

/// Whether point `index` belongs to shard `k` of `n`: round robin, so that each shard gets its
/// share of every region of the grid (expensive corners included).
pub fn in_shard(index: usize, (k, n): (usize, usize)) -> bool {
    index % n == k
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec(extra: &str) -> Spec {
        let text = format!(
            "arch: sat-small\n{extra}axes:\n  array.rows: [2, 4, 8]\n  array.cols: [2, 4, 8, 16]\n  model: [tiny-mlp]\n  nm: [\"1:4\", \"2:8\"]\n"
        );
        Spec::parse("s.yaml", &text, Path::new(".")).unwrap()
    }

    #[test]
    fn grid_is_the_product_in_order_with_constraints_applied() {
        let s = spec("");
        let p = points(&s).unwrap();
        assert_eq!(p.len(), 24);
        assert_eq!(p[0].key, "array.rows=2 array.cols=2 model=tiny-mlp nm=1:4");
        assert_eq!(p[1].key, "array.rows=2 array.cols=2 model=tiny-mlp nm=2:8");
        assert_eq!(
            p[23].key,
            "array.rows=8 array.cols=16 model=tiny-mlp nm=2:8"
        );
        let s = spec("constraints: [\"array.rows * array.cols <= 16\", \"nm.m == 8\"]\n");
        let keys: Vec<_> = points(&s).unwrap().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "array.rows=2 array.cols=2 model=tiny-mlp nm=2:8",
                "array.rows=2 array.cols=4 model=tiny-mlp nm=2:8",
                "array.rows=2 array.cols=8 model=tiny-mlp nm=2:8",
                "array.rows=4 array.cols=2 model=tiny-mlp nm=2:8",
                "array.rows=4 array.cols=4 model=tiny-mlp nm=2:8",
                "array.rows=8 array.cols=2 model=tiny-mlp nm=2:8",
            ]
        );
    }

    #[test]
    fn constraints_that_exclude_everything_fail_before_running() {
        let s = spec("constraints: [\"array.rows > 100\"]\n");
        let e = points(&s).unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("constraints", Some(2)));
        assert!(
            e.message.contains("exclude every one of the 24 points"),
            "{e}"
        );
    }

    #[test]
    fn random_sampling_is_seeded_distinct_and_admitted() {
        let a = points(&spec("sampling: {random: 7, seed: 1}\n")).unwrap();
        let b = points(&spec("sampling: {random: 7, seed: 1}\n")).unwrap();
        let c = points(&spec("sampling: {random: 7, seed: 2}\n")).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 7);
        let keys: HashSet<_> = a.iter().map(|p| &p.key).collect();
        assert_eq!(keys.len(), 7);
        // Asking for more than the constraints admit gives all of them.
        let all = points(&spec(
            "sampling: {random: 100, seed: 1}\nconstraints: [\"array.rows == 2\"]\n",
        ))
        .unwrap();
        assert_eq!(all.len(), 8);
        assert!(all.iter().all(|p| p.key.starts_with("array.rows=2 ")));
    }

    #[test]
    fn shards_partition_the_points() {
        assert_eq!(parse_shard("1/3"), Ok((1, 3)));
        assert!(parse_shard("3/3").is_err());
        assert!(parse_shard("1").is_err());
        assert!(parse_shard("0/0").is_err());
        for n in 1..5 {
            for i in 0..20 {
                let owners = (0..n).filter(|&k| in_shard(i, (k, n))).count();
                assert_eq!(owners, 1);
            }
        }
    }
}
