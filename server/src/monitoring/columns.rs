//! Drift of a table model's input columns beyond numeric PSI: each column's missing rate
//! against the training data's, and a categorical column's category shares (live categories
//! never seen in training in one `(unseen)` bucket) with their PSI. The baselines come from
//! the typed schema recorded when the training data was uploaded (missing counts, level
//! counts); the live side from the cells callers sent, as preprocessing read them.

use super::live::LiveRow;
use slipway_api::{CategoryShare, ColumnDrift, ColumnType, DatasetSchema, FeatureDrift};
use slipway_ml::column_drift::{self, CategoryDrift, UNSEEN};
use slipway_ml::drift;

/// One model input column's training baseline.
#[derive(Debug)]
pub struct ColumnBaseline {
    pub kind: ColumnType,
    pub missing: u64,
    pub rows: u64,
    /// Categorical columns: the training categories, most frequent first, and their counts.
    pub levels: Vec<String>,
    pub counts: Vec<usize>,
}

impl ColumnBaseline {
    /// The baseline of column `name` in a dataset version's schema (`rows`: its data rows).
    pub fn of(schema: &DatasetSchema, name: &str, rows: u64) -> Option<Self> {
        let column = schema.column(name)?;
        let categorical = column.column_type == ColumnType::Categorical;
        Some(Self {
            kind: column.column_type,
            missing: column.missing,
            rows,
            levels: if categorical {
                column.levels.iter().map(|l| l.value.clone()).collect()
            } else {
                Vec::new()
            },
            counts: if categorical {
                column.levels.iter().map(|l| l.count as usize).collect()
            } else {
                Vec::new()
            },
        })
    }
}

/// What one column's live cells say: its entry beside the report, and for a categorical
/// column the PSI entry among the features.
pub fn measure(
    feature: &str,
    column: usize,
    baseline: &ColumnBaseline,
    recent: &[LiveRow],
    policy: &slipway_api::SloPolicy,
) -> (ColumnDrift, Option<FeatureDrift>) {
    let cells: Vec<&str> = recent
        .iter()
        .filter_map(|row| row.cells.get(column).map(String::as_str))
        .collect();
    let live_missing = cells.iter().filter(|cell| cell.is_empty()).count();
    let baseline_rate = baseline.missing as f64 / baseline.rows.max(1) as f64;
    let live_rate = live_missing as f64 / cells.len().max(1) as f64;
    let noise =
        column_drift::missing_noise(baseline.missing, baseline.rows, live_missing, cells.len());
    let mut entry = ColumnDrift {
        feature: feature.to_owned(),
        kind: baseline.kind.as_str().to_owned(),
        baseline_missing_rate: baseline_rate,
        live_missing_rate: live_rate,
        missing_noise: noise,
        missing_status: column_drift::missing_status(baseline_rate, live_rate, noise).to_owned(),
        categories: Vec::new(),
    };
    if baseline.kind != ColumnType::Categorical || cells.is_empty() {
        return (entry, None);
    }
    let present = cells.iter().copied().filter(|cell| !cell.is_empty());
    let measured = CategoryDrift::measure(&baseline.levels, &baseline.counts, present);
    entry.categories = baseline
        .levels
        .iter()
        .map(String::as_str)
        .chain([UNSEEN])
        .zip(measured.shares())
        .map(|(name, (baseline_share, live_share))| CategoryShare {
            name: name.to_owned(),
            baseline_share,
            live_share,
        })
        .collect();
    let psi_drift = FeatureDrift {
        feature: feature.to_owned(),
        psi: measured.psi,
        psi_noise: measured.noise,
        // The distance of distribution functions means nothing over unordered categories.
        ks: 0.0,
        status: drift::status(
            drift::excess(measured.psi, measured.noise),
            policy.psi_warn,
            policy.psi_alert,
        )
        .to_owned(),
    };
    (entry, Some(psi_drift))
}

/// The more severe of two statuses.
pub fn worse<'a>(a: &'a str, b: &'a str) -> &'a str {
    let rank = |s: &str| match s {
        "alert" => 2,
        "warn" => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}
