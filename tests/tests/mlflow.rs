//! The MLflow REST API with the real `mlflow` client: a script that sets an experiment,
//! starts runs, logs params, step metrics, tags and artifacts, searches, reads histories,
//! registers a model from a run's artifact URI and moves aliases (tests/python/mlflow_client.py
//! checks what the client reads back); then the same runs and model through `/api/v1` and
//! `slipway runs show`, and MLflow's error shape on raw requests.

use slipway_api::Role;
use slipway_tests::{TestServer, new_token, python};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mlflow_client_tracks_and_registers_into_slipways_store() {
    // Made first: a venv that cannot be made fails here, before the server starts.
    let venv = tokio::task::spawn_blocking(python::venv).await.unwrap();
    assert!(venv.join("bin").join("python").exists());

    let server = TestServer::start();
    let admin = server.admin();
    let engineer = new_token(&admin, "trainer", Role::Engineer).await;
    let worker = new_token(&admin, "box", Role::Worker).await;
    let run = tokio::task::spawn_blocking({
        let url = server.url.clone();
        move || {
            python::run_script(
                "mlflow_client.py",
                &[],
                &[
                    ("MLFLOW_TRACKING_URI", &url),
                    ("MLFLOW_TRACKING_TOKEN", &engineer),
                    ("SLIPWAY_WORKER_TOKEN", &worker),
                    ("MLFLOW_DISABLE_TELEMETRY", "true"),
                    ("DO_NOT_TRACK", "true"),
                ],
            )
        }
    })
    .await
    .unwrap();
    // The client prints links to the runs it ends; the summary is the last line.
    let stdout = run.expect_success("the MLflow client script");
    let last = stdout.lines().rev().find(|line| !line.trim().is_empty());
    let summary: serde_json::Value = serde_json::from_str(last.unwrap_or_default())
        .unwrap_or_else(|err| panic!("the script's summary: {err}\n{stdout}"));
    assert_eq!(summary["unknown_run"], "RESOURCE_DOES_NOT_EXIST");
    assert_eq!(summary["duplicate_model"], "RESOURCE_ALREADY_EXISTS");
    assert_eq!(summary["protected_alias"], "PERMISSION_DENIED");
    // Stages moved through MLflow's transition-stage: v2 promoted with
    // archive_existing_versions archived v1.
    assert_eq!(
        summary["stages"],
        serde_json::json!({"1": "Archived", "2": "Production"})
    );

    // The same run through Slipway's own API: one store.
    let id: i64 = summary["baseline"].as_str().unwrap().parse().unwrap();
    let detail = admin.get_run(id).await.unwrap();
    assert_eq!(detail.run.name, "baseline");
    assert_eq!(detail.run.created_by, "trainer");
    assert_eq!(
        detail.run.experiment_id.to_string(),
        summary["experiment_id"].as_str().unwrap()
    );
    assert_eq!(detail.params["lr"], "0.01");
    assert_eq!(detail.tags["team"], "vision");
    assert_eq!(detail.run.metrics["acc"], 0.95);
    assert_eq!(detail.run.status.as_str(), "FINISHED");
    let blob = detail
        .artifacts
        .iter()
        .find(|a| a.path == "data/blob.bin")
        .expect("the uploaded artifact");
    assert_eq!(blob.size, 200_000);
    let experiment = admin.get_experiment("mlflow-e2e").await.unwrap();
    assert_eq!(experiment.id, detail.run.experiment_id);

    // And the registry: the version registered through MLflow, with its run and alias.
    let version = admin
        .model_version("mlflow-e2e-model", "champion")
        .await
        .unwrap();
    assert_eq!(version.version, 1);
    assert_eq!(version.run_id, Some(id));
    assert_eq!(version.aliases, vec!["champion".to_owned()]);

    // Each stage change is audited, by whom and from which stage to which.
    let audit = admin
        .list_audit(&slipway_api::PageRequest {
            limit: Some(500),
            page_token: None,
        })
        .await
        .unwrap();
    let stages: Vec<_> = audit
        .items
        .iter()
        .filter(|event| event.action == "model.version.stage")
        .collect();
    assert_eq!(stages.len(), 3, "{stages:?}");
    assert!(
        stages.iter().all(|event| event.actor == "trainer"),
        "{stages:?}"
    );
    assert!(
        stages
            .iter()
            .any(|event| event.target_id == "mlflow-e2e-model:2"
                && event
                    .details
                    .as_ref()
                    .is_some_and(|d| d["archived_versions"] == serde_json::json!([1]))),
        "{stages:?}"
    );

    // The command line shows it like any run.
    let (ok, stdout, stderr) = server.cli(&["runs", "show", &id.to_string()]);
    assert!(ok, "slipway runs show failed: {stderr}");
    for expected in ["baseline", "lr", "0.01", "acc", "team", "data/blob.bin"] {
        assert!(stdout.contains(expected), "'{expected}' in:\n{stdout}");
    }

    // MLflow's error shape on raw requests, also for refusals before any handler.
    let http = reqwest::Client::new();
    let answer = http
        .get(format!(
            "{}/api/2.0/mlflow/runs/get?run_id={id}",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error_code"], "UNAUTHENTICATED", "{body}");
    let answer = http
        .post(format!("{}/api/2.0/mlflow/runs/log-batch", server.url))
        .bearer_auth(server.admin_token())
        .json(&serde_json::json!({"run_id": id.to_string(), "metrics": [{"key": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("value"),
        "{body}"
    );
    let answer = http
        .get(format!("{}/api/2.0/mlflow/no-such-thing", server.url))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error_code"], "ENDPOINT_NOT_FOUND", "{body}");

    // A search names only experiments that exist (checked in the search's own read).
    let answer = http
        .post(format!("{}/api/2.0/mlflow/runs/search", server.url))
        .bearer_auth(server.admin_token())
        .json(&serde_json::json!({"experiment_ids": ["999999"], "max_results": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error_code"], "RESOURCE_DOES_NOT_EXIST", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("'999999'"),
        "{body}"
    );
}
