//! Training through the real job path: server + worker processes, the bundled datasets.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    Client, EvaluateResult, EvaluateSpec, Job, JobState, ModelRef, RunStatus, SubmitJob,
    TrainResult, TrainSpec,
};
use slipway_tests::{TestServer, eventually};
use std::time::Duration;

async fn wait_done(client: &Client, id: i64) -> Job {
    eventually("the train job to end", Duration::from_secs(300), || {
        let client = client.clone();
        async move {
            let job = client.get_job(id).await.ok()?;
            job.state.is_terminal().then_some(job)
        }
    })
    .await
}

/// A train job with `spec`, written as its JSON for brevity.
fn train(spec: serde_json::Value) -> SubmitJob {
    SubmitJob::new(serde_json::from_value::<TrainSpec>(spec).unwrap())
}

fn train_result(job: &Job) -> TrainResult {
    job.result_as::<TrainResult>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_dataset_reaches_its_bar_through_the_job_path() {
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { (client.list_datasets().await.ok()?.len() == 6).then_some(()) }
    })
    .await;
    let cases = [
        (
            "iris",
            serde_json::json!({"dataset": "iris", "epochs": 60}),
            0.90,
        ),
        (
            "wine",
            serde_json::json!({"dataset": "wine", "arch": "logreg"}),
            0.90,
        ),
        (
            "breast_cancer",
            serde_json::json!({"dataset": "breast_cancer"}),
            0.94,
        ),
        (
            "digits",
            serde_json::json!({"dataset": "digits", "hidden": [128, 64], "epochs": 40, "learning_rate": 0.002}),
            0.95,
        ),
    ];
    for (name, spec, bar) in cases {
        let job = client.submit_job(&train(spec)).await.unwrap();
        let job = wait_done(&client, job.id).await;
        assert_eq!(job.state, JobState::Succeeded, "{name}: {:?}", job.error);
        let accuracy = train_result(&job).metrics["test_accuracy"];
        assert!(
            accuracy >= bar,
            "{name}: test accuracy {accuracy} below {bar}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_gives_the_same_model_and_training_can_be_cancelled() {
    let server = TestServer::up();
    let client = server.admin();
    eventually("the iris dataset", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("iris").await.ok() }
    })
    .await;
    let spec = serde_json::json!({"dataset": "iris", "epochs": 30, "seed": 11});
    let mut digests = Vec::new();
    for _ in 0..2 {
        let job = wait_done(
            &client,
            client.submit_job(&train(spec.clone())).await.unwrap().id,
        )
        .await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let run_id = train_result(&job).run_id;
        let run = client.get_run(run_id).await.unwrap();
        let weights = run
            .artifacts
            .iter()
            .find(|a| a.path == "model.safetensors")
            .unwrap();
        digests.push(weights.digest.clone());
    }
    assert_eq!(digests[0], digests[1], "bit-identical model.safetensors");

    // A long training stops between epochs when cancelled; its run ends KILLED.
    let long = serde_json::json!({"dataset": "digits", "epochs": 10000, "patience": 10000, "hidden": [256, 256], "seed": 3});
    let job = client.submit_job(&train(long)).await.unwrap();
    eventually("training to make progress", Duration::from_secs(60), || {
        let client = client.clone();
        async move { (client.get_job(job.id).await.ok()?.progress > 0.0).then_some(()) }
    })
    .await;
    client.cancel_job(job.id, Some("enough")).await.unwrap();
    let ended = wait_done(&client, job.id).await;
    assert_eq!(ended.state, JobState::Cancelled);
    let runs = client
        .search_runs(&slipway_api::SearchRuns {
            filter: Some("tags.job = '".to_owned() + &job.id.to_string() + "'"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.items[0].status, RunStatus::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn penguins_and_cars_train_through_preprocessing_and_beat_their_baselines() {
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { (client.list_datasets().await.ok()?.len() == 6).then_some(()) }
    })
    .await;
    let species = client
        .submit_job(&train(serde_json::json!({"dataset": "penguins"})))
        .await
        .unwrap();
    let species = wait_done(&client, species.id).await;
    assert_eq!(species.state, JobState::Succeeded, "{:?}", species.error);
    let TrainResult {
        metrics, run_id, ..
    } = train_result(&species);
    assert!(metrics["test_accuracy"] >= 0.95, "{metrics:?}");
    assert_eq!(metrics["beats_baseline"], 1.0, "{metrics:?}");
    let run = client.get_run(run_id).await.unwrap();
    assert_eq!(
        run.tags.get("beats_baseline").map(String::as_str),
        Some("true")
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &client
            .download_artifact(run_id, "model.json")
            .await
            .unwrap(),
    )
    .unwrap();
    let columns = manifest["preprocessing"]["columns"].as_array().unwrap();
    assert!(
        columns
            .iter()
            .any(|c| c["name"] == "island" && c["type"] == "categorical"),
        "{manifest}"
    );

    // The held-out rows again, through an evaluation: the baseline is beside the model.
    let evaluation = client
        .submit_job(&SubmitJob::new(EvaluateSpec {
            model: ModelRef {
                run_id: Some(run_id),
                ..ModelRef::default()
            },
            ..EvaluateSpec::default()
        }))
        .await
        .unwrap();
    let evaluation = wait_done(&client, evaluation.id).await;
    assert_eq!(
        evaluation.state,
        JobState::Succeeded,
        "{:?}",
        evaluation.error
    );
    let metrics = evaluation.result_as::<EvaluateResult>().unwrap().metrics;
    assert_eq!(metrics["beats_baseline"], 1.0, "{metrics:?}");
    assert!(metrics["baseline_accuracy"] < 0.5, "{metrics:?}");

    let cars = client
        .submit_job(&train(serde_json::json!({"dataset": "cars"})))
        .await
        .unwrap();
    let cars = wait_done(&client, cars.id).await;
    assert_eq!(cars.state, JobState::Succeeded, "{:?}", cars.error);
    let metrics = train_result(&cars).metrics;
    assert!(metrics["test_rmse"] < 4.0, "{metrics:?}");
    assert!(metrics["test_r2"] > 0.7, "{metrics:?}");
    assert_eq!(metrics["beats_baseline"], 1.0, "{metrics:?}");
    let logs = client.job_logs(cars.id, 0, 1000).await.unwrap();
    let text: Vec<&str> = logs.lines.iter().map(|l| l.message.as_str()).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("skipped 8 rows whose label 'Miles_per_Gallon' is missing")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|l| l.contains("the model beats its baseline")),
        "{text:?}"
    );
}
