//! Cron schedules: a cron expression in a time zone (daylight saving handled by the time-zone
//! database) fires a job template. Each due time is claimed in the database with one
//! conditional UPDATE of `next_fire_at`, so with several servers on one database it fires
//! once. Due times missed while no server ran follow the misfire policy; a due time that comes
//! while the previous firing's job is unfinished follows the overlap policy.
//!
//! This module holds the schedules themselves (cron and time-zone parsing, create, list,
//! pause, delete, history); `firing` runs them.

mod firing;

pub use firing::{MANUAL, fire_on_drift, spawn, tick, trigger};

use crate::audit::{self, Change};
use crate::entity::job_columns::corrupt;
use crate::entity::operations::{job, schedule, schedule_firing};
use crate::error::{ServiceError, ServiceResult};
use crate::queue::jobs;
use crate::time::{from_millis, now_millis};
use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use slipway_api::{CreateSchedule, Firing, JobState, Misfire, Overlap, Schedule, SubmitJob};
use std::str::FromStr;

/// What the template column holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Template {
    job: SubmitJob,
    #[serde(default)]
    on_drift: Option<String>,
}

/// Parses a cron expression; the error says why.
pub fn parse_cron(text: &str) -> ServiceResult<Cron> {
    Cron::from_str(text.trim()).map_err(|err| {
        ServiceError::invalid(format!(
            "cron: '{text}' is not a cron expression ({err}); expected five fields (minute hour day month weekday) or six with seconds first, such as '0 3 * * *'"
        ))
    })
}

/// Parses an IANA time-zone name.
pub fn parse_timezone(text: &str) -> ServiceResult<Tz> {
    text.parse::<Tz>().map_err(|_| {
        ServiceError::invalid(format!(
            "timezone: unknown time zone '{text}'; expected an IANA name such as Europe/Paris or UTC"
        ))
    })
}

/// The first due time strictly after `after` (due times fall on whole seconds).
pub fn next_after(cron: &Cron, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // The search keeps the start's fraction of a second; due times must not.
    let whole = after.with_nanosecond(0).unwrap_or(after);
    cron.find_next_occurrence(&whole.with_timezone(&zone), false)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// A stored policy, read back by its wire name; unknown text is an error naming the row.
fn policy_of<T: DeserializeOwned>(
    row: &schedule::Model,
    column: &str,
    text: &str,
) -> ServiceResult<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|err| corrupt("schedules", row.id, column, err))
}

fn misfire_of(row: &schedule::Model) -> ServiceResult<Misfire> {
    policy_of(row, "misfire_policy", &row.misfire_policy)
}

fn overlap_of(row: &schedule::Model) -> ServiceResult<Overlap> {
    policy_of(row, "overlap_policy", &row.overlap_policy)
}

/// The job template of a schedule row.
fn template_of(row: &schedule::Model) -> ServiceResult<Template> {
    serde_json::from_str(&row.template).map_err(|err| corrupt("schedules", row.id, "template", err))
}

/// A policy's wire name, as stored.
fn policy_text<T: Serialize>(value: T) -> ServiceResult<String> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(text) => Ok(text),
        other => Err(ServiceError::internal(format!(
            "a schedule policy is not a name: {other}"
        ))),
    }
}

fn to_api(row: schedule::Model) -> ServiceResult<Schedule> {
    let template: Template = template_of(&row)?;
    let (misfire, overlap) = (misfire_of(&row)?, overlap_of(&row)?);
    let mut next_fire_times = Vec::new();
    if !row.paused
        && let (Ok(cron), Ok(zone)) = (parse_cron(&row.cron), parse_timezone(&row.timezone))
    {
        let mut at = row
            .next_fire_at
            .map(|ms| from_millis(ms - 1))
            .unwrap_or_else(Utc::now);
        for _ in 0..3 {
            let Some(next) = next_after(&cron, zone, at) else {
                break;
            };
            next_fire_times.push(next);
            at = next;
        }
    }
    Ok(Schedule {
        id: row.id,
        name: row.name,
        cron: row.cron,
        timezone: row.timezone,
        job: template.job,
        misfire,
        overlap,
        on_drift: template.on_drift,
        paused: row.paused,
        next_fire_times,
        last_fire_at: row.last_fire_at.map(from_millis),
        created_by: row.created_by,
        created_at: from_millis(row.created_at),
    })
}

async fn find(db: &DatabaseConnection, name: &str) -> ServiceResult<schedule::Model> {
    schedule::Entity::find()
        .filter(schedule::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("schedule '{name}' not found")))
}

