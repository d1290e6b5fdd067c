//! Tracking benchmark: starts the real `slipway` server (release build) on loopback and
//! measures over HTTP, printing a table:
//! - log-batch throughput (metric points/s, batches of 100) and p50/p99 latency at 1 and 8
//!   concurrent clients;
//! - run search p50/p99 over 1,000 and 10,000 runs (a filter, 100 runs per page).
//!
//! Run with `cargo bench -p slipway-tests --bench tracking`. `BENCH_SCALE=0.1` shrinks every
//! count for a quick look. The same load on PostgreSQL:
//! `tests/with-postgres cargo bench -p slipway-tests --bench tracking`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{Client, CreateRun, LogBatch, MetricPoint, SearchRuns};
use slipway_tests::bench::{cpu_seconds, ms, percentile, scale};
use slipway_tests::{TestServer, populate_runs};
use std::time::{Duration, Instant};

async fn log_throughput(
    client: &Client,
    clients: usize,
    batches_per_client: usize,
) -> (f64, Duration, Duration) {
    let mut runs = Vec::new();
    for _ in 0..clients {
        runs.push(
            client
                .create_run(&CreateRun::default())
                .await
                .expect("run")
                .id,
        );
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for run in runs {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(batches_per_client);
            for batch in 0..batches_per_client {
                let metrics = (0..100)
                    .map(|i| MetricPoint {
                        key: if i % 2 == 0 {
                            "loss".into()
                        } else {
                            "acc".into()
                        },
                        value: i as f64 * 0.01,
                        step: (batch * 100 + i) as i64,
                        timestamp: None,
                    })
                    .collect();
                let t = Instant::now();
                client
                    .log_batch(
                        run,
                        &LogBatch {
                            metrics,
                            ..LogBatch::default()
                        },
                    )
                    .await
                    .expect("log batch");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let points = (clients * batches_per_client * 100) as f64;
    (
        points / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    )
}

async fn search_latency(
    client: &Client,
    experiment_id: i64,
    queries: usize,
) -> (Duration, Duration) {
    let request = SearchRuns {
        experiment_ids: vec![experiment_id],
        filter: Some("metrics.acc > 0.2 and (params.lr = '0.01' or tags.team = 'vision')".into()),
        limit: Some(100),
        ..SearchRuns::default()
    };
    let mut latencies = Vec::with_capacity(queries);
    for _ in 0..queries {
        let t = Instant::now();
        let page = client.search_runs(&request).await.expect("search");
        latencies.push(t.elapsed());
        assert_eq!(page.items.len(), 100);
    }
    latencies.sort();
    (percentile(&latencies, 0.5), percentile(&latencies, 0.99))
}

#[tokio::main]
async fn main() {
    let server = TestServer::start();
    let client = server.admin();
    // Warm up connections and the server.
    log_throughput(&client, 8, 20).await;

    let store = if slipway_tests::database::postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("\nSlipway tracking benchmark (release server on loopback, {store})\n");
    println!("| measurement | clients | throughput | p50 | p99 | server CPU |");
    println!("|---|---|---|---|---|---|");
    for clients in [1usize, 8] {
        let batches = scale(if clients == 1 { 2000 } else { 1000 });
        let (cpu_before, wall) = (cpu_seconds(server.pid()), Instant::now());
        let (rate, p50, p99) = log_throughput(&client, clients, batches).await;
        let cpu = (cpu_seconds(server.pid()) - cpu_before) / wall.elapsed().as_secs_f64();
        println!(
            "| log-batch (100 points) | {clients} | {:.0} points/s | {} | {} | {:.0} % of a core |",
            rate,
            ms(p50),
            ms(p99),
            cpu * 100.0
        );
    }
    let name = "bench-search";
    let mut have = 0;
    for runs in [scale(1000), scale(10_000)] {
        populate_runs(&client, name, (have, runs), 8, 1).await;
        have = runs;
        let experiment = client.get_experiment(name).await.expect("experiment");
        let (p50, p99) = search_latency(&client, experiment.id, scale(500)).await;
        println!(
            "| search (filter, 100/page) over {runs} runs | 1 | - | {} | {} | |",
            ms(p50),
            ms(p99)
        );
    }
    println!();
}
