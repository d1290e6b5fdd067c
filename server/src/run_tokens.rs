//! Run tokens: the credential a `command` job's script gets (`MLFLOW_TRACKING_TOKEN`,
//! `SLIPWAY_TOKEN`). It may read what a viewer reads and write only to its one run, and it
//! lives exactly as long as the attempt that asked for it: it is bound to the job's current
//! lease, so it stops working when the job ends, is cancelled, or its lease is lost.
//!
//! A run token reads `slw_job<job id>r<run id>_<secret>`; the secret is the SHA-256 of the
//! attempt's lease id (128 random bits the server and the worker hold) with the run id. So
//! nothing is stored: verifying reads the job row, which also says whether the attempt still
//! holds its lease. Only the worker holding the lease can ask for one.

use crate::auth::Caller;
use crate::entity::operations::job::{StoredJobKind, StoredJobState};
use crate::error::{ServiceError, ServiceResult};
use crate::queue::jobs::find;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use slipway_api::{Role, RunToken, RunTokenRequest};
use subtle::ConstantTimeEq;

const KEY_PREFIX: &str = "job";

fn secret(lease_id: &str, run_id: i64) -> String {
    let mut hash = Sha256::new();
    hash.update(b"slipway run token\n");
    hash.update(lease_id.as_bytes());
    hash.update(b"\n");
    hash.update(run_id.to_string().as_bytes());
    hex::encode(hash.finalize())
}

/// The job and run ids of a run token's key id (`job12r7`); none for any other token.
fn parse_key(key_id: &str) -> Option<(i64, i64)> {
    let (job, run) = key_id.strip_prefix(KEY_PREFIX)?.split_once('r')?;
    Some((job.parse().ok()?, run.parse().ok()?))
}

/// Makes the token for the script of command job `job_id`, asked by the token named `owner`
/// that registered the worker holding the job's lease.
pub async fn mint(
    db: &DatabaseConnection,
    owner: &str,
    job_id: i64,
    request: &RunTokenRequest,
) -> ServiceResult<RunToken> {
    let (row, _) = crate::queue::leasing::held(db, job_id, &request.lease_id, owner).await?;
    if row.kind != StoredJobKind::Command {
        return Err(ServiceError::invalid(format!(
            "job {job_id} is a {} job; only command jobs get run tokens",
            slipway_api::JobKind::from(row.kind)
        )));
    }
    crate::tracking::runs::find(db, request.run_id).await?;
    let secret = secret(&request.lease_id, request.run_id);
    Ok(RunToken {
        token: format!("slw_{KEY_PREFIX}{job_id}r{}_{secret}", request.run_id),
        run_id: request.run_id,
    })
}

/// The caller of a run token; `Ok(None)` when `key_id` is not a run token's.
pub async fn verify(
    db: &DatabaseConnection,
    key_id: &str,
    presented: &str,
) -> ServiceResult<Option<Caller>> {
    let Some((job_id, run_id)) = parse_key(key_id) else {
        return Ok(None);
    };
    let expired = || ServiceError::Unauthenticated("invalid or expired run token".to_owned());
    let row = match find(db, job_id).await {
        Ok(row) => row,
        Err(ServiceError::NotFound(_)) => return Err(expired()),
        Err(err) => return Err(err),
    };
    let Some(lease_id) = row
        .lease_id
        .as_deref()
        .filter(|_| row.state == StoredJobState::Running && row.kind == StoredJobKind::Command)
    else {
        return Err(expired());
    };
    let expected = secret(lease_id, run_id);
    if !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(expired());
    }
    Ok(Some(Caller {
        name: format!("{} (job {job_id})", row.created_by),
        role: Role::Viewer,
        run_scope: Some(run_id),
    }))
}

/// The MLflow API's calls a run token may make beside reads: searches (which MLflow posts) and
/// changes to a run, whose handlers check that the run named in the body (or the artifact
/// path) is the token's own.
const MLFLOW_RUN_CALLS: [&str; 12] = [
    "/api/2.0/mlflow/runs/search",
    "/api/2.0/mlflow/experiments/search",
    "/api/2.0/mlflow/logged-models/search",
    "/api/2.0/mlflow/runs/update",
    "/api/2.0/mlflow/runs/delete",
    "/api/2.0/mlflow/runs/restore",
    "/api/2.0/mlflow/runs/log-batch",
    "/api/2.0/mlflow/runs/log-metric",
    "/api/2.0/mlflow/runs/log-parameter",
    "/api/2.0/mlflow/runs/set-tag",
    "/api/2.0/mlflow/runs/delete-tag",
    "/api/2.0/mlflow/runs/log-inputs",
];

/// Whether a caller limited to run `run_id` may make this request: any read, writes under that
/// run's own paths (`/api/v1/runs/{run_id}` and below), and the MLflow calls that change a run
/// or search (the MLflow handlers hold the caller to its run).
pub fn allows(run_id: i64, method: &axum::http::Method, path: &str) -> bool {
    if matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD) {
        return true;
    }
    if MLFLOW_RUN_CALLS.contains(&path) || path.starts_with("/api/2.0/mlflow-artifacts/artifacts/")
    {
        return true;
    }
    let own = format!("/api/v1/runs/{run_id}");
    path == own
        || path
            .strip_prefix(&own)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn a_key_names_its_job_and_run_and_nothing_else_parses() {
        assert_eq!(parse_key("job12r7"), Some((12, 7)));
        assert_eq!(parse_key("a1b2c3d4e5f6"), None);
        assert_eq!(parse_key("job12"), None);
        assert_eq!(parse_key("jobxr7"), None);
    }

    #[test]
    fn the_secret_depends_on_the_lease_and_the_run() {
        assert_ne!(secret("lease-a", 1), secret("lease-b", 1));
        assert_ne!(secret("lease-a", 1), secret("lease-a", 2));
        assert_eq!(secret("lease-a", 1).len(), 64);
    }

    #[test]
    fn mlflow_changes_to_a_run_pass_on_to_their_handlers_and_others_are_refused() {
        assert!(allows(7, &Method::POST, "/api/2.0/mlflow/runs/log-batch"));
        assert!(allows(7, &Method::POST, "/api/2.0/mlflow/runs/search"));
        assert!(allows(
            7,
            &Method::PUT,
            "/api/2.0/mlflow-artifacts/artifacts/1/7/artifacts/model.onnx"
        ));
        assert!(!allows(7, &Method::POST, "/api/2.0/mlflow/runs/create"));
        assert!(!allows(
            7,
            &Method::POST,
            "/api/2.0/mlflow/experiments/create"
        ));
        assert!(!allows(
            7,
            &Method::POST,
            "/api/2.0/mlflow/registered-models/create"
        ));
    }

    #[test]
    fn writes_are_allowed_only_under_the_run() {
        assert!(allows(7, &Method::POST, "/api/v1/runs/7/log-batch"));
        assert!(allows(7, &Method::PATCH, "/api/v1/runs/7"));
        assert!(allows(
            7,
            &Method::PUT,
            "/api/v1/runs/7/artifacts/model.json"
        ));
        assert!(allows(7, &Method::GET, "/api/v1/models"));
        assert!(!allows(7, &Method::POST, "/api/v1/runs/8/log-batch"));
        assert!(!allows(7, &Method::POST, "/api/v1/runs/70/log-batch"));
        assert!(!allows(7, &Method::POST, "/api/v1/jobs"));
        assert!(!allows(7, &Method::POST, "/api/v1/runs"));
    }
}
