//! `/api/2.0/mlflow/registered-models/*` and `/model-versions/*`: MLflow's model registry on
//! Slipway's. Versions are numbers written as strings; every version is `READY`, in the stage
//! `stages` moves it to (`None` until then). Aliases go through `registry::set_alias`, so
//! protected ones (`champion`) need an engineer's token, and are audited; the reason recorded
//! is the `x-slipway-reason` header when the caller sends one.

use super::wire;
use crate::auth::{Caller, Permission};
use crate::error::{ServiceError, ServiceResult};
use crate::http::ApiResult;
use crate::http::extract::{Json, Query, Reason};
use crate::pagination;
use crate::registry::{self, Selector};
use crate::registry_changes;
use crate::state::AppState;
use crate::time::to_millis;
use crate::tracking::runs;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use slipway_api::{ModelVersion, RegisteredModel};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/registered-models/create", post(create_model))
        .route("/registered-models/get", get(show_model))
        .route("/registered-models/search", get(search_models))
        .route("/registered-models/rename", post(rename_model))
        .route(
            "/registered-models/update",
            axum::routing::patch(update_model),
        )
        .route(
            "/registered-models/delete",
            axum::routing::delete(delete_model),
        )
        .route(
            "/registered-models/alias",
            get(show_alias).post(set_alias).delete(delete_alias),
        )
        .route("/model-versions/create", post(create_version))
        .route("/model-versions/get", get(show_version))
        .route("/model-versions/search", get(search_versions))
        .route(
            "/model-versions/update",
            axum::routing::patch(update_version),
        )
        .route(
            "/model-versions/delete",
            axum::routing::delete(delete_version),
        )
        .route("/model-versions/get-download-uri", get(download_uri))
}

/// A version number as MLflow writes it.
pub(super) fn version_number(text: &str) -> ServiceResult<u32> {
    text.trim().parse::<u32>().map_err(|_| {
        ServiceError::invalid(format!(
            "version: expected a version number such as '1', got '{text}'"
        ))
    })
}

/// The MLflow form of a version: `source` is the artifact URI of the directory it was
/// registered from.
pub(super) async fn version_json(state: &AppState, version: &ModelVersion) -> ServiceResult<Value> {
    let source = match version.run_id {
        Some(run_id) => {
            let run = runs::find(&state.db, run_id).await?;
            let path = registry_changes::sources(&state.db, &version.model)
                .await?
                .remove(&version.version)
                .unwrap_or_default();
            let root = wire::artifact_uri(run.experiment_id, run_id);
            if path.is_empty() {
                root
            } else {
                format!("{root}/{path}")
            }
        }
        None => String::new(),
    };
    let created = to_millis(version.created_at);
    Ok(json!({
        "name": version.model,
        "version": version.version.to_string(),
        "creation_timestamp": created,
        "last_updated_timestamp": created,
        "user_id": version.created_by,
        "current_stage": crate::registry_stages::stage_of(&state.db, &version.model, version.version).await?,
        "description": version.description.clone().unwrap_or_default(),
        "source": source,
        "run_id": version.run_id.map(|id| id.to_string()).unwrap_or_default(),
        "status": "READY",
        "aliases": version.aliases,
        "tags": super::registry_tags::of_version(state, &version.model, version.version).await?,
    }))
}

async fn model_json(state: &AppState, model: &RegisteredModel) -> ServiceResult<Value> {
    let mut latest = Vec::new();
    if let Some(number) = model.latest_version {
        let version = registry::version(&state.db, &model.name, &Selector::Number(number)).await?;
        latest.push(version_json(state, &version).await?);
    }
    let aliases: Vec<Value> = model
        .aliases
        .iter()
        .map(|(alias, version)| json!({ "alias": alias, "version": version.to_string() }))
        .collect();
    Ok(json!({
        "name": model.name,
        "creation_timestamp": to_millis(model.created_at),
        "last_updated_timestamp": to_millis(model.updated_at),
        "description": model.description.clone().unwrap_or_default(),
        "latest_versions": latest,
        "aliases": aliases,
        "tags": super::registry_tags::of_model(state, &model.name).await?,
    }))
}

#[derive(Debug, Deserialize)]
struct CreateModelRequest {
    name: String,
    description: Option<String>,
}

async fn create_model(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateModelRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let model =
        registry_changes::create_model(&state.db, &caller.name, &request.name, request.description)
            .await?;
    Ok(axum::Json(
        json!({ "registered_model": model_json(&state, &model).await? }),
    ))
}

#[derive(Debug, Deserialize)]
struct NameRequest {
    name: String,
}

async fn show_model(
    State(state): State<AppState>,
    caller: Caller,
    Query(request): Query<NameRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let model = registry::get(&state.db, &request.name).await?;
    Ok(axum::Json(
        json!({ "registered_model": model_json(&state, &model).await? }),
    ))
}

/// A search's query: `filter`, `max_results`, `page_token` and repeated `order_by`.
#[derive(Debug, Default)]
struct SearchQuery {
    filter: String,
    max_results: usize,
    offset: usize,
    order_by: Vec<String>,
}

