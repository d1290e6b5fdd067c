//! Job handlers, one per kind. A handler runs one attempt; it reports progress through
//! [`Progress`] and must stop soon after [`Progress::cancelled`] turns true.

use serde_json::Value;
use slipway_api::{JobSpec, KindResult, LogLine, SleepResult, SleepSpec};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared between a running handler and the heartbeat that reports for it.
#[derive(Debug, Default)]
pub struct Progress {
    fraction_bits: AtomicU64,
    cancelled: AtomicBool,
    /// Lines written since the last shipment.
    lines: Mutex<Vec<LogLine>>,
    /// What the job is doing now, in words.
    message: Mutex<Option<String>>,
    /// Rung when the message changes, so the heartbeat reports it without waiting its turn.
    changed: tokio::sync::Notify,
    /// Held while lines are shipped, so that batches shipped from two tasks (the heartbeat
    /// and a command job streaming its output) reach the server in the order written.
    pub(crate) shipping: tokio::sync::Mutex<()>,
}

impl Progress {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn set(&self, fraction: f64) {
        self.fraction_bits
            .store(fraction.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    pub fn fraction(&self) -> f64 {
        f64::from_bits(self.fraction_bits.load(Ordering::Relaxed))
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Says what the job is doing now (shown beside its progress); reported at once.
    pub fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        if let Ok(mut current) = self.message.lock() {
            if current.as_deref() == Some(message.as_str()) {
                return;
            }
            *current = Some(message);
        }
        self.changed.notify_one();
    }

    pub fn message(&self) -> Option<String> {
        self.message.lock().ok().and_then(|m| m.clone())
    }

    /// Resolves when the message changed since the last call.
    pub async fn message_changed(&self) {
        self.changed.notified().await;
    }

    /// Writes a line to the job's log, stamped now (shipped with the next heartbeat).
    pub fn log(&self, level: &str, message: impl Into<String>) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(LogLine {
                level: level.to_owned(),
                message: message.into(),
                at: Some(chrono::Utc::now()),
            });
        }
    }

    /// Takes the lines written so far.
    pub fn take_lines(&self) -> Vec<LogLine> {
        self.lines
            .lock()
            .map(|mut lines| std::mem::take(&mut *lines))
            .unwrap_or_default()
    }
}

/// How an attempt ended, as the handler sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Value),
    Failed(String),
    /// Failed, with what was done before (a pipeline's steps so far).
    FailedWith(String, Value),
    Cancelled,
}

impl Outcome {
    /// Success with a kind's typed result (as the JSON the server stores).
    pub fn succeeded<R: KindResult>(result: &R) -> Self {
        match serde_json::to_value(result) {
            Ok(result) => Outcome::Succeeded(result),
            Err(err) => Outcome::Failed(format!("cannot write the {} result: {err}", R::KIND)),
        }
    }
}

/// What a handler may use besides its spec: the server, and which job it runs under which
/// lease (the proof a `deploy` or `pipeline` job shows to act for its submitter).
#[derive(Debug, Clone)]
pub struct Context {
    pub client: slipway_api::Client,
    pub job_id: i64,
    pub lease_id: String,
    /// Whether this worker runs `command` jobs (`--allow-commands`).
    pub allow_commands: bool,
    /// The GPU device indices the server's lease gave this attempt (as many as its
    /// requirements ask, none held by the worker's other jobs).
    pub gpus: Vec<u32>,
}

impl Context {
    /// A client whose requests act for this job's submitter.
    pub fn delegated_client(&self) -> slipway_api::Client {
        self.client.for_job(self.job_id, &self.lease_id)
    }
}

/// The outcome of a handler's attempt: an error message fails the job and is logged.
pub(crate) fn settle(attempt: Result<Outcome, String>, progress: &Progress) -> Outcome {
    attempt.unwrap_or_else(|message| {
        progress.log("error", message.clone());
        Outcome::Failed(message)
    })
}

/// Fetches version `wanted` (default: the latest) of dataset `name` and parses it with its
/// recorded label column and task.
pub(crate) async fn fetch_dataset(
    client: &slipway_api::Client,
    name: &str,
    wanted: Option<u32>,
) -> Result<(slipway_api::DatasetVersion, crate::Dataset), String> {
    let versions = client
        .dataset_versions(name)
        .await
        .map_err(|err| format!("dataset '{name}': {err}"))?;
    let version = match wanted {
        Some(wanted) => versions.iter().find(|v| v.version == wanted),
        None => versions.first(),
    }
    .ok_or_else(|| format!("dataset '{name}' has no version {wanted:?}"))?
    .clone();
    let csv = client
        .download_dataset(name, version.version)
        .await
        .map_err(|err| format!("cannot fetch the dataset: {err}"))?;
    let task = if version.task == "regression" {
        crate::Task::Regression
    } else {
        crate::Task::Classification
    };
    let data = match &version.schema {
        Some(schema) if crate::dataset::check_trainable(schema).is_err() => {
            crate::Dataset::from_table(&csv, schema, &version.features, &version.label, task)
        }
        _ => crate::Dataset::from_csv(&csv, &version.label, Some(task)),
    }
    .map_err(|err| format!("dataset: {err}"))?;
    Ok((version, data))
}

