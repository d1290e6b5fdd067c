//! The dataset registry: named, versioned CSV tables, stored content-addressed in the artifact
//! store, with their inferred schema and per-feature statistics (the drift baseline).

use crate::audit::{self, Change};
use crate::entity::registry::dataset;
use crate::error::{ServiceError, ServiceResult};
use crate::time::{from_millis, now_millis};
use crate::tracking::artifacts::ArtifactStore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use slipway_api::{DatasetVersion, UploadedDataset};
use slipway_jobs::{Dataset, Task};
use std::collections::BTreeMap;

/// Checks a dataset name: it appears in URLs and commands.
fn validate_name(name: &str) -> ServiceResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ServiceError::invalid(format!(
            "name: expected 1 to 100 letters, digits, '-', '_' or '.', got '{name}'"
        )))
    }
}

fn parse_task(task: Option<&str>) -> ServiceResult<Option<Task>> {
    match task {
        None => Ok(None),
        Some("classification") => Ok(Some(Task::Classification)),
        Some("regression") => Ok(Some(Task::Regression)),
        Some(other) => Err(ServiceError::invalid(format!(
            "task: expected classification or regression, got '{other}'"
        ))),
    }
}

fn to_api(row: dataset::Model, with_statistics: bool) -> ServiceResult<DatasetVersion> {
    let schema: slipway_jobs::Schema = serde_json::from_str(&row.schema)?;
    Ok(DatasetVersion {
        name: row.name,
        version: row.version.unsigned_abs(),
        digest: row.digest,
        label: row.label_column,
        task: row.task,
        features: schema.features,
        classes: schema.classes,
        rows: row.row_count.unsigned_abs(),
        size_bytes: row.size_bytes.unsigned_abs(),
        created_by: row.created_by,
        created_at: from_millis(row.created_at),
        statistics: with_statistics
            .then(|| serde_json::from_str(&row.statistics))
            .transpose()?,
    })
}

/// Registers `csv` as dataset `name`: new content is a new version, the same content is the
/// version that already holds it.
pub async fn upload(
    db: &DatabaseConnection,
    store: &ArtifactStore,
    actor: &str,
    name: &str,
    label: &str,
    task: Option<&str>,
    csv: Vec<u8>,
) -> ServiceResult<UploadedDataset> {
    validate_name(name)?;
    if label.is_empty() {
        return Err(ServiceError::invalid("label: name the label column"));
    }
    let task = parse_task(task)?;
    let label_owned = label.to_owned();
    // Parsing and statistics are CPU work: off the async runtime.
    let (parsed, csv) = tokio::task::spawn_blocking(move || {
        let parsed = Dataset::from_csv(&csv, &label_owned, task).map(|data| {
            let statistics = data.statistics();
            (data, statistics)
        });
        (parsed, csv)
    })
    .await
    .map_err(|err| ServiceError::internal(format!("dataset parsing stopped: {err}")))?;
    let (data, statistics) = parsed.map_err(|err| ServiceError::invalid(format!("file: {err}")))?;
    // Content-addressed, so storing first is idempotent; the transaction then decides.
    let (digest, size) = store.put_bytes(&csv).await?;
    let txn = crate::db::begin_write(db).await?;
    if let Some(existing) = dataset::Entity::find()
        .filter(dataset::Column::Name.eq(name))
        .filter(dataset::Column::Digest.eq(digest.as_str()))
        .one(&txn)
        .await?
    {
        return Ok(UploadedDataset {
            dataset: to_api(existing, false)?,
            created: false,
        });
    }
    let latest = dataset::Entity::find()
        .filter(dataset::Column::Name.eq(name))
        .order_by_desc(dataset::Column::Version)
        .one(&txn)
        .await?;
    let version = latest.map_or(1, |row| row.version + 1);
    let task_name = match data.schema.task {
        Task::Classification => "classification",
        Task::Regression => "regression",
    };
    let row = dataset::ActiveModel {
        name: Set(name.to_owned()),
        version: Set(version),
        digest: Set(digest.clone()),
        label_column: Set(label.to_owned()),
        task: Set(task_name.to_owned()),
        schema: Set(serde_json::to_string(&data.schema)?),
        statistics: Set(serde_json::to_string(&statistics)?),
        row_count: Set(data.len() as i64),
        size_bytes: Set(size as i64),
        created_by: Set(actor.to_owned()),
        created_at: Set(now_millis()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Change {
            actor,
            action: "dataset.upload",
            target_kind: "dataset",
            target_id: format!("{name}:{version}"),
            reason: None,
            details: Some(serde_json::json!({ "digest": digest, "rows": data.len() })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(UploadedDataset {
        dataset: to_api(row, false)?,
        created: true,
    })
}

/// The latest version of every dataset, by name.
pub async fn list(db: &DatabaseConnection) -> ServiceResult<Vec<DatasetVersion>> {
    let mut latest: BTreeMap<String, dataset::Model> = BTreeMap::new();
    for row in dataset::Entity::find().all(db).await? {
        let newer = latest
            .get(&row.name)
            .is_none_or(|seen| row.version > seen.version);
        if newer {
            latest.insert(row.name.clone(), row);
        }
    }
    latest.into_values().map(|row| to_api(row, false)).collect()
}

/// Every version of dataset `name`, newest first, with statistics.
pub async fn versions(db: &DatabaseConnection, name: &str) -> ServiceResult<Vec<DatasetVersion>> {
    let rows = dataset::Entity::find()
        .filter(dataset::Column::Name.eq(name))
        .order_by_desc(dataset::Column::Version)
        .all(db)
        .await?;
    if rows.is_empty() {
        return Err(ServiceError::not_found(format!(
            "dataset '{name}' not found"
        )));
    }
    rows.into_iter().map(|row| to_api(row, true)).collect()
}

/// The CSV content of version `version` of dataset `name` (the bytes uploaded), opened for
/// streaming, with its size.
pub async fn content(
    db: &DatabaseConnection,
    store: &ArtifactStore,
    name: &str,
    version: u32,
) -> ServiceResult<(tokio::fs::File, u64)> {
    let row = dataset::Entity::find()
        .filter(dataset::Column::Name.eq(name))
        .filter(dataset::Column::Version.eq(version as i32))
        .one(db)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(format!("dataset '{name}' version {version} not found"))
        })?;
    store.open_blob(&row.digest).await
}

/// The feature count and the model's output count (the classes, or 1 for regression) of a
/// dataset version (the latest without one); `None` when there is no such dataset.
pub async fn model_shape(
    db: &impl sea_orm::ConnectionTrait,
    name: &str,
    version: Option<u32>,
) -> ServiceResult<Option<(usize, usize)>> {
    let mut query = dataset::Entity::find().filter(dataset::Column::Name.eq(name));
    if let Some(version) = version {
        query = query.filter(dataset::Column::Version.eq(version as i32));
    }
    let Some(row) = query
        .order_by_desc(dataset::Column::Version)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let schema: slipway_jobs::Schema = serde_json::from_str(&row.schema)?;
    let outputs = match schema.task {
        Task::Classification => schema.classes.len(),
        Task::Regression => 1,
    };
    Ok(Some((schema.features.len(), outputs)))
}
