//! Answering predictions: validate the instances against the model that will answer, route
//! between primary and canary (sticky by an optional key), batch, and mirror to the shadow
//! without touching the answer or its latency. A request may also name the version that
//! answers it (the Open Inference Protocol's `/versions/{v}` routes).

use super::shadow::Pair;
use super::{Live, Serving};
use crate::error::{ServiceError, ServiceResult};
use crate::monitoring::live::Outcome;
use serde_json::Value;
use slipway_api::{PredictResponse, Prediction};
use slipway_ml::inference::Engine;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Spreads unkeyed requests evenly between primary and canary.
static UNKEYED: AtomicU64 = AtomicU64::new(0);

/// A well-mixed 64-bit hash (SplitMix64's finaliser).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A position in [0, 100) for this request: stable for a key, spread evenly otherwise.
fn bucket(key: Option<&str>) -> f64 {
    let seed = match key {
        Some(key) => key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }),
        None => UNKEYED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed),
    };
    (mix(seed) >> 11) as f64 / (1u64 << 53) as f64 * 100.0
}

/// Which version answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// The primary or the canary, drawn per request or fixed by the key.
    Routed(Option<&'a str>),
    /// This version, when the deployment's current revision serves it (as primary, canary or
    /// shadow); otherwise the request is refused (404).
    Version(u32),
}

/// One instance as the caller gave it: values in feature order, or by column name.
enum Instance {
    Positional(Vec<f64>),
    Named(serde_json::Map<String, Value>),
}

/// Instances made ready for a version: its flat input, the rows monitoring records (numeric
/// columns in feature order, NaN for text or missing cells) and the columns it ignored.
struct Encoded {
    rows: Vec<Vec<f64>>,
    /// A table model's cells per row (empty where missing), for category and missing-rate
    /// drift; none for an all-numeric model.
    cells: Vec<Vec<String>>,
    flat: Vec<f32>,
    ignored: Vec<String>,
}

/// A value a model reads: a number within the range of the 32-bit floats models compute in
/// (a larger one would reach the model as infinity and come out as NaN).
pub(super) fn number(value: &Value, place: impl FnOnce() -> String) -> ServiceResult<f64> {
    match value.as_f64() {
        Some(number) if number.abs() <= f64::from(f32::MAX) => Ok(number),
        Some(number) => Err(ServiceError::invalid(format!(
            "{}: {number:e} is outside the range a model reads (at most ±3.4e38)",
            place()
        ))),
        None => Err(ServiceError::invalid(format!(
            "{}: expected a number, got {value}",
            place()
        ))),
    }
}

/// Refuses an answer that is not a number (inputs so large that the model overflowed): such an
/// answer would be served as `null` and would poison drift statistics.
fn ensure_finite(predictions: &[Prediction]) -> ServiceResult<()> {
    let bad = predictions.iter().position(|prediction| match prediction {
        Prediction::Value(value) => !value.is_finite(),
        Prediction::Class { probabilities, .. } => probabilities.values().any(|p| !p.is_finite()),
    });
    match bad {
        None => Ok(()),
        Some(row) => Err(ServiceError::invalid(format!(
            "instances[{row}]: the model's output is not a finite number for these values; check for values far outside the training range"
        ))),
    }
}

/// Reads the raw JSON instances, naming the exact place of anything that is not a number.
fn parse_instances(instances: &[Value]) -> ServiceResult<Vec<Instance>> {
    instances
        .iter()
        .enumerate()
        .map(|(row, value)| match value {
            Value::Array(values) => values
                .iter()
                .enumerate()
                .map(|(column, v)| number(v, || format!("instances[{row}][{column}]")))
                .collect::<ServiceResult<_>>()
                .map(Instance::Positional),
            Value::Object(fields) => Ok(Instance::Named(fields.clone())),
            other => Err(ServiceError::invalid(format!(
                "instances[{row}]: expected an array of numbers or an object of column: value, got {other}"
            ))),
        })
        .collect()
}

/// The predicted classes, for the prediction distribution.
fn class_labels(predictions: &[Prediction]) -> Vec<String> {
    predictions
        .iter()
        .filter_map(|p| match p {
            Prediction::Class { label, .. } => Some(label.to_string()),
            Prediction::Value(_) => None,
        })
        .collect()
}

