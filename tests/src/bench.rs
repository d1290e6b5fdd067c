//! What the benchmarks in `benches/` share: the `BENCH_SCALE` knob, percentiles, the one-row
//! predict load that the serving and ONNX benchmarks drive over keep-alive connections, and
//! the CPU time of processes (to report a server's use, or wait for a rival to settle).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `n` scaled by `BENCH_SCALE` (default 1), at least 1: a smaller run for a quick look.
pub fn scale(n: usize) -> usize {
    let factor: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * factor) as usize).max(1)
}

/// The `p` quantile (0 to 1) of `sorted`, nearest rank.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// `d` in milliseconds, two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// What a predict load achieved.
#[derive(Debug)]
pub struct Load {
    pub requests: usize,
    pub seconds: f64,
    /// Each request's latency, sorted.
    pub latencies: Vec<Duration>,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The `p` quantile of the latencies in milliseconds.
    pub fn ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p).as_secs_f64() * 1000.0
    }
}

/// `connections` tasks, each on its own keep-alive connection, send `body` to `deployment`'s
/// predict endpoint at `url` back to back for `seconds`. Every answer must be a success.
pub async fn predict_load(
    url: &str,
    token: &str,
    deployment: &str,
    body: Vec<u8>,
    connections: usize,
    seconds: f64,
) -> Load {
    predict_load_across(&[url], token, deployment, body, connections, seconds).await
}

/// [`predict_load`] spread over several servers: the connections go to `urls` in turn.
pub async fn predict_load_across(
    urls: &[&str],
    token: &str,
    deployment: &str,
    body: Vec<u8>,
    connections: usize,
    seconds: f64,
) -> Load {
    let body = Arc::new(body);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let url = urls[connection % urls.len()];
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .build()
            .expect("an HTTP client");
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
                    .expect("a predict request");
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.expect("a predict answer");
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a load task"));
    }
    latencies.sort_unstable();
    Load {
        requests: latencies.len(),
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    }
}

/// The fields of `/proc/PID/stat` after the command name (state first), or none where there is
/// no such process (or no `/proc`).
fn proc_stat(pid: &str) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// User and system CPU seconds in `/proc/PID/stat`'s fields.
fn stat_cpu_seconds(fields: &[String]) -> f64 {
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// CPU seconds the process `pid` has used so far (Linux; 0 elsewhere).
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&proc_stat(&pid.to_string()))
}

/// CPU seconds the live processes of process group `group` have used so far (Linux).
pub fn group_cpu_seconds(group: u32) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .map(|pid| proc_stat(&pid))
        .filter(|fields| fields.get(2).is_some_and(|pgrp| *pgrp == group.to_string()))
        .map(|fields| stat_cpu_seconds(&fields))
        .sum()
}

/// Waits until process group `group` is idle (under 5 % of a core for two seconds in a row),
/// at most `limit`: a server that answers its health check may still be starting helper
/// processes, and their start-up would weigh on whatever is measured next.
pub async fn settle(group: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut quiet = 0;
    let mut before = group_cpu_seconds(group);
    while quiet < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = group_cpu_seconds(group);
        quiet = if now - before < 0.05 { quiet + 1 } else { 0 };
        before = now;
    }
}
