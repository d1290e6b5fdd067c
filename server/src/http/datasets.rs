//! `/api/v1/datasets`.

use super::error::ApiResult;
use super::extract::{Path, Query};
use crate::auth::{Caller, Permission};
use crate::datasets;
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use slipway_api::{DatasetVersion, UploadOptions, UploadedDataset};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/datasets", get(list))
        .route(
            "/datasets/{name}",
            get(versions)
                .post(upload)
                // Uploads stream to disk under the artifact size limit, not the body limit.
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/datasets/{name}/versions/{version}/content", get(content))
}

async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(options): Query<UploadOptions>,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<UploadedDataset>)> {
    caller.require(Permission::Track)?;
    let uploaded = datasets::upload(
        &state.db,
        &state.blobs,
        &caller.name,
        &name,
        &options,
        body.into_data_stream(),
    )
    .await?;
    let status = if uploaded.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(uploaded)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<DatasetVersion>>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(datasets::list(&state.db).await?))
}

async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Vec<DatasetVersion>>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(datasets::versions(&state.db, &name).await?))
}

async fn content(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, u32)>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let (file, size, content_type) =
        datasets::content(&state.db, &state.blobs, &name, version).await?;
    // Streamed, so a large dataset never has to fit in memory.
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let headers = [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CONTENT_LENGTH, size.to_string()),
    ];
    Ok((headers, body).into_response())
}
