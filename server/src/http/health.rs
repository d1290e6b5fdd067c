//! `/healthz` (the process is alive) and `/readyz` (the database answers and is migrated, and
//! every deployment's live revision is loaded, so predictions will be answered).

use super::error::{ApiResult, AppError};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use slipway_api::{ErrorCode, Health};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        version: Some(env!("CARGO_PKG_VERSION").to_owned()),
    })
}

async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    let not_ready = |reason: String| {
        tracing::warn!(%reason, "not ready");
        AppError::new(ErrorCode::Unavailable, reason)
    };
    crate::db::readiness(&state.db).await.map_err(not_ready)?;
    state.serving.readiness().await?.map_err(not_ready)?;
    Ok(Json(Health {
        status: "ready".to_owned(),
        version: None,
    }))
}
