//! The blob store every part shares: files kept content-addressed by SHA-256 (identical
//! files are stored once) — run artifacts, dataset files and model weights alike — in one of
//! two backends behind the same API: the data dir's `artifacts/` (the default), or an
//! S3-compatible bucket (`--artifacts s3://bucket/prefix`, see [`object`]). Uploads are
//! streamed to a local temporary file while hashed, then put in place (renamed, or sent to
//! the bucket), so a partial upload never shows. What names a blob (a run's artifact path, a
//! dataset version) is recorded by its owner, e.g. `tracking::artifacts`.
//!
//! Blobs nothing references any more are collected (see `crate::gc`). Storing a blob that is
//! already there gives it a fresh modification time: on disk a freshly written copy is
//! renamed over it; in a bucket the object is sent again when it is older than half the
//! collector's grace age (and skipped otherwise, as it is young enough to survive until its
//! reference commits). The collector only removes blobs older than its grace age, and both
//! the put and the collector's look-then-remove hold `gc_lock`, so an upload that reuses a
//! blob can never have it removed under it by the same process. Across server replicas
//! sharing a bucket, the window left is the collector's look-then-remove of an old,
//! unreferenced blob meeting another replica's upload of the same bytes.

pub mod object;

use crate::error::{ServiceError, ServiceResult};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::io::AsyncWriteExt;
use tokio::sync::RwLock;

/// How long a staged upload goes unwritten before it counts as cut short: far longer than
/// the body-read timeout, between whose reads an upload in progress writes.
const STALE_UPLOAD: std::time::Duration = std::time::Duration::from_secs(600);

/// A stored blob opened for streaming: a file on disk or an object's body.
pub type BlobReader = std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// The content-addressed blob store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    /// The blob directory of the local backend; with a bucket, only its `tmp/` is used, to
    /// stage uploads.
    root: PathBuf,
    /// The bucket, when blobs live in one.
    bucket: Option<Arc<object::ObjectBackend>>,
    max_bytes: u64,
    /// Held shared while a blob is put in place, exclusively while the collector checks a
    /// blob's age and removes it: the two never interleave.
    gc_lock: Arc<RwLock<()>>,
}

/// An upload written to the temporary directory and hashed, not yet a blob.
#[derive(Debug)]
pub struct StagedBlob {
    pub path: PathBuf,
    pub digest: String,
    pub size: u64,
}

/// A blob found on disk.
#[derive(Debug, Clone)]
pub struct BlobFile {
    pub digest: String,
    pub size: u64,
    pub modified: SystemTime,
}

