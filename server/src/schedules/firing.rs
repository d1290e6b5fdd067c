//! Firing: the loop that claims each due time once (one conditional UPDATE of
//! `next_fire_at`), applies the misfire and overlap policies, submits the template's job and
//! records the firing; and the manual and drift-triggered firings.

use super::{
    Template, find, misfire_of, next_after, overlap_of, parse_cron, parse_timezone, template_of,
};
use crate::audit::{self, Change};
use crate::entity::operations::job::StoredJobState;
use crate::entity::operations::{job, schedule, schedule_firing};
use crate::error::ServiceResult;
use crate::queue::JobQueue;
use crate::queue::jobs::{self, Origin};
use crate::time::{from_millis, now_millis};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use slipway_api::{Misfire, Overlap};

/// The actor of firings nobody asked for: due times and drift alerts.
pub const ACTOR: &str = "scheduler";

/// Records a firing; a second record of the same due time is refused by the unique index.
/// A firing nobody asked for is audited too (a manual one is audited with the person who
/// triggered it), so that recent changes show what the scheduler started or held back.
async fn record(
    db: &DatabaseConnection,
    row: &schedule::Model,
    due_at: i64,
    outcome: &str,
    job_id: Option<i64>,
    message: Option<String>,
) -> ServiceResult<()> {
    schedule_firing::ActiveModel {
        schedule_id: Set(row.id),
        due_at: Set(due_at),
        fired_at: Set(now_millis()),
        outcome: Set(outcome.to_owned()),
        job_id: Set(job_id),
        message: Set(message.clone()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    if outcome == MANUAL {
        return Ok(());
    }
    let action = match (job_id, outcome) {
        (Some(_), _) => "schedule.fire",
        (None, "failed") => "schedule.fail",
        (None, _) => "schedule.skip",
    };
    let due = from_millis(due_at).format("%Y-%m-%d %H:%M UTC");
    let reason = match (job_id, message) {
        (_, Some(message)) => format!("due {due}: {message}"),
        (Some(job), None) => format!("due {due} ({outcome}): job {job}"),
        (None, None) => format!("due {due} ({outcome})"),
    };
    audit::record(
        db,
        Change {
            actor: ACTOR,
            action,
            target_kind: "schedule",
            target_id: row.name.clone(),
            reason: Some(&reason),
            details: Some(
                serde_json::json!({ "job_id": job_id, "due_at": due_at, "outcome": outcome }),
            ),
        },
    )
    .await?;
    Ok(())
}

/// The outcome of a firing by hand.
pub const MANUAL: &str = "triggered";

/// Whether the schedule's last fired job is still unfinished.
async fn previous_unfinished(
    db: &DatabaseConnection,
    schedule_id: i64,
) -> ServiceResult<Option<i64>> {
    let last = job::Entity::find()
        .filter(job::Column::ScheduleId.eq(schedule_id))
        .filter(job::Column::ParentId.is_null())
        .order_by_desc(job::Column::Id)
        .one(db)
        .await?;
    Ok(last
        .filter(|j| j.state == StoredJobState::Queued || j.state == StoredJobState::Running)
        .map(|j| j.id))
}

/// Submits the schedule's job for `due_at`, unless the overlap policy says no.
async fn fire(
    db: &DatabaseConnection,
    queue: &JobQueue,
    row: &schedule::Model,
    due_at: i64,
    outcome: &str,
) -> ServiceResult<Option<i64>> {
    if overlap_of(row)? == Overlap::Skip
        && let Some(running) = previous_unfinished(db, row.id).await?
    {
        let message = format!("job {running} from an earlier firing is still unfinished");
        record(db, row, due_at, "overlap_skipped", None, Some(message)).await?;
        return Ok(None);
    }
    let template: Template = template_of(row)?;
    let origin = Origin {
        schedule_id: Some(row.id),
        ..Origin::default()
    };
    let submitted = jobs::submit_from(db, queue, &row.created_by, &template.job, origin).await;
    match submitted {
        Ok(job) => {
            record(db, row, due_at, outcome, Some(job.id), None).await?;
            Ok(Some(job.id))
        }
        Err(err) => {
            record(db, row, due_at, "failed", None, Some(err.to_string())).await?;
            Err(err)
        }
    }
}

/// Fires every due schedule once; `grace` is how late a due time may be and still count as on
/// time (later ones are misfires).
pub async fn tick(
    db: &DatabaseConnection,
    queue: &JobQueue,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> ServiceResult<usize> {
    let due = schedule::Entity::find()
        .filter(schedule::Column::Paused.eq(false))
        .filter(schedule::Column::NextFireAt.lte(now.timestamp_millis()))
        .all(db)
        .await?;
    let mut fired = 0;
    for row in due {
        let (Ok(cron), Ok(zone)) = (parse_cron(&row.cron), parse_timezone(&row.timezone)) else {
            continue;
        };
        let Some(due_at) = row.next_fire_at else {
            continue;
        };
        let next = next_after(&cron, zone, now).map(|at| at.timestamp_millis());
        // The claim: only the process whose UPDATE still sees this due time fires it.
        let claimed = schedule::Entity::update_many()
            .col_expr(
                schedule::Column::NextFireAt,
                sea_orm::sea_query::Expr::value(next),
            )
            .col_expr(
                schedule::Column::LastFireAt,
                sea_orm::sea_query::Expr::value(Some(due_at)),
            )
            .filter(schedule::Column::Id.eq(row.id))
            .filter(schedule::Column::NextFireAt.eq(due_at))
            .exec(db)
            .await?
            .rows_affected
            == 1;
        if !claimed {
            continue;
        }
        let late = now - from_millis(due_at) > grace;
        if late {
            let mut missed = 0;
            let mut at = from_millis(due_at - 1);
            while let Some(next_due) = next_after(&cron, zone, at).filter(|t| *t <= now) {
                missed += 1;
                at = next_due;
                if missed >= 10_000 {
                    break;
                }
            }
            let misfire = match misfire_of(&row) {
                Ok(misfire) => misfire,
                Err(err) => {
                    // One bad row must not stop the other schedules.
                    tracing::warn!(schedule = %row.name, error = %err, "cannot fire the schedule");
                    record(db, &row, due_at, "failed", None, Some(err.to_string())).await?;
                    continue;
                }
            };
            if misfire == Misfire::Skip {
                let message = format!(
                    "{missed} due time(s) passed while no server was running; skipped (misfire policy skip)"
                );
                record(db, &row, due_at, "misfire_skipped", None, Some(message)).await?;
                continue;
            }
            let latest = at.timestamp_millis();
            if fire(db, queue, &row, latest, "misfire_run_once")
                .await
                .is_ok()
            {
                fired += 1;
            }
            continue;
        }
        match fire(db, queue, &row, due_at, "fired").await {
            Ok(Some(_)) => fired += 1,
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(schedule = %row.name, error = %err, "cannot fire the schedule")
            }
        }
    }
    Ok(fired)
}

/// Fires a schedule now, by hand (`trigger`) or on a drift alert (`drift`).
pub async fn trigger(
    db: &DatabaseConnection,
    queue: &JobQueue,
    actor: &str,
    (name, reason): (&str, Option<&str>),
    outcome: &str,
) -> ServiceResult<Option<i64>> {
    let row = find(db, name).await?;
    let job = fire(db, queue, &row, now_millis(), outcome).await?;
    audit::record(
        db,
        Change {
            actor,
            action: "schedule.trigger",
            target_kind: "schedule",
            target_id: name.to_owned(),
            reason,
            details: Some(serde_json::json!({ "job_id": job, "outcome": outcome })),
        },
    )
    .await?;
    Ok(job)
}

/// Fires the unpaused schedules that retrain on drift of `deployment`.
pub async fn fire_on_drift(
    db: &DatabaseConnection,
    queue: &JobQueue,
    deployment: &str,
) -> ServiceResult<()> {
    for row in schedule::Entity::find()
        .filter(schedule::Column::Paused.eq(false))
        .all(db)
        .await?
    {
        let template: Template = template_of(&row)?;
        if template.on_drift.as_deref() == Some(deployment) {
            fire(db, queue, &row, now_millis(), "drift").await?;
        }
    }
    Ok(())
}

/// Ticks every `every` until shutdown.
pub fn spawn(
    db: DatabaseConnection,
    queue: JobQueue,
    every: std::time::Duration,
    grace: chrono::Duration,
    leader: crate::cluster::leader::Leadership,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => break,
            }
            // The leader fires; the claim per due time in `tick` still holds if two replicas
            // ever both believe they lead.
            if !leader.is_leader() {
                continue;
            }
            if let Err(err) = tick(&db, &queue, Utc::now(), grace).await {
                tracing::warn!(error = %err, "the schedule tick failed");
            }
        }
    });
}
