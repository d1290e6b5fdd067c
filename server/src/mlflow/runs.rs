//! `/api/2.0/mlflow/runs/*` and `/metrics/*`: MLflow's runs, logging and metric histories on
//! Slipway's tracking services. Searches go through Slipway's filter language, which reads
//! MLflow's filter syntax (`metrics.acc > 0.9 and params.lr = '0.01'`, quoted run ids,
//! `attributes.user_id`); `run_view_type` picks runs by lifecycle.

use super::wire::{self, KeyValue, Metric};
use crate::auth::{Caller, Permission};
use crate::error::{ServiceError, ServiceResult};
use crate::http::ApiResult;
use crate::http::extract::{Json, Query};
use crate::http::throttle::SearchQuota;
use crate::pagination;
use crate::state::AppState;
use crate::time::from_millis;
use crate::tracking::search::RunView;
use crate::tracking::{history, runs, search};
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use slipway_api::{
    CreateRun, LogBatch, MetricHistoryQuery, MetricPoint, RunStatus, SearchRuns, UpdateRun,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/runs/create", post(create))
        .route("/runs/get", get(show))
        .route("/runs/update", post(update))
        .route("/runs/delete", post(delete))
        .route("/runs/restore", post(restore))
        .route("/runs/search", post(search_runs))
        .route("/runs/log-batch", post(log_batch))
        .route("/runs/log-metric", post(log_metric))
        .route("/runs/log-parameter", post(log_parameter))
        .route("/runs/set-tag", post(set_tag))
        .route("/runs/delete-tag", post(delete_tag))
        .route("/runs/log-inputs", post(log_inputs))
        .route("/metrics/get-history", get(metric_history))
        .route(
            "/metrics/get-history-bulk-interval",
            get(metric_history_bulk),
        )
}

/// MLflow's `ViewType` (`run_view_type`, `view_type`): ACTIVE_ONLY by default.
pub fn view_of(field: &str, text: Option<&str>) -> ServiceResult<RunView> {
    match text.map(str::to_ascii_uppercase).as_deref() {
        None | Some("" | "ACTIVE_ONLY" | "1") => Ok(RunView::ActiveOnly),
        Some("DELETED_ONLY" | "2") => Ok(RunView::DeletedOnly),
        Some("ALL" | "3") => Ok(RunView::All),
        Some(other) => Err(ServiceError::invalid(format!(
            "{field}: expected ACTIVE_ONLY, DELETED_ONLY or ALL, got '{other}'"
        ))),
    }
}

impl RunView {
    /// Whether a row deleted at `deleted_at` (null: live) is in this view.
    pub fn admits(self, deleted_at: Option<i64>) -> bool {
        match self {
            RunView::All => true,
            RunView::ActiveOnly => deleted_at.is_none(),
            RunView::DeletedOnly => deleted_at.is_some(),
        }
    }
}

/// The MLflow runs `ids`, with their params, tags and latest metrics, in `ids`' order.
async fn load_runs(state: &AppState, ids: &[i64]) -> ServiceResult<Vec<wire::Run>> {
    Ok(search::run_details(&state.db, &state.searches, ids)
        .await?
        .into_iter()
        .map(wire::run)
        .collect())
}

async fn load_run(state: &AppState, id: i64) -> ServiceResult<wire::Run> {
    runs::find(&state.db, id).await?;
    load_runs(state, &[id])
        .await?
        .pop()
        .ok_or_else(|| ServiceError::not_found(format!("run {id} not found")))
}

#[derive(Debug, Deserialize)]
struct CreateRequest {
    experiment_id: Option<String>,
    #[serde(default, deserialize_with = "wire::lenient_opt_i64")]
    start_time: Option<i64>,
    #[serde(default)]
    tags: Vec<KeyValue>,
    run_name: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let experiment_id = request
        .experiment_id
        .as_deref()
        .unwrap_or(wire::DEFAULT_EXPERIMENT_ID);
    let experiment = super::experiments::resolve(&state.db, &caller.name, experiment_id).await?;
    // MLflow's clients name the run both ways; the tag is kept as they wrote it.
    let name = request.run_name.or_else(|| {
        request
            .tags
            .iter()
            .find(|tag| tag.key == "mlflow.runName")
            .map(|tag| tag.value.clone())
    });
    let create = CreateRun {
        experiment_id: Some(experiment.id),
        name,
        start_time: request.start_time.map(from_millis),
        tags: request
            .tags
            .into_iter()
            .map(|tag| (tag.key, tag.value))
            .collect(),
        ..CreateRun::default()
    };
    let created = runs::create(&state.db, &caller.name, &create).await?;
    let run = load_run(&state, created.id).await?;
    Ok(axum::Json(json!({ "run": run })))
}

