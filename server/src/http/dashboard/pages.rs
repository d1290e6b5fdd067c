//! The dashboard's pages: each handler gathers its data through the services and hands it to
//! `slipway-web`. Failures render as an HTML error page with the API's status.

use super::super::error::AppError;
use super::super::extract::Query;
use super::session::PageContext;
use crate::audit;
use crate::auth::Permission;
use crate::error::ServiceError;
use crate::monitoring::{alerts, series};
use crate::queue::{jobs, logs, workers};
use crate::registry::{self, Selector};
use crate::schedules;
use crate::serving::deployments;
use crate::state::AppState;
use crate::tracking::{history, runs, search};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use slipway_api::{Deployment, JobState, MetricHistoryQuery, SearchRuns};
use slipway_web::{
    AuditView, DeploymentHealth, DeploymentView, Frame, JobView, JobsView, ModelVersionView,
    ModelView, Overview, RunView, ScheduleView, TimeRange,
};
use std::collections::HashMap;

/// Rows on one page of runs, jobs and the audit log.
pub(super) const PAGE_ROWS: u32 = 50;
/// Points per metric chart of a run.
const CHART_POINTS: u32 = 300;
/// Metric charts on a run's page.
const MAX_CHARTS: usize = 12;
/// Log lines on a job's page.
const MAX_LOG_LINES: u32 = 5000;

/// A page that could not be shown.
#[derive(Debug)]
pub struct PageError {
    // Boxed: errors travel in every page's `Result`, frames are large.
    frame: Box<Frame>,
    error: AppError,
}

impl From<ServiceError> for PageError {
    fn from(err: ServiceError) -> Self {
        Self {
            frame: Box::default(),
            error: AppError::from(err),
        }
    }
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        Self {
            frame: Box::default(),
            error,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.code.status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let title = status.canonical_reason().unwrap_or("Error");
        let page = slipway_web::render_error(&self.frame, title, &self.error.message);
        (status, Html(page)).into_response()
    }
}

impl PageError {
    /// Shows the error inside the user's frame (navigation and sign-out).
    pub fn with_frame(mut self, frame: Frame) -> Self {
        self.frame = Box::new(frame);
        self
    }
}

/// The result of a page handler.
pub type PageResult = Result<Html<String>, PageError>;

/// Refuses callers who may not read (the error page keeps their frame).
pub(super) fn readable(context: &PageContext) -> Result<(), PageError> {
    context
        .caller
        .require(Permission::Read)
        .map_err(|err| PageError {
            frame: Box::new(context.frame.clone()),
            error: AppError::from(err),
        })
}

/// `GET /`.
pub async fn overview(State(state): State<AppState>, context: PageContext) -> PageResult {
    readable(&context)?;
    let open = alerts::list(&state.db, None, true, 500).await?;
    let mut open_by_deployment: HashMap<&str, usize> = HashMap::new();
    for alert in &open {
        *open_by_deployment
            .entry(alert.deployment.as_str())
            .or_default() += 1;
    }
    // Each deployment's drift is computed on a blocking thread: judged together, not in turn.
    let health = deployments::list(&state.serving)
        .await?
        .into_iter()
        .map(|deployment| {
            let open_alerts = open_by_deployment
                .get(deployment.name.as_str())
                .copied()
                .unwrap_or_default();
            deployment_health(&state, deployment, open_alerts)
        });
    let health = futures_util::future::join_all(health).await;
    let mut jobs = jobs::list(&state.db, None, Some(10), None).await?.items;
    // A running pipeline (the one kind that coordinates others) stays in view though the jobs
    // it starts are newer.
    let running = jobs::list(&state.db, Some(JobState::Running), Some(100), None).await?;
    for job in running.items {
        if job.spec.kind().coordinates() && !jobs.iter().any(|shown| shown.id == job.id) {
            jobs.push(job);
        }
    }
    jobs.sort_by_key(|job| std::cmp::Reverse(job.id));
    let search = SearchRuns {
        limit: Some(10),
        ..SearchRuns::default()
    };
    let runs = search::search(&state.searches, &search).await?.items;
    let changes = audit::operations(&state.db, 15).await?;
    let overview = Overview {
        deployments: health,
        alerts: open.into_iter().take(20).collect(),
        jobs,
        runs,
        changes,
        now: chrono::Utc::now(),
    };
    Ok(Html(slipway_web::render_overview(&context.frame, overview)))
}