/// Creates a schedule after checking its expression, time zone and job.
pub async fn create(
    db: &DatabaseConnection,
    actor: &str,
    request: &CreateSchedule,
) -> ServiceResult<Schedule> {
    crate::registry::validate_name("name", &request.name)?;
    let cron = parse_cron(&request.cron)?;
    let zone = parse_timezone(&request.timezone)?;
    jobs::validate(&request.job).map_err(|err| match err {
        ServiceError::InvalidArgument(message) => ServiceError::invalid(format!("job.{message}")),
        other => other,
    })?;
    let next = next_after(&cron, zone, Utc::now()).ok_or_else(|| {
        ServiceError::invalid(format!("cron: '{}' never comes due", request.cron))
    })?;
    let template = Template {
        job: request.job.clone(),
        on_drift: request.on_drift.clone(),
    };
    let txn = crate::db::begin_write(db).await?;
    let row = schedule::ActiveModel {
        name: Set(request.name.clone()),
        cron: Set(request.cron.trim().to_owned()),
        timezone: Set(request.timezone.clone()),
        template: Set(serde_json::to_string(&template)?),
        paused: Set(request.paused),
        misfire_policy: Set(policy_text(request.misfire)?),
        overlap_policy: Set(policy_text(request.overlap)?),
        next_fire_at: Set(Some(next.timestamp_millis())),
        last_fire_at: Set(None),
        created_by: Set(actor.to_owned()),
        created_at: Set(now_millis()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|err| {
        crate::error::conflict_on_unique(err, || {
            format!("schedule '{}' already exists", request.name)
        })
    })?;
    audit::record(&txn, Change {
        actor,
        action: "schedule.create",
        target_kind: "schedule",
        target_id: request.name.clone(),
        reason: None,
        details: Some(serde_json::json!({ "cron": request.cron, "timezone": request.timezone, "kind": request.job.spec.kind() })),
    })
    .await?;
    txn.commit().await?;
    to_api(row)
}

pub async fn list(db: &DatabaseConnection) -> ServiceResult<Vec<Schedule>> {
    schedule::Entity::find()
        .order_by_asc(schedule::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(to_api)
        .collect()
}

pub async fn get(db: &DatabaseConnection, name: &str) -> ServiceResult<Schedule> {
    to_api(find(db, name).await?)
}

/// Pauses or resumes; resuming counts from now, so no burst of missed firings follows.
pub async fn set_paused(
    db: &DatabaseConnection,
    actor: &str,
    name: &str,
    paused: bool,
    reason: Option<&str>,
) -> ServiceResult<Schedule> {
    let row = find(db, name).await?;
    let next = next_after(
        &parse_cron(&row.cron)?,
        parse_timezone(&row.timezone)?,
        Utc::now(),
    );
    let mut active: schedule::ActiveModel = row.into();
    active.paused = Set(paused);
    if !paused {
        active.next_fire_at = Set(next.map(|at| at.timestamp_millis()));
    }
    let row = active.update(db).await?;
    audit::record(
        db,
        Change {
            actor,
            action: if paused {
                "schedule.pause"
            } else {
                "schedule.resume"
            },
            target_kind: "schedule",
            target_id: name.to_owned(),
            reason,
            details: None,
        },
    )
    .await?;
    to_api(row)
}

pub async fn delete(
    db: &DatabaseConnection,
    actor: &str,
    name: &str,
    reason: Option<&str>,
) -> ServiceResult<()> {
    let row = find(db, name).await?;
    schedule::Entity::delete_by_id(row.id).exec(db).await?;
    audit::record(
        db,
        Change {
            actor,
            action: "schedule.delete",
            target_kind: "schedule",
            target_id: name.to_owned(),
            reason,
            details: None,
        },
    )
    .await?;
    Ok(())
}

/// The firings of a schedule, newest first, with their jobs' states.
pub async fn history(
    db: &DatabaseConnection,
    name: &str,
    limit: u64,
) -> ServiceResult<Vec<Firing>> {
    let row = find(db, name).await?;
    let firings = schedule_firing::Entity::find()
        .filter(schedule_firing::Column::ScheduleId.eq(row.id))
        .order_by_desc(schedule_firing::Column::DueAt)
        .limit(limit.clamp(1, 1000))
        .all(db)
        .await?;
    let job_ids: Vec<i64> = firings.iter().filter_map(|f| f.job_id).collect();
    let states: std::collections::HashMap<i64, String> = job::Entity::find()
        .filter(job::Column::Id.is_in(job_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|j| (j.id, JobState::from(j.state).as_str().to_owned()))
        .collect();
    Ok(firings
        .into_iter()
        .map(|f| Firing {
            id: f.id,
            due_at: from_millis(f.due_at),
            fired_at: from_millis(f.fired_at),
            outcome: f.outcome,
            job_state: f.job_id.and_then(|id| states.get(&id).cloned()),
            job_id: f.job_id,
            message: f.message,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_zones_and_daylight_saving() {
        let cron = parse_cron("0 3 * * *").unwrap();
        let zone = parse_timezone("Europe/Paris").unwrap();
        // 2026-03-29 is the spring-forward day in Paris: 03:00 local is 01:00 UTC (CEST).
        let before = DateTime::parse_from_rfc3339("2026-03-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = next_after(&cron, zone, before).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-03-29T01:00:00+00:00");
        let winter = next_after(
            &cron,
            zone,
            DateTime::parse_from_rfc3339("2026-01-10T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        )
        .unwrap();
        assert_eq!(winter.to_rfc3339(), "2026-01-11T02:00:00+00:00");
        let err = parse_cron("61 * * * *").err().unwrap().to_string();
        assert!(
            err.starts_with("cron: '61 * * * *' is not a cron expression"),
            "{err}"
        );
        let err = parse_timezone("Mars/Olympus").err().unwrap().to_string();
        assert!(err.contains("unknown time zone 'Mars/Olympus'"), "{err}");
        let every_second = parse_cron("* * * * * *").unwrap();
        let odd = DateTime::parse_from_rfc3339("2026-01-10T12:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = next_after(&every_second, zone, odd).unwrap();
        assert_eq!(
            next.to_rfc3339(),
            "2026-01-10T12:00:01+00:00",
            "whole seconds"
        );
    }
}
