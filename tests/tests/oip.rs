//! The Open Inference Protocol with real clients against the real binary: the Triton HTTP
//! client (readiness, metadata, infer in JSON and with binary inputs and outputs, a named
//! version, a bad shape) gives the same labels as our own predict endpoint; `curl` posts JSON
//! without a content type; the binary extension's responses carry their header and type; a
//! shadow version answers when named.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::oip::{self, HEADER_LENGTH};
use slipway_api::{
    Client, DeployRequest, InferRequest, InferTensor, PredictRequest, Prediction, Role, TrainSpec,
};
use slipway_ml::Dataset;
use slipway_tests::{TestServer, eventually, new_token, python};
use std::process::Command;
use std::time::Duration;

const DIGITS: &[u8] = include_bytes!("../../datasets/digits.csv");
const ROWS: usize = 32;

/// Trains a small digits model and registers it; returns the version.
async fn train(client: &Client, seed: u64) -> u32 {
    let spec = TrainSpec {
        dataset: "digits".into(),
        hidden: Some(vec![32]),
        epochs: Some(8),
        seed: Some(seed),
        register_as: Some("digits".into()),
        ..TrainSpec::default()
    };
    slipway_tests::train_and_register(client, spec).await
}

/// The first `ROWS` digits rows, in feature order.
fn rows() -> Vec<Vec<f64>> {
    let data = Dataset::from_csv(DIGITS, "label", None).unwrap();
    data.features.into_iter().take(ROWS).collect()
}

/// The labels our own predict endpoint gives `rows`.
async fn predicted_labels(client: &Client, rows: &[Vec<f64>]) -> Vec<String> {
    let request = PredictRequest {
        instances: rows.iter().map(|row| serde_json::json!(row)).collect(),
        key: None,
    };
    let answer = client.predict("digits", &request).await.unwrap();
    answer
        .predictions
        .into_iter()
        .map(|prediction| match prediction {
            Prediction::Class { label, .. } => label.to_string(),
            Prediction::Value(value) => panic!("expected a class, got {value}"),
        })
        .collect()
}

fn infer_request(rows: &[Vec<f64>]) -> InferRequest {
    InferRequest {
        id: Some("rust-1".into()),
        inputs: vec![InferTensor {
            name: "input-0".into(),
            shape: vec![rows.len() as i64, 64],
            datatype: "FP32".into(),
            data: serde_json::json!(rows.concat()),
            parameters: None,
        }],
        parameters: Some(serde_json::json!({ "binary_data_output": true })),
        outputs: None,
    }
}

