//! The model registry: registered models with numbered, immutable versions that keep their
//! lineage (run, dataset, parameters, seed, code version, metrics), and aliases that point at
//! versions and move. Protected aliases move only by an engineer or admin, with a reason.

use crate::audit::{self, Change};
use crate::auth::{Caller, Permission};
use crate::blobs::BlobStore;
use crate::entity::registry::{model, model_alias, model_version};
use crate::error::{ServiceError, ServiceResult};
use crate::time::{from_millis, now_millis};
use crate::tracking::runs;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder,
};
use slipway_api::{DatasetRef, InputColumn, ModelVersion, RegisterModel, RegisteredModel};
use slipway_ml::model::ModelManifest;
use std::collections::BTreeMap;

/// Checks a model or alias name: it appears in URLs and commands.
pub fn validate_name(field: &str, name: &str) -> ServiceResult<()> {
    let valid = name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ServiceError::invalid(format!(
            "{field}: expected a letter then up to 99 letters, digits, '-', '_' or '.', got '{name}'"
        )))
    }
}

/// What a version records of where it came from (stored as JSON).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Lineage {
    pub(crate) arch: String,
    pub(crate) task: String,
    pub(crate) features: Vec<String>,
    /// Absent from versions registered before signatures.
    #[serde(default)]
    pub(crate) signature: Vec<InputColumn>,
    pub(crate) labels: Vec<String>,
    pub(crate) dataset: Option<DatasetRef>,
    pub(crate) params: BTreeMap<String, String>,
    pub(crate) seed: Option<i64>,
    pub(crate) code_version: Option<String>,
    /// The run-relative artifact path a version registered through the MLflow API came from
    /// (absent: the run's root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
    /// For an imported ONNX model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) onnx: Option<slipway_api::OnnxInfo>,
}

/// Which version of a model a caller means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Latest,
    Number(u32),
    Alias(String),
}

impl Selector {
    /// Parses a path segment: a number is a version, anything else an alias, `latest` the
    /// newest.
    pub fn parse(text: &str) -> Self {
        match (text, text.parse::<u32>()) {
            ("latest", _) => Self::Latest,
            (_, Ok(number)) => Self::Number(number),
            _ => Self::Alias(text.to_owned()),
        }
    }
}

pub(crate) async fn find_model(
    db: &impl ConnectionTrait,
    name: &str,
) -> ServiceResult<model::Model> {
    model::Entity::find()
        .filter(model::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("model '{name}' not found")))
}

pub(crate) async fn aliases_of(
    db: &impl ConnectionTrait,
    model_id: i64,
) -> ServiceResult<Vec<model_alias::Model>> {
    Ok(model_alias::Entity::find()
        .filter(model_alias::Column::ModelId.eq(model_id))
        .order_by_asc(model_alias::Column::Alias)
        .all(db)
        .await?)
}

pub(crate) fn version_to_api(
    name: &str,
    row: model_version::Model,
    aliases: &[model_alias::Model],
) -> ServiceResult<ModelVersion> {
    let lineage: Lineage = serde_json::from_str(&row.lineage).unwrap_or_default();
    // Versions registered before signatures were all-numeric models.
    let signature = if lineage.signature.is_empty() {
        lineage
            .features
            .iter()
            .map(|name| InputColumn {
                name: name.clone(),
                column_type: slipway_api::ColumnType::Numeric,
                categories: Vec::new(),
                missing_allowed: false,
            })
            .collect()
    } else {
        lineage.signature
    };
    Ok(ModelVersion {
        model: name.to_owned(),
        version: row.version.unsigned_abs(),
        run_id: row.run_id,
        artifact_digest: row.artifact_digest,
        manifest_digest: row.manifest_digest,
        arch: lineage.arch,
        task: lineage.task,
        features: lineage.features,
        signature,
        labels: lineage.labels,
        dataset: lineage.dataset,
        params: lineage.params,
        seed: lineage.seed,
        code_version: lineage.code_version,
        metrics: serde_json::from_str(&row.metrics)?,
        aliases: aliases
            .iter()
            .filter(|alias| alias.model_version_id == row.id)
            .map(|alias| alias.alias.clone())
            .collect(),
        description: row.description,
        created_by: row.created_by,
        created_at: from_millis(row.created_at),
        onnx: lineage.onnx,
    })
}

