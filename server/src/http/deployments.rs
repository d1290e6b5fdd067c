//! `/api/v1/deployments`: deploy, promote, rollback, revisions, the shadow's record, and
//! predictions.

use super::delegation::acting_for;
use super::error::ApiResult;
use super::extract::{Json, Path, Reason};
use super::throttle::PredictQuota;
use crate::auth::{Caller, Permission};
use crate::queue::delegation::DeploymentChange;
use crate::serving::deployments::{self, Requested};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use slipway_api::{
    ChangeRequest, DeployRequest, Deployment, DeploymentRevision, PredictRequest, PredictResponse,
    ShadowComparison,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deployments", get(list))
        .route("/deployments/{name}", get(show).put(deploy))
        .route("/deployments/{name}/promote", post(promote))
        .route("/deployments/{name}/rollback", post(rollback))
        .route("/deployments/{name}/revisions", get(revisions))
        .route("/deployments/{name}/shadow", get(shadow))
        .route("/deployments/{name}/predict", post(predict))
}

/// Who makes a change: a worker running a `deploy` or `pipeline` job acts for the engineer who
/// submitted it, within the job's spec (recorded as `alice (job 12, worker gpu-box)`); anyone
/// else must be an engineer or admin.
async fn actor(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    name: &str,
    change: DeploymentChange,
) -> ApiResult<String> {
    if let Some(delegation) = acting_for(state, caller, headers).await? {
        delegation.allows_deployment(name, change)?;
        return Ok(delegation.actor());
    }
    caller.require(Permission::Operate)?;
    Ok(caller.name.clone())
}

async fn change(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    reason: &Reason,
    name: &str,
    requested: Requested,
) -> ApiResult<axum::Json<Deployment>> {
    let actor = actor(state, caller, headers, name, (&requested).into()).await?;
    let deployment =
        deployments::change(&state.serving, &actor, name, &requested, reason.as_deref()).await?;
    Ok(axum::Json(deployment))
}

async fn deploy(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    reason: Reason,
    Path(name): Path<String>,
    Json(request): Json<DeployRequest>,
) -> ApiResult<axum::Json<Deployment>> {
    change(
        &state,
        &caller,
        &headers,
        &reason,
        &name,
        Requested::Deploy(request),
    )
    .await
}

async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    reason: Reason,
    Path(name): Path<String>,
    Json(request): Json<ChangeRequest>,
) -> ApiResult<axum::Json<Deployment>> {
    change(
        &state,
        &caller,
        &headers,
        &reason,
        &name,
        Requested::Promote(request),
    )
    .await
}

async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    reason: Reason,
    Path(name): Path<String>,
    Json(request): Json<ChangeRequest>,
) -> ApiResult<axum::Json<Deployment>> {
    change(
        &state,
        &caller,
        &headers,
        &reason,
        &name,
        Requested::Rollback(request),
    )
    .await
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<Deployment>>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(deployments::list(&state.serving).await?))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Deployment>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(deployments::get(&state.serving, &name).await?))
}

async fn revisions(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Vec<DeploymentRevision>>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(
        deployments::revisions(&state.serving, &name).await?,
    ))
}

async fn shadow(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Vec<ShadowComparison>>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(
        deployments::shadow(&state.serving, &name).await?,
    ))
}

async fn predict(
    State(state): State<AppState>,
    caller: Caller,
    _quota: PredictQuota,
    Path(name): Path<String>,
    Json(request): Json<PredictRequest>,
) -> ApiResult<axum::Json<PredictResponse>> {
    caller.require(Permission::Read)?;
    let answer = state
        .serving
        .predict(
            &name,
            &request.instances,
            request.key.as_deref(),
            &caller.name,
        )
        .await?;
    Ok(axum::Json(answer))
}
