//! Handing jobs to workers and hearing back from them: leases, heartbeats, reports, and the
//! reaper that takes back expired leases.

use super::JobQueue;
use super::fit::fits;
use super::jobs::{find, view};
use super::workers;
use crate::entity::job_columns::read_jobs;
use crate::entity::operations::job::StoredJobState;
use crate::entity::operations::{job, worker};
use crate::error::{ServiceError, ServiceResult};
use crate::time::now_millis;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use slipway_api::{
    HeartbeatAnswer, Job, JobHeartbeat, JobKind, JobOutcome, JobReport, JobState, Lease,
    Requirements, WorkerState,
};
use std::collections::HashSet;
use std::time::Duration;

/// Queued jobs looked at per claim attempt.
const CANDIDATES: u64 = 32;

/// Waits up to `wait` for a job that fits the worker and claims it; only the token that
/// registered the worker (`owner`) may lease for it.
pub async fn lease(
    db: &DatabaseConnection,
    queue: &JobQueue,
    worker_id: i64,
    owner: &str,
    wait: Duration,
) -> ServiceResult<Option<Lease>> {
    workers::owned(db, worker_id, owner).await?;
    let deadline = tokio::time::Instant::now() + wait.min(queue.max_wait());
    loop {
        // Listen before looking, so a job queued in between is not missed.
        let available = queue.available.notified();
        tokio::pin!(available);
        available.as_mut().enable();
        if let Some(lease) = try_claim(db, queue, worker_id).await? {
            return Ok(Some(lease));
        }
        if tokio::time::timeout_at(deadline, available).await.is_err() {
            return Ok(None);
        }
    }
}

/// The kinds whose running jobs take none of their worker's slots.
fn coordinating_kinds() -> Vec<job::StoredJobKind> {
    JobKind::ALL
        .into_iter()
        .filter(|kind| kind.coordinates())
        .map(job::StoredJobKind::from)
        .collect()
}

async fn try_claim(
    db: &DatabaseConnection,
    queue: &JobQueue,
    worker_id: i64,
) -> ServiceResult<Option<Lease>> {
    let worker = workers::touch(db, worker_id).await?;
    if worker.state == WorkerState::Draining.as_str() {
        return Ok(None);
    }
    let running = job::Entity::find()
        .filter(job::Column::WorkerId.eq(worker_id))
        .filter(job::Column::State.eq(StoredJobState::Running))
        .filter(job::Column::Kind.is_not_in(coordinating_kinds()))
        .count(db)
        .await?;
    if running >= u64::from(worker.concurrency.unsigned_abs()) {
        return Ok(None);
    }
    let candidates = read_jobs(
        db,
        job::Entity::find()
            .filter(job::Column::State.eq(StoredJobState::Queued))
            .order_by_desc(job::Column::Priority)
            .order_by_asc(job::Column::Id)
            .limit(CANDIDATES),
    )
    .await?;
    for candidate in candidates {
        let requirements: Requirements = serde_json::from_str(&candidate.requirements)?;
        if !fits(&requirements, &worker) {
            continue;
        }
        // The lease id also proves delegated authority (see `http::delegation`): 128 random bits.
        let lease_id = format!("{:032x}", rand::random::<u128>());
        let claimed = if requirements.gpus == 0 {
            claim(db, queue, worker_id, candidate.id, &lease_id, None).await?
        } else {
            claim_with_devices(
                db,
                queue,
                &worker,
                candidate.id,
                requirements.gpus,
                &lease_id,
            )
            .await?
        };
        if claimed == Some(Claim::Claimed) {
            queue.job_changed(candidate.id, "leased", JobState::Running);
            let row = find(db, candidate.id).await?;
            return Ok(Some(Lease {
                job: view(db, row).await?,
                lease_id,
                lease_ms: queue.lease.as_millis() as u64,
            }));
        }
    }
    Ok(None)
}

/// How a claim attempt that moved nothing differs from one that did.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    /// The job is the worker's now.
    Claimed,
    /// Too few of the worker's GPU devices are free for it; it stays queued.
    NoFreeDevices,
}

