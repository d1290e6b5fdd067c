//! `/schedules`: created and operated by engineers, read by viewers.

use super::*;
use serde_json::json;

fn nightly() -> Value {
    json!({"name": "nightly", "cron": "0 3 * * *", "job": {"kind": "sleep"}})
}

#[tokio::test]
async fn schedules_are_made_by_engineers_and_read_by_viewers() {
    let api = Api::new().await;
    api.needs_a_token(Method::GET, "/schedules", None).await;
    api.post("/schedules", &api.viewer, nightly())
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    let created = api
        .post("/schedules", &api.engineer, nightly())
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(created["name"], "nightly", "{created}");
    api.post("/schedules", &api.engineer, nightly())
        .await
        .error(StatusCode::CONFLICT, "conflict");
    let shown = api.get("/schedules/nightly", &api.viewer).await;
    assert_eq!(shown.ok(StatusCode::OK)["cron"], "0 3 * * *");
    let listed = api.get("/schedules", &api.viewer).await.ok(StatusCode::OK);
    assert_eq!(items(&listed).len(), 1, "{listed}");

    api.post("/schedules/nightly/pause", &api.viewer, json!({}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    let paused = api
        .post("/schedules/nightly/pause", &api.engineer, json!({}))
        .await;
    assert!(paused.status.is_success(), "{paused:?}");
    let triggered = api
        .post("/schedules/nightly/trigger", &api.engineer, json!({}))
        .await;
    assert!(triggered.status.is_success(), "{triggered:?}");
    let firings = api
        .get("/schedules/nightly/firings", &api.viewer)
        .await
        .ok(StatusCode::OK);
    assert_eq!(items(&firings).len(), 1, "{firings}");

    api.call(
        Method::DELETE,
        "/schedules/nightly",
        Some(&api.viewer),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN, "permission_denied");
    api.call(
        Method::DELETE,
        "/schedules/nightly",
        Some(&api.engineer),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    api.get("/schedules/nightly", &api.viewer)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_bad_cron_or_timezone_is_invalid() {
    let api = Api::new().await;
    let mut bad = nightly();
    bad["cron"] = json!("every day");
    api.post("/schedules", &api.engineer, bad)
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_argument");
    let mut bad = nightly();
    bad["timezone"] = json!("Mars/Olympus");
    api.post("/schedules", &api.engineer, bad)
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_argument");
}

#[tokio::test]
async fn a_corrupt_stored_policy_is_an_error_naming_its_row_not_a_default() {
    use sea_orm::ConnectionTrait;
    let api = Api::new().await;
    let created = api
        .post("/schedules", &api.engineer, nightly())
        .await
        .ok(StatusCode::CREATED);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["misfire"], "skip", "{created}");
    let db = &api.harness.state.db;
    let read = || crate::schedules::get(db, "nightly");

    let corrupt = format!("UPDATE schedules SET misfire_policy = 'sometimes' WHERE id = {id}");
    db.execute_unprepared(&corrupt).await.unwrap();
    let err = read().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("schedules row {id}: stored misfire_policy"))
            && err.contains("sometimes"),
        "{err}"
    );
    api.get("/schedules/nightly", &api.viewer)
        .await
        .error(StatusCode::INTERNAL_SERVER_ERROR, "internal");

    let corrupt = format!(
        "UPDATE schedules SET misfire_policy = 'run-once', overlap_policy = 'pile-up' WHERE id = {id}"
    );
    db.execute_unprepared(&corrupt).await.unwrap();
    let err = read().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("schedules row {id}: stored overlap_policy")),
        "{err}"
    );

    let repaired = format!("UPDATE schedules SET overlap_policy = 'queue' WHERE id = {id}");
    db.execute_unprepared(&repaired).await.unwrap();
    let schedule = read().await.unwrap();
    assert_eq!(
        (schedule.misfire, schedule.overlap),
        (slipway_api::Misfire::RunOnce, slipway_api::Overlap::Queue)
    );
}
