//! Drift of a table's columns beyond numeric values: the PSI of a categorical column's
//! category shares (live categories never seen in training counted together in one
//! `(unseen)` bucket), and the rise of a column's missing rate.
//!
//! Both come with an allowance for sampling noise at the window's row count, as numeric PSI
//! does ([`crate::drift::psi_noise`]). For the missing rate the allowance is a one-sided
//! two-proportion z bound at [`MISSING_SIGMAS`] standard errors; the rise beyond it is a
//! warning from [`MISSING_WARN`] and an alert above [`MISSING_ALERT`] (absolute shares), so a
//! column whose missing rate grows by a tenth of all rows alerts once the window can tell.

use crate::drift;

/// The bucket of live categories never seen in training.
pub const UNSEEN: &str = "(unseen)";
/// The rise of a missing rate beyond its allowance that is a warning, and above which it is
/// an alert.
pub const MISSING_WARN: f64 = 0.05;
pub const MISSING_ALERT: f64 = 0.1;
/// Standard errors of the allowance: as wide as the PSI allowance's, for the same reasons
/// (the guard looks every second, and live rows come in runs).
const MISSING_SIGMAS: f64 = 5.3;

/// A categorical column's drift: training and live counts over the training categories then
/// [`UNSEEN`], and the PSI between them with its allowance.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryDrift {
    pub baseline: Vec<usize>,
    pub live: Vec<usize>,
    pub psi: f64,
    pub noise: f64,
}

impl CategoryDrift {
    /// Counts the present live `cells` (missing ones are left to the missing rate) against
    /// the training `levels` and their `counts`.
    pub fn measure<'a>(
        levels: &[String],
        counts: &[usize],
        cells: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let index: std::collections::HashMap<&str, usize> = levels
            .iter()
            .enumerate()
            .map(|(i, level)| (level.as_str(), i))
            .collect();
        let mut live = vec![0usize; levels.len() + 1];
        for cell in cells {
            live[index.get(cell).copied().unwrap_or(levels.len())] += 1;
        }
        let mut baseline = counts.to_vec();
        baseline.resize(levels.len() + 1, 0);
        let rows = live.iter().sum::<usize>();
        let baseline_rows = baseline.iter().sum::<usize>();
        Self {
            psi: drift::class_psi(&baseline, &live),
            noise: drift::psi_noise(baseline.len(), rows, baseline_rows),
            baseline,
            live,
        }
    }

    /// Each bucket's share of the training rows and of the live rows.
    pub fn shares(&self) -> Vec<(f64, f64)> {
        let share = |count: usize, total: usize| count as f64 / total.max(1) as f64;
        let (baseline_rows, rows) = (
            self.baseline.iter().sum::<usize>(),
            self.live.iter().sum::<usize>(),
        );
        self.baseline
            .iter()
            .zip(&self.live)
            .map(|(&b, &l)| (share(b, baseline_rows), share(l, rows)))
            .collect()
    }
}

/// The rise of a missing rate that `rows` live rows drawn from training data missing at
/// `baseline_missing` of `baseline_rows` reach by chance: [`MISSING_SIGMAS`] standard errors
/// of the difference of two proportions, at the rate the two samples share (with half a row
/// added to each side, so that a column never missing in training still has an allowance).
pub fn missing_noise(
    baseline_missing: u64,
    baseline_rows: u64,
    live_missing: usize,
    rows: usize,
) -> f64 {
    if rows == 0 || baseline_rows == 0 {
        return 0.0;
    }
    let pooled = (baseline_missing as f64 + live_missing as f64 + 0.5)
        / (baseline_rows as f64 + rows as f64 + 1.0);
    let inverse_rows = 1.0 / rows as f64 + 1.0 / baseline_rows as f64;
    MISSING_SIGMAS * (pooled * (1.0 - pooled) * inverse_rows).sqrt()
}

