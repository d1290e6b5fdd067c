//! Per-token rate limits of the API's expensive routes, through the whole router (the harness
//! serves the API as well as the dashboard).

use super::*;

/// A server whose predictions and searches allow a burst of 2, then one request a second.
async fn tight_limits(limit_admin: Option<bool>) -> Harness {
    Harness::with_args(ServerArgs {
        predict_rate: Some(1.0),
        predict_burst: Some(2),
        search_rate: Some(1.0),
        search_burst: Some(2),
        rate_limit_admin: limit_admin,
        ..ServerArgs::default()
    })
    .await
}

fn predict(token: &str, path: &str) -> Request<Body> {
    Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"instances": [[1.0, 2.0]]}"#))
        .unwrap()
}

#[tokio::test]
async fn predict_over_rate_limit_answers_429_with_retry_after() {
    let harness = tight_limits(None).await;
    let viewer = harness.token("vera", Role::Viewer).await;
    // The budget is spent whatever the answer (here: no such deployment).
    for _ in 0..2 {
        let answer = harness
            .send(predict(&viewer, "/api/v1/deployments/nope/predict"))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
    }
    // The Open Inference Protocol draws on the same budget.
    let response = harness
        .respond(predict(&viewer, "/v2/models/nope/infer"))
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    // Under /v2 the refusal reads as the Open Inference Protocol's clients expect.
    assert_eq!(
        body["error"], "too many predictions for this token; retry in 1 s",
        "{body}"
    );
    // Another token has its own bucket.
    let other = harness.token("otto", Role::Viewer).await;
    let answer = harness
        .send(predict(&other, "/api/v1/deployments/nope/predict"))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn search_over_rate_limit_answers_429_with_retry_after() {
    let harness = tight_limits(None).await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let search = || {
        Request::post("/api/v1/runs/search")
            .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap()
    };
    assert_eq!(harness.send(search()).await.status, StatusCode::OK);
    let list = Request::get("/api/v1/runs?filter=metrics.acc%20%3E%200")
        .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(harness.send(list).await.status, StatusCode::OK);
    let response = harness.respond(search()).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn admin_is_not_rate_limited_by_default() {
    let harness = tight_limits(None).await;
    let admin = harness.token("root", Role::Admin).await;
    for _ in 0..10 {
        let answer = harness
            .send(predict(&admin, "/api/v1/deployments/nope/predict"))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
    }
    // Unless the limits are configured to apply to admins too.
    let harness = tight_limits(Some(true)).await;
    let admin = harness.token("root", Role::Admin).await;
    let statuses: Vec<StatusCode> = futures_util::future::join_all(
        (0..3).map(|_| harness.send(predict(&admin, "/api/v1/deployments/nope/predict"))),
    )
    .await
    .into_iter()
    .map(|answer| answer.status)
    .collect();
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}
