//! `/api/v1/admin`: maintenance for admins, reachable from a remote `slipway` client.

use super::error::ApiResult;
use super::extract::Json;
use crate::auth::{Caller, Permission};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use slipway_api::{GcReport, GcRequest};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/gc", post(gc))
}

async fn gc(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<GcRequest>,
) -> ApiResult<axum::Json<GcReport>> {
    caller.require(Permission::Admin)?;
    let report = crate::gc::collect(
        &state.db,
        &state.blobs,
        &caller.name,
        request.dry_run,
        crate::gc::GRACE,
    )
    .await?;
    Ok(axum::Json(report))
}
