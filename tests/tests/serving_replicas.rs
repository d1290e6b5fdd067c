//! Serving replicas (`slipway serve`): two replicas with no database follow a server's
//! deployments through its API. Under predict load on both, a rollback through the server
//! fails no request on either, and each answers from the rolled-back version within a second
//! of the rollback call returning. A replica also answers the Open Inference Protocol, counts
//! its predictions on `/metrics`, refuses to start with a token the server rejects, and
//! limits each caller's predictions as the server does (429 with `Retry-After`).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    ChangeRequest, Client, DeployRequest, InferRequest, InferTensor, PredictRequest, Role,
    TrainSpec,
};
use slipway_tests::{TestServer, TestServingReplica, command, eventually, new_token, python};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Predicting tasks per replica.
const TASKS: usize = 4;

fn row() -> PredictRequest {
    PredictRequest {
        instances: vec![serde_json::json!([5.1, 3.5, 1.4, 0.2])],
        key: None,
    }
}

/// One answer: when its request was sent, and the version that answered (or the error).
type Answer = (Instant, Result<u32, String>);

async fn load(client: Client, stop: Arc<AtomicBool>) -> Vec<Answer> {
    let mut answers = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let answer = client
            .predict("iris", &row())
            .await
            .map(|answer| answer.model_version)
            .map_err(|err| err.to_string());
        answers.push((sent, answer));
    }
    answers
}

async fn train(admin: &Client, seed: u64) -> u32 {
    let spec = TrainSpec {
        dataset: "iris".into(),
        epochs: Some(5),
        seed: Some(seed),
        register_as: Some("iris".into()),
        ..TrainSpec::default()
    };
    slipway_tests::train_and_register(admin, spec).await
}

async fn deploy(admin: &Client, version: u32) {
    admin
        .deploy(
            "iris",
            &DeployRequest {
                model: Some("iris".into()),
                version: Some(version),
                ..DeployRequest::default()
            },
            Some("release"),
        )
        .await
        .unwrap();
}

