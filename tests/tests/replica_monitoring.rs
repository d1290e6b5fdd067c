//! A serving replica's predictions count in the server's monitoring as if the server had
//! answered them: predictions sent only to a replica show in the server's `/metrics`, the
//! deployment's live metrics and its drift; a canary that fails only on a replica is rolled
//! back by the server's SLO guard; reports made while the server is down reach it once it is
//! back. The report endpoint refuses viewers and oversized reports. With several server
//! replicas (PostgreSQL), a report taken by one that does not lead reaches the leader's
//! metrics, once even when sent twice.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    ApiError, Client, DeployRequest, PredictRequest, ReplicaReport, ReportBucket, ReportRow, Role,
    SloPolicy, TrainSpec,
};
use slipway_tests::{TestServer, TestServingReplica, database, eventually, new_token};
use std::time::Duration;

const IRIS: &str = include_str!("../../datasets/iris.csv");

fn request(row: serde_json::Value, key: Option<String>) -> PredictRequest {
    PredictRequest {
        instances: vec![row],
        key,
    }
}

fn good() -> serde_json::Value {
    serde_json::json!([5.1, 3.5, 1.4, 0.2])
}

async fn train(admin: &Client, dataset: &str) -> u32 {
    let spec = TrainSpec {
        dataset: dataset.into(),
        epochs: Some(5),
        seed: Some(1),
        register_as: Some("iris".into()),
        ..TrainSpec::default()
    };
    slipway_tests::train_and_register(admin, spec).await
}

/// The value of one `slipway_predict_requests_total` sample (0 when absent).
fn counted(text: &str, version: u32, outcome: &str) -> u64 {
    let prefix = format!(
        "slipway_predict_requests_total{{deployment=\"iris\",version=\"{version}\",outcome=\"{outcome}\"}} "
    );
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|count| count.parse().ok())
        .unwrap_or(0)
}

