//! The dataset registry end to end, and the demo data of `slipway up`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{JobState, SubmitJob};
use slipway_tests::{TestServer, eventually};
use std::time::Duration;

const IRIS: &[u8] = include_bytes!("../../datasets/iris.csv");

#[tokio::test]
async fn datasets_are_versioned_by_content_with_their_schema() {
    let server = TestServer::start();
    let client = server.admin();
    let first = client
        .upload_dataset("iris", "species", None, IRIS.to_vec())
        .await
        .unwrap();
    assert!(first.created);
    let d = &first.dataset;
    assert_eq!((d.version, d.rows, d.features.len()), (1, 150, 4));
    assert_eq!(d.task, "classification");
    assert_eq!(d.classes, vec!["setosa", "versicolor", "virginica"]);

    let again = client
        .upload_dataset("iris", "species", None, IRIS.to_vec())
        .await
        .unwrap();
    assert!(!again.created, "the same content is the same version");
    assert_eq!(again.dataset.version, 1);

    let fewer: Vec<u8> = String::from_utf8_lossy(IRIS)
        .lines()
        .take(120)
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes();
    let second = client
        .upload_dataset("iris", "species", None, fewer)
        .await
        .unwrap();
    assert_eq!(second.dataset.version, 2);
    let versions = client.dataset_versions("iris").await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    let stats = versions[1].statistics.as_ref().unwrap();
    assert_eq!(stats[0]["name"], "sepal_length_cm");
    assert_eq!(stats[0]["count"], 150);

    let err = client
        .upload_dataset("bad", "y", None, b"a,y\n1,x\nfoo,z\n".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string()
            .contains("row 3, column 'a': 'foo' is not a number"),
        "{err}"
    );
    let err = client
        .upload_dataset("bad", "nope", None, IRIS.to_vec())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("label column 'nope' not found"),
        "{err}"
    );
    let err = client
        .upload_dataset("bad", "species", Some("clustering"), IRIS.to_vec())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("task: expected classification or regression"),
        "{err}"
    );
    let err = client.dataset_versions("missing").await.unwrap_err();
    assert_eq!(err.status(), Some(404));

    let (ok, out, err) = server.cli(&["dataset", "list"]);
    assert!(
        ok && out.contains("iris") && out.contains("species"),
        "{out}{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_brings_demo_data_and_an_embedded_worker() {
    let server = TestServer::up();
    let client = server.admin();
    let datasets = eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move {
            let list = client.list_datasets().await.ok()?;
            (list.len() == 4).then_some(list)
        }
    })
    .await;
    let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, vec!["breast_cancer", "digits", "iris", "wine"]);
    let digits = datasets.iter().find(|d| d.name == "digits").unwrap();
    assert_eq!(
        (digits.rows, digits.features.len(), digits.classes.len()),
        (1797, 64, 10)
    );

    let job = client
        .submit_job(&SubmitJob {
            kind: "sleep".into(),
            spec: serde_json::json!({"seconds": 0.1}),
            ..SubmitJob::default()
        })
        .await
        .unwrap();
    let done = eventually(
        "the embedded worker to run a job",
        Duration::from_secs(30),
        || {
            let client = client.clone();
            async move {
                let job = client.get_job(job.id).await.ok()?;
                (job.state == JobState::Succeeded).then_some(job)
            }
        },
    )
    .await;
    assert_eq!(done.worker.as_deref(), Some("embedded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_train_job_trains_logs_and_stores_the_model() {
    let server = TestServer::start();
    let client = server.admin();
    let _worker = server.worker("trainer", &[]);
    client
        .upload_dataset("iris", "species", None, IRIS.to_vec())
        .await
        .unwrap();
    let (ok, out, err) = server.cli(&[
        "train",
        "--dataset",
        "iris",
        "--arch",
        "mlp",
        "--param",
        "hidden=32",
        "--param",
        "epochs=40",
        "--seed",
        "7",
        "--wait",
        "--output",
        "json",
    ]);
    assert!(ok, "{out}{err}");
    let job: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(job["state"], "succeeded");
    let run_id = job["result"]["run_id"].as_i64().unwrap();
    let run = client.get_run(run_id).await.unwrap();
    let accuracy = run.run.metrics["test_accuracy"];
    assert!(accuracy >= 0.9, "iris accuracy {accuracy}");
    assert_eq!(run.params["dataset"], "iris:1");
    assert_eq!(run.seed, Some(7));
    assert!(run.dataset_digest.is_some());
    let paths: Vec<&str> = run.artifacts.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, vec!["model.json", "model.safetensors"]);
    let model: serde_json::Value = serde_json::from_slice(
        &client
            .download_artifact(run_id, "model.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(model["features"].as_array().unwrap().len(), 4);
    assert_eq!(model["labels"][0], "setosa");
    // The stored model loads into the inference engine and predicts.
    let weights = client
        .download_artifact(run_id, "model.safetensors")
        .await
        .unwrap();
    let json = client
        .download_artifact(run_id, "model.json")
        .await
        .unwrap();
    let engine = slipway_jobs::inference::Engine::load(&json, &weights).unwrap();
    let prediction = engine.predict(&[vec![5.1, 3.5, 1.4, 0.2]]).unwrap();
    assert!(
        matches!(&prediction[0], slipway_jobs::inference::Prediction::Class { label, .. } if label == "setosa"),
        "{prediction:?}"
    );
    let history = client
        .metric_history(
            run_id,
            &slipway_api::MetricHistoryQuery {
                key: "val_loss".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!history.points.is_empty(), "epochs were logged live");

    let (ok, _, err) = server.cli(&["train", "--dataset", "iris", "--param", "depth=3"]);
    assert!(!ok && err.contains("--param depth: unknown"), "{err}");
}
