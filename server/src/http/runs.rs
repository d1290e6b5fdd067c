//! `/api/v1/runs`: runs, logging, metric history and artifacts.

use super::error::ApiResult;
use super::extract::{Json, Path, Query};
use super::throttle::SearchQuota;
use crate::auth::{Caller, Permission};
use crate::state::AppState;
use crate::tracking::{artifacts, history, runs, search};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use slipway_api::{
    Artifact, CreateRun, LogBatch, LogBatchResult, MetricHistory, MetricHistoryQuery, Page, Run,
    RunDetail, SearchRuns, UpdateRun,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/runs", get(list).post(create))
        .route("/runs/search", post(search))
        .route("/runs/{id}", get(show).patch(update))
        .route("/runs/{id}/log-batch", post(log_batch))
        .route("/runs/{id}/metrics", get(metric_history))
        .route("/runs/{id}/artifacts", get(list_artifacts))
        .route(
            "/runs/{id}/artifacts/{*path}",
            get(download_artifact)
                .put(upload_artifact)
                // Artifacts stream to disk under their own, larger limit.
                .layer(DefaultBodyLimit::disable()),
        )
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateRun>,
) -> ApiResult<(StatusCode, axum::Json<Run>)> {
    caller.require(Permission::Track)?;
    let run = runs::create(&state.db, &caller.name, &request).await?;
    Ok((StatusCode::CREATED, axum::Json(run)))
}

/// The query of `GET /runs`: a search whose `order_by` keys are separated by commas.
#[derive(Debug, Deserialize)]
struct ListQuery {
    experiment_id: Option<i64>,
    filter: Option<String>,
    order_by: Option<String>,
    limit: Option<u32>,
    page_token: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    _quota: SearchQuota,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<Page<Run>>> {
    caller.require(Permission::Read)?;
    let request = SearchRuns {
        experiment_ids: query.experiment_id.into_iter().collect(),
        filter: query.filter,
        order_by: query
            .order_by
            .map(|text| text.split(',').map(|key| key.trim().to_owned()).collect())
            .unwrap_or_default(),
        limit: query.limit,
        page_token: query.page_token,
    };
    Ok(axum::Json(search::search(&state.searches, &request).await?))
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    _quota: SearchQuota,
    Json(request): Json<SearchRuns>,
) -> ApiResult<axum::Json<Page<Run>>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(search::search(&state.searches, &request).await?))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<RunDetail>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(runs::get(&state.db, id).await?))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(request): Json<UpdateRun>,
) -> ApiResult<axum::Json<Run>> {
    caller.require(Permission::Track)?;
    Ok(axum::Json(
        runs::update(&state.db, &caller.name, id, &request).await?,
    ))
}

async fn log_batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(batch): Json<LogBatch>,
) -> ApiResult<axum::Json<LogBatchResult>> {
    caller.require(Permission::Track)?;
    Ok(axum::Json(state.log_writer.log(id, batch).await?))
}

async fn metric_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(query): Query<MetricHistoryQuery>,
) -> ApiResult<axum::Json<MetricHistory>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(history::history(&state.db, id, &query).await?))
}

async fn list_artifacts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Vec<Artifact>>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(artifacts::list(&state.db, id).await?))
}

async fn upload_artifact(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, path)): Path<(i64, String)>,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<Artifact>)> {
    caller.require(Permission::Track)?;
    let stream = body.into_data_stream();
    let artifact =
        artifacts::upload(&state.blobs, &state.db, &caller.name, id, &path, stream).await?;
    Ok((StatusCode::CREATED, axum::Json(artifact)))
}

async fn download_artifact(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, path)): Path<(i64, String)>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let (artifact, file) = artifacts::open(&state.blobs, &state.db, id, &path).await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, artifact.size.to_string()),
            (header::ETAG, format!("\"sha256:{}\"", artifact.digest)),
        ],
        body,
    )
        .into_response();
    Ok(response)
}
