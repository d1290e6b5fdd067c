//! From lab to production with real processes: train digits through the job path, register,
//! deploy, predict the real held-out rows, canary, promote and roll back under concurrent
//! load, shadow traffic, audit and roles, and every input error of the predict endpoints.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    ApiError, ChangeRequest, Client, CreateToken, DeployRequest, ErrorCode, InferRequest,
    InferTensor, PageRequest, PredictRequest, Prediction, Role, TrainSpec,
};
use slipway_ml::Dataset;
use slipway_ml::split::stratified_split;
use slipway_tests::{TestServer, eventually};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const DIGITS: &[u8] = include_bytes!("../../datasets/digits.csv");

/// Trains digits through a `train` job and registers it; returns the registered version.
async fn train_and_register(client: &Client, seed: u64) -> u32 {
    let spec = TrainSpec {
        dataset: "digits".into(),
        hidden: Some(vec![64]),
        epochs: Some(25),
        seed: Some(seed),
        register_as: Some("digits".into()),
        ..TrainSpec::default()
    };
    slipway_tests::train_and_register(client, spec).await
}

/// The held-out test rows of digits under the trainer's default split, as named instances,
/// with their labels.
fn held_out_rows() -> (Vec<serde_json::Value>, Vec<String>) {
    let data = Dataset::from_csv(DIGITS, "label", None).unwrap();
    let split = stratified_split(&data, 0.15, 0.2, 7);
    let rows = split
        .test
        .iter()
        .map(|&i| {
            let named: serde_json::Map<String, serde_json::Value> = data
                .schema
                .features
                .iter()
                .cloned()
                .zip(data.features[i].iter().map(|v| serde_json::json!(v)))
                .collect();
            serde_json::Value::Object(named)
        })
        .collect();
    let labels = split
        .test
        .iter()
        .map(|&i| data.schema.classes[data.labels[i] as usize].clone())
        .collect();
    (rows, labels)
}

fn one_row(instance: &serde_json::Value) -> PredictRequest {
    PredictRequest {
        instances: vec![instance.clone()],
        key: None,
    }
}

async fn versions_answering(
    client: &Client,
    instance: &serde_json::Value,
    n: usize,
) -> BTreeMap<u32, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let answer = client.predict("digits", &one_row(instance)).await.unwrap();
        *seen.entry(answer.model_version).or_default() += 1;
    }
    seen
}

fn status_of(err: &ApiError) -> u16 {
    match err {
        ApiError::Server { status, .. } => *status,
        other => panic!("expected a server error, got {other}"),
    }
}

