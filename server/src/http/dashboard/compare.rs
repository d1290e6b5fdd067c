//! `GET /runs/compare?run=ID&run=ID&metric=NAME`: the runs ticked on the runs page, their
//! curves of one metric on one chart and their parameters and final values side by side.

use super::pages::{PageError, PageResult, readable};
use super::session::PageContext;
use crate::error::ServiceError;
use crate::state::AppState;
use crate::tracking::compare::{self, Bounds};
use axum::extract::State;
use axum::http::Uri;
use axum::response::Html;
use slipway_web::CompareView;

/// Points per curve: enough for the shape, few enough for a page of ten curves.
const CHART_POINTS: u32 = 300;

/// The runs and metric a compare query asks for. `run` repeats, which the usual query
/// extractor cannot take, so the pairs are read as they come.
fn asked(uri: &Uri) -> Result<(Vec<i64>, Option<String>), ServiceError> {
    let pairs: Vec<(String, String)> = axum::extract::Query::try_from_uri(uri)
        .map(|query| query.0)
        .map_err(|err| ServiceError::invalid(format!("query: {}", err.body_text())))?;
    let mut runs = Vec::new();
    let mut metric = None;
    for (key, value) in pairs {
        let value = value.trim();
        match key.as_str() {
            "run" if value.is_empty() => {}
            "run" => runs.push(value.parse().map_err(|_| {
                ServiceError::invalid(format!("run: expected a run id (a number), got '{value}'"))
            })?),
            "metric" => metric = Some(value.to_owned()),
            _ => {}
        }
    }
    Ok((runs, metric))
}

/// `GET /runs/compare`.
pub async fn compare(State(state): State<AppState>, context: PageContext, uri: Uri) -> PageResult {
    readable(&context)?;
    let framed = |err: ServiceError| PageError::from(err).with_frame(context.frame.clone());
    let (runs, metric) = asked(&uri).map_err(framed)?;
    let bounds = Bounds {
        max_runs: slipway_web::pages::compare::MAX_RUNS,
        max_points: CHART_POINTS,
    };
    let comparison = compare::compare(&state.db, &runs, metric.as_deref(), bounds)
        .await
        .map_err(framed)?;
    let view = CompareView {
        runs: comparison.runs,
        metrics: comparison.shared_metrics,
        metric: comparison.metric,
        histories: comparison.histories,
    };
    Ok(Html(slipway_web::render_compare(&context.frame, view)))
}
