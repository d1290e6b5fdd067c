//! `predict`, `evaluate --wait`, `slo` and `deploy` as a person reads them, against a real
//! server that trains the bundled iris and wine: the model's own label column, the split of
//! rows between a primary and a canary, text without raw JSON, and switching a deployment's
//! model only on purpose.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{ApiError, Client, DeployRequest, TrainSpec};
use slipway_tests::{TestServer, eventually};
use std::time::Duration;

const IRIS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/iris.csv");

async fn wait_for_datasets(client: &Client) {
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move {
            let names: Vec<String> = client
                .list_datasets()
                .await
                .ok()?
                .into_iter()
                .map(|d| d.name)
                .collect();
            (names.iter().any(|n| n == "iris") && names.iter().any(|n| n == "wine")).then_some(())
        }
    })
    .await;
}

/// Trains a small model on `dataset` and registers it as the next version of `model`.
async fn train(client: &Client, dataset: &str, model: &str, epochs: usize) -> u32 {
    let spec = TrainSpec {
        dataset: dataset.into(),
        arch: Some("logreg".into()),
        epochs: Some(epochs),
        seed: Some(7),
        register_as: Some(model.into()),
        ..TrainSpec::default()
    };
    slipway_tests::train_and_register(client, spec).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_uses_the_models_label_and_reports_each_versions_share() {
    let server = TestServer::up();
    let client = server.admin();
    wait_for_datasets(&client).await;
    assert_eq!(train(&client, "iris", "iris", 60).await, 1);
    assert_eq!(train(&client, "iris", "iris", 5).await, 2);
    let (ok, out, err) = server.cli(&["deploy", "iris", "--model", "iris", "--version", "1"]);
    assert!(ok, "{out}{err}");

    // The bundled file as it is: `species` is the model's label, not a feature.
    let (ok, out, err) = server.cli(&["predict", "iris", "--file", IRIS]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("150 predictions from iris v1 (primary"),
        "{out}"
    );
    assert!(
        out.contains("against the file's labels (column 'species')"),
        "{out}"
    );
    assert!(!err.contains("note:"), "every column is used: {err}");

    // A column the model does not read is left out, with a note naming it.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(IRIS).unwrap();
    let with_notes: String = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let extra = if i == 0 { "notes" } else { "seen in May" };
            format!("{line},{extra}\n")
        })
        .collect();
    let notes = dir.path().join("notes.csv");
    std::fs::write(&notes, with_notes).unwrap();
    let (ok, out, err) = server.cli(&["predict", "iris", "--file", notes.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(err.contains("note:") && err.contains("'notes'"), "{err}");
    // A missing feature column is named.
    let without: String = text
        .lines()
        .map(|line| line.split(',').skip(1).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    let missing = dir.path().join("missing.csv");
    std::fs::write(&missing, without).unwrap();
    let (ok, _, err) = server.cli(&["predict", "iris", "--file", missing.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("missing feature columns 'sepal_length_cm'"),
        "{err}"
    );

    // With a canary at half, parts go to both versions: the split is printed.
    let (ok, out, err) = server.cli(&["deploy", "iris", "--version", "2", "--canary", "50"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = server.cli(&["predict", "iris", "--file", IRIS, "--batch-rows", "5"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("150 predictions from iris split between 2 versions"),
        "{out}"
    );
    let share = |version: &str| {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(version))
            .unwrap_or_else(|| panic!("{version} in {out}"));
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (v1, v2) = (share("v1 "), share("v2 "));
    assert_eq!((v1[1].as_str(), v2[1].as_str()), ("primary", "canary"));
    let rows: usize = v1[2].parse::<usize>().unwrap() + v2[2].parse::<usize>().unwrap();
    assert_eq!(rows, 150, "{out}");
    assert!(
        v1[3].parse::<f64>().is_ok() && v2[3].parse::<f64>().is_ok(),
        "{out}"
    );
    // The same in JSON.
    let (ok, out, err) = server.cli(&[
        "-o",
        "json",
        "predict",
        "iris",
        "--file",
        IRIS,
        "--batch-rows",
        "5",
    ]);
    assert!(ok, "{out}{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    let versions = answer["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{out}");
    let total: u64 = versions.iter().map(|v| v["rows"].as_u64().unwrap()).sum();
    assert_eq!(total, 150);
    assert!(versions.iter().all(|v| v["accuracy"].is_f64()), "{out}");
    assert_eq!(answer["model_versions"].as_array().unwrap().len(), 150);
    assert_eq!(answer["label_column"], "species");

    // `slo` prints its policy as a table, not JSON.
    let (ok, out, err) = server.cli(&["slo", "iris", "--max-p99-ms", "50", "--reason", "t"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("SETTING") && out.contains("max_p99_ms"),
        "{out}"
    );
    assert!(!out.contains('{'), "no raw JSON: {out}");

    // `evaluate --wait` prints the verdict, the metrics and the confusion matrix.
    let (ok, out, err) = server.cli(&["evaluate", "iris:1", "--compare-with", "iris:2", "--wait"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("verdict: "), "{out}");
    assert!(out.contains("than iris:2 on accuracy"), "{out}");
    assert!(out.contains("accuracy") && out.contains("DELTA"), "{out}");
    assert!(out.contains("confusion matrix"), "{out}");
    assert!(out.contains("setosa"), "{out}");
    assert!(!out.contains('{'), "no raw JSON: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_a_deployments_model_needs_change_model_and_fitting_features() {
    let server = TestServer::up();
    let client = server.admin();
    wait_for_datasets(&client).await;
    train(&client, "iris", "iris", 5).await;
    train(&client, "iris", "flowers", 5).await;
    train(&client, "wine", "wine", 5).await;
    let (ok, out, err) = server.cli(&["deploy", "live", "--model", "iris", "--version", "1"]);
    assert!(ok, "{out}{err}");

    // Another model without --change-model: refused (409), naming both.
    let (ok, _, err) = server.cli(&["deploy", "live", "--model", "wine", "--version", "1"]);
    assert!(!ok);
    assert!(
        err.contains("serves model 'iris'") && err.contains("model 'wine'"),
        "{err}"
    );
    assert!(err.contains("--change-model"), "{err}");
    let refused = client
        .deploy(
            "live",
            &DeployRequest {
                model: Some("wine".into()),
                version: Some(1),
                ..DeployRequest::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ApiError::Server { status: 409, .. }),
        "{refused}"
    );

    // With it, but other features: refused unless --force.
    let (ok, _, err) = server.cli(&[
        "deploy",
        "live",
        "--model",
        "wine",
        "--version",
        "1",
        "--change-model",
    ]);
    assert!(!ok);
    assert!(err.contains("reads other features"), "{err}");
    assert!(err.contains("--force"), "{err}");
    let (ok, _, err) = server.cli(&[
        "deploy",
        "live",
        "--model",
        "wine",
        "--version",
        "1",
        "--force",
    ]);
    assert!(!ok, "--force alone is not enough");
    assert!(err.contains("--change-model"), "{err}");

    // The same features under another model: switches.
    let (ok, out, err) = server.cli(&[
        "deploy",
        "live",
        "--model",
        "flowers",
        "--version",
        "1",
        "--change-model",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("live revision 2: flowers v1"), "{out}");
    let (ok, out, err) = server.cli(&[
        "deploy",
        "live",
        "--model",
        "wine",
        "--version",
        "1",
        "--change-model",
        "--force",
    ]);
    assert!(ok, "{out}{err}");
    // Callers that do not switch models are unchanged: a version alone, or the same model.
    client
        .deploy(
            "live",
            &DeployRequest {
                model: Some("wine".into()),
                version: Some(1),
                ..DeployRequest::default()
            },
            None,
        )
        .await
        .unwrap();

    // History names model and version on both sides, in REST and in text.
    let revisions = client.deployment_revisions("live").await.unwrap();
    let newest = &revisions[0];
    assert_eq!(newest.spec.model, "wine");
    assert_eq!(newest.previous.as_ref().unwrap().model, "flowers");
    let (ok, out, err) = server.cli(&["deployments", "history", "live"]);
    assert!(ok, "{err}");
    assert!(out.contains("iris v1 → flowers v1"), "{out}");
    assert!(out.contains("flowers v1 → wine v1"), "{out}");
    assert!(out.contains("(new) → iris v1"), "{out}");
}
