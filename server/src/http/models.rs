//! `/api/v1/models`: the model registry, and the import of ONNX models.

use super::error::ApiResult;
use super::extract::{Json, Path, Query, Reason};
use crate::auth::{Caller, Permission};
use crate::registry::{self, Selector};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use slipway_api::{ImportModel, ModelVersion, RegisterModel, RegisteredModel, SetAlias};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/models", get(list))
        .route("/models/{name}", get(show))
        .route("/models/{name}/versions", get(versions).post(register))
        .route(
            "/models/{name}/import",
            // The file streams to disk under the artifact size limit, not the body limit.
            post(import).layer(DefaultBodyLimit::disable()),
        )
        .route("/models/{name}/versions/{selector}", get(version))
        .route("/models/{name}/versions/{selector}/files/{file}", get(file))
        .route(
            "/models/{name}/aliases/{alias}",
            get(alias).put(set_alias).delete(delete_alias),
        )
}

async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(request): Json<RegisterModel>,
) -> ApiResult<(StatusCode, axum::Json<ModelVersion>)> {
    caller.require(Permission::Track)?;
    let version =
        registry::register(&state.db, &state.blobs, &caller.name, &name, &request).await?;
    Ok((StatusCode::CREATED, axum::Json(version)))
}

async fn import(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path(name): Path<String>,
    Query(request): Query<ImportModel>,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<ModelVersion>)> {
    caller.require(Permission::Track)?;
    let who = crate::model_import::Importer {
        actor: &caller.name,
        reason: reason.as_deref(),
    };
    let version = crate::model_import::import(
        &state.db,
        &state.blobs,
        who,
        &name,
        &request,
        body.into_data_stream(),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(version)))
}

/// A version's stored files, for workers that load it (an `evaluate` job): `model.json`, and
/// `model` (the weights, or the `.onnx` file of an imported version).
async fn file(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, selector, file)): Path<(String, String, String)>,
) -> ApiResult<axum::response::Response> {
    caller.require(Permission::Read)?;
    let row = registry::find_version(&state.db, &name, &Selector::parse(&selector)).await?;
    let (digest, media) = match file.as_str() {
        "model.json" => (&row.manifest_digest, "application/json"),
        "model" => (&row.artifact_digest, "application/octet-stream"),
        other => {
            return Err(crate::error::ServiceError::not_found(format!(
                "file: a version has model.json and model, not '{other}'"
            ))
            .into());
        }
    };
    // Streamed: an imported ONNX file may be large, and with a bucket it is never read whole.
    let (reader, size) = state.blobs.open_blob(digest).await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
    let headers = [
        (axum::http::header::CONTENT_TYPE, media.to_owned()),
        (axum::http::header::CONTENT_LENGTH, size.to_string()),
    ];
    Ok(axum::response::IntoResponse::into_response((headers, body)))
}

#[derive(Debug, serde::Deserialize)]
struct ListQuery {
    /// Only models whose name contains this.
    search: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<Vec<RegisteredModel>>> {
    caller.require(Permission::Read)?;
    let models = registry::search(&state.db, query.search.as_deref()).await?;
    Ok(axum::Json(models))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<RegisteredModel>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(registry::get(&state.db, &name).await?))
}

async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Vec<ModelVersion>>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(registry::versions(&state.db, &name).await?))
}

async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, selector)): Path<(String, String)>,
) -> ApiResult<axum::Json<ModelVersion>> {
    caller.require(Permission::Read)?;
    let selector = Selector::parse(&selector);
    Ok(axum::Json(
        registry::version(&state.db, &name, &selector).await?,
    ))
}

async fn alias(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<axum::Json<ModelVersion>> {
    caller.require(Permission::Read)?;
    let selector = Selector::Alias(alias);
    Ok(axum::Json(
        registry::version(&state.db, &name, &selector).await?,
    ))
}

async fn set_alias(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path((name, alias)): Path<(String, String)>,
    Json(request): Json<SetAlias>,
) -> ApiResult<axum::Json<ModelVersion>> {
    let version = registry::set_alias(
        &state.db,
        &caller,
        &state.config.registry.protected_aliases,
        (&name, &alias),
        request.version,
        reason.as_deref(),
    )
    .await?;
    Ok(axum::Json(version))
}

async fn delete_alias(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    registry::delete_alias(
        &state.db,
        &caller,
        &state.config.registry.protected_aliases,
        (&name, &alias),
        reason.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