#[derive(Debug, Deserialize)]
struct RunRef {
    run_id: Option<String>,
    run_uuid: Option<String>,
}

impl RunRef {
    fn id(&self) -> ServiceResult<i64> {
        wire::run_id_of(self.run_id.as_deref(), self.run_uuid.as_deref())
    }
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Query(request): Query<RunRef>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let run = load_run(&state, request.id()?).await?;
    Ok(axum::Json(json!({ "run": run })))
}

#[derive(Debug, Deserialize)]
struct UpdateRequest {
    #[serde(flatten)]
    run: RunRef,
    status: Option<String>,
    #[serde(default, deserialize_with = "wire::lenient_opt_i64")]
    end_time: Option<i64>,
    run_name: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<UpdateRequest>,
) -> ApiResult<axum::Json<Value>> {
    let id = request.run.id()?;
    caller.require_run(Permission::Track, id)?;
    let status = match request.status.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<RunStatus>()
                .map_err(|message| ServiceError::invalid(format!("status: {message}")))?,
        ),
    };
    let change = UpdateRun {
        status,
        end_time: request.end_time.map(from_millis),
        name: request.run_name.filter(|name| !name.is_empty()),
    };
    runs::update(&state.db, &caller.name, id, &change).await?;
    let row = runs::find(&state.db, id).await?;
    Ok(axum::Json(json!({ "run_info": wire::run_info(&row) })))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<RunRef>,
) -> ApiResult<axum::Json<Value>> {
    let id = request.id()?;
    caller.require_run(Permission::Track, id)?;
    runs::set_deleted(&state.db, &caller.name, id, true).await?;
    Ok(axum::Json(json!({})))
}

