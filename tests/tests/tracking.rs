//! The tracking API end to end: experiments, runs, logging, search, history, artifacts, and
//! the CLI on top of them.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    CreateExperiment, CreateRun, KeyValue, LogBatch, MetricHistoryQuery, MetricPoint, PageRequest,
    RunStatus, SearchRuns, UpdateRun,
};
use slipway_tests::TestServer;

fn metric(key: &str, value: f64, step: i64) -> MetricPoint {
    MetricPoint {
        key: key.into(),
        value,
        step,
        timestamp: None,
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

#[tokio::test]
async fn experiments_are_created_found_and_paged() {
    let server = TestServer::start();
    let client = server.admin();
    for i in 0..5 {
        client
            .create_experiment(&CreateExperiment {
                name: format!("exp-{i}"),
                description: None,
            })
            .await
            .unwrap();
    }
    let by_name = client.get_experiment("exp-3").await.unwrap();
    let by_id = client
        .get_experiment(&by_name.id.to_string())
        .await
        .unwrap();
    assert_eq!(by_id.name, "exp-3");
    let err = client
        .create_experiment(&CreateExperiment {
            name: "exp-3".into(),
            description: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409));
    let err = client
        .create_experiment(&CreateExperiment {
            name: "123".into(),
            description: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));

    let first = client
        .list_experiments(&PageRequest {
            limit: Some(3),
            page_token: None,
        })
        .await
        .unwrap();
    assert_eq!(first.items.len(), 3);
    let second = client
        .list_experiments(&PageRequest {
            limit: Some(3),
            page_token: first.next_page_token,
        })
        .await
        .unwrap();
    assert_eq!(second.items.len(), 2);
    assert!(second.next_page_token.is_none());
}

#[tokio::test]
async fn runs_are_searched_by_metrics_params_tags_and_attributes() {
    let server = TestServer::start();
    let client = server.admin();
    let vision = client
        .create_experiment(&CreateExperiment {
            name: "vision".into(),
            description: None,
        })
        .await
        .unwrap();
    // Six runs: accuracy 0.85..0.95, learning rates alternating, teams alternating.
    let mut ids = Vec::new();
    for i in 0..6i64 {
        let run = client
            .create_run(&CreateRun {
                experiment_id: Some(vision.id),
                name: Some(format!("r{i}")),
                ..CreateRun::default()
            })
            .await
            .unwrap();
        let acc = 0.85 + 0.02 * i as f64;
        let batch = LogBatch {
            metrics: vec![metric("acc", 0.1, 0), metric("acc", acc, 10)],
            params: vec![kv("lr", if i % 2 == 0 { "0.01" } else { "0.1" })],
            tags: vec![kv("team", if i < 3 { "vision" } else { "speech" })],
        };
        client.log_batch(run.id, &batch).await.unwrap();
        ids.push(run.id);
    }
    client
        .update_run(
            ids[5],
            &UpdateRun {
                status: Some(RunStatus::Finished),
                ..UpdateRun::default()
            },
        )
        .await
        .unwrap();

    let search = |filter: &str, order: &[&str]| SearchRuns {
        filter: Some(filter.to_owned()),
        order_by: order.iter().map(|o| o.to_string()).collect(),
        ..SearchRuns::default()
    };
    let names = |page: slipway_api::Page<slipway_api::Run>| -> Vec<String> {
        page.items.into_iter().map(|run| run.name).collect()
    };

    // The documented example: acc > 0.9 and (lr = 0.01 or team = vision).
    let page = client
        .search_runs(&search(
            "metrics.acc > 0.9 and (params.lr = '0.01' or tags.team = 'vision')",
            &["metrics.acc DESC"],
        ))
        .await
        .unwrap();
    assert_eq!(
        names(page),
        vec!["r4"],
        "acc 0.93 with lr 0.01; r3 is speech with lr 0.1"
    );

    let page = client
        .search_runs(&search("metrics.acc >= 0.9", &["metrics.acc ASC"]))
        .await
        .unwrap();
    assert_eq!(
        names(page),
        vec!["r3", "r4", "r5"],
        "compared on the latest value"
    );
    let page = client
        .search_runs(&search("status = 'FINISHED'", &[]))
        .await
        .unwrap();
    assert_eq!(names(page), vec!["r5"]);
    let page = client
        .search_runs(&search(
            "tags.team LIKE 'spe%' and not params.lr IN ('0.1')",
            &[],
        ))
        .await
        .unwrap();
    assert_eq!(names(page), vec!["r4"]);
    let page = client
        .search_runs(&search(
            "experiment = 'vision' and name IN ('r0', 'r1')",
            &["name"],
        ))
        .await
        .unwrap();
    assert_eq!(names(page), vec!["r0", "r1"]);
    let page = client
        .search_runs(&search("tags.missing IS NULL", &[]))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 6);

    // Pagination over an ordered search.
    let mut request = search("", &["metrics.acc DESC"]);
    request.limit = Some(4);
    let first = client.search_runs(&request).await.unwrap();
    request.page_token = first.next_page_token.clone();
    let second = client.search_runs(&request).await.unwrap();
    let all: Vec<String> = names(first).into_iter().chain(names(second)).collect();
    assert_eq!(all, vec!["r5", "r4", "r3", "r2", "r1", "r0"]);

    // The run shows everything logged to it.
    let detail = client.get_run(ids[0]).await.unwrap();
    assert_eq!(detail.params.get("lr").map(String::as_str), Some("0.01"));
    assert_eq!(detail.tags.get("team").map(String::as_str), Some("vision"));
    assert_eq!(detail.run.metrics.get("acc"), Some(&0.85));
}

#[tokio::test]
async fn history_is_paged_and_downsampled_and_tags_overwrite() {
    let server = TestServer::start();
    let client = server.admin();
    let run = client.create_run(&CreateRun::default()).await.unwrap();
    let metrics: Vec<MetricPoint> = (0..1000)
        .map(|i| {
            metric(
                "loss",
                if i == 500 { 50.0 } else { 1.0 / (1 + i) as f64 },
                i,
            )
        })
        .collect();
    client
        .log_batch(
            run.id,
            &LogBatch {
                metrics,
                tags: vec![kv("stage", "a")],
                ..LogBatch::default()
            },
        )
        .await
        .unwrap();
    client
        .log_batch(
            run.id,
            &LogBatch {
                tags: vec![kv("stage", "b")],
                ..LogBatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(client.get_run(run.id).await.unwrap().tags["stage"], "b");

    let chart = client
        .metric_history(
            run.id,
            &MetricHistoryQuery {
                key: "loss".into(),
                max_points: Some(100),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(chart.downsampled);
    assert_eq!(chart.points.len(), 100);
    assert_eq!(chart.points.first().map(|p| p.step), Some(0));
    assert_eq!(chart.points.last().map(|p| p.step), Some(999));
    assert!(
        chart.points.iter().any(|p| p.value == 50.0),
        "the spike survives downsampling"
    );

    let page = client
        .metric_history(
            run.id,
            &MetricHistoryQuery {
                key: "loss".into(),
                limit: Some(600),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.points.len(), 600);
    assert!(page.next_page_token.is_some());
}

#[tokio::test]
async fn artifacts_round_trip_with_their_digest() {
    let server = TestServer::start();
    let client = server.admin();
    let run = client.create_run(&CreateRun::default()).await.unwrap();
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let stored = client
        .upload_artifact(run.id, "model/weights.bin", bytes.clone())
        .await
        .unwrap();
    assert_eq!(stored.size, 200_000);
    assert_eq!(stored.digest.len(), 64);
    client
        .upload_artifact(run.id, "notes/read me.txt", b"hello".to_vec())
        .await
        .unwrap();
    assert_eq!(
        client
            .download_artifact(run.id, "model/weights.bin")
            .await
            .unwrap(),
        bytes
    );
    let listed = client.list_artifacts(run.id).await.unwrap();
    let paths: Vec<&str> = listed.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, vec!["model/weights.bin", "notes/read me.txt"]);
    let blob = server
        .data_dir
        .join("artifacts")
        .join(&stored.digest[..2])
        .join(&stored.digest);
    assert!(blob.exists(), "stored content-addressed");
    let err = client
        .download_artifact(run.id, "missing.bin")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn the_cli_drives_the_server() {
    let server = TestServer::start();
    let client = server.admin();
    let run = client
        .create_run(&CreateRun {
            experiment: Some("cli".into()),
            name: Some("first".into()),
            ..CreateRun::default()
        })
        .await
        .unwrap();
    client
        .log_batch(
            run.id,
            &LogBatch {
                metrics: vec![metric("acc", 0.97, 1)],
                ..LogBatch::default()
            },
        )
        .await
        .unwrap();
    client
        .upload_artifact(run.id, "model.json", b"{}".to_vec())
        .await
        .unwrap();

    let (ok, out, err) = server.cli(&["runs", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("first") && out.contains("acc=0.9700"), "{out}");
    let (ok, out, _) = server.cli(&["runs", "search", "metrics.acc > 0.9", "--output", "json"]);
    assert!(ok);
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["items"][0]["name"], "first");
    let (ok, out, _) = server.cli(&["runs", "show", &run.id.to_string()]);
    assert!(ok);
    assert!(
        out.contains("model.json")
            && out.contains("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"),
        "{out}"
    );
    let (ok, out, _) = server.cli(&["experiments", "list"]);
    assert!(ok && out.contains("cli"), "{out}");

    let (ok, secret, err) = server.cli(&[
        "token",
        "create",
        "--name",
        "alice",
        "--role",
        "viewer",
        "--reason",
        "onboarding",
    ]);
    assert!(ok, "{err}");
    let (ok, out, _) = server.cli_as(Some(secret.trim()), &["whoami"]);
    assert!(ok && out.contains("alice (viewer)"), "{out}");
    let (ok, _, err) = server.cli_as(Some(secret.trim()), &["experiments", "create", "nope"]);
    assert!(!ok && err.contains("role viewer"), "{err}");
    let (ok, out, _) = server.cli(&["token", "list"]);
    assert!(
        ok && out.contains("alice") && !out.contains(secret.trim()),
        "{out}"
    );
    let (ok, _, _) = server.cli(&["token", "revoke", "alice", "--reason", "done"]);
    assert!(ok);
    let (ok, _, err) = server.cli_as(Some(secret.trim()), &["whoami"]);
    assert!(!ok && err.contains("invalid or revoked"), "{err}");
    let (ok, out, _) = server.cli(&["audit"]);
    assert!(
        ok && out.contains("token.revoke") && out.contains("done"),
        "{out}"
    );

    let (ok, _, err) = server.cli_as(None, &["runs", "list"]);
    assert!(!ok && err.contains("bearer token is required"), "{err}");
}

#[tokio::test]
async fn the_dashboard_overview_is_served_with_read_access() {
    let server = TestServer::start();
    let client = server.admin();
    client
        .create_run(&CreateRun {
            experiment: Some("web".into()),
            name: Some("shown-on-page".into()),
            ..CreateRun::default()
        })
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/", server.url))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    // The run shows among recent runs; recent changes list operations (deploys, promotions,
    // rollbacks, alerts, schedules), not tracking writes such as creating a run.
    assert!(
        html.contains("shown-on-page") && !html.contains("run.create"),
        "{html}"
    );
    let anonymous = http.get(format!("{}/", server.url)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}
