//! The object-store backend of the blob store (`--artifacts s3://bucket/prefix`): blobs are
//! objects `<prefix>/<first two hex digits>/<digest>` in an S3-compatible bucket, reached
//! through the `object_store` crate with the usual AWS environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` …).
//!
//! Uploads still stage to a local file while hashed (see the parent module); only a verified
//! file is sent, in parts when it is large, so no upload holds more than a few parts in
//! memory. Downloads stream the object's body. Errors of the store are logged here with their
//! cause and become storage errors that clients see only as a generic internal error.

use super::{BlobFile, BlobReader, is_digest};
use crate::error::{ServiceError, ServiceResult};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::io::AsyncReadExt;

/// Files up to this size are sent in one request; larger ones in parts of this size (S3's
/// smallest part is 5 MiB).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts in flight at once per upload: what bounds an upload's memory.
const PARTS_IN_FLIGHT: usize = 2;
/// How much of the staged file is read at a time.
const READ_BYTES: usize = 1024 * 1024;

/// Why an artifacts URL cannot be used; said at start.
pub fn check_url(url: &str) -> Result<(), String> {
    ObjectBackend::open(url).map(|_| ())
}

/// A bucket (and prefix) holding blobs.
#[derive(Debug)]
pub(super) struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// The URL as configured, for logs.
    url: String,
}

/// The store's error as a storage error: the cause is logged with what was being done, the
/// client sees a generic internal error.
fn store_error(url: &str, doing: &str, err: object_store::Error) -> ServiceError {
    tracing::error!(store = %url, error = %err, "object store: {doing} failed");
    ServiceError::Io(std::io::Error::other(format!(
        "object store {url}: {doing}: {err}"
    )))
}

