//! Evaluation and deploy jobs through the real job path: scoring a model on its held-out
//! split, comparing it with the champion, regression metrics, and a `deploy` job that acts for
//! the engineer who submitted it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    ApiError, CreateToken, DeploySpec, EvaluateResult, EvaluateSpec, Job, JobState, ModelRef, Role,
    SubmitJob, TrainResult, TrainSpec,
};

/// An evaluation of the model of run `run_id`.
fn evaluate_run(run_id: Option<i64>) -> EvaluateSpec {
    EvaluateSpec {
        model: ModelRef {
            run_id,
            ..ModelRef::default()
        },
        ..EvaluateSpec::default()
    }
}
use slipway_tests::{TestServer, eventually, run_job};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_compare_with_the_champion_and_deploy_by_job() {
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("iris").await.ok() }
    })
    .await;

    // Train through the CLI, with a progress bar (lines, as stderr is not a terminal).
    let (ok, out, err) = server.cli(&[
        "train",
        "--dataset",
        "iris",
        "--param",
        "hidden=16",
        "--param",
        "epochs=40",
        "--register-as",
        "iris",
        "--wait",
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        err.contains("epoch 40/40 loss"),
        "live loss under the bar: {err}"
    );
    assert!(err.contains("[####################] 100%"), "{err}");
    let v1 = client.model_version("iris", "1").await.unwrap();
    let trained_accuracy = v1.metrics["test_accuracy"];

    // Evaluating a run on its own held-out split reproduces its test accuracy.
    let job = run_job(&client, evaluate_run(v1.run_id)).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result = job.result_as::<EvaluateResult>().unwrap();
    let metrics = &result.metrics;
    assert!(
        (metrics["accuracy"] - trained_accuracy).abs() < 1e-9,
        "{result:?}"
    );
    for key in ["precision_macro", "recall_macro", "f1_macro", "log_loss"] {
        assert!(metrics.contains_key(key), "{key} in {result:?}");
    }
    assert_eq!(result.confusion.len(), 3);
    let counted: u64 = result.confusion.iter().flatten().sum();
    assert_eq!(counted, 30, "iris' test split is 30 rows");
    let run = client.get_run(result.run_id).await.unwrap();
    assert_eq!(run.tags["evaluated_run"], v1.run_id.unwrap().to_string());
    // The very rows the run recorded in its split.json, not a split computed again.
    assert!(
        run.tags["dataset"].contains(&format!("from run {}'s split.json", v1.run_id.unwrap())),
        "{:?}",
        run.tags
    );
    assert!(run.artifacts.iter().any(|a| a.path == "evaluation.json"));

    // A challenger compared with the champion, through the CLI.
    client
        .set_alias("iris", "champion", 1, Some("first model"))
        .await
        .unwrap();
    let spec = TrainSpec {
        dataset: "iris".into(),
        arch: Some("logreg".into()),
        epochs: Some(3),
        register_as: Some("iris".into()),
        ..TrainSpec::default()
    };
    let job = run_job(&client, spec).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let (ok, out, err) = server.cli(&[
        "--output",
        "json",
        "evaluate",
        "iris:2",
        "--compare-with",
        "iris@champion",
        "--margin",
        "0.5",
        "--wait",
    ]);
    assert!(ok, "{out}{err}");
    let job: Job = serde_json::from_str(&out).unwrap();
    let comparison = job
        .result_as::<EvaluateResult>()
        .unwrap()
        .comparison
        .unwrap();
    assert_eq!(comparison.against, "iris@champion");
    assert_eq!(comparison.metric, "accuracy");
    assert!(
        !comparison.better,
        "no model beats another by 0.5 accuracy: {comparison:?}"
    );
    assert!(comparison.deltas.contains_key("accuracy"));

    // A deploy job acts for the engineer who submitted it, resolving the alias when it runs.
    let deploy = DeploySpec {
        deployment: "iris".into(),
        model: Some("iris".into()),
        alias: Some("champion".into()),
        reason: Some("nightly".into()),
        ..DeploySpec::default()
    };
    let job = run_job(&client, deploy).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let revisions = client.deployment_revisions("iris").await.unwrap();
    assert_eq!(revisions[0].spec.primary, 1);
    assert_eq!(
        revisions[0].actor,
        format!("admin (job {}, worker embedded)", job.id)
    );
    // A viewer may not submit one.
    let viewer = client
        .create_token(
            &CreateToken {
                name: "viewer".into(),
                role: Role::Viewer,
            },
            None,
        )
        .await
        .unwrap();
    let err = server
        .client(Some(viewer.secret))
        .submit_job(&SubmitJob::new(DeploySpec {
            deployment: "iris".into(),
            version: Some(2),
            ..DeploySpec::default()
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Server { status: 403, .. }), "{err}");
    // Mistakes in a spec are refused at submission, naming the field.
    let err = client
        .submit_job(&SubmitJob::new(evaluate_run(None)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("spec.model"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_is_scored_with_rmse_mae_and_r2() {
    let server = TestServer::up();
    let client = server.admin();
    let rows: String = (0..300)
        .map(|i| {
            let x = f64::from(i) / 30.0;
            let z = f64::from(i % 7);
            format!("{x},{z},{}\n", 2.0 * x - 0.5 * z + 1.0)
        })
        .collect();
    client
        .upload_dataset(
            "line",
            "y",
            Some("regression"),
            format!("x,z,y\n{rows}").into_bytes(),
        )
        .await
        .unwrap();
    let spec = TrainSpec {
        dataset: "line".into(),
        arch: Some("logreg".into()),
        epochs: Some(150),
        learning_rate: Some(0.05),
        ..TrainSpec::default()
    };
    let job = run_job(&client, spec).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let run_id = job.result_as::<TrainResult>().unwrap().run_id;
    let job = run_job(&client, evaluate_run(Some(run_id))).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let metrics = job.result_as::<EvaluateResult>().unwrap().metrics;
    assert!(metrics["rmse"] < 0.5, "{metrics:?}");
    assert!(metrics["mae"] < 0.5, "{metrics:?}");
    assert!(metrics["r2"] > 0.95, "{metrics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_model_is_evaluated_on_the_test_rows_its_run_recorded() {
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("penguins").await.ok() }
    })
    .await;
    let spec = TrainSpec {
        dataset: "penguins".into(),
        arch: Some("logreg".into()),
        epochs: Some(30),
        ..TrainSpec::default()
    };
    let job = run_job(&client, spec).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let run_id = job.result_as::<TrainResult>().unwrap().run_id;
    let trained = client.get_run(run_id).await.unwrap();
    let split: serde_json::Value = serde_json::from_slice(
        &client
            .download_artifact(run_id, "split.json")
            .await
            .unwrap(),
    )
    .unwrap();
    let job = run_job(&client, evaluate_run(Some(run_id))).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result = job.result_as::<EvaluateResult>().unwrap();
    let evaluation = client.get_run(result.run_id).await.unwrap();
    assert!(
        evaluation.tags["dataset"].contains(&format!("from run {run_id}'s split.json")),
        "{:?}",
        evaluation.tags
    );
    let counted: u64 = result.confusion.iter().flatten().sum();
    assert_eq!(counted as usize, split["test"].as_array().unwrap().len());
    for (evaluated, recorded) in [("accuracy", "test_accuracy"), ("f1_macro", "test_f1_macro")] {
        let Some(recorded) = trained.run.metrics.get(recorded) else {
            continue;
        };
        let evaluated = result.metrics[evaluated];
        assert!(
            (evaluated - recorded).abs() < 1e-9,
            "{evaluated} against the run's {recorded}: {result:?}"
        );
    }
    assert!(
        trained.run.metrics.contains_key("test_accuracy"),
        "{:?}",
        trained.run.metrics
    );
}