/// Registers the model that run `request.run_id` produced as the next version of `name`.
pub async fn register(
    db: &DatabaseConnection,
    store: &BlobStore,
    actor: &str,
    name: &str,
    request: &RegisterModel,
) -> ServiceResult<ModelVersion> {
    validate_name("name", name)?;
    let run = runs::get(db, request.run_id)
        .await
        .map_err(|err| match err {
            ServiceError::NotFound(message) => ServiceError::invalid(format!("run_id: {message}")),
            other => other,
        })?;
    let artifact = |path: &str| {
        run.artifacts
            .iter()
            .find(|a| a.path == path)
            .cloned()
            .ok_or_else(|| {
                ServiceError::invalid(format!(
                    "run_id: run {} has no {path} artifact; register a finished training run",
                    request.run_id
                ))
            })
    };
    let (weights, manifest_file) = (artifact("model.safetensors")?, artifact("model.json")?);
    let manifest: ModelManifest =
        serde_json::from_slice(&store.read_blob(&manifest_file.digest).await?).map_err(|err| {
            ServiceError::invalid(format!(
                "run_id: run {}'s model.json is not a model manifest: {err}",
                request.run_id
            ))
        })?;
    let dataset = serde_json::from_value::<DatasetRef>(manifest.dataset.clone()).ok();
    let lineage = Lineage {
        arch: manifest.arch.clone(),
        task: manifest.task.clone(),
        features: manifest.features.clone(),
        signature: manifest.input_signature(),
        labels: manifest.labels.clone(),
        dataset,
        params: run.params.clone(),
        seed: run.seed,
        code_version: run.code_version.clone(),
        source: None,
        onnx: None,
    };
    let mut metrics = manifest.metrics.clone();
    metrics.extend(
        run.run
            .metrics
            .iter()
            .filter(|(key, _)| key.starts_with("test_"))
            .map(|(k, v)| (k.clone(), *v)),
    );

    insert_version(
        db,
        NewVersion {
            actor,
            name,
            run_id: Some(request.run_id),
            artifact_digest: &weights.digest,
            manifest_digest: &manifest_file.digest,
            dataset_digest: run.dataset_digest.clone(),
            features: &manifest.features,
            metrics: &metrics,
            lineage: &lineage,
            description: request.description.clone(),
            action: "model.register",
            reason: None,
            details: serde_json::json!({ "run_id": request.run_id, "digest": weights.digest }),
        },
    )
    .await
}

/// A version about to be recorded, trained or imported.
pub(crate) struct NewVersion<'a> {
    pub actor: &'a str,
    pub name: &'a str,
    pub run_id: Option<i64>,
    pub artifact_digest: &'a str,
    pub manifest_digest: &'a str,
    pub dataset_digest: Option<String>,
    pub features: &'a [String],
    pub metrics: &'a BTreeMap<String, f64>,
    pub lineage: &'a Lineage,
    pub description: Option<String>,
    /// The audit action, with its reason and details.
    pub action: &'static str,
    pub reason: Option<&'a str>,
    pub details: serde_json::Value,
}

/// What an imported version records of its origin, for [`NewVersion`].
pub(crate) fn imported_lineage(manifest: &ModelManifest, dataset: Option<DatasetRef>) -> Lineage {
    Lineage {
        arch: manifest.arch.clone(),
        task: manifest.task.clone(),
        features: manifest.features.clone(),
        signature: manifest.input_signature(),
        labels: manifest.labels.clone(),
        dataset,
        params: BTreeMap::new(),
        seed: None,
        code_version: None,
        source: None,
        onnx: manifest.onnx.clone(),
    }
}

