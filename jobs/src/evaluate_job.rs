//! The `evaluate` job: load a model (a run's artifacts or a registered version), score it on a
//! dataset (by default the held-out test split of its own training data), optionally compare
//! it with another model on the same rows, and store the result as an evaluation run linked
//! to what it evaluated.

use crate::dataset::Task;
use crate::evaluation::{self, Report};
use crate::handlers::{Outcome, Progress, fetch_dataset};
use crate::inference::{Engine, InferenceError, Prediction};
use crate::model::Baseline;
use crate::split::stratified_split;
use crate::train_job::point;
use serde_json::{Value, json};
use slipway_api::{
    Client, CreateRun, EvaluateSpec, LogBatch, MetricPoint, ModelRef, RunStatus, UpdateRun,
};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A model fetched for evaluation.
struct Loaded {
    engine: Engine,
    /// The run that made it: always for a trained model, when recorded for an imported one.
    run_id: Option<i64>,
    reference: ModelRef,
}

async fn load(client: &Client, reference: &ModelRef) -> Result<Loaded, String> {
    let run_id = match (&reference.run_id, &reference.name) {
        (Some(run_id), _) => *run_id,
        (None, Some(name)) => {
            let selector = match (&reference.version, &reference.alias) {
                (Some(version), _) => version.to_string(),
                (None, Some(alias)) => alias.clone(),
                (None, None) => "latest".to_owned(),
            };
            let version = client
                .model_version(name, &selector)
                .await
                .map_err(|err| format!("model {reference}: {err}"))?;
            if version.onnx.is_some() {
                // An imported model has no training run: its files are the version's own.
                return load_version_files(client, reference, name, &version).await;
            }
            version
                .run_id
                .ok_or_else(|| format!("model {reference}: its run was deleted"))?
        }
        (None, None) => return Err("spec.model: name a run or a registered model".into()),
    };
    let fetch = |path: &'static str| async move {
        client
            .download_artifact(run_id, path)
            .await
            .map_err(|err| format!("model {reference}: cannot fetch {path} of run {run_id}: {err}"))
    };
    let (manifest, weights) = (
        fetch("model.json").await?,
        fetch("model.safetensors").await?,
    );
    let engine =
        Engine::load(&manifest, &weights).map_err(|err| format!("model {reference}: {err}"))?;
    Ok(Loaded {
        engine,
        run_id: Some(run_id),
        reference: reference.clone(),
    })
}

/// Loads a registered version from the files the registry stores for it.
async fn load_version_files(
    client: &Client,
    reference: &ModelRef,
    name: &str,
    version: &slipway_api::ModelVersion,
) -> Result<Loaded, String> {
    let selector = version.version.to_string();
    let fetch = |file: &'static str| {
        let selector = selector.clone();
        async move {
            client
                .download_model_file(name, &selector, file)
                .await
                .map_err(|err| format!("model {reference}: cannot fetch its {file}: {err}"))
        }
    };
    let (manifest, weights) = (fetch("model.json").await?, fetch("model").await?);
    let engine =
        Engine::load(&manifest, &weights).map_err(|err| format!("model {reference}: {err}"))?;
    Ok(Loaded {
        engine,
        run_id: version.run_id,
        reference: reference.clone(),
    })
}

/// The rows to score: features in the model's order, and the true labels.
struct Rows {
    features: Vec<Vec<f64>>,
    /// A typed table's cells instead of `features`, in the model's column order.
    cells: Option<Vec<Vec<String>>>,
    labels: Vec<f64>,
    classes: Vec<String>,
    task: Task,
    description: String,
}

/// The test rows a run recorded in its `split.json`, when it has one for this dataset
/// version and they fit it; else why not (runs from before splits were recorded have none).
async fn recorded_test_rows(
    client: &Client,
    run_id: i64,
    digest: &str,
    rows: usize,
) -> Result<Vec<usize>, String> {
    let bytes = client
        .download_artifact(run_id, "split.json")
        .await
        .map_err(|err| format!("run {run_id} has no split.json ({err})"))?;
    let record: Value = serde_json::from_slice(&bytes)
        .map_err(|err| format!("run {run_id}'s split.json is not JSON: {err}"))?;
    let recorded_digest = record
        .get("dataset")
        .and_then(|d| d.get("digest"))
        .and_then(Value::as_str);
    if recorded_digest.is_some_and(|d| d != digest) {
        return Err(format!(
            "run {run_id}'s split.json is of another dataset version"
        ));
    }
    let test: Vec<usize> = record
        .get("test")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|err| format!("run {run_id}'s split.json: test: {err}"))?
        .ok_or_else(|| format!("run {run_id}'s split.json has no test rows"))?;
    if test.is_empty() {
        return Err(format!("run {run_id}'s split.json has no test rows"));
    }
    if let Some(beyond) = test.iter().find(|&&i| i >= rows) {
        return Err(format!(
            "run {run_id}'s split.json names row {beyond}, but the dataset has {rows} labelled rows"
        ));
    }
    Ok(test)
}

