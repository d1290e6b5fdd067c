//! ONNX benchmark, side by side in one run:
//! - In process, for the digits MLP and CNN fixtures: p50/p99 of one prediction of 1 and of 64
//!   rows, Slipway's engine (candle through candle-onnx, the whole path serving takes: checks,
//!   forward pass, softmax, labelled answers) against onnxruntime's `session.run` in Python,
//!   with the same number of threads (candle's, from `RAYON_NUM_THREADS` or every core).
//! - Over HTTP, on a release server on loopback: one-row predict requests on 8 keep-alive
//!   connections to the imported MLP and to the same architecture trained by Slipway (MLP 64).
//!
//! Run with `cargo bench -p slipway-tests --bench onnx` (`BENCH_SECONDS=2` for a quick look);
//! it needs the Python venv of the end-to-end tests (onnxruntime).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed benchmark

use slipway_api::{DeployRequest, ImportModel, TrainSpec};
use slipway_ml::Dataset;
use slipway_ml::inference::Engine;
use slipway_ml::onnx::{ImportSpec, import_manifest};
use slipway_tests::{TestServer, python, run_job};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DIGITS: &[u8] = include_bytes!("../../datasets/digits.csv");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/onnx").join(name)
}

fn percentiles(mut micros: Vec<f64>) -> (f64, f64) {
    micros.sort_by(f64::total_cmp);
    let at = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

/// Slipway's engine on the first `rows` digits rows, `iterations` times.
fn ours(file: &str, data: &Dataset, rows: usize, iterations: usize) -> (f64, f64) {
    let bytes = std::fs::read(fixture(file)).unwrap();
    let spec = ImportSpec {
        features: data.schema.features.clone(),
        task: "classification".into(),
        ..ImportSpec::default()
    };
    let manifest = import_manifest(&bytes, &spec).unwrap();
    let engine = Engine::load(&serde_json::to_vec(&manifest).unwrap(), &bytes).unwrap();
    let batch = data.features[..rows].to_vec();
    for _ in 0..(iterations / 10).max(10) {
        engine.predict(&batch).unwrap();
    }
    let times = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            engine.predict(&batch).unwrap();
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    percentiles(times)
}

/// onnxruntime's p50 and p99 for the same rows, from `tests/python/onnx_bench.py`.
fn theirs(file: &str, rows: usize, iterations: usize, threads: usize) -> (f64, f64) {
    let csv = repo().join("datasets/digits.csv");
    let run = python::run_script(
        "onnx_bench.py",
        &[
            &fixture(file).display().to_string(),
            &csv.display().to_string(),
            &rows.to_string(),
            &iterations.to_string(),
            &threads.to_string(),
        ],
        &[],
    );
    let out: serde_json::Value =
        serde_json::from_str(run.expect_success("onnxruntime's timing")).unwrap();
    (out["p50"].as_f64().unwrap(), out["p99"].as_f64().unwrap())
}

/// One digits row as a predict body.
fn body() -> Vec<u8> {
    let row: Vec<f64> = String::from_utf8_lossy(DIGITS)
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .take(64)
        .map(|v| v.parse().unwrap())
        .collect();
    serde_json::to_vec(&serde_json::json!({ "instances": [row] })).unwrap()
}

/// `connections` tasks each send one-row requests to `deployment` back to back for
/// `seconds`: requests per second, p50 and p99 in ms.
async fn load(
    url: &str,
    token: &str,
    deployment: &str,
    connections: usize,
    seconds: f64,
) -> (f64, f64, f64) {
    let body = Arc::new(body());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .build()
            .unwrap();
        let (body, stop) = (Arc::clone(&body), Arc::clone(&stop));
        let endpoint = format!("{url}/api/v1/deployments/{deployment}/predict");
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let response = http
                    .post(&endpoint)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.as_ref().clone())
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.unwrap();
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let requests = latencies.len() as f64 / started.elapsed().as_secs_f64();
    let (p50, p99) = percentiles(latencies);
    (requests, p50, p99)
}

#[tokio::main]
async fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let data = Dataset::from_csv(DIGITS, "label", None).unwrap();
    println!("in process, {threads} thread(s) each (p50 / p99, µs)");
    println!("| model | rows | Slipway (candle-onnx) | onnxruntime | ratio p50 |");
    println!("| --- | --- | --- | --- | --- |");
    for file in ["digits_mlp.onnx", "digits_cnn.onnx"] {
        for rows in [1, 64] {
            let iterations = if rows == 1 { 2000 } else { 500 };
            let (our50, our99) = ours(file, &data, rows, iterations);
            let (their50, their99) = theirs(file, rows, iterations, threads);
            println!(
                "| {file} | {rows} | {our50:.0} / {our99:.0} | {their50:.0} / {their99:.0} | {:.2}× |",
                our50 / their50
            );
        }
    }

    let temp = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(temp.path(), &[]);
    let _worker = server.worker("bench", &[]);
    let client = server.admin();
    client
        .upload_dataset("digits", "label", None, DIGITS.to_vec())
        .await
        .unwrap();
    let spec = TrainSpec {
        dataset: "digits".into(),
        hidden: Some(vec![64]),
        epochs: Some(20),
        seed: Some(7),
        register_as: Some("digits".into()),
        ..TrainSpec::default()
    };
    run_job(&client, spec).await;
    let request = ImportModel {
        dataset: Some("digits".into()),
        ..ImportModel::default()
    };
    let onnx = std::fs::read(fixture("digits_mlp.onnx")).unwrap();
    client
        .import_model("digits-onnx", &request, onnx, None)
        .await
        .unwrap();
    for (deployment, model) in [("trained", "digits"), ("imported", "digits-onnx")] {
        let deploy = DeployRequest {
            model: Some(model.into()),
            version: Some(1),
            ..DeployRequest::default()
        };
        client.deploy(deployment, &deploy, None).await.unwrap();
    }
    let token = server.admin_token();
    println!("\none-row predict requests over HTTP, 8 connections, {seconds} s each");
    println!("| model | requests/s | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- |");
    for (deployment, label) in [
        ("trained", "MLP 64 trained by Slipway"),
        ("imported", "MLP 64 imported (digits_mlp.onnx)"),
    ] {
        load(&server.url, &token, deployment, 8, 0.5).await;
        let (requests, p50, p99) = load(&server.url, &token, deployment, 8, seconds).await;
        println!("| {label} | {requests:.0} | {p50:.2} | {p99:.2} |");
    }
}