/// The replica's own `/metrics`.
async fn replica_metrics(replica: &TestServingReplica, token: &str) -> String {
    reqwest::Client::new()
        .get(format!("{}/metrics", replica.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the server counts `ok` and `invalid` requests of version `version`.
async fn server_counts(admin: &Client, version: u32, ok: u64, invalid: u64) {
    eventually(
        &format!("the server to count {ok} ok and {invalid} invalid requests of v{version}"),
        Duration::from_secs(30),
        || {
            let admin = admin.clone();
            async move {
                let text = admin.prometheus_text().await.ok()?;
                (counted(&text, version, "ok") == ok
                    && counted(&text, version, "invalid_input") == invalid)
                    .then_some(())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replicas_predictions_reach_the_servers_monitoring_and_slo_guard() {
    let mut server = TestServer::start();
    let admin = server.admin();
    let _worker = server.worker("trainer", &[]);
    admin
        .upload_dataset("iris", "species", Some("classification"), IRIS.into())
        .await
        .unwrap();
    // A version trained on two of the four columns cannot answer the callers' rows.
    let two: String = IRIS
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            format!("{},{},{}\n", cells[0], cells[1], cells[4])
        })
        .collect();
    admin
        .upload_dataset("iris-two", "species", Some("classification"), two.into())
        .await
        .unwrap();
    let (v1, v2) = (train(&admin, "iris").await, train(&admin, "iris-two").await);
    admin
        .deploy(
            "iris",
            &DeployRequest {
                model: Some("iris".into()),
                version: Some(v1),
                ..DeployRequest::default()
            },
            None,
        )
        .await
        .unwrap();

    // Reports: viewers may not send them (they could fake traffic), and their size is bounded.
    let viewer = new_token(&admin, "viewer", Role::Viewer).await;
    let report = ReplicaReport {
        replica: "r".into(),
        sequence: 1,
        ..ReplicaReport::default()
    };
    let refused = server
        .client(Some(viewer.clone()))
        .report_replica(&report)
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(403), "{refused}");
    let too_many = ReplicaReport {
        rows: vec![ReportRow::default(); slipway_api::MAX_REPORT_ROWS + 1],
        ..report.clone()
    };
    match admin.report_replica(&too_many).await.unwrap_err() {
        ApiError::Server {
            status: 400,
            message,
            ..
        } => assert!(
            message.starts_with("rows: expected at most 1000"),
            "{message}"
        ),
        other => panic!("{other}"),
    }

    // The replica reports with a worker token; the callers are viewers.
    let replica_token = new_token(&admin, "serving-replica", Role::Worker).await;
    let replica = server.serving_replica(&replica_token);
    let callers = [
        new_token(&admin, "alice", Role::Viewer).await,
        new_token(&admin, "bob", Role::Viewer).await,
    ];
    let client = |n: usize| replica.client(&callers[n % 2]);
    eventually("the replica to serve v1", Duration::from_secs(60), || {
        let client = client(0);
        async move { client.predict("iris", &request(good(), None)).await.ok() }
    })
    .await;
    for n in 0..40 {
        client(n)
            .predict("iris", &request(good(), None))
            .await
            .unwrap();
    }
    for n in 0..3 {
        let wrong_width = request(serde_json::json!([1.0]), None);
        client(n).predict("iris", &wrong_width).await.unwrap_err();
    }
    // Exactly what the replica counted, whatever the first polls added.
    let mine = replica_metrics(&replica, &callers[0]).await;
    let ok = counted(&mine, v1, "ok");
    assert!(ok >= 40, "{mine}");
    assert_eq!(counted(&mine, v1, "invalid_input"), 3, "{mine}");
    server_counts(&admin, v1, ok, 3).await;
    let metrics = admin.deployment_metrics("iris").await.unwrap();
    let primary = &metrics.versions[0];
    assert_eq!((primary.version, primary.variant.as_str()), (v1, "primary"));
    assert_eq!((primary.requests, primary.errors), (ok + 3, 0));
    assert_eq!(primary.errors_by_kind["invalid_input"], 3);
    assert_eq!(primary.predictions.values().sum::<u64>(), ok);
    let drift = admin.drift("iris").await.unwrap();
    assert!(
        drift.rows as u64 >= ok,
        "the replica's rows reach drift: {drift:?}"
    );
    assert_eq!(drift.callers, 2, "{drift:?}");

    // A canary that fails only on the replica is rolled back by the server's guard.
    let policy = SloPolicy {
        min_requests: 10,
        max_error_rate: 0.1,
        window_secs: 60,
        ..SloPolicy::default()
    };
    admin
        .set_slo_policy("iris", &policy, Some("judge quickly"))
        .await
        .unwrap();
    admin
        .deploy(
            "iris",
            &DeployRequest {
                version: Some(v2),
                canary_percent: Some(50.0),
                ..DeployRequest::default()
            },
            Some("try v2"),
        )
        .await
        .unwrap();
    let mut sent = 0;
    let rolled_back = eventually("the guard's rollback", Duration::from_secs(60), || {
        sent += 1;
        let (admin, client, key) = (admin.clone(), client(sent), format!("user-{sent}"));
        async move {
            let _ = client.predict("iris", &request(good(), Some(key))).await;
            let revisions = admin.deployment_revisions("iris").await.ok()?;
            revisions.into_iter().find(|r| r.actor == "slo-guard")
        }
    })
    .await;
    assert_eq!(rolled_back.spec.canary, None);
    let reason = rolled_back.reason.unwrap();
    assert!(reason.starts_with("canary v2: error rate"), "{reason}");
    let server_text = admin.prometheus_text().await.unwrap();
    assert!(counted(&server_text, v2, "error") > 0, "{server_text}");

    // While the server is down the replica keeps answering (callers it knows) and keeps its
    // reports; the restarted server counts them.
    let carol = new_token(&admin, "carol", Role::Viewer).await;
    let carol_client = replica.client(&carol);
    eventually(
        "the replica to serve v1 alone",
        Duration::from_secs(30),
        || {
            let client = carol_client.clone();
            async move {
                let answer = client.predict("iris", &request(good(), None)).await.ok()?;
                (answer.model_version == v1 && answer.variant == "primary").then_some(())
            }
        },
    )
    .await;
    server.kill9();
    let before = counted(&replica_metrics(&replica, &carol).await, v1, "ok");
    let mut answered = 0;
    for _ in 0..5 {
        if carol_client
            .predict("iris", &request(good(), None))
            .await
            .is_ok()
        {
            answered += 1;
        }
    }
    assert!(answered > 0, "the replica answers while the server is down");
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.restart_same_address();
    let admin = server.admin();
    // The restarted server's counts start afresh: what it shows came from the backlog.
    let after = counted(&replica_metrics(&replica, &carol).await, v1, "ok");
    assert_eq!(after - before, answered);
    eventually(
        "the restarted server to count the backlog",
        Duration::from_secs(30),
        || {
            let admin = admin.clone();
            async move {
                let text = admin.prometheus_text().await.ok()?;
                (counted(&text, v1, "ok") >= answered).then_some(())
            }
        },
    )
    .await;
}

/// Whether the server at `client` leads the periodic work (its `slipway_leader` gauge).
async fn leads(client: &Client) -> bool {
    let text = client.prometheus_text().await.unwrap();
    text.lines()
        .any(|line| line == "slipway_leader{role=\"maintenance\"} 1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_taken_by_a_follower_reaches_the_leader_once() {
    if !database::postgres() {
        println!(
            "skipped on SQLite: server replicas share one PostgreSQL database (set {} to run it)",
            database::ADMIN_URL_VAR
        );
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let leader = TestServer::start_in(temp.path(), &[]);
    let admin = leader.admin();
    eventually("the first replica to lead", Duration::from_secs(20), || {
        let admin = admin.clone();
        async move { leads(&admin).await.then_some(()) }
    })
    .await;
    let follower = leader.replica(&[]);
    let follower_admin = follower.admin();
    assert!(!leads(&follower_admin).await);
    let _worker = leader.worker("trainer", &[]);
    admin
        .upload_dataset("iris", "species", Some("classification"), IRIS.into())
        .await
        .unwrap();
    let v1 = train(&admin, "iris").await;
    admin
        .deploy(
            "iris",
            &DeployRequest {
                model: Some("iris".into()),
                version: Some(v1),
                ..DeployRequest::default()
            },
            None,
        )
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let report = |sequence: u64, ok: u64| ReplicaReport {
        replica: "elsewhere".into(),
        sequence,
        buckets: vec![ReportBucket {
            deployment: "iris".into(),
            version: v1,
            second: now,
            ok,
            classes: [("setosa".to_owned(), ok)].into(),
            ..ReportBucket::default()
        }],
        ..ReplicaReport::default()
    };
    let engineer = new_token(&admin, "engineer", Role::Engineer).await;
    let through_follower = follower.client(Some(engineer));
    let taken = through_follower
        .report_replica(&report(1, 5))
        .await
        .unwrap();
    assert_eq!((taken.buckets, taken.rows), (1, 0));
    server_counts(&admin, v1, 5, 0).await;
    // The follower stored it for the leader: its own counts stay empty.
    let follower_text = follower_admin.prometheus_text().await.unwrap();
    assert_eq!(counted(&follower_text, v1, "ok"), 0, "{follower_text}");
    let metrics = admin.deployment_metrics("iris").await.unwrap();
    assert_eq!(metrics.versions[0].requests, 5);

    // Sent again (its answer lost), then the next one: the first is counted once.
    through_follower
        .report_replica(&report(1, 5))
        .await
        .unwrap();
    through_follower
        .report_replica(&report(2, 1))
        .await
        .unwrap();
    let total = eventually("the next report", Duration::from_secs(30), || {
        let admin = admin.clone();
        async move {
            let text = admin.prometheus_text().await.ok()?;
            let ok = counted(&text, v1, "ok");
            (ok >= 6).then_some(ok)
        }
    })
    .await;
    assert_eq!(total, 6, "a report sent twice was counted twice");
}
