//! Drift statistics between a training baseline (a feature's quantile histogram) and live
//! values: the population stability index and the Kolmogorov–Smirnov statistic; and the PSI of
//! class shares, for prediction drift.

use crate::stats::{FeatureStats, histogram};

/// Shares this small stand in for empty bins, so one empty bin cannot make the index infinite.
const FLOOR: f64 = 1e-4;

/// PSI between expected and actual shares of the same bins.
fn psi_of_shares(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(FLOOR), a.max(FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

fn shares(counts: &[usize]) -> Vec<f64> {
    let total = counts.iter().sum::<usize>().max(1) as f64;
    counts.iter().map(|&c| c as f64 / total).collect()
}

/// The population stability index of `values` against the baseline's bins: below 0.1 is
/// stable, 0.1 to 0.2 a moderate shift, above 0.2 a significant one.
pub fn psi(baseline: &FeatureStats, values: &[f64]) -> f64 {
    if values.is_empty() || baseline.bin_counts.is_empty() {
        return 0.0;
    }
    let live = histogram(&baseline.bin_edges, values);
    psi_of_shares(&shares(&baseline.bin_counts), &shares(&live))
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
    psi_of_shares(&shares(baseline), &shares(live))
}

/// How a PSI reads against the thresholds.
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

    #[test]
    fn class_shares() {
        assert!(class_psi(&[50, 50], &[48, 52]) < 0.01);
        assert!(class_psi(&[50, 50], &[90, 10]) > 0.2);
        assert_eq!(class_psi(&[50, 50], &[0, 0]), 0.0);
    }
}
