//! `/admin/gc` and `/audit`: an admin's, and audited.

use super::*;
use serde_json::json;

#[tokio::test]
async fn garbage_collection_is_an_admins_and_is_audited() {
    let api = Api::new().await;
    for token in [&api.engineer, &api.viewer, &api.worker] {
        api.post("/admin/gc", token, json!({"dry_run": true}))
            .await
            .error(StatusCode::FORBIDDEN, "permission_denied");
    }
    let report = api
        .post("/admin/gc", &api.admin, json!({"dry_run": false}))
        .await
        .ok(StatusCode::OK);
    assert!(report.is_object(), "{report}");
    let audit = api.get("/audit", &api.admin).await.ok(StatusCode::OK);
    assert!(audit.to_string().contains("gc"), "{audit}");
}
