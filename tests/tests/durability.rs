//! Nothing acknowledged is lost: log 10,000 metric points, kill -9 the server, restart it on
//! the same data dir, and find every point and the run intact.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{CreateRun, LogBatch, MetricHistoryQuery, MetricPoint, RunStatus, UpdateRun};
use slipway_tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_points_survive_kill_9() {
    let mut server = TestServer::start();
    let client = server.admin();
    let run = client
        .create_run(&CreateRun {
            experiment: Some("durability".into()),
            name: Some("crash-test".into()),
            ..CreateRun::default()
        })
        .await
        .unwrap();

    // Four writers in parallel, 25 batches of 100 points each: 10,000 points in all.
    let mut writers = Vec::new();
    for writer in 0..4i64 {
        let client = client.clone();
        writers.push(tokio::spawn(async move {
            for batch in 0..25i64 {
                let metrics = (0..100i64)
                    .map(|i| MetricPoint {
                        key: "loss".into(),
                        value: (writer * 10_000 + batch * 100 + i) as f64,
                        step: writer * 10_000 + batch * 100 + i,
                        timestamp: None,
                    })
                    .collect();
                let stored = client
                    .log_batch(
                        run.id,
                        &LogBatch {
                            metrics,
                            ..LogBatch::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(stored.metrics, 100);
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    client
        .update_run(
            run.id,
            &UpdateRun {
                status: Some(RunStatus::Finished),
                ..UpdateRun::default()
            },
        )
        .await
        .unwrap();

    server.kill9();
    server.restart();
    let client = server.admin();

    let detail = client.get_run(run.id).await.unwrap();
    assert_eq!(detail.run.name, "crash-test");
    assert_eq!(detail.run.status, RunStatus::Finished);
    assert_eq!(
        detail.run.metrics.get("loss"),
        Some(&32_499.0),
        "latest = highest step"
    );

    let mut steps = Vec::new();
    let mut page_token = None;
    loop {
        let page = client
            .metric_history(
                run.id,
                &MetricHistoryQuery {
                    key: "loss".into(),
                    limit: Some(3000),
                    page_token: page_token.clone(),
                    ..MetricHistoryQuery::default()
                },
            )
            .await
            .unwrap();
        steps.extend(page.points.iter().map(|point| point.step));
        page_token = page.next_page_token;
        if page_token.is_none() {
            break;
        }
    }
    let mut expected: Vec<i64> = (0..4i64)
        .flat_map(|writer| (0..2500i64).map(move |i| writer * 10_000 + i))
        .collect();
    expected.sort_unstable();
    assert_eq!(steps.len(), 10_000);
    assert_eq!(steps, expected, "every acknowledged point, in step order");
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let server = TestServer::start();
    let code = server.terminate(std::time::Duration::from_secs(20));
    assert_eq!(code, Some(0), "a graceful shutdown exits 0");
}
