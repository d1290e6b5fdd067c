//! Imported ONNX models with real processes: models exported by PyTorch (the fixtures of
//! `tests/fixtures/onnx/`, made by `tests/python/export_onnx.py`) are imported with the CLI,
//! deployed, and answer every digits row with onnxruntime's probabilities; an imported version
//! canaries, promotes, rolls back and shadows beside a trained one, and `evaluate` compares
//! them either way; drift on inverted digits
//! raises an alert; an unsupported operator and a corrupt file are refused, registering
//! nothing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    ApiError, ChangeRequest, Client, DeployRequest, EvaluateResult, EvaluateSpec, InferRequest,
    InferTensor, JobState, ModelRef, ModelVersion, PredictRequest, Prediction, Role, SloPolicy,
    TrainSpec,
};
use slipway_tests::{TestServer, eventually, new_token, python, run_job};
use std::path::PathBuf;
use std::time::Duration;

const DIGITS: &str = include_str!("../../datasets/digits.csv");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures/onnx")
        .join(name)
        .display()
        .to_string()
}

fn digits_csv() -> String {
    repo().join("datasets/digits.csv").display().to_string()
}

/// The digits rows as named instances, with `transform` applied to every pixel.
fn rows(transform: impl Fn(f64) -> f64) -> Vec<serde_json::Value> {
    let mut lines = DIGITS.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            let named: serde_json::Map<String, serde_json::Value> = header
                .iter()
                .zip(line.split(','))
                .filter(|(name, _)| **name != "label")
                .map(|(name, value)| {
                    let value: f64 = value.parse().unwrap();
                    ((*name).to_owned(), serde_json::json!(transform(value)))
                })
                .collect();
            serde_json::Value::Object(named)
        })
        .collect()
}

async fn start() -> (TestServer, Client) {
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("digits").await.ok() }
    })
    .await;
    (server, client)
}

/// Imports `file` as the next version of `model` with the CLI, reading the inputs from the
/// digits CSV (which also becomes the version's data).
fn import(server: &TestServer, model: &str, file: &str) -> ModelVersion {
    let onnx = fixture(file);
    let csv = digits_csv();
    let (ok, out, err) = server.cli(&[
        "--output",
        "json",
        "models",
        "import",
        model,
        "--onnx",
        &onnx,
        "--features-from",
        &csv,
        "--label",
        "label",
        "--reason",
        "exported from PyTorch",
    ]);
    assert!(ok, "import {file}: {err}");
    serde_json::from_str(&out).unwrap()
}

async fn deploy(client: &Client, name: &str, model: &str, version: u32) {
    let request = DeployRequest {
        model: Some(model.into()),
        version: Some(version),
        ..DeployRequest::default()
    };
    client.deploy(name, &request, None).await.unwrap();
}