fn is_digest(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

impl BlobStore {
    /// The store in the directory `root`.
    pub fn new(root: PathBuf, max_bytes: u64) -> Self {
        Self {
            root,
            bucket: None,
            max_bytes,
            gc_lock: Arc::new(RwLock::new(())),
        }
    }

    /// The store `artifacts` names: empty for the directory `root`, or `s3://bucket/prefix`
    /// (uploads still stage in `root`'s `tmp/`). Why a URL cannot be used is the error.
    pub fn open(root: PathBuf, artifacts: &str, max_bytes: u64) -> Result<Self, String> {
        let mut store = Self::new(root, max_bytes);
        if !artifacts.is_empty() {
            store.bucket = Some(Arc::new(object::ObjectBackend::open(artifacts)?));
        }
        Ok(store)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Removes what uploads cut short by a crash left in the temporary directory: files not
    /// written to for [`STALE_UPLOAD`]. Called at start and by the collector. Only stale files
    /// go, because replicas sharing a data dir share this directory, and another replica's
    /// upload in progress writes to its file at least every body-read timeout.
    pub async fn remove_partial_uploads(&self) -> ServiceResult<u64> {
        let tmp = self.tmp_dir();
        let removed = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let entries = match std::fs::read_dir(&tmp) {
                Ok(entries) => entries,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(err) => return Err(err),
            };
            let mut removed = 0;
            for entry in entries {
                let entry = entry?;
                let metadata = entry.metadata()?;
                let idle = metadata
                    .modified()?
                    .elapsed()
                    .unwrap_or(std::time::Duration::ZERO);
                if metadata.is_file() && idle >= STALE_UPLOAD {
                    std::fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|err| {
            ServiceError::internal(format!("cleaning partial uploads stopped: {err}"))
        })??;
        Ok(removed)
    }

    /// Every blob on disk with its size and modification time (a blocking walk, off the
    /// async runtime).
    pub async fn scan_blobs(&self) -> ServiceResult<Vec<BlobFile>> {
        if let Some(bucket) = &self.bucket {
            return bucket.scan().await;
        }
        let root = self.root.clone();
        let blobs = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<BlobFile>> {
            let mut blobs = Vec::new();
            for shard in std::fs::read_dir(&root)? {
                let shard = shard?;
                let name = shard.file_name();
                let is_shard = name.len() == 2
                    && name
                        .to_str()
                        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_hexdigit()));
                if !is_shard || !shard.file_type()?.is_dir() {
                    continue;
                }
                for blob in std::fs::read_dir(shard.path())? {
                    let blob = blob?;
                    let Some(digest) = blob.file_name().to_str().map(str::to_owned) else {
                        continue;
                    };
                    let metadata = blob.metadata()?;
                    if is_digest(&digest) && metadata.is_file() {
                        blobs.push(BlobFile {
                            digest,
                            size: metadata.len(),
                            modified: metadata.modified()?,
                        });
                    }
                }
            }
            Ok(blobs)
        })
        .await
        .map_err(|err| ServiceError::internal(format!("the blob scan stopped: {err}")))??;
        Ok(blobs)
    }

    /// Removes each blob of `digests` whose modification time is still before `cutoff`,
    /// checked under the lock that uploads take to put a blob in place; returns those removed
    /// with their sizes. A blob an upload refreshed since the scan is kept.
    pub async fn remove_if_older(
        &self,
        digests: Vec<String>,
        cutoff: SystemTime,
    ) -> ServiceResult<Vec<(String, u64)>> {
        if let Some(bucket) = &self.bucket {
            let mut removed = Vec::new();
            for digest in digests.into_iter().filter(|d| is_digest(d)) {
                let _exclusive = self.gc_lock.write().await;
                if let Some(size) = bucket.remove_if_older(&digest, cutoff).await? {
                    removed.push((digest, size));
                }
            }
            return Ok(removed);
        }
        let store = self.clone();
        let removed =
            tokio::task::spawn_blocking(move || -> std::io::Result<Vec<(String, u64)>> {
                let mut removed = Vec::new();
                for digest in digests.into_iter().filter(|d| is_digest(d)) {
                    let path = store.blob_path(&digest);
                    let _exclusive = store.gc_lock.blocking_write();
                    let metadata = match std::fs::metadata(&path) {
                        Ok(metadata) => metadata,
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(err) => return Err(err),
                    };
                    if metadata.modified()? < cutoff {
                        std::fs::remove_file(&path)?;
                        removed.push((digest, metadata.len()));
                    }
                }
                Ok(removed)
            })
            .await
            .map_err(|err| ServiceError::internal(format!("blob removal stopped: {err}")))??;
        Ok(removed)
    }

    pub(crate) fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join(&digest[..2]).join(digest)
    }

    /// The stored blob with `digest`.
    pub async fn read_blob(&self, digest: &str) -> ServiceResult<Vec<u8>> {
        if !is_digest(digest) {
            return Err(ServiceError::internal(format!(
                "invalid stored digest '{digest}'"
            )));
        }
        match &self.bucket {
            Some(bucket) => bucket.read(digest).await,
            None => Ok(tokio::fs::read(self.blob_path(digest)).await?),
        }
    }

    /// The stored blob with `digest`, opened for streaming, with its size.
    pub async fn open_blob(&self, digest: &str) -> ServiceResult<(BlobReader, u64)> {
        if !is_digest(digest) {
            return Err(ServiceError::internal(format!(
                "invalid stored digest '{digest}'"
            )));
        }
        if let Some(bucket) = &self.bucket {
            return bucket.open_reader(digest).await;
        }
        let file = tokio::fs::File::open(self.blob_path(digest)).await?;
        let size = file.metadata().await?.len();
        Ok((Box::pin(file), size))
    }

    /// Stores `bytes` and returns their digest and size.
    pub async fn put_bytes(&self, bytes: &[u8]) -> ServiceResult<(String, u64)> {
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
        self.put(body).await
    }

    /// Streams `body` into the store and returns its digest and size.
    pub(crate) async fn put<S, B, E>(&self, body: S) -> ServiceResult<(String, u64)>
    where
        S: Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let staged = self.stage(body, "artifact").await?;
        self.commit(staged).await
    }

    /// Streams `body` to a temporary file while hashing it, without putting it in place: the
    /// caller checks the file first, then [`Self::commit`]s or [`Self::discard`]s it. Over
    /// the size limit is a 413 naming `what`.
    pub async fn stage<S, B, E>(&self, mut body: S, what: &str) -> ServiceResult<StagedBlob>
    where
        S: Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let tmp_dir = self.tmp_dir();
        tokio::fs::create_dir_all(&tmp_dir).await?;
        let tmp = tmp_dir.join(format!("upload-{:016x}", rand::random::<u64>()));
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let result: ServiceResult<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|err| {
                    ServiceError::invalid(format!("the upload was interrupted: {err}"))
                })?;
                let bytes = chunk.as_ref();
                size += bytes.len() as u64;
                if size > self.max_bytes {
                    return Err(ServiceError::too_large(format!(
                        "{what}: larger than the limit of {} bytes",
                        self.max_bytes
                    )));
                }
                hasher.update(bytes);
                file.write_all(bytes).await?;
            }
            file.sync_all().await?;
            Ok(())
        }
        .await;
        if let Err(err) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(err);
        }
        Ok(StagedBlob {
            path: tmp,
            digest: hex::encode(hasher.finalize()),
            size,
        })
    }

    /// Puts a staged file in place as its blob, and returns its digest and size.
    pub async fn commit(&self, staged: StagedBlob) -> ServiceResult<(String, u64)> {
        if let Some(bucket) = &self.bucket {
            let sent = self.send(bucket, &staged).await;
            self.discard_file(&staged.path).await;
            sent?;
            return Ok((staged.digest, staged.size));
        }
        let target = self.blob_path(&staged.digest);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        // The fresh copy replaces an identical blob already there, refreshing its
        // modification time, so the collector sees it as new until its grace age passes.
        let _shared = self.gc_lock.read().await;
        tokio::fs::rename(&staged.path, &target).await?;
        Ok((staged.digest, staged.size))
    }

    /// Sends a staged file to the bucket, unless the blob is there and young enough that
    /// the collector leaves it alone until the caller's reference commits.
    async fn send(&self, bucket: &object::ObjectBackend, staged: &StagedBlob) -> ServiceResult<()> {
        let _shared = self.gc_lock.read().await;
        let fresh_after = SystemTime::now()
            .checked_sub(crate::gc::GRACE / 2)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        if bucket
            .modified(&staged.digest)
            .await?
            .is_some_and(|modified| modified > fresh_after)
        {
            return Ok(());
        }
        bucket
            .upload(&staged.path, &staged.digest, staged.size)
            .await
    }

    /// Removes a staged file that is not to be stored.
    pub async fn discard(&self, staged: StagedBlob) {
        self.discard_file(&staged.path).await;
    }

    async fn discard_file(&self, path: &Path) {
        if let Err(err) = tokio::fs::remove_file(path).await {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove a staged upload");
        }
    }

    /// The store's root directory (with a bucket, where uploads stage).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where blobs live, for logs: the directory, or the bucket's URL.
    pub fn location(&self) -> String {
        match &self.bucket {
            Some(bucket) => bucket.url().to_owned(),
            None => self.root.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn identical_content_is_stored_once_and_the_limit_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().to_owned(), 10);
        let chunks =
            || futures_util::stream::iter(vec![Ok::<_, std::io::Error>(b"hello".to_vec())]);
        let (first, size) = store.put(chunks()).await.unwrap();
        let (second, _) = store.put(chunks()).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(size, 5);
        assert!(store.blob_path(&first).exists());
        let big = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(vec![0u8; 11])]);
        assert!(matches!(
            store.put(big).await,
            Err(ServiceError::TooLarge(_))
        ));
    }
}
