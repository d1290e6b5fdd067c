//! Monitoring on the wire: live metrics, drift, SLO policies and alerts of deployments.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a deployment's guard watches, and what it does on a breach. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SloPolicy {
    /// Most errors per judged request over the window. Errors are the model's or the
    /// server's; invalid inputs are the caller's mistake and are neither errors nor judged, so a
    /// caller cannot roll a version back by sending it bad rows.
    pub max_error_rate: f64,
    /// Most p99 latency in milliseconds over the window (none: not watched).
    pub max_p99_ms: Option<f64>,
    /// Feature PSI from which drift is a warning, and above which it is an alert.
    pub psi_warn: f64,
    pub psi_alert: f64,
    /// Seconds of traffic the error rate and latency are judged over.
    pub window_secs: u64,
    /// Requests a variant needs in the window before it is judged.
    pub min_requests: u64,
    /// Live input rows kept for drift (the most recent ones).
    pub drift_window_rows: usize,
    /// Only rows from this many seconds back count for drift (none: any age).
    pub drift_window_secs: Option<u64>,
    /// Rows needed before drift is judged.
    pub min_drift_rows: usize,
    /// Distinct callers (tokens) those rows must come from before drift raises an alert, so
    /// that one caller cannot fire a drift alert (and the retraining it triggers) alone.
    pub min_drift_callers: usize,
    /// Roll a breaching primary back to the previous revision (otherwise only alert).
    pub rollback_primary: bool,
    /// A version registered without training data (an ONNX import given only a signature, a
    /// version registered through the MLflow API) takes its first this many live rows as its
    /// drift baseline; until then its drift status is `collecting_baseline`.
    pub baseline_rows: usize,
}

impl Default for SloPolicy {
    fn default() -> Self {
        Self {
            max_error_rate: 0.05,
            max_p99_ms: None,
            psi_warn: 0.1,
            psi_alert: 0.2,
            window_secs: 60,
            min_requests: 20,
            drift_window_rows: 1000,
            drift_window_secs: None,
            min_drift_rows: 100,
            min_drift_callers: 2,
            rollback_primary: false,
            baseline_rows: 500,
        }
    }
}

impl SloPolicy {
    /// Checks the policy; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err(format!(
                "max_error_rate: expected 0 to 1, got {}",
                self.max_error_rate
            ));
        }
        if self.max_p99_ms.is_some_and(|ms| ms.is_nan() || ms <= 0.0) {
            return Err("max_p99_ms: expected a number of milliseconds above 0".into());
        }
        if !(self.psi_warn > 0.0 && self.psi_warn <= self.psi_alert) {
            return Err("psi_warn: expected above 0 and at most psi_alert".into());
        }
        if !(1..=3600).contains(&self.window_secs) {
            return Err(format!(
                "window_secs: expected 1 to 3600, got {}",
                self.window_secs
            ));
        }
        if !(1..=1000).contains(&self.min_drift_callers) {
            return Err(format!(
                "min_drift_callers: expected 1 to 1000, got {}",
                self.min_drift_callers
            ));
        }
        if !(10..=100_000).contains(&self.baseline_rows) {
            return Err(format!(
                "baseline_rows: expected 10 to 100000, got {}",
                self.baseline_rows
            ));
        }
        if !(10..=100_000).contains(&self.drift_window_rows) {
            return Err(format!(
                "drift_window_rows: expected 10 to 100000, got {}",
                self.drift_window_rows
            ));
        }
        Ok(())
    }
}

/// One version's traffic over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionMetrics {
    pub version: u32,
    /// `primary`, `canary`, `shadow`, or `previous` for a version no longer serving.
    pub variant: String,
    pub requests: u64,
    pub errors: u64,
    /// Errors by kind: `invalid_input` (the caller's), `error` (the model's or server's).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// `error`s over the requests that were not invalid input: what the guard judges.
    pub error_rate: f64,
    pub requests_per_sec: f64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Predicted class → count (classification), over the window.
    pub predictions: BTreeMap<String, u64>,
}

/// `GET /deployments/{name}/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentMetrics {
    pub deployment: String,
    pub revision: u32,
    pub window_secs: u64,
    pub versions: Vec<VersionMetrics>,
}

/// One minute of one version, as kept in the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinuteMetrics {
    pub version: u32,
    pub minute: DateTime<Utc>,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub predictions: BTreeMap<String, u64>,
}

