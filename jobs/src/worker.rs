//! The worker loop: register, lease jobs by long-poll while a slot is free, run each on its
//! own task with a heartbeat that extends the lease and carries cancellation back, and report
//! the outcome. When the server is unreachable it retries with backoff and carries on.

use crate::handlers::{self, Outcome, Progress};
use backon::{BackoffBuilder as _, ExponentialBuilder, Retryable as _};
use slipway_api::{
    ApiError, Client, JobHeartbeat, JobOutcome, JobReport, Lease, RegisterWorker, ShipLogs,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Who the worker is and what it offers.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub name: String,
    pub labels: Vec<String>,
    pub concurrency: u32,
    /// Run `command` jobs (a team's own programs): off unless asked for.
    pub allow_commands: bool,
    /// How many GPU devices to offer (`--gpus`); `None` offers those candle detects.
    pub gpus: Option<u32>,
}

/// How long one lease request waits on the server.
const LEASE_WAIT: Duration = Duration::from_secs(20);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The pause before each retry while the server is unreachable: 100 ms doubling up to
/// [`MAX_BACKOFF`], each with a random part of up to as much again, so that workers cut off
/// together do not come back in step.
const RETRY: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(MAX_BACKOFF)
    .with_jitter()
    .without_max_times();

fn cpu_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Registers the worker, retrying while the server is unreachable; a refusal (the name
/// belongs to another token, a bad label, a token that may not work) is final.
async fn register(client: &Client, config: &WorkerConfig) -> Result<i64, ApiError> {
    let request = RegisterWorker {
        name: config.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        cpu_cores: cpu_cores(),
        cuda_devices: config
            .gpus
            .unwrap_or_else(crate::devices::cuda_device_count),
        labels: config.labels.clone(),
        concurrency: config.concurrency,
        allow_commands: config.allow_commands,
    };
    let worker = (|| client.register_worker(&request))
        .retry(RETRY)
        .when(|err| !matches!(err.status(), Some(400 | 401 | 403)))
        .notify(|err, _| tracing::warn!(error = %err, "cannot register; retrying"))
        .await?;
    tracing::info!(worker = worker.id, name = %worker.name, "registered");
    Ok(worker.id)
}

/// Runs the worker until the process ends, or until the server refuses it.
pub async fn run(client: Client, config: WorkerConfig) -> Result<(), ApiError> {
    let mut worker_id = register(&client, &config).await?;
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1) as usize));
    let mut backoff = RETRY.build();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let wait = LEASE_WAIT.as_millis() as u64;
        match client.lease_job(worker_id, wait).await {
            Ok(answer) => {
                backoff = RETRY.build();
                if let Some(lease) = answer.lease {
                    // The server does not count coordinating jobs against the slots either.
                    let slot = lease.job.spec.kind().takes_a_slot().then_some(slot);
                    let client = client.clone();
                    let allow_commands = config.allow_commands;
                    tokio::spawn(async move {
                        run_attempt(&client, lease, allow_commands).await;
                        drop(slot);
                    });
                }
            }
            Err(err) => {
                // A server that forgot us (a new database) wants a new registration, and so
                // does a worker row from before workers had owners (403 until claimed);
                // registering again claims it, or ends this worker with the reason.
                if matches!(err.status(), Some(404 | 403)) {
                    worker_id = register(&client, &config).await?;
                } else {
                    tracing::warn!(error = %err, "cannot lease; retrying");
                    tokio::time::sleep(backoff.next().unwrap_or(MAX_BACKOFF)).await;
                }
            }
        }
    }
}

