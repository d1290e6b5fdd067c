//! Deployments: deploy, promote and rollback as append-only, audited revisions. Changes to
//! one deployment are serialised; a change made against a stale revision is refused. The new
//! revision's models are loaded and warm before it is committed and takes traffic.

use super::{Live, Serving};
use crate::audit::{self, Change};
use crate::entity::registry::{deployment, deployment_revision};
use crate::error::{ServiceError, ServiceResult};
use crate::registry::validate_name;
use crate::time::{from_millis, now_millis};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use slipway_api::{
    Canary, ChangeRequest, DeployRequest, Deployment, DeploymentRevision, DeploymentSpec,
};

/// What a revision row stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    action: String,
    spec: DeploymentSpec,
    previous: Option<DeploymentSpec>,
    rolled_back_to: Option<u32>,
}

/// A requested change.
#[derive(Debug, Clone)]
pub enum Requested {
    Deploy(DeployRequest),
    Promote(ChangeRequest),
    Rollback(ChangeRequest),
    /// Take the canary out (a guard's rollback of a breaching canary).
    RemoveCanary {
        expected_revision: u32,
    },
}

impl Requested {
    fn action(&self) -> &'static str {
        match self {
            Self::Deploy(_) => "deploy",
            Self::Promote(_) => "promote",
            Self::Rollback(_) | Self::RemoveCanary { .. } => "rollback",
        }
    }

    fn expected_revision(&self) -> Option<u32> {
        match self {
            Self::Deploy(request) => request.expected_revision,
            Self::Promote(request) | Self::Rollback(request) => request.expected_revision,
            Self::RemoveCanary { expected_revision } => Some(*expected_revision),
        }
    }
}

async fn find(db: &impl ConnectionTrait, name: &str) -> ServiceResult<Option<deployment::Model>> {
    Ok(deployment::Entity::find()
        .filter(deployment::Column::Name.eq(name))
        .one(db)
        .await?)
}

pub(crate) async fn find_existing(
    db: &impl ConnectionTrait,
    name: &str,
) -> ServiceResult<deployment::Model> {
    find(db, name)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("deployment '{name}' not found")))
}

async fn record_of(
    db: &impl ConnectionTrait,
    deployment_id: i64,
    revision: u32,
) -> ServiceResult<Record> {
    let row = deployment_revision::Entity::find()
        .filter(deployment_revision::Column::DeploymentId.eq(deployment_id))
        .filter(deployment_revision::Column::Revision.eq(revision as i32))
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("revision {revision} not found")))?;
    Ok(serde_json::from_str(&row.spec)?)
}

/// The spec of a revision and of the one before it.
pub async fn revision_specs(
    db: &DatabaseConnection,
    deployment_id: i64,
    revision: u32,
) -> ServiceResult<(DeploymentSpec, Option<DeploymentSpec>)> {
    let record = record_of(db, deployment_id, revision).await?;
    Ok((record.spec, record.previous))
}

fn check_percent(percent: f64) -> ServiceResult<()> {
    if percent.is_finite() && (0.0..=100.0).contains(&percent) {
        Ok(())
    } else {
        Err(ServiceError::invalid(format!(
            "canary_percent: expected 0 to 100, got {percent}"
        )))
    }
}

/// The spec a deploy request asks for, given the current one.
fn deployed_spec(
    current: Option<&DeploymentSpec>,
    request: &DeployRequest,
) -> ServiceResult<DeploymentSpec> {
    let model_changes = match (current, &request.model) {
        (None, None) => {
            return Err(ServiceError::invalid(
                "model: a new deployment needs the registered model it serves",
            ));
        }
        (Some(current), Some(model)) => *model != current.model,
        (None, Some(_)) => true,
        (Some(_), None) => false,
    };
    let mut spec = match current {
        Some(current) if !model_changes => current.clone(),
        _ => {
            if request.canary_percent.is_some_and(|p| p > 0.0) {
                return Err(ServiceError::invalid(
                    "canary_percent: deploy a primary version before adding a canary",
                ));
            }
            let version = request.version.ok_or_else(|| {
                ServiceError::invalid("version: name the version to serve as primary")
            })?;
            DeploymentSpec {
                model: request.model.clone().unwrap_or_default(),
                primary: version,
                canary: None,
                shadow: None,
            }
        }
    };
    match (request.canary_percent, request.version) {
        (Some(percent), _) if percent == 0.0 => {
            check_percent(percent)?;
            spec.canary = None;
        }
        (Some(percent), Some(version)) => {
            check_percent(percent)?;
            spec.canary = Some(Canary { version, percent });
        }
        (Some(percent), None) => {
            check_percent(percent)?;
            let canary = spec.canary.as_mut().ok_or_else(|| {
                ServiceError::invalid("version: name the canary's version (there is no canary yet)")
            })?;
            canary.percent = percent;
        }
        (None, Some(version)) => spec.primary = version,
        (None, None) => {}
    }
    if spec.canary.is_some_and(|c| c.version == spec.primary) {
        spec.canary = None;
    }
    if request.remove_shadow {
        spec.shadow = None;
    }
    if let Some(version) = request.shadow_version {
        spec.shadow = Some(version);
    }
    Ok(spec)
}