/// The overview's row of one deployment: its live version's figures, its last hour minute by
/// minute and its drift state.
async fn deployment_health(
    state: &AppState,
    deployment: Deployment,
    open_alerts: usize,
) -> DeploymentHealth {
    let live = state
        .monitoring
        .metrics(&deployment.name)
        .await
        .ok()
        .and_then(|metrics| {
            metrics
                .versions
                .into_iter()
                .find(|version| version.variant == "primary")
        });
    let drift = state
        .monitoring
        .drift(&deployment.name)
        .await
        .ok()
        .map(|report| report.status);
    let history = state
        .monitoring
        .history(&deployment.name, slipway_web::overview::SPARK_MINUTES)
        .await
        .unwrap_or_default();
    DeploymentHealth {
        deployment,
        live,
        drift,
        open_alerts,
        history,
    }
}

/// The deployment page's query: the charts' time range (`1h`, `24h`, `7d`).
#[derive(Debug, Default, Deserialize)]
pub struct DeploymentQuery {
    pub range: Option<String>,
}

/// `GET /deployments/{name}`.
pub async fn deployment(
    State(state): State<AppState>,
    context: PageContext,
    Path(name): Path<String>,
    Query(query): Query<DeploymentQuery>,
) -> PageResult {
    readable(&context)?;
    let range = TimeRange::parse(query.range.as_deref());
    let deployment = deployments::get(&state.serving, &name).await?;
    let revisions = deployments::revisions(&state.serving, &name).await?;
    let metrics = state.monitoring.metrics(&name).await.ok();
    let history = state
        .monitoring
        .history(&name, range.minutes())
        .await
        .map(|history| series::downsample(history, range.step_minutes()))
        .unwrap_or_default();
    let policy = state.monitoring.policy(&name).await.unwrap_or_default();
    let shadow = deployments::shadow(&state.serving, &name)
        .await
        .unwrap_or_default();
    let (drift, drift_note) = match state.monitoring.drift_under(&name, &policy).await {
        Ok(detail) => (Some(detail), None),
        Err(err) => (None, Some(AppError::from(err).message)),
    };
    // A day at least: drift moves over hours, even when the charts show the last one.
    let drift_hours = state
        .monitoring
        .drift_hours(&name, (range.minutes() / 60).max(24))
        .await
        .ok();
    let live_version = registry::version(
        &state.db,
        &deployment.spec.model,
        &Selector::Number(deployment.spec.primary),
    )
    .await
    .ok();
    let alerts = alerts::list(&state.db, Some(&name), false, 20).await?;
    let view = DeploymentView {
        deployment,
        metrics,
        history,
        range,
        now: chrono::Utc::now(),
        policy,
        shadow,
        drift,
        drift_hours,
        drift_note,
        revisions,
        live_version,
        alerts,
    };
    Ok(Html(slipway_web::render_deployment(&context.frame, view)))
}

/// `GET /models`.
pub async fn models(State(state): State<AppState>, context: PageContext) -> PageResult {
    readable(&context)?;
    let models = registry::list(&state.db).await?;
    Ok(Html(slipway_web::render_models(&context.frame, models)))
}

/// `GET /models/{name}`.
pub async fn model(
    State(state): State<AppState>,
    context: PageContext,
    Path(name): Path<String>,
) -> PageResult {
    readable(&context)?;
    let model = registry::get(&state.db, &name).await?;
    let versions = registry::versions(&state.db, &name).await?;
    let deployments = deployments::list(&state.serving).await?;
    let view = ModelView {
        model,
        versions,
        deployments,
    };
    Ok(Html(slipway_web::render_model(&context.frame, view)))
}

/// `GET /models/{name}/versions/{version}`: a missing one is a 404 page in the user's frame.
pub async fn model_version(
    State(state): State<AppState>,
    context: PageContext,
    Path((name, version)): Path<(String, u32)>,
) -> PageResult {
    readable(&context)?;
    let framed = |err: ServiceError| PageError::from(err).with_frame(context.frame.clone());
    let version = registry::version(&state.db, &name, &Selector::Number(version))
        .await
        .map_err(framed)?;
    let deployments = deployments::list(&state.serving).await.map_err(framed)?;
    let view = ModelVersionView {
        version,
        deployments,
    };
    Ok(Html(slipway_web::render_model_version(
        &context.frame,
        view,
    )))
}

