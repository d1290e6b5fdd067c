//! Administration: `POST /api/v1/admin/gc` collects the stored blobs that nothing references.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/admin/gc`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcRequest {
    /// Report what would be removed, remove nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// One collected blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcBlob {
    pub digest: String,
    pub size: u64,
}

/// What a collection removed (or, for a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    pub dry_run: bool,
    /// Blobs removed (or that would be).
    pub removed: u64,
    /// Their bytes.
    pub bytes_freed: u64,
    /// The removed blobs, at most [`GC_LISTED_BLOBS`] of them.
    pub blobs: Vec<GcBlob>,
    /// Blobs on disk, referenced or not.
    pub scanned: u64,
    /// Unreferenced blobs kept because they are younger than the grace age (an upload may be
    /// about to reference them).
    pub kept_recent: u64,
    /// The grace age in seconds.
    pub grace_secs: u64,
}

/// Most blobs a [`GcReport`] lists one by one.
pub const GC_LISTED_BLOBS: usize = 1000;