/// Records the next version of model `name` (creating the model), with its audit event, in
/// one transaction.
pub(crate) async fn insert_version(
    db: &DatabaseConnection,
    new: NewVersion<'_>,
) -> ServiceResult<ModelVersion> {
    let NewVersion {
        actor,
        name,
        run_id,
        artifact_digest,
        manifest_digest,
        dataset_digest,
        features,
        metrics,
        lineage,
        description,
        action,
        reason,
        details,
    } = new;
    let txn = crate::db::begin_write(db).await?;
    let now = now_millis();
    let model_row = match model::Entity::find()
        .filter(model::Column::Name.eq(name))
        .one(&txn)
        .await?
    {
        Some(row) => row,
        None => {
            model::ActiveModel {
                name: Set(name.to_owned()),
                description: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    let latest = model_version::Entity::find()
        .filter(model_version::Column::ModelId.eq(model_row.id))
        .order_by_desc(model_version::Column::Version)
        .one(&txn)
        .await?;
    let version = latest.map_or(1, |row| row.version + 1);
    let row = model_version::ActiveModel {
        model_id: Set(model_row.id),
        version: Set(version),
        run_id: Set(run_id),
        artifact_digest: Set(artifact_digest.to_owned()),
        dataset_digest: Set(dataset_digest),
        input_schema: Set(serde_json::to_string(features)?),
        metrics: Set(serde_json::to_string(metrics)?),
        created_by: Set(actor.to_owned()),
        created_at: Set(now),
        manifest_digest: Set(manifest_digest.to_owned()),
        lineage: Set(serde_json::to_string(lineage)?),
        description: Set(description),
        stage: Set("None".to_owned()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut touched: model::ActiveModel = model_row.into();
    touched.updated_at = Set(now);
    touched.update(&txn).await?;
    audit::record(
        &txn,
        Change {
            actor,
            action,
            target_kind: "model",
            target_id: format!("{name}:{version}"),
            reason,
            details: Some(details),
        },
    )
    .await?;
    txn.commit().await?;
    version_to_api(name, row, &[])
}

async fn model_to_api(
    db: &impl ConnectionTrait,
    row: model::Model,
) -> ServiceResult<RegisteredModel> {
    let versions = model_version::Entity::find()
        .filter(model_version::Column::ModelId.eq(row.id))
        .all(db)
        .await?;
    let number_of = |id: i64| {
        versions
            .iter()
            .find(|v| v.id == id)
            .map(|v| v.version.unsigned_abs())
    };
    let aliases = aliases_of(db, row.id)
        .await?
        .into_iter()
        .filter_map(|alias| number_of(alias.model_version_id).map(|n| (alias.alias, n)))
        .collect();
    Ok(RegisteredModel {
        name: row.name,
        description: row.description,
        latest_version: versions.iter().map(|v| v.version.unsigned_abs()).max(),
        version_count: versions.len() as u32,
        aliases,
        created_at: from_millis(row.created_at),
        updated_at: from_millis(row.updated_at),
    })
}

/// Every registered model, by name.
pub async fn list(db: &DatabaseConnection) -> ServiceResult<Vec<RegisteredModel>> {
    search(db, None).await
}

/// The registered models whose name contains `text` (every model without it), by name.
pub async fn search(
    db: &DatabaseConnection,
    text: Option<&str>,
) -> ServiceResult<Vec<RegisteredModel>> {
    let mut query = model::Entity::find().order_by_asc(model::Column::Name);
    if let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) {
        query = query.filter(model::Column::Name.contains(text));
    }
    let rows = query.all(db).await?;
    let mut models = Vec::with_capacity(rows.len());
    for row in rows {
        models.push(model_to_api(db, row).await?);
    }
    Ok(models)
}

/// One registered model.
pub async fn get(db: &DatabaseConnection, name: &str) -> ServiceResult<RegisteredModel> {
    model_to_api(db, find_model(db, name).await?).await
}

/// Every version of a model, newest first.
pub async fn versions(db: &DatabaseConnection, name: &str) -> ServiceResult<Vec<ModelVersion>> {
    let model_row = find_model(db, name).await?;
    let aliases = aliases_of(db, model_row.id).await?;
    model_version::Entity::find()
        .filter(model_version::Column::ModelId.eq(model_row.id))
        .order_by_desc(model_version::Column::Version)
        .all(db)
        .await?
        .into_iter()
        .map(|row| version_to_api(name, row, &aliases))
        .collect()
}

/// The stored row of one version.
pub async fn find_version(
    db: &impl ConnectionTrait,
    name: &str,
    selector: &Selector,
) -> ServiceResult<model_version::Model> {
    let model_row = find_model(db, name).await?;
    let query =
        model_version::Entity::find().filter(model_version::Column::ModelId.eq(model_row.id));
    let found = match selector {
        Selector::Latest => {
            query
                .order_by_desc(model_version::Column::Version)
                .one(db)
                .await?
        }
        Selector::Number(number) => {
            query
                .filter(model_version::Column::Version.eq(*number as i32))
                .one(db)
                .await?
        }
        Selector::Alias(alias) => {
            let pointer = model_alias::Entity::find_by_id((model_row.id, alias.clone()))
                .one(db)
                .await?
                .ok_or_else(|| {
                    ServiceError::not_found(format!("model '{name}' has no alias '{alias}'"))
                })?;
            model_version::Entity::find_by_id(pointer.model_version_id)
                .one(db)
                .await?
        }
    };
    found.ok_or_else(|| {
        let which = match selector {
            Selector::Latest => "any version".to_owned(),
            Selector::Number(n) => format!("version {n}"),
            Selector::Alias(alias) => format!("alias '{alias}'"),
        };
        ServiceError::not_found(format!("model '{name}' has no {which}"))
    })
}

/// One version, by number, alias or `latest`.
pub async fn version(
    db: &DatabaseConnection,
    name: &str,
    selector: &Selector,
) -> ServiceResult<ModelVersion> {
    let row = find_version(db, name, selector).await?;
    let aliases = aliases_of(db, row.model_id).await?;
    version_to_api(name, row, &aliases)
}

/// Checks that `caller` may move or delete `alias`: protected aliases need an engineer or
/// admin and a reason.
fn check_alias_change(
    caller: &Caller,
    alias: &str,
    reason: Option<&str>,
    protected: &[String],
) -> ServiceResult<()> {
    caller.require(Permission::Track)?;
    if protected.iter().any(|p| p == alias) {
        caller.require(Permission::Operate)?;
        if reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(ServiceError::invalid(format!(
                "reason: alias '{alias}' is protected; give a reason for moving it"
            )));
        }
    }
    Ok(())
}

/// Points `alias` of model `name` at `version`.
pub async fn set_alias(
    db: &DatabaseConnection,
    caller: &Caller,
    protected: &[String],
    (name, alias): (&str, &str),
    version: u32,
    reason: Option<&str>,
) -> ServiceResult<ModelVersion> {
    validate_name("alias", alias)?;
    check_alias_change(caller, alias, reason, protected)?;
    let txn = crate::db::begin_write(db).await?;
    let target = find_version(&txn, name, &Selector::Number(version)).await?;
    let existing = model_alias::Entity::find_by_id((target.model_id, alias.to_owned()))
        .one(&txn)
        .await?;
    let before = match &existing {
        Some(row) => model_version::Entity::find_by_id(row.model_version_id)
            .one(&txn)
            .await?
            .map(|v| v.version),
        None => None,
    };
    let row = model_alias::ActiveModel {
        model_id: Set(target.model_id),
        alias: Set(alias.to_owned()),
        model_version_id: Set(target.id),
        updated_at: Set(now_millis()),
    };
    if existing.is_some() {
        row.update(&txn).await?;
    } else {
        row.insert(&txn).await?;
    }
    audit::record(
        &txn,
        Change {
            actor: &caller.name,
            action: "model.alias.set",
            target_kind: "model",
            target_id: format!("{name}@{alias}"),
            reason,
            details: Some(serde_json::json!({ "before": before, "after": version })),
        },
    )
    .await?;
    txn.commit().await?;
    let aliases = aliases_of(db, target.model_id).await?;
    version_to_api(name, target, &aliases)
}

/// Deletes `alias` of model `name`.
pub async fn delete_alias(
    db: &DatabaseConnection,
    caller: &Caller,
    protected: &[String],
    (name, alias): (&str, &str),
    reason: Option<&str>,
) -> ServiceResult<()> {
    check_alias_change(caller, alias, reason, protected)?;
    let txn = crate::db::begin_write(db).await?;
    let model_row = find_model(&txn, name).await?;
    let existing = model_alias::Entity::find_by_id((model_row.id, alias.to_owned()))
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("model '{name}' has no alias '{alias}'")))?;
    let before = model_version::Entity::find_by_id(existing.model_version_id)
        .one(&txn)
        .await?
        .map(|v| v.version);
    model_alias::Entity::delete_by_id((model_row.id, alias.to_owned()))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        Change {
            actor: &caller.name,
            action: "model.alias.delete",
            target_kind: "model",
            target_id: format!("{name}@{alias}"),
            reason,
            details: Some(serde_json::json!({ "before": before })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_names() {
        assert_eq!(Selector::parse("3"), Selector::Number(3));
        assert_eq!(Selector::parse("latest"), Selector::Latest);
        assert_eq!(
            Selector::parse("champion"),
            Selector::Alias("champion".into())
        );
        assert!(validate_name("alias", "champion").is_ok());
        let err = validate_name("alias", "3rd").unwrap_err().to_string();
        assert!(err.starts_with("alias: expected a letter"), "{err}");
    }
}
