//! `/api/v1/schedules`: cron schedules and their firings.

use super::error::ApiResult;
use super::extract::{Json, Path, Query, Reason};
use crate::auth::{Caller, Permission};
// Creating, changing or firing a schedule submits its job, so it needs what submitting needs.
use super::jobs::require_submit;
use crate::schedules;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use slipway_api::{CreateSchedule, Firing, Schedule};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/schedules", get(list).post(create))
        .route("/schedules/{name}", get(show).delete(delete))
        .route("/schedules/{name}/pause", post(pause))
        .route("/schedules/{name}/resume", post(resume))
        .route("/schedules/{name}/trigger", post(trigger))
        .route("/schedules/{name}/firings", get(firings))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateSchedule>,
) -> ApiResult<(StatusCode, axum::Json<Schedule>)> {
    require_submit(&caller, request.job.spec.kind())?;
    let schedule = schedules::create(&state.db, &caller.name, &request).await?;
    Ok((StatusCode::CREATED, axum::Json(schedule)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<Schedule>>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(schedules::list(&state.db).await?))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Schedule>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(schedules::get(&state.db, &name).await?))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    may_change(&state, &caller, &name).await?;
    schedules::delete(&state.db, &caller.name, &name, reason.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The schedule `name`, when the caller may change, pause, resume, trigger or delete it:
/// each submits (or stops submitting) its job, so each needs what submitting that job needs.
/// The dashboard's schedule actions check the same.
pub(super) async fn may_change(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> ApiResult<Schedule> {
    let schedule = schedules::get(&state.db, name).await?;
    require_submit(caller, schedule.job.spec.kind())?;
    Ok(schedule)
}

async fn set_paused(
    state: &AppState,
    caller: &Caller,
    (name, reason): (&str, &Reason),
    paused: bool,
) -> ApiResult<axum::Json<Schedule>> {
    may_change(state, caller, name).await?;
    let changed =
        schedules::set_paused(&state.db, &caller.name, name, paused, reason.as_deref()).await?;
    Ok(axum::Json(changed))
}

async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Schedule>> {
    set_paused(&state, &caller, (&name, &reason), true).await
}

async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Schedule>> {
    set_paused(&state, &caller, (&name, &reason), false).await
}

async fn trigger(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    may_change(&state, &caller, &name).await?;
    let job = schedules::trigger(
        &state.db,
        &state.queue,
        &caller.name,
        (&name, reason.as_deref()),
        schedules::MANUAL,
    )
    .await?;
    Ok(axum::Json(serde_json::json!({ "job_id": job })))
}

#[derive(Debug, Deserialize)]
struct FiringsQuery {
    limit: Option<u64>,
}

async fn firings(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<FiringsQuery>,
) -> ApiResult<axum::Json<Vec<Firing>>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(
        schedules::history(&state.db, &name, query.limit.unwrap_or(100)).await?,
    ))
}