fn search_query(pairs: Vec<(String, String)>) -> ServiceResult<SearchQuery> {
    let mut query = SearchQuery {
        max_results: 100,
        ..SearchQuery::default()
    };
    for (name, value) in pairs {
        match name.as_str() {
            "filter" => query.filter = value,
            "max_results" => {
                query.max_results = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        ServiceError::invalid(format!(
                            "max_results: expected a number from 1 to 10000, got '{value}'"
                        ))
                    })?
            }
            "page_token" => {
                query.offset = pagination::decode_offset(Some(&value))? as usize;
            }
            "order_by" => query.order_by.push(value),
            _ => {}
        }
    }
    Ok(query)
}

/// A page of `items` from `query.offset`, with the token of the next when more remain.
fn page<T>(items: Vec<T>, query: &SearchQuery) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let end = query.offset.saturating_add(query.max_results);
    let page = items
        .into_iter()
        .skip(query.offset)
        .take(query.max_results)
        .collect();
    (
        page,
        (end < total).then(|| pagination::at_offset(end as u64)),
    )
}

fn descending(order_by: &[String]) -> bool {
    order_by
        .first()
        .is_some_and(|key| key.to_ascii_uppercase().ends_with(" DESC"))
}

async fn search_models(
    State(state): State<AppState>,
    caller: Caller,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let query = search_query(pairs)?;
    let clauses = super::names::parse(&query.filter, &["name"])?;
    let by_tag = clauses.iter().any(|c| c.is_tag());
    let mut models: Vec<RegisteredModel> = Vec::new();
    for model in registry::list(&state.db).await? {
        if !clauses.iter().all(|c| c.admits("name", &model.name)) {
            continue;
        }
        if by_tag {
            let tags = super::registry_tags::pairs_of_model(&state, &model.name).await?;
            if !clauses.iter().all(|c| c.admits_tags(&tags)) {
                continue;
            }
        }
        models.push(model);
    }
    if descending(&query.order_by) {
        models.reverse();
    }
    let (models, next) = page(models, &query);
    let mut out = Vec::with_capacity(models.len());
    for model in &models {
        out.push(model_json(&state, model).await?);
    }
    let mut answer = json!({ "registered_models": out });
    if let Some(token) = next {
        answer["next_page_token"] = json!(token);
    }
    Ok(axum::Json(answer))
}

#[derive(Debug, Deserialize)]
struct RenameRequest {
    name: String,
    new_name: String,
}

async fn rename_model(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<RenameRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Operate)?;
    let model =
        registry_changes::rename_model(&state.db, &caller.name, &request.name, &request.new_name)
            .await?;
    Ok(axum::Json(
        json!({ "registered_model": model_json(&state, &model).await? }),
    ))
}

#[derive(Debug, Deserialize)]
struct DescribeModelRequest {
    name: String,
    description: Option<String>,
}

async fn update_model(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<DescribeModelRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let model = registry_changes::describe_model(
        &state.db,
        &caller.name,
        &request.name,
        request.description,
    )
    .await?;
    Ok(axum::Json(
        json!({ "registered_model": model_json(&state, &model).await? }),
    ))
}

