//! The auth matrix: no token, a viewer on a mutating route, a revoked token, each role.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    CreateExperiment, CreateRun, CreateToken, ErrorCode, LogBatch, MetricPoint, Role,
};
use slipway_tests::TestServer;

async fn token(server: &TestServer, name: &str, role: Role) -> String {
    server
        .admin()
        .create_token(
            &CreateToken {
                name: name.into(),
                role,
            },
            Some("test"),
        )
        .await
        .unwrap()
        .secret
}

#[tokio::test]
async fn the_auth_matrix_holds() {
    let server = TestServer::start();
    let admin = server.admin();
    let experiment = CreateExperiment {
        name: "auth".into(),
        description: None,
    };

    // Health needs no token; everything else does.
    assert_eq!(server.client(None).health().await.unwrap().status, "ok");
    assert_eq!(server.client(None).ready().await.unwrap().status, "ready");
    let err = server
        .client(None)
        .list_experiments(&Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), Some(ErrorCode::Unauthenticated));
    let err = server
        .client(Some("slw_nope_nope".into()))
        .whoami()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));

    // Admin: ok.
    assert_eq!(admin.whoami().await.unwrap().role, Role::Admin);
    admin.create_experiment(&experiment).await.unwrap();

    // Viewer: reads, but every mutating route is 403.
    let viewer = server.client(Some(token(&server, "vera", Role::Viewer).await));
    assert_eq!(
        viewer
            .list_experiments(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let err = viewer
        .create_experiment(&CreateExperiment {
            name: "nope".into(),
            description: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(err.to_string().contains("role viewer"), "{err}");
    assert_eq!(
        viewer
            .create_run(&CreateRun::default())
            .await
            .unwrap_err()
            .status(),
        Some(403)
    );
    assert_eq!(
        viewer
            .log_batch(1, &LogBatch::default())
            .await
            .unwrap_err()
            .status(),
        Some(403)
    );
    assert_eq!(viewer.list_tokens().await.unwrap_err().status(), Some(403));

    // Engineer and worker track runs; only an admin manages tokens.
    let engineer = server.client(Some(token(&server, "erin", Role::Engineer).await));
    let worker = server.client(Some(token(&server, "w1", Role::Worker).await));
    let run = engineer.create_run(&CreateRun::default()).await.unwrap();
    let batch = LogBatch {
        metrics: vec![MetricPoint {
            key: "acc".into(),
            value: 0.5,
            step: 1,
            timestamp: None,
        }],
        ..LogBatch::default()
    };
    worker.log_batch(run.id, &batch).await.unwrap();
    assert_eq!(run.created_by, "erin");
    let err = engineer
        .create_token(
            &CreateToken {
                name: "x".into(),
                role: Role::Admin,
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));

    // Revoked: 401 at once.
    admin
        .revoke_token("vera", Some("left the team"))
        .await
        .unwrap();
    let err = viewer
        .list_experiments(&Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));

    // Tokens are listed without secrets, and the changes are audited with their reasons.
    let tokens = admin.list_tokens().await.unwrap();
    assert!(
        tokens
            .iter()
            .any(|t| t.name == "vera" && t.revoked_at.is_some())
    );
    let audit = admin.list_audit(&Default::default()).await.unwrap();
    let revoke = audit
        .items
        .iter()
        .find(|e| e.action == "token.revoke")
        .expect("audited");
    assert_eq!(revoke.actor, "admin");
    assert_eq!(revoke.target_id, "vera");
    assert_eq!(revoke.reason.as_deref(), Some("left the team"));
    assert!(
        audit
            .items
            .iter()
            .any(|e| e.action == "run.create" && e.actor == "erin")
    );
}

#[tokio::test]
async fn the_admin_token_file_is_private_and_stable() {
    use std::os::unix::fs::PermissionsExt;
    let mut server = TestServer::start();
    let mode = std::fs::metadata(server.data_dir.join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second start keeps the same token and writes no new one.
    let token = server.admin_token();
    server.kill9();
    server.restart();
    assert_eq!(server.admin_token(), token);
    server.admin().whoami().await.unwrap();
}

#[tokio::test]
async fn anonymous_read_is_off_by_default_and_read_only_when_on() {
    let temp = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(temp.path(), &["--anonymous-read", "true"]);
    let anonymous = server.client(None);
    assert_eq!(anonymous.whoami().await.unwrap().role, Role::Viewer);
    let err = anonymous
        .create_experiment(&CreateExperiment {
            name: "x".into(),
            description: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
}
