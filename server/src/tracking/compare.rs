//! Comparing runs: several runs side by side (their parameters and final metric values) and
//! the curves of one metric they all logged, each downsampled for one shared chart.

use super::{history, runs};
use crate::error::{ServiceError, ServiceResult};
use sea_orm::DatabaseConnection;
use slipway_api::{MetricHistory, MetricHistoryQuery, RunDetail};
use std::collections::BTreeSet;

/// Runs to compare and the curves of one metric.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// In the order asked for, each once.
    pub runs: Vec<RunDetail>,
    /// The metrics every compared run has logged, sorted.
    pub shared_metrics: Vec<String>,
    /// The metric charted: the one asked for, else the first shared one; none when the runs
    /// share none.
    pub metric: Option<String>,
    /// The charted metric's (downsampled) history of each run, in the order of `runs`.
    pub histories: Vec<MetricHistory>,
}

/// How much a comparison may hold.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most runs (a chart can only tell so many lines apart).
    pub max_runs: usize,
    /// Most points per curve (longer histories are downsampled).
    pub max_points: u32,
}

/// Compares runs `run_ids` on `metric` (default: the first metric they share). Errors name
/// the field at fault: `run` (none, too many, unknown) or `metric` (not logged by every run).
pub async fn compare(
    db: &DatabaseConnection,
    run_ids: &[i64],
    metric: Option<&str>,
    bounds: Bounds,
) -> ServiceResult<Comparison> {
    let mut ids: Vec<i64> = Vec::with_capacity(run_ids.len());
    for id in run_ids {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    if ids.is_empty() {
        return Err(ServiceError::invalid(
            "run: pick at least one run to compare",
        ));
    }
    if ids.len() > bounds.max_runs {
        return Err(ServiceError::invalid(format!(
            "run: at most {} runs can be compared at once, got {}",
            bounds.max_runs,
            ids.len()
        )));
    }
    let mut details = Vec::with_capacity(ids.len());
    for id in &ids {
        match runs::get(db, *id).await {
            Ok(detail) => details.push(detail),
            Err(ServiceError::NotFound(_)) => {
                return Err(ServiceError::not_found(format!(
                    "run: there is no run {id}"
                )));
            }
            Err(err) => return Err(err),
        }
    }
    let shared_metrics = shared(&details);
    let metric = match metric.map(str::trim).filter(|metric| !metric.is_empty()) {
        Some(metric) if shared_metrics.iter().any(|key| key == metric) => Some(metric.to_owned()),
        Some(metric) => {
            let known = if shared_metrics.is_empty() {
                "they share none".to_owned()
            } else {
                format!("they share {}", shared_metrics.join(", "))
            };
            return Err(ServiceError::invalid(format!(
                "metric: not every selected run logged '{metric}'; {known}"
            )));
        }
        None => shared_metrics.first().cloned(),
    };
    let mut histories = Vec::with_capacity(ids.len());
    if let Some(key) = &metric {
        let query = MetricHistoryQuery {
            key: key.clone(),
            max_points: Some(bounds.max_points),
            ..MetricHistoryQuery::default()
        };
        for id in &ids {
            histories.push(history::history(db, *id, &query).await?);
        }
    }
    Ok(Comparison {
        runs: details,
        shared_metrics,
        metric,
        histories,
    })
}

/// The metric keys every run has, sorted.
fn shared(runs: &[RunDetail]) -> Vec<String> {
    let mut keys = runs.iter().map(|detail| {
        detail
            .run
            .metrics
            .keys()
            .cloned()
            .collect::<BTreeSet<String>>()
    });
    let first = keys.next().unwrap_or_default();
    keys.fold(first, |shared, keys| &shared & &keys)
        .into_iter()
        .collect()
}
