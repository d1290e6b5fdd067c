//! Workers: registration, contact, listing and draining.

use super::JobQueue;
use crate::entity::operations::worker;
use crate::error::{ServiceError, ServiceResult};
use crate::time::{from_millis, now_millis};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use slipway_api::{Page, RegisterWorker, Worker, WorkerState};

fn validate(request: &RegisterWorker) -> ServiceResult<()> {
    let name_ok = !request.name.is_empty()
        && request.name.len() <= 128
        && request
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(ServiceError::invalid(format!(
            "name: expected 1 to 128 letters, digits, '-', '_' or '.', got '{}'",
            request.name
        )));
    }
    super::limits::check_labels("labels", &request.labels)?;
    super::limits::check_text(
        "version",
        &request.version,
        super::limits::MAX_VERSION_BYTES,
    )?;
    if !(1..=1024).contains(&request.concurrency) {
        return Err(ServiceError::invalid(format!(
            "concurrency: expected 1 to 1024, got {}",
            request.concurrency
        )));
    }
    Ok(())
}

/// Registers a worker for the token named `owner`, or refreshes it when the name is known (a
/// restarted worker). A name belongs to the token that first registered it: another token is
/// refused. A draining worker stays draining when it registers again, so restarting a worker
/// does not undo a drain; a lost one is active again.
pub async fn register(
    db: &DatabaseConnection,
    queue: &JobQueue,
    owner: &str,
    request: &RegisterWorker,
) -> ServiceResult<Worker> {
    validate(request)?;
    let now = now_millis();
    let txn = crate::db::begin_write(db).await?;
    let existing = worker::Entity::find()
        .filter(worker::Column::Name.eq(request.name.as_str()))
        .one(&txn)
        .await?;
    let row = match existing {
        Some(row) => {
            if let Some(other) = row.owner_token.as_deref().filter(|o| *o != owner) {
                return Err(ServiceError::PermissionDenied(format!(
                    "name: worker '{}' belongs to the token '{other}'; register under another name or use that token",
                    request.name
                )));
            }
            let state = if row.state == WorkerState::Draining.as_str() {
                WorkerState::Draining
            } else {
                WorkerState::Active
            };
            let mut active = row.into_active_model();
            active.version = Set(request.version.clone());
            active.cpu_cores = Set(request.cpu_cores as i32);
            active.cuda_devices = Set(request.cuda_devices as i32);
            active.labels = Set(serde_json::to_string(&request.labels)?);
            active.concurrency = Set(request.concurrency as i32);
            active.allow_commands = Set(request.allow_commands);
            active.state = Set(state.as_str().to_owned());
            active.last_heartbeat_at = Set(now);
            active.owner_token = Set(Some(owner.to_owned()));
            active.update(&txn).await?
        }
        None => {
            worker::ActiveModel {
                name: Set(request.name.clone()),
                version: Set(request.version.clone()),
                cpu_cores: Set(request.cpu_cores as i32),
                cuda_devices: Set(request.cuda_devices as i32),
                labels: Set(serde_json::to_string(&request.labels)?),
                concurrency: Set(request.concurrency as i32),
                allow_commands: Set(request.allow_commands),
                state: Set(WorkerState::Active.as_str().to_owned()),
                registered_at: Set(now),
                last_heartbeat_at: Set(now),
                owner_token: Set(Some(owner.to_owned())),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    txn.commit().await?;
    let state = to_api(row, Vec::new())?;
    queue.worker_changed(state.id, "registered", state.state);
    Ok(state)
}

/// The worker `worker_id`, checked to belong to the token named `owner`.
pub async fn owned(
    db: &impl ConnectionTrait,
    worker_id: i64,
    owner: &str,
) -> ServiceResult<worker::Model> {
    let row = worker::Entity::find_by_id(worker_id)
        .one(db)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(format!("worker {worker_id} not found; register first"))
        })?;
    if row.owner_token.as_deref() != Some(owner) {
        return Err(ServiceError::PermissionDenied(format!(
            "worker {worker_id} ('{}') belongs to another token; a token speaks only for the workers it registered",
            row.name
        )));
    }
    Ok(row)
}

pub fn to_api(row: worker::Model, running_jobs: Vec<i64>) -> ServiceResult<Worker> {
    let state = match row.state.as_str() {
        "draining" => WorkerState::Draining,
        "lost" => WorkerState::Lost,
        _ => WorkerState::Active,
    };
    Ok(Worker {
        id: row.id,
        name: row.name,
        version: row.version,
        cpu_cores: row.cpu_cores.unsigned_abs(),
        cuda_devices: row.cuda_devices.unsigned_abs(),
        labels: serde_json::from_str(&row.labels)?,
        allow_commands: row.allow_commands,
        concurrency: row.concurrency.unsigned_abs(),
        state,
        registered_at: from_millis(row.registered_at),
        last_heartbeat_at: from_millis(row.last_heartbeat_at),
        running_jobs,
    })
}

/// A page of workers in registration order, each with the jobs it runs.
pub async fn list(
    db: &DatabaseConnection,
    limit: Option<u32>,
    page_token: Option<&str>,
) -> ServiceResult<Page<Worker>> {
    let limit = crate::pagination::limit(limit)?;
    let mut query = worker::Entity::find().order_by_asc(worker::Column::Id);
    if let Some(after) = crate::pagination::decode_after_id(page_token)? {
        query = query.filter(worker::Column::Id.gt(after));
    }
    let rows = query.limit(limit + 1).all(db).await?;
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut running = super::jobs::running_by_worker(db, &ids).await?;
    let workers = rows
        .into_iter()
        .map(|row| {
            let jobs = running.remove(&row.id).unwrap_or_default();
            to_api(row, jobs)
        })
        .collect::<ServiceResult<Vec<Worker>>>()?;
    Ok(crate::pagination::keyset_page(
        workers,
        limit,
        |w: &Worker| w.id,
    ))
}

/// Records that a worker was heard from; a lost worker that speaks again is active again.
pub async fn touch(db: &DatabaseConnection, worker_id: i64) -> ServiceResult<worker::Model> {
    worker::Entity::update_many()
        .col_expr(worker::Column::LastHeartbeatAt, Expr::val(now_millis()))
        .col_expr(
            worker::Column::State,
            Expr::case(
                Expr::col(worker::Column::State).eq(WorkerState::Lost.as_str()),
                WorkerState::Active.as_str(),
            )
            .finally(Expr::col(worker::Column::State))
            .into(),
        )
        .filter(worker::Column::Id.eq(worker_id))
        .exec(db)
        .await?;
    worker::Entity::find_by_id(worker_id)
        .one(db)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(format!("worker {worker_id} not found; register first"))
        })
}

