//! Monitoring over HTTP: `/api/v1/deployments/{name}/metrics|drift|drift/hours|slo`, `/api/v1/alerts`,
//! `POST /api/v1/replicas/reports` (a serving replica's measurements), and `GET /metrics`
//! (Prometheus) at the root.

use super::error::ApiResult;
use super::extract::{Json, Path, Query, Reason};
use crate::auth::{Caller, Permission};
use crate::monitoring::{alerts, prometheus};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::Deserialize;
use slipway_api::{
    Alert, DeploymentMetrics, DriftDetail, DriftHours, MinuteMetrics, ReplicaReport,
    ReportReceived, SloPolicy,
};

/// Routes under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deployments/{name}/metrics", get(metrics))
        .route("/deployments/{name}/metrics/history", get(history))
        .route("/deployments/{name}/drift", get(drift))
        .route("/deployments/{name}/drift/hours", get(drift_hours))
        .route("/deployments/{name}/slo", get(policy).put(set_policy))
        .route("/alerts", get(list_alerts))
        .route("/alerts/{id}/ack", post(acknowledge))
        .route("/replicas/reports", post(replica_report))
}

/// A serving replica's report. Its token must be able to write (worker, engineer or admin):
/// a viewer could otherwise fake traffic and make a guard roll a version back.
async fn replica_report(
    State(state): State<AppState>,
    caller: Caller,
    Json(report): Json<ReplicaReport>,
) -> ApiResult<axum::Json<ReportReceived>> {
    caller.require(Permission::Track)?;
    if caller.run_scope.is_some() {
        return Err(crate::error::ServiceError::PermissionDenied(
            "a run's token cannot report a serving replica's metrics".into(),
        )
        .into());
    }
    Ok(axum::Json(state.monitoring.receive_report(report).await?))
}

/// `GET /metrics` at the root, where Prometheus looks.
pub fn exposition() -> Router<AppState> {
    Router::new().route("/metrics", get(exposition_text))
}

async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<DeploymentMetrics>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(state.monitoring.metrics(&name).await?))
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    minutes: Option<u32>,
}

async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> ApiResult<axum::Json<Vec<MinuteMetrics>>> {
    caller.require(Permission::Read)?;
    let minutes = query.minutes.unwrap_or(60);
    Ok(axum::Json(state.monitoring.history(&name, minutes).await?))
}

async fn drift(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<DriftDetail>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(state.monitoring.drift_detail(&name).await?))
}

#[derive(Debug, Deserialize)]
struct HoursQuery {
    hours: Option<u32>,
}

async fn drift_hours(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<HoursQuery>,
) -> ApiResult<axum::Json<DriftHours>> {
    caller.require(Permission::Read)?;
    let hours = query.hours.unwrap_or(24);
    Ok(axum::Json(
        state.monitoring.drift_hours(&name, hours).await?,
    ))
}

async fn policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<SloPolicy>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(state.monitoring.policy(&name).await?))
}

async fn set_policy(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path(name): Path<String>,
    Json(policy): Json<SloPolicy>,
) -> ApiResult<axum::Json<SloPolicy>> {
    caller.require(Permission::Operate)?;
    let policy = state
        .monitoring
        .set_policy(&caller.name, &name, &policy, reason.as_deref())
        .await?;
    Ok(axum::Json(policy))
}

#[derive(Debug, Deserialize)]
struct AlertQuery {
    deployment: Option<String>,
    /// Only unacknowledged alerts (default true).
    open: Option<bool>,
    limit: Option<u64>,
}

async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AlertQuery>,
) -> ApiResult<axum::Json<Vec<Alert>>> {
    caller.require(Permission::Read)?;
    let found = alerts::list(
        &state.db,
        query.deployment.as_deref(),
        query.open.unwrap_or(true),
        query.limit.unwrap_or(100),
    )
    .await?;
    Ok(axum::Json(found))
}

async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Alert>> {
    caller.require(Permission::Operate)?;
    let alert = alerts::acknowledge(
        &state.db,
        &state.events,
        &caller.name,
        id,
        reason.as_deref(),
    )
    .await?;
    Ok(axum::Json(alert))
}

async fn exposition_text(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<([(axum::http::header::HeaderName, &'static str); 1], String)> {
    caller.require(Permission::Read)?;
    let totals = state.serving.monitor().totals();
    let mut text = prometheus::render(&state.db, &totals).await?;
    prometheus::leader(
        &mut text,
        crate::cluster::leader::MAINTENANCE,
        state.leadership.is_leader(),
    );
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}