async fn delete_model(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<NameRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Operate)?;
    registry_changes::delete_model(&state.db, &caller.name, &request.name).await?;
    Ok(axum::Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct AliasRequest {
    name: String,
    alias: String,
    version: Option<String>,
}

async fn show_alias(
    State(state): State<AppState>,
    caller: Caller,
    Query(request): Query<AliasRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let version =
        registry::version(&state.db, &request.name, &Selector::Alias(request.alias)).await?;
    Ok(axum::Json(
        json!({ "model_version": version_json(&state, &version).await? }),
    ))
}

/// The reason recorded for an alias change: the caller's, else where it came from (MLflow's
/// clients cannot send one).
fn reason_of(reason: &Reason) -> String {
    reason
        .as_deref()
        .map_or_else(|| "set through the MLflow API".to_owned(), str::to_owned)
}

async fn set_alias(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Json(request): Json<AliasRequest>,
) -> ApiResult<axum::Json<Value>> {
    let version = version_number(request.version.as_deref().unwrap_or_default())?;
    registry::set_alias(
        &state.db,
        &caller,
        &state.config.registry.protected_aliases,
        (&request.name, &request.alias),
        version,
        Some(&reason_of(&reason)),
    )
    .await?;
    Ok(axum::Json(json!({})))
}

async fn delete_alias(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Json(request): Json<AliasRequest>,
) -> ApiResult<axum::Json<Value>> {
    registry::delete_alias(
        &state.db,
        &caller,
        &state.config.registry.protected_aliases,
        (&request.name, &request.alias),
        Some(&reason_of(&reason)),
    )
    .await?;
    Ok(axum::Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct CreateVersionRequest {
    name: String,
    source: String,
    run_id: Option<String>,
    description: Option<String>,
}

/// The run and run-relative path an MLflow source URI names: `runs:/<run>/<path>` or this
/// server's `mlflow-artifacts:/<experiment>/<run>/artifacts/<path>`.
fn parse_source(source: &str) -> ServiceResult<(i64, String)> {
    if let Some(rest) = source.strip_prefix("runs:/") {
        let rest = rest.trim_start_matches('/');
        let (run, path) = rest.split_once('/').unwrap_or((rest, ""));
        return Ok((
            wire::parse_id("run", run)?,
            path.trim_matches('/').to_owned(),
        ));
    }
    if let Some(rest) = source.strip_prefix("mlflow-artifacts:") {
        let segments: Vec<&str> = rest.trim_start_matches('/').splitn(4, '/').collect();
        if segments.len() >= 3 && segments[2] == "artifacts" {
            let path = segments.get(3).copied().unwrap_or_default();
            return Ok((
                wire::parse_id("run", segments[1])?,
                path.trim_matches('/').to_owned(),
            ));
        }
    }
    Err(ServiceError::invalid(format!(
        "source: expected a run's artifact URI (runs:/<run>/<path> or \
         mlflow-artifacts:/<experiment>/<run>/artifacts/<path>), got '{source}'"
    )))
}

async fn create_version(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateVersionRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let (source_run, path) = parse_source(&request.source)?;
    let run_id = match request.run_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => wire::parse_id("run", id)?,
        None => source_run,
    };
    if run_id != source_run {
        return Err(ServiceError::invalid(format!(
            "run_id: {run_id} is not the run of source '{}'",
            request.source
        ))
        .into());
    }
    let version = registry_changes::register_path(
        &state.db,
        &state.blobs,
        &caller.name,
        &request.name,
        (run_id, &path),
        request.description,
    )
    .await?;
    Ok(axum::Json(
        json!({ "model_version": version_json(&state, &version).await? }),
    ))
}

#[derive(Debug, Deserialize)]
struct VersionRequest {
    name: String,
    version: String,
    description: Option<String>,
}

async fn show_version(
    State(state): State<AppState>,
    caller: Caller,
    Query(request): Query<VersionRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let number = version_number(&request.version)?;
    let version = registry::version(&state.db, &request.name, &Selector::Number(number)).await?;
    Ok(axum::Json(
        json!({ "model_version": version_json(&state, &version).await? }),
    ))
}

async fn search_versions(
    State(state): State<AppState>,
    caller: Caller,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let query = search_query(pairs)?;
    let clauses = super::names::parse(&query.filter, &["name", "run_id"])?;
    let mut versions = Vec::new();
    for model in registry::list(&state.db).await? {
        let admits_model = clauses.iter().all(|c| c.admits("name", &model.name));
        if !admits_model {
            continue;
        }
        for version in registry::versions(&state.db, &model.name).await? {
            let run = version.run_id.map(|id| id.to_string()).unwrap_or_default();
            if !clauses.iter().all(|c| c.admits("run_id", &run)) {
                continue;
            }
            if clauses.iter().any(|c| c.is_tag()) {
                let tags =
                    super::registry_tags::pairs_of_version(&state, &model.name, version.version)
                        .await?;
                if !clauses.iter().all(|c| c.admits_tags(&tags)) {
                    continue;
                }
            }
            versions.push(version);
        }
    }
    let (versions, next) = page(versions, &query);
    let mut out = Vec::with_capacity(versions.len());
    for version in &versions {
        out.push(version_json(&state, version).await?);
    }
    let mut answer = json!({ "model_versions": out });
    if let Some(token) = next {
        answer["next_page_token"] = json!(token);
    }
    Ok(axum::Json(answer))
}

async fn update_version(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<VersionRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let number = version_number(&request.version)?;
    let version = registry_changes::describe_version(
        &state.db,
        &caller.name,
        &request.name,
        number,
        request.description,
    )
    .await?;
    Ok(axum::Json(
        json!({ "model_version": version_json(&state, &version).await? }),
    ))
}

async fn delete_version(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<VersionRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Operate)?;
    let number = version_number(&request.version)?;
    registry_changes::delete_version(&state.db, &caller.name, &request.name, number).await?;
    Ok(axum::Json(json!({})))
}

async fn download_uri(
    State(state): State<AppState>,
    caller: Caller,
    Query(request): Query<VersionRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let number = version_number(&request.version)?;
    let version = registry::version(&state.db, &request.name, &Selector::Number(number)).await?;
    let json = version_json(&state, &version).await?;
    Ok(axum::Json(json!({ "artifact_uri": json["source"] })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_name_a_run_and_a_path() {
        assert_eq!(
            parse_source("runs:/12/model").unwrap(),
            (12, "model".into())
        );
        assert_eq!(parse_source("runs:/12").unwrap(), (12, String::new()));
        assert_eq!(
            parse_source("mlflow-artifacts:/3/12/artifacts/model/").unwrap(),
            (12, "model".into())
        );
        assert!(parse_source("s3://bucket/x").is_err());
    }
}
