//! Drift statistics between a training baseline (a feature's quantile histogram) and live
//! values: the population stability index and the Kolmogorov–Smirnov statistic; and the PSI of
//! class shares, for prediction drift.
//!
//! A PSI measured on few rows is mostly sampling noise: 100 rows drawn from the training data
//! itself reach PSI 0.2 on some of 64 features more often than not, and more so when rows come
//! in runs (one writer's digits, one client's batch) — which is what a window refilling after
//! a restart holds. So each PSI comes with the allowance [`psi_noise`] for its row count, and
//! drift is judged on what exceeds it: small samples need a larger shift to alert, a large
//! window hardly any more than the threshold.

use crate::stats::{FeatureStats, histogram};

/// Counts added to every bin before shares are taken (Jeffreys' prior): an empty bin reads as
/// the small share its row count allows, not as a fixed floor whose logarithm alone could
/// push the index over a threshold.
const PSEUDO_COUNT: f64 = 0.5;

/// How far out in the tail of in-distribution PSIs the allowance sits, in standard normal
/// deviations (about 6 in 100 million per feature and look). The guard looks every second at
/// dozens of features, and live rows are not independent draws, so the allowance is wide; a
/// real shift (inverted digits: PSI near 6) is far beyond it.
const NOISE_SIGMAS: f64 = 5.3;

fn smoothed_shares(counts: &[usize]) -> Vec<f64> {
    let total = counts.iter().sum::<usize>() as f64 + PSEUDO_COUNT * counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 + PSEUDO_COUNT) / total.max(f64::MIN_POSITIVE))
        .collect()
}

/// PSI between the expected and actual counts of the same bins.
fn psi_of_counts(expected: &[usize], actual: &[usize]) -> f64 {
    smoothed_shares(expected)
        .iter()
        .zip(smoothed_shares(actual))
        .map(|(&e, a)| (a - e) * (a / e).ln())
        .sum()
}

/// The population stability index of `values` against the baseline's bins: below 0.1 is
/// stable, 0.1 to 0.2 a moderate shift, above 0.2 a significant one — once it exceeds
/// [`psi_noise`] by that much.
pub fn psi(baseline: &FeatureStats, values: &[f64]) -> f64 {
    if values.is_empty() || baseline.bin_counts.is_empty() {
        return 0.0;
    }
    let live = histogram(&baseline.bin_edges, values);
    psi_of_counts(&baseline.bin_counts, &live)
}

/// The PSI that `rows` live rows drawn from the baseline's own distribution stay below but for
/// a vanishing chance, over `bins` bins of a baseline of `baseline_rows` rows. The PSI of two
/// samples of one distribution is, to second order, Pearson's chi-square over the effective
/// rows, with `bins - 1` degrees of freedom; its quantile is the Wilson–Hilferty
/// approximation.
pub fn psi_noise(bins: usize, rows: usize, baseline_rows: usize) -> f64 {
    if rows == 0 || bins < 2 {
        return 0.0;
    }
    let dof = (bins - 1) as f64;
    let spread = 2.0 / (9.0 * dof);
    let quantile = dof * (1.0 - spread + NOISE_SIGMAS * spread.sqrt()).powi(3);
    let inverse_rows = 1.0 / rows as f64 + 1.0 / baseline_rows.max(1) as f64;
    quantile * inverse_rows
}

/// The PSI beyond the sampling allowance: what drift is judged on.
pub fn excess(psi: f64, noise: f64) -> f64 {
    (psi - noise).max(0.0)
}

/// The Kolmogorov–Smirnov statistic: the largest gap between the baseline's distribution
/// function (linear within each bin) and the live values' empirical one.
pub fn ks(baseline: &FeatureStats, values: &[f64]) -> f64 {
    if values.is_empty() || baseline.bin_counts.is_empty() {
        return 0.0;
    }
    let total = baseline.bin_counts.iter().sum::<usize>().max(1) as f64;
    let edges = &baseline.bin_edges;
    let baseline_cdf = |x: f64| -> f64 {
        if x < edges[0] {
            return 0.0;
        }
        let mut below = 0.0;
        for (bin, count) in baseline.bin_counts.iter().enumerate() {
            let (low, high) = (edges[bin], edges[bin + 1]);
            if x >= high {
                below += *count as f64;
            } else {
                let width = high - low;
                let inside = if width > 0.0 { (x - low) / width } else { 1.0 };
                below += *count as f64 * inside;
                break;
            }
        }
        (below / total).min(1.0)
    };
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let mut gap: f64 = 0.0;
    for (i, &x) in sorted.iter().enumerate() {
        let reference = baseline_cdf(x);
        // The empirical function steps from i/n to (i+1)/n at x.
        gap = gap
            .max((reference - i as f64 / n).abs())
            .max(((i + 1) as f64 / n - reference).abs());
    }
    gap
}