/// Validates and standardises the instances for `engine`. A table model (one with
/// preprocessing) reads named cells by its signature, positional rows as cells in feature
/// order; an all-numeric model reads numbers, by position or by feature name.
fn encode(engine: &Engine, instances: &[Instance]) -> ServiceResult<Encoded> {
    let invalid =
        |err: slipway_ml::inference::InferenceError| ServiceError::invalid(err.to_string());
    if engine.manifest().preprocessing.is_some() {
        let features = engine.features();
        let named: Vec<serde_json::Map<String, Value>> = instances
            .iter()
            .enumerate()
            .map(|(row, instance)| match instance {
                Instance::Named(fields) => Ok(fields.clone()),
                Instance::Positional(values) if values.len() == features.len() => Ok(features
                    .iter()
                    .cloned()
                    .zip(values.iter().map(|v| Value::from(*v)))
                    .collect()),
                Instance::Positional(values) => Err(ServiceError::invalid(format!(
                    "instances[{row}]: expected {} values (one per feature), got {}",
                    features.len(),
                    values.len()
                ))),
            })
            .collect::<ServiceResult<_>>()?;
        let refs: Vec<&serde_json::Map<String, Value>> = named.iter().collect();
        let read = engine.encode_named(&refs).map_err(invalid)?;
        return Ok(Encoded {
            rows: read.numbers,
            cells: read.cells,
            flat: read.flat,
            ignored: read.ignored,
        });
    }
    let rows = instances
        .iter()
        .enumerate()
        .map(|(row, instance)| match instance {
            Instance::Positional(values) => Ok(values.clone()),
            Instance::Named(fields) => {
                let named = fields
                    .iter()
                    .map(|(name, v)| {
                        Ok((
                            name.clone(),
                            number(v, || format!("instances[{row}].{name}"))?,
                        ))
                    })
                    .collect::<ServiceResult<BTreeMap<String, f64>>>()?;
                engine.order_row(row, &named).map_err(invalid)
            }
        })
        .collect::<ServiceResult<Vec<_>>>()?;
    let flat = engine.encode(&rows).map_err(invalid)?;
    Ok(Encoded {
        rows,
        cells: Vec::new(),
        flat,
        ignored: Vec::new(),
    })
}

/// Whether the version that sets the deployment's input contract for `variant` reads
/// `instances`: the primary for a canary or shadow, the primary of the revision before for a
/// primary.
/// Rows it reads are rows callers may send; a version that refuses them is failing.
fn reference_reads(live: &Live, variant: &str, instances: &[Value]) -> bool {
    let reference = match variant {
        "canary" | "shadow" => Some(&live.primary),
        _ => live.previous_primary.as_ref(),
    };
    reference.is_some_and(|served| {
        parse_instances(instances)
            .and_then(|parsed| encode(&served.engine, &parsed))
            .is_ok()
    })
}

/// Whether two predictions agree: the same class, or values within 1 % of each other.
fn agrees(a: &Prediction, b: &Prediction) -> bool {
    match (a, b) {
        (Prediction::Class { label: x, .. }, Prediction::Class { label: y, .. }) => x == y,
        (Prediction::Value(x), Prediction::Value(y)) => {
            (x - y).abs() <= 0.01 * x.abs().max(y.abs()).max(1e-9)
        }
        _ => false,
    }
}

impl Serving {
    /// The loaded current revision of `name`, or why there is none (404 or 503).
    pub async fn serving(&self, name: &str) -> ServiceResult<Arc<Live>> {
        if let Some(live) = self.live(name) {
            return Ok(live);
        }
        if let Some(why) = self.failure(name) {
            return Err(ServiceError::Unavailable(format!(
                "deployment '{name}' has no ready version: {why}"
            )));
        }
        // Not loaded here yet: the source says whether it exists.
        self.inner.source.ensure_exists(name).await?;
        Err(ServiceError::Unavailable(format!(
            "deployment '{name}' has no ready version yet; it is loading"
        )))
    }

    /// Answers a predict request from `caller` (a token name), and records it for monitoring.
    pub async fn predict(
        &self,
        name: &str,
        instances: &[Value],
        key: Option<&str>,
        caller: &str,
    ) -> ServiceResult<PredictResponse> {
        self.predict_on(name, Route::Routed(key), instances, caller)
            .await
    }