/// One feature's drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    pub feature: String,
    pub psi: f64,
    /// The PSI that rows drawn from the training data itself reach by chance at this row
    /// count: the status judges only what exceeds it (large on a few rows, small on many).
    #[serde(default)]
    pub psi_noise: f64,
    pub ks: f64,
    /// `stable`, `warn` or `alert`, of `psi - psi_noise` against the policy's thresholds.
    pub status: String,
}

/// `GET /deployments/{name}/drift`: live inputs against the training baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub deployment: String,
    pub version: u32,
    /// Live rows compared.
    pub rows: usize,
    /// Distinct callers those rows came from.
    #[serde(default)]
    pub callers: usize,
    /// Most drifted first.
    pub features: Vec<FeatureDrift>,
    /// PSI of the predictions against the training labels: class shares (classification) or
    /// values over the labels' decile bins (regression).
    pub prediction_psi: Option<f64>,
    /// The sampling allowance of `prediction_psi` (see [`FeatureDrift::psi_noise`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_psi_noise: Option<f64>,
    /// The prediction distribution beside the training labels': one entry per class, or per
    /// decile bin of the training values.
    #[serde(default)]
    pub predictions: Vec<PredictionShare>,
    /// The worst status, or `collecting_baseline` while a version without training data is
    /// still gathering the live rows its baseline is made of.
    pub status: String,
    /// For a version whose baseline is its first live rows: how many are in, of how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_baseline: Option<LiveBaseline>,
}

/// A baseline gathered from a version's first live rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveBaseline {
    /// Rows gathered so far.
    pub rows: u64,
    /// Rows the baseline is complete at (the policy's `baseline_rows` when it began).
    pub target: u64,
    /// Whether it is complete (drift is judged against it from then on).
    pub complete: bool,
}

/// `GET /deployments/{name}/drift` as served: the [`DriftReport`] (whose `features` hold
/// numeric and categorical columns' PSI alike) and, beside it, each input column of a table
/// model by kind, with its missing rate and category shares. A client that knows only
/// [`DriftReport`] reads the same answer and ignores `columns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftDetail {
    #[serde(flatten)]
    pub report: DriftReport,
    /// One entry per input column whose training data recorded a typed schema, in the
    /// model's feature order; empty for models of untyped datasets.
    #[serde(default)]
    pub columns: Vec<ColumnDrift>,
}

/// One input column of a table model: its kind, missing rate and (categorical) category
/// shares against the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    pub feature: String,
    /// `numeric`, `categorical`, `boolean` or `datetime`.
    pub kind: String,
    /// Share of the training rows where this column is missing.
    pub baseline_missing_rate: f64,
    /// Share of the live rows compared where it is missing.
    pub live_missing_rate: f64,
    /// The rise of the missing rate that rows drawn from the training data reach by chance
    /// at this row count; `missing_status` judges only what exceeds it.
    pub missing_noise: f64,
    /// `stable`, `warn` (the rise beyond `missing_noise` is at least 0.05) or `alert` (above
    /// 0.1).
    pub missing_status: String,
    /// Categorical columns: each training category with its share of the training rows and
    /// of the live rows (missing cells left out of both), then `(unseen)`: live categories
    /// never seen in training.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<CategoryShare>,
}

/// One category's share of the training rows and of the live rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryShare {
    pub name: String,
    pub baseline_share: f64,
    pub live_share: f64,
}

/// `GET /deployments/{name}/drift/hours`: each feature's PSI per hour, as the guard last judged
/// it in that hour (hours when drift could not be judged, for lack of rows or callers, are
/// empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftHours {
    pub deployment: String,
    /// The start of each hour, oldest first, up to the current hour.
    pub hours: Vec<DateTime<Utc>>,
    /// The highest PSI in the range first.
    pub features: Vec<FeatureHours>,
}

/// One feature's PSI per hour of a [`DriftHours`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureHours {
    pub feature: String,
    /// One entry per hour; `None` where nothing was judged.
    pub psi: Vec<Option<f64>>,
}

/// One class or value bin: its share of the training labels and of the live predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionShare {
    /// A class name, or a value range such as `[1.5, 2.25)`.
    pub bucket: String,
    pub training: f64,
    pub live: f64,
}

/// An alert raised by a guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: i64,
    pub deployment: String,
    /// `error_rate`, `latency`, `drift`, `prediction_drift`.
    pub kind: String,
    /// `warn` or `alert`.
    pub severity: String,
    pub message: String,
    #[serde(default)]
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}
