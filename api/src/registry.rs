//! The model registry and deployments on the wire: `/api/v1/models` and
//! `/api/v1/deployments`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /api/v1/models/{name}/versions`: register a run's model as the next version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterModel {
    pub run_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The data a version was trained on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetRef {
    pub name: String,
    pub version: u32,
    pub digest: String,
}

/// One immutable, numbered version of a registered model, with its lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub model: String,
    pub version: u32,
    pub run_id: Option<i64>,
    /// sha256 of `model.safetensors`.
    pub artifact_digest: String,
    /// sha256 of `model.json`.
    pub manifest_digest: String,
    pub arch: String,
    pub task: String,
    pub features: Vec<String>,
    /// What `predict` reads, one entry per feature in the model's order (absent from
    /// versions registered before signatures: then every feature is a number).
    #[serde(default)]
    pub signature: Vec<InputColumn>,
    #[serde(default)]
    pub labels: Vec<String>,
    pub dataset: Option<DatasetRef>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    pub seed: Option<i64>,
    pub code_version: Option<String>,
    /// Test metrics of its training run and the latest evaluation metrics.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// The aliases pointing at this version.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub description: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// One input column of a model's signature: what a named predict instance gives under
/// `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputColumn {
    pub name: String,
    /// `numeric`, `boolean`, `datetime` or `categorical`.
    #[serde(rename = "type")]
    pub column_type: crate::ColumnType,
    /// For a categorical column, the categories seen in training; any other value is read as
    /// the unknown category, not refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Whether a missing value (`null`, an empty CSV cell) is accepted; it is then filled as
    /// in training.
    pub missing_allowed: bool,
}

impl InputColumn {
    /// The Open Inference Protocol datatype of this column's tensor: `FP64` for numbers,
    /// `BYTES` for anything given as text.
    pub fn datatype(&self) -> &'static str {
        match self.column_type {
            crate::ColumnType::Numeric => "FP64",
            _ => "BYTES",
        }
    }
}

/// A registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    pub description: Option<String>,
    pub latest_version: Option<u32>,
    pub version_count: u32,
    /// Alias → version.
    #[serde(default)]
    pub aliases: BTreeMap<String, u32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `PUT /api/v1/models/{name}/aliases/{alias}`: point an alias at a version (the reason goes
/// in the reason header; protected aliases need one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAlias {
    pub version: u32,
}

/// A canary: a version that takes a share of the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    pub version: u32,
    /// Share of requests, 0 to 100.
    pub percent: f64,
}

/// What a deployment serves; each change appends a revision holding one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentSpec {
    pub model: String,
    pub primary: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// Sees a mirrored copy of the traffic; never answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<u32>,
}

/// `PUT /api/v1/deployments/{name}`: create a deployment or change it. Fields left out keep
/// their current values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// The registered model (required when creating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The primary version; with `canary_percent`, the canary's version instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Send this share of traffic (0–100) to `version` as a canary; 0 removes the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_percent: Option<f64>,
    /// Mirror traffic to this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_version: Option<u32>,
    /// Stop mirroring.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove_shadow: bool,
    /// Refuse the change (409) unless the deployment is still at this revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_revision: Option<u32>,
    /// Allow `model` to switch an existing deployment to another registered model; without
    /// it such a change is refused (409), so a typo cannot replace what callers are served.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub change_model: bool,
    /// With `change_model`: switch even when the new model reads other input features (names,
    /// order or count) than the one it replaces, which callers' rows will no longer fit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// `POST /api/v1/deployments/{name}/promote` and `/rollback`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// Rollback: the revision to re-apply (default: the one before the current).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_revision: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_revision: Option<u32>,
}

/// A deployment as listed and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub name: String,
    pub revision: u32,
    pub spec: DeploymentSpec,
    /// Whether this server has the current revision's models loaded and answering.
    pub ready: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One appended revision: what changed, by whom and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRevision {
    pub revision: u32,
    /// `deploy`, `promote` or `rollback`.
    pub action: String,
    pub spec: DeploymentSpec,
    /// The spec before this revision (none for the first).
    pub previous: Option<DeploymentSpec>,
    /// For a rollback: the revision re-applied.
    pub rolled_back_to: Option<u32>,
    pub actor: String,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The shadow's record for one revision: how often it agreed with the primary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowComparison {
    pub revision: u32,
    pub primary_version: u32,
    pub shadow_version: u32,
    pub requests: u64,
    pub agreements: u64,
    pub errors: u64,
    /// agreements / requests (0 when none).
    pub agreement: f64,
}
