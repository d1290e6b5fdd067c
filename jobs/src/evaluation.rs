//! Evaluation metrics, free of I/O: accuracy, macro precision / recall / F1, log-loss and the
//! confusion matrix for classification; RMSE, MAE and R² for regression; and the comparison of
//! two models' metrics by a chosen metric and margin.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an evaluation found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub rows: usize,
    pub metrics: BTreeMap<String, f64>,
    /// Classification: class names, and counts by [true class][predicted class].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confusion: Vec<Vec<u64>>,
}

/// Probabilities this close to 0 count as this, so one confident mistake cannot make the
/// log-loss infinite.
const EPSILON: f64 = 1e-15;

/// Scores class probabilities (`probabilities[row][class]`) against the true classes.
pub fn classification(labels: &[String], truth: &[usize], probabilities: &[Vec<f64>]) -> Report {
    let classes = labels.len();
    let mut confusion = vec![vec![0u64; classes]; classes];
    let mut log_loss = 0.0;
    for (&actual, row) in truth.iter().zip(probabilities) {
        let predicted = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(index, _)| index);
        if actual < classes && predicted < classes {
            confusion[actual][predicted] += 1;
        }
        let p = row.get(actual).copied().unwrap_or(0.0).clamp(EPSILON, 1.0);
        log_loss -= p.ln();
    }
    let rows = truth.len();
    let correct: u64 = (0..classes).map(|c| confusion[c][c]).sum();
    let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
    for class in 0..classes {
        let true_positive = confusion[class][class] as f64;
        let predicted: u64 = confusion.iter().map(|row| row[class]).sum();
        let actual: u64 = confusion[class].iter().sum();
        // A class never predicted (or absent) scores 0 for that part, as scikit-learn does.
        let p = if predicted > 0 {
            true_positive / predicted as f64
        } else {
            0.0
        };
        let r = if actual > 0 {
            true_positive / actual as f64
        } else {
            0.0
        };
        precision += p;
        recall += r;
        f1 += if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
    }
    let per_class = classes.max(1) as f64;
    let per_row = rows.max(1) as f64;
    let metrics = BTreeMap::from([
        ("accuracy".to_owned(), correct as f64 / per_row),
        ("precision_macro".to_owned(), precision / per_class),
        ("recall_macro".to_owned(), recall / per_class),
        ("f1_macro".to_owned(), f1 / per_class),
        ("log_loss".to_owned(), log_loss / per_row),
    ]);
    Report {
        rows,
        metrics,
        labels: labels.to_vec(),
        confusion,
    }
}

/// Scores predicted values against the true ones.
pub fn regression(truth: &[f64], predicted: &[f64]) -> Report {
    let rows = truth.len();
    let per_row = rows.max(1) as f64;
    let mean = truth.iter().sum::<f64>() / per_row;
    let (mut squared, mut absolute, mut total) = (0.0, 0.0, 0.0);
    for (actual, guess) in truth.iter().zip(predicted) {
        squared += (actual - guess).powi(2);
        absolute += (actual - guess).abs();
        total += (actual - mean).powi(2);
    }
    let r2 = if total > 0.0 {
        1.0 - squared / total
    } else {
        0.0
    };
    Report {
        rows,
        metrics: BTreeMap::from([
            ("rmse".to_owned(), (squared / per_row).sqrt()),
            ("mae".to_owned(), absolute / per_row),
            ("r2".to_owned(), r2),
        ]),
        labels: Vec::new(),
        confusion: Vec::new(),
    }
}

/// Whether a larger value of `metric` is better.
pub fn higher_is_better(metric: &str) -> bool {
    !matches!(metric, "log_loss" | "rmse" | "mae")
}

/// The comparison of a model (ours) with another (theirs) on the same rows: part of the
/// wire contract, as an `evaluate` job's result carries it.
pub use slipway_api::EvaluationComparison as Comparison;

/// Compares `ours` with `theirs` by `metric`: better when it improves by more than `margin`.
pub fn compare(
    against: String,
    ours: &BTreeMap<String, f64>,
    theirs: &BTreeMap<String, f64>,
    metric: &str,
    margin: f64,
) -> Result<Comparison, String> {
    let (Some(mine), Some(other)) = (ours.get(metric), theirs.get(metric)) else {
        return Err(format!(
            "metric: expected one of {}, got '{metric}'",
            ours.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    };
    let improvement = if higher_is_better(metric) {
        mine - other
    } else {
        other - mine
    };
    let deltas = ours
        .iter()
        .filter_map(|(key, value)| theirs.get(key).map(|other| (key.clone(), value - other)))
        .collect();
    Ok(Comparison {
        against,
        their_metrics: theirs.clone(),
        deltas,
        metric: metric.to_owned(),
        margin,
        better: improvement > margin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn classification_metrics_match_a_hand_computed_case() {
        // Truth: 0 0 1 1; predicted: 0 1 1 1.
        let probabilities = vec![
            vec![0.9, 0.1],
            vec![0.4, 0.6],
            vec![0.2, 0.8],
            vec![0.3, 0.7],
        ];
        let report = classification(&names(2), &[0, 0, 1, 1], &probabilities);
        let m = &report.metrics;
        assert_eq!(report.confusion, vec![vec![1, 1], vec![0, 2]]);
        assert!((m["accuracy"] - 0.75).abs() < 1e-12);
        // Precision: class 0 = 1/1, class 1 = 2/3; recall: class 0 = 1/2, class 1 = 1.
        assert!((m["precision_macro"] - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!((m["recall_macro"] - 0.75).abs() < 1e-12);
        let f1 = (2.0 * 0.5 / 1.5 + 2.0 * (2.0 / 3.0) / (5.0 / 3.0)) / 2.0;
        assert!((m["f1_macro"] - f1).abs() < 1e-12);
        let log_loss = -(0.9f64.ln() + 0.4f64.ln() + 0.8f64.ln() + 0.7f64.ln()) / 4.0;
        assert!((m["log_loss"] - log_loss).abs() < 1e-12);
    }

    #[test]
    fn regression_metrics_and_comparisons() {
        let report = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]);
        assert!((report.metrics["mae"] - 1.0 / 3.0).abs() < 1e-12);
        assert!((report.metrics["rmse"] - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((report.metrics["r2"] - 0.5).abs() < 1e-12);
        let ours = BTreeMap::from([("rmse".to_owned(), 0.5)]);
        let theirs = BTreeMap::from([("rmse".to_owned(), 0.6)]);
        let comparison = compare("m:1".into(), &ours, &theirs, "rmse", 0.05).unwrap();
        assert!(comparison.better, "lower rmse by more than the margin");
        assert!((comparison.deltas["rmse"] + 0.1).abs() < 1e-12);
        assert!(
            !compare("m:1".into(), &ours, &theirs, "rmse", 0.2)
                .unwrap()
                .better
        );
        let err = compare("m:1".into(), &ours, &theirs, "accuracy", 0.0).unwrap_err();
        assert!(err.starts_with("metric: expected one of rmse"), "{err}");
    }
}
