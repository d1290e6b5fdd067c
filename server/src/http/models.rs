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
