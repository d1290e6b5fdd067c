//! Deterministic, stratified train / validation / test splits: the same seed gives the same
//! split on every machine, and each class keeps its share in every part.

use crate::dataset::{Dataset, Task};
use serde::Serialize;

/// Row indices of each part of a split: positions in the dataset's rows, which for a table
/// are its data rows that have a label, in file order (see [`SplitRecord`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

/// A small, portable pseudo-random generator (SplitMix64): stable across platforms and
/// library versions, which a reproducible split needs.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// How the indices of `split.json` count rows, written into the file itself so that it can
/// be read without this code.
pub const SPLIT_INDEXING: &str = "0-based positions among the file's data rows that have a label, in file order: the header, blank lines and rows whose label is missing are not counted";

/// A training run's `split.json`: which rows trained, validated and tested the model, so that
/// the very same held-out rows can be scored again by other tools.
#[derive(Debug, Clone, Serialize)]
pub struct SplitRecord {
    /// `{name, version, digest}` of the dataset version the rows are of.
    pub dataset: serde_json::Value,
    pub label: String,
    pub seed: u64,
    pub indexing: &'static str,
    /// Data rows left out before numbering because their label is missing.
    pub skipped_rows: u64,
    #[serde(flatten)]
    pub split: Split,
}

/// Splits `data` into parts of the given fractions (the rest is training), stratified by
/// class for classification.
pub fn stratified_split(data: &Dataset, validation: f64, test: f64, seed: u64) -> Split {
    let mut rng = SplitMix64(seed);
    let groups: Vec<Vec<usize>> = match data.schema.task {
        Task::Classification => (0..data.schema.classes.len())
            .map(|class| {
                (0..data.len())
                    .filter(|&row| data.labels[row] as usize == class)
                    .collect()
            })
            .collect(),
        Task::Regression => vec![(0..data.len()).collect()],
    };
    let mut split = Split {
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
    };
    for mut group in groups {
        rng.shuffle(&mut group);
        let n = group.len() as f64;
        let test_count = (n * test).round() as usize;
        let validation_count = (n * validation).round() as usize;
        split.test.extend(&group[..test_count.min(group.len())]);
        let rest = &group[test_count.min(group.len())..];
        split
            .validation
            .extend(&rest[..validation_count.min(rest.len())]);
        split
            .train
            .extend(&rest[validation_count.min(rest.len())..]);
    }
    for part in [&mut split.train, &mut split.validation, &mut split.test] {
        part.sort_unstable();
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    const IRIS: &[u8] = include_bytes!("../../datasets/iris.csv");

    #[test]
    fn the_same_seed_gives_the_same_stratified_split() {
        let iris = Dataset::from_csv(IRIS, "species", None).unwrap();
        let a = stratified_split(&iris, 0.15, 0.2, 7);
        assert_eq!(a, stratified_split(&iris, 0.15, 0.2, 7));
        assert_ne!(a, stratified_split(&iris, 0.15, 0.2, 8));
        assert_eq!(a.train.len() + a.validation.len() + a.test.len(), 150);
        assert_eq!(a.test.len(), 30);
        for class in 0..3 {
            let in_test = a
                .test
                .iter()
                .filter(|&&row| iris.labels[row] as usize == class)
                .count();
            assert_eq!(in_test, 10, "each class keeps its share");
        }
    }
}