/// The claim: one conditional UPDATE. Only one worker can move a job out of 'queued'. `None`
/// when another worker took the job first.
async fn claim(
    db: &impl ConnectionTrait,
    queue: &JobQueue,
    worker_id: i64,
    job_id: i64,
    lease_id: &str,
    devices: Option<String>,
) -> ServiceResult<Option<Claim>> {
    let now = now_millis();
    let claimed = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::val(StoredJobState::Running))
        .col_expr(job::Column::WorkerId, Expr::val(worker_id))
        .col_expr(job::Column::LeaseId, Expr::val(lease_id))
        .col_expr(
            job::Column::LeaseExpiresAt,
            Expr::val(now + queue.lease.as_millis() as i64),
        )
        .col_expr(
            job::Column::Attempts,
            Expr::col(job::Column::Attempts).add(1),
        )
        .col_expr(job::Column::StartedAt, Expr::val(now))
        .col_expr(job::Column::Progress, Expr::val(0.0))
        .col_expr(
            job::Column::ProgressMessage,
            Expr::val(Option::<String>::None),
        )
        .col_expr(job::Column::GpuDevices, Expr::val(devices))
        .filter(job::Column::Id.eq(job_id))
        .filter(job::Column::State.eq(StoredJobState::Queued))
        .exec(db)
        .await?;
    Ok((claimed.rows_affected == 1).then_some(Claim::Claimed))
}

/// Claims a GPU job when `count` of the worker's devices are free, recording which. Counting
/// the devices the worker's running jobs hold and claiming happen in one write transaction
/// (one writer at a time on SQLite and, by the advisory lock, on PostgreSQL), so two leases
/// for the same worker, through any server replica, never pick the same device.
async fn claim_with_devices(
    db: &DatabaseConnection,
    queue: &JobQueue,
    worker: &worker::Model,
    job_id: i64,
    count: u32,
    lease_id: &str,
) -> ServiceResult<Option<Claim>> {
    let txn = crate::db::begin_write(db).await?;
    let held: Vec<Option<String>> = job::Entity::find()
        .select_only()
        .column(job::Column::GpuDevices)
        .filter(job::Column::WorkerId.eq(worker.id))
        .filter(job::Column::State.eq(StoredJobState::Running))
        .filter(job::Column::GpuDevices.is_not_null())
        .into_tuple()
        .all(&txn)
        .await?;
    let mut busy = HashSet::new();
    for text in held.into_iter().flatten() {
        // A row that cannot be read holds no device we know of; leasing goes on without it.
        busy.extend(serde_json::from_str::<Vec<u32>>(&text).unwrap_or_default());
    }
    let Some(devices) = pick_devices(worker.cuda_devices.unsigned_abs(), &busy, count) else {
        return Ok(Some(Claim::NoFreeDevices));
    };
    let text = serde_json::to_string(&devices)?;
    let claimed = claim(&txn, queue, worker.id, job_id, lease_id, Some(text)).await?;
    txn.commit().await?;
    Ok(claimed)
}

/// The `count` lowest device indices below `total` that are not `busy`; `None` when fewer are
/// free.
fn pick_devices(total: u32, busy: &HashSet<u32>, count: u32) -> Option<Vec<u32>> {
    let free: Vec<u32> = (0..total)
        .filter(|index| !busy.contains(index))
        .take(count as usize)
        .collect();
    (free.len() == count as usize).then_some(free)
}

/// The running job that `lease_id` still holds, with its worker, or 409 for a stale lease;
/// 403 when the worker holding it does not belong to the token named `owner`.
pub(crate) async fn held(
    db: &DatabaseConnection,
    job_id: i64,
    lease_id: &str,
    owner: &str,
) -> ServiceResult<(job::Model, worker::Model)> {
    let row = find(db, job_id).await?;
    let current = row.state == StoredJobState::Running && row.lease_id.as_deref() == Some(lease_id);
    let Some(worker_id) = row.worker_id.filter(|_| current) else {
        return Err(ServiceError::conflict(format!(
            "job {job_id}: lease {lease_id} is no longer current (the job is {} now); drop this attempt",
            JobState::from(row.state)
        )));
    };
    let worker = workers::owned(db, worker_id, owner).await?;
    Ok((row, worker))
}

