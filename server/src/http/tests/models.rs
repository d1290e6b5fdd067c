//! `/models`, `/deployments`, `/alerts` and `/datasets` without a trained model: what each
//! role may read, and the refusals for names that do not exist.

use super::*;
use serde_json::json;

#[tokio::test]
async fn registry_and_deployment_reads_are_a_viewers_and_missing_names_are_404() {
    let api = Api::new().await;
    for path in ["/models", "/deployments", "/datasets", "/alerts"] {
        api.needs_a_token(Method::GET, path, None).await;
        let list = api.get(path, &api.viewer).await.ok(StatusCode::OK);
        assert!(items(&list).is_empty(), "{path}: {list}");
    }
    for path in [
        "/models/ghost",
        "/models/ghost/versions/1",
        "/deployments/ghost",
        "/deployments/ghost/revisions",
        "/datasets/ghost/versions/1/content",
    ] {
        api.get(path, &api.viewer)
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn registering_and_deploying_need_an_engineer() {
    let api = Api::new().await;
    api.post("/models/digits/versions", &api.viewer, json!({"run_id": 1}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    let missing = api
        .post(
            "/models/digits/versions",
            &api.engineer,
            json!({"run_id": 999}),
        )
        .await;
    missing.error(StatusCode::BAD_REQUEST, "invalid_argument");
    assert!(missing.body.to_string().contains("run 999"), "{missing:?}");
    let deploy = json!({"model": "digits", "version": 1});
    api.call(
        Method::PUT,
        "/deployments/web",
        Some(&api.viewer),
        Some(deploy.clone()),
    )
    .await
    .error(StatusCode::FORBIDDEN, "permission_denied");
    let missing = api
        .call(
            Method::PUT,
            "/deployments/web",
            Some(&api.engineer),
            Some(deploy),
        )
        .await;
    assert!(missing.status.is_client_error(), "{missing:?}");
    api.post("/deployments/web/rollback", &api.viewer, json!({}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    api.post("/alerts/1/ack", &api.viewer, json!({}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    api.post("/alerts/1/ack", &api.engineer, json!({}))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}
