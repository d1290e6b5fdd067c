//! Monitoring with real processes: Prometheus counters that match the traffic sent, drift of
//! live inputs against the training data raising an alert that names the features, and a
//! failing canary rolled back by the SLO guard while the primary keeps answering.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    ApiError, Client, DeployRequest, JobState, PredictRequest, Role, SloPolicy, TrainSpec,
};
use slipway_tests::{TestServer, eventually, new_token, run_job};
use std::collections::BTreeMap;
use std::time::Duration;

const DIGITS: &str = include_str!("../../datasets/digits.csv");

async fn train(client: &Client, dataset: &str) -> u32 {
    let spec = TrainSpec {
        dataset: dataset.into(),
        hidden: Some(vec![32]),
        epochs: Some(15),
        register_as: Some("digits".into()),
        ..TrainSpec::default()
    };
    slipway_tests::train_and_register(client, spec).await
}

/// The digits rows as named instances, with `transform` applied to every pixel.
fn rows(transform: impl Fn(f64) -> f64) -> Vec<serde_json::Value> {
    slipway_tests::digits_instances(transform)
}

async fn start() -> (TestServer, Client) {
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("digits").await.ok() }
    })
    .await;
    (server, client)
}

async fn deploy_v1(client: &Client) {
    train(client, "digits").await;
    let request = DeployRequest {
        model: Some("digits".into()),
        version: Some(1),
        ..DeployRequest::default()
    };
    client.deploy("digits", &request, None).await.unwrap();
}