/// Marks workers silent for too long as lost.
pub async fn mark_lost(db: &DatabaseConnection, queue: &JobQueue) -> ServiceResult<u64> {
    let cutoff = now_millis() - queue.lost_after().as_millis() as i64;
    let silent = worker::Entity::find()
        .filter(worker::Column::LastHeartbeatAt.lt(cutoff))
        .filter(worker::Column::State.ne(WorkerState::Lost.as_str()))
        .all(db)
        .await?;
    for row in &silent {
        let lost = worker::Entity::update_many()
            .col_expr(worker::Column::State, Expr::val(WorkerState::Lost.as_str()))
            .filter(worker::Column::Id.eq(row.id))
            .filter(worker::Column::LastHeartbeatAt.lt(cutoff))
            .exec(db)
            .await?;
        if lost.rows_affected == 1 {
            tracing::warn!(worker = %row.name, "worker lost: no contact");
            queue.worker_changed(row.id, "lost", WorkerState::Lost);
        }
    }
    Ok(silent.len() as u64)
}

/// Asks the worker named `name` to finish its current jobs and take no more.
pub async fn drain(
    db: &DatabaseConnection,
    queue: &JobQueue,
    actor: &str,
    name: &str,
    reason: Option<&str>,
) -> ServiceResult<Worker> {
    let row = worker::Entity::find()
        .filter(worker::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("worker '{name}' not found")))?;
    let txn = crate::db::begin_write(db).await?;
    worker::Entity::update_many()
        .col_expr(
            worker::Column::State,
            Expr::val(WorkerState::Draining.as_str()),
        )
        .filter(worker::Column::Id.eq(row.id))
        .exec(&txn)
        .await?;
    crate::audit::record(
        &txn,
        crate::audit::Change {
            actor,
            action: "worker.drain",
            target_kind: "worker",
            target_id: name.to_owned(),
            reason,
            details: None,
        },
    )
    .await?;
    txn.commit().await?;
    queue.worker_changed(row.id, "draining", WorkerState::Draining);
    let running = super::jobs::running_by_worker(db, &[row.id])
        .await?
        .remove(&row.id)
        .unwrap_or_default();
    let row = worker::Entity::find_by_id(row.id)
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("worker '{name}' not found")))?;
    to_api(row, running)
}
