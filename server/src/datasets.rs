//! The dataset registry: named, versioned tables (CSV, gzip-compressed CSV or Parquet), stored content-addressed in the artifact
//! store, with their inferred schema and per-feature statistics (the drift baseline).

use crate::audit::{self, Change};
use crate::blobs::BlobStore;
use crate::entity::registry::dataset;
use crate::error::{ServiceError, ServiceResult};
use crate::time::{from_millis, now_millis};
use futures_util::Stream;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use slipway_api::{DataFormat, DatasetVersion, UploadOptions, UploadedDataset};
use slipway_ml::table::{self, Profile, ProfileOptions, Profiler, TableError};
use slipway_ml::{Schema, Task};
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
    let schema: Schema = serde_json::from_str(&row.schema)?;
    Ok(DatasetVersion {
        name: row.name,
        version: row.version.unsigned_abs(),
        digest: row.digest,
        label: row.label_column,
        task: row.task,
        features: schema.features,
        classes: schema.classes,
        schema: schema.table,
        rows: row.row_count.unsigned_abs(),
        size_bytes: row.size_bytes.unsigned_abs(),
        created_by: row.created_by,
        created_at: from_millis(row.created_at),
        statistics: with_statistics
            .then(|| serde_json::from_str(&row.statistics))
            .transpose()?,
    })
}

/// A comma-separated list of column names from an upload option.
fn names(list: Option<&str>) -> Vec<String> {
    list.into_iter()
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The message of a refused table: problems of the file say so; those of an option name it.
fn refusal(err: TableError) -> ServiceError {
    match err {
        TableError::Delimiter(_)
        | TableError::UnknownColumn { .. }
        | TableError::ConflictingOptions { .. } => ServiceError::invalid(err.to_string()),
        TableError::Io(_) => ServiceError::internal(format!("reading the staged upload: {err}")),
        _ => ServiceError::invalid(format!("file: {err}")),
    }
}

/// Registers the uploaded table `body` as dataset `name`: new content is a new version, the
/// same content is the version that already holds it. The body streams to a staged file
/// while hashed; the file is then typed and profiled row by row on a blocking thread, and
/// only a table that passes is put in the store: a refused upload leaves nothing behind.
pub async fn upload<S, B, E>(
    db: &DatabaseConnection,
    store: &BlobStore,
    actor: &str,
    name: &str,
    options: &UploadOptions,
    body: S,
) -> ServiceResult<UploadedDataset>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    validate_name(name)?;
    let label = options.label.trim();
    if label.is_empty() {
        return Err(ServiceError::invalid("label: name the label column"));
    }
    let profile_options = ProfileOptions {
        label: label.to_owned(),
        task: parse_task(options.task.as_deref())?,
        ignore: names(options.ignore.as_deref()),
        categorical: names(options.categorical.as_deref()),
        numeric: names(options.numeric.as_deref()),
        missing: table::missing::parse_tokens(options.missing.as_deref()),
    };
    let delimiter = table::parse_delimiter(options.delimiter.as_deref()).map_err(refusal)?;
    let staged = store.stage(body, "file").await?;
    let path = staged.path.clone();
    // Parsing and statistics are CPU work: off the async runtime.
    let profiled = tokio::task::spawn_blocking(move || -> Result<Profile, TableError> {
        let file = std::fs::File::open(&path)?;
        let mut profiler = Profiler::new(profile_options);
        let format = table::read(table::Input::File(file), delimiter, &mut profiler)?;
        profiler.finish(format, delimiter)
    })
    .await;
    let profile = match profiled {
        Ok(Ok(profile)) => profile,
        Ok(Err(err)) => {
            store.discard(staged).await;
            return Err(refusal(err));
        }
        Err(err) => {
            store.discard(staged).await;
            return Err(ServiceError::internal(format!(
                "dataset parsing stopped: {err}"
            )));
        }
    };
    let (digest, size) = store.commit(staged).await?;
    record(db, actor, name, label, profile, digest, size).await
}

/// Records a profiled, stored table as a dataset version, unless the same content already is
/// one.
async fn record(
    db: &DatabaseConnection,
    actor: &str,
    name: &str,
    label: &str,
    profile: Profile,
    digest: String,
    size: u64,
) -> ServiceResult<UploadedDataset> {
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
    let task_name = match profile.task {
        Task::Classification => "classification",
        Task::Regression => "regression",
    };
    let rows = profile.rows;
    let missing_labels = profile.schema.missing_labels;
    let schema = Schema {
        features: profile.features,
        label: label.to_owned(),
        task: profile.task,
        classes: profile.classes,
        label_range: profile.label_range,
        table: Some(profile.schema),
    };
    let row = dataset::ActiveModel {
        name: Set(name.to_owned()),
        version: Set(version),
        digest: Set(digest.clone()),
        label_column: Set(label.to_owned()),
        task: Set(task_name.to_owned()),
        schema: Set(serde_json::to_string(&schema)?),
        statistics: Set(serde_json::to_string(&profile.statistics)?),
        row_count: Set(i64::try_from(rows).unwrap_or(i64::MAX)),
        size_bytes: Set(i64::try_from(size).unwrap_or(i64::MAX)),
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
            details: Some(serde_json::json!({
                "digest": digest,
                "rows": rows,
                "missing_labels": missing_labels,
            })),
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

/// The content of version `version` of dataset `name` (the bytes uploaded), opened for
/// streaming, with its size and media type.
pub async fn content(
    db: &DatabaseConnection,
    store: &BlobStore,
    name: &str,
    version: u32,
) -> ServiceResult<(crate::blobs::BlobReader, u64, &'static str)> {
    let row = dataset::Entity::find()
        .filter(dataset::Column::Name.eq(name))
        .filter(dataset::Column::Version.eq(version as i32))
        .one(db)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(format!("dataset '{name}' version {version} not found"))
        })?;
    let schema: Schema = serde_json::from_str(&row.schema)?;
    let media_type = match schema.table.map(|table| table.format) {
        Some(DataFormat::CsvGzip) => "application/gzip",
        Some(DataFormat::Parquet) => "application/vnd.apache.parquet",
        Some(DataFormat::Csv) | None => "text/csv",
    };
    let (file, size) = store.open_blob(&row.digest).await?;
    Ok((file, size, media_type))
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
    let schema: Schema = serde_json::from_str(&row.schema)?;
    let outputs = match schema.task {
        Task::Classification => schema.classes.len(),
        Task::Regression => 1,
    };
    Ok(Some((schema.features.len(), outputs)))
}
