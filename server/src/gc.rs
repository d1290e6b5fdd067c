//! Collecting blobs nothing references. Blobs are content-addressed and shared, so a blob is
//! garbage only when no artifact, dataset version, model version or run names its digest.
//!
//! An upload stores its blob before the row that references it commits, so a blob that is
//! not referenced *yet* must survive: only blobs older than [`GRACE`] are collected, and
//! storing a blob again (content-addressed dedup) refreshes its modification time under the
//! store's lock (see `tracking::artifacts`). The order is: scan the files, then read the
//! references, then re-check each candidate's age under the lock just before removing it.
//! A reference committed after the read was preceded by its upload's put, which made the
//! blob young again.

use crate::audit::{self, Change};
use crate::blobs::BlobStore;
use crate::entity::registry::{dataset, model_version};
use crate::entity::tracking::{artifact, run};
use crate::error::ServiceResult;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use slipway_api::{GC_LISTED_BLOBS, GcBlob, GcReport};
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// How old an unreferenced blob must be before it is collected: far longer than any upload
/// takes from storing its blob to committing the row that references it.
pub const GRACE: Duration = Duration::from_secs(60 * 60);
/// How often the server collects by itself. A constant for now; a setting can follow.
pub const INTERVAL: Duration = Duration::from_secs(60 * 60);
/// The actor of the server's own collections in the audit log.
pub const SCHEDULED_ACTOR: &str = "gc-schedule";

/// Every digest a row references.
async fn referenced(db: &DatabaseConnection) -> ServiceResult<HashSet<String>> {
    let mut digests = HashSet::new();
    let artifacts: Vec<String> = artifact::Entity::find()
        .select_only()
        .column(artifact::Column::Digest)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    digests.extend(artifacts);
    let datasets: Vec<String> = dataset::Entity::find()
        .select_only()
        .column(dataset::Column::Digest)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    digests.extend(datasets);
    let versions: Vec<(String, String, Option<String>)> = model_version::Entity::find()
        .select_only()
        .column(model_version::Column::ArtifactDigest)
        .column(model_version::Column::ManifestDigest)
        .column(model_version::Column::DatasetDigest)
        .into_tuple()
        .all(db)
        .await?;
    for (weights, manifest, data) in versions {
        digests.insert(weights);
        digests.insert(manifest);
        digests.extend(data);
    }
    let runs: Vec<Option<String>> = run::Entity::find()
        .select_only()
        .column(run::Column::DatasetDigest)
        .filter(run::Column::DatasetDigest.is_not_null())
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    digests.extend(runs.into_iter().flatten());
    Ok(digests)
}

/// Collects the blobs that nothing references and that are older than `grace`; with
/// `dry_run` only reports them. A real collection is audited as `actor`'s.
pub async fn collect(
    db: &DatabaseConnection,
    store: &BlobStore,
    actor: &str,
    dry_run: bool,
    grace: Duration,
) -> ServiceResult<GcReport> {
    let cutoff = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let blobs = store.scan_blobs().await?;
    let scanned = blobs.len() as u64;
    let referenced = if blobs.is_empty() {
        HashSet::new()
    } else {
        referenced(db).await?
    };
    let (old, recent): (Vec<_>, Vec<_>) = blobs
        .into_iter()
        .filter(|blob| !referenced.contains(&blob.digest))
        .partition(|blob| blob.modified < cutoff);
    let collected: Vec<(String, u64)> = if dry_run {
        old.into_iter()
            .map(|blob| (blob.digest, blob.size))
            .collect()
    } else {
        let digests = old.into_iter().map(|blob| blob.digest).collect();
        store.remove_if_older(digests, cutoff).await?
    };
    let report = GcReport {
        dry_run,
        removed: collected.len() as u64,
        bytes_freed: collected.iter().map(|(_, size)| size).sum(),
        blobs: collected
            .into_iter()
            .take(GC_LISTED_BLOBS)
            .map(|(digest, size)| GcBlob { digest, size })
            .collect(),
        scanned,
        kept_recent: recent.len() as u64,
        grace_secs: grace.as_secs(),
    };
    // The server's own hourly runs are audited only when they removed something.
    if !dry_run && (actor != SCHEDULED_ACTOR || report.removed > 0) {
        audit::record(
            db,
            Change {
                actor,
                action: "artifacts.gc",
                target_kind: "artifacts",
                target_id: "blobs".to_owned(),
                reason: None,
                details: Some(serde_json::json!({
                    "removed": report.removed,
                    "bytes_freed": report.bytes_freed,
                })),
            },
        )
        .await?;
    }
    Ok(report)
}

/// Collects every [`INTERVAL`] until shutdown.
pub fn spawn(
    db: DatabaseConnection,
    store: BlobStore,
    leader: crate::cluster::leader::Leadership,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(INTERVAL);
        // The first tick is immediate; the first collection waits a whole interval so a
        // start is not slowed by a walk of the store.
        every.tick().await;
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.wait_for(|stopping| *stopping) => return,
            }
            // One replica collects for all of them.
            if !leader.is_leader() {
                continue;
            }
            match store.remove_partial_uploads().await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "removed partial uploads cut short"),
                Err(err) => tracing::warn!(error = %err, "cannot remove partial uploads"),
            }
            match collect(&db, &store, SCHEDULED_ACTOR, false, GRACE).await {
                Ok(report) if report.removed > 0 => tracing::info!(
                    removed = report.removed,
                    bytes_freed = report.bytes_freed,
                    "collected unreferenced blobs"
                ),
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "blob collection failed"),
            }
        }
    });
}
