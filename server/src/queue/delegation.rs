//! Delegated authority: a worker running a `deploy` or `pipeline` job acts for the engineer
//! who submitted it, within what the job's spec names and nothing more.
//!
//! A claim names the job and proves it with the job's current lease id. It is accepted only
//! from the token that registered the worker holding that lease, only while the job runs, and
//! only for the job's own scope: a `deploy` job may deploy its deployment; a `pipeline` may
//! submit children of the kinds its steps declare (never another pipeline, never more of a kind
//! than it has steps of it, a `deploy` child only for its own deployment and model), promote its
//! deployment when it has a promote step, and cancel its own children. Every change made this
//! way is recorded with both names, e.g. `ml-team (job 12, worker gpu-box)`.

use super::jobs::find;
use super::workers;
use crate::auth::{Caller, Permission};
use crate::entity::job_columns::stored_spec;
use crate::entity::operations::job::StoredJobState;
use crate::entity::operations::{job, worker};
use crate::error::{ServiceError, ServiceResult};
use crate::serving::deployments::Requested;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use slipway_api::{JobKind, JobSpec, Step, SubmitJob};
use subtle::ConstantTimeEq;

/// What a deployment change delegated to a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentChange {
    Deploy,
    Promote,
    Rollback,
}

impl From<&Requested> for DeploymentChange {
    fn from(requested: &Requested) -> Self {
        match requested {
            Requested::Deploy(_) => Self::Deploy,
            Requested::Promote(_) => Self::Promote,
            Requested::Rollback(_) | Requested::RemoveCanary { .. } => Self::Rollback,
        }
    }
}

/// An accepted claim: the job acted for and the worker acting.
#[derive(Debug, Clone)]
pub struct Delegation {
    pub job: job::Model,
    pub worker: worker::Model,
}

fn refused(message: impl Into<String>) -> ServiceError {
    ServiceError::PermissionDenied(message.into())
}

/// Checks a claim to act for job `job_id` under lease `lease_id`, made by `caller`.
pub async fn claim(
    db: &DatabaseConnection,
    caller: &Caller,
    job_id: i64,
    lease_id: Option<&str>,
) -> ServiceResult<Delegation> {
    let refusal = || {
        refused(format!(
            "job {job_id}: only the worker holding the job's current lease may act for it, with its lease id"
        ))
    };
    if !Permission::Work.allows(caller.role) {
        return Err(refusal());
    }
    let lease_id = lease_id.ok_or_else(refusal)?;
    let job = match find(db, job_id).await {
        Ok(job) => job,
        Err(ServiceError::NotFound(_)) => return Err(refusal()),
        Err(err) => return Err(err),
    };
    let lease_matches = job
        .lease_id
        .as_deref()
        .is_some_and(|held| bool::from(held.as_bytes().ct_eq(lease_id.as_bytes())));
    let running = job.state == StoredJobState::Running;
    let operating = JobKind::from(job.kind).operates();
    let (Some(worker_id), true, true, true) = (job.worker_id, lease_matches, running, operating)
    else {
        return Err(refusal());
    };
    let worker = workers::owned(db, worker_id, &caller.name)
        .await
        .map_err(|_| refusal())?;
    Ok(Delegation { job, worker })
}

impl Delegation {
    /// The name changes are recorded under: the submitter, through the job and the worker.
    pub fn actor(&self) -> String {
        format!(
            "{} (job {}, worker {})",
            self.job.created_by, self.job.id, self.worker.name
        )
    }

    /// The job's stored spec, read as its kind's type.
    fn spec(&self) -> ServiceResult<JobSpec> {
        stored_spec(self.job.id, self.job.kind, &self.job.spec)
    }

    fn kind(&self) -> JobKind {
        self.job.kind.into()
    }

    /// Checks that the job's spec covers `change` of deployment `name`.
    pub fn allows_deployment(&self, name: &str, change: DeploymentChange) -> ServiceResult<()> {
        let allowed = match self.spec()? {
            JobSpec::Deploy(spec) => spec.deployment == name && change == DeploymentChange::Deploy,
            JobSpec::Pipeline(spec) => {
                spec.deployment.as_deref() == Some(name)
                    && change == DeploymentChange::Promote
                    && spec
                        .steps
                        .iter()
                        .any(|step| matches!(step, Step::Promote { .. }))
            }
            JobSpec::Sleep(_)
            | JobSpec::Fail(_)
            | JobSpec::Train(_)
            | JobSpec::Evaluate(_)
            | JobSpec::Command(_) => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(refused(format!(
                "job {} ({}) may not {} deployment '{name}': its spec does not name that change",
                self.job.id,
                self.kind(),
                match change {
                    DeploymentChange::Deploy => "deploy",
                    DeploymentChange::Promote => "promote",
                    DeploymentChange::Rollback => "roll back",
                }
            )))
        }
    }

    /// Checks that the job, a pipeline, may submit `request` as one of its steps.
    pub async fn allows_child(
        &self,
        db: &DatabaseConnection,
        request: &SubmitJob,
    ) -> ServiceResult<()> {
        let kind = request.spec.kind();
        let JobSpec::Pipeline(spec) = self.spec()? else {
            return Err(refused(format!(
                "job {} ({}) submits no jobs; only a pipeline submits its steps",
                self.job.id,
                self.kind()
            )));
        };
        let declared = spec
            .steps
            .iter()
            .filter(|step| step.job_kind() == Some(kind))
            .count() as u64;
        if kind.coordinates() || declared == 0 {
            return Err(refused(format!(
                "kind: pipeline job {} declares no '{kind}' step",
                self.job.id
            )));
        }
        if let JobSpec::Deploy(child) = &request.spec {
            let own_model = child.model.as_deref().is_none_or(|m| m == spec.model);
            if spec.deployment.as_deref() != Some(child.deployment.as_str()) || !own_model {
                return Err(refused(format!(
                    "spec.deployment: pipeline job {} deploys only {} of model {}",
                    self.job.id,
                    spec.deployment.as_deref().unwrap_or("(no deployment)"),
                    spec.model
                )));
            }
        }
        // Children of this attempt: those created since the attempt started.
        let submitted = job::Entity::find()
            .filter(job::Column::ParentId.eq(self.job.id))
            .filter(job::Column::Kind.eq(job::StoredJobKind::from(kind)))
            .filter(job::Column::CreatedAt.gte(self.job.started_at.unwrap_or_default()))
            .count(db)
            .await?;
        if submitted >= declared {
            return Err(refused(format!(
                "kind: pipeline job {} has {declared} '{kind}' step(s) and already submitted {submitted} in this attempt",
                self.job.id
            )));
        }
        Ok(())
    }

    /// Checks that the job may cancel job `target`: only its own children.
    pub async fn allows_cancel(&self, db: &DatabaseConnection, target: i64) -> ServiceResult<()> {
        let child = find(db, target).await?;
        if child.parent_id == Some(self.job.id) {
            Ok(())
        } else {
            Err(refused(format!(
                "job {} may cancel only its own child jobs; job {target} is not one",
                self.job.id
            )))
        }
    }
}
