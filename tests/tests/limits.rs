//! Bounded cost per submission: each request that would make the server (or a worker) do or
//! store far more than real use needs is refused at the door with a 400 that names the field
//! and the limit — never a panic, a 500, or a job that allocates gigabytes.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    ApiError, Client, JobHeartbeat, JobKind, JobOutcome, JobReport, PageRequest, RegisterWorker,
    SubmitJob,
};
use slipway_tests::TestServer;

const IRIS: &[u8] = include_bytes!("../../datasets/iris.csv");

/// The status and message of a refused call.
fn refusal<T: std::fmt::Debug>(result: Result<T, ApiError>) -> (u16, String) {
    let err = result.unwrap_err();
    (err.status().unwrap_or_default(), err.to_string())
}

/// Submits raw wire JSON on purpose: these specs are refused by the server, which the typed
/// request would refuse before sending.
async fn submit(client: &Client, kind: JobKind, spec: serde_json::Value) -> Result<i64, ApiError> {
    let job = client
        .submit_job_json(&serde_json::json!({ "kind": kind, "spec": spec }))
        .await?;
    Ok(job.id)
}

fn worker(name: &str) -> RegisterWorker {
    RegisterWorker {
        name: name.into(),
        version: "1.0.0".into(),
        cpu_cores: 2,
        cuda_devices: 0,
        labels: Vec::new(),
        concurrency: 1,
        allow_commands: false,
    }
}

#[tokio::test]
async fn train_spec_with_too_many_layers_is_refused() {
    let server = TestServer::start();
    let client = server.admin();
    let spec = serde_json::json!({ "dataset": "iris", "arch": "mlp", "hidden": vec![8; 40] });
    let (status, message) = refusal(submit(&client, JobKind::Train, spec).await);
    assert_eq!(status, 400);
    assert!(
        message.contains("spec.hidden: at most 16 hidden layers, got 40"),
        "{message}"
    );
    // A pipeline's train step is held to the same bound.
    let pipeline = serde_json::json!({
        "model": "m",
        "steps": [{ "kind": "train", "train": { "dataset": "iris", "hidden": vec![8; 40] } }],
    });
    let (status, message) = refusal(submit(&client, JobKind::Pipeline, pipeline).await);
    assert_eq!(status, 400);
    assert!(message.contains("at most 16 hidden layers"), "{message}");
}

#[tokio::test]
async fn train_spec_with_too_many_parameters_is_refused() {
    let server = TestServer::start();
    let client = server.admin();
    client
        .upload_dataset("iris", "species", None, IRIS.to_vec())
        .await
        .unwrap();
    // 16 layers of 4096: about 252 million weights on iris' 4 features.
    let spec = serde_json::json!({ "dataset": "iris", "hidden": vec![4096; 16] });
    let (status, message) = refusal(submit(&client, JobKind::Train, spec).await);
    assert_eq!(status, 400);
    assert!(
        message.contains("spec.hidden: at most 100000000 parameters, got 251"),
        "{message}"
    );
    // A generous real model is accepted.
    let fine = serde_json::json!({ "dataset": "iris", "hidden": [256, 128] });
    assert!(submit(&client, JobKind::Train, fine).await.is_ok());
}

#[tokio::test]
async fn image_shape_overflow_is_refused() {
    let server = TestServer::start();
    let client = server.admin();
    // 2305843009213693960 × 8 × 1 wraps to 64 (digits' feature count) without checks.
    let spec = serde_json::json!({
        "dataset": "digits",
        "arch": "cnn",
        "image": [2_305_843_009_213_693_960u64, 8, 1],
    });
    let (status, message) = refusal(submit(&client, JobKind::Train, spec).await);
    assert_eq!(status, 400);
    assert!(message.contains("spec.image:"), "{message}");
    assert!(message.contains("2305843009213693960×8×1"), "{message}");
}

#[tokio::test]
async fn oip_shape_product_overflow_is_refused() {
    let server = TestServer::start();
    // 2^62 rows of 4 values: the product wraps to 0, which the empty data would match.
    let body = serde_json::json!({
        "inputs": [{ "name": "input-0", "shape": [4_611_686_018_427_387_904i64, 4],
                     "datatype": "FP32", "data": [] }],
    });
    let response = reqwest::Client::new()
        .post(format!("{}/v2/models/digits/infer", server.url))
        .bearer_auth(server.admin_token())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("inputs[0].shape"), "{text}");
}

#[tokio::test]
async fn oversized_worker_labels_are_refused() {
    let server = TestServer::start();
    let client = server.admin();
    let many = RegisterWorker {
        labels: (0..33).map(|i| format!("label-{i}")).collect(),
        ..worker("many")
    };
    let (status, message) = refusal(client.register_worker(&many).await);
    assert_eq!(status, 400);
    assert!(
        message.contains("labels: at most 32 labels, got 33"),
        "{message}"
    );
    let long = RegisterWorker {
        labels: vec!["x".repeat(10_000)],
        ..worker("long")
    };
    let (status, message) = refusal(client.register_worker(&long).await);
    assert_eq!(status, 400);
    assert!(
        message.contains("labels[0]: expected 1 to 64 bytes, got 10000"),
        "{message}"
    );
    let version = RegisterWorker {
        version: "v".repeat(1000),
        ..worker("version")
    };
    let (status, message) = refusal(client.register_worker(&version).await);
    assert_eq!(status, 400);
    assert!(message.contains("version: at most 64 bytes"), "{message}");
    // A job's required labels are bounded the same way.
    let job = SubmitJob {
        requirements: slipway_api::Requirements {
            gpus: 0,
            labels: (0..100).map(|i| i.to_string()).collect(),
            commands: false,
        },
        ..SubmitJob::new(slipway_api::SleepSpec::default())
    };
    let (status, message) = refusal(client.submit_job(&job).await);
    assert_eq!(status, 400);
    assert!(
        message.contains("requirements.labels: at most 32"),
        "{message}"
    );
    // Nothing was registered.
    let workers = client.list_workers(&PageRequest::default()).await.unwrap();
    assert!(workers.items.is_empty());
}

