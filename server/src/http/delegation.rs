//! Reads a claim of delegated authority from the job and lease headers; the rules are in
//! `queue::delegation`.

use super::error::{ApiResult, AppError};
use crate::auth::Caller;
use crate::queue::delegation::{self, Delegation};
use crate::state::AppState;
use axum::http::HeaderMap;
use slipway_api::{ErrorCode, JOB_HEADER, LEASE_HEADER};

/// The job the caller acts for, when the job header names one; a claim that does not hold is
/// refused rather than ignored, so a mistaken worker learns why.
pub async fn acting_for(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> ApiResult<Option<Delegation>> {
    let Some(value) = headers.get(JOB_HEADER) else {
        return Ok(None);
    };
    let job_id = value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::InvalidArgument,
                format!("{JOB_HEADER}: expected a job id"),
            )
        })?;
    let lease_id = headers
        .get(LEASE_HEADER)
        .and_then(|value| value.to_str().ok());
    Ok(Some(
        delegation::claim(&state.db, caller, job_id, lease_id).await?,
    ))
}
