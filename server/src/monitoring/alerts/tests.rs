//! Alerts in a real (temporary, migrated) database: raised, open until acknowledged once,
//! listed by deployment, audited, and announced on the event bus.

use super::*;
use crate::entity::auth::audit_event;

async fn database() -> (DatabaseConnection, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::db::connect(&crate::db::testing::url(dir.path()).await)
        .await
        .unwrap();
    (db, dir)
}

async fn deployment(db: &DatabaseConnection, name: &str) -> i64 {
    deployment::ActiveModel {
        name: Set(name.to_owned()),
        current_revision: Set(0),
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

fn drift(deployment_id: i64) -> Raise<'static> {
    Raise {
        deployment_id,
        kind: "drift",
        severity: "warning",
        message: "feature x drifted".to_owned(),
        details: serde_json::json!({"features": ["x"]}),
    }
}

#[tokio::test]
async fn an_alert_is_open_until_acknowledged_once() {
    let (db, _dir) = database().await;
    let events = EventBus::new();
    let mut subscription = events.subscribe(None);
    let web = deployment(&db, "web").await;
    let batch = deployment(&db, "batch").await;
    assert!(!is_open(&db, web, "drift").await.unwrap());
    let id = raise(&db, &events, drift(web)).await.unwrap();
    raise(&db, &events, drift(batch)).await.unwrap();
    assert!(is_open(&db, web, "drift").await.unwrap());
    assert!(!is_open(&db, web, "error_rate").await.unwrap());
    let raised = subscription.live.recv().await.unwrap();
    assert_eq!(raised.event.kind, "alert");

    let web_alerts = list(&db, Some("web"), true, 100).await.unwrap();
    assert_eq!(web_alerts.len(), 1);
    assert_eq!(web_alerts[0].deployment, "web");
    assert_eq!(web_alerts[0].message, "feature x drifted");
    assert_eq!(list(&db, None, true, 100).await.unwrap().len(), 2);

    let acked = acknowledge(&db, &events, "eve", id, Some("retraining"))
        .await
        .unwrap();
    assert_eq!(acked.acknowledged_by.as_deref(), Some("eve"));
    assert!(!is_open(&db, web, "drift").await.unwrap());
    assert!(list(&db, Some("web"), true, 100).await.unwrap().is_empty());
    assert_eq!(list(&db, Some("web"), false, 100).await.unwrap().len(), 1);
    let audited = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("alert.acknowledge"))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].reason.as_deref(), Some("retraining"));

    let again = acknowledge(&db, &events, "eve", id, None)
        .await
        .unwrap_err();
    assert!(matches!(again, ServiceError::Conflict(_)), "{again:?}");
    let missing = acknowledge(&db, &events, "eve", 999, None)
        .await
        .unwrap_err();
    assert!(matches!(missing, ServiceError::NotFound(_)), "{missing:?}");
}