/// Extends a lease and records progress; answers whether the job should stop.
pub async fn heartbeat(
    db: &DatabaseConnection,
    queue: &JobQueue,
    owner: &str,
    job_id: i64,
    beat: &JobHeartbeat,
) -> ServiceResult<HeartbeatAnswer> {
    if let Some(progress) = beat.progress
        && !(0.0..=1.0).contains(&progress)
    {
        return Err(ServiceError::invalid(format!(
            "progress: expected a fraction from 0 to 1, got {progress}"
        )));
    }
    if let Some(message) = &beat.message {
        super::limits::check_text("message", message, super::limits::MAX_MESSAGE_BYTES)?;
    }
    let (row, worker) = held(db, job_id, &beat.lease_id, owner).await?;
    let mut update = job::Entity::update_many()
        .col_expr(
            job::Column::LeaseExpiresAt,
            Expr::val(now_millis() + queue.lease.as_millis() as i64),
        )
        .filter(job::Column::Id.eq(job_id))
        .filter(job::Column::LeaseId.eq(beat.lease_id.as_str()));
    if let Some(progress) = beat.progress {
        update = update.col_expr(job::Column::Progress, Expr::val(progress));
    }
    if let Some(message) = &beat.message {
        update = update.col_expr(job::Column::ProgressMessage, Expr::val(message.as_str()));
    }
    update.exec(db).await?;
    workers::touch(db, worker.id).await?;
    if row.cancel_requested || beat.wait_ms == 0 {
        return Ok(HeartbeatAnswer {
            cancel: row.cancel_requested,
        });
    }
    let wait = Duration::from_millis(beat.wait_ms).min(queue.max_wait());
    Ok(HeartbeatAnswer {
        cancel: wait_for_cancel(db, queue, job_id, &beat.lease_id, wait).await?,
    })
}

/// How often a held heartbeat reads its job again: a cancel made through another server
/// (several replicas on one database) rings no bell here.
const RECHECK: Duration = Duration::from_secs(1);

/// Holds a heartbeat until the job is asked to stop (true) or `wait` runs out (false); 409
/// when the lease is lost meanwhile.
async fn wait_for_cancel(
    db: &DatabaseConnection,
    queue: &JobQueue,
    job_id: i64,
    lease_id: &str,
    wait: Duration,
) -> ServiceResult<bool> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Listen before looking, so a cancel committed in between is not missed.
        let cancelled = queue.cancels.notified();
        tokio::pin!(cancelled);
        cancelled.as_mut().enable();
        let row = find(db, job_id).await?;
        if row.state != StoredJobState::Running || row.lease_id.as_deref() != Some(lease_id) {
            return Err(ServiceError::conflict(format!(
                "job {job_id}: lease {lease_id} is no longer current (the job is {} now); drop this attempt",
                JobState::from(row.state)
            )));
        }
        if row.cancel_requested {
            return Ok(true);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let _ = tokio::time::timeout_at(deadline.min(now + RECHECK), cancelled).await;
    }
}

