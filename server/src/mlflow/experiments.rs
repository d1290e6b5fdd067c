//! `/api/2.0/mlflow/experiments/*`: MLflow's experiments on Slipway's. MLflow's experiment
//! "0" is Slipway's `default` experiment (made on first use, as MLflow's always exists).

use super::wire::{self, DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, Experiment};
use crate::auth::{Caller, Permission};
use crate::entity::tracking::experiment;
use crate::error::{ServiceError, ServiceResult};
use crate::http::ApiResult;
use crate::http::extract::{Json, Query};
use crate::pagination;
use crate::state::AppState;
use crate::tracking::{experiment_tags, experiments};
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use slipway_api::CreateExperiment;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/experiments/create", post(create))
        .route("/experiments/get", get(show))
        .route("/experiments/get-by-name", get(show_by_name))
        .route("/experiments/search", post(search).get(search_get))
        .route("/experiments/update", post(update))
        .route("/experiments/delete", post(delete))
        .route("/experiments/restore", post(restore))
        .route("/experiments/set-experiment-tag", post(set_tag))
        .route("/experiments/delete-experiment-tag", post(delete_tag))
}

/// The stored experiment an MLflow id names ("0" is the default experiment).
pub async fn resolve(
    db: &sea_orm::DatabaseConnection,
    actor: &str,
    id: &str,
) -> ServiceResult<experiment::Model> {
    if id.trim() == DEFAULT_EXPERIMENT_ID {
        return experiments::get_or_create(db, actor, DEFAULT_EXPERIMENT_NAME).await;
    }
    let id = wire::parse_id("experiment", id)?;
    experiments::get(db, &id.to_string()).await
}

#[derive(Debug, Deserialize)]
struct CreateRequest {
    name: String,
    #[serde(default)]
    tags: Vec<wire::KeyValue>,
}

/// The experiment as MLflow writes it, with its tags.
async fn with_tags(state: &AppState, row: experiment::Model) -> ServiceResult<Experiment> {
    let tags = experiment_tags::of(&state.db, &[row.id])
        .await?
        .remove(&row.id)
        .unwrap_or_default();
    Ok(wire::experiment(row, tags))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let create = CreateExperiment {
        name: request.name.clone(),
        description: None,
    };
    let created = experiments::create(&state.db, &caller.name, &create).await?;
    for tag in &request.tags {
        experiment_tags::set(&state.db, created.id, &tag.key, &tag.value).await?;
    }
    Ok(axum::Json(
        json!({ "experiment_id": created.id.to_string() }),
    ))
}

#[derive(Debug, Deserialize)]
struct IdRequest {
    experiment_id: String,
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Query(request): Query<IdRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let row = resolve(&state.db, &caller.name, &request.experiment_id).await?;
    Ok(axum::Json(
        json!({ "experiment": with_tags(&state, row).await? }),
    ))
}

#[derive(Debug, Deserialize)]
struct NameRequest {
    experiment_name: String,
}

