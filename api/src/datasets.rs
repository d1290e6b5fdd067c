//! Datasets: the wire types of `/api/v1/datasets`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One version of a named dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetVersion {
    pub name: String,
    pub version: u32,
    /// SHA-256 of the CSV content.
    pub digest: String,
    pub label: String,
    /// `classification` or `regression`.
    pub task: String,
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    pub rows: u64,
    pub size_bytes: u64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Per-feature statistics (the drift baseline); in `show`, not in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<serde_json::Value>,
}

/// The answer to an upload: the version, and whether it is new (the same content again
/// answers the existing version).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadedDataset {
    pub dataset: DatasetVersion,
    pub created: bool,
}
