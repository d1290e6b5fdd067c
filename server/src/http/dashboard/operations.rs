//! The dashboard's operational actions: acknowledge an alert, cancel or retry a job, pause,
//! resume or trigger a schedule. Each checks what the API checks for the same operation and
//! calls the same service function, after the checks every dashboard action runs
//! ([`super::actions::vet`]).

use super::super::error::AppError;
use super::super::schedules::may_change;
use super::actions::vet;
use super::session::PageContext;
use crate::auth::Permission;
use crate::monitoring::alerts;
use crate::queue::jobs;
use crate::schedules;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use slipway_api::JobState;
use slipway_web::layout::when;

/// Why an unconfirmed action went back to its form.
const UNCONFIRMED: &str = "tick the confirmation to go ahead";

fn operate(context: &PageContext) -> Result<(), AppError> {
    context
        .caller
        .require(Permission::Operate)
        .map_err(AppError::from)
}

/// `POST /alerts/{id}/acknowledge`.
pub async fn acknowledge(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let vetted = match vet(&context, operate(&context), &body, "/alerts", UNCONFIRMED) {
        Ok(vetted) => vetted,
        Err(answer) => return *answer,
    };
    let acknowledged = alerts::acknowledge(
        &state.db,
        &state.events,
        &context.caller.name,
        id,
        Some(&vetted.reason),
    )
    .await;
    match acknowledged {
        Ok(alert) => vetted.notice(&format!(
            "Acknowledged alert #{id} ({} on {})",
            alert.kind, alert.deployment
        )),
        Err(err) => vetted.error(&AppError::from(err).message),
    }
}

/// `POST /jobs/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let vetted = match vet(&context, operate(&context), &body, "/jobs", UNCONFIRMED) {
        Ok(vetted) => vetted,
        Err(answer) => return *answer,
    };
    let cancelled = jobs::cancel(
        &state.db,
        &state.queue,
        &context.caller.name,
        id,
        Some(&vetted.reason),
    )
    .await;
    match cancelled {
        Ok(job) if job.state == JobState::Cancelled => {
            vetted.notice(&format!("Cancelled job #{id}"))
        }
        // A running job stops at its worker's next heartbeat.
        Ok(_) => vetted.notice(&format!(
            "Cancel requested for job #{id}: its worker stops it shortly"
        )),
        Err(err) => vetted.error(&AppError::from(err).message),
    }
}

/// `POST /jobs/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let vetted = match vet(&context, operate(&context), &body, "/jobs", UNCONFIRMED) {
        Ok(vetted) => vetted,
        Err(answer) => return *answer,
    };
    let retried = jobs::retry(
        &state.db,
        &state.queue,
        &context.caller.name,
        id,
        Some(&vetted.reason),
    )
    .await;
    match retried {
        Ok(job) => vetted.notice(&format!(
            "Retried job #{id}: {} again, up to {} attempts in all",
            job.state, job.max_attempts
        )),
        Err(err) => vetted.error(&AppError::from(err).message),
    }
}

/// `POST /schedules/{name}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    context: PageContext,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    set_paused(&state, &context, &name, &body, true).await
}

/// `POST /schedules/{name}/resume`.
pub async fn resume(
    State(state): State<AppState>,
    context: PageContext,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    set_paused(&state, &context, &name, &body, false).await
}

async fn set_paused(
    state: &AppState,
    context: &PageContext,
    name: &str,
    body: &Bytes,
    paused: bool,
) -> Response {
    let allowed = may_change(state, &context.caller, name).await.map(drop);
    let vetted = match vet(context, allowed, body, "/schedules", UNCONFIRMED) {
        Ok(vetted) => vetted,
        Err(answer) => return *answer,
    };
    let changed = schedules::set_paused(
        &state.db,
        &context.caller.name,
        name,
        paused,
        Some(&vetted.reason),
    )
    .await;
    match changed {
        Ok(_) if paused => vetted.notice(&format!(
            "Paused schedule {name}: it fires no more until resumed"
        )),
        Ok(schedule) => {
            let next = schedule
                .next_fire_times
                .first()
                .map(|at| format!("; next due {} UTC", when(at)))
                .unwrap_or_default();
            vetted.notice(&format!("Resumed schedule {name}{next}"))
        }
        Err(err) => vetted.error(&AppError::from(err).message),
    }
}

/// `POST /schedules/{name}/trigger`.
pub async fn trigger(
    State(state): State<AppState>,
    context: PageContext,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let allowed = may_change(&state, &context.caller, &name).await.map(drop);
    let vetted = match vet(&context, allowed, &body, "/schedules", UNCONFIRMED) {
        Ok(vetted) => vetted,
        Err(answer) => return *answer,
    };
    let fired = schedules::trigger(
        &state.db,
        &state.queue,
        &context.caller.name,
        (&name, Some(&vetted.reason)),
        schedules::MANUAL,
    )
    .await;
    match fired {
        Ok(Some(job)) => vetted.notice(&format!("Triggered schedule {name}: job #{job} queued")),
        // The schedule's overlap policy held the firing back; its history says why.
        Ok(None) => vetted.error(&format!(
            "Schedule {name} did not fire: a job from an earlier firing is still unfinished \
             (see its history)"
        )),
        Err(err) => vetted.error(&AppError::from(err).message),
    }
}
