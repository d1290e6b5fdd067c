//! Delegated authority: a worker running a `deploy` or `pipeline` job (submitted by an
//! engineer or admin) may change deployments and submit the pipeline's steps, naming the job in
//! the job header. The change is then recorded as the submitter's, through that job.

use super::error::ApiResult;
use crate::auth::{Caller, Permission};
use crate::entity::operations::job;
use crate::scheduler::jobs;
use crate::state::AppState;
use axum::http::HeaderMap;
use slipway_api::{JOB_HEADER, JobState};

/// The running operating job the caller acts for, if the job header names one.
pub async fn acting_for(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> ApiResult<Option<job::Model>> {
    let job_id = headers
        .get(JOB_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i64>().ok());
    let may_act_for_jobs =
        Permission::Work.allows(caller.role) || Permission::Operate.allows(caller.role);
    let (Some(job_id), true) = (job_id, may_act_for_jobs) else {
        return Ok(None);
    };
    let job = jobs::find(&state.db, job_id).await?;
    let acts = job.state == JobState::Running.as_str()
        && jobs::OPERATING_KINDS.contains(&job.kind.as_str());
    Ok(acts.then_some(job))
}
