//! The MLflow REST API's JSON messages (its protobuf messages as its clients write and read
//! them) and the translation between them and Slipway's rows: ids as strings, times in
//! milliseconds, lifecycle stages, and the artifact URIs that point MLflow's clients at the
//! artifacts proxy.

use crate::entity::tracking::{experiment, run};
use crate::error::{ServiceError, ServiceResult};
use crate::tracking::search::RunDetails;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// MLflow's id of the experiment its clients use when none is set; Slipway's `default`.
pub const DEFAULT_EXPERIMENT_ID: &str = "0";
/// The name of the experiment runs go to when none is named.
pub const DEFAULT_EXPERIMENT_NAME: &str = "default";

/// A key and a value: a param, a tag.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// One metric point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    pub key: String,
    #[serde(deserialize_with = "lenient_f64")]
    pub value: f64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub timestamp: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub step: i64,
}

/// An experiment.
#[derive(Debug, Clone, Serialize)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: &'static str,
    pub last_update_time: i64,
    pub creation_time: i64,
    pub tags: Vec<KeyValue>,
}

/// A run's attributes.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    pub run_uuid: String,
    pub run_name: String,
    pub experiment_id: String,
    pub user_id: String,
    pub status: String,
    pub start_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub lifecycle_stage: &'static str,
}

/// What was logged to a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunData {
    pub metrics: Vec<Metric>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

/// A run's inputs (datasets are recorded as tags; see `runs::log_inputs`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunInputs {
    pub dataset_inputs: Vec<serde_json::Value>,
}

/// A run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub info: RunInfo,
    pub data: RunData,
    pub inputs: RunInputs,
}

/// A run id or experiment id as MLflow writes it: a string of Slipway's number. Anything else
/// names nothing here, so it is "not found", as MLflow answers for an unknown id.
pub fn parse_id(what: &str, text: &str) -> ServiceResult<i64> {
    text.trim().parse::<i64>().map_err(|_| {
        ServiceError::not_found(format!(
            "{what} '{text}' not found (this server's {what}s are numbers)"
        ))
    })
}

/// The run a request names, by `run_id` or its older name `run_uuid`.
pub fn run_id_of(run_id: Option<&str>, run_uuid: Option<&str>) -> ServiceResult<i64> {
    match run_id.filter(|id| !id.is_empty()).or(run_uuid) {
        Some(text) => parse_id("run", text),
        None => Err(ServiceError::invalid("run_id: expected the run's id")),
    }
}

fn lifecycle(deleted_at: Option<i64>) -> &'static str {
    if deleted_at.is_some() {
        "deleted"
    } else {
        "active"
    }
}

/// An experiment with its tags.
pub fn experiment(row: experiment::Model, tags: Vec<(String, String)>) -> Experiment {
    Experiment {
        artifact_location: format!("mlflow-artifacts:/{}", row.id),
        experiment_id: row.id.to_string(),
        name: row.name,
        lifecycle_stage: lifecycle(row.deleted_at),
        last_update_time: row.updated_at,
        creation_time: row.created_at,
        tags: tags
            .into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect(),
    }
}

/// Where a run's artifacts are, as the artifacts proxy reads it back (see `artifacts`).
pub fn artifact_uri(experiment_id: i64, run_id: i64) -> String {
    format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")
}

pub fn run_info(row: &run::Model) -> RunInfo {
    RunInfo {
        run_id: row.id.to_string(),
        run_uuid: row.id.to_string(),
        run_name: row.name.clone(),
        experiment_id: row.experiment_id.to_string(),
        user_id: row.created_by.clone(),
        status: row.status.to_ascii_uppercase(),
        start_time: row.start_time,
        end_time: row.end_time,
        artifact_uri: artifact_uri(row.experiment_id, row.id),
        lifecycle_stage: lifecycle(row.deleted_at),
    }
}

/// A run with what was logged to it.
pub fn run(details: RunDetails) -> Run {
    let pairs = |map: BTreeMap<String, String>| {
        map.into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect()
    };
    Run {
        info: run_info(&details.row),
        data: RunData {
            metrics: details
                .metrics
                .into_iter()
                .map(|m| Metric {
                    key: m.key,
                    value: m.value,
                    timestamp: m.timestamp,
                    step: m.step,
                })
                .collect(),
            params: pairs(details.params),
            tags: pairs(details.tags),
        },
        inputs: RunInputs::default(),
    }
}

/// An integer that protobuf's JSON may write as a string.
pub fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    Ok(lenient_opt_i64(deserializer)?.unwrap_or_default())
}

/// An optional integer that protobuf's JSON may write as a string.
pub fn lenient_opt_i64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, got {n}"))),
        Some(serde_json::Value::String(text)) => text
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, got '{text}'"))),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

/// A number that protobuf's JSON may write as a string (also "NaN" and "Infinity").
fn lenient_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| serde::de::Error::custom(format!("expected a number, got {n}"))),
        serde_json::Value::String(text) => match text.trim() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .parse::<f64>()
                .map_err(|_| serde::de::Error::custom(format!("expected a number, got '{text}'"))),
        },
        other => Err(serde::de::Error::custom(format!(
            "expected a number, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_numbers_may_be_strings() {
        let metric: Metric = serde_json::from_str(
            r#"{"key": "loss", "value": "0.5", "timestamp": "1700000000000", "step": 3}"#,
        )
        .unwrap();
        assert_eq!(
            (metric.value, metric.timestamp, metric.step),
            (0.5, 1_700_000_000_000, 3)
        );
        let metric: Metric = serde_json::from_str(r#"{"key": "x", "value": 2}"#).unwrap();
        assert_eq!((metric.value, metric.timestamp, metric.step), (2.0, 0, 0));
        let err = serde_json::from_str::<Metric>(r#"{"key": "x", "value": 1, "step": "a"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected an integer, got 'a'"), "{err}");
    }

    #[test]
    fn ids_that_are_not_numbers_name_nothing() {
        assert_eq!(parse_id("run", "42").unwrap(), 42);
        let err = parse_id("run", "0a1b").unwrap_err();
        assert!(matches!(err, ServiceError::NotFound(_)), "{err}");
        assert_eq!(run_id_of(None, Some("7")).unwrap(), 7);
        assert!(matches!(
            run_id_of(None, None),
            Err(ServiceError::InvalidArgument(_))
        ));
    }
}
