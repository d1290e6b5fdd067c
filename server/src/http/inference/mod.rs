//! The Open Inference Protocol (v2) under `/v2`, so existing OIP clients (KServe's, Triton's)
//! call deployed models unchanged: server metadata and health, model metadata and readiness
//! per deployment or per served version, and `infer` in JSON or with the binary tensor data
//! extension. Every error under `/v2` reads `{"error": "message"}` ([`errors`]).

mod answer;
mod body;
pub mod errors;

pub(crate) use answer::InferAnswer;
pub(crate) use body::{InferBody, MaxBody};

use super::error::{ApiResult, AppError};
use super::extract::Path;
use super::throttle::PredictQuota;
use crate::auth::{Caller, Permission};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};
use slipway_api::{ErrorCode, ModelMetadata, ServerMetadata};

/// The routes that need a caller (mounted behind authentication).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(version_metadata),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(version_ready),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(version_infer),
        )
}

/// The health probes, open like `/healthz` and `/readyz`.
pub fn health() -> Router<AppState> {
    Router::new()
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
}

async fn live() -> axum::Json<Value> {
    axum::Json(json!({ "live": true }))
}

async fn ready(State(state): State<AppState>) -> ApiResult<axum::Json<Value>> {
    crate::db::readiness(&state.db)
        .await
        .map_err(|reason| AppError::new(ErrorCode::Unavailable, reason))?;
    Ok(axum::Json(json!({ "ready": true })))
}

/// `GET /v2`: the same on the server and on a serving replica.
pub(crate) async fn server_metadata(caller: Caller) -> ApiResult<axum::Json<ServerMetadata>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(ServerMetadata {
        name: "slipway".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        extensions: vec!["binary_tensor_data".to_owned()],
    }))
}

/// A version in a path: a number.
pub(crate) fn version_number(text: &str) -> Result<u32, AppError> {
    text.parse().map_err(|_| {
        AppError::new(
            ErrorCode::InvalidArgument,
            format!("version: expected a version number, got '{text}'"),
        )
    })
}

async fn model_metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<ModelMetadata>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(state.serving.model_metadata(&name, None).await?))
}

async fn version_metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<axum::Json<ModelMetadata>> {
    caller.require(Permission::Read)?;
    let version = version_number(&version)?;
    Ok(axum::Json(
        state.serving.model_metadata(&name, Some(version)).await?,
    ))
}

async fn model_ready(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    state.serving.model_ready(&name, None).await?;
    Ok(axum::Json(json!({ "name": name, "ready": true })))
}

async fn version_ready(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let number = version_number(&version)?;
    state.serving.model_ready(&name, Some(number)).await?;
    Ok(axum::Json(
        json!({ "name": name, "version": version, "ready": true }),
    ))
}

async fn infer(
    State(state): State<AppState>,
    caller: Caller,
    _quota: PredictQuota,
    Path(name): Path<String>,
    body: InferBody,
) -> ApiResult<InferAnswer> {
    caller.require(Permission::Read)?;
    let response = state
        .serving
        .infer(&name, None, &body.request, &body.binary, &caller.name)
        .await?;
    Ok(InferAnswer::new(response, body.binary_outputs))
}

async fn version_infer(
    State(state): State<AppState>,
    caller: Caller,
    _quota: PredictQuota,
    Path((name, version)): Path<(String, String)>,
    body: InferBody,
) -> ApiResult<InferAnswer> {
    caller.require(Permission::Read)?;
    let version = version_number(&version)?;
    let response = state
        .serving
        .infer(
            &name,
            Some(version),
            &body.request,
            &body.binary,
            &caller.name,
        )
        .await?;
    Ok(InferAnswer::new(response, body.binary_outputs))
}

#[cfg(test)]
mod tests;
