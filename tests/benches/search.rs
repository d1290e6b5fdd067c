//! Run-search benchmark: starts the real `slipway` server (release build) on loopback, grows
//! one experiment to 1,000 and then 100,000 runs over HTTP, and prints p50/p99 of:
//! - `metrics.acc > 0.5 and params.lr = '0.1'` ordered by `metrics.acc DESC`, 100 per page, at
//!   1 and 8 concurrent clients;
//! - the costliest filter the caps allow (8 keys, 50 comparisons, no index can answer it),
//!   which the step budget refuses once the experiment is large: its time is then the most any
//!   search may spend.
//!
//! Run with `cargo bench -p slipway-tests --bench search`. `BENCH_SCALE=0.1` shrinks the run
//! counts for a quick look; `BENCH_SIZES=1000` measures only the first size, and
//! `BENCH_QUERIES=20000` times more searches per line (to profile the server meanwhile).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed benchmark

use slipway_api::{Client, SearchRuns};
use slipway_tests::bench::{ms, percentile, scale};
use slipway_tests::{TestServer, costliest_filter, populate_runs};
use std::time::{Duration, Instant};

/// The allocator the `slipway` binary runs on, so the benchmark's client decodes its pages as
/// the CLI's own client does (and as the server encodes them).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXPERIMENT: &str = "bench-search";

/// The run counts to measure at: `BENCH_SIZES` (comma-separated), else 1,000 and 100,000.
fn sizes() -> Vec<usize> {
    match std::env::var("BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|n| scale(n.trim().parse().expect("BENCH_SIZES: run counts")))
            .collect(),
        Err(_) => vec![scale(1_000), scale(100_000)],
    }
}

/// Searches timed per line: `BENCH_QUERIES`, else 400.
fn queries() -> usize {
    std::env::var("BENCH_QUERIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400)
}

/// p50 and p99 of `queries` searches spread over `clients` concurrent clients.
async fn latency(
    client: &Client,
    request: &SearchRuns,
    clients: usize,
    queries: usize,
) -> (Duration, Duration) {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = client.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in 0..queries.div_ceil(clients) {
                let started = Instant::now();
                client.search_runs(&request).await.expect("search");
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all.sort();
    (percentile(&all, 0.5), percentile(&all, 0.99))
}

/// p50 and p99 of `queries` sequential costliest searches, and how they ended: answered, or
/// refused by the step budget (then the time is what the budget lets any search spend).
async fn costliest(
    client: &Client,
    request: &SearchRuns,
    queries: usize,
) -> (Duration, Duration, &'static str) {
    let mut latencies = Vec::new();
    let mut refused = 0;
    for _ in 0..queries {
        let started = Instant::now();
        match client.search_runs(request).await {
            Ok(_) => {}
            Err(err) if err.to_string().contains("database steps") => refused += 1,
            Err(err) => panic!("the costliest search failed otherwise: {err}"),
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let outcome = match refused {
        0 => "answered",
        n if n == queries => "refused by the step budget",
        _ => "sometimes refused",
    };
    (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        outcome,
    )
}

#[tokio::main]
async fn main() {
    let server = TestServer::start();
    let client = server.admin();
    let experiment = client
        .create_experiment(&slipway_api::CreateExperiment {
            name: EXPERIMENT.into(),
            description: None,
        })
        .await
        .expect("experiment");
    let typical = SearchRuns {
        experiment_ids: vec![experiment.id],
        filter: Some("metrics.acc > 0.5 and params.lr = '0.1'".into()),
        order_by: vec!["metrics.acc DESC".into()],
        limit: Some(100),
        ..SearchRuns::default()
    };
    let worst = SearchRuns {
        experiment_ids: vec![experiment.id],
        filter: Some(costliest_filter()),
        limit: Some(100),
        ..SearchRuns::default()
    };

    println!("\nSlipway run-search benchmark (release server on loopback, SQLite)\n");
    println!("| runs | search | clients | p50 | p99 |");
    println!("|---|---|---|---|---|");
    let mut have = 0;
    for runs in sizes() {
        let started = Instant::now();
        populate_runs(&client, EXPERIMENT, (have, runs), 16, 7).await;
        eprintln!(
            "{} runs written in {:.1} s",
            runs - have,
            started.elapsed().as_secs_f64()
        );
        have = runs;
        let page = client.search_runs(&typical).await.expect("search");
        assert!(!page.items.is_empty(), "the typical search finds runs");
        for clients in [1, 8] {
            let (p50, p99) = latency(&client, &typical, clients, queries()).await;
            println!(
                "| {runs} | `metrics.acc > 0.5 and params.lr = '0.1'`, by `metrics.acc DESC` | {clients} | {} | {} |",
                ms(p50),
                ms(p99)
            );
        }
        let (p50, p99, outcome) = costliest(&client, &worst, 20).await;
        println!(
            "| {runs} | the costliest filter the caps allow (8 keys, 50 comparisons, unsatisfiable): {outcome} | 1 | {} | {} |",
            ms(p50),
            ms(p99)
        );
    }
    println!();
}
