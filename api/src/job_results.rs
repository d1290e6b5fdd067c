//! What each job kind writes as its result, typed: the worker builds these, the server stores
//! them as JSON, and readers (the pipeline, the CLI, tests) read fields, not JSON paths.
//! A result carries no kind of its own; [`Job::result_as`] reads it as its job's kind.

use crate::{DeploymentSpec, Job, JobKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A result type and the kind of job that writes it.
pub trait KindResult: Serialize + DeserializeOwned {
    const KIND: JobKind;
}

/// A `sleep` job's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepResult {
    pub slept_seconds: f64,
}

impl KindResult for SleepResult {
    const KIND: JobKind = JobKind::Sleep;
}

/// A `train` job's result: its run, its test metrics, and the version it registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub run_id: i64,
    pub metrics: BTreeMap<String, f64>,
    /// The registered model, when the spec asked for `register_as`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

impl KindResult for TrainResult {
    const KIND: JobKind = JobKind::Train;
}

/// The comparison of the evaluated model (ours) with another (theirs) on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationComparison {
    pub against: String,
    pub their_metrics: BTreeMap<String, f64>,
    /// ours − theirs, per metric.
    pub deltas: BTreeMap<String, f64>,
    pub metric: String,
    pub margin: f64,
    /// Whether ours is better than theirs by more than the margin on `metric`.
    pub better: bool,
}

/// An `evaluate` job's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluateResult {
    /// The evaluation's own run.
    pub run_id: i64,
    pub metrics: BTreeMap<String, f64>,
    /// Rows are true labels, columns predicted ones, in the order of `labels`.
    #[serde(default)]
    pub confusion: Vec<Vec<u64>>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub comparison: Option<EvaluationComparison>,
}

impl KindResult for EvaluateResult {
    const KIND: JobKind = JobKind::Evaluate;
}

/// A `deploy` job's result: the deployment as it is after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployResult {
    pub deployment: String,
    pub revision: u32,
    pub spec: DeploymentSpec,
}

impl KindResult for DeployResult {
    const KIND: JobKind = JobKind::Deploy;
}

/// How a pipeline step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepOutcome {
    Done,
    Failed,
    /// A condition stopped the pipeline here (the gate, the bake).
    Stopped,
    /// Not run: an earlier step ended the pipeline.
    Skipped,
}

impl StepOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Done => "done",
            StepOutcome::Failed => "failed",
            StepOutcome::Stopped => "stopped",
            StepOutcome::Skipped => "skipped",
        }
    }
}

/// One step of a pipeline's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// The step's kind (`train`, `gate`, `register`, …).
    pub step: String,
    pub outcome: StepOutcome,
    /// The child job that ran it, for the steps that are jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<i64>,
    pub summary: String,
}

/// A `pipeline` job's result, also written when it stops early (then `completed` is false).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineResult {
    pub completed: bool,
    /// Why it stopped before its last step.
    pub stopped: Option<String>,
    pub run_id: Option<i64>,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    pub champion_metrics: Option<BTreeMap<String, f64>>,
    pub version: Option<u32>,
    pub deployment_revision: Option<u32>,
    pub steps: Vec<StepResult>,
}

impl KindResult for PipelineResult {
    const KIND: JobKind = JobKind::Pipeline;
}

impl Job {
    /// The job's result read as `R`: an error when the job is of another kind, has no result
    /// yet, or its result does not read as `R`.
    pub fn result_as<R: KindResult>(&self) -> Result<R, crate::ApiError> {
        let kind = self.spec.kind();
        if kind != R::KIND {
            return Err(crate::ApiError::Decode(format!(
                "job {} is a {kind} job, not {}",
                self.id,
                R::KIND
            )));
        }
        let result = self.result.clone().ok_or_else(|| {
            crate::ApiError::Decode(format!("job {} has no result ({})", self.id, self.state))
        })?;
        serde_json::from_value(result).map_err(|err| {
            crate::ApiError::Decode(format!("job {}: its {kind} result: {err}", self.id))
        })
    }
}