async fn serves(replica: &TestServingReplica, token: &str, version: u32) {
    let client = replica.client(token);
    eventually(
        &format!("replica {} to serve version {version}", replica.url),
        Duration::from_secs(60),
        || {
            let client = client.clone();
            async move {
                let answer = client.predict("iris", &row()).await.ok()?;
                (answer.model_version == version).then_some(())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_follow_a_rollback_under_load_and_answer_oip_and_metrics() {
    let server = TestServer::start();
    let admin = server.admin();
    let _worker = server.worker("trainer", &[]);
    let iris = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/iris.csv")).unwrap();
    admin
        .upload_dataset("iris", "species", Some("classification"), iris)
        .await
        .unwrap();
    let (v1, v2) = (train(&admin, 1).await, train(&admin, 2).await);
    assert_eq!((v1, v2), (1, 2));
    deploy(&admin, v1).await;
    deploy(&admin, v2).await;

    // A token the server rejects stops the replica at once, saying so.
    let refused = command()
        .args(["serve", "--server", &server.url, "--addr", "127.0.0.1:0"])
        .env("SLIPWAY_TOKEN", "not-a-token")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("refused the token"), "{stderr}");

    // The replicas read with a viewer token; callers use their own.
    let replica_token = new_token(&admin, "serving-replica", Role::Viewer).await;
    let caller = new_token(&admin, "caller", Role::Viewer).await;
    let replicas = [
        server.serving_replica(&replica_token),
        server.serving_replica(&replica_token),
    ];
    for replica in &replicas {
        serves(replica, &caller, v2).await;
        let ready = reqwest::get(format!("{}/readyz", replica.url))
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for replica in &replicas {
        let loads: Vec<_> = (0..TASKS)
            .map(|_| tokio::spawn(load(replica.client(&caller), Arc::clone(&stop))))
            .collect();
        tasks.push(loads);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    admin
        .rollback("iris", &ChangeRequest::default(), Some("v2 regressed"))
        .await
        .unwrap();
    let rolled_back = Instant::now();
    let deadline = rolled_back + Duration::from_secs(1);
    // Load goes on well past the deadline, so each replica answers after it too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);

    for (n, loads) in tasks.into_iter().enumerate() {
        let mut answers = Vec::new();
        for task in loads {
            answers.extend(task.await.unwrap());
        }
        let failed: Vec<&String> = answers
            .iter()
            .filter_map(|(_, a)| a.as_ref().err())
            .collect();
        assert!(
            failed.is_empty(),
            "replica {n}: {} of {} requests failed, first: {}",
            failed.len(),
            answers.len(),
            failed[0]
        );
        let after: Vec<u32> = answers
            .iter()
            .filter(|(sent, _)| *sent >= deadline)
            .filter_map(|(_, answer)| answer.as_ref().ok().copied())
            .collect();
        assert!(
            !after.is_empty(),
            "replica {n} answered nothing after the deadline"
        );
        assert!(
            after.iter().all(|version| *version == v1),
            "replica {n} still answered from version {v2} a second after the rollback"
        );
        let last_v2 = answers
            .iter()
            .filter(|(_, answer)| answer.as_ref().is_ok_and(|v| *v == v2))
            .map(|(sent, _)| *sent)
            .max()
            .map_or(0, |sent| {
                sent.saturating_duration_since(rolled_back).as_millis()
            });
        println!(
            "replica {n}: {} answers, none failed; the last from v{v2} was sent {last_v2} ms after the rollback",
            answers.len()
        );
    }

    // The Open Inference Protocol on a replica: metadata and infer.
    let replica = replicas[0].client(&caller);
    let http = reqwest::Client::new();
    let metadata: serde_json::Value = http
        .get(format!("{}/v2/models/iris", replicas[0].url))
        .bearer_auth(&caller)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["inputs"][0]["shape"], serde_json::json!([-1, 4]));
    assert_eq!(metadata["versions"], serde_json::json!([v1.to_string()]));
    let inferred = replica
        .infer(
            "iris",
            &InferRequest {
                id: Some("replica-1".into()),
                inputs: vec![InferTensor {
                    name: "input-0".into(),
                    shape: vec![2, 4],
                    datatype: "FP32".into(),
                    data: serde_json::json!([5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]),
                    parameters: None,
                }],
                parameters: None,
                outputs: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(inferred.id.as_deref(), Some("replica-1"));
    let label = inferred.outputs.iter().find(|o| o.name == "label").unwrap();
    assert_eq!(label.shape, vec![2]);

    // The Triton client, as a team already on KServe or Triton would point it at a replica.
    let dir = tempfile::tempdir().unwrap();
    let rows_file = dir.path().join("rows.json");
    let rows = serde_json::json!([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]);
    std::fs::write(&rows_file, serde_json::to_vec(&rows).unwrap()).unwrap();
    let args = [
        replicas[0].url.trim_start_matches("http://").to_owned(),
        "iris".to_owned(),
        v1.to_string(),
        rows_file.to_str().unwrap().to_owned(),
    ];
    let run = tokio::task::spawn_blocking({
        let caller = caller.clone();
        move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            python::run_script("oip_triton.py", &args, &[("SLIPWAY_TOKEN", &caller)])
        }
    })
    .await
    .unwrap();
    let seen: serde_json::Value =
        serde_json::from_str(run.expect_success("the Triton client against a replica")).unwrap();
    for probe in ["live", "ready", "model_ready", "version_ready"] {
        assert_eq!(seen[probe], true, "{probe}: {seen}");
    }
    assert_eq!(seen["other_version_ready"], false, "{seen}");
    assert_eq!(
        seen["metadata"]["inputs"][0]["shape"],
        serde_json::json!([-1, 4])
    );
    let labels = seen["json_labels"].as_array().unwrap();
    assert_eq!(labels.len(), 2, "{seen}");
    assert_eq!(seen["binary_labels"], seen["json_labels"], "{seen}");
    assert_eq!(seen["version_labels"], seen["json_labels"], "{seen}");
    assert_eq!(seen["version_answered"], v1.to_string(), "{seen}");
    assert!(seen["missing_version_error"].is_string(), "{seen}");
    assert!(seen["bad_shape_error"].is_string(), "{seen}");
    assert!(seen["unauthenticated_error"].is_string(), "{seen}");

    // The replica's own /metrics counts what it answered.
    let metrics = http
        .get(format!("{}/metrics", replicas[0].url))
        .bearer_auth(&caller)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = |version: u32| -> u64 {
        let prefix = format!(
            "slipway_predict_requests_total{{deployment=\"iris\",version=\"{version}\",outcome=\"ok\"}} "
        );
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|count| count.parse().ok())
            .unwrap_or(0)
    };
    assert!(counted(v1) > 0 && counted(v2) > 0, "{metrics}");

    // A deployment the server does not know is 404 on a replica too, in the server's words.
    let missing = replica.predict("nope", &row()).await.unwrap_err();
    assert_eq!(missing.status(), Some(404), "{missing}");
    assert!(
        missing.to_string().contains("deployment 'nope'"),
        "{missing}"
    );

    // A caller without a valid token is refused by the replica.
    let anonymous = http
        .post(format!(
            "{}/api/v1/deployments/iris/predict",
            replicas[0].url
        ))
        .json(&row())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_limits_each_callers_predictions_as_the_server_does() {
    let server = TestServer::start();
    let admin = server.admin();
    let replica_token = new_token(&admin, "serving-replica", Role::Worker).await;
    // The server's flags: two requests at once, then one every ten seconds.
    let replica = server.serving_replica_with(
        &replica_token,
        &["--predict-rate", "0.1", "--predict-burst", "2"],
    );
    let alice = new_token(&admin, "alice", Role::Viewer).await;
    let bob = new_token(&admin, "bob", Role::Viewer).await;
    let http = reqwest::Client::new();
    let predict = |token: String| {
        http.post(format!("{}/api/v1/deployments/iris/predict", replica.url))
            .bearer_auth(token)
            .json(&row())
            .send()
    };
    // Within the budget the request goes on (to a deployment that does not exist).
    for _ in 0..2 {
        assert_eq!(predict(alice.clone()).await.unwrap().status(), 404);
    }
    let limited = predict(alice.clone()).await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "Retry-After {retry_after}");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // Budgets are per caller, and admins are exempt unless --rate-limit-admin says otherwise.
    assert_eq!(predict(bob).await.unwrap().status(), 404);
    for _ in 0..3 {
        assert_eq!(predict(server.admin_token()).await.unwrap().status(), 404);
    }
    // OIP infer spends the same budget.
    let infer = http
        .post(format!("{}/v2/models/iris/infer", replica.url))
        .bearer_auth(&alice)
        .json(&serde_json::json!({"inputs": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(infer.status(), 429);
}
