//! `/api/v1/experiments`.

use super::error::ApiResult;
use super::extract::{Json, Path, Query};
use crate::auth::{Caller, Permission};
use crate::state::AppState;
use crate::tracking::experiments;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use slipway_api::{CreateExperiment, Experiment, Page, PageRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/experiments", get(list).post(create))
        .route("/experiments/{id_or_name}", get(show))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateExperiment>,
) -> ApiResult<(StatusCode, axum::Json<Experiment>)> {
    caller.require(Permission::Track)?;
    let experiment = experiments::create(&state.db, &caller.name, &request).await?;
    Ok((StatusCode::CREATED, axum::Json(experiment)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Experiment>>> {
    caller.require(Permission::Read)?;
    let page = experiments::list(&state.db, page.limit, page.page_token.as_deref()).await?;
    Ok(axum::Json(page))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id_or_name): Path<String>,
) -> ApiResult<axum::Json<Experiment>> {
    caller.require(Permission::Read)?;
    let row = experiments::get(&state.db, &id_or_name).await?;
    Ok(axum::Json(experiments::to_api(row)))
}
