//! Per-feature statistics: count, mean, standard deviation, range, and a quantile histogram
//! (bin edges at the deciles, with the training rows' count in each bin). They are the
//! baseline that drift (PSI, Kolmogorov–Smirnov) compares live inputs against.

use serde::{Deserialize, Serialize};

/// Bins of the baseline histogram.
pub const BINS: usize = 10;

/// The statistics of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    pub name: String,
    pub count: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// `BINS + 1` ascending edges; repeated edges (from repeated values) are merged.
    pub bin_edges: Vec<f64>,
    /// The number of values in each bin; the last bin includes its upper edge.
    pub bin_counts: Vec<usize>,
}

impl FeatureStats {
    pub fn from_values(name: &str, values: &[f64]) -> Self {
        let count = values.len();
        let mean = values.iter().sum::<f64>() / count.max(1) as f64;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count.max(1) as f64;
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let min = sorted.first().copied().unwrap_or(0.0);
        let max = sorted.last().copied().unwrap_or(0.0);
        let mut bin_edges: Vec<f64> = (0..=BINS)
            .map(|i| quantile(&sorted, i as f64 / BINS as f64))
            .collect();
        bin_edges.dedup();
        if bin_edges.len() < 2 {
            bin_edges = vec![min, max];
        }
        let bin_counts = histogram(&bin_edges, values);
        Self {
            name: name.to_owned(),
            count,
            mean,
            std: variance.sqrt(),
            min,
            max,
            bin_edges,
            bin_counts,
        }
    }
}

/// The `q` quantile of sorted values, by linear interpolation.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let position = q * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// Counts `values` into the bins between `edges`; values outside go to the end bins.
pub fn histogram(edges: &[f64], values: &[f64]) -> Vec<usize> {
    let bins = edges.len().saturating_sub(1).max(1);
    let mut counts = vec![0; bins];
    for value in values {
        // The first edge above the value, minus one, is its bin.
        let index =
            edges[1..edges.len().saturating_sub(1).max(1)].partition_point(|edge| edge <= value);
        counts[index.min(bins - 1)] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_a_uniform_feature() {
        let values: Vec<f64> = (0..100).map(f64::from).collect();
        let stats = FeatureStats::from_values("x", &values);
        assert_eq!(stats.count, 100);
        assert!((stats.mean - 49.5).abs() < 1e-9);
        assert!((stats.std - 28.866).abs() < 1e-3);
        assert_eq!((stats.min, stats.max), (0.0, 99.0));
        assert_eq!(stats.bin_edges.len(), BINS + 1);
        assert_eq!(stats.bin_counts.iter().sum::<usize>(), 100);
        assert!(
            stats.bin_counts.iter().all(|&c| (9..=11).contains(&c)),
            "{:?}",
            stats.bin_counts
        );
    }

    #[test]
    fn a_constant_feature_has_one_bin() {
        let stats = FeatureStats::from_values("c", &[3.0; 10]);
        assert_eq!(stats.bin_edges, vec![3.0, 3.0]);
        assert_eq!(stats.bin_counts, vec![10]);
        assert_eq!(stats.std, 0.0);
    }
}