/// Ends an attempt with its outcome.
pub async fn report(
    db: &DatabaseConnection,
    queue: &JobQueue,
    owner: &str,
    job_id: i64,
    report: &JobReport,
) -> ServiceResult<Job> {
    super::limits::check_outcome_size(&report.outcome)?;
    let (_, worker) = held(db, job_id, &report.lease_id, owner).await?;
    let (state, result, error) = match &report.outcome {
        JobOutcome::Succeeded { result } => (JobState::Succeeded, Some(result.to_string()), None),
        JobOutcome::Failed { error, result } => (
            JobState::Failed,
            result.as_ref().map(ToString::to_string),
            Some(error.clone()),
        ),
        JobOutcome::Cancelled => (JobState::Cancelled, None, Some("cancelled".to_owned())),
    };
    let mut update = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::val(StoredJobState::from(state)))
        .col_expr(job::Column::Result, Expr::val(result))
        .col_expr(job::Column::Error, Expr::val(error))
        .col_expr(job::Column::LeaseId, Expr::val(Option::<String>::None))
        .col_expr(job::Column::LeaseExpiresAt, Expr::val(Option::<i64>::None))
        .col_expr(job::Column::FinishedAt, Expr::val(now_millis()));
    if state == JobState::Succeeded {
        update = update.col_expr(job::Column::Progress, Expr::val(1.0));
    }
    let updated = update
        .filter(job::Column::Id.eq(job_id))
        .filter(job::Column::LeaseId.eq(report.lease_id.as_str()))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ServiceError::conflict(format!(
            "job {job_id}: lease {} expired while reporting; drop this attempt",
            report.lease_id
        )));
    }
    queue.job_changed(job_id, "finished", state);
    workers::touch(db, worker.id).await?;
    view(db, find(db, job_id).await?).await
}

/// Takes back expired leases: the job is queued again while attempts remain, failed (or
/// cancelled, when that was asked) otherwise. Also marks silent workers as lost.
pub async fn reap(db: &DatabaseConnection, queue: &JobQueue) -> ServiceResult<u64> {
    workers::mark_lost(db, queue).await?;
    let now = now_millis();
    let expired = read_jobs(
        db,
        job::Entity::find()
            .filter(job::Column::State.eq(StoredJobState::Running))
            .filter(job::Column::LeaseExpiresAt.lt(now)),
    )
    .await?;
    let mut requeued = 0;
    for row in expired {
        let (state, error) = if row.cancel_requested {
            (
                JobState::Cancelled,
                "cancelled (the worker stopped answering)".to_owned(),
            )
        } else if row.attempts < row.max_attempts {
            (
                JobState::Queued,
                format!(
                    "attempt {} lost its lease (worker stopped heart-beating)",
                    row.attempts
                ),
            )
        } else {
            (
                JobState::Failed,
                format!(
                    "failed after {} attempts: the last one lost its lease (worker stopped heart-beating)",
                    row.attempts
                ),
            )
        };
        let mut update = job::Entity::update_many()
            .col_expr(job::Column::State, Expr::val(StoredJobState::from(state)))
            .col_expr(job::Column::Error, Expr::val(error))
            .col_expr(job::Column::LeaseId, Expr::val(Option::<String>::None))
            .col_expr(job::Column::LeaseExpiresAt, Expr::val(Option::<i64>::None));
        if state.is_terminal() {
            update = update.col_expr(job::Column::FinishedAt, Expr::val(now));
        }
        let done = update
            .filter(job::Column::Id.eq(row.id))
            .filter(job::Column::LeaseId.eq(row.lease_id.clone()))
            .exec(db)
            .await?;
        if done.rows_affected == 1 {
            queue.job_changed(row.id, "lease-expired", state);
        }
        if done.rows_affected == 1 && state == JobState::Queued {
            requeued += 1;
            tracing::warn!(
                job = row.id,
                attempt = row.attempts,
                "lease expired; job queued again"
            );
        }
    }
    if requeued > 0 {
        queue.available.notify_waiters();
    }
    Ok(requeued)
}

/// Runs [`reap`] every quarter lease until the process ends.
pub fn spawn_reaper(
    db: DatabaseConnection,
    queue: JobQueue,
    leader: crate::cluster::leader::Leadership,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(queue.lease / 4);
        loop {
            every.tick().await;
            // One replica reaps; the others' attempts would only race it.
            if !leader.is_leader() {
                continue;
            }
            if let Err(err) = reap(&db, &queue).await {
                tracing::error!(error = %err, "the lease reaper failed");
            }
        }
    })
}

#[cfg(test)]
mod tests;
