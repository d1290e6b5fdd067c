//! Prediction drift: the live predictions' distribution beside the training labels' — class
//! shares for classification, shares of the labels' decile bins for regression — and its PSI.

use super::LabelBaseline;
use slipway_api::PredictionShare;
use slipway_ml::stats::histogram;
use std::collections::BTreeMap;

fn shares(counts: &[usize]) -> Vec<f64> {
    let total = counts.iter().sum::<usize>().max(1) as f64;
    counts.iter().map(|&c| c as f64 / total).collect()
}

/// The PSI and its sampling allowance (none without live predictions), and the side-by-side
/// distribution.
pub fn compare(
    baseline: &LabelBaseline,
    labels: &[String],
    live_classes: &BTreeMap<String, u64>,
    live_values: &[f64],
) -> (Option<(f64, f64)>, Vec<PredictionShare>) {
    let (buckets, training, live): (Vec<String>, Vec<usize>, Vec<usize>) = match baseline {
        LabelBaseline::Classes(counts) => (
            labels.to_vec(),
            counts.clone(),
            labels
                .iter()
                .map(|label| live_classes.get(label).copied().unwrap_or(0) as usize)
                .collect(),
        ),
        LabelBaseline::Values(stats) => {
            let edges = &stats.bin_edges;
            let buckets = edges
                .windows(2)
                .enumerate()
                .map(|(i, pair)| {
                    let close = if i + 2 == edges.len() { ']' } else { ')' };
                    format!("[{:.4}, {:.4}{close}", pair[0], pair[1])
                })
                .collect();
            (
                buckets,
                stats.bin_counts.clone(),
                histogram(edges, live_values),
            )
        }
    };
    let any_live = live.iter().any(|&c| c > 0);
    let psi = any_live.then(|| {
        let noise =
            slipway_ml::drift::psi_noise(training.len(), live.iter().sum(), training.iter().sum());
        (slipway_ml::drift::class_psi(&training, &live), noise)
    });
    let table = buckets
        .into_iter()
        .zip(shares(&training))
        .zip(shares(&live))
        .map(|((bucket, training), live)| PredictionShare {
            bucket,
            training,
            live: if any_live { live } else { 0.0 },
        })
        .collect();
    (psi, table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_ml::stats::FeatureStats;

    #[test]
    fn value_bins_and_class_shares() {
        let training: Vec<f64> = (0..1000).map(f64::from).collect();
        let baseline = LabelBaseline::Values(FeatureStats::from_values("y", &training));
        let same: Vec<f64> = (0..500).map(|i| f64::from(i) * 2.0).collect();
        let (psi, table) = compare(&baseline, &[], &BTreeMap::new(), &same);
        assert!(psi.unwrap().0 < 0.05, "{psi:?}");
        assert_eq!(table.len(), 10);
        assert!(table[9].bucket.ends_with(']'));
        let shifted: Vec<f64> = (0..500).map(|i| 2000.0 + f64::from(i)).collect();
        assert!(
            compare(&baseline, &[], &BTreeMap::new(), &shifted)
                .0
                .unwrap()
                .0
                > 0.2
        );
        let classes = LabelBaseline::Classes(vec![50, 50]);
        let labels = ["a".to_owned(), "b".to_owned()];
        let live = BTreeMap::from([("a".to_owned(), 9), ("b".to_owned(), 1)]);
        let (psi, table) = compare(&classes, &labels, &live, &[]);
        let (psi, noise) = psi.unwrap();
        assert!(psi > 0.2);
        assert!(noise > psi, "ten predictions say little: {noise}");
        assert_eq!((table[0].training, table[0].live), (0.5, 0.9));
        assert_eq!(compare(&classes, &labels, &BTreeMap::new(), &[]).0, None);
    }
}