#[tokio::test]
async fn oversized_job_spec_is_refused() {
    let server = TestServer::start();
    let client = server.admin();
    let spec = serde_json::json!({ "seconds": 0.01, "padding": "x".repeat(100_000) });
    let (status, message) = refusal(submit(&client, JobKind::Sleep, spec).await);
    assert_eq!(status, 400);
    assert!(
        message.contains("spec: at most 65536 bytes serialised, got 100"),
        "{message}"
    );
}

#[tokio::test]
async fn oversized_heartbeat_and_result_are_refused() {
    let server = TestServer::start();
    let client = server.admin();
    let registered = client.register_worker(&worker("w")).await.unwrap();
    let id = submit(&client, JobKind::Sleep, serde_json::json!({ "seconds": 1 }))
        .await
        .unwrap();
    let lease = client
        .lease_job(registered.id, 1000)
        .await
        .unwrap()
        .lease
        .unwrap();
    assert_eq!(lease.job.id, id);
    assert_eq!(lease.job.worker.as_deref(), Some("w"));
    let beat = JobHeartbeat {
        lease_id: lease.lease_id.clone(),
        progress: Some(0.5),
        message: Some("m".repeat(5000)),
        ..JobHeartbeat::default()
    };
    let (status, message) = refusal(client.job_heartbeat(id, &beat).await);
    assert_eq!(status, 400);
    assert!(
        message.contains("message: at most 1024 bytes, got 5000"),
        "{message}"
    );
    let report = JobReport {
        lease_id: lease.lease_id.clone(),
        outcome: JobOutcome::Succeeded {
            result: serde_json::json!({ "blob": "r".repeat(2 * 1024 * 1024) }),
        },
    };
    let (status, message) = refusal(client.report_job(id, &report).await);
    assert_eq!(status, 400);
    assert!(
        message.contains("result: at most 1048576 bytes"),
        "{message}"
    );
    // The attempt is still held and can end properly.
    let done = client
        .report_job(
            id,
            &JobReport {
                lease_id: lease.lease_id,
                outcome: JobOutcome::Succeeded {
                    result: serde_json::json!({ "ok": true }),
                },
            },
        )
        .await
        .unwrap();
    assert_eq!(done.result, Some(serde_json::json!({ "ok": true })));
}

#[tokio::test]
async fn job_pages_name_their_workers_and_workers_are_paged() {
    let server = TestServer::start();
    let client = server.admin();
    for i in 0..5 {
        client
            .register_worker(&worker(&format!("w{i}")))
            .await
            .unwrap();
    }
    let gpu_job = SubmitJob {
        requirements: slipway_api::Requirements {
            gpus: 0,
            labels: vec!["gpu_%".into()],
            commands: false,
        },
        ..SubmitJob::new(slipway_api::SleepSpec { seconds: Some(1.0) })
    };
    let waiting = client.submit_job(&gpu_job).await.unwrap();
    assert_eq!(
        waiting.waiting_reason.as_deref(),
        Some("no worker with labels gpu_%")
    );
    // A worker whose label only looks like it under LIKE's wildcards does not fit.
    client
        .register_worker(&RegisterWorker {
            labels: vec!["gpuX1".into()],
            ..worker("lookalike")
        })
        .await
        .unwrap();
    let shown = client.get_job(waiting.id).await.unwrap();
    assert!(shown.waiting_reason.is_some(), "{shown:?}");
    client
        .register_worker(&RegisterWorker {
            labels: vec!["fast".into(), "gpu_%".into()],
            ..worker("gpu-box")
        })
        .await
        .unwrap();
    let page = client
        .list_jobs(None, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items[0].waiting_reason, None, "{:?}", page.items[0]);

    let mut names = Vec::new();
    let mut page_token = None;
    loop {
        let page = client
            .list_workers(&PageRequest {
                limit: Some(3),
                page_token,
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        names.extend(page.items.into_iter().map(|w| w.name));
        page_token = page.next_page_token;
        if page_token.is_none() {
            break;
        }
    }
    assert_eq!(
        names,
        ["w0", "w1", "w2", "w3", "w4", "lookalike", "gpu-box"]
    );
}

#[tokio::test]
async fn dataset_with_too_many_classes_is_refused() {
    let server = TestServer::start();
    let client = server.admin();
    // About 1 MB with 100,000 distinct labels: one class per row.
    let mut csv = String::from("x,label\n");
    for i in 0..100_000 {
        csv.push_str(&format!("{},c{i:06}\n", i % 97));
    }
    let started = std::time::Instant::now();
    let (status, message) = refusal(
        client
            .upload_dataset("labels", "label", None, csv.into_bytes())
            .await,
    );
    assert_eq!(status, 400);
    assert!(
        message.contains("label column 'label' has more than 1000 classes"),
        "{message}"
    );
    assert!(message.contains("--task regression"), "{message}");
    // Refused early, not after a quadratic label lookup (which took 15 s of CPU).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(client.list_datasets().await.unwrap().is_empty());
}