/// Posts `body_file` with `curl`, with `extra` headers; returns (status, content type, body).
fn curl(
    url: &str,
    token: &str,
    body_file: &std::path::Path,
    extra: &[&str],
) -> (u16, String, String) {
    let output = Command::new("curl")
        .args(["-s", "-X", "POST", "-w", "\n%{http_code} %{content_type}"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(extra)
        .arg("--data-binary")
        .arg(format!("@{}", body_file.display()))
        .arg(url)
        .output()
        .expect("run curl");
    assert!(output.status.success(), "curl failed: {output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, last) = text.rsplit_once('\n').unwrap();
    let (status, content_type) = last.split_once(' ').unwrap();
    (
        status.parse().unwrap(),
        content_type.to_owned(),
        body.to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_oip_clients_infer_in_json_and_binary() {
    // Made first: a venv that cannot be made fails here, before any training.
    let venv = tokio::task::spawn_blocking(python::venv).await.unwrap();
    assert!(venv.join("bin").join("python").exists());

    let server = TestServer::up();
    let admin = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = admin.clone();
        async move { client.dataset_versions("digits").await.ok() }
    })
    .await;
    let v1 = train(&admin, 7).await;
    let v2 = train(&admin, 8).await;
    admin
        .deploy(
            "digits",
            &DeployRequest {
                model: Some("digits".into()),
                version: Some(v1),
                shadow_version: Some(v2),
                ..DeployRequest::default()
            },
            None,
        )
        .await
        .unwrap();
    let viewer = new_token(&admin, "triton-user", Role::Viewer).await;
    let client = server.client(Some(viewer.clone()));
    let rows = rows();
    let expected = eventually("the deployment to answer", Duration::from_secs(60), || {
        let client = client.clone();
        let rows = rows.clone();
        async move {
            let request = PredictRequest {
                instances: vec![serde_json::json!(rows[0])],
                key: None,
            };
            client.predict("digits", &request).await.ok()
        }
    })
    .await;
    assert_eq!(expected.model_version, v1);
    let expected = predicted_labels(&client, &rows).await;

    // The Triton client.
    let dir = tempfile::tempdir().unwrap();
    let rows_file = dir.path().join("rows.json");
    std::fs::write(&rows_file, serde_json::to_vec(&rows).unwrap()).unwrap();
    let host = server.url.trim_start_matches("http://").to_owned();
    let version = v1.to_string();
    let args = [
        host,
        "digits".to_owned(),
        version.clone(),
        rows_file.to_str().unwrap().to_owned(),
    ];
    let run = tokio::task::spawn_blocking({
        let viewer = viewer.clone();
        move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            python::run_script("oip_triton.py", &args, &[("SLIPWAY_TOKEN", &viewer)])
        }
    })
    .await
    .unwrap();
    let seen: serde_json::Value =
        serde_json::from_str(run.expect_success("the Triton client script")).unwrap();
    for probe in ["live", "ready", "model_ready", "version_ready"] {
        assert_eq!(seen[probe], true, "{probe}: {seen}");
    }
    assert_eq!(seen["other_version_ready"], false, "{seen}");
    assert!(
        seen["server_metadata"]["extensions"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("binary_tensor_data")),
        "{seen}"
    );
    assert_eq!(
        seen["metadata"]["inputs"][0]["shape"],
        serde_json::json!([-1, 64])
    );
    assert_eq!(
        seen["metadata"]["versions"],
        serde_json::json!([v1.to_string(), v2.to_string()])
    );
    assert_eq!(
        seen["version_metadata"]["versions"],
        serde_json::json!([version])
    );
    let expected_json = serde_json::json!(expected);
    assert_eq!(seen["json_labels"], expected_json, "JSON infer");
    assert_eq!(seen["json_id"], "json-1");
    assert_eq!(
        seen["json_probabilities_shape"],
        serde_json::json!([ROWS, 10])
    );
    assert_eq!(seen["binary_labels"], expected_json, "binary infer");
    assert_eq!(seen["binary_id"], "binary-1");
    assert_eq!(
        seen["binary_probabilities_shape"],
        serde_json::json!([ROWS, 10])
    );
    for sum in seen["binary_row_sums"].as_array().unwrap() {
        assert!((sum.as_f64().unwrap() - 1.0).abs() < 0.01, "{seen}");
    }
    assert_eq!(
        seen["binary_output_parameters"][1]["binary_data_size"],
        ROWS * 10 * 8,
        "{seen}"
    );
    assert_eq!(
        seen["version_labels"], expected_json,
        "infer from a version"
    );
    assert_eq!(seen["version_outputs"], serde_json::json!(["label"]));
    assert_eq!(seen["version_answered"], version);
    let missing = seen["missing_version_error"].as_str().unwrap();
    assert!(
        missing.contains("[404]")
            && missing.contains("does not serve version 999")
            && missing.contains(&format!("{v1} (primary), {v2} (shadow)")),
        "{missing}"
    );
    let bad_shape = seen["bad_shape_error"].as_str().unwrap();
    assert_eq!(
        bad_shape,
        format!(
            "[400] inputs[0].shape: expected [rows, 64] (one value per feature of version {v1}), got [{ROWS}, 63]"
        )
    );
    let unauthenticated = seen["unauthenticated_error"].as_str().unwrap();
    assert!(
        unauthenticated.starts_with("[401] a bearer token is required"),
        "{unauthenticated}"
    );

    // curl, JSON without a content type, and with curl's default form type.
    let body_file = dir.path().join("infer.json");
    let mut json_request = infer_request(&rows);
    json_request.parameters = None;
    std::fs::write(&body_file, serde_json::to_vec(&json_request).unwrap()).unwrap();
    let url = format!("{}/v2/models/digits/infer", server.url);
    for extra in [&["-H", "Content-Type:"][..], &[][..]] {
        let (status, content_type, body) = curl(&url, &viewer, &body_file, extra);
        assert_eq!(status, 200, "{extra:?}: {body}");
        assert_eq!(content_type, "application/json");
        let answer: slipway_api::InferResponse = serde_json::from_str(&body).unwrap();
        assert_eq!(answer.id.as_deref(), Some("rust-1"));
        assert_eq!(answer.outputs[0].data, expected_json);
    }

    // The binary extension from our own codec: header, content type, and the same labels.
    let (body, length) = oip::encode_request(infer_request(&rows), true).unwrap();
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&viewer)
        .header(HEADER_LENGTH, length.unwrap().to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let header_length = response.headers()[HEADER_LENGTH]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.bytes().await.unwrap();
    let answer = oip::decode_response(&bytes, Some(&header_length)).unwrap();
    assert_eq!(answer.outputs[0].data, expected_json);

    // The shadow answers when named, and says so.
    let shadow = client
        .infer_version("digits", v2, &infer_request(&rows[..2]))
        .await
        .unwrap();
    assert_eq!(shadow.model_version, v2.to_string());
    assert_eq!(shadow.parameters.unwrap()["variant"], "shadow");
}
