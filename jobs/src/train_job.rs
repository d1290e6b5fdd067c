//! The `train` job: fetch the dataset, create a run, train on a blocking thread while the
//! epochs' metrics are logged to the run live, then log the test metrics and store the model
//! (`model.safetensors`, `model.json`) as the run's artifacts.

use crate::dataset::{Dataset, Task};
use crate::handlers::{Outcome, Progress};
use crate::model::ModelManifest;
use crate::train::{Arch, EpochMetrics, TrainConfig, train};
use serde::Deserialize;
use serde_json::Value;
use slipway_api::{Client, CreateRun, KeyValue, LogBatch, MetricPoint, RunStatus, UpdateRun};
use std::sync::Arc;

/// The spec of a `train` job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainSpec {
    dataset: String,
    version: Option<u32>,
    #[serde(default = "default_arch")]
    arch: String,
    #[serde(default)]
    hidden: Option<Vec<usize>>,
    epochs: Option<usize>,
    batch_size: Option<usize>,
    learning_rate: Option<f64>,
    weight_decay: Option<f64>,
    seed: Option<u64>,
    patience: Option<usize>,
    experiment: Option<String>,
}

fn default_arch() -> String {
    "mlp".to_owned()
}

fn config_of(spec: &TrainSpec) -> Result<TrainConfig, String> {
    let defaults = TrainConfig::default();
    let arch = match spec.arch.as_str() {
        "logreg" => Arch::Logreg,
        "mlp" => Arch::Mlp {
            hidden: spec.hidden.clone().unwrap_or_else(|| vec![64]),
        },
        other => return Err(format!("spec.arch: expected logreg or mlp, got '{other}'")),
    };
    Ok(TrainConfig {
        arch,
        epochs: spec.epochs.unwrap_or(defaults.epochs),
        batch_size: spec.batch_size.unwrap_or(defaults.batch_size),
        learning_rate: spec.learning_rate.unwrap_or(defaults.learning_rate),
        weight_decay: spec.weight_decay.unwrap_or(defaults.weight_decay),
        seed: spec.seed.unwrap_or(defaults.seed),
        patience: spec.patience.unwrap_or(defaults.patience),
        ..defaults
    })
}

fn point(key: &str, value: f64, step: i64) -> MetricPoint {
    MetricPoint {
        key: key.to_owned(),
        value,
        step,
        timestamp: None,
    }
}

fn epoch_points(metrics: &EpochMetrics) -> Vec<MetricPoint> {
    let step = metrics.epoch as i64;
    let mut points = vec![
        point("loss", metrics.loss, step),
        point("val_loss", metrics.val_loss, step),
    ];
    if let Some(accuracy) = metrics.val_accuracy {
        points.push(point("val_accuracy", accuracy, step));
    }
    if let Some(rmse) = metrics.val_rmse {
        points.push(point("val_rmse", rmse, step));
    }
    points
}

/// Runs one `train` attempt.
pub async fn run(client: &Client, job_id: i64, spec: &Value, progress: &Arc<Progress>) -> Outcome {
    match attempt(client, job_id, spec, progress).await {
        Ok(outcome) => outcome,
        Err(message) => {
            progress.log("error", message.clone());
            Outcome::Failed(message)
        }
    }
}

