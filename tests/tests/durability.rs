//! Nothing acknowledged is lost: log 10,000 metric points, kill -9 the server, restart it on
//! the same data dir, and find every point and the run intact. A restarted server says it is
//! ready only once it answers its deployments' predictions.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    CreateRun, DeployRequest, JobState, LogBatch, MetricHistoryQuery, MetricPoint, PredictRequest,
    RunStatus, TrainSpec, UpdateRun,
};
use slipway_tests::{TestServer, eventually, run_job};
use std::time::Duration;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    let server = TestServer::start();
    let client = server.admin();
    let run = client.create_run(&CreateRun::default()).await.unwrap();

    // An upload whose body arrives in two parts, with the shutdown signal in between.
    let (parts, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|part| (part, receiver))
    });
    let upload = reqwest::Client::new()
        .put(format!(
            "{}/api/v1/runs/{}/artifacts/slow.bin",
            server.url, run.id
        ))
        .bearer_auth(server.admin_token())
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let upload = tokio::spawn(upload);
    parts.send(Ok(vec![1u8; 1024])).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.signal_term();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    parts.send(Ok(vec![2u8; 1024])).await.unwrap();
    drop(parts);

    let response = upload.await.unwrap().unwrap();
    assert_eq!(
        response.status().as_u16(),
        201,
        "the in-flight upload completes"
    );
    assert!(
        response.headers().contains_key("x-request-id"),
        "every answer names its request"
    );
    let artifact: serde_json::Value = response.json().await.unwrap();
    assert_eq!(artifact["size"], 2048);
    let code =
        tokio::task::spawn_blocking(move || server.wait_exit(std::time::Duration::from_secs(20)))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "then the server exits cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_event_stream_does_not_hold_up_shutdown() {
    let server = TestServer::start();
    let stream = reqwest::Client::new()
        .get(format!("{}/api/v1/events", server.url))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    server.signal_term();
    let code =
        tokio::task::spawn_blocking(move || server.wait_exit(std::time::Duration::from_secs(5)))
            .await
            .unwrap();
    assert_eq!(code, Some(0));
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_ready_only_when_its_deployments_answer() {
    let mut server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("digits").await.ok() }
    })
    .await;
    // Three versions behind three deployments: loading them all takes a while.
    let names = ["digits-a", "digits-b", "digits-c"];
    for (index, name) in names.iter().enumerate() {
        let spec = TrainSpec {
            dataset: "digits".into(),
            arch: Some("mlp".into()),
            hidden: Some(vec![64]),
            epochs: Some(1),
            register_as: Some("digits".into()),
            ..TrainSpec::default()
        };
        let job = run_job(&client, spec).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let request = DeployRequest {
            model: Some("digits".into()),
            version: Some(index as u32 + 1),
            ..DeployRequest::default()
        };
        client.deploy(name, &request, None).await.unwrap();
    }
    let row: Vec<f64> = vec![0.0; 64];
    let request = PredictRequest {
        instances: vec![serde_json::json!(row)],
        key: None,
    };

    server.kill9();
    server.restart();
    let client = server.admin();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if client.ready().await.is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The first time it says ready, every deployment answers.
    for name in names {
        let answer = client.predict(name, &request).await;
        assert!(answer.is_ok(), "{name}: {answer:?}");
    }
}
