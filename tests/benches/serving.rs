//! Serving benchmark: release servers on loopback, each with a worker that trains digits
//! (MLP 64) and a deployment of it.
//! - Predict throughput and p50/p99 of one-row requests at 1 and 8 concurrent keep-alive
//!   connections, with micro-batching (the default) and without (`--batch-max-rows 1`), and
//!   with monitoring (the default) and without (`--monitoring false`), for its overhead.
//! - Rollback latency: from sending `rollback` to the first answer from the old version, with
//!   one connection predicting all along.
//! - Serving replicas (`slipway serve`): throughput and p50 at 8 connections against the server
//!   itself, one replica, and two replicas sharing the connections. Every process and the load
//!   itself share this machine's cores, so a second replica adds no cores; the figures show
//!   what a replica costs, not how far replicas scale on separate machines.
//!
//! Run with `cargo bench -p slipway-tests --bench serving` (`BENCH_SECONDS=2` for a quick look).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed benchmark

use slipway_api::{ChangeRequest, Client, DeployRequest, PredictResponse, TrainSpec};
use slipway_tests::bench::{predict_load, predict_load_across};
use slipway_tests::{TestServer, eventually, run_job};
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
        predict_load(&server.url, &token, "digits", body(), 8, 0.5).await;
        for connections in [1, 8] {
            let result =
                predict_load(&server.url, &token, "digits", body(), connections, seconds).await;
            println!(
                "| {label} | {connections} | {:.0} | {:.2} | {:.2} |",
                result.per_second(),
                result.ms(0.5),
                result.ms(0.99),
            );
        }
        if rollback.is_empty() {
            for _ in 0..5 {
                rollback.push(rollback_latency(&server.admin()).await);
            }
        }
    }
    serving_replicas(seconds).await;
    rollback.sort_by(f64::total_cmp);
    println!(
        "rollback → first answer from the old version: median {:.1} ms, worst {:.1} ms (5 rollbacks)",
        rollback[rollback.len() / 2],
        rollback[rollback.len() - 1]
    );
}

/// Predict load at 8 connections on the server itself, then on one and on two serving replicas.
async fn serving_replicas(seconds: f64) {
    let server = TestServer::start();
    let _worker = server.worker("bench", &[]);
    prepare(&server).await;
    let token = server.admin_token();
    let replicas: Vec<_> = (0..2).map(|_| server.serving_replica(&token)).collect();
    for replica in &replicas {
        let ready = format!("{}/readyz", replica.url);
        eventually(
            "the serving replica to be ready",
            Duration::from_secs(60),
            || {
                let ready = ready.clone();
                async move {
                    let answer = reqwest::get(&ready).await.ok()?;
                    answer.status().is_success().then_some(())
                }
            },
        )
        .await;
    }
    println!("\none-row predict requests, 8 connections, {seconds} s each, all on this machine");
    println!("| served by | requests/s | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- |");
    let targets: [(&str, Vec<&str>); 3] = [
        ("the server", vec![server.url.as_str()]),
        ("1 serving replica", vec![replicas[0].url.as_str()]),
        (
            "2 serving replicas",
            replicas
                .iter()
                .map(|replica| replica.url.as_str())
                .collect(),
        ),
    ];
    for (label, urls) in targets {
        predict_load_across(&urls, &token, "digits", body(), 8, 0.5).await;
        let result = predict_load_across(&urls, &token, "digits", body(), 8, seconds).await;
        println!(
            "| {label} | {:.0} | {:.2} | {:.2} |",
            result.per_second(),
            result.ms(0.5),
            result.ms(0.99),
        );
    }
}
