//! The `train` job: fetch the dataset, create a run, train on a blocking thread while the
//! epochs' metrics are logged to the run live, then log the test metrics and store the model
//! (`model.safetensors`, `model.json`) and the rows of each split (`split.json`) as the run's
//! artifacts.

use crate::handlers::{Outcome, Progress, fetch_dataset};
use crate::model::{Baseline, ModelManifest};
use crate::split::{SPLIT_INDEXING, SplitRecord};
use crate::train::{Activation, Arch, EpochMetrics, Optimiser, TrainConfig, train_on};
use serde_json::Value;
use slipway_api::{
    Client, CreateRun, KeyValue, LogBatch, MetricPoint, RunStatus, TrainSpec, UpdateRun,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The training configuration a spec asks for, on data of `inputs` features.
pub(crate) fn config_of(spec: &TrainSpec, inputs: usize) -> Result<TrainConfig, String> {
    let defaults = TrainConfig::default();
    let activation = spec
        .activation
        .as_deref()
        .map(Activation::parse)
        .transpose()?
        .unwrap_or_default();
    let dropout = spec.dropout.unwrap_or(0.0);
    let arch = match spec.arch.as_deref().unwrap_or("mlp") {
        "logreg" => Arch::Logreg,
        "mlp" => Arch::Mlp {
            hidden: spec.hidden.clone().unwrap_or_else(|| vec![64]),
            activation,
            dropout,
        },
        "cnn" => Arch::Cnn {
            image: match spec.image {
                Some(image) => image,
                None => Arch::square_image(inputs).map_err(|err| format!("spec.{err}"))?,
            },
            filters: spec.filters.clone().unwrap_or_else(|| vec![16, 32]),
            hidden: spec.hidden.clone().unwrap_or_else(|| vec![64]),
            activation,
            dropout,
        },
        other => {
            return Err(format!(
                "spec.arch: expected logreg, mlp or cnn, got '{other}'"
            ));
        }
    };
    let optimiser = match spec.optimiser.as_deref() {
        None | Some("adamw") => Optimiser::Adamw,
        Some("sgd") => Optimiser::Sgd,
        Some(other) => {
            return Err(format!(
                "spec.optimiser: expected adamw or sgd, got '{other}'"
            ));
        }
    };
    Ok(TrainConfig {
        arch,
        optimiser,
        momentum: spec.momentum.unwrap_or(defaults.momentum),
        epochs: spec.epochs.unwrap_or(defaults.epochs),
        batch_size: spec.batch_size.unwrap_or(defaults.batch_size),
        learning_rate: spec.learning_rate.unwrap_or(defaults.learning_rate),
        weight_decay: spec.weight_decay.unwrap_or(defaults.weight_decay),
        seed: spec.seed.unwrap_or(defaults.seed),
        patience: spec.patience.unwrap_or(defaults.patience),
        ..defaults
    })
}

/// Checks a train spec against the data it names (`inputs` features, `outputs` classes or 1
/// for regression): the architecture's sizes and its parameter count. Returns the parameter
/// count; errors name the spec's field. The server calls this at submission, so an oversized
/// model is a 400 rather than a worker allocating it.
pub fn check_train_spec(spec: &TrainSpec, inputs: usize, outputs: usize) -> Result<u64, String> {
    let spec_field = |err: String| {
        if err.starts_with("spec.") {
            err
        } else {
            format!("spec.{err}")
        }
    };
    let config = config_of(spec, inputs).map_err(spec_field)?;
    config.arch.validate(inputs).map_err(spec_field)?;
    config.arch.check_size(inputs, outputs).map_err(spec_field)
}

/// One metric point, timed by the server.
pub(crate) fn point(key: &str, value: f64, step: i64) -> MetricPoint {
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

/// The run's params: the hyper-parameters with the architecture's fields at the top level.
fn flat_params(hyper_parameters: &Value) -> Vec<KeyValue> {
    let mut fields = hyper_parameters.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(arch)) = fields.remove("arch") {
        fields.extend(arch);
    }
    fields
        .into_iter()
        .map(|(key, value)| KeyValue {
            key,
            value: match value {
                Value::String(text) => text,
                other => other.to_string(),
            },
        })
        .collect()
}

/// The log line of one epoch; `slipway train --wait` shows the latest under its progress bar.
fn epoch_line(metrics: &EpochMetrics, epochs: usize) -> String {
    let mut line = format!(
        "epoch {}/{epochs} loss {:.4} val_loss {:.4}",
        metrics.epoch, metrics.loss, metrics.val_loss
    );
    if let Some(accuracy) = metrics.val_accuracy {
        line.push_str(&format!(" val_accuracy {accuracy:.4}"));
    }
    if let Some(rmse) = metrics.val_rmse {
        line.push_str(&format!(" val_rmse {rmse:.4}"));
    }
    line
}

/// The log line holding the model against its baseline on the test split.
fn baseline_line(metrics: &BTreeMap<String, f64>, baseline: &Baseline) -> String {
    let get = |key: &str| metrics.get(key).copied().unwrap_or(f64::NAN);
    let beats = get("beats_baseline") == 1.0;
    let (what, model, theirs) = match baseline {
        Baseline::Majority(class) => (
            format!("accuracy; always '{class}'"),
            get("test_accuracy"),
            get("baseline_accuracy"),
        ),
        Baseline::Mean(mean) => (
            format!(
                "RMSE (R² {:.4}); always the training mean {mean:.4}",
                get("test_r2")
            ),
            get("test_rmse"),
            get("baseline_rmse"),
        ),
    };
    format!(
        "{}: test {what} scores {theirs:.4}, the model {model:.4}",
        if beats {
            "the model beats its baseline"
        } else {
            "the model does NOT beat its baseline"
        }
    )
}

/// Runs one `train` attempt.
/// Runs one `train` attempt, on the first of the GPU devices its lease holds (`gpus`), or on
/// the default device when it holds none.
pub async fn run(
    client: &Client,
    job_id: i64,
    gpus: &[u32],
    spec: &TrainSpec,
    progress: &Arc<Progress>,
) -> Outcome {
    let gpu = gpus.first().copied();
    crate::handlers::settle(attempt(client, job_id, gpu, spec, progress).await, progress)
}

async fn attempt(
    client: &Client,
    job_id: i64,
    gpu: Option<u32>,
    spec: &TrainSpec,
    progress: &Arc<Progress>,
) -> Result<Outcome, String> {
    spec.validate()?;
    let (version, data) = fetch_dataset(client, &spec.dataset, spec.version).await?;
    let config = config_of(spec, data.schema.features.len())?;
    let arch_name = config.arch.name();
    progress.log(
        "info",
        format!(
            "training {arch_name} on {} v{} ({} rows)",
            spec.dataset,
            version.version,
            data.len()
        ),
    );
    if data.skipped_rows > 0 {
        progress.log(
            "info",
            format!(
                "skipped {} rows whose label '{}' is missing",
                data.skipped_rows, version.label
            ),
        );
    }

    let run = client
        .create_run(&CreateRun {
            experiment: Some(
                spec.experiment
                    .clone()
                    .unwrap_or_else(|| spec.dataset.clone()),
            ),
            name: Some(format!("{}-{arch_name}-job{job_id}", spec.dataset)),
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
    let params = flat_params(&hyper_parameters)
        .into_iter()
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
    let (epochs, seed, skipped_rows) = (config.epochs, config.seed, data.skipped_rows);
    let watcher = Arc::clone(progress);
    let training = tokio::task::spawn_blocking(move || {
        let device =
            crate::devices::training_device(gpu).map_err(crate::train::TrainError::Config)?;
        let stopper = Arc::clone(&watcher);
        train_on(
            &device,
            &data,
            &config,
            move || stopper.cancelled(),
            |metrics| {
                watcher.set(metrics.epoch as f64 / epochs as f64);
                let _ = sender.send(metrics.clone());
                !watcher.cancelled()
            },
        )
    });
    while let Some(metrics) = receiver.recv().await {
        progress.log("info", epoch_line(&metrics, epochs));
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
    let beats = trained.test_metrics.get("beats_baseline") == Some(&1.0);
    let verdict = baseline_line(&trained.test_metrics, &trained.baseline);
    progress.log(if beats { "info" } else { "warn" }, verdict);
    let tag = LogBatch {
        tags: vec![KeyValue {
            key: "beats_baseline".into(),
            value: beats.to_string(),
        }],
        ..LogBatch::default()
    };
    if let Err(err) = client.log_batch(run.id, &tag).await {
        progress.log("warn", format!("cannot tag the run: {err}"));
    }
    let dataset = serde_json::json!({ "name": spec.dataset, "version": version.version, "digest": version.digest });
    let split = SplitRecord {
        dataset: dataset.clone(),
        label: version.label.clone(),
        seed,
        indexing: SPLIT_INDEXING,
        skipped_rows,
        split: trained.split.clone(),
    };
    let mut manifest = ModelManifest {
        arch: arch_name.to_owned(),
        hyper_parameters,
        features: version.features.clone(),
        labels: version.classes.clone(),
        task: version.task.clone(),
        normalisation: trained.normalisation.clone(),
        preprocessing: trained.preprocessing.clone(),
        signature: Vec::new(),
        target: trained.target,
        baseline: Some(trained.baseline.clone()),
        dataset,
        code_version: env!("CARGO_PKG_VERSION").to_owned(),
        candle_version: "0.11".to_owned(),
        seed: Some(seed),
        metrics: trained.test_metrics.clone(),
        epochs_run: trained.history.len(),
        stopped_early: trained.stopped_early,
        onnx: None,
    };
    manifest.signature = manifest.derive_signature();
    for (path, bytes) in [
        ("model.safetensors", trained.weights.clone()),
        (
            "model.json",
            serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
        ),
        ("split.json", serde_json::to_vec(&split).unwrap_or_default()),
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
    let mut result = slipway_api::TrainResult {
        run_id: run.id,
        metrics: trained.test_metrics.clone(),
        model: None,
        version: None,
    };
    if let Some(model) = &spec.register_as {
        let registered = client
            .register_model(
                model,
                &slipway_api::RegisterModel {
                    run_id: run.id,
                    description: None,
                },
            )
            .await
            .map_err(|err| format!("cannot register the model as '{model}': {err}"))?;
        progress.log(
            "info",
            format!("registered as {model} version {}", registered.version),
        );
        result.model = Some(model.clone());
        result.version = Some(registered.version);
    }
    Ok(Outcome::succeeded(&result))
}