/// Whether an endpoint is on this machine, where plain HTTP is allowed without asking (a
/// local MinIO or moto); elsewhere `AWS_ALLOW_HTTP=true` is needed.
fn is_loopback(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(host, _)| host),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl ObjectBackend {
    /// The backend for `s3://bucket[/prefix]`, configured from the AWS environment.
    pub(super) fn open(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            "expected s3://BUCKET/PREFIX (or nothing, for <data-dir>/artifacts)".to_owned()
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("expected a bucket name after s3://".to_owned());
        }
        let prefix = ObjectPath::parse(prefix.trim_matches('/'))
            .map_err(|err| format!("the prefix after the bucket is not a valid key: {err}"))?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        // `from_env` reads AWS_ENDPOINT, the name object_store uses; AWS_ENDPOINT_URL is the
        // one the AWS tools and most S3-compatible stores document.
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .or_else(|| std::env::var("AWS_ENDPOINT").ok());
        if let Some(endpoint) = endpoint.filter(|e| !e.is_empty()) {
            if is_loopback(&endpoint) {
                builder = builder.with_allow_http(true);
            }
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder
            .build()
            .map_err(|err| format!("cannot use this bucket: {err}"))?;
        Ok(Self {
            store: Arc::new(store),
            prefix,
            url: url.to_owned(),
        })
    }

    /// The URL as configured.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, digest: &str) -> ObjectPath {
        self.prefix.clone().join(&digest[..2]).join(digest)
    }

    /// The digest an object key names, when it is a blob of this store.
    fn digest_of(&self, key: &ObjectPath) -> Option<String> {
        let mut parts = key.prefix_match(&self.prefix)?;
        let shard = parts.next()?;
        let name = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let (shard, name) = (shard.as_ref(), name.as_ref());
        (is_digest(name) && shard == &name[..2]).then(|| name.to_owned())
    }

    /// When the blob was last written, or `None` when there is none.
    pub(super) async fn modified(&self, digest: &str) -> ServiceResult<Option<SystemTime>> {
        match self.store.head(&self.key(digest)).await {
            Ok(meta) => Ok(Some(meta.last_modified.into())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(store_error(&self.url, "looking up a blob", err)),
        }
    }

    /// Sends the staged file at `path` as the blob `digest`: in one request when small, in
    /// parts otherwise, reading the file a chunk at a time.
    pub(super) async fn upload(&self, path: &Path, digest: &str, size: u64) -> ServiceResult<()> {
        let key = self.key(digest);
        let mut file = tokio::fs::File::open(path).await?;
        if size <= PART_BYTES as u64 {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut bytes).await?;
            self.store
                .put(&key, PutPayload::from(bytes))
                .await
                .map_err(|err| store_error(&self.url, "storing a blob", err))?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&key)
            .await
            .map_err(|err| store_error(&self.url, "starting a multipart upload", err))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buffer = vec![0u8; READ_BYTES];
        let sent: ServiceResult<()> = async {
            loop {
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|err| store_error(&self.url, "sending a part", err))?;
                writer.write(&buffer[..read]);
            }
        }
        .await;
        if let Err(err) = sent {
            // Aborting frees the parts already sent; a failure to abort leaves them to the
            // bucket's lifecycle rules, so it is only logged.
            if let Err(abort) = writer.abort().await {
                tracing::warn!(store = %self.url, error = %abort, "cannot abort a multipart upload");
            }
            return Err(err);
        }
        writer
            .finish()
            .await
            .map_err(|err| store_error(&self.url, "completing a multipart upload", err))?;
        Ok(())
    }

    /// The blob opened as a stream of its body, with its size.
    pub(super) async fn open_reader(&self, digest: &str) -> ServiceResult<(BlobReader, u64)> {
        let result = self
            .store
            .get(&self.key(digest))
            .await
            .map_err(|err| store_error(&self.url, "reading a blob", err))?;
        let size = result.meta.size;
        let url = self.url.clone();
        let stream = result.into_stream().map_err(move |err| {
            tracing::error!(store = %url, error = %err, "object store: a download was cut short");
            std::io::Error::other(err)
        });
        Ok((Box::pin(tokio_util::io::StreamReader::new(stream)), size))
    }

    /// The whole blob, for the small ones read at once (manifests, weights being loaded).
    pub(super) async fn read(&self, digest: &str) -> ServiceResult<Vec<u8>> {
        let result = self
            .store
            .get(&self.key(digest))
            .await
            .map_err(|err| store_error(&self.url, "reading a blob", err))?;
        let bytes = result
            .bytes()
            .await
            .map_err(|err| store_error(&self.url, "reading a blob", err))?;
        Ok(bytes.to_vec())
    }

    /// Every blob under the prefix with its size and modification time.
    pub(super) async fn scan(&self) -> ServiceResult<Vec<BlobFile>> {
        let mut listing = self.store.list(Some(&self.prefix));
        let mut blobs = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|err| store_error(&self.url, "listing blobs", err))?;
            if let Some(digest) = self.digest_of(&meta.location) {
                blobs.push(BlobFile {
                    digest,
                    size: meta.size,
                    modified: meta.last_modified.into(),
                });
            }
        }
        Ok(blobs)
    }

    /// Removes the blob `digest` if it was last written before `cutoff`; answers its size
    /// when removed.
    pub(super) async fn remove_if_older(
        &self,
        digest: &str,
        cutoff: SystemTime,
    ) -> ServiceResult<Option<u64>> {
        let key = self.key(digest);
        let meta = match self.store.head(&key).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(store_error(&self.url, "looking up a blob", err)),
        };
        if SystemTime::from(meta.last_modified) >= cutoff {
            return Ok(None);
        }
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(Some(meta.size)),
            Err(err) => Err(store_error(&self.url, "removing a blob", err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_allowed_only_on_this_machine() {
        assert!(is_loopback("http://127.0.0.1:9000"));
        assert!(is_loopback("http://localhost:9000/"));
        assert!(is_loopback("http://[::1]:9000"));
        assert!(!is_loopback("http://minio.internal:9000"));
        assert!(!is_loopback("https://127.0.0.1:9000"));
    }

    #[test]
    fn urls_other_than_s3_are_refused_with_what_was_expected() {
        let err = check_url("gs://bucket").unwrap_err();
        assert!(err.contains("s3://BUCKET/PREFIX"), "{err}");
        let err = check_url("s3:///prefix").unwrap_err();
        assert!(err.contains("bucket"), "{err}");
    }

    #[test]
    fn only_keys_shaped_like_blobs_are_blobs() {
        let backend = ObjectBackend::open("s3://bucket/team/slipway").unwrap();
        let digest = "ab".repeat(32);
        assert_eq!(
            backend.key(&digest).as_ref(),
            format!("team/slipway/ab/{digest}")
        );
        assert_eq!(
            backend.digest_of(&backend.key(&digest)),
            Some(digest.clone())
        );
        let wrong_shard = ObjectPath::from(format!("team/slipway/cd/{digest}"));
        assert_eq!(backend.digest_of(&wrong_shard), None);
        let elsewhere = ObjectPath::from(format!("other/ab/{digest}"));
        assert_eq!(backend.digest_of(&elsewhere), None);
    }
}