async fn rows(
    client: &Client,
    spec: &EvaluateSpec,
    model: &Loaded,
    progress: &Progress,
) -> Result<Rows, String> {
    let run_id = model.run_id;
    let model = &model.engine;
    let manifest = model.manifest();
    let trained_on = manifest.dataset.get("name").and_then(Value::as_str);
    let name = spec
        .dataset
        .as_deref()
        .or(trained_on)
        .ok_or("spec.dataset: the model does not record its training data; name a dataset")?;
    let wanted = spec.version.or_else(|| {
        (spec.dataset.is_none())
            .then(|| manifest.dataset.get("version").and_then(Value::as_u64))
            .flatten()
            .map(|v| v as u32)
    });
    let (version, data) = fetch_dataset(client, name, wanted).await?;
    let task = data.schema.task;
    // An imported model's data was given at import, not split for training: all of it is
    // unseen by Slipway, so it is scored whole.
    let own_data = manifest.onnx.is_none()
        && manifest.dataset.get("digest").and_then(Value::as_str) == Some(&version.digest);
    let recorded = match run_id.filter(|_| own_data) {
        Some(run_id) => {
            match recorded_test_rows(client, run_id, &version.digest, data.len()).await {
                Ok(test) => Some((test, run_id)),
                Err(why) => {
                    progress.log(
                        "info",
                        format!(
                            "{why}: recomputing the held-out test split from the run's settings"
                        ),
                    );
                    None
                }
            }
        }
        None => None,
    };
    let (indices, description): (Vec<usize>, String) = if let Some((test, run_id)) = recorded {
        (
            test,
            format!(
                "{name} v{} (held-out test split, from run {run_id}'s split.json)",
                version.version
            ),
        )
    } else if own_data {
        // The split the trainer made: its recorded settings, else the trainer's defaults.
        let hyper = &manifest.hyper_parameters;
        let defaults = crate::train::TrainConfig::default();
        let fraction =
            |key: &str, default: f64| hyper.get(key).and_then(Value::as_f64).unwrap_or(default);
        let seed = manifest
            .seed
            .or_else(|| hyper.get("seed").and_then(Value::as_u64))
            .unwrap_or(defaults.seed);
        let split = stratified_split(
            &data,
            fraction("validation_fraction", defaults.validation_fraction),
            fraction("test_fraction", defaults.test_fraction),
            seed,
        );
        (
            split.test,
            format!("{name} v{} (held-out test split)", version.version),
        )
    } else {
        (
            (0..data.len()).collect(),
            format!("{name} v{} (all rows)", version.version),
        )
    };
    let (features, cells) = match &data.cells {
        Some(cells) => {
            let selected: Vec<&Vec<String>> = indices.iter().map(|&i| &cells[i]).collect();
            let ordered = cells_in_order(model, &data.schema.features, &selected)
                .map_err(|err| format!("the dataset does not fit the model: {err}"))?;
            (Vec::new(), Some(ordered))
        }
        None => {
            let selected: Vec<Vec<f64>> =
                indices.iter().map(|&i| data.features[i].clone()).collect();
            // The dataset's columns may be in another order than the model's.
            let features = in_order_of(model, &data.schema.features, &selected)
                .map_err(|err| format!("the dataset does not fit the model: {err}"))?
                .into_owned();
            (features, None)
        }
    };
    Ok(Rows {
        features,
        cells,
        labels: indices.iter().map(|&i| data.labels[i]).collect(),
        classes: data.schema.classes.clone(),
        task,
        description,
    })
}

/// `rows`, whose columns are named by `columns`, with their columns in `engine`'s order.
fn in_order_of<'a>(
    engine: &Engine,
    columns: &[String],
    rows: &'a [Vec<f64>],
) -> Result<Cow<'a, [Vec<f64>]>, InferenceError> {
    if engine.features() == columns {
        return Ok(Cow::Borrowed(rows));
    }
    let named: Vec<BTreeMap<String, f64>> = rows
        .iter()
        .map(|row| columns.iter().cloned().zip(row.iter().copied()).collect())
        .collect();
    engine.order_named(&named).map(Cow::Owned)
}

