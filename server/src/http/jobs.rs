//! `/api/v1/jobs` and `/api/v1/workers`.

use super::delegation::acting_for;
use super::error::ApiResult;
use super::extract::{Json, Path, Query, Reason};
use crate::auth::{Caller, Permission};
use crate::queue::{jobs, leasing, logs, workers};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use slipway_api::{
    HeartbeatAnswer, Job, JobHeartbeat, JobKind, JobLogs, JobReport, JobState, LeaseAnswer,
    LeaseRequest, Page, RegisterWorker, RunToken, RunTokenRequest, ShipLogs, SubmitJob, Worker,
};
use std::time::Duration;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(list).post(submit))
        .route("/jobs/{id}", get(show))
        .route("/jobs/{id}/cancel", post(cancel))
        .route("/jobs/{id}/retry", post(retry))
        .route("/jobs/{id}/heartbeat", post(heartbeat))
        .route("/jobs/{id}/report", post(report))
        .route("/jobs/{id}/run-token", post(run_token))
        .route("/workers", get(list_workers).post(register))
        .route("/jobs/{id}/logs", get(read_logs).post(ship_logs))
        .route("/workers/{worker}/lease", post(lease))
        .route("/workers/{worker}/drain", post(drain))
}

/// What submitting a job of `kind` needs: tracking, and operating for kinds that change
/// production or run arbitrary code on workers.
pub(super) fn require_submit(caller: &Caller, kind: JobKind) -> ApiResult<()> {
    caller.require(Permission::Track)?;
    if kind.operates() || kind.runs_commands() {
        caller.require(Permission::Operate)?;
    }
    Ok(())
}

/// A token for a command job's script, asked by the worker holding the job's lease.
async fn run_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(request): Json<RunTokenRequest>,
) -> ApiResult<axum::Json<RunToken>> {
    caller.require(Permission::Work)?;
    let token = crate::run_tokens::mint(&state.db, &caller.name, id, &request).await?;
    Ok(axum::Json(token))
}

async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(request): Json<SubmitJob>,
) -> ApiResult<(StatusCode, axum::Json<Job>)> {
    // A pipeline's steps are its children, submitted for the engineer who started it.
    if let Some(delegation) = acting_for(&state, &caller, &headers).await? {
        delegation.allows_child(&state.db, &request).await?;
        let parent = &delegation.job;
        let acting = delegation.actor();
        let origin = jobs::Origin {
            parent_id: Some(parent.id),
            schedule_id: parent.schedule_id,
            acting: Some(&acting),
        };
        let job = jobs::submit_from(
            &state.db,
            &state.queue,
            &parent.created_by,
            &request,
            origin,
        )
        .await?;
        return Ok((StatusCode::CREATED, axum::Json(job)));
    }
    require_submit(&caller, request.spec.kind())?;
    let job = jobs::submit(&state.db, &state.queue, &caller.name, &request).await?;
    Ok((StatusCode::CREATED, axum::Json(job)))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<JobState>,
    limit: Option<u32>,
    page_token: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<Page<Job>>> {
    caller.require(Permission::Read)?;
    let page = jobs::list(
        &state.db,
        query.state,
        query.limit,
        query.page_token.as_deref(),
    )
    .await?;
    Ok(axum::Json(page))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Job>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(jobs::get(&state.db, id).await?))
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    reason: Reason,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Job>> {
    // A pipeline cancels its own children when it is cancelled.
    let actor = match acting_for(&state, &caller, &headers).await? {
        Some(delegation) => {
            delegation.allows_cancel(&state.db, id).await?;
            delegation.actor()
        }
        None => {
            caller.require(Permission::Operate)?;
            caller.name.clone()
        }
    };
    Ok(axum::Json(
        jobs::cancel(&state.db, &state.queue, &actor, id, reason.as_deref()).await?,
    ))
}

async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Job>> {
    caller.require(Permission::Operate)?;
    let job = jobs::retry(&state.db, &state.queue, &caller.name, id, reason.as_deref()).await?;
    Ok(axum::Json(job))
}

async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<RegisterWorker>,
) -> ApiResult<axum::Json<Worker>> {
    caller.require(Permission::Work)?;
    Ok(axum::Json(
        workers::register(&state.db, &state.queue, &caller.name, &request).await?,
    ))
}

#[derive(Debug, Deserialize)]
struct WorkersQuery {
    limit: Option<u32>,
    page_token: Option<String>,
}

async fn list_workers(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<WorkersQuery>,
) -> ApiResult<axum::Json<Page<Worker>>> {
    caller.require(Permission::Read)?;
    let page = workers::list(&state.db, query.limit, query.page_token.as_deref()).await?;
    Ok(axum::Json(page))
}

async fn lease(
    State(state): State<AppState>,
    caller: Caller,
    Path(worker_id): Path<i64>,
    Json(request): Json<LeaseRequest>,
) -> ApiResult<axum::Json<LeaseAnswer>> {
    caller.require(Permission::Work)?;
    let wait = Duration::from_millis(request.wait_ms);
    let lease = leasing::lease(&state.db, &state.queue, worker_id, &caller.name, wait).await?;
    Ok(axum::Json(LeaseAnswer { lease }))
}

async fn heartbeat(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(beat): Json<JobHeartbeat>,
) -> ApiResult<axum::Json<HeartbeatAnswer>> {
    caller.require(Permission::Work)?;
    Ok(axum::Json(
        leasing::heartbeat(&state.db, &state.queue, &caller.name, id, &beat).await?,
    ))
}

async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(report): Json<JobReport>,
) -> ApiResult<axum::Json<Job>> {
    caller.require(Permission::Work)?;
    Ok(axum::Json(
        leasing::report(&state.db, &state.queue, &caller.name, id, &report).await?,
    ))
}

async fn ship_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(batch): Json<ShipLogs>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    caller.require(Permission::Work)?;
    let stored = logs::ship(&state.db, &caller.name, id, &batch).await?;
    Ok(axum::Json(serde_json::json!({ "stored": stored })))
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    #[serde(default)]
    after: i64,
    limit: Option<u32>,
}

async fn read_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(query): Query<LogsQuery>,
) -> ApiResult<axum::Json<JobLogs>> {
    caller.require(Permission::Read)?;
    let limit = query.limit.unwrap_or(1000);
    Ok(axum::Json(
        logs::read(&state.db, id, query.after, limit).await?,
    ))
}

async fn drain(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Worker>> {
    caller.require(Permission::Operate)?;
    Ok(axum::Json(
        workers::drain(
            &state.db,
            &state.queue,
            &caller.name,
            &name,
            reason.as_deref(),
        )
        .await?,
    ))
}
