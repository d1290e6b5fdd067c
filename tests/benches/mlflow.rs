//! The MLflow API against the real MLflow tracking server: the same load, over the same
//! MLflow REST calls, sent to Slipway (release server, SQLite) and to `mlflow server` on a
//! SQLite backend, in one run (one server after the other, the MLflow server measured once its
//! helper processes have settled), printing a table with the ratio:
//! - log-batch throughput (metric points/s, batches of 100, one client);
//! - filtered run search p50 (`metrics.acc > 0.5 and params.lr = '0.01'`, 100 runs a page,
//!   over 1,000 runs), each answer decoded into typed runs as MLflow's clients decode it;
//! - the p50 of reading a 10,000-point metric history whole.
//!
//! Run with `cargo bench -p slipway-tests --bench mlflow`. The MLflow server comes from a
//! venv made from `tests/python/bench-requirements.txt` (once per machine and version of that
//! file, like the tests' venv). `BENCH_SCALE=0.1` shrinks every count for a quick look;
//! `BENCH_SLIPWAY_ONLY=1` measures Slipway alone and `BENCH_QUERIES=20000` times that many
//! searches (to profile the server meanwhile).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed benchmark

use serde::Deserialize;
use serde_json::{Value, json};
use slipway_tests::bench::{ms, percentile, scale, settle};
use slipway_tests::{TestServer, python};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The allocator the servers' own client (the `slipway` binary) runs on; with the C library's,
/// decoding each answer into a JSON tree cost the client about as much as the server spent on
/// the search.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An MLflow API at `url`, with a bearer token or none.
struct Target {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl Target {
    async fn call(&self, method: reqwest::Method, path: &str, body: &Value) -> Value {
        serde_json::from_slice(&self.call_for_bytes(method, path, body).await).unwrap()
    }

    /// The answer's body, checked to be a success.
    async fn call_for_bytes(&self, method: reqwest::Method, path: &str, body: &Value) -> Vec<u8> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.url);
        let mut request = self.http.request(method.clone(), &url);
        request = if method == reqwest::Method::GET {
            let pairs: Vec<(String, String)> = body
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
                .collect();
            request.query(&pairs)
        } else {
            request.json(body)
        };
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let body = answer.bytes().await.unwrap();
        assert!(
            status.is_success(),
            "{path}: {status}: {}",
            String::from_utf8_lossy(&body)
        );
        body.into()
    }

    /// A page of runs, decoded as MLflow's clients decode it: into typed runs (its Python
    /// client into protobuf messages), not into a tree of JSON values.
    async fn search(&self, body: Value) -> SearchPage {
        let answer = self
            .call_for_bytes(reqwest::Method::POST, "runs/search", &body)
            .await;
        serde_json::from_slice(&answer).unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, &body).await
    }

    async fn get(&self, path: &str, query: Value) -> Value {
        self.call(reqwest::Method::GET, path, &query).await
    }

    async fn run(&self, experiment: &str) -> String {
        let run = self
            .post(
                "runs/create",
                json!({"experiment_id": experiment, "start_time": 1}),
            )
            .await;
        run["run"]["info"]["run_id"].as_str().unwrap().to_owned()
    }
}