/// Runs one leased attempt to its end and reports it.
async fn run_attempt(client: &Client, lease: Lease, allow_commands: bool) {
    let job_id = lease.job.id;
    tracing::info!(job = job_id, kind = %lease.job.spec.kind(), attempt = lease.job.attempts, "running");
    let progress = Progress::new();
    let heartbeat = tokio::spawn(heartbeats(
        client.clone(),
        job_id,
        lease.lease_id.clone(),
        Duration::from_millis((lease.lease_ms / 3).max(50)),
        progress.clone(),
    ));
    let context = handlers::Context {
        client: client.clone(),
        job_id,
        lease_id: lease.lease_id.clone(),
        allow_commands,
        // The server picked these devices, free of this worker's other jobs.
        gpus: lease.job.gpu_devices.clone(),
    };
    let outcome = handlers::run(&context, &lease.job.spec, &progress).await;
    heartbeat.abort();
    ship_lines(client, job_id, &lease.lease_id, &progress).await;
    let outcome = match outcome {
        Outcome::Succeeded(result) => JobOutcome::Succeeded { result },
        Outcome::Failed(error) => JobOutcome::Failed {
            error,
            result: None,
        },
        Outcome::FailedWith(error, result) => JobOutcome::Failed {
            error,
            result: Some(result),
        },
        Outcome::Cancelled => JobOutcome::Cancelled,
    };
    let mut report = JobReport {
        lease_id: lease.lease_id,
        outcome,
    };
    let mut backoff = RETRY.build();
    let mut refused = false;
    for _ in 0..20 {
        match client.report_job(job_id, &report).await {
            Ok(job) => {
                tracing::info!(job = job_id, state = %job.state, "reported");
                return;
            }
            Err(err @ ApiError::Server { status: 409, .. }) => {
                tracing::warn!(job = job_id, error = %err, "the lease is gone; dropping this attempt");
                return;
            }
            // The server refused the report itself (a result over its size limit): retrying
            // the same report cannot help, so the attempt fails with the server's reason.
            Err(err @ ApiError::Server { status: 400, .. }) if !refused => {
                refused = true;
                tracing::warn!(job = job_id, error = %err, "the report was refused; reporting a failure");
                report.outcome = JobOutcome::Failed {
                    error: format!("the server refused the result: {err}"),
                    result: None,
                };
            }
            Err(err) => {
                tracing::warn!(job = job_id, error = %err, "cannot report; retrying");
                tokio::time::sleep(backoff.next().unwrap_or(MAX_BACKOFF)).await;
            }
        }
    }
}

/// Most lines in one shipment (the server's limit per batch).
const MAX_SHIPPED_LINES: usize = 1000;

/// Ships the lines the handler wrote since the last shipment, in batches the server accepts,
/// one shipper at a time so that they arrive in order.
pub(crate) async fn ship_lines(client: &Client, job_id: i64, lease_id: &str, progress: &Progress) {
    let _turn = progress.shipping.lock().await;
    let lines = progress.take_lines();
    let mut lines = lines.into_iter().peekable();
    while lines.peek().is_some() {
        let logs = ShipLogs {
            lease_id: lease_id.to_owned(),
            lines: lines.by_ref().take(MAX_SHIPPED_LINES).collect(),
        };
        if let Err(err) = client.ship_logs(job_id, &logs).await {
            tracing::warn!(job = job_id, error = %err, "cannot ship log lines");
        }
    }
}

/// The shortest gap between two heartbeats, however often the message changes.
const MIN_GAP: Duration = Duration::from_millis(200);

/// Extends the lease every `every`, ships log lines and the progress, and stops the handler
/// when the server says so. Each heartbeat asks the server to hold its answer until the next
/// one is due, so a cancel is heard the moment it is made; a new message is reported at once.
async fn heartbeats(
    client: Client,
    job_id: i64,
    lease_id: String,
    every: Duration,
    progress: Arc<Progress>,
) {
    // The first heartbeat goes at once, so that one is held open from the start.
    let mut started = tokio::time::Instant::now();
    let mut next = started;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = progress.message_changed() => {
                tokio::time::sleep_until(started + MIN_GAP).await;
            }
        }
        started = tokio::time::Instant::now();
        next = started + every;
        ship_lines(&client, job_id, &lease_id, &progress).await;
        let beat = JobHeartbeat {
            lease_id: lease_id.clone(),
            progress: Some(progress.fraction()),
            message: progress.message(),
            // Once told to stop, the answer is known: no need to hold it.
            wait_ms: if progress.cancelled() {
                0
            } else {
                every.as_millis() as u64
            },
        };
        let answer = tokio::select! {
            answer = client.job_heartbeat(job_id, &beat) => answer,
            // A new message: drop the held request and report it now (the lease was
            // extended when the request arrived).
            _ = progress.message_changed() => {
                next = started + MIN_GAP;
                continue;
            }
        };
        match answer {
            Ok(answer) if answer.cancel => progress.cancel(),
            Ok(_) => {}
            // The lease is gone (another attempt owns the job): stop working on it.
            Err(ApiError::Server { status: 409, .. }) => {
                progress.cancel();
                return;
            }
            Err(err) => tracing::warn!(job = job_id, error = %err, "heartbeat failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_at_100_ms_and_stop_growing_at_the_cap() {
        let pauses: Vec<Duration> = RETRY.build().take(30).collect();
        assert_eq!(pauses.len(), 30, "retries go on");
        // Each pause is its step of 100 ms, 200 ms, … 5 s plus a random part below as much again.
        for (i, pause) in pauses.iter().enumerate() {
            let step = (Duration::from_millis(100) * 2u32.pow(i.min(10) as u32)).min(MAX_BACKOFF);
            assert!(
                *pause >= step && *pause < step * 2,
                "pause {i}: {pause:?}, step {step:?}"
            );
        }
    }
}