/// Runs one attempt of a job.
pub async fn run(context: &Context, spec: &JobSpec, progress: &Arc<Progress>) -> Outcome {
    match spec {
        JobSpec::Train(spec) => {
            crate::train_job::run(
                &context.client,
                context.job_id,
                &context.gpus,
                spec,
                progress,
            )
            .await
        }
        JobSpec::Deploy(spec) => {
            crate::deploy_job::run(&context.delegated_client(), spec, progress).await
        }
        JobSpec::Pipeline(spec) => {
            crate::pipeline_job::run(&context.delegated_client(), spec, progress).await
        }
        JobSpec::Evaluate(spec) => {
            crate::evaluate_job::run(&context.client, context.job_id, spec, progress).await
        }
        JobSpec::Command(spec) => crate::command_job::run(context, spec, progress).await,
        JobSpec::Sleep(spec) => sleep(spec, progress).await,
        JobSpec::Fail(spec) => {
            let message = spec.message();
            progress.log("error", message);
            Outcome::Failed(message.to_owned())
        }
    }
}

/// `sleep`: waits `seconds` (default 1), reporting progress, checking for cancellation
/// every 50 ms.
async fn sleep(spec: &SleepSpec, progress: &Progress) -> Outcome {
    if let Err(err) = spec.validate() {
        return Outcome::Failed(err);
    }
    let seconds = spec.seconds();
    progress.log("info", format!("sleeping {seconds} s"));
    let total = Duration::from_secs_f64(seconds);
    let started = tokio::time::Instant::now();
    let tick = Duration::from_millis(50);
    loop {
        if progress.cancelled() {
            progress.log("warn", "cancelled");
            return Outcome::Cancelled;
        }
        let elapsed = started.elapsed();
        if elapsed >= total {
            progress.set(1.0);
            progress.log("info", "done");
            return Outcome::succeeded(&SleepResult {
                slept_seconds: seconds,
            });
        }
        progress.set(elapsed.as_secs_f64() / seconds.max(f64::MIN_POSITIVE));
        tokio::time::sleep(tick.min(total - elapsed)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleep_spec(seconds: f64) -> JobSpec {
        JobSpec::Sleep(SleepSpec {
            seconds: Some(seconds),
        })
    }

    fn context() -> Context {
        Context {
            client: slipway_api::Client::new("http://127.0.0.1:9", None).unwrap(),
            job_id: 1,
            lease_id: "lease".into(),
            allow_commands: false,
            gpus: Vec::new(),
        }
    }

    #[tokio::test]
    async fn sleep_finishes_and_stops_when_cancelled() {
        let progress = Progress::new();
        let outcome = run(&context(), &sleep_spec(0.1), &progress).await;
        assert_eq!(
            outcome,
            Outcome::Succeeded(serde_json::json!({"slept_seconds": 0.1}))
        );
        assert_eq!(progress.fraction(), 1.0);
        let lines: Vec<String> = progress
            .take_lines()
            .into_iter()
            .map(|l| l.message)
            .collect();
        assert_eq!(lines, vec!["sleeping 0.1 s", "done"]);
        assert!(progress.take_lines().is_empty(), "taken once");

        let progress = Progress::new();
        let handle = {
            let progress = progress.clone();
            tokio::spawn(async move { run(&context(), &sleep_spec(60.0), &progress).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        progress.cancel();
        let outcome = tokio::time::timeout(Duration::from_secs(2), handle)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome, Outcome::Cancelled);
    }

    #[tokio::test]
    async fn fail_fails_with_its_message_and_a_bad_sleep_fails_naming_the_field() {
        let progress = Progress::new();
        let fail = JobSpec::Fail(slipway_api::FailSpec {
            message: Some("boom".into()),
        });
        let outcome = run(&context(), &fail, &progress).await;
        assert_eq!(outcome, Outcome::Failed("boom".into()));
        let outcome = run(&context(), &sleep_spec(-1.0), &progress).await;
        assert!(matches!(outcome, Outcome::Failed(m) if m.contains("spec.seconds")));
    }
}
