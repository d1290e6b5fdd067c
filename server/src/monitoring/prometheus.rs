//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4).

use super::live::{Bucket, Outcome, latency_bounds};
use crate::entity::operations::{job, worker};
use crate::error::ServiceResult;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QuerySelect};
use slipway_api::JobState;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Escapes a label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Rows of `E` counted by their state column, in one grouped query.
async fn count_by_state<E: EntityTrait>(
    db: &DatabaseConnection,
    state: E::Column,
    id: E::Column,
) -> ServiceResult<BTreeMap<String, u64>> {
    let counts: Vec<(String, i64)> = E::find()
        .select_only()
        .column(state)
        .column_as(id.count(), "count")
        .group_by(state)
        .into_tuple()
        .all(db)
        .await?;
    Ok(counts
        .into_iter()
        .map(|(state, count)| (state, count.unsigned_abs()))
        .collect())
}

/// Appends whether this replica holds leadership `role`: 1 on the one replica that runs the
/// reaper, blob collection, SLO guards and schedules, 0 on the others.
pub fn leader(out: &mut String, role: &str, leads: bool) {
    header(
        out,
        "slipway_leader",
        "gauge",
        "Whether this replica leads the role (runs the once-per-tick loops).",
    );
    let _ = writeln!(
        out,
        "slipway_leader{{role=\"{}\"}} {}",
        label(role),
        u8::from(leads)
    );
}

/// Renders the predict counters of every deployment version, jobs by state, workers by state
/// and the queue depth.
pub async fn render(
    db: &DatabaseConnection,
    totals: &[(String, u32, Bucket)],
) -> ServiceResult<String> {
    let mut out = String::with_capacity(4096);
    predictions(&mut out, totals);
    jobs_and_workers(&mut out, db).await?;
    Ok(out)
}

/// Appends the predict counters and latency histograms of every deployment version: all a
/// serving replica, which has no database, exposes.
pub fn predictions(out: &mut String, totals: &[(String, u32, Bucket)]) {
    header(
        out,
        "slipway_predict_requests_total",
        "counter",
        "Predict requests by deployment, version and outcome.",
    );
    for (deployment, version, bucket) in totals {
        for outcome in [Outcome::Ok, Outcome::InvalidInput, Outcome::Error] {
            let count = bucket.outcomes.get(&outcome).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "slipway_predict_requests_total{{deployment=\"{}\",version=\"{version}\",outcome=\"{}\"}} {count}",
                label(deployment),
                outcome.as_str()
            );
        }
    }
    header(
        out,
        "slipway_predict_latency_seconds",
        "histogram",
        "Predict latency inside the server.",
    );
    for (deployment, version, bucket) in totals {
        let labels = format!("deployment=\"{}\",version=\"{version}\"", label(deployment));
        let mut cumulative = 0;
        for (index, bound) in latency_bounds().iter().enumerate() {
            cumulative += bucket.latency.get(index).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "slipway_predict_latency_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = bucket.requests();
        let _ = writeln!(
            out,
            "slipway_predict_latency_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "slipway_predict_latency_seconds_sum{{{labels}}} {}",
            bucket.latency_sum
        );
        let _ = writeln!(
            out,
            "slipway_predict_latency_seconds_count{{{labels}}} {count}"
        );
    }
    header(
        out,
        "slipway_predictions_total",
        "counter",
        "Predicted classes by deployment and version.",
    );
    for (deployment, version, bucket) in totals {
        for (class, count) in &bucket.classes {
            let _ = writeln!(
                out,
                "slipway_predictions_total{{deployment=\"{}\",version=\"{version}\",class=\"{}\"}} {count}",
                label(deployment),
                label(class)
            );
        }
    }
}

/// Appends jobs and workers by state and the queue depth.
async fn jobs_and_workers(out: &mut String, db: &DatabaseConnection) -> ServiceResult<()> {
    let mut jobs: BTreeMap<String, u64> = JobState::ALL
        .iter()
        .map(|state| (state.as_str().to_owned(), 0))
        .collect();
    jobs.extend(count_by_state::<job::Entity>(db, job::Column::State, job::Column::Id).await?);
    header(out, "slipway_jobs", "gauge", "Jobs by state.");
    for (state, count) in &jobs {
        let _ = writeln!(out, "slipway_jobs{{state=\"{}\"}} {count}", label(state));
    }
    header(
        out,
        "slipway_queue_depth",
        "gauge",
        "Jobs waiting for a worker.",
    );
    let _ = writeln!(
        out,
        "slipway_queue_depth {}",
        jobs.get(JobState::Queued.as_str()).copied().unwrap_or(0)
    );
    let workers =
        count_by_state::<worker::Entity>(db, worker::Column::State, worker::Column::Id).await?;
    header(out, "slipway_workers", "gauge", "Workers by state.");
    for (state, count) in &workers {
        let _ = writeln!(out, "slipway_workers{{state=\"{}\"}} {count}", label(state));
    }
    Ok(())
}
