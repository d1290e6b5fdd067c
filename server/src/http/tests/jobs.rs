//! `/jobs` and `/workers`: submit (engineer, worker), operate (engineer), lease and report
//! (worker), with every report fenced by the lease id.

use super::*;
use serde_json::json;

/// A worker registered as `name`; its id.
async fn register(api: &Api, name: &str) -> i64 {
    let body = json!({"name": name, "version": "test", "cpu_cores": 2, "concurrency": 1});
    let worker = api.post("/workers", &api.worker, body).await;
    assert!(worker.status.is_success(), "{worker:?}");
    worker.body["id"].as_i64().unwrap()
}

#[tokio::test]
async fn jobs_are_submitted_read_and_cancelled_by_role() {
    let api = Api::new().await;
    api.needs_a_token(Method::GET, "/jobs", None).await;
    let job = api
        .post(
            "/jobs",
            &api.engineer,
            json!({"kind": "sleep", "spec": {"seconds": 1}}),
        )
        .await;
    let job = job.ok(StatusCode::CREATED);
    let id = job["id"].as_i64().unwrap();
    assert_eq!(job["state"], "queued", "{job}");
    api.post(
        "/jobs",
        &api.viewer,
        json!({"kind": "sleep", "spec": {"seconds": 1}}),
    )
    .await
    .error(StatusCode::FORBIDDEN, "permission_denied");
    let shown = api.get(&format!("/jobs/{id}"), &api.viewer).await;
    assert_eq!(shown.ok(StatusCode::OK)["id"], id);
    let queued = api.get("/jobs?state=queued", &api.viewer).await;
    assert_eq!(queued.ok(StatusCode::OK)["items"][0]["id"], id);
    api.get("/jobs/424242", &api.viewer)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");

    let cancel = format!("/jobs/{id}/cancel");
    api.post(&cancel, &api.viewer, json!({}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    let cancelled = api.post(&cancel, &api.engineer, json!({})).await;
    assert_eq!(cancelled.ok(StatusCode::OK)["state"], "cancelled");
    let retried = api
        .post(&format!("/jobs/{id}/retry"), &api.engineer, json!({}))
        .await;
    assert!(retried.status.is_success(), "{retried:?}");
}

#[tokio::test]
async fn a_lease_is_fenced_and_only_workers_lease() {
    let api = Api::new().await;
    let worker = register(&api, "box-1").await;
    api.post(
        "/workers",
        &api.engineer,
        json!({"name": "e", "version": "t", "cpu_cores": 1, "concurrency": 1}),
    )
    .await
    .error(StatusCode::FORBIDDEN, "permission_denied");
    let job = api
        .post(
            "/jobs",
            &api.engineer,
            json!({"kind": "sleep", "spec": {"seconds": 1}}),
        )
        .await
        .ok(StatusCode::CREATED);
    let id = job["id"].as_i64().unwrap();
    let lease_path = format!("/workers/{worker}/lease");
    api.post(&lease_path, &api.engineer, json!({"wait_ms": 0}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    let lease = api
        .post(&lease_path, &api.worker, json!({"wait_ms": 0}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(lease["lease"]["job"]["id"], id, "{lease}");
    assert_eq!(lease["lease"]["job"]["state"], "running", "{lease}");
    let lease_id = lease["lease"]["lease_id"].as_str().unwrap().to_owned();

    let heartbeat = format!("/jobs/{id}/heartbeat");
    let beat = api
        .post(
            &heartbeat,
            &api.worker,
            json!({"lease_id": lease_id, "progress": 0.5}),
        )
        .await;
    assert!(beat.status.is_success(), "{beat:?}");
    // A report under another lease id: a stale attempt.
    api.post(
        &heartbeat,
        &api.worker,
        json!({"lease_id": "0".repeat(32), "progress": 0.6}),
    )
    .await
    .error(StatusCode::CONFLICT, "conflict");
    // Nothing more to lease: an empty answer, not an error.
    let empty = api
        .post(&lease_path, &api.worker, json!({"wait_ms": 0}))
        .await;
    assert!(empty.status.is_success(), "{empty:?}");
    assert!(empty.body["lease"].is_null(), "{empty:?}");
}

#[tokio::test]
async fn an_unknown_kind_or_a_mistyped_spec_is_a_400_naming_the_field() {
    let api = Api::new().await;
    let message = |reply: &Reply| reply.body["error"]["message"].as_str().unwrap().to_owned();
    // Raw wire JSON on purpose: the typed client cannot send a kind that does not exist.
    let unknown = api
        .post("/jobs", &api.engineer, json!({"kind": "paint", "spec": {}}))
        .await;
    unknown.error(StatusCode::BAD_REQUEST, "invalid_argument");
    assert!(
        message(&unknown).contains(
            "kind: unknown job kind 'paint'; expected one of sleep, fail, train, evaluate, deploy, pipeline, command"
        ),
        "{unknown:?}"
    );
    let mistyped = api
        .post(
            "/jobs",
            &api.engineer,
            json!({"kind": "sleep", "spec": {"seconds": "soon"}}),
        )
        .await;
    mistyped.error(StatusCode::BAD_REQUEST, "invalid_argument");
    assert!(
        message(&mistyped).contains("spec: invalid type: string \"soon\""),
        "{mistyped:?}"
    );
    let out_of_range = api
        .post(
            "/jobs",
            &api.engineer,
            json!({"kind": "sleep", "spec": {"seconds": -1}}),
        )
        .await;
    out_of_range.error(StatusCode::BAD_REQUEST, "invalid_argument");
    assert_eq!(
        message(&out_of_range),
        "spec.seconds: expected 0 to 86400, got -1"
    );
    // A spec without one is an empty spec, stored and shown as `{}`.
    let bare = api
        .post("/jobs", &api.engineer, json!({"kind": "sleep"}))
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(bare["spec"], json!({}), "{bare}");
    assert_eq!(bare["kind"], "sleep", "{bare}");
}

#[tokio::test]
async fn a_corrupt_stored_job_is_an_error_naming_its_row_not_a_default() {
    use sea_orm::ConnectionTrait;
    let api = Api::new().await;
    let job = api
        .post(
            "/jobs",
            &api.engineer,
            json!({"kind": "sleep", "spec": {"seconds": 1}}),
        )
        .await
        .ok(StatusCode::CREATED);
    let id = job["id"].as_i64().unwrap();
    let db = &api.harness.state.db;
    let corrupt = |set: &str| format!("UPDATE jobs SET {set} WHERE id = {id}");
    let read = || crate::queue::jobs::get(db, id);

    db.execute_unprepared(&corrupt(r#"spec = '{"seconds": "soon"}'"#))
        .await
        .unwrap();
    let err = read().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("jobs row {id}: stored spec: spec: invalid type")),
        "{err}"
    );
    api.get(&format!("/jobs/{id}"), &api.viewer)
        .await
        .error(StatusCode::INTERNAL_SERVER_ERROR, "internal");

    db.execute_unprepared(&corrupt("spec = '{}', result = 'not json'"))
        .await
        .unwrap();
    let err = read().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("jobs row {id}: stored result")),
        "{err}"
    );

    db.execute_unprepared(&corrupt("result = NULL, kind = 'paint'"))
        .await
        .unwrap();
    let err = read().await.unwrap_err().to_string();
    assert!(err.contains(&format!("jobs row {id}")), "{err}");
    assert!(err.contains("paint"), "{err}");

    db.execute_unprepared(&corrupt("kind = 'sleep', state = 'snoozing'"))
        .await
        .unwrap();
    let err = read().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("jobs row {id}")) && err.contains("snoozing"),
        "{err}"
    );
    // A list reads many rows at once; its error names the bad one too.
    let err = crate::queue::jobs::list(db, None, None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("jobs row {id}")) && err.contains("snoozing"),
        "{err}"
    );

    db.execute_unprepared(&corrupt("state = 'queued'"))
        .await
        .unwrap();
    let job = read().await.unwrap();
    assert_eq!(job.spec, slipway_api::JobSpec::Sleep(Default::default()));
}
