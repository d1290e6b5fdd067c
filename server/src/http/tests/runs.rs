//! `/runs`: create and track (engineer, worker), read and search (viewer).

use super::*;
use serde_json::json;

#[tokio::test]
async fn runs_are_tracked_by_engineers_and_workers_and_read_by_viewers() {
    let api = Api::new().await;
    api.needs_a_token(Method::GET, "/runs", None).await;
    let run = api
        .post("/runs", &api.engineer, json!({"experiment": "iris"}))
        .await
        .ok(StatusCode::CREATED);
    let id = run["id"].as_i64().unwrap();
    assert_eq!(run["status"], "RUNNING", "{run}");
    api.post("/runs", &api.worker, json!({"experiment": "iris"}))
        .await
        .ok(StatusCode::CREATED);
    api.post("/runs", &api.viewer, json!({"experiment": "iris"}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");

    let batch = json!({"metrics": [{"key": "acc", "value": 0.5, "step": 1}], "params": [{"key": "lr", "value": "0.1"}]});
    let logged = api
        .post(
            &format!("/runs/{id}/log-batch"),
            &api.engineer,
            batch.clone(),
        )
        .await;
    assert!(logged.status.is_success(), "{logged:?}");
    api.post(&format!("/runs/{id}/log-batch"), &api.viewer, batch)
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    let history = api
        .get(&format!("/runs/{id}/metrics?key=acc"), &api.viewer)
        .await
        .ok(StatusCode::OK);
    assert_eq!(history["points"][0]["value"], 0.5, "{history}");

    let finished = api
        .call(
            Method::PATCH,
            &format!("/runs/{id}"),
            Some(&api.engineer),
            Some(json!({"status": "FINISHED"})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(finished["status"], "FINISHED");
    api.call(
        Method::PATCH,
        &format!("/runs/{id}"),
        Some(&api.viewer),
        Some(json!({"status": "FAILED"})),
    )
    .await
    .error(StatusCode::FORBIDDEN, "permission_denied");
    api.get("/runs/999999", &api.viewer)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn searches_answer_matches_and_name_filter_mistakes() {
    let api = Api::new().await;
    let run = api
        .post("/runs", &api.engineer, json!({"experiment": "wine"}))
        .await
        .ok(StatusCode::CREATED);
    let id = run["id"].as_i64().unwrap();
    let batch = json!({"metrics": [{"key": "acc", "value": 0.95, "step": 0}]});
    api.post(&format!("/runs/{id}/log-batch"), &api.engineer, batch)
        .await;
    let found = api
        .post(
            "/runs/search",
            &api.viewer,
            json!({"filter": "metrics.acc > 0.9"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(found["items"][0]["id"], id, "{found}");
    let none = api
        .post(
            "/runs/search",
            &api.viewer,
            json!({"filter": "metrics.acc > 0.99"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(none["items"].as_array().unwrap().len(), 0, "{none}");
    let bad = api
        .post(
            "/runs/search",
            &api.viewer,
            json!({"filter": "metrics.acc >"}),
        )
        .await;
    bad.error(StatusCode::BAD_REQUEST, "invalid_argument");
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("position"),
        "{:?}",
        bad.body
    );
}