/// The model's training baseline scored on the same rows (`baseline_accuracy` or
/// `baseline_rmse`) and whether the model beats it (`beats_baseline`, 1 or 0); nothing for a
/// model that records no baseline.
fn baseline_metrics(
    manifest: &crate::model::ModelManifest,
    rows: &Rows,
    metrics: &BTreeMap<String, f64>,
) -> Vec<(String, f64)> {
    let n = rows.labels.len().max(1) as f64;
    match &manifest.baseline {
        Some(Baseline::Majority(class)) => {
            let Some(accuracy) = metrics.get("accuracy") else {
                return Vec::new();
            };
            let right = rows
                .labels
                .iter()
                .filter(|&&l| rows.classes.get(l as usize) == Some(class))
                .count() as f64;
            let baseline = right / n;
            vec![
                ("baseline_accuracy".into(), baseline),
                (
                    "beats_baseline".into(),
                    f64::from(u8::from(*accuracy > baseline)),
                ),
            ]
        }
        Some(Baseline::Mean(mean)) => {
            let Some(rmse) = metrics.get("rmse") else {
                return Vec::new();
            };
            let baseline = (rows.labels.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n).sqrt();
            vec![
                ("baseline_rmse".into(), baseline),
                (
                    "beats_baseline".into(),
                    f64::from(u8::from(*rmse < baseline)),
                ),
            ]
        }
        None => Vec::new(),
    }
}

