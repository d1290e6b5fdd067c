//! Job dispatch benchmark: a release server on loopback and 4 `slipway worker` processes.
//! - Dispatch latency (queued → running, from the jobs' own timestamps), p50/p99, over 200
//!   tiny jobs submitted one after another while workers are free (a queue that waits for
//!   free workers measures the backlog, not dispatch).
//! - Throughput of 1,000 tiny jobs (`sleep` 0 s) submitted at once, from the first
//!   submission to the last finish, and the queueing delay they saw.
//!
//! Run with `cargo bench -p slipway-tests --bench jobs` (`BENCH_SCALE=0.1` for a quick look).
//! On PostgreSQL: `tests/with-postgres cargo bench -p slipway-tests --bench jobs`; there
//! `BENCH_REPLICAS=3` runs three server replicas on the one database, the workers spread over
//! them and every submission sent to the next replica in turn.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed benchmark

use slipway_api::{JobState, PageRequest, SubmitJob};
use slipway_tests::{TestServer, database, eventually};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let factor: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let count = ((1000.0 * factor) as usize).max(10);
    let replica_count: usize = std::env::var("BENCH_REPLICAS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    assert!(
        replica_count == 1 || database::postgres(),
        "BENCH_REPLICAS needs PostgreSQL: run under tests/with-postgres"
    );
    let server = TestServer::start();
    let client = server.admin();
    let mut replicas = vec![];
    for _ in 1..replica_count {
        replicas.push(server.replica(&[]));
    }
    let servers: Vec<&TestServer> = std::iter::once(&server).chain(&replicas).collect();
    // Submissions go to each replica in turn, as behind a round-robin load balancer.
    let clients: Vec<_> = servers.iter().map(|server| server.admin()).collect();
    let mut next_client = clients.iter().cycle();
    let _workers: Vec<_> = (0..4)
        .map(|i| servers[i % servers.len()].worker(&format!("bench-{i}"), &[]))
        .collect();
    eventually("4 workers", Duration::from_secs(60), || {
        let client = client.clone();
        async move {
            (client
                .list_workers(&Default::default())
                .await
                .ok()?
                .items
                .len()
                == 4)
                .then_some(())
        }
    })
    .await;

    let job = SubmitJob::new(slipway_api::SleepSpec { seconds: Some(0.0) });
    let mut dispatch = Vec::new();
    for _ in 0..((200.0 * factor) as usize).max(10) {
        let submitted = next_client.next().unwrap().submit_job(&job).await.unwrap();
        let started = eventually("the job to start", Duration::from_secs(30), || {
            let client = client.clone();
            async move {
                let job = client.get_job(submitted.id).await.ok()?;
                job.started_at
            }
        })
        .await;
        dispatch.push((started - submitted.created_at).num_milliseconds());
    }
    dispatch.sort_unstable();
    let dispatch_at = |p: f64| dispatch[((dispatch.len() - 1) as f64 * p).round() as usize];

    let dispatch_count = dispatch.len();
    let started = Instant::now();
    for _ in 0..count {
        next_client.next().unwrap().submit_job(&job).await.unwrap();
    }
    let jobs = eventually("every job to finish", Duration::from_secs(600), || {
        let client = client.clone();
        async move {
            let mut all = Vec::new();
            let mut page_token = None;
            loop {
                let page = client
                    .list_jobs(
                        Some(JobState::Succeeded),
                        &PageRequest {
                            limit: Some(1000),
                            page_token,
                        },
                    )
                    .await
                    .ok()?;
                all.extend(page.items);
                page_token = page.next_page_token;
                if page_token.is_none() {
                    break;
                }
            }
            (all.len() >= count + dispatch_count).then_some(all)
        }
    })
    .await;
    let elapsed = started.elapsed();
    let mut latencies: Vec<i64> = jobs
        .iter()
        .take(count)
        .map(|job| (job.started_at.unwrap() - job.created_at).num_milliseconds())
        .collect();
    latencies.sort_unstable();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let store = if database::postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "\nSlipway job dispatch benchmark ({replica_count} release server replica(s) on {store}, \
         4 worker processes, loopback)\n"
    );
    println!("| measurement | jobs | workers | p50 | p99 | throughput |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| dispatch (queued → running, workers free) | {dispatch_count} | 4 | {} ms | {} ms | |",
        dispatch_at(0.5),
        dispatch_at(0.99)
    );
    println!(
        "| burst: queueing delay | {count} | 4 | {} ms | {} ms | {:.0} jobs/s |\n",
        percentile(0.5),
        percentile(0.99),
        count as f64 / elapsed.as_secs_f64()
    );
}
