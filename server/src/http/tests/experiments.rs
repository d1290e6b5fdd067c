//! `/experiments`: create (engineer), list and show (viewer).

use super::*;
use serde_json::json;

#[tokio::test]
async fn experiments_are_created_by_engineers_and_read_by_viewers() {
    let api = Api::new().await;
    api.needs_a_token(Method::GET, "/experiments", None).await;
    let created = api
        .post("/experiments", &api.engineer, json!({"name": "mnist"}))
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(created["name"], "mnist");
    let id = created["id"].as_i64().unwrap();
    api.post("/experiments", &api.viewer, json!({"name": "other"}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    let by_name = api.get("/experiments/mnist", &api.viewer).await;
    assert_eq!(by_name.ok(StatusCode::OK)["id"], id);
    let by_id = api.get(&format!("/experiments/{id}"), &api.viewer).await;
    assert_eq!(by_id.ok(StatusCode::OK)["name"], "mnist");
    let list = api
        .get("/experiments", &api.viewer)
        .await
        .ok(StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    api.get("/experiments/nope", &api.viewer)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn bad_experiment_requests_are_refused_in_the_error_shape() {
    let api = Api::new().await;
    api.post("/experiments", &api.engineer, json!({"name": "twice"}))
        .await
        .ok(StatusCode::CREATED);
    api.post("/experiments", &api.engineer, json!({"name": "twice"}))
        .await
        .error(StatusCode::CONFLICT, "conflict");
    // A body that is not the request's shape.
    let reply = api
        .post("/experiments", &api.engineer, json!({"title": "x"}))
        .await;
    assert!(reply.status.is_client_error(), "{reply:?}");
    assert!(reply.body["error"]["code"].is_string(), "{reply:?}");
    api.get("/experiments?limit=0", &api.viewer)
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_argument");
    api.call(Method::DELETE, "/experiments", Some(&api.admin), None)
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}
