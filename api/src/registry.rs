//! The model registry and deployments on the wire: `/api/v1/models` (with the import of
//! ONNX models) and `/api/v1/deployments`.

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

/// `POST /api/v1/models/{name}/import`: the query of an ONNX import (the body is the `.onnx`
/// file). The input columns come from `features` or from the feature columns of `dataset`,
/// which then is also the version's data: the drift baseline and what `evaluate` defaults to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportModel {
    /// The input columns in the order the graph reads them, comma-separated (all numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<String>,
    /// A registered dataset, `NAME` (its latest version) or `NAME:VERSION`, whose feature
    /// columns are the inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// `classification` (the default, or the dataset's task) or `regression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Class names by output index, comma-separated; `0`…`k-1` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
    /// What the output holds: `logits` (the default for classification), `probabilities`,
    /// or `value` (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_kind: Option<String>,
    /// The run that produced the model, recorded as its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What a model's output holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// Unnormalised class scores: softmax gives the probabilities (what PyTorch models end in).
    #[default]
    Logits,
    /// Class probabilities, served as they are.
    Probabilities,
    /// A regression value.
    Value,
}

impl OutputKind {
    /// Parses a name as users type it.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "logits" => Ok(Self::Logits),
            "probabilities" => Ok(Self::Probabilities),
            "value" => Ok(Self::Value),
            other => Err(format!(
                "expected logits, probabilities or value, got '{other}'"
            )),
        }
    }
}

/// What `model.json` records of an imported ONNX file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OnnxInfo {
    /// The graph's input tensor and its shape (-1 for the batch dimension).
    pub input: String,
    pub input_shape: Vec<i64>,
    /// The graph output that is served, and what it holds.
    pub output: String,
    pub output_kind: OutputKind,
    /// The default-domain operator set the file declares.
    pub opset: i64,
    pub producer: String,
    pub producer_version: String,
    pub ir_version: i64,
    /// Distinct operators the graph uses, sorted.
    pub operators: Vec<String>,
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
    /// sha256 of `model.safetensors` (of the `.onnx` file for an imported model).
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
    /// For an imported ONNX model: its graph and where it came from (`artifact_digest` is the
    /// file's sha256); absent for a version trained by Slipway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<OnnxInfo>,
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
