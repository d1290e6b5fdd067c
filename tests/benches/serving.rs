//! Serving benchmark: release servers on loopback, each with a worker that trains digits
//! (MLP 64) and a deployment of it.
//! - Predict throughput and p50/p99 of one-row requests at 1 and 8 concurrent keep-alive
//!   connections, with micro-batching (the default) and without (`--batch-max-rows 1`), and
//!   with monitoring (the default) and without (`--monitoring false`), for its overhead.
//! - Rollback latency: from sending `rollback` to the first answer from the old version, with
//!   one connection predicting all along.
//!
//! Run with `cargo bench -p slipway-tests --bench serving` (`BENCH_SECONDS=2` for a quick look).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed benchmark

use slipway_api::{ChangeRequest, Client, DeployRequest, PredictResponse, TrainSpec};
use slipway_tests::{TestServer, run_job};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DIGITS: &[u8] = include_bytes!("../../datasets/digits.csv");

/// Trains and registers digits twice (versions 1 and 2), then deploys version 1.
async fn prepare(server: &TestServer) {
    let client = server.admin();
    client
        .upload_dataset("digits", "label", None, DIGITS.to_vec())
        .await
        .unwrap();
    for seed in [7, 8] {
        let spec = TrainSpec {
            dataset: "digits".into(),
            hidden: Some(vec![64]),
            epochs: Some(20),
            seed: Some(seed),
            register_as: Some("digits".into()),
            ..TrainSpec::default()
        };
        run_job(&client, spec).await;
    }
    let first = DeployRequest {
        model: Some("digits".into()),
        version: Some(1),
        ..DeployRequest::default()
    };
    client.deploy("digits", &first, None).await.unwrap();
}

/// One digits row as a predict body, serialised once.
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

struct Load {
    requests: usize,
    seconds: f64,
    latencies_us: Vec<u64>,
}

/// `connections` tasks each send one-row requests back to back on their own keep-alive
/// connection for `seconds`.
async fn load(url: &str, token: &str, connections: usize, seconds: f64) -> Load {
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
        let endpoint = format!("{url}/api/v1/deployments/digits/predict");
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
                latencies.push(sent.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await.unwrap());
    }
    latencies_us.sort_unstable();
    Load {
        requests: latencies_us.len(),
        seconds: started.elapsed().as_secs_f64(),
        latencies_us,
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

/// Milliseconds from sending a rollback to the first answer from the version it restores,
/// with one connection predicting throughout.
async fn rollback_latency(client: &Client) -> f64 {
    let upgrade = DeployRequest {
        version: Some(2),
        ..DeployRequest::default()
    };
    client.deploy("digits", &upgrade, None).await.unwrap();
    let request: slipway_api::PredictRequest = serde_json::from_slice(&body()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (client, stop) = (client.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut answers: Vec<(Instant, u32)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let answer: PredictResponse = client.predict("digits", &request).await.unwrap();
                answers.push((Instant::now(), answer.model_version));
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = Instant::now();
    client
        .rollback("digits", &ChangeRequest::default(), Some("benchmark"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let answers = watcher.await.unwrap();
    let first_old = answers
        .iter()
        .find(|(at, version)| *at > sent && *version == 1)
        .expect("an answer from version 1 after the rollback");
    (first_old.0 - sent).as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    println!("one-row predict requests on loopback, digits MLP 64, {seconds} s each");
    println!("| batching | monitoring | connections | requests/s | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut rollback = Vec::new();
    for (label, flags) in [
        ("on (64 rows, 1 ms) | on", &[][..]),
        ("off | on", &["--batch-max-rows", "1"][..]),
        ("on (64 rows, 1 ms) | off", &["--monitoring", "false"][..]),
    ] {
        let temp = tempfile::tempdir().unwrap();
        let server = TestServer::start_in(temp.path(), flags);
        let _worker = server.worker("bench", &[]);
        prepare(&server).await;
        let token = server.admin_token();
        // Warm up the connections and the model.
        load(&server.url, &token, 8, 0.5).await;
        for connections in [1, 8] {
            let result = load(&server.url, &token, connections, seconds).await;
            println!(
                "| {label} | {connections} | {:.0} | {:.2} | {:.2} |",
                result.requests as f64 / result.seconds,
                percentile(&result.latencies_us, 0.5),
                percentile(&result.latencies_us, 0.99),
            );
        }
        if rollback.is_empty() {
            for _ in 0..5 {
                rollback.push(rollback_latency(&server.admin()).await);
            }
        }
    }
    rollback.sort_by(f64::total_cmp);
    println!(
        "rollback → first answer from the old version: median {:.1} ms, worst {:.1} ms (5 rollbacks)",
        rollback[rollback.len() / 2],
        rollback[rollback.len() - 1]
    );
}
