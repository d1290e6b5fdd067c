//! Predictions on the wire: `POST /api/v1/deployments/{name}/predict` and the Open Inference
//! Protocol (v2) bodies under `/v2/models/{name}` (their binary form is in [`crate::oip`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `{"instances": [[f, ...], ...]}` or `{"instances": [{"column": value, ...}, ...]}` (values
/// numbers, strings, booleans or null for missing, as the model's signature says). The
/// instances stay raw JSON so the server can name the exact row and field that is wrong.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    pub instances: Vec<serde_json::Value>,
    /// Requests with the same key go to the same variant (primary or canary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One prediction: a class with every class's probability, or a value. The class names are
/// shared (`Arc<str>`): a model answers with the same few names on every row, and a batch
/// would otherwise copy each of them once a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prediction {
    Class {
        label: Arc<str>,
        probabilities: BTreeMap<Arc<str>, f64>,
    },
    Value(f64),
}

/// The answer: predictions in request order, and what answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    pub predictions: Vec<Prediction>,
    pub model_version: u32,
    pub deployment_revision: u32,
    /// `primary` or `canary`.
    pub variant: String,
    /// Columns of named instances the model does not read, each once (table models ignore
    /// them; all-numeric models refuse unknown names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_columns: Vec<String>,
}

/// One tensor of an Open Inference Protocol request or response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferTensor {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    /// Row-major data, flat or nested; absent (null) when the tensor travels as binary data
    /// after the JSON header (see [`crate::oip`]).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// `POST /v2/models/{name}/infer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub inputs: Vec<InferTensor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
    /// The outputs to answer with (all of them when absent), each optionally asking for
    /// binary data with `parameters.binary_data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<RequestedOutput>>,
}

/// One output a request asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestedOutput {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// The answer to an infer request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub outputs: Vec<InferTensor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// `GET /v2`: who answers, and which protocol extensions it speaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMetadata {
    pub name: String,
    pub version: String,
    pub extensions: Vec<String>,
}

/// The declaration of one tensor a model reads or writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: String,
    /// `-1` for a dimension of any size (the rows).
    pub shape: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// `GET /v2/models/{name}[/versions/{v}]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub name: String,
    /// Every version the deployment serves (primary first), or the one asked for.
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}