/// onnxruntime's class probabilities for every digits row.
fn oracle(file: &str) -> Vec<Vec<f64>> {
    let run = python::run_script(
        "onnx_oracle.py",
        &[&fixture(file), &digits_csv(), "label"],
        &[],
    );
    let out: serde_json::Value = serde_json::from_str(run.expect_success("the oracle")).unwrap();
    serde_json::from_value(out["probabilities"].clone()).unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    // The digest the server records; computed here with the system's sha256sum to stay
    // independent of the server's code.
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_fixture_imports_deploys_and_answers_like_onnxruntime() {
    let (server, client) = start().await;
    let all = rows(|v| v);
    for (model, file, input, shape) in [
        ("digits-mlp", "digits_mlp.onnx", "pixels", vec![-1, 64]),
        ("digits-cnn", "digits_cnn.onnx", "image", vec![-1, 1, 8, 8]),
        (
            "digits-transformer",
            "digits_transformer.onnx",
            "pixels",
            vec![-1, 64],
        ),
        // torch.nn.LayerNorm, exported as one LayerNormalization node, which the runtime runs.
        (
            "digits-transformer-layernorm",
            "digits_transformer_layernorm.onnx",
            "pixels",
            vec![-1, 64],
        ),
    ] {
        let version = import(&server, model, file);
        assert_eq!((version.version, version.arch.as_str()), (1, "onnx"));
        assert_eq!(
            version.artifact_digest,
            sha256_hex(&std::fs::read(fixture(file)).unwrap())
        );
        assert_eq!(version.dataset.as_ref().unwrap().name, "digits");
        assert_eq!(version.features.len(), 64);
        assert_eq!(version.created_by, "admin");
        let onnx = version.onnx.as_ref().unwrap();
        assert_eq!((onnx.input.as_str(), &onnx.input_shape), (input, &shape));
        assert_eq!((onnx.opset, onnx.producer.as_str()), (17, "pytorch"));
        assert_eq!(version.labels.len(), 10);

        deploy(&client, model, model, 1).await;
        let expected = oracle(file);
        assert_eq!(expected.len(), 1797);
        let mut answered = Vec::new();
        for chunk in all.chunks(300) {
            let request = PredictRequest {
                instances: chunk.to_vec(),
                key: None,
            };
            answered.extend(client.predict(model, &request).await.unwrap().predictions);
        }
        assert_eq!(answered.len(), 1797);
        for (row, (prediction, reference)) in answered.iter().zip(&expected).enumerate() {
            let Prediction::Class {
                label,
                probabilities,
            } = prediction
            else {
                panic!("{model} row {row}: a class")
            };
            let best = reference
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            assert_eq!(&**label, best.to_string(), "{model} row {row}");
            for (class, p) in reference.iter().enumerate() {
                let ours = probabilities[class.to_string().as_str()];
                assert!(
                    (ours - p).abs() <= 1e-5,
                    "{model} row {row} class {class}: {ours} against onnxruntime's {p}"
                );
            }
        }

        // The Open Inference Protocol: metadata names the graph's real tensors, and infer
        // answers the same rows.
        let metadata: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/v2/models/{model}", server.url))
            .bearer_auth(server.admin_token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(metadata["inputs"][0]["name"], input, "{metadata}");
        assert_eq!(metadata["inputs"][0]["shape"], serde_json::json!([-1, 64]));
        assert_eq!(
            metadata["inputs"][0]["parameters"]["onnx_shape"],
            serde_json::json!(shape)
        );
        assert_eq!(metadata["outputs"][1]["name"], "probabilities");
        assert_eq!(
            metadata["outputs"][1]["parameters"]["onnx_output"],
            "logits"
        );
        // The first row in column order (the CSV's, which is the graph's).
        let first: Vec<f64> = DIGITS
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .collect::<Vec<_>>()[..64]
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        let request = InferRequest {
            id: None,
            inputs: vec![InferTensor {
                name: input.into(),
                shape: vec![1, 64],
                datatype: "FP32".into(),
                parameters: None,
                data: serde_json::json!(first),
            }],
            outputs: None,
            parameters: None,
        };
        let answer = client.infer(model, &request).await.unwrap();
        let Prediction::Class { label, .. } = &answered[0] else {
            unreachable!()
        };
        assert_eq!(answer.outputs[0].data, serde_json::json!([label]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_operators_and_corrupt_files_are_refused_and_nothing_is_registered() {
    let (server, client) = start().await;
    let csv = digits_csv();
    for (file, expected) in [
        (
            "digits_cnn_lppool.onnx",
            "operator 'LpPool' (node '/features/features.2/LpPool') is not supported",
        ),
        ("corrupt.onnx", "the file is not a readable ONNX model"),
    ] {
        let onnx = fixture(file);
        let (ok, _, err) = server.cli(&[
            "models",
            "import",
            "refused",
            "--onnx",
            &onnx,
            "--features-from",
            &csv,
            "--label",
            "label",
        ]);
        assert!(!ok, "{file} was imported");
        assert!(err.contains(expected), "{file}: {err}");
        let bytes = std::fs::read(&onnx).unwrap();
        let request = slipway_api::ImportModel {
            dataset: Some("digits".into()),
            ..Default::default()
        };
        let refused = client
            .import_model("refused", &request, bytes, None)
            .await
            .unwrap_err();
        let ApiError::Server {
            status, message, ..
        } = &refused
        else {
            panic!("{refused}")
        };
        assert_eq!(*status, 400, "{message}");
        assert!(message.contains(expected), "{message}");
    }
    // A signature that does not fit the graph is refused too, naming the field.
    let request = slipway_api::ImportModel {
        features: Some("a,b,c".into()),
        ..Default::default()
    };
    let bytes = std::fs::read(fixture("digits_mlp.onnx")).unwrap();
    let err = client
        .import_model("refused", &request, bytes, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("features: the graph's input 'pixels' takes 64 values"),
        "{err}"
    );
    let missing = client.get_model("refused").await.unwrap_err();
    assert!(
        matches!(missing, ApiError::Server { status: 404, .. }),
        "nothing was registered: {missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_imported_version_canaries_promotes_rolls_back_and_shadows_beside_a_trained_one() {
    let (server, client) = start().await;
    let spec = TrainSpec {
        dataset: "digits".into(),
        hidden: Some(vec![32]),
        epochs: Some(15),
        register_as: Some("digits".into()),
        ..TrainSpec::default()
    };
    assert_eq!(slipway_tests::train_and_register(&client, spec).await, 1);
    let imported = import(&server, "digits", "digits_mlp.onnx");
    assert_eq!(imported.version, 2);
    deploy(&client, "digits", "digits", 1).await;

    let all = rows(|v| v);
    let canary = DeployRequest {
        version: Some(2),
        canary_percent: Some(50.0),
        ..DeployRequest::default()
    };
    client
        .deploy("digits", &canary, Some("imported canary"))
        .await
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for row in all.iter().take(80) {
        let request = PredictRequest {
            instances: vec![row.clone()],
            key: None,
        };
        let answer = client.predict("digits", &request).await.unwrap();
        seen.insert((answer.model_version, answer.variant));
    }
    assert!(seen.contains(&(1, "primary".into())), "{seen:?}");
    assert!(seen.contains(&(2, "canary".into())), "{seen:?}");

    let promoted = client
        .promote(
            "digits",
            &ChangeRequest::default(),
            Some("the import is good"),
        )
        .await
        .unwrap();
    assert_eq!((promoted.spec.primary, promoted.spec.canary), (2, None));
    let request = PredictRequest {
        instances: all[..5].to_vec(),
        key: None,
    };
    assert_eq!(
        client
            .predict("digits", &request)
            .await
            .unwrap()
            .model_version,
        2
    );
    let rolled = client
        .rollback(
            "digits",
            &ChangeRequest {
                to_revision: Some(1),
                ..ChangeRequest::default()
            },
            Some("back to trained"),
        )
        .await
        .unwrap();
    assert_eq!(rolled.spec.primary, 1);
    assert_eq!(
        client
            .predict("digits", &request)
            .await
            .unwrap()
            .model_version,
        1
    );

    // The imported version as the shadow of the trained one.
    let shadow = DeployRequest {
        shadow_version: Some(2),
        ..DeployRequest::default()
    };
    client
        .deploy("digits", &shadow, Some("shadow the import"))
        .await
        .unwrap();
    for row in all.iter().skip(100).take(60) {
        let request = PredictRequest {
            instances: vec![row.clone()],
            key: None,
        };
        let answer = client.predict("digits", &request).await.unwrap();
        assert_eq!(answer.model_version, 1);
    }
    let recorded = eventually("the shadow record", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let comparisons = client.shadow_comparisons("digits").await.ok()?;
            comparisons.into_iter().find(|c| c.requests >= 60)
        }
    })
    .await;
    assert_eq!((recorded.primary_version, recorded.shadow_version), (1, 2));
    assert_eq!(recorded.errors, 0);
    assert!(recorded.agreement > 0.8, "{recorded:?}");

    // `evaluate` gates either way: the imported challenger against the trained champion on
    // the digits data, and the trained one against the import.
    for (ours, theirs) in [(2, 1), (1, 2)] {
        let spec = EvaluateSpec {
            model: ModelRef {
                name: Some("digits".into()),
                version: Some(ours),
                ..ModelRef::default()
            },
            dataset: Some("digits".into()),
            compare_with: Some(ModelRef {
                name: Some("digits".into()),
                version: Some(theirs),
                ..ModelRef::default()
            }),
            ..EvaluateSpec::default()
        };
        let job = run_job(&client, spec).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let result = job.result_as::<EvaluateResult>().unwrap();
        assert!(result.metrics["accuracy"] > 0.9, "{:?}", result.metrics);
        let comparison = result.comparison.unwrap();
        assert_eq!(comparison.against, format!("digits:{theirs}"));
        assert!(comparison.their_metrics["accuracy"] > 0.9);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inverted_digits_drift_an_imported_model_and_raise_an_alert() {
    let (server, client) = start().await;
    import(&server, "digits-cnn", "digits_cnn.onnx");
    deploy(&client, "digits-cnn", "digits-cnn", 1).await;
    let viewer = server.client(Some(new_token(&client, "dashboard", Role::Viewer).await));
    let policy = SloPolicy {
        drift_window_rows: 400,
        min_drift_rows: 200,
        ..SloPolicy::default()
    };
    client
        .set_slo_policy("digits-cnn", &policy, Some("test window"))
        .await
        .unwrap();
    // Rows like the data given at import, from two callers (drift counts only when more than
    // one caller sends it).
    let send = |rows: Vec<serde_json::Value>| {
        let (client, viewer) = (client.clone(), viewer.clone());
        async move {
            for (i, chunk) in rows.chunks(50).enumerate() {
                let request = PredictRequest {
                    instances: chunk.to_vec(),
                    key: None,
                };
                let caller = if i % 2 == 0 { &client } else { &viewer };
                caller.predict("digits-cnn", &request).await.unwrap();
            }
        }
    };
    send(rows(|v| v)[..400].to_vec()).await;
    let report = client.drift("digits-cnn").await.unwrap();
    assert_eq!((report.rows, report.callers), (400, 2));
    assert_eq!(report.status, "stable", "{:?}", &report.features[..3]);

    // Inverted pixels: the same digits, a different world.
    send(rows(|v| 16.0 - v)[400..800].to_vec()).await;
    let report = client.drift("digits-cnn").await.unwrap();
    assert_eq!(report.status, "alert");
    let worst = &report.features[0];
    assert!(worst.psi > 0.2, "{worst:?}");
    let alert = eventually("a drift alert", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let alerts = client.alerts(Some("digits-cnn"), true).await.ok()?;
            alerts.into_iter().find(|a| a.kind == "drift")
        }
    })
    .await;
    assert!(alert.message.contains(&worst.feature), "{}", alert.message);
}