/// The PSI of live class counts against the baseline class counts (same class order).
pub fn class_psi(baseline: &[usize], live: &[usize]) -> f64 {
    if live.iter().sum::<usize>() == 0 {
        return 0.0;
    }
    psi_of_counts(baseline, live)
}

/// How a PSI (beyond its allowance, see [`excess`]) reads against the thresholds.
pub fn status(psi: f64, warn: f64, alert: f64) -> &'static str {
    if psi > alert {
        "alert"
    } else if psi >= warn {
        "warn"
    } else {
        "stable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::SplitMix64;

    fn normal(rng: &mut SplitMix64, mean: f64) -> f64 {
        // Box–Muller.
        let (u, v) = (rng.unit().max(1e-12), rng.unit());
        mean + (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    #[test]
    fn the_same_distribution_is_stable_and_a_shift_is_not() {
        let mut rng = SplitMix64(3);
        let training: Vec<f64> = (0..5000).map(|_| normal(&mut rng, 0.0)).collect();
        let baseline = FeatureStats::from_values("x", &training);
        let same: Vec<f64> = (0..1000).map(|_| normal(&mut rng, 0.0)).collect();
        let shifted: Vec<f64> = (0..1000).map(|_| normal(&mut rng, 1.0)).collect();
        assert!(psi(&baseline, &same) < 0.1, "{}", psi(&baseline, &same));
        assert!(
            psi(&baseline, &shifted) > 0.2,
            "{}",
            psi(&baseline, &shifted)
        );
        assert!(ks(&baseline, &same) < 0.06, "{}", ks(&baseline, &same));
        assert!(ks(&baseline, &shifted) > 0.3, "{}", ks(&baseline, &shifted));
        assert_eq!(status(0.05, 0.1, 0.2), "stable");
        assert_eq!(status(0.15, 0.1, 0.2), "warn");
        assert_eq!(status(0.25, 0.1, 0.2), "alert");
    }

    /// The digits rows in file order: runs of rows from the same writers, the way a window
    /// refilling after a restart sees them.
    fn digits() -> (Vec<String>, Vec<Vec<f64>>) {
        let text = include_str!("../../datasets/digits.csv");
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        let rows = lines
            .map(|line| line.split(',').map(|v| v.parse().unwrap()).collect())
            .collect();
        (header, rows)
    }

    /// The worst excess over the features of `rows`, with its feature.
    fn worst(header: &[String], baselines: &[FeatureStats], rows: &[Vec<f64>]) -> (f64, String) {
        baselines
            .iter()
            .enumerate()
            .map(|(column, stats)| {
                let values: Vec<f64> = rows.iter().map(|row| row[column]).collect();
                let noise = psi_noise(stats.bin_counts.len(), values.len(), stats.count);
                (excess(psi(stats, &values), noise), header[column].clone())
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap()
    }

    #[test]
    fn in_distribution_rows_never_alert_at_any_count_and_inverted_ones_always_do() {
        let (header, rows) = digits();
        let features = header.len() - 1;
        let baselines: Vec<FeatureStats> = (0..features)
            .map(|column| {
                let values: Vec<f64> = rows.iter().map(|row| row[column]).collect();
                FeatureStats::from_values(&header[column], &values)
            })
            .collect();
        // Every window of consecutive rows from the minimum (100) up, wherever it starts:
        // plain PSI reaches 0.6 on some of them at 100 rows.
        for size in [100, 101, 105, 120, 150, 200, 300, 500, 1000] {
            for start in (0..rows.len() - size).step_by(23) {
                let (excess, feature) = worst(&header, &baselines, &rows[start..start + size]);
                assert!(
                    status(excess, 0.1, 0.2) != "alert",
                    "{size} rows from {start}: {feature} exceeds its allowance by {excess:.3}"
                );
            }
        }
        let inverted: Vec<Vec<f64>> = rows
            .iter()
            .map(|row| row.iter().map(|v| 16.0 - v).collect())
            .collect();
        for size in [100, 1000] {
            let (excess, _) = worst(&header, &baselines, &inverted[..size]);
            assert!(excess > 2.0, "inverted digits, {size} rows: {excess}");
        }
        // The allowance shrinks as rows grow: a large window is judged nearly on PSI alone.
        assert!(psi_noise(10, 100, 1797) > 0.5);
        assert!(psi_noise(10, 100_000, 1_000_000) < 0.01);
        assert_eq!(psi_noise(1, 100, 1797), 0.0);
    }

    #[test]
    fn class_shares() {
        assert!(class_psi(&[50, 50], &[48, 52]) < 0.01);
        assert!(class_psi(&[50, 50], &[90, 10]) > 0.2);
        assert_eq!(class_psi(&[50, 50], &[0, 0]), 0.0);
    }
}