async fn wait_for_datasets(client: &Client) {
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("digits").await.ok() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn train_register_deploy_canary_promote_and_roll_back_under_load() {
    let server = TestServer::up();
    let client = server.admin();
    wait_for_datasets(&client).await;
    let v1 = train_and_register(&client, 7).await;
    let v2 = train_and_register(&client, 8).await;
    assert_eq!((v1, v2), (1, 2));
    let version = client.model_version("digits", "1").await.unwrap();
    assert_eq!(version.dataset.as_ref().unwrap().name, "digits");
    assert_eq!(version.seed, Some(7));
    assert!(version.metrics["test_accuracy"] >= 0.9);
    assert!(
        version.params.contains_key("learning_rate"),
        "{:?}",
        version.params
    );
    assert_eq!(client.search_models("dig").await.unwrap().len(), 1);
    assert!(client.search_models("nope").await.unwrap().is_empty());

    let (ok, out, err) = server.cli(&[
        "deploy",
        "digits",
        "--model",
        "digits",
        "--version",
        "1",
        "--reason",
        "first release",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("digits revision 1: digits v1"), "{out}");

    // The real held-out rows, in one request.
    let (rows, labels) = held_out_rows();
    let answer = client
        .predict(
            "digits",
            &PredictRequest {
                instances: rows.clone(),
                key: None,
            },
        )
        .await
        .unwrap();
    assert_eq!((answer.model_version, answer.deployment_revision), (1, 1));
    let correct = answer
        .predictions
        .iter()
        .zip(&labels)
        .filter(|(p, l)| matches!(p, Prediction::Class { label, .. } if **label == **l))
        .count();
    let accuracy = correct as f64 / labels.len() as f64;
    assert!(accuracy >= 0.95, "held-out accuracy {accuracy}");

    // Concurrent load for the rest of the test: no request may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for instance in rows.iter().take(4) {
        let (client, stop, sent, failed) =
            (client.clone(), stop.clone(), sent.clone(), failed.clone());
        let instance = instance.clone();
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if client.predict("digits", &one_row(&instance)).await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let canary = client
        .deploy(
            "digits",
            &DeployRequest {
                version: Some(2),
                canary_percent: Some(20.0),
                ..DeployRequest::default()
            },
            Some("try v2 on a fifth"),
        )
        .await
        .unwrap();
    assert_eq!(canary.revision, 2);
    let seen = versions_answering(&client, &rows[0], 1000).await;
    let share = *seen.get(&2).unwrap_or(&0) as f64 / 1000.0;
    assert!(
        (0.15..=0.25).contains(&share),
        "canary share {share}: {seen:?}"
    );
    // A key sticks to one variant.
    let keyed = PredictRequest {
        instances: vec![rows[0].clone()],
        key: Some("customer-42".into()),
    };
    let first = client
        .predict("digits", &keyed)
        .await
        .unwrap()
        .model_version;
    for _ in 0..20 {
        assert_eq!(
            client
                .predict("digits", &keyed)
                .await
                .unwrap()
                .model_version,
            first
        );
    }

    let (ok, out, err) = server.cli(&["promote", "digits", "--reason", "v2 holds up"]);
    assert!(ok, "{out}{err}");
    assert_eq!(
        versions_answering(&client, &rows[0], 50).await,
        BTreeMap::from([(2, 50)])
    );

    let (ok, out, err) = server.cli(&[
        "rollback",
        "digits",
        "--to",
        "1",
        "--reason",
        "v2 regressed",
    ]);
    assert!(ok, "{out}{err}");
    assert_eq!(
        versions_answering(&client, &rows[0], 50).await,
        BTreeMap::from([(1, 50)])
    );

    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(sent.load(Ordering::Relaxed) > 100, "the load ran");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no request failed during the changes"
    );

    // History and audit: every change with its actor and reason.
    let revisions = client.deployment_revisions("digits").await.unwrap();
    let actions: Vec<(u32, &str)> = revisions
        .iter()
        .map(|r| (r.revision, r.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (4, "rollback"),
            (3, "promote"),
            (2, "deploy"),
            (1, "deploy")
        ]
    );
    assert_eq!(revisions[0].rolled_back_to, Some(1));
    assert_eq!(revisions[0].reason.as_deref(), Some("v2 regressed"));
    assert_eq!(revisions[0].previous.as_ref().unwrap().primary, 2);
    let audit = client
        .list_audit(&PageRequest {
            limit: Some(200),
            page_token: None,
        })
        .await
        .unwrap();
    let changes: Vec<_> = audit
        .items
        .iter()
        .filter(|e| e.action.starts_with("deployment."))
        .collect();
    assert_eq!(changes.len(), 4);
    assert!(
        changes
            .iter()
            .all(|e| e.actor == "admin" && e.reason.is_some())
    );

    // A viewer may predict but not change anything.
    let viewer = client
        .create_token(
            &CreateToken {
                name: "stakeholder".into(),
                role: Role::Viewer,
            },
            None,
        )
        .await
        .unwrap();
    let viewer = server.client(Some(viewer.secret));
    viewer.predict("digits", &one_row(&rows[0])).await.unwrap();
    let denied = [
        viewer
            .deploy(
                "digits",
                &DeployRequest {
                    version: Some(2),
                    ..DeployRequest::default()
                },
                Some("x"),
            )
            .await
            .unwrap_err(),
        viewer
            .promote("digits", &ChangeRequest::default(), Some("x"))
            .await
            .unwrap_err(),
        viewer
            .rollback("digits", &ChangeRequest::default(), Some("x"))
            .await
            .unwrap_err(),
    ];
    assert!(denied.iter().all(|err| status_of(err) == 403), "{denied:?}");

    // A change against a stale revision is refused.
    let stale = client
        .deploy(
            "digits",
            &DeployRequest {
                version: Some(2),
                expected_revision: Some(3),
                ..DeployRequest::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&stale), 409, "{stale}");

    // The champion alias is protected: a reason is required.
    let err = client
        .set_alias("digits", "champion", 1, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reason"), "{err}");
    client
        .set_alias("digits", "champion", 1, Some("serving now"))
        .await
        .unwrap();
    assert_eq!(
        client
            .model_version("digits", "champion")
            .await
            .unwrap()
            .version,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shadow_never_answers_and_its_agreement_is_recorded() {
    let server = TestServer::up();
    let client = server.admin();
    wait_for_datasets(&client).await;
    train_and_register(&client, 7).await;
    train_and_register(&client, 8).await;
    client
        .deploy(
            "digits",
            &DeployRequest {
                model: Some("digits".into()),
                version: Some(1),
                shadow_version: Some(2),
                ..DeployRequest::default()
            },
            Some("shadow v2"),
        )
        .await
        .unwrap();
    let (rows, _) = held_out_rows();
    for row in rows.iter().take(60) {
        let answer = client.predict("digits", &one_row(row)).await.unwrap();
        assert_eq!(
            (answer.model_version, answer.variant.as_str()),
            (1, "primary")
        );
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
    assert!(
        recorded.agreement > 0.8,
        "two good models mostly agree: {recorded:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_errors_are_named_and_the_inference_protocol_works() {
    let mut server = TestServer::up();
    let client = server.admin();
    wait_for_datasets(&client).await;
    train_and_register(&client, 7).await;
    client
        .deploy(
            "digits",
            &DeployRequest {
                model: Some("digits".into()),
                version: Some(1),
                ..DeployRequest::default()
            },
            None,
        )
        .await
        .unwrap();
    let predict = |instances: Vec<serde_json::Value>| {
        let client = client.clone();
        async move {
            client
                .predict(
                    "digits",
                    &PredictRequest {
                        instances,
                        key: None,
                    },
                )
                .await
                .unwrap_err()
        }
    };
    let cases = [
        (
            predict(vec![serde_json::json!([1.0, 2.0])]).await,
            400,
            "instances[0]: expected 64 values (one per feature), got 2",
        ),
        (
            predict(vec![serde_json::json!({"colour": 1.0})]).await,
            400,
            "instances[0]: unknown feature 'colour'",
        ),
        (
            predict(vec![serde_json::json!([1.0, "two"])]).await,
            400,
            "instances[0][1]: expected a number, got \"two\"",
        ),
        (
            predict(vec![]).await,
            400,
            "instances: expected at least one instance",
        ),
        (
            predict(vec![serde_json::json!(vec![0.0; 64]); 1001]).await,
            413,
            "more than the limit of 1000",
        ),
    ];
    for (err, status, text) in &cases {
        assert_eq!(status_of(err), *status, "{err}");
        assert!(
            err.to_string().contains(text),
            "{err} should contain {text}"
        );
    }
    let missing = client
        .predict(
            "nope",
            &PredictRequest {
                instances: vec![serde_json::json!(vec![0.0; 64])],
                key: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&missing), 404);
    if let ApiError::Server { code, .. } = &missing {
        assert_eq!(*code, ErrorCode::NotFound);
    }
    // Registering a run that has no model is refused, naming the field.
    let err = client
        .register_model(
            "digits",
            &slipway_api::RegisterModel {
                run_id: 999_999,
                description: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 400);
    assert!(err.to_string().contains("run_id"), "{err}");

    // Open Inference Protocol v2.
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("{}/v2/models/digits/ready", server.url))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let (rows, labels) = held_out_rows();
    let data = Dataset::from_csv(DIGITS, "label", None).unwrap();
    let flat: Vec<f64> = rows
        .iter()
        .take(2)
        .flat_map(|row| {
            data.schema
                .features
                .iter()
                .map(|f| row[f].as_f64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let answer = client
        .infer(
            "digits",
            &InferRequest {
                id: Some("req-1".into()),
                inputs: vec![InferTensor {
                    name: "input-0".into(),
                    shape: vec![2, 64],
                    datatype: "FP32".into(),
                    data: serde_json::json!(flat),
                    parameters: None,
                }],
                parameters: None,
                outputs: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (answer.model_version.as_str(), answer.id.as_deref()),
        ("1", Some("req-1"))
    );
    let label_output = answer.outputs.iter().find(|o| o.name == "label").unwrap();
    assert_eq!(label_output.shape, vec![2]);
    assert_eq!(label_output.data[0], serde_json::json!(labels[0]));
    let bad = client
        .infer(
            "digits",
            &InferRequest {
                id: None,
                inputs: vec![InferTensor {
                    name: "input-0".into(),
                    shape: vec![2, 64],
                    datatype: "BYTES".into(),
                    data: serde_json::json!([]),
                    parameters: None,
                }],
                parameters: None,
                outputs: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&bad), 400);
    assert!(bad.to_string().contains("inputs[0].datatype"), "{bad}");

    // A deployment whose model cannot be loaded answers 503, naming why.
    server.kill9();
    std::fs::remove_dir_all(server.data_dir.join("artifacts")).unwrap();
    server.restart();
    let client = server.admin();
    let unavailable = eventually(
        "the failed load to be known",
        Duration::from_secs(20),
        || {
            let client = client.clone();
            async move {
                let request = PredictRequest {
                    instances: vec![serde_json::json!(vec![0.0; 64])],
                    key: None,
                };
                let err = client.predict("digits", &request).await.err()?;
                err.to_string()
                    .contains("could not be loaded")
                    .then_some(err)
            }
        },
    )
    .await;
    assert_eq!(status_of(&unavailable), 503, "{unavailable}");
}
