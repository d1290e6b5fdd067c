//! `/deployments/{name}/metrics|drift|slo`, `/events` and `/metrics`: read by viewers, the
//! SLO policy set by engineers, and a deployment that does not exist named in a 404.

use super::*;
use serde_json::json;

#[tokio::test]
async fn monitoring_reads_name_a_missing_deployment_and_the_policy_is_an_engineers() {
    let api = Api::new().await;
    for path in [
        "/deployments/ghost/metrics",
        "/deployments/ghost/metrics/history",
        "/deployments/ghost/drift",
        "/deployments/ghost/slo",
    ] {
        api.needs_a_token(Method::GET, path, None).await;
        let missing = api.get(path, &api.viewer).await;
        missing.error(StatusCode::NOT_FOUND, "not_found");
        assert!(
            missing.body.to_string().contains("ghost"),
            "{path}: {missing:?}"
        );
    }
    let policy = serde_json::to_value(slipway_api::SloPolicy::default()).unwrap();
    api.call(
        Method::PUT,
        "/deployments/ghost/slo",
        Some(&api.viewer),
        Some(policy.clone()),
    )
    .await
    .error(StatusCode::FORBIDDEN, "permission_denied");
    api.call(
        Method::PUT,
        "/deployments/ghost/slo",
        Some(&api.engineer),
        Some(policy),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    api.call(
        Method::PUT,
        "/deployments/ghost/slo",
        Some(&api.engineer),
        Some(json!({"max_error_rate": "high"})),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_argument");
}

#[tokio::test]
async fn the_event_stream_and_the_exposition_are_a_viewers() {
    let api = Api::new().await;
    api.needs_a_token(Method::GET, "/events", None).await;
    let request = Request::get("/api/v1/events")
        .header(header::AUTHORIZATION, format!("Bearer {}", api.viewer))
        .body(Body::empty())
        .unwrap();
    // The stream never ends; its head is enough.
    let response = api.harness.respond(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );

    let request = Request::get("/metrics")
        .header(header::AUTHORIZATION, format!("Bearer {}", api.viewer))
        .body(Body::empty())
        .unwrap();
    let response = api.harness.respond(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("slipway_queue_depth"), "{text}");
    let anonymous = Request::get("/metrics").body(Body::empty()).unwrap();
    let response = api.harness.respond(anonymous).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