/// How a missing rate's rise beyond its allowance reads: `stable`, `warn` or `alert`. A fall
/// is never drift.
pub fn missing_status(baseline_rate: f64, live_rate: f64, noise: f64) -> &'static str {
    let excess = (live_rate - baseline_rate - noise).max(0.0);
    drift::status(excess, MISSING_WARN, MISSING_ALERT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::SplitMix64;

    fn levels() -> Vec<String> {
        ["Biscoe", "Dream", "Torgersen"].map(String::from).to_vec()
    }

    /// `n` cells drawn with the given shares of Biscoe, Dream, Torgersen and an unseen one.
    fn draw(rng: &mut SplitMix64, n: usize, shares: [f64; 4]) -> Vec<&'static str> {
        let names = ["Biscoe", "Dream", "Torgersen", "Atlantis"];
        (0..n)
            .map(|_| {
                let mut u = rng.unit();
                for (name, share) in names.iter().zip(shares) {
                    if u < share {
                        return *name;
                    }
                    u -= share;
                }
                names[3]
            })
            .collect()
    }

    #[test]
    fn category_shares_from_training_stay_stable_and_new_or_shifted_ones_alert() {
        let counts = [168, 124, 52];
        let training = [168.0 / 344.0, 124.0 / 344.0, 52.0 / 344.0, 0.0];
        let mut rng = SplitMix64(7);
        for rows in [100, 300, 1000] {
            for _ in 0..50 {
                let cells = draw(&mut rng, rows, training);
                let d = CategoryDrift::measure(&levels(), &counts, cells);
                let excess = drift::excess(d.psi, d.noise);
                assert_eq!(drift::status(excess, 0.1, 0.2), "stable", "{rows}: {d:?}");
            }
        }
        // Half the rows from an island never seen in training.
        let cells = draw(&mut rng, 200, [0.25, 0.15, 0.1, 0.5]);
        let d = CategoryDrift::measure(&levels(), &counts, cells);
        assert!(drift::excess(d.psi, d.noise) > 0.2, "{d:?}");
        assert!(d.live[3] > 70, "{d:?}");
        let shares = d.shares();
        assert_eq!(shares[3].0, 0.0);
        assert!((shares[0].0 - 168.0 / 344.0).abs() < 1e-12);
        assert!((shares.iter().map(|s| s.1).sum::<f64>() - 1.0).abs() < 1e-12);
        // All Torgersen: a shift among known categories.
        let d = CategoryDrift::measure(&levels(), &counts, vec!["Torgersen"; 200]);
        assert!(drift::excess(d.psi, d.noise) > 0.2, "{d:?}");
    }

    #[test]
    fn a_missing_rate_alerts_when_it_rises_well_beyond_its_noise() {
        let mut rng = SplitMix64(11);
        // Training: 2 % missing of 344 rows; live windows drawn at the same rate never warn.
        for rows in [100, 300, 1000] {
            for _ in 0..200 {
                let missing = (0..rows).filter(|_| rng.unit() < 0.02).count();
                let live = missing as f64 / rows as f64;
                let noise = missing_noise(7, 344, missing, rows);
                assert_eq!(missing_status(7.0 / 344.0, live, noise), "stable", "{rows}");
            }
        }
        // A column never missing in training that is missing in 30 % of 100 live rows.
        let noise = missing_noise(0, 344, 30, 100);
        assert!(noise < 0.2, "{noise}");
        assert_eq!(missing_status(0.0, 0.3, noise), "alert");
        // 10 % more: a warning on a large window, nothing on a small one.
        let noise = missing_noise(70, 3440, 120, 1000);
        assert_eq!(missing_status(0.02, 0.12, noise), "warn", "{noise}");
        assert_eq!(
            missing_status(0.02, 0.12, missing_noise(7, 344, 12, 100)),
            "stable"
        );
        // Fewer missing cells than in training is no drift.
        assert_eq!(missing_status(0.3, 0.0, 0.0), "stable");
    }
}
