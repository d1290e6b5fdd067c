//! The overview's recent changes: operations (deploys, rollbacks, alerts, schedules), not the
//! bookkeeping of uploads and runs.

use super::Harness;
use crate::audit::{self, Change};
use slipway_api::Role;

#[tokio::test]
async fn recent_changes_show_operations_not_uploads() {
    let harness = Harness::new().await;
    for (action, reason) in [
        ("deployment.rollback", "v2 misreads sevens"),
        ("artifact.upload", "weights of run 7"),
        ("schedule.trigger", "new data landed"),
        ("run.update", "bookkeeping"),
    ] {
        let change = Change {
            actor: "erin",
            action,
            target_kind: "deployment",
            target_id: "digits".into(),
            reason: Some(reason),
            details: None,
        };
        audit::record(&harness.state.db, change).await.unwrap();
    }
    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/").await;
    let page = harness.get(&browser, "/").await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(page.body.contains("v2 misreads sevens"), "{}", page.body);
    assert!(page.body.contains("new data landed"), "{}", page.body);
    assert!(!page.body.contains("weights of run 7"), "{}", page.body);
    assert!(!page.body.contains("bookkeeping"), "{}", page.body);
}
