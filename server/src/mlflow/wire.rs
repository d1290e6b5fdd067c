//! The MLflow REST API's JSON messages (its protobuf messages as its clients write and read
//! them) and the translation between them and Slipway's rows: ids as strings, times in
//! milliseconds, lifecycle stages, and the artifact URIs that point MLflow's clients at the
//! artifacts proxy.

use crate::entity::tracking::{experiment, run};
use crate::error::{ServiceError, ServiceResult};
use crate::tracking::search::RunDetails;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt::Write as _;

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

/// A run as MLflow writes it (`info`, `data`, `inputs`), serialised straight from its details:
/// a page of runs is the largest answer the API writes, and building a copy of each run's
/// strings first cost a third as much as writing them.
#[derive(Debug, Clone)]
pub struct Run(RunDetails);

/// A run's attributes as MLflow writes them, from its row.
#[derive(Debug, Clone, Copy)]
pub struct RunInfo<'a>(&'a run::Model);

/// What was logged to a run: its latest metric points, params and tags.
struct RunData<'a>(&'a RunDetails);

/// A metric point as written in a run.
#[derive(Serialize)]
struct MetricPoint<'a> {
    key: &'a str,
    value: f64,
    timestamp: i64,
    step: i64,
}

/// A param or tag as written in a run.
#[derive(Serialize)]
struct Pair<'a> {
    key: &'a str,
    value: &'a str,
}

/// A run's inputs: none, written as MLflow writes a run without dataset inputs (datasets are
/// recorded as tags; see `runs::log_inputs`).
#[derive(Serialize)]
struct RunInputs {}

/// Writes its value as a JSON string (MLflow's ids are strings) without building one first.
struct AsText<T>(T);

impl<T: std::fmt::Display> Serialize for AsText<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// Slipway's run status (`running`) as MLflow writes it (`RUNNING`).
struct Uppercase<'a>(&'a str);

impl std::fmt::Display for Uppercase<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0
            .chars()
            .try_for_each(|c| f.write_char(c.to_ascii_uppercase()))
    }
}

impl Serialize for Run {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut run = serializer.serialize_struct("Run", 3)?;
        run.serialize_field("info", &RunInfo(&self.0.row))?;
        run.serialize_field("data", &RunData(&self.0))?;
        run.serialize_field("inputs", &RunInputs {})?;
        run.end()
    }
}

impl Serialize for RunInfo<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0;
        let mut info = serializer.serialize_struct("RunInfo", 10)?;
        info.serialize_field("run_id", &AsText(row.id))?;
        info.serialize_field("run_uuid", &AsText(row.id))?;
        info.serialize_field("run_name", &row.name)?;
        info.serialize_field("experiment_id", &AsText(row.experiment_id))?;
        info.serialize_field("user_id", &row.created_by)?;
        info.serialize_field("status", &AsText(Uppercase(&row.status)))?;
        info.serialize_field("start_time", &row.start_time)?;
        match row.end_time {
            Some(end_time) => info.serialize_field("end_time", &end_time)?,
            None => info.skip_field("end_time")?,
        }
        info.serialize_field(
            "artifact_uri",
            &AsText(ArtifactUri {
                experiment_id: row.experiment_id,
                run_id: row.id,
            }),
        )?;
        info.serialize_field("lifecycle_stage", lifecycle(row.deleted_at))?;
        info.end()
    }
}

impl Serialize for RunData<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn pairs(map: &BTreeMap<String, String>) -> impl Iterator<Item = Pair<'_>> {
            map.iter().map(|(key, value)| Pair { key, value })
        }
        let details = self.0;
        let mut data = serializer.serialize_struct("RunData", 3)?;
        // As MLflow writes its messages: a list with nothing in it is left out.
        if details.metrics.is_empty() {
            data.skip_field("metrics")?;
        } else {
            data.serialize_field(
                "metrics",
                &Seq(|| {
                    details.metrics.iter().map(|point| MetricPoint {
                        key: &point.key,
                        value: point.value,
                        timestamp: point.timestamp,
                        step: point.step,
                    })
                }),
            )?;
        }
        for (name, map) in [("params", &details.params), ("tags", &details.tags)] {
            if map.is_empty() {
                data.skip_field(name)?;
            } else {
                data.serialize_field(name, &Seq(|| pairs(map)))?;
            }
        }
        data.end()
    }
}

/// A sequence written from the items its function iterates.
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator<Item: Serialize>,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
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
    ArtifactUri {
        experiment_id,
        run_id,
    }
    .to_string()
}

/// A run's artifact URI, to write without building it first.
struct ArtifactUri {
    experiment_id: i64,
    run_id: i64,
}

impl std::fmt::Display for ArtifactUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "mlflow-artifacts:/{}/{}/artifacts",
            self.experiment_id, self.run_id
        )
    }
}

/// A run's attributes, to write.
pub fn run_info(row: &run::Model) -> RunInfo<'_> {
    RunInfo(row)
}

/// A run with what was logged to it, to write.
pub fn run(details: RunDetails) -> Run {
    Run(details)
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

    /// A run of experiment 3 with a param, two tags and a metric point.
    fn details(end_time: Option<i64>, deleted_at: Option<i64>) -> RunDetails {
        RunDetails {
            row: run::Model {
                id: 42,
                experiment_id: 3,
                name: "bold \"owl\"".to_owned(),
                status: "finished".to_owned(),
                start_time: 1_700_000_000_000,
                end_time,
                created_by: "ana".to_owned(),
                dataset_digest: None,
                code_version: None,
                job_id: None,
                seed: None,
                deleted_at,
            },
            params: BTreeMap::from([("lr".to_owned(), "0.01".to_owned())]),
            tags: BTreeMap::from([
                ("a".to_owned(), "1".to_owned()),
                ("team".to_owned(), "vision".to_owned()),
            ]),
            metrics: vec![crate::entity::tracking::latest_metric::Model {
                run_id: 42,
                key: "acc".to_owned(),
                value: 0.5,
                step: 7,
                timestamp: 1_700_000_000_123,
            }],
        }
    }

    #[test]
    fn a_run_is_written_as_mlflow_writes_it() {
        let written = serde_json::to_string(&run(details(Some(1_700_000_000_999), None))).unwrap();
        assert_eq!(
            written,
            concat!(
                r#"{"info":{"run_id":"42","run_uuid":"42","run_name":"bold \"owl\"","#,
                r#""experiment_id":"3","user_id":"ana","status":"FINISHED","#,
                r#""start_time":1700000000000,"end_time":1700000000999,"#,
                r#""artifact_uri":"mlflow-artifacts:/3/42/artifacts","lifecycle_stage":"active"},"#,
                r#""data":{"metrics":[{"key":"acc","value":0.5,"timestamp":1700000000123,"step":7}],"#,
                r#""params":[{"key":"lr","value":"0.01"}],"#,
                r#""tags":[{"key":"a","value":"1"},{"key":"team","value":"vision"}]},"#,
                r#""inputs":{}}"#
            )
        );
        // Empty lists are left out, as MLflow leaves them out.
        let mut bare = details(None, None);
        bare.params.clear();
        bare.tags.clear();
        bare.metrics.clear();
        let written = serde_json::to_value(run(bare)).unwrap();
        assert_eq!(written["data"], serde_json::json!({}));
        let deleted = details(None, Some(1));
        let info = serde_json::to_value(run_info(&deleted.row)).unwrap();
        assert_eq!(info["lifecycle_stage"], "deleted");
        assert!(info.get("end_time").is_none(), "{info}");
        assert_eq!(info["artifact_uri"], artifact_uri(3, 42));
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