/// Applies a change to deployment `name` and returns it afterwards.
pub async fn change(
    serving: &Serving,
    actor: &str,
    name: &str,
    requested: &Requested,
    reason: Option<&str>,
) -> ServiceResult<Deployment> {
    validate_name("name", name)?;
    let db = serving.db()?;
    let _guard = serving.lock_changes(name).await;
    let existing = find(db, name).await?;
    let current = match &existing {
        Some(row) => Some(record_of(db, row.id, row.current_revision.unsigned_abs()).await?),
        None => None,
    };
    let current_revision = existing
        .as_ref()
        .map_or(0, |row| row.current_revision.unsigned_abs());
    if let Some(expected) = requested.expected_revision()
        && expected != current_revision
    {
        return Err(ServiceError::conflict(format!(
            "deployment '{name}' is at revision {current_revision}, not {expected}; reload it and try again"
        )));
    }
    let current_spec = current.as_ref().map(|record| &record.spec);
    let existing_spec = || {
        current_spec
            .ok_or_else(|| ServiceError::not_found(format!("deployment '{name}' not found")))
    };
    let (spec, rolled_back_to) = match requested {
        Requested::Deploy(request) => {
            let spec = deployed_spec(current_spec, request)?;
            if let Some(current) = current_spec {
                super::switch::check(db, name, current, &spec, request).await?;
            }
            (spec, None)
        }
        Requested::Promote(_) => {
            let spec = existing_spec()?;
            let canary = spec.canary.ok_or_else(|| {
                ServiceError::conflict(format!("deployment '{name}' has no canary to promote"))
            })?;
            let promoted = DeploymentSpec {
                primary: canary.version,
                canary: None,
                ..spec.clone()
            };
            (promoted, None)
        }
        Requested::RemoveCanary { .. } => {
            let spec = existing_spec()?;
            let without = DeploymentSpec {
                canary: None,
                ..spec.clone()
            };
            (without, None)
        }
        Requested::Rollback(request) => {
            let row = existing
                .as_ref()
                .ok_or_else(|| ServiceError::not_found(format!("deployment '{name}' not found")))?;
            let target = match request.to_revision {
                Some(target) if target == 0 || target >= current_revision => {
                    return Err(ServiceError::invalid(format!(
                        "to_revision: expected an earlier revision, 1 to {}",
                        current_revision.saturating_sub(1)
                    )));
                }
                Some(target) => target,
                None if current_revision <= 1 => {
                    return Err(ServiceError::conflict(format!(
                        "deployment '{name}' has no earlier revision to roll back to"
                    )));
                }
                None => current_revision - 1,
            };
            (record_of(db, row.id, target).await?.spec, Some(target))
        }
    };
    if current_spec == Some(&spec)
        && rolled_back_to.is_none()
        && let Some(row) = existing.clone()
    {
        // Nothing changes: the same request twice is not two revisions.
        return to_api(serving, row, spec);
    }
    let revision = current_revision + 1;
    // Load and warm before committing: the revision takes traffic only once it can answer.
    let live: Live = serving
        .prepare(
            existing.as_ref().map_or(0, |row| row.id),
            revision,
            &spec,
            current_spec,
        )
        .await
        .map_err(|err| match err {
            // A version that does not exist is a mistake in the request.
            ServiceError::NotFound(message) => ServiceError::invalid(message),
            other => other,
        })?;

    let txn = crate::db::begin_write(db).await?;
    let now = now_millis();
    let deployment_row = match existing {
        Some(_) => {
            // Another server may have changed it since we read it.
            let fresh = find_existing(&txn, name).await?;
            if fresh.current_revision.unsigned_abs() != current_revision {
                return Err(ServiceError::conflict(format!(
                    "deployment '{name}' changed meanwhile (now revision {}); try again",
                    fresh.current_revision
                )));
            }
            let mut active: deployment::ActiveModel = fresh.into();
            active.current_revision = Set(revision as i32);
            active.updated_at = Set(now);
            active.update(&txn).await?
        }
        None => {
            deployment::ActiveModel {
                name: Set(name.to_owned()),
                current_revision: Set(revision as i32),
                slo_policy: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    let record = Record {
        action: requested.action().to_owned(),
        spec: spec.clone(),
        previous: current_spec.cloned(),
        rolled_back_to,
    };
    deployment_revision::ActiveModel {
        deployment_id: Set(deployment_row.id),
        revision: Set(revision as i32),
        spec: Set(serde_json::to_string(&record)?),
        actor: Set(actor.to_owned()),
        reason: Set(reason.map(str::to_owned)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Change {
            actor,
            action: match requested {
                Requested::Deploy(_) => "deployment.deploy",
                Requested::Promote(_) => "deployment.promote",
                Requested::Rollback(_) | Requested::RemoveCanary { .. } => "deployment.rollback",
            },
            target_kind: "deployment",
            target_id: name.to_owned(),
            reason,
            details: Some(serde_json::json!({
                "revision": revision,
                "before": current_spec,
                "after": spec,
                "rolled_back_to": rolled_back_to,
            })),
        },
    )
    .await?;
    txn.commit().await?;
    serving.install(
        name,
        Live {
            deployment_id: deployment_row.id,
            ..live
        },
    );
    to_api(serving, deployment_row, spec)
}

fn to_api(
    serving: &Serving,
    row: deployment::Model,
    spec: DeploymentSpec,
) -> ServiceResult<Deployment> {
    let revision = row.current_revision.unsigned_abs();
    Ok(Deployment {
        ready: serving.is_ready(&row.name, revision),
        name: row.name,
        revision,
        spec,
        created_at: from_millis(row.created_at),
        updated_at: from_millis(row.updated_at),
    })
}

/// One deployment.
pub async fn get(serving: &Serving, name: &str) -> ServiceResult<Deployment> {
    let row = find_existing(serving.db()?, name).await?;
    let record = record_of(serving.db()?, row.id, row.current_revision.unsigned_abs()).await?;
    to_api(serving, row, record.spec)
}

/// Every deployment, by name.
pub async fn list(serving: &Serving) -> ServiceResult<Vec<Deployment>> {
    let db = serving.db()?;
    let rows = deployment::Entity::find()
        .order_by_asc(deployment::Column::Name)
        .all(db)
        .await?;
    let mut deployments = Vec::with_capacity(rows.len());
    for row in rows {
        let record = record_of(db, row.id, row.current_revision.unsigned_abs()).await?;
        deployments.push(to_api(serving, row, record.spec)?);
    }
    Ok(deployments)
}

/// Every revision of a deployment, newest first.
pub async fn revisions(serving: &Serving, name: &str) -> ServiceResult<Vec<DeploymentRevision>> {
    let db = serving.db()?;
    let row = find_existing(db, name).await?;
    deployment_revision::Entity::find()
        .filter(deployment_revision::Column::DeploymentId.eq(row.id))
        .order_by_desc(deployment_revision::Column::Revision)
        .all(db)
        .await?
        .into_iter()
        .map(|revision| {
            let record: Record = serde_json::from_str(&revision.spec)?;
            Ok(DeploymentRevision {
                revision: revision.revision.unsigned_abs(),
                action: record.action,
                spec: record.spec,
                previous: record.previous,
                rolled_back_to: record.rolled_back_to,
                actor: revision.actor,
                reason: revision.reason,
                created_at: from_millis(revision.created_at),
            })
        })
        .collect()
}

/// The shadow comparisons of a deployment.
pub async fn shadow(
    serving: &Serving,
    name: &str,
) -> ServiceResult<Vec<slipway_api::ShadowComparison>> {
    let row = find_existing(serving.db()?, name).await?;
    serving.shadow_comparisons(row.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(primary: u32) -> DeploymentSpec {
        DeploymentSpec {
            model: "digits".into(),
            primary,
            canary: None,
            shadow: None,
        }
    }

    #[test]
    fn deploy_requests_change_only_what_they_name() {
        let created = deployed_spec(
            None,
            &DeployRequest {
                model: Some("digits".into()),
                version: Some(1),
                ..DeployRequest::default()
            },
        )
        .unwrap();
        assert_eq!(created, spec(1));
        let canary = deployed_spec(
            Some(&created),
            &DeployRequest {
                version: Some(2),
                canary_percent: Some(20.0),
                shadow_version: Some(3),
                ..DeployRequest::default()
            },
        )
        .unwrap();
        assert_eq!(canary.primary, 1);
        assert_eq!(
            canary.canary,
            Some(Canary {
                version: 2,
                percent: 20.0
            })
        );
        assert_eq!(canary.shadow, Some(3));
        let removed = deployed_spec(
            Some(&canary),
            &DeployRequest {
                canary_percent: Some(0.0),
                remove_shadow: true,
                ..DeployRequest::default()
            },
        )
        .unwrap();
        assert_eq!(removed, spec(1));
        let err = deployed_spec(None, &DeployRequest::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("model:"), "{err}");
        let err = deployed_spec(
            Some(&created),
            &DeployRequest {
                canary_percent: Some(150.0),
                version: Some(2),
                ..DeployRequest::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("canary_percent: expected 0 to 100"),
            "{err}"
        );
    }
}