    /// Answers a predict request from the version `route` picks.
    pub async fn predict_on(
        &self,
        name: &str,
        route: Route<'_>,
        instances: &[Value],
        caller: &str,
    ) -> ServiceResult<PredictResponse> {
        let live = self.serving(name).await?;
        let started = Instant::now();
        let (served, variant) = match route {
            Route::Routed(key) => match &live.canary {
                Some((canary, percent)) if bucket(key) < *percent => (canary, "canary"),
                _ => (&live.primary, "primary"),
            },
            Route::Version(version) => live.variant(version).ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "deployment '{name}' does not serve version {version}; it serves {}",
                    live.describe_versions()
                ))
            })?,
        };
        let answered = self
            .answer(name, &live, served, variant, instances, caller)
            .await;
        let (answered, ignored_columns) = match answered {
            Ok((predictions, ignored)) => (Ok(predictions), ignored),
            Err(err) => (Err(err), Vec::new()),
        };
        let monitor = self.monitor();
        if monitor.enabled() {
            let (outcome, labels) = match &answered {
                Ok(predictions) => (Outcome::Ok, class_labels(predictions)),
                // Rows the deployment's reference version reads but this one cannot: this
                // version is failing, not the caller.
                Err(ServiceError::InvalidArgument(_))
                    if reference_reads(&live, variant, instances) =>
                {
                    (Outcome::Error, Vec::new())
                }
                // Otherwise bad input is the caller's mistake, never held against a version.
                Err(ServiceError::InvalidArgument(_) | ServiceError::TooLarge(_)) => {
                    (Outcome::InvalidInput, Vec::new())
                }
                Err(_) => (Outcome::Error, Vec::new()),
            };
            monitor.record(
                (name, live.deployment_id),
                served.version,
                outcome,
                started.elapsed(),
                &labels,
            );
        }
        Ok(PredictResponse {
            predictions: answered?,
            model_version: served.version,
            deployment_revision: live.revision,
            variant: variant.to_owned(),
            ignored_columns,
        })
    }

    async fn answer(
        &self,
        name: &str,
        live: &Live,
        served: &Arc<super::Served>,
        variant: &str,
        instances: &[Value],
        caller: &str,
    ) -> ServiceResult<(Vec<Prediction>, Vec<String>)> {
        if instances.is_empty() {
            return Err(ServiceError::invalid(
                "instances: expected at least one instance",
            ));
        }
        let limit = self.inner.max_instances;
        if instances.len() > limit {
            return Err(ServiceError::too_large(format!(
                "instances: {} instances is more than the limit of {limit} per request",
                instances.len()
            )));
        }
        let parsed = parse_instances(instances)?;
        let Encoded {
            rows,
            cells,
            flat,
            ignored,
        } = encode(&served.engine, &parsed)?;
        let predictions = served.predict(flat, parsed.len()).await?;
        ensure_finite(&predictions)?;
        if variant == "primary" && self.monitor().enabled() {
            // One per row: the value, or the class's index (a live baseline counts classes).
            let labels = &served.engine.manifest().labels;
            let values: Vec<f64> = predictions
                .iter()
                .map(|p| match p {
                    Prediction::Value(value) => *value,
                    Prediction::Class { label, .. } => labels
                        .iter()
                        .position(|l| **l == **label)
                        .map_or(f64::NAN, |index| index as f64),
                })
                .collect();
            self.monitor()
                .record_inputs(name, served.version, caller, rows, cells, &values);
        }
        // A request the shadow itself answered has nothing to be compared with.
        if let (Some(shadow), false) = (&live.shadow, variant == "shadow") {
            self.mirror(
                live,
                Arc::clone(shadow),
                parsed,
                predictions.clone(),
                served.version,
            );
        }
        Ok((predictions, ignored))
    }

    /// Sends a copy of the request to the shadow in the background and records whether it
    /// agreed with the answer given.
    fn mirror(
        &self,
        live: &Live,
        shadow: Arc<super::Served>,
        instances: Vec<Instance>,
        answered: Vec<Prediction>,
        primary_version: u32,
    ) {
        let serving = self.clone();
        let pair = Pair {
            deployment_id: live.deployment_id,
            revision: live.revision,
            primary_version,
            shadow_version: shadow.version,
        };
        tokio::spawn(async move {
            let compared = answered.len() as u64;
            let outcome = match encode(&shadow.engine, &instances) {
                Ok(encoded) => shadow.predict(encoded.flat, instances.len()).await.ok(),
                Err(_) => None,
            };
            let agreed = outcome.map(|mirrored| {
                mirrored
                    .iter()
                    .zip(&answered)
                    .filter(|(a, b)| agrees(a, b))
                    .count() as u64
            });
            serving.inner.shadow.record(pair, compared, agreed);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_buckets_are_stable_and_unkeyed_ones_spread() {
        assert_eq!(bucket(Some("user-1")), bucket(Some("user-1")));
        let below: usize = (0..10_000).filter(|_| bucket(None) < 20.0).count();
        assert!((1_700..2_300).contains(&below), "{below} of 10000 below 20");
    }

    #[test]
    fn instances_name_the_bad_place() {
        let err = parse_instances(&[serde_json::json!([1.0, "x"])])
            .err()
            .unwrap()
            .to_string();
        assert_eq!(err, "instances[0][1]: expected a number, got \"x\"");
        let err = parse_instances(&[serde_json::json!(5)])
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("instances[0]: expected an array"), "{err}");
    }
}
