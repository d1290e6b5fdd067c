//! Jobs as users see them: submit, list, show, cancel, retry.

use super::fit::WorkerLookup;
use crate::audit::{self, Change};
use crate::entity::job_columns::{corrupt, read_jobs, spec_text, stored_result, stored_spec};
use crate::entity::operations::job;
use crate::entity::operations::job::StoredJobState;
use crate::error::{ServiceError, ServiceResult};
use crate::pagination;
use crate::queue::JobQueue;
use crate::time::{from_millis, now_millis};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use slipway_api::{Job, JobSpec, JobState, Page, Requirements, SubmitJob};
use std::collections::HashMap;

/// Attempts when the submitter gives none.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

fn state_of(row: &job::Model) -> JobState {
    row.state.into()
}

/// The API view of a job; `workers` names its worker and gives its waiting reason.
pub fn to_api(row: job::Model, workers: &WorkerLookup) -> ServiceResult<Job> {
    let state = state_of(&row);
    let requirements: Requirements = serde_json::from_str(&row.requirements)
        .map_err(|err| corrupt("jobs", row.id, "requirements", err))?;
    let waiting_reason = (state == JobState::Queued)
        .then(|| workers.waiting_reason(&row.requirements))
        .flatten();
    let worker = row.worker_id.and_then(|id| workers.name(id));
    let gpu_devices = match row.gpu_devices.as_deref() {
        Some(text) => {
            serde_json::from_str(text).map_err(|err| corrupt("jobs", row.id, "gpu_devices", err))?
        }
        None => Vec::new(),
    };
    Ok(Job {
        id: row.id,
        spec: stored_spec(row.id, row.kind, &row.spec)?,
        state,
        priority: row.priority,
        requirements,
        attempts: row.attempts.unsigned_abs(),
        max_attempts: row.max_attempts.unsigned_abs(),
        worker,
        progress: row.progress,
        progress_message: row.progress_message,
        result: stored_result(row.id, row.result.as_deref())?,
        error: row.error,
        cancel_requested: row.cancel_requested,
        parent_id: row.parent_id,
        schedule_id: row.schedule_id,
        created_by: row.created_by,
        created_at: from_millis(row.created_at),
        started_at: row.started_at.map(from_millis),
        finished_at: row.finished_at.map(from_millis),
        waiting_reason,
        gpu_devices,
    })
}

/// The API view of one job, looking up only the workers it needs.
pub async fn view(db: &impl ConnectionTrait, row: job::Model) -> ServiceResult<Job> {
    let workers = WorkerLookup::for_jobs(db, std::slice::from_ref(&row)).await?;
    to_api(row, &workers)
}

/// Where a job came from, besides its submitter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    /// The pipeline job it is a step of.
    pub parent_id: Option<i64>,
    /// The schedule that fired it.
    pub schedule_id: Option<i64>,
    /// Who the audit log names when a worker submits it for the submitter, e.g.
    /// `alice (job 12, worker gpu-box)`; the submitter otherwise.
    pub acting: Option<&'a str>,
}

/// Checks a job request before it is queued (or stored as a schedule's template); returns its
/// attempts. The spec's types were checked when it was read; this checks what types cannot.
pub fn validate(request: &SubmitJob) -> ServiceResult<u32> {
    let max_attempts = request.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if !(1..=100).contains(&max_attempts) {
        return Err(ServiceError::invalid(format!(
            "max_attempts: expected 1 to 100, got {max_attempts}"
        )));
    }
    super::limits::check_spec_size(&request.spec.spec_json()?)?;
    super::limits::check_labels("requirements.labels", &request.requirements.labels)?;
    request.spec.validate().map_err(ServiceError::invalid)?;
    Ok(max_attempts)
}

/// Queues a job.
pub async fn submit(
    db: &DatabaseConnection,
    queue: &JobQueue,
    actor: &str,
    request: &SubmitJob,
) -> ServiceResult<Job> {
    submit_from(db, queue, actor, request, Origin::default()).await
}