async fn attempt(
    client: &Client,
    job_id: i64,
    spec: &Value,
    progress: &Arc<Progress>,
) -> Result<Outcome, String> {
    let spec: TrainSpec =
        serde_json::from_value(spec.clone()).map_err(|err| format!("spec: {err}"))?;
    let config = config_of(&spec)?;
    let versions = client
        .dataset_versions(&spec.dataset)
        .await
        .map_err(|err| format!("dataset '{}': {err}", spec.dataset))?;
    let version = match spec.version {
        Some(wanted) => versions.iter().find(|v| v.version == wanted),
        None => versions.first(),
    }
    .ok_or_else(|| {
        format!(
            "dataset '{}' has no version {:?}",
            spec.dataset, spec.version
        )
    })?
    .clone();
    let csv = client
        .download_dataset(&spec.dataset, version.version)
        .await
        .map_err(|err| format!("cannot fetch the dataset: {err}"))?;
    let task = (version.task == "regression")
        .then_some(Task::Regression)
        .or(Some(Task::Classification));
    let data =
        Dataset::from_csv(&csv, &version.label, task).map_err(|err| format!("dataset: {err}"))?;
    progress.log(
        "info",
        format!(
            "training {} on {} v{} ({} rows)",
            spec.arch,
            spec.dataset,
            version.version,
            data.len()
        ),
    );

    let run = client
        .create_run(&CreateRun {
            experiment: Some(
                spec.experiment
                    .clone()
                    .unwrap_or_else(|| spec.dataset.clone()),
            ),
            name: Some(format!("{}-{}-job{job_id}", spec.dataset, spec.arch)),
            dataset_digest: Some(version.digest.clone()),
            code_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            seed: Some(config.seed as i64),
            job_id: Some(job_id),
            tags: [("job".to_owned(), job_id.to_string())].into(),
            ..CreateRun::default()
        })
        .await
        .map_err(|err| format!("cannot create the run: {err}"))?;
    let hyper_parameters = serde_json::to_value(&config).unwrap_or_default();
    let params = hyper_parameters
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| KeyValue {
            key,
            value: value.to_string().trim_matches('"').to_owned(),
        })
        .chain([KeyValue {
            key: "dataset".into(),
            value: format!("{}:{}", spec.dataset, version.version),
        }])
        .collect();
    client
        .log_batch(
            run.id,
            &LogBatch {
                params,
                ..LogBatch::default()
            },
        )
        .await
        .map_err(|err| format!("cannot log params: {err}"))?;

    // Training runs on a blocking thread; epochs come back over a channel and are logged live.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let epochs = config.epochs;
    let watcher = Arc::clone(progress);
    let training = tokio::task::spawn_blocking(move || {
        train(&data, &config, |metrics| {
            watcher.set(metrics.epoch as f64 / epochs as f64);
            let _ = sender.send(metrics.clone());
            !watcher.cancelled()
        })
    });
    while let Some(metrics) = receiver.recv().await {
        let batch = LogBatch {
            metrics: epoch_points(&metrics),
            ..LogBatch::default()
        };
        if let Err(err) = client.log_batch(run.id, &batch).await {
            progress.log("warn", format!("cannot log epoch {}: {err}", metrics.epoch));
        }
    }
    let trained = training
        .await
        .map_err(|err| format!("training stopped: {err}"))?
        .map_err(|err| format!("training failed: {err}"))?;
    if trained.interrupted {
        let _ = client
            .update_run(
                run.id,
                &UpdateRun {
                    status: Some(RunStatus::Killed),
                    ..UpdateRun::default()
                },
            )
            .await;
        return Ok(Outcome::Cancelled);
    }
    let final_step = trained.history.len() as i64;
    let test_points = trained
        .test_metrics
        .iter()
        .map(|(key, value)| point(key, *value, final_step))
        .collect();
    client
        .log_batch(
            run.id,
            &LogBatch {
                metrics: test_points,
                ..LogBatch::default()
            },
        )
        .await
        .map_err(|err| format!("cannot log test metrics: {err}"))?;
    let manifest = ModelManifest {
        arch: spec.arch.clone(),
        hyper_parameters,
        features: version.features.clone(),
        labels: version.classes.clone(),
        task: version.task.clone(),
        normalisation: trained.normalisation.clone(),
        dataset: serde_json::json!({ "name": spec.dataset, "version": version.version, "digest": version.digest }),
        code_version: env!("CARGO_PKG_VERSION").to_owned(),
        candle_version: "0.11".to_owned(),
        metrics: trained.test_metrics.clone(),
        epochs_run: trained.history.len(),
        stopped_early: trained.stopped_early,
    };
    for (path, bytes) in [
        ("model.safetensors", trained.weights.clone()),
        (
            "model.json",
            serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
        ),
    ] {
        client
            .upload_artifact(run.id, path, bytes)
            .await
            .map_err(|err| format!("cannot store {path}: {err}"))?;
    }
    client
        .update_run(
            run.id,
            &UpdateRun {
                status: Some(RunStatus::Finished),
                ..UpdateRun::default()
            },
        )
        .await
        .map_err(|err| format!("cannot finish the run: {err}"))?;
    progress.log(
        "info",
        format!("done: run {} {:?}", run.id, trained.test_metrics),
    );
    Ok(Outcome::Succeeded(
        serde_json::json!({ "run_id": run.id, "metrics": trained.test_metrics }),
    ))
}
