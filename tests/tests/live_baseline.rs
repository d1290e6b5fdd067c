//! Drift for a version registered without training data: an ONNX model imported with only a
//! signature takes its first live rows as its baseline. While they come in, its drift status
//! says it is collecting (with how many of how many); the rows gathered outlive a restart;
//! once complete, normal digits are stable against it and inverted digits raise a drift
//! alert, exactly as against a dataset baseline.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{Client, DeployRequest, PredictRequest, Role, SloPolicy};
use slipway_tests::{TestServer, digits_instances, eventually, new_token};
use std::path::PathBuf;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Sends `rows` in requests of 50, alternating between two callers (drift counts only rows
/// from more than one).
async fn send(callers: [&Client; 2], rows: &[serde_json::Value]) {
    for (i, chunk) in rows.chunks(50).enumerate() {
        let request = PredictRequest {
            instances: chunk.to_vec(),
            key: None,
        };
        callers[i % 2].predict("digits", &request).await.unwrap();
    }
}

async fn ready(client: &Client) {
    eventually("the server ready", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.ready().await.ok() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_without_data_takes_its_first_live_rows_as_its_drift_baseline() {
    let mut server = TestServer::start();
    let client = server.admin();
    // A signature only: the input names and labels, no data to take a baseline from.
    let dir = tempfile::tempdir().unwrap();
    let signature = dir.path().join("signature.json");
    let inputs: Vec<String> = (0..64).map(|i| format!("pixel_{i}")).collect();
    let labels: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    std::fs::write(
        &signature,
        serde_json::json!({ "inputs": inputs, "labels": labels }).to_string(),
    )
    .unwrap();
    let onnx = repo().join("tests/fixtures/onnx/digits_mlp.onnx");
    let (ok, _, err) = server.cli(&[
        "models",
        "import",
        "digits",
        "--onnx",
        onnx.to_str().unwrap(),
        "--signature",
        signature.to_str().unwrap(),
    ]);
    assert!(ok, "import: {err}");
    let request = DeployRequest {
        model: Some("digits".into()),
        version: Some(1),
        ..DeployRequest::default()
    };
    client.deploy("digits", &request, None).await.unwrap();
    // The default baseline is the first 500 rows.
    let policy = SloPolicy {
        drift_window_rows: 400,
        min_drift_rows: 200,
        ..SloPolicy::default()
    };
    assert_eq!(policy.baseline_rows, 500);
    client
        .set_slo_policy("digits", &policy, Some("test window"))
        .await
        .unwrap();
    let viewer_token = new_token(&client, "dashboard", Role::Viewer).await;
    let viewer = server.client(Some(viewer_token.clone()));
    let normal = digits_instances(|v| v);

    send([&client, &viewer], &normal[..300]).await;
    let report = client.drift("digits").await.unwrap();
    assert_eq!(report.status, "collecting_baseline");
    let live = report.live_baseline.unwrap();
    assert_eq!((live.rows, live.target, live.complete), (300, 500, false));
    let (ok, out, err) = server.cli(&["monitor", "digits"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("collecting a baseline from live rows (300 of 500)"),
        "{out}"
    );

    // The rows gathered are in the database: a restart keeps them.
    server.kill9();
    server.restart();
    let client = server.admin();
    ready(&client).await;
    let viewer = server.client(Some(viewer_token));
    let report = client.drift("digits").await.unwrap();
    assert_eq!(report.live_baseline.unwrap().rows, 300);

    // 200 more normal rows complete it, and are judged against it: stable.
    send([&client, &viewer], &normal[300..500]).await;
    let report = client.drift("digits").await.unwrap();
    let live = report.live_baseline.clone().unwrap();
    assert_eq!((live.rows, live.target, live.complete), (500, 500, true));
    assert_eq!((report.rows, report.callers), (200, 2));
    assert_eq!(report.features.len(), 64);
    assert_eq!(report.status, "stable", "{:?}", &report.features[..3]);

    // Inverted pixels: the same digits, a different world.
    let inverted = digits_instances(|v| 16.0 - v);
    send([&client, &viewer], &inverted[500..900]).await;
    let report = client.drift("digits").await.unwrap();
    assert_eq!(report.status, "alert");
    let worst = &report.features[0];
    assert!(worst.psi > 0.2, "{worst:?}");
    assert!(report.prediction_psi.is_some());
    let alert = eventually("a drift alert", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let alerts = client.alerts(Some("digits"), true).await.ok()?;
            alerts.into_iter().find(|a| a.kind == "drift")
        }
    })
    .await;
    assert!(alert.message.contains(&worst.feature), "{}", alert.message);
}
