//! The wine-quality data set as the `linfa-datasets` crate ships it: 1,599 red wines (Cortez
//! et al., UCI, 2009), 11 physico-chemical features, quality grades 3..8 as 6 classes;
//! standardized with the training split's statistics.

use nmsat_sim::functional::data::Dataset;

/// The lowest quality grade: class 0.
const LOWEST: usize = 3;
/// Grades 3..=8.
const CLASSES: usize = 6;

/// Loads, splits (every fifth wine to the test set) and standardizes the data.
pub fn winequality() -> Dataset {
    let ds = linfa_datasets::winequality();
    let rows: Vec<Vec<f32>> = ds
        .records
        .outer_iter()
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect();
    let labels: Vec<usize> = ds
        .targets
        .iter()
        .map(|&q| q.clamp(LOWEST, LOWEST + CLASSES - 1) - LOWEST)
        .collect();
    let mut d = Dataset::split("winequality", 11, CLASSES, rows, labels);
    d.standardize();
    d
}
