//! The job queue: jobs, the workers that lease them, leases with heartbeats, retries and
//! cancellation. (Cron schedules that put jobs on the queue are `crate::schedules`.)
//!
//! - `jobs`: submit, list, show, cancel, retry.
//! - `leasing`: claiming a job for a worker, heartbeats, reports, and the reaper of expired
//!   leases.
//! - `workers`: registration (owned by the token that registered), draining, listing.
//! - `fit`: whether a worker's slots, GPUs and labels can take a job.
//! - `delegation`: what a running `deploy` or `pipeline` job may do for its submitter.
//! - `limits`: caps on specs, results, labels and messages.
//! - `logs`: job log lines as workers write them.
//!
//! Workers pull work over HTTP (long-poll). A claim is one conditional UPDATE (`… WHERE id = ?
//! AND state = 'queued'`), so two workers can never hold the same job on any backend. Every
//! report from a worker carries the lease id of its attempt; a report with an old lease id (a
//! worker that lost its lease and came back) is refused with 409. A reaper requeues jobs whose
//! lease expired, until their attempts run out.

pub mod delegation;
pub mod fit;
pub mod jobs;
pub mod leasing;
pub mod limits;
pub mod logs;
pub mod workers;

use crate::events::EventBus;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Timing of leases, and the signal that wakes waiting workers.
#[derive(Debug, Clone)]
pub struct JobQueue {
    /// How long a lease lasts without a heartbeat.
    pub lease: Duration,
    /// Rung when a job becomes available, so long-polling workers look again at once.
    pub available: Arc<Notify>,
    /// Rung when a running job is asked to stop, so held heartbeats answer at once.
    pub cancels: Arc<Notify>,
    /// Where job and worker changes are announced: the state's bus.
    pub events: Arc<EventBus>,
}

impl JobQueue {
    pub fn new(lease: Duration, events: Arc<EventBus>) -> Self {
        Self {
            lease,
            available: Arc::new(Notify::new()),
            cancels: Arc::new(Notify::new()),
            events,
        }
    }

    /// A worker silent for this long is lost.
    pub fn lost_after(&self) -> Duration {
        self.lease * 2
    }

    /// The longest a lease request may wait: half a lease, so a polling worker is never
    /// silent long enough to look lost.
    pub fn max_wait(&self) -> Duration {
        (self.lease / 2).min(Duration::from_secs(20))
    }
}

impl JobQueue {
    /// Announces a job's new state.
    pub fn job_changed(&self, id: i64, change: &str, state: slipway_api::JobState) {
        self.events.publish("job", id, change, Some(state.as_str()));
    }

    /// Announces a worker's change.
    pub fn worker_changed(&self, id: i64, change: &str, state: slipway_api::WorkerState) {
        self.events
            .publish("worker", id, change, Some(state.as_str()));
    }
}
