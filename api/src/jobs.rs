//! Jobs and workers: the wire types of `/api/v1/jobs` and `/api/v1/workers`.

use crate::JobSpec;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The life of a job: queued → running → succeeded | failed | cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                format!("unknown job state '{s}': expected queued, running, succeeded, failed or cancelled")
            })
    }
}

/// What a worker must offer to take a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// CUDA GPUs needed (0: CPU only).
    #[serde(default)]
    pub gpus: u32,
    /// Labels the worker must all have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Only a worker started with `--allow-commands` may take it (set by the server for every
    /// `command` job).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub commands: bool,
}

/// `POST /api/v1/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubmitJob {
    /// Its kind and the handler's parameters: `"kind": "sleep", "spec": {"seconds": 5}`.
    #[serde(flatten)]
    pub spec: JobSpec,
    /// Higher runs first; equal priorities run in submission order.
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub requirements: Requirements,
    /// Attempts before the job fails for good (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

impl SubmitJob {
    /// A job with `spec`, the default priority, requirements and attempts.
    pub fn new(spec: impl Into<JobSpec>) -> Self {
        Self {
            spec: spec.into(),
            priority: 0,
            requirements: Requirements::default(),
            max_attempts: None,
        }
    }
}

/// A job as listed and shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    /// Its kind and spec: `"kind": "train", "spec": {...}`.
    #[serde(flatten)]
    pub spec: JobSpec,
    pub state: JobState,
    pub priority: i32,
    pub requirements: Requirements,
    pub attempts: u32,
    pub max_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    pub progress: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub cancel_requested: bool,
    /// The pipeline job this one is a step of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<i64>,
    /// The schedule whose firing submitted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<i64>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Why a queued job is not running, when no registered worker could ever take it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_reason: Option<String>,
    /// The indices of the worker's GPU devices that its (latest) lease holds: the job runs on
    /// exactly these (`CUDA_VISIBLE_DEVICES` for a command, the candle device for training).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu_devices: Vec<u32>,
}

/// The state of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Heart-beating and taking work.
    Active,
    /// Finishing its current work and taking no more.
    Draining,
    /// Silent for longer than its heartbeat allows.
    Lost,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Active => "active",
            WorkerState::Draining => "draining",
            WorkerState::Lost => "lost",
        }
    }
}

impl fmt::Display for WorkerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /api/v1/workers`: a worker announces itself (again, after a restart).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterWorker {
    pub name: String,
    pub version: String,
    pub cpu_cores: u32,
    #[serde(default)]
    pub cuda_devices: u32,
    #[serde(default)]
    pub labels: Vec<String>,
    pub concurrency: u32,
    /// Whether it runs `command` jobs (arbitrary code): off unless started with
    /// `--allow-commands`.
    #[serde(default)]
    pub allow_commands: bool,
}

/// A worker as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Worker {
    pub id: i64,
    pub name: String,
    pub version: String,
    pub cpu_cores: u32,
    pub cuda_devices: u32,
    pub labels: Vec<String>,
    pub concurrency: u32,
    /// Whether it runs `command` jobs.
    #[serde(default)]
    pub allow_commands: bool,
    pub state: WorkerState,
    pub registered_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    /// The jobs it is running now.
    #[serde(default)]
    pub running_jobs: Vec<i64>,
}

/// `POST /api/v1/workers/{id}/lease`: wait up to `wait_ms` for a job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LeaseRequest {
    #[serde(default)]
    pub wait_ms: u64,
}

/// A job handed to a worker; every report about it carries `lease_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lease {
    pub job: Job,
    pub lease_id: String,
    /// How long the lease lasts without a heartbeat.
    pub lease_ms: u64,
}

/// The answer to a lease request: a job, or none when the wait ran out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

/// `POST /api/v1/jobs/{id}/heartbeat`: the job is alive, with its progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobHeartbeat {
    pub lease_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// What the job is doing now, in words (`baking canary v3 until 13:29:32 UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Hold the answer up to this long (capped at half a lease) unless the job is cancelled
    /// meanwhile: a worker that heartbeats this way hears of a cancel at once. 0 answers at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wait_ms: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// The answer to a job heartbeat: whether the job should stop.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HeartbeatAnswer {
    pub cancel: bool,
}

/// How an attempt ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum JobOutcome {
    Succeeded {
        #[serde(default)]
        result: serde_json::Value,
    },
    Failed {
        error: String,
        /// What the attempt produced before it failed (a pipeline's steps so far).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<serde_json::Value>,
    },
    Cancelled,
}

/// `POST /api/v1/jobs/{id}/report`: the end of an attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobReport {
    pub lease_id: String,
    #[serde(flatten)]
    pub outcome: JobOutcome,
}

/// One line a job wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
    /// When the worker wrote it. The server keeps it, moved into the span from the attempt's
    /// start to the line's arrival (a worker clock ahead or behind cannot place a line
    /// outside it); a line without one is stamped with its arrival.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/jobs/{id}/logs`: a worker ships a batch of lines for its attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShipLogs {
    pub lease_id: String,
    pub lines: Vec<LogLine>,
}

/// A stored log line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobLogLine {
    pub id: i64,
    pub attempt: u32,
    /// When the worker wrote it (see [`LogLine::at`]).
    pub at: DateTime<Utc>,
    pub level: String,
    pub message: String,
}

/// `GET /api/v1/jobs/{id}/logs?after=ID`: lines after `after`, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobLogs {
    pub lines: Vec<JobLogLine>,
    /// Pass as `after` to read on (the id of the last line returned, or the one given).
    pub next_after: i64,
}
