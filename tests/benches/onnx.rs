//! ONNX benchmark, side by side in one run:
//! - In process, for the digits MLP and CNN fixtures: p50/p99 of one prediction of 1 and of 64
//!   rows: Slipway's runtime (tract through `tract-onnx`: the graph on rows already encoded, what
//!   onnxruntime's `session.run` does) against onnxruntime in Python with the same number of
//!   threads, one; and beside it Slipway's whole path serving takes (checks, forward pass,
//!   softmax, labelled answers). tract runs a call on the calling thread and does not split
//!   it across cores (serving gets its parallelism from concurrent calls), so onnxruntime gets
//!   one intra-op thread too; a last column shows onnxruntime with every core
//!   (`RAYON_NUM_THREADS`, else all), for what a multi-threaded call would gain.
//! - Over HTTP, on a release server on loopback: one-row predict requests on 8 keep-alive
//!   connections to the imported MLP and to the same architecture trained by Slipway (MLP 64).
//!
//! Run with `cargo bench -p slipway-tests --bench onnx` (`BENCH_SECONDS=2` for a quick look,
//! `BENCH_IN_PROCESS_ONLY=1` for the in-process table alone);
//! it needs the Python venv of the end-to-end tests (onnxruntime).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed benchmark

use slipway_api::{DeployRequest, ImportModel, TrainSpec};
use slipway_ml::Dataset;
use slipway_ml::inference::Engine;
use slipway_ml::onnx::{ImportSpec, OnnxGraph, import_manifest};
use slipway_tests::bench::predict_load;
use slipway_tests::{TestServer, python, run_job};
use std::path::PathBuf;
use std::time::Instant;

const DIGITS: &[u8] = include_bytes!("../../datasets/digits.csv");

/// The server's allocator, so that the in-process figures are what serving would see: the
/// C library's returns large buffers to the system after each call, and the next call pays
/// page faults for them again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// The graph alone (tract's run on rows already encoded as float32), to tell the runtime's
/// share from the engine's checks and labelled answers.
fn graph_only(file: &str, data: &Dataset, rows: usize, iterations: usize) -> (f64, f64) {
    let graph = OnnxGraph::load(&std::fs::read(fixture(file)).unwrap()).unwrap();
    let flat: Vec<f32> = data.features[..rows]
        .iter()
        .flatten()
        .map(|&v| v as f32)
        .collect();
    for _ in 0..(iterations / 10).max(10) {
        graph.run(&flat, rows).unwrap();
    }
    let times = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            graph.run(&flat, rows).unwrap();
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
    println!("in process, one thread each (p50 / p99, µs)");
    println!(
        "| model | rows | the graph (tract) | onnxruntime | graph / onnxruntime (p50) | Slipway's whole path | whole path / onnxruntime | onnxruntime, {threads} threads |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for file in ["digits_mlp.onnx", "digits_cnn.onnx"] {
        for rows in [1, 64] {
            let iterations = if rows == 1 { 2000 } else { 500 };
            let (our50, our99) = ours(file, &data, rows, iterations);
            let (graph50, graph99) = graph_only(file, &data, rows, iterations);
            let (their50, their99) = theirs(file, rows, iterations, 1);
            let (all50, all99) = theirs(file, rows, iterations, threads);
            println!(
                "| {file} | {rows} | {graph50:.1} / {graph99:.0} | {their50:.1} / {their99:.0} | {:.2}× | {our50:.1} / {our99:.0} | {:.2}× | {all50:.1} / {all99:.0} |",
                graph50 / their50,
                our50 / their50
            );
        }
    }

    if std::env::var_os("BENCH_IN_PROCESS_ONLY").is_some() {
        return;
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
        predict_load(&server.url, &token, deployment, body(), 8, 0.5).await;
        let load = predict_load(&server.url, &token, deployment, body(), 8, seconds).await;
        println!(
            "| {label} | {:.0} | {:.2} | {:.2} |",
            load.per_second(),
            load.ms(0.5),
            load.ms(0.99)
        );
    }
}
