//! Deployment sync against a state built by [`crate::state::AppState::build`]: a revision
//! whose model loads is served and its model kept loaded; one whose version or revision
//! record is missing is remembered as failed, with the reason, until a newer revision comes.

use crate::entity::registry::{deployment, deployment_revision, model, model_version};
use crate::http::dashboard::tests::Harness;
use crate::time::now_millis;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, IntoActiveModel,
};
use slipway_ml::Dataset;
use slipway_ml::train::{TrainConfig, train};

/// Registers version 1 of model `name`: a barely trained iris classifier.
async fn register(harness: &Harness, name: &str) {
    let data = Dataset::from_csv(
        include_bytes!("../../../datasets/iris.csv"),
        "species",
        None,
    )
    .unwrap();
    let config = TrainConfig {
        epochs: 2,
        ..TrainConfig::default()
    };
    let trained = train(&data, &config, |_| true).unwrap();
    let manifest = serde_json::json!({
        "task": "classification",
        "features": data.schema.features,
        "labels": data.schema.classes,
        "normalisation": trained.normalisation,
    });
    let store = &harness.state.blobs;
    let (manifest_digest, _) = store
        .put_bytes(manifest.to_string().as_bytes())
        .await
        .unwrap();
    let (artifact_digest, _) = store.put_bytes(&trained.weights).await.unwrap();
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
        artifact_digest: Set(artifact_digest),
        dataset_digest: Set(None),
        input_schema: Set(serde_json::json!(data.schema.features).to_string()),
        metrics: Set("{}".to_owned()),
        created_by: Set("eve".to_owned()),
        created_at: Set(now_millis()),
        manifest_digest: Set(manifest_digest),
        lineage: Set("{}".to_owned()),
        description: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}

/// Records revision `revision` of deployment `id` serving version `primary` of `model`.
async fn revise(db: &DatabaseConnection, id: i64, revision: i32, model: &str, primary: u32) {
    let record = serde_json::json!({
        "action": "deploy",
        "spec": {"model": model, "primary": primary},
        "previous": null,
        "rolled_back_to": null,
    });
    deployment_revision::ActiveModel {
        deployment_id: Set(id),
        revision: Set(revision),
        spec: Set(record.to_string()),
        actor: Set("eve".to_owned()),
        reason: Set(None),
        created_at: Set(now_millis()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}

/// A deployment named `name` at `revision`; its id.
async fn deployment(db: &DatabaseConnection, name: &str, revision: i32) -> i64 {
    deployment::ActiveModel {
        name: Set(name.to_owned()),
        current_revision: Set(revision),
        slo_policy: Set(None),
        created_at: Set(now_millis()),
        updated_at: Set(now_millis()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn sync_serves_the_current_revision_and_remembers_what_failed() {
    let harness = Harness::new().await;
    let (db, serving) = (&harness.state.db, &harness.state.serving);
    register(&harness, "iris").await;

    let web = deployment(db, "web", 1).await;
    revise(db, web, 1, "iris", 1).await;
    let ghost = deployment(db, "ghost", 1).await;
    revise(db, ghost, 1, "iris", 7).await;
    // At revision 2, with no record of it.
    let torn = deployment(db, "torn", 2).await;
    revise(db, torn, 1, "iris", 1).await;

    serving.sync().await.unwrap();
    assert_eq!(serving.failure("web"), None);
    assert!(serving.is_ready("web", 1));
    let live = serving.live("web").unwrap();
    assert_eq!(live.primary.version, 1);
    assert_eq!(live.spec.model, "iris");

    assert!(serving.live("ghost").is_none());
    let why = serving.failure("ghost").unwrap();
    assert!(why.starts_with("version: "), "{why}");
    assert!(why.contains('7'), "{why}");
    let why = serving.failure("torn").unwrap();
    assert!(why.contains("revision 2 not found"), "{why}");

    // Syncing again changes nothing: the served stays, the failed stay failed.
    serving.sync().await.unwrap();
    assert!(serving.is_ready("web", 1));
    assert!(serving.failure("ghost").is_some());

    // A newer revision that loads replaces the failure.
    revise(db, ghost, 2, "iris", 1).await;
    let mut row = deployment::Entity::find_by_id(ghost)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    row.current_revision = Set(2);
    row.update(db).await.unwrap();
    serving.sync().await.unwrap();
    assert!(serving.is_ready("ghost", 2));
    assert_eq!(serving.failure("ghost"), None);
}
