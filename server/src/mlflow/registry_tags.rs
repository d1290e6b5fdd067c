//! `/api/2.0/mlflow/registered-models/set-tag`, `delete-tag` and `/model-versions/set-tag`,
//! `delete-tag`: tags of registered models and versions on Slipway's registry (see
//! `registry_tags`). `registry` returns them with each model and version.

use super::wire;
use crate::auth::{Caller, Permission};
use crate::error::{ServiceError, ServiceResult};
use crate::http::ApiResult;
use crate::http::extract::Json;
use crate::registry::{self, Selector};
use crate::registry_tags::{self, Owner};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing::{delete, post};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/registered-models/set-tag", post(set_model_tag))
        .route("/registered-models/delete-tag", delete(delete_model_tag))
        .route("/model-versions/set-tag", post(set_version_tag))
        .route("/model-versions/delete-tag", delete(delete_version_tag))
}

/// The tags as MLflow writes them: `[{"key": …, "value": …}]`.
fn tags_json(tags: Vec<(String, String)>) -> Vec<wire::KeyValue> {
    tags.into_iter()
        .map(|(key, value)| wire::KeyValue { key, value })
        .collect()
}

/// The tags of registered model `name`, by key.
pub async fn pairs_of_model(state: &AppState, name: &str) -> ServiceResult<Vec<(String, String)>> {
    let model = registry::find_model(&state.db, name).await?;
    registry_tags::of(&state.db, Owner::Model(model.id)).await
}

/// The tags of version `version` of `name`, by key.
pub async fn pairs_of_version(
    state: &AppState,
    name: &str,
    version: u32,
) -> ServiceResult<Vec<(String, String)>> {
    let row = registry::find_version(&state.db, name, &Selector::Number(version)).await?;
    registry_tags::of(&state.db, Owner::Version(row.id)).await
}

/// The tags of registered model `name`, as MLflow writes them.
pub async fn of_model(state: &AppState, name: &str) -> ServiceResult<Vec<wire::KeyValue>> {
    Ok(tags_json(pairs_of_model(state, name).await?))
}

/// The tags of version `version` of `name`, as MLflow writes them.
pub async fn of_version(
    state: &AppState,
    name: &str,
    version: u32,
) -> ServiceResult<Vec<wire::KeyValue>> {
    Ok(tags_json(pairs_of_version(state, name, version).await?))
}

fn version_number(text: &str) -> ServiceResult<u32> {
    text.trim().parse::<u32>().map_err(|_| {
        ServiceError::invalid(format!(
            "version: expected a version number such as '1', got '{text}'"
        ))
    })
}

#[derive(Debug, Deserialize)]
struct ModelTag {
    name: String,
    key: String,
    #[serde(default)]
    value: String,
}

async fn set_model_tag(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<ModelTag>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let model = registry::find_model(&state.db, &request.name).await?;
    registry_tags::set(
        &state.db,
        Owner::Model(model.id),
        &request.key,
        &request.value,
    )
    .await?;
    Ok(axum::Json(json!({})))
}

async fn delete_model_tag(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<ModelTag>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let model = registry::find_model(&state.db, &request.name).await?;
    registry_tags::delete(&state.db, Owner::Model(model.id), &request.key).await?;
    Ok(axum::Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct VersionTag {
    name: String,
    version: String,
    key: String,
    #[serde(default)]
    value: String,
}

async fn version_owner(state: &AppState, request: &VersionTag) -> ServiceResult<Owner> {
    let number = version_number(&request.version)?;
    let row = registry::find_version(&state.db, &request.name, &Selector::Number(number)).await?;
    Ok(Owner::Version(row.id))
}

async fn set_version_tag(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<VersionTag>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let owner = version_owner(&state, &request).await?;
    registry_tags::set(&state.db, owner, &request.key, &request.value).await?;
    Ok(axum::Json(json!({})))
}

async fn delete_version_tag(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<VersionTag>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let owner = version_owner(&state, &request).await?;
    registry_tags::delete(&state.db, owner, &request.key).await?;
    Ok(axum::Json(json!({})))
}