/// Queues a job that a pipeline or a schedule submits.
pub async fn submit_from(
    db: &DatabaseConnection,
    queue: &JobQueue,
    actor: &str,
    request: &SubmitJob,
    origin: Origin<'_>,
) -> ServiceResult<Job> {
    let max_attempts = validate(request)?;
    if let JobSpec::Train(spec) = &request.spec {
        super::limits::check_train_model(db, spec).await?;
    }
    // Arbitrary code runs only on workers that opted in: the requirement goes with the kind.
    let mut requirements = request.requirements.clone();
    requirements.commands |= request.spec.kind().runs_commands();
    let txn = crate::db::begin_write(db).await?;
    let row = job::ActiveModel {
        kind: Set(request.spec.kind().into()),
        state: Set(StoredJobState::Queued),
        spec: Set(spec_text(&request.spec)?),
        priority: Set(request.priority),
        requirements: Set(serde_json::to_string(&requirements)?),
        attempts: Set(0),
        max_attempts: Set(max_attempts as i32),
        worker_id: Set(None),
        lease_id: Set(None),
        lease_expires_at: Set(None),
        progress: Set(0.0),
        progress_message: Set(None),
        result: Set(None),
        error: Set(None),
        cancel_requested: Set(false),
        parent_id: Set(origin.parent_id),
        schedule_id: Set(origin.schedule_id),
        created_by: Set(actor.to_owned()),
        created_at: Set(now_millis()),
        started_at: Set(None),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Change {
            actor: origin.acting.unwrap_or(actor),
            action: "job.submit",
            target_kind: "job",
            target_id: row.id.to_string(),
            reason: None,
            details: Some(serde_json::json!({
                "kind": request.spec.kind(),
                "parent_id": origin.parent_id,
                "schedule_id": origin.schedule_id,
            })),
        },
    )
    .await?;
    txn.commit().await?;
    queue.job_changed(row.id, "submitted", JobState::Queued);
    queue.available.notify_waiters();
    view(db, row).await
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> ServiceResult<job::Model> {
    job::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(|err| match err {
            // Text in a typed column (kind, state) that no variant has.
            sea_orm::DbErr::Type(problem) => corrupt("jobs", id, "value", problem),
            other => other.into(),
        })?
        .ok_or_else(|| ServiceError::not_found(format!("job {id} not found")))
}

pub async fn get(db: &DatabaseConnection, id: i64) -> ServiceResult<Job> {
    let row = find(db, id).await?;
    view(db, row).await
}

/// Jobs, newest first.
pub async fn list(
    db: &DatabaseConnection,
    state: Option<JobState>,
    limit: Option<u32>,
    page_token: Option<&str>,
) -> ServiceResult<Page<Job>> {
    let limit = pagination::limit(limit)?;
    let mut query = job::Entity::find().order_by_desc(job::Column::Id);
    if let Some(state) = state {
        query = query.filter(job::Column::State.eq(StoredJobState::from(state)));
    }
    if let Some(before) = pagination::decode_after_id(page_token)? {
        query = query.filter(job::Column::Id.lt(before));
    }
    let rows = read_jobs(db, query.limit(limit + 1)).await?;
    // Only the workers this page's jobs name, not every registered worker.
    let workers = WorkerLookup::for_jobs(db, &rows).await?;
    let jobs = rows
        .into_iter()
        .map(|row| to_api(row, &workers))
        .collect::<ServiceResult<Vec<Job>>>()?;
    Ok(pagination::keyset_page(jobs, limit, |job: &Job| job.id))
}

/// Cancels a job: a queued one at once, a running one through its worker's heartbeat, which
/// the worker holds open so that it hears at once.
pub async fn cancel(
    db: &DatabaseConnection,
    queue: &JobQueue,
    actor: &str,
    id: i64,
    reason: Option<&str>,
) -> ServiceResult<Job> {
    let txn = crate::db::begin_write(db).await?;
    let row = find(&txn, id).await?;
    let state = state_of(&row);
    if state.is_terminal() {
        return Err(ServiceError::conflict(format!(
            "job {id} has already ended ({state}); nothing to cancel"
        )));
    }
    let mut active = row.into_active_model();
    if state == JobState::Queued {
        active.state = Set(StoredJobState::Cancelled);
        active.finished_at = Set(Some(now_millis()));
    }
    active.cancel_requested = Set(true);
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        Change {
            actor,
            action: "job.cancel",
            target_kind: "job",
            target_id: id.to_string(),
            reason,
            details: None,
        },
    )
    .await?;
    txn.commit().await?;
    queue.cancels.notify_waiters();
    queue.job_changed(id, "cancel-requested", state_of(&row));
    view(db, row).await
}

/// Queues a failed or cancelled job again as a new attempt.
pub async fn retry(
    db: &DatabaseConnection,
    queue: &JobQueue,
    actor: &str,
    id: i64,
    reason: Option<&str>,
) -> ServiceResult<Job> {
    let txn = crate::db::begin_write(db).await?;
    let row = find(&txn, id).await?;
    let state = state_of(&row);
    if !matches!(state, JobState::Failed | JobState::Cancelled) {
        return Err(ServiceError::conflict(format!(
            "job {id} is {state}; only failed or cancelled jobs can be retried"
        )));
    }
    let mut active = row.into_active_model();
    active.state = Set(StoredJobState::Queued);
    // The retry gets a fresh budget of attempts beyond those already spent.
    let spent = *active.attempts.as_ref();
    let budget = *active.max_attempts.as_ref();
    active.max_attempts = Set(spent.saturating_add(budget.max(1)));
    active.cancel_requested = Set(false);
    active.error = Set(None);
    active.result = Set(None);
    active.progress = Set(0.0);
    active.progress_message = Set(None);
    active.worker_id = Set(None);
    active.lease_id = Set(None);
    active.lease_expires_at = Set(None);
    active.finished_at = Set(None);
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        Change {
            actor,
            action: "job.retry",
            target_kind: "job",
            target_id: id.to_string(),
            reason,
            details: None,
        },
    )
    .await?;
    txn.commit().await?;
    queue.job_changed(id, "retried", JobState::Queued);
    queue.available.notify_waiters();
    view(db, row).await
}

/// The ids of the running jobs of the workers `worker_ids`, per worker.
pub async fn running_by_worker(
    db: &DatabaseConnection,
    worker_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<i64>>> {
    let rows: Vec<(i64, Option<i64>)> = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .column(job::Column::WorkerId)
        .filter(job::Column::State.eq(StoredJobState::Running))
        .filter(job::Column::WorkerId.is_in(worker_ids.iter().copied()))
        .order_by_asc(job::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_worker: HashMap<i64, Vec<i64>> = HashMap::new();
    for (id, worker) in rows {
        if let Some(worker) = worker {
            by_worker.entry(worker).or_default().push(id);
        }
    }
    Ok(by_worker)
}
