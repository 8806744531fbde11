//! Labelled data sets with a fixed train/test split, as a functional run streams them into
//! DRAM: one sample a row of `features` reals (an image's pixels in NHWC order), one class
//! label each.

/// The UCI handwritten digits as `scripts/export_digits.py` exported them (provenance there):
/// a header, then `label,p0,…,p63` per 8×8 image, pixel values 0..16.
pub const DIGITS_CSV: &str = include_str!("../../../data/digits.csv");

/// A classification data set, split.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub features: usize,
    pub classes: usize,
    /// `train_len × features` values, row-major.
    pub train_x: Vec<f32>,
    pub train_y: Vec<i16>,
    pub test_x: Vec<f32>,
    pub test_y: Vec<i16>,
}

impl Dataset {
    /// Samples in the training split.
    pub fn train_len(&self) -> usize {
        self.train_y.len()
    }

    /// Samples in the test split.
    pub fn test_len(&self) -> usize {
        self.test_y.len()
    }

    /// Splits `rows` (each `features` values) with their labels `0..classes`: every fifth
    /// sample, from the fifth, goes to the test set (a fixed split, the same for every seed).
    pub fn split(
        name: &str,
        features: usize,
        classes: usize,
        rows: Vec<Vec<f32>>,
        labels: Vec<usize>,
    ) -> Dataset {
        let mut d = Dataset {
            name: name.into(),
            features,
            classes,
            train_x: Vec::new(),
            train_y: Vec::new(),
            test_x: Vec::new(),
            test_y: Vec::new(),
        };
        for (i, (x, y)) in rows.into_iter().zip(labels).enumerate() {
            let (xs, ys) = if i % 5 == 4 {
                (&mut d.test_x, &mut d.test_y)
            } else {
                (&mut d.train_x, &mut d.train_y)
            };
            xs.extend(x);
            ys.push(y as i16);
        }
        d
    }

    /// Standardizes every feature to zero mean and unit variance over the training split (the
    /// test split with the training statistics).
    pub fn standardize(&mut self) {
        let f = self.features;
        let n = self.train_len().max(1) as f64;
        for j in 0..f {
            let col = || self.train_x.iter().skip(j).step_by(f).map(|&v| v as f64);
            let mean = col().sum::<f64>() / n;
            let var = col().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            let sd = var.sqrt().max(1e-6);
            for xs in [&mut self.train_x, &mut self.test_x] {
                for v in xs.iter_mut().skip(j).step_by(f) {
                    *v = ((*v as f64 - mean) / sd) as f32;
                }
            }
        }
    }
}

/// Parses the digits CSV (`file` names it in errors): pixels scaled to [0, 1].
pub fn parse_digits(file: &str, text: &str) -> Result<Dataset, String> {
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let at = |msg: String| format!("{file}:{}: {msg}", i + 1);
        let vals: Vec<u32> = line
            .split(',')
            .map(|v| v.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|e| at(format!("not a list of whole numbers ({e})")))?;
        if vals.len() != 65 {
            return Err(at(format!(
                "{} fields (allowed: a label and 64 pixels)",
                vals.len()
            )));
        }
        if vals[0] > 9 || vals[1..].iter().any(|&p| p > 16) {
            return Err(at(
                "label or pixel out of range (allowed: label 0..9, pixels 0..16)".into(),
            ));
        }
        labels.push(vals[0] as usize);
        rows.push(vals[1..].iter().map(|&p| p as f32 / 16.0).collect());
    }
    if rows.is_empty() {
        return Err(format!("{file}: no images"));
    }
    Ok(Dataset::split("digits", 64, 10, rows, labels))
}

/// The digits shipped with nmsat: 1,438 training and 359 test images.
pub fn digits() -> Dataset {
    parse_digits("data/digits.csv", DIGITS_CSV).expect("the shipped digits parse")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_split_and_bad_rows() {
        let d = digits();
        assert_eq!((d.train_len(), d.test_len()), (1438, 359));
        assert_eq!(d.train_x.len(), 1438 * 64);
        assert!(d.train_x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let mut seen = [0; 10];
        for &y in &d.test_y {
            seen[y as usize] += 1;
        }
        assert!(
            seen.iter().all(|&c| c > 20),
            "every class is tested: {seen:?}"
        );
        let e = parse_digits("d.csv", "h\n1,2\n").unwrap_err();
        assert!(e.starts_with("d.csv:2:") && e.contains("64 pixels"), "{e}");
        let bad = format!("h\n11{}\n", ",0".repeat(64));
        assert!(parse_digits("d.csv", &bad)
            .unwrap_err()
            .contains("label 0..9"));
    }

    #[test]
    fn standardize_uses_training_statistics() {
        let rows = (0..10).map(|i| vec![i as f32, 5.0]).collect();
        let mut d = Dataset::split("t", 2, 2, rows, vec![0; 10]);
        d.standardize();
        let mean: f32 = d.train_x.iter().step_by(2).sum::<f32>() / 8.0;
        assert!(mean.abs() < 1e-5);
        assert!(d.train_x.iter().skip(1).step_by(2).all(|&v| v == 0.0));
    }
}
