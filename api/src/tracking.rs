//! Experiments, runs, logged metrics, params and tags, and artifacts: the wire types of
//! `/api/v1/experiments` and `/api/v1/runs`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------- experiments

/// An experiment: a named group of runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Experiment {
    pub id: i64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/experiments`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateExperiment {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

// ---------------------------------------------------------------- runs

/// The state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    Killed,
}

impl RunStatus {
    pub const ALL: [RunStatus; 4] = [
        RunStatus::Running,
        RunStatus::Finished,
        RunStatus::Failed,
        RunStatus::Killed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// Whether the run has ended.
    pub fn is_terminal(self) -> bool {
        self != RunStatus::Running
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown run status '{s}': expected RUNNING, FINISHED, FAILED or KILLED")
            })
    }
}

/// A run as listed and searched: its attributes and latest metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub id: i64,
    pub experiment_id: i64,
    pub name: String,
    pub status: RunStatus,
    pub start_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
    pub created_by: String,
    /// The latest value of each metric.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// A run with everything logged to it: `GET /api/v1/runs/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: Run,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub artifacts: Vec<Artifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

/// `POST /api/v1/runs`: give the experiment by id or by name (created if missing).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateRun {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// The job that produced the run, when a worker creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
}

/// `PATCH /api/v1/runs/{id}`: only the fields given change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateRun {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /api/v1/runs/search` (and the query of `GET /api/v1/runs`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchRuns {
    /// Only runs of these experiments (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub experiment_ids: Vec<i64>,
    /// For example `metrics.acc > 0.9 and (params.lr = '0.01' or tags.team = 'vision')`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// For example `["metrics.acc DESC", "start_time"]`; newest first by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

// ---------------------------------------------------------------- logging

/// One metric point. The time defaults to the server's clock, the step to 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub key: String,
    pub value: f64,
    #[serde(default)]
    pub step: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
}

/// A key and a value (a param or a tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// `POST /api/v1/runs/{id}/log-batch`: metrics append, params are set once, tags overwrite.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogBatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricPoint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

/// What a log batch stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogBatchResult {
    pub metrics: u32,
    pub params: u32,
    pub tags: u32,
}

/// The server's limits on a log batch, shared so clients can split their batches.
pub mod limits {
    /// Most metric points in one batch.
    pub const MAX_METRICS_PER_BATCH: usize = 1000;
    /// Most params in one batch.
    pub const MAX_PARAMS_PER_BATCH: usize = 100;
    /// Most tags in one batch.
    pub const MAX_TAGS_PER_BATCH: usize = 100;
    /// Longest metric, param or tag key, in bytes.
    pub const MAX_KEY_LENGTH: usize = 250;
    /// Longest param value, in bytes.
    pub const MAX_PARAM_VALUE_LENGTH: usize = 6000;
    /// Longest tag value, in bytes.
    pub const MAX_TAG_VALUE_LENGTH: usize = 8000;
    /// Most points a metric-history page holds.
    pub const MAX_HISTORY_PAGE: u32 = 25_000;
}

/// The query of `GET /api/v1/runs/{id}/metrics`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetricHistoryQuery {
    pub key: String,
    /// Downsample to at most this many points, keeping the first, the last and the shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// One stored metric point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    pub step: i64,
    pub value: f64,
    pub timestamp: DateTime<Utc>,
}

/// A page of a metric's history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricHistory {
    pub key: String,
    pub points: Vec<MetricValue>,
    /// Whether `points` was downsampled from more.
    #[serde(default)]
    pub downsampled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// A file stored for a run, by its path relative to the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    pub path: String,
    pub digest: String,
    pub size: u64,
    pub created_at: DateTime<Utc>,
}
