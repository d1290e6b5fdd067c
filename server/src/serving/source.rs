//! Where serving learns what to serve and reads model files from: the server's own database
//! and blob store, or — in a serving replica, which has no database — the server's REST API,
//! with downloaded model files kept in a cache directory. Routing, batching and predict are
//! the same for both; only this module knows the difference.

use crate::blobs::BlobStore;
use crate::entity::registry::deployment;
use crate::error::{ServiceError, ServiceResult};
use crate::registry::{Selector, find_version};
use sea_orm::{DatabaseConnection, EntityTrait};
use slipway_api::{ApiError, Client, DeploymentSpec, ErrorCode};
use std::path::PathBuf;

/// A deployment and its current revision.
#[derive(Debug, Clone)]
pub struct Head {
    pub name: String,
    /// The row id on the server; a replica, which sees no ids, derives one from the name.
    pub id: i64,
    pub revision: u32,
}

/// A registered version's stored files, by digest.
#[derive(Debug, Clone)]
pub struct VersionRef {
    pub model: String,
    pub version: u32,
    pub manifest_digest: String,
    pub artifact_digest: String,
}

impl VersionRef {
    /// The model pool's key: a version re-registered under the same number after a delete
    /// has other files, so the digest is part of it.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.model, self.version, self.artifact_digest)
    }
}

/// The source of deployments and model files.
#[derive(Debug, Clone)]
pub enum Source {
    /// The server: its database and blob store.
    Database {
        db: DatabaseConnection,
        store: BlobStore,
    },
    /// A serving replica: the server's API, and a directory of downloaded model files.
    Server { client: Client, cache: PathBuf },
}

impl Source {
    /// The database, for what only the server does (deploy, promote, the shadow's record).
    pub fn db(&self) -> ServiceResult<&DatabaseConnection> {
        match self {
            Self::Database { db, .. } => Ok(db),
            Self::Server { .. } => Err(ServiceError::Unavailable(
                "a serving replica only answers predictions; send changes to the server".into(),
            )),
        }
    }

    /// Every deployment with its current revision.
    pub async fn heads(&self) -> ServiceResult<Vec<Head>> {
        match self {
            Self::Database { db, .. } => Ok(deployment::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|row| Head {
                    name: row.name,
                    id: row.id,
                    revision: row.current_revision.unsigned_abs(),
                })
                .collect()),
            Self::Server { client, .. } => {
                let listed = client.list_deployments().await.map_err(from_api)?;
                Ok(listed
                    .into_iter()
                    .map(|d| Head {
                        id: replica_id(&d.name),
                        name: d.name,
                        revision: d.revision,
                    })
                    .collect())
            }
        }
    }

    /// Whether deployment `name` exists (a NotFound error when it does not).
    pub async fn ensure_exists(&self, name: &str) -> ServiceResult<()> {
        match self {
            Self::Database { db, .. } => {
                super::deployments::find_existing(db, name).await?;
            }
            Self::Server { client, .. } => {
                client.get_deployment(name).await.map_err(from_api)?;
            }
        }
        Ok(())
    }

    /// The spec of `head`'s current revision and the one before it.
    pub async fn revision_specs(
        &self,
        head: &Head,
    ) -> ServiceResult<(DeploymentSpec, Option<DeploymentSpec>)> {
        match self {
            Self::Database { db, .. } => {
                super::deployments::revision_specs(db, head.id, head.revision).await
            }
            Self::Server { client, .. } => {
                let revisions = client
                    .deployment_revisions(&head.name)
                    .await
                    .map_err(from_api)?;
                let found = revisions
                    .into_iter()
                    .find(|r| r.revision == head.revision)
                    .ok_or_else(|| {
                        ServiceError::not_found(format!(
                            "deployment '{}' revision {}",
                            head.name, head.revision
                        ))
                    })?;
                Ok((found.spec, found.previous))
            }
        }
    }

    /// Version `version` of `model`.
    pub async fn version(&self, model: &str, version: u32) -> ServiceResult<VersionRef> {
        match self {
            Self::Database { db, .. } => {
                let row = find_version(db, model, &Selector::Number(version)).await?;
                Ok(VersionRef {
                    model: model.to_owned(),
                    version: row.version.unsigned_abs(),
                    manifest_digest: row.manifest_digest,
                    artifact_digest: row.artifact_digest,
                })
            }
            Self::Server { client, .. } => {
                let found = client
                    .model_version(model, &version.to_string())
                    .await
                    .map_err(from_api)?;
                Ok(VersionRef {
                    model: model.to_owned(),
                    version: found.version,
                    manifest_digest: found.manifest_digest,
                    artifact_digest: found.artifact_digest,
                })
            }
        }
    }

    /// A version's manifest and weights.
    pub async fn files(&self, version: &VersionRef) -> ServiceResult<(Vec<u8>, Vec<u8>)> {
        match self {
            Self::Database { store, .. } => Ok((
                store.read_blob(&version.manifest_digest).await?,
                store.read_blob(&version.artifact_digest).await?,
            )),
            Self::Server { client, cache } => Ok((
                cached_file(
                    client,
                    cache,
                    version,
                    "model.json",
                    &version.manifest_digest,
                )
                .await?,
                cached_file(client, cache, version, "model", &version.artifact_digest).await?,
            )),
        }
    }
}

/// A file from the cache directory (named by its digest, so a stale one cannot be read), or
/// downloaded, checked against its digest and cached.
async fn cached_file(
    client: &Client,
    cache: &std::path::Path,
    version: &VersionRef,
    file: &str,
    digest: &str,
) -> ServiceResult<Vec<u8>> {
    if !digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ServiceError::internal(format!(
            "version {}: the server sent the digest '{digest}', expected hex",
            version.version
        )));
    }
    let path = cache.join(digest);
    if let Ok(bytes) = tokio::fs::read(&path).await
        && sha256_hex(&bytes) == digest
    {
        return Ok(bytes);
    }
    let bytes = client
        .download_model_file(&version.model, &version.version.to_string(), file)
        .await
        .map_err(from_api)?;
    let got = sha256_hex(&bytes);
    if got != digest {
        return Err(ServiceError::internal(format!(
            "version {} {file}: downloaded sha256 {got}, the registry says {digest}",
            version.version
        )));
    }
    // Written aside and renamed, so a reader never sees half a file.
    let partial = cache.join(format!("{digest}.partial"));
    tokio::fs::create_dir_all(cache).await?;
    tokio::fs::write(&partial, &bytes).await?;
    tokio::fs::rename(&partial, &path).await?;
    Ok(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A stable id for deployment `name` in a replica (FNV-1a, kept positive): the same on every
/// replica and across restarts, so what is keyed by it (the live statistics) stays together.
fn replica_id(name: &str) -> i64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    i64::try_from(hash >> 1).unwrap_or(i64::MAX)
}

/// The server's answer as this layer's error: its status kept, so a replica answers a missing
/// deployment with 404 as the server would.
pub fn from_api(err: ApiError) -> ServiceError {
    let message = match &err {
        // The server's own message, as the server would have answered it.
        ApiError::Server { message, .. } => message.clone(),
        other => other.to_string(),
    };
    match err.code() {
        Some(ErrorCode::NotFound) => ServiceError::NotFound(message),
        Some(ErrorCode::Unauthenticated) => ServiceError::Unauthenticated(message),
        Some(ErrorCode::PermissionDenied) => ServiceError::PermissionDenied(message),
        Some(ErrorCode::InvalidArgument) => ServiceError::InvalidArgument(message),
        _ => ServiceError::Unavailable(format!("the server could not be asked: {message}")),
    }
}