async fn show_by_name(
    State(state): State<AppState>,
    caller: Caller,
    Query(request): Query<NameRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    // A name of digits would read as an id in Slipway's lookup; no experiment has one.
    if request.experiment_name.chars().all(|c| c.is_ascii_digit()) {
        return Err(ServiceError::not_found(format!(
            "experiment '{}' not found",
            request.experiment_name
        ))
        .into());
    }
    let row = experiments::get(&state.db, &request.experiment_name).await?;
    Ok(axum::Json(
        json!({ "experiment": with_tags(&state, row).await? }),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct SearchRequest {
    #[serde(default, deserialize_with = "wire::lenient_opt_i64")]
    max_results: Option<i64>,
    page_token: Option<String>,
    filter: Option<String>,
    #[serde(default)]
    order_by: Vec<String>,
    view_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    max_results: Option<i64>,
    page_token: Option<String>,
    filter: Option<String>,
    order_by: Option<String>,
    view_type: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<SearchRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(search_experiments(&state, request).await?))
}

async fn search_get(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<SearchQuery>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let request = SearchRequest {
        max_results: query.max_results,
        page_token: query.page_token,
        filter: query.filter,
        order_by: query.order_by.into_iter().collect(),
        view_type: query.view_type,
    };
    Ok(axum::Json(search_experiments(&state, request).await?))
}

/// Most experiments in one answer, as MLflow's server allows.
const MAX_RESULTS: i64 = 50_000;

async fn search_experiments(state: &AppState, request: SearchRequest) -> ServiceResult<Value> {
    let view = super::runs::view_of("view_type", request.view_type.as_deref())?;
    let limit = request.max_results.unwrap_or(1000);
    if !(1..=MAX_RESULTS).contains(&limit) {
        return Err(ServiceError::invalid(format!(
            "max_results: expected a number from 1 to {MAX_RESULTS}, got {limit}"
        )));
    }
    let clauses = super::names::parse(request.filter.as_deref().unwrap_or_default(), &["name"])?;
    let mut rows: Vec<experiment::Model> = experiments::all(&state.db)
        .await?
        .into_iter()
        .filter(|row| view.admits(row.deleted_at))
        .filter(|row| {
            clauses
                .iter()
                .all(|clause| clause.admits("name", &row.name))
        })
        .collect();
    if clauses.iter().any(|clause| clause.is_tag()) {
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        let tags = experiment_tags::of(&state.db, &ids).await?;
        rows.retain(|row| {
            let own = tags.get(&row.id).map_or(&[][..], Vec::as_slice);
            clauses.iter().all(|clause| clause.admits_tags(own))
        });
    }
    sort(&mut rows, &request.order_by)?;
    let offset = pagination::decode_offset(request.page_token.as_deref())? as usize;
    let limit = limit as usize;
    let total = rows.len();
    let rows: Vec<experiment::Model> = rows.into_iter().skip(offset).take(limit).collect();
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut tags = experiment_tags::of(&state.db, &ids).await?;
    let page: Vec<Experiment> = rows
        .into_iter()
        .map(|row| {
            let own = tags.remove(&row.id).unwrap_or_default();
            wire::experiment(row, own)
        })
        .collect();
    let mut answer = json!({ "experiments": page });
    if offset.saturating_add(limit) < total {
        answer["next_page_token"] = json!(pagination::at_offset((offset + limit) as u64));
    }
    Ok(answer)
}

/// Orders experiments as `order_by` says (MLflow's default: newest first, then by id).
fn sort(rows: &mut [experiment::Model], order_by: &[String]) -> ServiceResult<()> {
    let mut keys = Vec::new();
    for (index, text) in order_by.iter().enumerate() {
        let mut words = text.split_whitespace();
        let field = words.next().unwrap_or_default().to_ascii_lowercase();
        let field = field
            .strip_prefix("attributes.")
            .or_else(|| field.strip_prefix("attribute."))
            .unwrap_or(&field)
            .to_owned();
        let descending = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => {
                return Err(ServiceError::invalid(format!(
                    "order_by[{index}]: expected ASC or DESC, got '{other}'"
                )));
            }
        };
        if !matches!(
            field.as_str(),
            "name" | "experiment_id" | "creation_time" | "last_update_time"
        ) {
            return Err(ServiceError::invalid(format!(
                "order_by[{index}]: '{field}' is not one of name, experiment_id, creation_time, last_update_time"
            )));
        }
        keys.push((field, descending));
    }
    if keys.is_empty() {
        keys.push(("creation_time".to_owned(), true));
    }
    rows.sort_by(|a, b| {
        for (field, descending) in &keys {
            let ordering = match field.as_str() {
                "name" => a.name.cmp(&b.name),
                "experiment_id" => a.id.cmp(&b.id),
                "creation_time" => a.created_at.cmp(&b.created_at),
                _ => a.updated_at.cmp(&b.updated_at),
            };
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        a.id.cmp(&b.id)
    });
    Ok(())
}

#[derive(Debug, Deserialize)]
struct UpdateRequest {
    experiment_id: String,
    new_name: String,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<UpdateRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let row = resolve(&state.db, &caller.name, &request.experiment_id).await?;
    experiments::rename(&state.db, &caller.name, row.id, &request.new_name).await?;
    Ok(axum::Json(json!({})))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<IdRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let row = resolve(&state.db, &caller.name, &request.experiment_id).await?;
    experiments::set_deleted(&state.db, &caller.name, row.id, true).await?;
    Ok(axum::Json(json!({})))
}

async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<IdRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let row = resolve(&state.db, &caller.name, &request.experiment_id).await?;
    experiments::set_deleted(&state.db, &caller.name, row.id, false).await?;
    Ok(axum::Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct SetTagRequest {
    experiment_id: String,
    key: String,
    #[serde(default)]
    value: String,
}

async fn set_tag(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<SetTagRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let row = resolve(&state.db, &caller.name, &request.experiment_id).await?;
    experiment_tags::set(&state.db, row.id, &request.key, &request.value).await?;
    Ok(axum::Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct DeleteTagRequest {
    experiment_id: String,
    key: String,
}

async fn delete_tag(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<DeleteTagRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let row = resolve(&state.db, &caller.name, &request.experiment_id).await?;
    experiment_tags::delete(&state.db, row.id, &request.key).await?;
    Ok(axum::Json(json!({})))
}