/// `runs/search`'s answer, with every field of MLflow's `Run` message that either server writes.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read only by the decoder, which is what is measured
struct SearchPage {
    #[serde(default)]
    runs: Vec<SearchedRun>,
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct SearchedRun {
    info: RunInfo,
    #[serde(default)]
    data: RunData,
    // Parsed and checked, but not kept: the benchmark reads neither.
    #[serde(default)]
    inputs: serde::de::IgnoredAny,
    #[serde(default)]
    outputs: serde::de::IgnoredAny,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct RunInfo {
    run_id: String,
    run_uuid: String,
    #[serde(default)]
    run_name: String,
    experiment_id: String,
    #[serde(default)]
    user_id: String,
    status: String,
    start_time: i64,
    end_time: Option<i64>,
    artifact_uri: String,
    lifecycle_stage: String,
}

#[derive(Debug, Default, Deserialize)]
#[allow(dead_code)]
struct RunData {
    #[serde(default)]
    metrics: Vec<MetricPoint>,
    #[serde(default)]
    params: Vec<Pair>,
    #[serde(default)]
    tags: Vec<Pair>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct MetricPoint {
    key: String,
    value: f64,
    timestamp: i64,
    step: i64,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Pair {
    key: String,
    value: String,
}

fn batch(key: &str, from: usize, count: usize) -> Vec<Value> {
    (from..from + count)
        .map(|step| {
            json!({"key": key, "value": step as f64 / 7.0, "timestamp": 1_700_000_000_000u64 + step as u64, "step": step})
        })
        .collect()
}

/// Log-batch points/s, filtered search p50 and 10,000-point history p50.
async fn measure(target: &Target, label: &str) -> (f64, Duration, Duration) {
    let experiment = target
        .post(
            "experiments/create",
            json!({"name": format!("bench-{label}")}),
        )
        .await["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Log-batch throughput: one client, batches of 100 points.
    let run = target.run(&experiment).await;
    let batches = scale(300);
    let started = Instant::now();
    for i in 0..batches {
        target
            .post(
                "runs/log-batch",
                json!({"run_id": run, "metrics": batch("loss", i * 100, 100)}),
            )
            .await;
    }
    let rate = (batches * 100) as f64 / started.elapsed().as_secs_f64();

    // A 10,000-point history, read whole.
    let points = scale(10_000);
    let history_run = target.run(&experiment).await;
    for from in (0..points).step_by(1000) {
        let count = 1000.min(points - from);
        target
            .post(
                "runs/log-batch",
                json!({"run_id": history_run, "metrics": batch("h", from, count)}),
            )
            .await;
    }
    let mut samples = Vec::new();
    for _ in 0..scale(30).max(5) {
        let started = Instant::now();
        let answer = target
            .get(
                "metrics/get-history",
                json!({"run_id": history_run, "metric_key": "h"}),
            )
            .await;
        samples.push(started.elapsed());
        assert_eq!(answer["metrics"].as_array().unwrap().len(), points);
    }
    samples.sort();
    let history = percentile(&samples, 0.5);

    // A filtered search over 1,000 runs.
    let runs = scale(1000);
    for i in 0..runs {
        let run = target.run(&experiment).await;
        let lr = if i % 4 == 0 { "0.01" } else { "0.1" };
        target
            .post(
                "runs/log-batch",
                json!({
                    "run_id": run,
                    "metrics": [{"key": "acc", "value": (i % 100) as f64 / 100.0, "timestamp": 1, "step": 0}],
                    "params": [{"key": "lr", "value": lr}],
                }),
            )
            .await;
    }
    let matching = (0..runs).filter(|i| i % 4 == 0 && i % 100 > 50).count();
    let searches = std::env::var("BENCH_QUERIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(scale(200).max(5));
    let mut samples = Vec::new();
    for _ in 0..searches {
        let started = Instant::now();
        let page = target
            .search(json!({
                "experiment_ids": [experiment],
                "filter": "metrics.acc > 0.5 and params.lr = '0.01'",
                "max_results": 100,
            }))
            .await;
        samples.push(started.elapsed());
        assert_eq!(page.runs.len(), matching.min(100));
    }
    samples.sort();
    (rate, percentile(&samples, 0.5), history)
}

/// `mlflow server` on a SQLite file in `dir`, at a free port, in a process group of its own
/// (it starts uvicorn, a job runner and several task consumers); the whole group is killed
/// when dropped.
struct MlflowServer {
    child: Child,
    url: String,
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

async fn start_mlflow(dir: &std::path::Path) -> MlflowServer {
    let venv = python::venv_for("bench-requirements.txt");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(venv.join("bin").join("mlflow"))
        .process_group(0)
        .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--backend-store-uri")
        .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
        .arg("--artifacts-destination")
        .arg(dir.join("artifacts"))
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = MlflowServer {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let ready = http
            .get(format!("{}/health", server.url))
            .send()
            .await
            .is_ok_and(|answer| answer.status().is_success());
        if ready {
            // Its helper processes are still importing MLflow when it first answers.
            settle(server.child.id(), Duration::from_secs(180)).await;
            return server;
        }
        assert!(Instant::now() < deadline, "mlflow server did not start");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One thread, as MLflow's Python client has: every request waits for the one before, so
/// a second thread only adds hand-overs between the client's tasks to each request.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let slipway = TestServer::start();
    let slipway_target = Target {
        http: reqwest::Client::new(),
        url: slipway.url.clone(),
        token: Some(slipway.admin_token()),
    };
    // One server at a time, so that neither's background work weighs on the other's figures.
    let ours = measure(&slipway_target, "slipway").await;
    drop(slipway);
    if std::env::var_os("BENCH_SLIPWAY_ONLY").is_some() {
        println!(
            "\nSlipway alone: log-batch {:.0} points/s, search p50 {}, history p50 {}\n",
            ours.0,
            ms(ours.1),
            ms(ours.2)
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mlflow = start_mlflow(dir.path()).await;
    let mlflow_target = Target {
        http: reqwest::Client::new(),
        url: mlflow.url.clone(),
        token: None,
    };
    let theirs = measure(&mlflow_target, "mlflow").await;

    println!("\nThe MLflow API: Slipway vs the MLflow server (both SQLite, loopback)\n");
    println!("| measurement | Slipway | MLflow | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| log-batch (100 points, 1 client) | {:.0} points/s | {:.0} points/s | {:.1}× |",
        ours.0,
        theirs.0,
        ours.0 / theirs.0
    );
    println!(
        "| search p50 (filter, 100/page, {} runs) | {} | {} | {:.1}× |",
        scale(1000),
        ms(ours.1),
        ms(theirs.1),
        theirs.1.as_secs_f64() / ours.1.as_secs_f64()
    );
    println!(
        "| history p50 ({} points) | {} | {} | {:.1}× |",
        scale(10_000),
        ms(ours.2),
        ms(theirs.2),
        theirs.2.as_secs_f64() / ours.2.as_secs_f64()
    );
    println!();
}