async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<RunRef>,
) -> ApiResult<axum::Json<Value>> {
    let id = request.id()?;
    caller.require_run(Permission::Track, id)?;
    runs::set_deleted(&state.db, &caller.name, id, false).await?;
    Ok(axum::Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct SearchRequest {
    #[serde(default)]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    run_view_type: Option<String>,
    #[serde(default, deserialize_with = "wire::lenient_opt_i64")]
    max_results: Option<i64>,
    #[serde(default)]
    order_by: Vec<String>,
    page_token: Option<String>,
}

async fn search_runs(
    State(state): State<AppState>,
    caller: Caller,
    _quota: SearchQuota,
    Json(request): Json<SearchRequest>,
) -> ApiResult<axum::Json<SearchRunsResponse>> {
    caller.require(Permission::Read)?;
    let view = view_of("run_view_type", request.run_view_type.as_deref())?;
    // The search itself checks that the named experiments exist (in the same read as the
    // page); only the default experiment, made on first use, is resolved here.
    let mut experiment_ids = Vec::with_capacity(request.experiment_ids.len());
    for id in &request.experiment_ids {
        experiment_ids.push(if id.trim() == wire::DEFAULT_EXPERIMENT_ID {
            super::experiments::resolve(&state.db, &caller.name, id)
                .await?
                .id
        } else {
            wire::parse_id("experiment", id)?
        });
    }
    let max_results = request.max_results.unwrap_or(1000);
    if max_results < 1 {
        return Err(ServiceError::invalid(format!(
            "max_results: expected a positive number, got {max_results}"
        ))
        .into());
    }
    // Larger pages are cut to Slipway's largest; the page token carries the client on.
    let limit = u32::try_from(max_results)
        .unwrap_or(u32::MAX)
        .min(pagination::MAX_LIMIT);
    let request = SearchRuns {
        experiment_ids,
        filter: request.filter.filter(|text| !text.trim().is_empty()),
        order_by: request.order_by,
        limit: Some(limit),
        page_token: request.page_token.filter(|token| !token.is_empty()),
    };
    let page = search::search_details_in(&state.db, &state.searches, &request, view).await?;
    Ok(axum::Json(SearchRunsResponse {
        runs: page.items.into_iter().map(wire::run).collect(),
        next_page_token: page.next_page_token,
    }))
}

/// A page of runs as MLflow answers a search: serialised straight from the runs, since a page
/// of 100 runs as a JSON tree first would cost more than reading it.
#[derive(Debug, Serialize)]
struct SearchRunsResponse {
    runs: Vec<wire::Run>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LogBatchRequest {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

fn point(metric: Metric) -> MetricPoint {
    MetricPoint {
        key: metric.key,
        value: metric.value,
        step: metric.step,
        timestamp: (metric.timestamp != 0).then(|| from_millis(metric.timestamp)),
    }
}

fn pair(kv: KeyValue) -> slipway_api::KeyValue {
    slipway_api::KeyValue {
        key: kv.key,
        value: kv.value,
    }
}

/// Logs to run `id`, which the caller must be allowed to change.
async fn log(
    state: &AppState,
    caller: &Caller,
    id: i64,
    batch: LogBatch,
) -> ApiResult<axum::Json<Value>> {
    caller.require_run(Permission::Track, id)?;
    state.log_writer.log(id, batch).await?;
    Ok(axum::Json(json!({})))
}

async fn log_batch(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<LogBatchRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let batch = LogBatch {
        metrics: request.metrics.into_iter().map(point).collect(),
        params: request.params.into_iter().map(pair).collect(),
        tags: request.tags.into_iter().map(pair).collect(),
    };
    log(&state, &caller, request.run.id()?, batch).await
}

#[derive(Debug, Deserialize)]
struct LogMetricRequest {
    #[serde(flatten)]
    run: RunRef,
    #[serde(flatten)]
    metric: Metric,
}

async fn log_metric(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<LogMetricRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let batch = LogBatch {
        metrics: vec![point(request.metric)],
        ..LogBatch::default()
    };
    log(&state, &caller, request.run.id()?, batch).await
}

#[derive(Debug, Deserialize)]
struct KeyValueRequest {
    #[serde(flatten)]
    run: RunRef,
    #[serde(flatten)]
    pair: KeyValue,
}

async fn log_parameter(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<KeyValueRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let batch = LogBatch {
        params: vec![pair(request.pair)],
        ..LogBatch::default()
    };
    log(&state, &caller, request.run.id()?, batch).await
}

async fn set_tag(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<KeyValueRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let batch = LogBatch {
        tags: vec![pair(request.pair)],
        ..LogBatch::default()
    };
    log(&state, &caller, request.run.id()?, batch).await
}

#[derive(Debug, Deserialize)]
struct DeleteTagRequest {
    #[serde(flatten)]
    run: RunRef,
    key: String,
}

async fn delete_tag(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<DeleteTagRequest>,
) -> ApiResult<axum::Json<Value>> {
    let id = request.run.id()?;
    caller.require_run(Permission::Track, id)?;
    runs::delete_tag(&state.db, &caller.name, id, &request.key).await?;
    Ok(axum::Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct DatasetInput {
    dataset: Dataset,
}

#[derive(Debug, Deserialize)]
struct Dataset {
    name: String,
    digest: String,
    #[serde(default)]
    source_type: String,
}

#[derive(Debug, Deserialize)]
struct LogInputsRequest {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    datasets: Vec<DatasetInput>,
}

/// Datasets a run used, recorded as its tags `mlflow.dataset.NAME` = `DIGEST (SOURCE TYPE)`,
/// so they show wherever tags do and can be searched for.
async fn log_inputs(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<LogInputsRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Track)?;
    let tags = request
        .datasets
        .into_iter()
        .map(|input| slipway_api::KeyValue {
            key: format!("mlflow.dataset.{}", input.dataset.name),
            value: if input.dataset.source_type.is_empty() {
                input.dataset.digest
            } else {
                format!("{} ({})", input.dataset.digest, input.dataset.source_type)
            },
        })
        .collect();
    let batch = LogBatch {
        tags,
        ..LogBatch::default()
    };
    log(&state, &caller, request.run.id()?, batch).await
}

#[derive(Debug, Deserialize)]
struct HistoryRequest {
    #[serde(flatten)]
    run: RunRef,
    metric_key: String,
    max_results: Option<u32>,
    page_token: Option<String>,
}

async fn metric_history(
    State(state): State<AppState>,
    caller: Caller,
    Query(request): Query<HistoryRequest>,
) -> ApiResult<axum::response::Response> {
    caller.require(Permission::Read)?;
    let query = MetricHistoryQuery {
        key: request.metric_key.clone(),
        max_points: None,
        limit: Some(
            request
                .max_results
                .unwrap_or(slipway_api::limits::MAX_HISTORY_PAGE)
                .min(slipway_api::limits::MAX_HISTORY_PAGE),
        ),
        page_token: request.page_token.filter(|token| !token.is_empty()),
    };
    let page = history::history(&state.db, request.run.id()?, &query).await?;
    // Serialized straight from the points: a history is up to tens of thousands of them, and
    // building a JSON tree (with the key copied into each) cost several times the read.
    let metrics = page
        .points
        .iter()
        .map(|p| HistoryPoint {
            key: &request.metric_key,
            value: p.value,
            timestamp: crate::time::to_millis(p.timestamp),
            step: p.step,
        })
        .collect();
    let answer = HistoryAnswer {
        metrics,
        next_page_token: page.next_page_token,
    };
    Ok(axum::response::IntoResponse::into_response(axum::Json(
        answer,
    )))
}

/// One point of `get-history`'s answer, as MLflow writes a metric.
#[derive(Debug, Serialize)]
struct HistoryPoint<'a> {
    key: &'a str,
    value: f64,
    timestamp: i64,
    step: i64,
}

/// `get-history`'s answer.
#[derive(Debug, Serialize)]
struct HistoryAnswer<'a> {
    metrics: Vec<HistoryPoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// Most runs one bulk-interval request reads, as MLflow's server allows.
const MAX_BULK_RUNS: usize = 100;
/// Points per run a bulk-interval request answers by default (MLflow's).
const DEFAULT_BULK_POINTS: usize = 320;

/// `get-history-bulk-interval` (the MLflow UI's charts): each run's history of one metric
/// within a step range, thinned to at most `max_results` points per run, keeping the first
/// and last. Its query repeats `run_ids`, so it is read as pairs.
async fn metric_history_bulk(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let mut run_ids = Vec::new();
    let mut key = None;
    let (mut start_step, mut end_step, mut max_results) = (None, None, None);
    for (name, value) in query {
        let number = |field: &str| {
            value.parse::<i64>().map_err(|_| {
                ServiceError::invalid(format!("{field}: expected a whole number, got '{value}'"))
            })
        };
        match name.as_str() {
            "run_ids" => run_ids.push(wire::parse_id("run", &value)?),
            "metric_key" => key = Some(value),
            "start_step" => start_step = Some(number("start_step")?),
            "end_step" => end_step = Some(number("end_step")?),
            "max_results" => max_results = Some(number("max_results")?),
            _ => {}
        }
    }
    let key = key.ok_or_else(|| ServiceError::invalid("metric_key: expected a metric key"))?;
    if run_ids.is_empty() || run_ids.len() > MAX_BULK_RUNS {
        return Err(ServiceError::invalid(format!(
            "run_ids: expected 1 to {MAX_BULK_RUNS} run ids, got {}",
            run_ids.len()
        ))
        .into());
    }
    let per_run = match max_results {
        None => DEFAULT_BULK_POINTS,
        Some(n) if n >= 1 => n as usize,
        Some(n) => {
            return Err(ServiceError::invalid(format!(
                "max_results: expected at least 1, got {n}"
            ))
            .into());
        }
    };
    let mut metrics = Vec::new();
    for run_id in run_ids {
        let query = MetricHistoryQuery {
            key: key.clone(),
            max_points: None,
            limit: Some(slipway_api::limits::MAX_HISTORY_PAGE),
            page_token: None,
        };
        let mut points = Vec::new();
        let mut page = history::history(&state.db, run_id, &query).await?;
        loop {
            points.extend(page.points.into_iter().filter(|p| {
                start_step.is_none_or(|s| p.step >= s) && end_step.is_none_or(|e| p.step <= e)
            }));
            let Some(token) = page.next_page_token else {
                break;
            };
            let next = MetricHistoryQuery {
                page_token: Some(token),
                ..query.clone()
            };
            page = history::history(&state.db, run_id, &next).await?;
        }
        for p in thin(points, per_run) {
            metrics.push(json!({
                "key": key,
                "value": p.value,
                "timestamp": crate::time::to_millis(p.timestamp),
                "step": p.step,
                "run_id": run_id.to_string(),
            }));
        }
    }
    Ok(axum::Json(json!({ "metrics": metrics })))
}

/// At most `count` of `points`, evenly spaced, with the first and the last.
fn thin<T>(points: Vec<T>, count: usize) -> Vec<T> {
    let total = points.len();
    if total <= count || count == 0 {
        return points;
    }
    if count == 1 {
        return points.into_iter().take(1).collect();
    }
    let wanted: std::collections::BTreeSet<usize> =
        (0..count).map(|i| i * (total - 1) / (count - 1)).collect();
    points
        .into_iter()
        .enumerate()
        .filter(|(index, _)| wanted.contains(index))
        .map(|(_, point)| point)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_ends() {
        let points: Vec<u32> = (0..1000).collect();
        let kept = thin(points, 5);
        assert_eq!(kept, vec![0, 249, 499, 749, 999]);
        assert_eq!(thin(vec![1, 2], 5), vec![1, 2]);
    }

    #[test]
    fn view_types() {
        assert_eq!(view_of("v", None).unwrap(), RunView::ActiveOnly);
        assert_eq!(view_of("v", Some("all")).unwrap(), RunView::All);
        assert_eq!(
            view_of("v", Some("DELETED_ONLY")).unwrap(),
            RunView::DeletedOnly
        );
        let err = view_of("run_view_type", Some("SOME")).unwrap_err();
        assert!(err.to_string().starts_with("run_view_type:"), "{err}");
        assert!(RunView::ActiveOnly.admits(None));
        assert!(!RunView::ActiveOnly.admits(Some(1)));
    }
}
