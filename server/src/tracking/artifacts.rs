//! Run artifacts: files stored per run under a relative path. The bytes live in the shared
//! blob store (`crate::blobs`); this module records which blob each run path names, refuses
//! paths that would leave the run's directory, and keeps a registered run's artifacts frozen.

use super::runs;
use crate::audit::{self, Change};
use crate::blobs::BlobStore;
use crate::entity::tracking::artifact;
use crate::error::{ServiceError, ServiceResult};
use crate::time::{from_millis, now_millis};
use futures_util::Stream;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use slipway_api::Artifact;

/// Longest artifact path.
const MAX_PATH: usize = 1024;

/// Checks a run-relative artifact path: no absolute paths, no `..`, no empty or `.` segments.
pub fn validate_path(path: &str) -> ServiceResult<()> {
    let refuse = |why: &str| {
        Err(ServiceError::invalid(format!(
            "path: '{}' {why}; expected a relative path such as 'model/weights.safetensors'",
            path.escape_debug()
        )))
    };
    if path.is_empty() {
        return refuse("is empty");
    }
    if path.len() > MAX_PATH {
        return refuse("is too long");
    }
    if path.starts_with('/') || path.starts_with('\\') || path.contains(':') {
        return refuse("is absolute");
    }
    if path.contains('\\') || path.chars().any(char::is_control) {
        return refuse("holds a backslash or a control character");
    }
    for segment in path.split('/') {
        match segment {
            "" => return refuse("has an empty segment"),
            "." | ".." => return refuse("leaves its directory ('.' or '..')"),
            _ => {}
        }
    }
    Ok(())
}

pub fn to_api(row: artifact::Model) -> Artifact {
    Artifact {
        path: row.path,
        digest: row.digest,
        size: row.size.unsigned_abs(),
        created_at: from_millis(row.created_at),
    }
}

/// Stores `body` as the artifact `path` of run `run_id`, replacing an earlier file there.
pub async fn upload<S, B, E>(
    blobs: &BlobStore,
    db: &DatabaseConnection,
    actor: &str,
    run_id: i64,
    path: &str,
    body: S,
) -> ServiceResult<Artifact>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    validate_path(path)?;
    runs::find(db, run_id).await?;
    runs::ensure_not_frozen(db, run_id).await?;
    let (digest, size) = blobs.put(body).await?;
    let row = artifact::ActiveModel {
        run_id: Set(run_id),
        path: Set(path.to_owned()),
        digest: Set(digest.clone()),
        size: Set(i64::try_from(size).unwrap_or(i64::MAX)),
        created_at: Set(now_millis()),
    };
    let txn = crate::db::begin_write(db).await?;
    // Again under the write lock: the run may have been registered during the upload.
    runs::ensure_not_frozen(&txn, run_id).await?;
    artifact::Entity::insert(row.clone())
        .on_conflict(
            OnConflict::columns([artifact::Column::RunId, artifact::Column::Path])
                .update_columns([
                    artifact::Column::Digest,
                    artifact::Column::Size,
                    artifact::Column::CreatedAt,
                ])
                .to_owned(),
        )
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        Change {
            actor,
            action: "artifact.upload",
            target_kind: "run",
            target_id: run_id.to_string(),
            reason: None,
            details: Some(serde_json::json!({ "path": path, "digest": digest, "size": size })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Artifact {
        path: path.to_owned(),
        digest,
        size,
        created_at: from_millis(*row.created_at.as_ref()),
    })
}

/// The artifacts of a run, by path.
pub async fn list(db: &DatabaseConnection, run_id: i64) -> ServiceResult<Vec<Artifact>> {
    runs::find(db, run_id).await?;
    Ok(artifact::Entity::find()
        .filter(artifact::Column::RunId.eq(run_id))
        .order_by_asc(artifact::Column::Path)
        .all(db)
        .await?
        .into_iter()
        .map(to_api)
        .collect())
}

/// The stored file of artifact `path` of run `run_id`, with its metadata.
pub async fn open(
    blobs: &BlobStore,
    db: &DatabaseConnection,
    run_id: i64,
    path: &str,
) -> ServiceResult<(Artifact, crate::blobs::BlobReader)> {
    validate_path(path)?;
    runs::find(db, run_id).await?;
    let row = artifact::Entity::find_by_id((run_id, path.to_owned()))
        .one(db)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(format!("artifact '{path}' not found on run {run_id}"))
        })?;
    let (file, _) = blobs.open_blob(&row.digest).await?;
    Ok((to_api(row), file))
}

/// Removes artifact `path` of run `run_id`, or every artifact under it when it names a
/// directory; the blobs stay until garbage collection finds them unreferenced. Answers how
/// many were removed; none is a 404.
pub async fn delete(
    db: &DatabaseConnection,
    actor: &str,
    run_id: i64,
    path: &str,
) -> ServiceResult<u64> {
    validate_path(path)?;
    let txn = crate::db::begin_write(db).await?;
    runs::find(&txn, run_id).await?;
    runs::ensure_not_frozen(&txn, run_id).await?;
    // Matched here rather than with LIKE, whose wildcards '_' and '%' are common in paths.
    let directory = format!("{path}/");
    let paths: Vec<String> = artifact::Entity::find()
        .filter(artifact::Column::RunId.eq(run_id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|row| row.path)
        .filter(|stored| stored == path || stored.starts_with(&directory))
        .collect();
    let removed = if paths.is_empty() {
        0
    } else {
        artifact::Entity::delete_many()
            .filter(artifact::Column::RunId.eq(run_id))
            .filter(artifact::Column::Path.is_in(paths))
            .exec(&txn)
            .await?
            .rows_affected
    };
    if removed == 0 {
        return Err(ServiceError::not_found(format!(
            "artifact '{path}' not found on run {run_id}"
        )));
    }
    audit::record(
        &txn,
        Change {
            actor,
            action: "artifact.delete",
            target_kind: "run",
            target_id: run_id.to_string(),
            reason: None,
            details: Some(serde_json::json!({ "path": path, "removed": removed })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "C:\\x",
            "a\\..\\b",
            "a\0b",
        ] {
            assert!(validate_path(bad).is_err(), "{bad:?} must be refused");
        }
        for good in ["model.json", "plots/roc curve.png", "a/b/c.bin", "..hidden"] {
            assert!(validate_path(good).is_ok(), "{good:?} must be accepted");
        }
    }
}
