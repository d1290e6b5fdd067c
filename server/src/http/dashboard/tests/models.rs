//! A model version's page: a real version answers with its metrics and lineage, a missing one
//! with the 404 page.

use super::Harness;
use crate::entity::registry::{model, model_version};
use crate::time::now_millis;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use slipway_api::Role;

/// Records version 1 of model `name` with a test accuracy (the page only reads the records).
async fn record_version(harness: &Harness, name: &str) {
    let db = &harness.state.db;
    let model = model::ActiveModel {
        name: Set(name.to_owned()),
        description: Set(None),
        created_at: Set(now_millis()),
        updated_at: Set(now_millis()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    model_version::ActiveModel {
        model_id: Set(model.id),
        version: Set(1),
        run_id: Set(None),
        artifact_digest: Set("ab".repeat(32)),
        dataset_digest: Set(None),
        input_schema: Set("[\"x\"]".to_owned()),
        metrics: Set(r#"{"test_accuracy":0.875}"#.to_owned()),
        created_by: Set("eve".to_owned()),
        created_at: Set(now_millis()),
        manifest_digest: Set("cd".repeat(32)),
        lineage: Set("{}".to_owned()),
        description: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_version_page_shows_a_real_version_and_404s_a_missing_one() {
    let harness = Harness::new().await;
    record_version(&harness, "iris").await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/models").await;

    let page = harness.get(&browser, "/models/iris/versions/1").await;
    assert_eq!(page.status.as_u16(), 200, "{}", page.body);
    assert!(
        page.body.contains("<title>Model iris v1 · Slipway</title>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("0.875"), "{}", page.body);
    assert!(page.body.contains("not deployed"), "{}", page.body);
    assert!(page.body.contains(r#"id="lineage""#), "{}", page.body);

    let model = harness.get(&browser, "/models/iris").await;
    assert!(
        model
            .body
            .contains(r#"<a href="/models/iris/versions/1">v1</a>"#),
        "{}",
        model.body
    );

    for missing in ["/models/iris/versions/9", "/models/nothing/versions/1"] {
        let page = harness.get(&browser, missing).await;
        assert_eq!(page.status.as_u16(), 404, "{missing}: {}", page.body);
        assert!(
            page.body.contains("<title>Not Found · Slipway</title>"),
            "{}",
            page.body
        );
        // The error page keeps the user's navigation.
        assert!(page.body.contains(r#"action="/sign-out""#), "{}", page.body);
    }
}
