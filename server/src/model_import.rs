//! Importing ONNX models into the registry: the uploaded file is staged, checked by the ML
//! engine (it parses, every operator runs, the named columns fill its input, a trial pass
//! answers), then stored content-addressed with a generated `model.json` and recorded as the
//! model's next version with its lineage. A refused file leaves nothing behind: no blob, no
//! version, no model.

use crate::blobs::BlobStore;
use crate::datasets;
use crate::error::{ServiceError, ServiceResult};
use crate::registry::{self, NewVersion, imported_lineage, validate_name};
use crate::tracking::runs;
use futures_util::Stream;
use sea_orm::DatabaseConnection;
use slipway_api::{ColumnType, DatasetRef, ImportModel, ModelVersion};
use slipway_ml::onnx::{ImportSpec, OutputKind, import_manifest};
use std::collections::BTreeMap;

/// Who imports, and why (the reason goes to the audit log).
#[derive(Debug, Clone, Copy)]
pub struct Importer<'a> {
    pub actor: &'a str,
    pub reason: Option<&'a str>,
}

/// A comma-separated list, trimmed, without empty items.
fn list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The dataset named `NAME` or `NAME:VERSION`: its reference, numeric feature columns and task.
async fn dataset_columns(
    db: &DatabaseConnection,
    text: &str,
) -> ServiceResult<(DatasetRef, Vec<String>, String)> {
    let (name, wanted) = match text.rsplit_once(':') {
        Some((name, version)) => {
            let number = version.parse::<u32>().map_err(|_| {
                ServiceError::invalid(format!(
                    "dataset: expected NAME or NAME:VERSION with a version number, got '{text}'"
                ))
            })?;
            (name, Some(number))
        }
        None => (text, None),
    };
    let versions = datasets::versions(db, name)
        .await
        .map_err(|err| match err {
            ServiceError::NotFound(message) => ServiceError::invalid(format!("dataset: {message}")),
            other => other,
        })?;
    let found = match wanted {
        None => versions.into_iter().next(),
        Some(number) => versions.into_iter().find(|v| v.version == number),
    }
    .ok_or_else(|| ServiceError::invalid(format!("dataset: '{text}' not found")))?;
    if let Some(schema) = &found.schema {
        let typed = schema
            .columns
            .iter()
            .find(|c| found.features.contains(&c.name) && c.column_type != ColumnType::Numeric);
        if let Some(column) = typed {
            return Err(ServiceError::invalid(format!(
                "dataset: column '{}' is {}; an ONNX model reads numbers, so every feature column must be numeric",
                column.name,
                column.column_type.as_str()
            )));
        }
    }
    let reference = DatasetRef {
        name: found.name.clone(),
        version: found.version,
        digest: found.digest.clone(),
    };
    Ok((reference, found.features, found.task))
}

/// Imports the ONNX file streamed in `body` as the next version of model `name`.
pub async fn import<S, B, E>(
    db: &DatabaseConnection,
    store: &BlobStore,
    who: Importer<'_>,
    name: &str,
    request: &ImportModel,
    body: S,
) -> ServiceResult<ModelVersion>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    validate_name("name", name)?;
    let named = list(request.features.as_deref());
    let (dataset, features, dataset_task) = match (&request.dataset, named.is_empty()) {
        (Some(_), false) => {
            return Err(ServiceError::invalid(
                "features: give the input columns or a dataset, not both",
            ));
        }
        (Some(text), true) => {
            let (reference, features, task) = dataset_columns(db, text.trim()).await?;
            (Some(reference), features, Some(task))
        }
        (None, true) => {
            return Err(ServiceError::invalid(
                "features: name the model's input columns (a signature) or a dataset whose feature columns they are",
            ));
        }
        (None, false) => (None, named, None),
    };
    if let Some(duplicate) = features
        .iter()
        .enumerate()
        .find(|(i, f)| features[..*i].contains(f))
    {
        return Err(ServiceError::invalid(format!(
            "features: column '{}' is named twice",
            duplicate.1
        )));
    }
    let task = request
        .task
        .clone()
        .or(dataset_task)
        .unwrap_or_else(|| "classification".to_owned());
    let output_kind = request
        .output_kind
        .as_deref()
        .map(OutputKind::parse)
        .transpose()
        .map_err(|err| ServiceError::invalid(format!("output_kind: {err}")))?;
    if let Some(run_id) = request.run_id {
        runs::get(db, run_id).await.map_err(|err| match err {
            ServiceError::NotFound(message) => ServiceError::invalid(format!("run_id: {message}")),
            other => other,
        })?;
    }
    let spec = ImportSpec {
        features,
        task,
        labels: list(request.labels.as_deref()),
        output_kind,
        dataset: dataset
            .as_ref()
            .map_or(serde_json::Value::Null, |d| serde_json::json!(d)),
    };
    let staged = store.stage(body, "onnx").await?;
    let path = staged.path.clone();
    // Parsing the graph and the trial pass are CPU work: off the async runtime.
    let checked = tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&path).map_err(|err| err.to_string())?;
        import_manifest(&bytes, &spec).map_err(|err| err.to_string())
    })
    .await;
    let manifest = match checked {
        Ok(Ok(manifest)) => manifest,
        Ok(Err(message)) => {
            store.discard(staged).await;
            return Err(ServiceError::invalid(message));
        }
        Err(err) => {
            store.discard(staged).await;
            return Err(ServiceError::internal(format!(
                "the import check stopped: {err}"
            )));
        }
    };
    let (digest, _) = store.commit(staged).await?;
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
    let (manifest_digest, _) = store.put_bytes(&manifest_bytes).await?;
    let lineage = imported_lineage(&manifest, dataset.clone());
    let onnx = manifest.onnx.as_ref();
    let details = serde_json::json!({
        "digest": digest,
        "run_id": request.run_id,
        "opset": onnx.map(|o| o.opset),
        "producer": onnx.map(|o| format!("{} {}", o.producer, o.producer_version)),
    });
    registry::insert_version(
        db,
        NewVersion {
            actor: who.actor,
            name,
            run_id: request.run_id,
            artifact_digest: &digest,
            manifest_digest: &manifest_digest,
            dataset_digest: dataset.map(|d| d.digest),
            features: &manifest.features,
            metrics: &BTreeMap::new(),
            lineage: &lineage,
            description: request.description.clone(),
            action: "model.import",
            reason: who.reason,
            details,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::list;

    #[test]
    fn lists_are_trimmed_without_empty_items() {
        assert_eq!(list(Some(" a, b ,,c ")), ["a", "b", "c"]);
        assert!(list(None).is_empty());
    }
}