/// `rows` of cells, whose columns are named by `columns`, in `engine`'s column order.
fn cells_in_order(
    engine: &Engine,
    columns: &[String],
    rows: &[&Vec<String>],
) -> Result<Vec<Vec<String>>, InferenceError> {
    let positions = engine
        .features()
        .iter()
        .map(|name| {
            columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| InferenceError::MissingFeature {
                    row: 0,
                    name: name.clone(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .iter()
        .map(|row| positions.iter().map(|&i| row[i].clone()).collect())
        .collect())
}

/// Scores `engine` on `rows`: its cells, else `features` (in the engine's order).
fn score(engine: &Engine, features: &[Vec<f64>], rows: &Rows) -> Result<Report, String> {
    let predictions = match &rows.cells {
        Some(cells) => engine.predict_cells(cells),
        None => engine.predict(features),
    }
    .map_err(|err| err.to_string())?;
    if rows.task == Task::Regression {
        let values: Vec<f64> = predictions
            .iter()
            .map(|p| match p {
                Prediction::Value(v) => *v,
                Prediction::Class { .. } => f64::NAN,
            })
            .collect();
        return Ok(evaluation::regression(&rows.labels, &values));
    }
    let model_labels = &engine.manifest().labels;
    let truth = rows
        .labels
        .iter()
        .map(|&l| {
            let name = &rows.classes[l as usize];
            model_labels
                .iter()
                .position(|m| m == name)
                .ok_or_else(|| format!("the dataset's class '{name}' is unknown to the model"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let probabilities: Vec<Vec<f64>> = predictions
        .iter()
        .map(|p| match p {
            Prediction::Class { probabilities, .. } => model_labels
                .iter()
                .map(|l| probabilities.get(l.as_str()).unwrap_or(0.0))
                .collect(),
            Prediction::Value(_) => vec![0.0; model_labels.len()],
        })
        .collect();
    Ok(evaluation::classification(
        model_labels,
        &truth,
        &probabilities,
    ))
}

/// Runs one `evaluate` attempt.
pub async fn run(
    client: &Client,
    job_id: i64,
    spec: &EvaluateSpec,
    progress: &Arc<Progress>,
) -> Outcome {
    crate::handlers::settle(attempt(client, job_id, spec, progress).await, progress)
}

async fn attempt(
    client: &Client,
    job_id: i64,
    spec: &EvaluateSpec,
    progress: &Arc<Progress>,
) -> Result<Outcome, String> {
    spec.validate()?;
    let model = load(client, &spec.model).await?;
    let data = rows(client, spec, &model, progress).await?;
    progress.log(
        "info",
        format!(
            "evaluating {} on {} ({} rows)",
            model.reference,
            data.description,
            data.labels.len()
        ),
    );
    progress.set(0.3);
    let other = match &spec.compare_with {
        Some(reference) => Some(load(client, reference).await?),
        None => None,
    };
    let (model, data, other, report, their_report) = tokio::task::spawn_blocking(move || {
        let mut report = score(&model.engine, &data.features, &data)?;
        report.metrics.extend(baseline_metrics(
            model.engine.manifest(),
            &data,
            &report.metrics,
        ));
        // The rows are in the first model's feature order; the other may read another.
        let their_report = other
            .as_ref()
            .map(|o| {
                let unfit = |err: InferenceError| {
                    format!("the dataset does not fit {}: {err}", o.reference)
                };
                if let Some(cells) = &data.cells {
                    let refs: Vec<&Vec<String>> = cells.iter().collect();
                    let ordered =
                        cells_in_order(&o.engine, model.engine.features(), &refs).map_err(unfit)?;
                    let theirs = Rows {
                        cells: Some(ordered),
                        features: Vec::new(),
                        labels: data.labels.clone(),
                        classes: data.classes.clone(),
                        task: data.task,
                        description: data.description.clone(),
                    };
                    return score(&o.engine, &[], &theirs);
                }
                let features = in_order_of(&o.engine, model.engine.features(), &data.features)
                    .map_err(unfit)?;
                score(&o.engine, &features, &data)
            })
            .transpose()?;
        Ok::<_, String>((model, data, other, report, their_report))
    })
    .await
    .map_err(|err| format!("evaluation stopped: {err}"))??;
    progress.set(0.8);
    match report.metrics.get("beats_baseline") {
        Some(beats) if *beats < 1.0 => progress.log(
            "warn",
            format!(
                "{} does NOT beat its baseline on these rows",
                model.reference
            ),
        ),
        Some(_) => progress.log("info", format!("{} beats its baseline", model.reference)),
        None => {}
    }
    let comparison = match (&other, &their_report) {
        (Some(other), Some(theirs)) => {
            let default_metric = if data.task == Task::Regression {
                "rmse"
            } else {
                "accuracy"
            };
            let metric = spec.metric.as_deref().unwrap_or(default_metric);
            Some(evaluation::compare(
                other.reference.to_string(),
                &report.metrics,
                &theirs.metrics,
                metric,
                spec.margin.unwrap_or(0.0),
            )?)
        }
        _ => None,
    };

    let run = client
        .create_run(&CreateRun {
            experiment: Some(
                spec.experiment
                    .clone()
                    .unwrap_or_else(|| "evaluations".into()),
            ),
            name: Some(format!("evaluate-{}-job{job_id}", model.reference)),
            job_id: Some(job_id),
            tags: BTreeMap::from([
                ("kind".to_owned(), "evaluation".to_owned()),
                ("evaluates".to_owned(), model.reference.to_string()),
                (
                    "evaluated_run".to_owned(),
                    model.run_id.map_or("-".to_owned(), |id| id.to_string()),
                ),
                ("dataset".to_owned(), data.description.clone()),
                ("job".to_owned(), job_id.to_string()),
            ]),
            ..CreateRun::default()
        })
        .await
        .map_err(|err| format!("cannot create the evaluation run: {err}"))?;
    let mut points: Vec<MetricPoint> = report
        .metrics
        .iter()
        .map(|(key, value)| point(key, *value, 0))
        .collect();
    if let Some(comparison) = &comparison {
        points.extend(
            comparison
                .deltas
                .iter()
                .map(|(key, value)| point(&format!("delta_{key}"), *value, 0)),
        );
    }
    let mut tags = Vec::new();
    if let Some(comparison) = &comparison {
        tags.push(slipway_api::KeyValue {
            key: "compared_with".into(),
            value: comparison.against.clone(),
        });
        tags.push(slipway_api::KeyValue {
            key: "verdict".into(),
            value: if comparison.better {
                "better"
            } else {
                "not_better"
            }
            .into(),
        });
    }
    client
        .log_batch(
            run.id,
            &LogBatch {
                metrics: points,
                tags,
                ..LogBatch::default()
            },
        )
        .await
        .map_err(|err| format!("cannot log the metrics: {err}"))?;
    let document = json!({
        "model": model.reference.to_string(),
        "model_run_id": model.run_id,
        "dataset": data.description,
        "report": report,
        "comparison": comparison,
    });
    client
        .upload_artifact(
            run.id,
            "evaluation.json",
            serde_json::to_vec_pretty(&document).unwrap_or_default(),
        )
        .await
        .map_err(|err| format!("cannot store evaluation.json: {err}"))?;
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
    let verdict = comparison
        .as_ref()
        .map(|c| if c.better { "better" } else { "not better" });
    progress.log(
        "info",
        format!(
            "done: run {} {:?}{}",
            run.id,
            report.metrics,
            verdict.map(|v| format!("; {v}")).unwrap_or_default()
        ),
    );
    Ok(Outcome::succeeded(&slipway_api::EvaluateResult {
        run_id: run.id,
        metrics: report.metrics,
        confusion: report.confusion,
        labels: report.labels,
        comparison,
    }))
}