/// `GET /runs/{id}`.
pub async fn run(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> PageResult {
    readable(&context)?;
    let detail = runs::get(&state.db, id).await?;
    let mut histories = Vec::new();
    for key in detail.run.metrics.keys().take(MAX_CHARTS) {
        let query = MetricHistoryQuery {
            key: key.clone(),
            max_points: Some(CHART_POINTS),
            ..MetricHistoryQuery::default()
        };
        histories.push(history::history(&state.db, id, &query).await?);
    }
    let view = RunView { detail, histories };
    Ok(Html(slipway_web::render_run(&context.frame, view)))
}

/// `GET /runs/{id}/artifacts/{*path}`: the file, as a download.
pub async fn artifact(
    State(state): State<AppState>,
    context: PageContext,
    Path((id, path)): Path<(i64, String)>,
) -> Result<Response, PageError> {
    readable(&context)?;
    let (artifact, file) =
        crate::tracking::artifacts::open(&state.blobs, &state.db, id, &path).await?;
    let name = artifact
        .path
        .rsplit('/')
        .next()
        .unwrap_or("artifact")
        .replace(
            |c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')),
            "_",
        );
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, artifact.size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// The query of `GET /jobs`.
#[derive(Debug, Default, Deserialize)]
pub struct JobsQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    page_token: String,
}

/// `GET /jobs?state=&page_token=`.
pub async fn jobs(
    State(state): State<AppState>,
    context: PageContext,
    Query(query): Query<JobsQuery>,
) -> PageResult {
    readable(&context)?;
    let filter = if query.state.is_empty() {
        None
    } else {
        Some(
            query
                .state
                .parse::<JobState>()
                .map_err(|err| PageError::from(ServiceError::invalid(format!("state: {err}"))))?,
        )
    };
    let token = (!query.page_token.is_empty()).then_some(query.page_token.as_str());
    let page = jobs::list(&state.db, filter, Some(PAGE_ROWS), token).await?;
    let view = JobsView {
        jobs: page.items,
        state: query.state.clone(),
        page_token: query.page_token.clone(),
        next_page_token: page.next_page_token,
    };
    Ok(Html(slipway_web::render_jobs(&context.frame, view)))
}

/// `GET /jobs/{id}`: the job and its logs.
pub async fn job(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> PageResult {
    readable(&context)?;
    let job = jobs::get(&state.db, id).await?;
    let lines = logs::read(&state.db, id, 0, MAX_LOG_LINES).await?.lines;
    let view = JobView {
        logs_truncated: lines.len() >= MAX_LOG_LINES as usize,
        job,
        logs: lines,
    };
    Ok(Html(slipway_web::render_job(&context.frame, view)))
}

/// `GET /workers`.
pub async fn workers(State(state): State<AppState>, context: PageContext) -> PageResult {
    readable(&context)?;
    // One page of the largest size: the page shows at most that many workers.
    let workers = workers::list(&state.db, Some(crate::pagination::MAX_LIMIT), None)
        .await?
        .items;
    Ok(Html(slipway_web::render_workers(&context.frame, workers)))
}

/// `GET /schedules`: every schedule with its next fire times and recent firings.
pub async fn schedules(State(state): State<AppState>, context: PageContext) -> PageResult {
    readable(&context)?;
    let mut views = Vec::new();
    for schedule in schedules::list(&state.db).await? {
        let history = schedules::history(&state.db, &schedule.name, 20).await?;
        views.push(ScheduleView { schedule, history });
    }
    Ok(Html(slipway_web::render_schedules(&context.frame, views)))
}

/// `GET /alerts`.
pub async fn alerts(State(state): State<AppState>, context: PageContext) -> PageResult {
    readable(&context)?;
    let alerts = alerts::list(&state.db, None, false, 200).await?;
    Ok(Html(slipway_web::render_alerts(&context.frame, alerts)))
}

/// The query of `GET /audit`.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    page_token: String,
}

/// `GET /audit?page_token=`.
pub async fn audit(
    State(state): State<AppState>,
    context: PageContext,
    Query(query): Query<AuditQuery>,
) -> PageResult {
    readable(&context)?;
    let token = (!query.page_token.is_empty()).then_some(query.page_token.as_str());
    let page = audit::list(&state.db, Some(PAGE_ROWS * 2), token).await?;
    let view = AuditView {
        events: page.items,
        page_token: query.page_token.clone(),
        next_page_token: page.next_page_token,
    };
    Ok(Html(slipway_web::render_audit(&context.frame, view)))
}
