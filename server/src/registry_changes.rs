//! Changes to the registry beyond registering a training run and moving aliases (which
//! `registry` owns): creating a model with no version yet, renaming and describing models and
//! versions, deleting them, and registering any directory of a run's artifacts as a version
//! (what the MLflow API's clients do). A model or version that a deployment has served stays:
//! its revisions must stay re-appliable by a rollback.

use crate::audit::{self, Change};
use crate::blobs::BlobStore;
use crate::entity::registry::{deployment_revision, model, model_alias, model_version};
use crate::error::{ServiceError, ServiceResult, conflict_on_unique};
use crate::registry::{self, Lineage, Selector, validate_name};
use crate::time::now_millis;
use crate::tracking::runs;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter,
};
use slipway_api::{ModelVersion, RegisterModel, RegisteredModel};
use std::collections::BTreeMap;

async fn record(
    db: &impl ConnectionTrait,
    actor: &str,
    action: &str,
    target: String,
    details: serde_json::Value,
) -> ServiceResult<()> {
    audit::record(
        db,
        Change {
            actor,
            action,
            target_kind: "model",
            target_id: target,
            reason: None,
            details: Some(details),
        },
    )
    .await
}

/// Creates model `name` with no version yet.
pub async fn create_model(
    db: &DatabaseConnection,
    actor: &str,
    name: &str,
    description: Option<String>,
) -> ServiceResult<RegisteredModel> {
    validate_name("name", name)?;
    let txn = crate::db::begin_write(db).await?;
    let now = now_millis();
    model::ActiveModel {
        name: Set(name.to_owned()),
        description: Set(description.filter(|d| !d.is_empty())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|err| conflict_on_unique(err, || format!("model '{name}' already exists")))?;
    record(
        &txn,
        actor,
        "model.create",
        name.to_owned(),
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    registry::get(db, name).await
}

/// Names of the models that some deployment revision serves.
async fn deployed_models(db: &impl ConnectionTrait) -> ServiceResult<BTreeMap<String, Vec<u32>>> {
    let mut served: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for revision in deployment_revision::Entity::find().all(db).await? {
        let Ok(spec) = serde_json::from_str::<slipway_api::DeploymentSpec>(&revision.spec) else {
            continue;
        };
        let versions = served.entry(spec.model).or_default();
        versions.push(spec.primary);
        versions.extend(spec.canary.map(|canary| canary.version));
        versions.extend(spec.shadow);
    }
    Ok(served)
}

/// Renames model `name`; refused while a deployment serves it (its revisions name it).
pub async fn rename_model(
    db: &DatabaseConnection,
    actor: &str,
    name: &str,
    new_name: &str,
) -> ServiceResult<RegisteredModel> {
    validate_name("new_name", new_name)?;
    let txn = crate::db::begin_write(db).await?;
    let row = registry::find_model(&txn, name).await?;
    if deployed_models(&txn).await?.contains_key(name) {
        return Err(ServiceError::conflict(format!(
            "model '{name}' is served by a deployment, whose revisions name it; it keeps its name"
        )));
    }
    let mut active: model::ActiveModel = row.into();
    active.name = Set(new_name.to_owned());
    active.updated_at = Set(now_millis());
    active
        .update(&txn)
        .await
        .map_err(|err| conflict_on_unique(err, || format!("model '{new_name}' already exists")))?;
    record(
        &txn,
        actor,
        "model.rename",
        new_name.to_owned(),
        serde_json::json!({ "before": name }),
    )
    .await?;
    txn.commit().await?;
    registry::get(db, new_name).await
}

/// Sets model `name`'s description.
pub async fn describe_model(
    db: &DatabaseConnection,
    actor: &str,
    name: &str,
    description: Option<String>,
) -> ServiceResult<RegisteredModel> {
    let txn = crate::db::begin_write(db).await?;
    let row = registry::find_model(&txn, name).await?;
    let mut active: model::ActiveModel = row.into();
    active.description = Set(description.clone().filter(|d| !d.is_empty()));
    active.updated_at = Set(now_millis());
    active.update(&txn).await?;
    record(
        &txn,
        actor,
        "model.describe",
        name.to_owned(),
        serde_json::json!({ "description": description }),
    )
    .await?;
    txn.commit().await?;
    registry::get(db, name).await
}

/// Sets the description of version `version` of model `name`.
pub async fn describe_version(
    db: &DatabaseConnection,
    actor: &str,
    name: &str,
    version: u32,
    description: Option<String>,
) -> ServiceResult<ModelVersion> {
    let txn = crate::db::begin_write(db).await?;
    let row = registry::find_version(&txn, name, &Selector::Number(version)).await?;
    let mut active: model_version::ActiveModel = row.into();
    active.description = Set(description.clone().filter(|d| !d.is_empty()));
    active.update(&txn).await?;
    record(
        &txn,
        actor,
        "model.version.describe",
        format!("{name}:{version}"),
        serde_json::json!({ "description": description }),
    )
    .await?;
    txn.commit().await?;
    registry::version(db, name, &Selector::Number(version)).await
}

/// Deletes version `version` of model `name` with its aliases; refused while a deployment
/// revision names it.
pub async fn delete_version(
    db: &DatabaseConnection,
    actor: &str,
    name: &str,
    version: u32,
) -> ServiceResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let row = registry::find_version(&txn, name, &Selector::Number(version)).await?;
    if deployed_models(&txn)
        .await?
        .get(name)
        .is_some_and(|versions| versions.contains(&version))
    {
        return Err(ServiceError::conflict(format!(
            "model '{name}' version {version} is named by a deployment revision; a rollback may need it"
        )));
    }
    model_alias::Entity::delete_many()
        .filter(model_alias::Column::ModelVersionId.eq(row.id))
        .exec(&txn)
        .await?;
    model_version::Entity::delete_by_id(row.id)
        .exec(&txn)
        .await?;
    record(
        &txn,
        actor,
        "model.version.delete",
        format!("{name}:{version}"),
        serde_json::json!({ "run_id": row.run_id }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes model `name` with its versions and aliases; refused while a deployment serves it.
pub async fn delete_model(db: &DatabaseConnection, actor: &str, name: &str) -> ServiceResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let row = registry::find_model(&txn, name).await?;
    if deployed_models(&txn).await?.contains_key(name) {
        return Err(ServiceError::conflict(format!(
            "model '{name}' is served by a deployment, whose revisions name it; it stays"
        )));
    }
    model_alias::Entity::delete_many()
        .filter(model_alias::Column::ModelId.eq(row.id))
        .exec(&txn)
        .await?;
    model_version::Entity::delete_many()
        .filter(model_version::Column::ModelId.eq(row.id))
        .exec(&txn)
        .await?;
    model::Entity::delete_by_id(row.id).exec(&txn).await?;
    record(
        &txn,
        actor,
        "model.delete",
        name.to_owned(),
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The run-relative artifact path each version of model `name` was registered from (empty:
/// the run's root).
pub async fn sources(db: &DatabaseConnection, name: &str) -> ServiceResult<BTreeMap<u32, String>> {
    let row = registry::find_model(db, name).await?;
    Ok(model_version::Entity::find()
        .filter(model_version::Column::ModelId.eq(row.id))
        .all(db)
        .await?
        .into_iter()
        .map(|v| {
            let lineage: Lineage = serde_json::from_str(&v.lineage).unwrap_or_default();
            (v.version.unsigned_abs(), lineage.source.unwrap_or_default())
        })
        .collect())
}

/// Registers the artifacts of run `run_id` under `path` (a directory, or the run's root when
/// empty) as the next version of `name`. A Slipway model there (`model.json` and
/// `model.safetensors` at the run's root) registers as `registry::register` does, servable;
/// any other directory (an MLflow model, say) is recorded with its digest (its `MLmodel`
/// file's, else its first file's) and lineage, for the registry's history and aliases.
pub async fn register_path(
    db: &DatabaseConnection,
    store: &BlobStore,
    actor: &str,
    name: &str,
    (run_id, path): (i64, &str),
    description: Option<String>,
) -> ServiceResult<ModelVersion> {
    validate_name("name", name)?;
    let path = path.trim_matches('/');
    let run = runs::get(db, run_id).await.map_err(|err| match err {
        ServiceError::NotFound(message) => ServiceError::invalid(format!("run_id: {message}")),
        other => other,
    })?;
    let has = |file: &str| run.artifacts.iter().any(|a| a.path == file);
    if path.is_empty() && has("model.json") && has("model.safetensors") {
        let request = RegisterModel {
            run_id,
            description,
        };
        return registry::register(db, store, actor, name, &request).await;
    }
    let prefix = format!("{path}/");
    let files: Vec<_> = run
        .artifacts
        .iter()
        .filter(|a| path.is_empty() || a.path == path || a.path.starts_with(&prefix))
        .collect();
    let chosen = files
        .iter()
        .find(|a| a.path == format!("{prefix}MLmodel") || a.path == "MLmodel")
        .or_else(|| files.first())
        .ok_or_else(|| {
            ServiceError::invalid(format!(
                "source: run {run_id} has no artifacts under '{path}'"
            ))
        })?;
    let lineage = Lineage {
        arch: "mlflow".to_owned(),
        params: run.params.clone(),
        seed: run.seed,
        code_version: run.code_version.clone(),
        source: Some(path.to_owned()),
        ..Lineage::default()
    };
    let metrics: BTreeMap<String, f64> = run
        .run
        .metrics
        .iter()
        .filter(|(key, _)| key.starts_with("test_"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let details = serde_json::json!({ "run_id": run_id, "source": path, "digest": chosen.digest });
    registry::insert_version(
        db,
        registry::NewVersion {
            actor,
            name,
            run_id: Some(run_id),
            artifact_digest: &chosen.digest,
            manifest_digest: "",
            dataset_digest: run.dataset_digest.clone(),
            features: &[],
            metrics: &metrics,
            lineage: &lineage,
            description: description.filter(|d| !d.is_empty()),
            action: "model.register",
            reason: None,
            details,
        },
    )
    .await
}