/// Parses the Prometheus text format: every sample line is `name{labels} value`.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value: {line}"));
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "metric name {name}"
            );
            if name_end < series.len() {
                assert!(series.ends_with('}'), "labels close: {line}");
            }
            (
                series.to_owned(),
                value
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("value of {line}")),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_of_shifted_inputs_raises_an_alert_naming_the_features() {
    let (server, client) = start().await;
    deploy_v1(&client).await;
    let viewer = server.client(Some(new_token(&client, "dashboard", Role::Viewer).await));
    let policy = SloPolicy {
        drift_window_rows: 400,
        min_drift_rows: 200,
        ..SloPolicy::default()
    };
    client
        .set_slo_policy("digits", &policy, Some("test window"))
        .await
        .unwrap();

    let training = rows(|v| v);
    for (i, chunk) in training[..400].chunks(50).enumerate() {
        let request = PredictRequest {
            instances: chunk.to_vec(),
            key: None,
        };
        let caller = if i % 2 == 0 { &client } else { &viewer };
        caller.predict("digits", &request).await.unwrap();
    }
    let report = client.drift("digits").await.unwrap();
    assert_eq!((report.rows, report.callers), (400, 2));
    assert_eq!(report.status, "stable", "{:?}", &report.features[..3]);
    assert!(
        report.features.iter().all(|f| f.psi < 0.1),
        "{:?}",
        &report.features[..3]
    );
    assert!(report.prediction_psi.unwrap() < 0.1, "{report:?}");

    // Inverted pixels: the same digits, a different world. One caller alone (a viewer) fills
    // the window: it must not be able to raise the alert (and fire retraining) by itself.
    // One request, so the guard never sees a window half its rows and half the two callers'
    // (which is two callers, and drift).
    let inverted = rows(|v| 16.0 - v);
    for chunk in inverted[400..800].chunks(400) {
        let request = PredictRequest {
            instances: chunk.to_vec(),
            key: None,
        };
        viewer.predict("digits", &request).await.unwrap();
    }
    let report = client.drift("digits").await.unwrap();
    assert_eq!(
        (report.callers, report.status.as_str()),
        (1, "insufficient_data")
    );
    assert!(
        report.features[0].psi > 0.2,
        "the drift is measured all the same"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let alerts = client.alerts(Some("digits"), true).await.unwrap();
    assert!(alerts.iter().all(|a| a.kind != "drift"), "{alerts:?}");
    // A second caller sends the same kind of rows: now the drift counts.
    for chunk in inverted[800..900].chunks(50) {
        let request = PredictRequest {
            instances: chunk.to_vec(),
            key: None,
        };
        client.predict("digits", &request).await.unwrap();
    }
    let report = client.drift("digits").await.unwrap();
    assert_eq!(report.status, "alert");
    let worst = &report.features[0];
    assert!(worst.psi > 0.2 && worst.ks > 0.2, "{worst:?}");
    let alert = eventually("a drift alert", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let alerts = client.alerts(Some("digits"), true).await.ok()?;
            alerts.into_iter().find(|a| a.kind == "drift")
        }
    })
    .await;
    assert!(alert.message.contains(&worst.feature), "{}", alert.message);
    assert!(
        alert.message.contains("drifted above PSI 0.2"),
        "{}",
        alert.message
    );
    client
        .acknowledge_alert(alert.id, Some("seen"))
        .await
        .unwrap();
    let open = client.alerts(Some("digits"), true).await.unwrap();
    assert!(open.iter().all(|a| a.id != alert.id));

    // The judgement stays in the hour's drift, for the heatmap over time.
    let hours = viewer.drift_hours("digits", 24).await.unwrap();
    assert_eq!(hours.hours.len(), 24);
    let drifted = &hours.features[0];
    assert!(
        drifted.psi.iter().flatten().any(|psi| *psi > 0.2),
        "{drifted:?}"
    );
    assert_eq!(drifted.psi.len(), 24);
    let err = viewer.drift_hours("digits", 0).await.unwrap_err();
    assert!(
        err.to_string().contains("hours: expected 1 to 168"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_traffic_and_a_failing_canary_is_rolled_back() {
    let (server, client) = start().await;
    deploy_v1(&client).await;
    let good = rows(|v| v);
    for row in &good[..37] {
        client
            .predict(
                "digits",
                &PredictRequest {
                    instances: vec![row.clone()],
                    key: None,
                },
            )
            .await
            .unwrap();
    }
    for _ in 0..3 {
        let bad = PredictRequest {
            instances: vec![serde_json::json!([1.0])],
            key: None,
        };
        client.predict("digits", &bad).await.unwrap_err();
    }
    let text = client.prometheus_text().await.unwrap();
    let samples = samples(&text);
    let series = |outcome: &str| {
        format!(
            "slipway_predict_requests_total{{deployment=\"digits\",version=\"1\",outcome=\"{outcome}\"}}"
        )
    };
    assert_eq!(samples[&series("ok")], 37.0, "{text}");
    assert_eq!(samples[&series("invalid_input")], 3.0);
    assert_eq!(
        samples["slipway_predict_latency_seconds_count{deployment=\"digits\",version=\"1\"}"],
        40.0
    );
    assert_eq!(
        samples["slipway_predict_latency_seconds_bucket{deployment=\"digits\",version=\"1\",le=\"+Inf\"}"],
        40.0
    );
    let predicted: f64 = samples
        .iter()
        .filter(|(k, _)| k.starts_with("slipway_predictions_total{deployment=\"digits\""))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(predicted, 37.0);
    assert!(samples.contains_key("slipway_jobs{state=\"succeeded\"}"));
    let metrics = client.deployment_metrics("digits").await.unwrap();
    // Wrong-width rows are the caller's mistake: counted, but not as the version's errors.
    assert_eq!(
        (metrics.versions[0].requests, metrics.versions[0].errors),
        (40, 0)
    );
    assert_eq!(metrics.versions[0].errors_by_kind["invalid_input"], 3);
    assert_eq!(metrics.versions[0].error_rate, 0.0);

    // A canary trained on another schema (the first 32 pixels) cannot answer digits rows.
    let half: String = DIGITS
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            format!("{},{}\n", cells[..32].join(","), cells[64])
        })
        .collect();
    client
        .upload_dataset("digits-half", "label", None, half.into_bytes())
        .await
        .unwrap();
    assert_eq!(train(&client, "digits-half").await, 2);
    let (ok, out, err) = server.cli(&[
        "deploy",
        "digits",
        "--version",
        "2",
        "--canary",
        "50",
        "--reason",
        "try v2",
    ]);
    assert!(ok, "{out}{err}");
    let (mut primary_failures, mut canary_failures) = (0, 0);
    for (i, row) in good.iter().enumerate().take(120) {
        let request = PredictRequest {
            instances: vec![row.clone()],
            key: Some(format!("user-{i}")),
        };
        match client.predict("digits", &request).await {
            Ok(answer) => assert_eq!(answer.model_version, 1),
            Err(ApiError::Server {
                status: 400,
                message,
                ..
            }) if message.contains("unknown feature") => canary_failures += 1,
            Err(other) => {
                primary_failures += 1;
                eprintln!("{other}");
            }
        }
    }
    assert!(canary_failures > 0, "the canary took traffic and failed");
    assert_eq!(primary_failures, 0, "the primary kept answering");
    let rolled_back = eventually("the guard's rollback", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let revisions = client.deployment_revisions("digits").await.ok()?;
            revisions.into_iter().find(|r| r.actor == "slo-guard")
        }
    })
    .await;
    assert_eq!(rolled_back.action, "rollback");
    assert_eq!(rolled_back.spec.canary, None);
    assert_eq!(rolled_back.spec.primary, 1);
    let reason = rolled_back.reason.unwrap();
    assert!(reason.starts_with("canary v2: error rate"), "{reason}");
    let alerts = client.alerts(Some("digits"), true).await.unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == "error_rate" && a.message.contains("rolled back")),
        "{alerts:?}"
    );
    for row in &good[200..230] {
        let answer = client
            .predict(
                "digits",
                &PredictRequest {
                    instances: vec![row.clone()],
                    key: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(answer.model_version, 1);
    }

    // A breaching primary is rolled back when the policy says so.
    let policy = SloPolicy {
        rollback_primary: true,
        ..SloPolicy::default()
    };
    client
        .set_slo_policy("digits", &policy, Some("roll back bad releases"))
        .await
        .unwrap();
    let bad_release = DeployRequest {
        version: Some(2),
        ..DeployRequest::default()
    };
    let released = client
        .deploy("digits", &bad_release, Some("a bad release"))
        .await
        .unwrap();
    for row in &good[300..330] {
        let request = PredictRequest {
            instances: vec![row.clone()],
            key: None,
        };
        let _ = client.predict("digits", &request).await;
    }
    let restored = eventually("the primary's rollback", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let deployment = client.get_deployment("digits").await.ok()?;
            (deployment.revision > released.revision).then_some(deployment)
        }
    })
    .await;
    assert_eq!(restored.spec.primary, 1);
    let revisions = client.deployment_revisions("digits").await.unwrap();
    assert_eq!(
        (revisions[0].actor.as_str(), revisions[0].action.as_str()),
        ("slo-guard", "rollback")
    );
    assert!(
        revisions[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("primary v2: error rate")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_predictions_are_compared_with_the_training_values() {
    let server = TestServer::up();
    let client = server.admin();
    let line = |x: f64| format!("{x},{}\n", 2.0 * x + 1.0);
    let rows: String = (0..400).map(|i| line(f64::from(i) / 40.0)).collect();
    client
        .upload_dataset(
            "line",
            "y",
            Some("regression"),
            format!("x,y\n{rows}").into_bytes(),
        )
        .await
        .unwrap();
    let spec = TrainSpec {
        dataset: "line".into(),
        arch: Some("logreg".into()),
        epochs: Some(150),
        learning_rate: Some(0.05),
        register_as: Some("line".into()),
        ..TrainSpec::default()
    };
    let job = run_job(&client, spec).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let first = DeployRequest {
        model: Some("line".into()),
        version: Some(1),
        ..DeployRequest::default()
    };
    client.deploy("line", &first, None).await.unwrap();
    let send = |xs: Vec<f64>| {
        let client = client.clone();
        async move {
            let instances = xs.into_iter().map(|x| serde_json::json!([x])).collect();
            client
                .predict(
                    "line",
                    &PredictRequest {
                        instances,
                        key: None,
                    },
                )
                .await
                .unwrap();
        }
    };
    // The same range as training: the predicted values spread like the training labels.
    send((0..200).map(|i| f64::from(i) / 20.0).collect()).await;
    let report = client.drift("line").await.unwrap();
    assert!(report.prediction_psi.unwrap() < 0.1, "{report:?}");
    assert!(!report.predictions.is_empty());
    assert!(
        report.predictions[0].bucket.starts_with('['),
        "{:?}",
        report.predictions
    );
    let live_total: f64 = report.predictions.iter().map(|p| p.live).sum();
    assert!((live_total - 1.0).abs() < 1e-9);
    // Inputs far outside: the predictions shift with them.
    let policy = SloPolicy {
        drift_window_rows: 200,
        ..SloPolicy::default()
    };
    client.set_slo_policy("line", &policy, None).await.unwrap();
    send((0..200).map(|i| 50.0 + f64::from(i)).collect()).await;
    let report = client.drift("line").await.unwrap();
    assert!(report.prediction_psi.unwrap() > 0.2, "{report:?}");
    assert_eq!(report.features[0].feature, "x");
    assert!(report.features[0].psi > 0.2);
}

/// The digits rows themselves, replayed in file order by two callers, ten rows at a time: the
/// drift report must never say `alert` at any row count from the policy's minimum up, before
/// a restart or after it (when the live window starts empty again and refills); inverted rows
/// still alert after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_distribution_rows_never_alert_before_or_after_a_restart() {
    let (mut server, client) = start().await;
    deploy_v1(&client).await;
    let viewer_token = new_token(&client, "dashboard", Role::Viewer).await;
    let policy = SloPolicy::default();
    let training = rows(|v| v);

    async fn replay(
        clients: [&Client; 2],
        rows: &[serde_json::Value],
        policy: &SloPolicy,
        when: &str,
    ) {
        for (i, chunk) in rows.chunks(10).enumerate() {
            let request = PredictRequest {
                instances: chunk.to_vec(),
                key: None,
            };
            clients[i % 2].predict("digits", &request).await.unwrap();
            let report = clients[0].drift("digits").await.unwrap();
            if report.rows < policy.min_drift_rows {
                assert_eq!(report.status, "insufficient_data");
                continue;
            }
            assert_ne!(
                report.status,
                "alert",
                "{when}, {} rows: {:?}",
                report.rows,
                &report.features[..3]
            );
            assert!(report.features.iter().all(|f| f.status != "alert"));
        }
    }

    let viewer = server.client(Some(viewer_token.clone()));
    replay([&client, &viewer], &training[..600], &policy, "before").await;
    server.kill9();
    server.restart();
    let client = server.admin();
    let viewer = server.client(Some(viewer_token));
    eventually("the restarted server", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.ready().await.ok() }
    })
    .await;
    let report = client.drift("digits").await.unwrap();
    assert_eq!(report.rows, 0, "the live window starts empty");
    replay([&client, &viewer], &training[600..1200], &policy, "after").await;
    // The guard judged all along: no drift alert was raised.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let alerts = client.alerts(Some("digits"), true).await.unwrap();
    assert!(
        alerts.iter().all(|a| !a.kind.contains("drift")),
        "{alerts:?}"
    );

    // A different world still alerts, at the policy's minimum already.
    let inverted = rows(|v| 16.0 - v);
    let window = SloPolicy {
        drift_window_rows: 100,
        ..SloPolicy::default()
    };
    client
        .set_slo_policy("digits", &window, Some("only the newest rows"))
        .await
        .unwrap();
    for (i, chunk) in inverted[..100].chunks(10).enumerate() {
        let request = PredictRequest {
            instances: chunk.to_vec(),
            key: None,
        };
        [&client, &viewer][i % 2]
            .predict("digits", &request)
            .await
            .unwrap();
    }
    let report = client.drift("digits").await.unwrap();
    assert_eq!((report.rows, report.status.as_str()), (100, "alert"));
    let worst = &report.features[0];
    assert!(worst.psi - worst.psi_noise > 0.2, "{worst:?}");
    eventually("a drift alert", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let alerts = client.alerts(Some("digits"), true).await.ok()?;
            alerts.into_iter().find(|a| a.kind == "drift")
        }
    })
    .await;
}
