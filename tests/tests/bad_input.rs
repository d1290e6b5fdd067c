//! Bad input gets the right status and a message that names the problem — never a 500.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    CreateRun, ErrorCode, KeyValue, LogBatch, MetricHistoryQuery, MetricPoint, SearchRuns,
};
use slipway_tests::TestServer;

fn points(n: usize, key: &str) -> Vec<MetricPoint> {
    (0..n)
        .map(|i| MetricPoint {
            key: key.into(),
            value: i as f64,
            step: i as i64,
            timestamp: None,
        })
        .collect()
}

/// Sends a raw request and returns (status, error code, message).
async fn raw(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String, String) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(server.admin_token())
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("every error is JSON");
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn each_bad_input_gets_its_status_and_a_clear_message() {
    let server = TestServer::start();
    let client = server.admin();
    let run = client.create_run(&CreateRun::default()).await.unwrap();
    let json = Some("application/json");

    // Malformed JSON, a wrong field type, and a missing content type.
    let (status, code, message) = raw(
        &server,
        reqwest::Method::POST,
        "/api/v1/experiments",
        json,
        b"{\"name\": ".to_vec(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert!(message.contains("malformed JSON"), "{message}");
    let (status, _, message) = raw(
        &server,
        reqwest::Method::POST,
        "/api/v1/experiments",
        json,
        b"{\"name\": 5}".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("expected a string"), "{message}");
    let (status, _, message) = raw(
        &server,
        reqwest::Method::POST,
        "/api/v1/experiments",
        None,
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 415);
    assert!(message.contains("content-type"), "{message}");

    // Unknown run: 404 naming it, for reads and writes.
    let err = client.get_run(999_999).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some(ErrorCode::NotFound))
    );
    assert!(err.to_string().contains("run 999999 not found"), "{err}");
    let err = client
        .log_batch(
            999_999,
            &LogBatch {
                metrics: points(1, "x"),
                ..LogBatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("run 999999 not found"), "{err}");
    let (status, _, message) = raw(
        &server,
        reqwest::Method::GET,
        "/api/v1/runs/abc",
        None,
        vec![],
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("abc"), "{message}");

    // Oversized batch: 413 with the limit.
    let err = client
        .log_batch(
            run.id,
            &LogBatch {
                metrics: points(1001, "loss"),
                ..LogBatch::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(413));
    assert!(err.to_string().contains("at most 1000"), "{err}");

    // A body over the server's byte limit: 413 in the JSON shape.
    let huge = format!("{{\"name\": \"{}\"}}", "a".repeat(17 * 1024 * 1024));
    let (status, code, _) = raw(
        &server,
        reqwest::Method::POST,
        "/api/v1/experiments",
        json,
        huge.into_bytes(),
    )
    .await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));

    // Too-long key: 400 naming the field.
    let err = client
        .log_batch(
            run.id,
            &LogBatch {
                metrics: points(1, &"k".repeat(300)),
                ..LogBatch::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("metrics[0].key"), "{err}");
    assert!(err.to_string().contains("at most 250"), "{err}");

    // Conflicting param: 409 naming old and new values; the same value again is fine.
    let lr = |value: &str| LogBatch {
        params: vec![KeyValue {
            key: "lr".into(),
            value: value.into(),
        }],
        ..LogBatch::default()
    };
    client.log_batch(run.id, &lr("0.01")).await.unwrap();
    client.log_batch(run.id, &lr("0.01")).await.unwrap();
    let err = client.log_batch(run.id, &lr("0.1")).await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    assert!(err.to_string().contains("already set to '0.01'"), "{err}");

    // Bad filter: 400 naming the position and what was expected.
    let err = client
        .search_runs(&SearchRuns {
            filter: Some("metrics.acc > and".into()),
            ..SearchRuns::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("at position 15"), "{err}");
    assert!(err.to_string().contains("expected a value"), "{err}");
    let err = client
        .search_runs(&SearchRuns {
            order_by: vec!["metrics.acc up".into()],
            ..SearchRuns::default()
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("order_by[0]"), "{err}");

    // Path traversal: refused, and nothing is written outside the store.
    for path in [
        "..%2F..%2Fetc%2Fpasswd",
        "a%2F..%2F..%2Fx",
        "a/..%2F..%2Fx",
        "%2Fetc%2Fpasswd",
    ] {
        let (status, _, message) = raw(
            &server,
            reqwest::Method::PUT,
            &format!("/api/v1/runs/{}/artifacts/{path}", run.id),
            Some("application/octet-stream"),
            b"evil".to_vec(),
        )
        .await;
        assert_eq!(status, 400, "{path}: {message}");
        assert!(message.contains("path:"), "{message}");
    }
    let (status, _, message) = raw(
        &server,
        reqwest::Method::GET,
        &format!("/api/v1/runs/{}/artifacts/..%2F..%2Fadmin-token", run.id),
        None,
        vec![],
    )
    .await;
    assert_eq!(status, 400, "{message}");

    // Bad pagination and history requests.
    let err = client
        .metric_history(
            run.id,
            &MetricHistoryQuery {
                key: "loss".into(),
                max_points: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_points"), "{err}");
    let (status, _, message) = raw(
        &server,
        reqwest::Method::GET,
        "/api/v1/experiments?page_token=zzz",
        None,
        vec![],
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("page_token"), "{message}");

    // Unknown routes and wrong methods answer in the JSON shape too.
    let (status, code, _) = raw(
        &server,
        reqwest::Method::GET,
        "/api/v1/nowhere",
        None,
        vec![],
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let (status, code, _) = raw(
        &server,
        reqwest::Method::DELETE,
        "/api/v1/experiments",
        None,
        vec![],
    )
    .await;
    assert_eq!((status, code.as_str()), (405, "method_not_allowed"));
}
