//! The Open Inference Protocol (v2) under `/v2`, so existing OIP clients can call deployed
//! models: server and model readiness, model metadata, and `infer`.

use super::error::{ApiResult, AppError};
use super::extract::{Json, Path};
use super::throttle::PredictQuota;
use crate::auth::{Caller, Permission};
use crate::serving::deployments;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};
use slipway_api::{ErrorCode, InferRequest, InferResponse};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
}

async fn server_metadata(caller: Caller) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(json!({
        "name": "slipway",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": [],
    })))
}

async fn model_metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let live = state.serving.serving(&name).await?;
    let manifest = live.primary.engine.manifest();
    let outputs = if manifest.task == "regression" {
        json!([{ "name": "value", "datatype": "FP64", "shape": [-1] }])
    } else {
        json!([
            { "name": "label", "datatype": "BYTES", "shape": [-1] },
            { "name": "probabilities", "datatype": "FP64", "shape": [-1, manifest.labels.len()] },
        ])
    };
    Ok(axum::Json(json!({
        "name": name,
        "versions": [live.primary.version.to_string()],
        "platform": "slipway-candle",
        "inputs": [{
            "name": "input-0",
            "datatype": "FP32",
            "shape": [-1, manifest.features.len()],
            "parameters": { "features": manifest.features },
        }],
        "outputs": outputs,
    })))
}

async fn model_ready(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let deployment = deployments::get(&state.serving, &name).await?;
    if !deployment.ready {
        return Err(AppError::new(
            ErrorCode::Unavailable,
            format!("model '{name}' is not ready"),
        ));
    }
    Ok(axum::Json(json!({ "name": name, "ready": true })))
}

async fn infer(
    State(state): State<AppState>,
    caller: Caller,
    _quota: PredictQuota,
    Path(name): Path<String>,
    Json(request): Json<InferRequest>,
) -> ApiResult<axum::Json<InferResponse>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(
        state.serving.infer(&name, &request, &caller.name).await?,
    ))
}
