//! Training quality held against scikit-learn: Slipway trains penguins (`species`, and
//! `body_mass_g` as a second dataset of the same file) and cars (`Miles_per_Gallon`) with the
//! default settings through the job path; `tests/python/sklearn_baseline.py` then fits
//! logistic regression, ridge and gradient boosting on the very rows of each run's
//! `split.json` and scores them on its test rows. The bars: species accuracy within 0.02 of
//! logistic regression, RMSE within 10% of ridge, and every model beats its baseline.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use serde_json::Value;
use slipway_api::{Client, JobState, SubmitJob};
use slipway_tests::{TestServer, eventually, python};
use std::path::Path;
use std::time::Duration;

/// One training run and scikit-learn's models on the same rows.
struct Sides {
    slipway: Value,
    sklearn: Value,
}

/// Trains `dataset` with the defaults, then runs the script on the run's rows.
async fn train_and_compare(client: &Client, dataset: &str, dir: &Path) -> Sides {
    let job = client
        .submit_job(&SubmitJob::new(slipway_api::TrainSpec {
            dataset: dataset.into(),
            ..slipway_api::TrainSpec::default()
        }))
        .await
        .unwrap();
    let job = eventually("the train job to end", Duration::from_secs(300), || {
        let client = client.clone();
        async move {
            let job = client.get_job(job.id).await.ok()?;
            job.state.is_terminal().then_some(job)
        }
    })
    .await;
    assert_eq!(job.state, JobState::Succeeded, "{dataset}: {:?}", job.error);
    let result = job.result_as::<slipway_api::TrainResult>().unwrap();
    let run_id = result.run_id;

    // The very bytes, rows and column types the run trained on.
    let version = client
        .dataset_versions(dataset)
        .await
        .unwrap()
        .into_iter()
        .max_by_key(|v| v.version)
        .unwrap();
    let data = dir.join(format!("{dataset}.csv"));
    std::fs::write(
        &data,
        client
            .download_dataset(dataset, version.version)
            .await
            .unwrap(),
    )
    .unwrap();
    let split_bytes = client
        .download_artifact(run_id, "split.json")
        .await
        .unwrap();
    let split: Value = serde_json::from_slice(&split_bytes).unwrap();
    assert_eq!(split["dataset"]["digest"], version.digest.as_str());
    let split_path = dir.join(format!("{dataset}-split.json"));
    std::fs::write(&split_path, &split_bytes).unwrap();
    let columns = dir.join(format!("{dataset}-columns.json"));
    std::fs::write(
        &columns,
        serde_json::to_vec(&version.schema.unwrap().columns).unwrap(),
    )
    .unwrap();

    let run = python::run_script(
        "sklearn_baseline.py",
        &[
            data.to_str().unwrap(),
            split_path.to_str().unwrap(),
            columns.to_str().unwrap(),
            &version.task,
        ],
        &[],
    );
    let sklearn: Value = serde_json::from_str(run.expect_success("sklearn_baseline.py")).unwrap();
    let test_rows = split["test"].as_array().unwrap().len();
    assert_eq!(sklearn["test_rows"], test_rows, "the same test rows");
    let slipway = serde_json::to_value(&result.metrics).unwrap();
    // The same training and test rows give the same majority class or mean on both sides.
    let baseline = ["baseline_accuracy", "baseline_rmse"]
        .into_iter()
        .find(|key| slipway.get(*key).is_some())
        .unwrap();
    let (ours, theirs) = (
        number(&slipway[baseline], baseline),
        number(&sklearn[baseline], baseline),
    );
    assert!(
        (ours - theirs).abs() <= 1e-9 * ours.abs().max(1.0),
        "{dataset}: {baseline} {ours} here, {theirs} from the split's rows"
    );
    println!("{dataset}: slipway {slipway}");
    println!("{dataset}: scikit-learn {sklearn}");
    Sides { slipway, sklearn }
}

fn number(value: &Value, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: expected a number, found {value}"))
}

/// Regression: RMSE within 10% of ridge; every model beats the mean.
fn assert_regression(name: &str, sides: &Sides) {
    let rmse = number(&sides.slipway["test_rmse"], "test_rmse");
    let ridge = number(&sides.sklearn["models"]["ridge"]["rmse"], "ridge rmse");
    let boosting = number(
        &sides.sklearn["models"]["gradient_boosting"]["rmse"],
        "boosting rmse",
    );
    println!(
        "{name}: RMSE slipway {rmse:.3}, ridge {ridge:.3}, gradient boosting {boosting:.3}, \
         baseline {}",
        sides.slipway["baseline_rmse"]
    );
    assert_eq!(
        sides.slipway["beats_baseline"], 1.0,
        "{name}: {}",
        sides.slipway
    );
    let baseline = number(&sides.sklearn["baseline_rmse"], "baseline_rmse");
    for (model, value) in [("ridge", ridge), ("gradient boosting", boosting)] {
        assert!(
            value < baseline,
            "{name}: {model} RMSE {value} does not beat the mean's {baseline}"
        );
    }
    assert!(
        rmse <= 1.10 * ridge,
        "{name}: Slipway's RMSE {rmse:.3} is above 1.10 × ridge's {ridge:.3} ({:.3})",
        1.10 * ridge
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slipway_holds_its_own_against_scikit_learn_on_the_same_rows() {
    // The venv first: a missing scikit-learn fails here, before minutes of training.
    python::venv();
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { (client.list_datasets().await.ok()?.len() == 6).then_some(()) }
    })
    .await;
    // The same file again, with another label: training follows the dataset's label.
    let penguins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/penguins.csv");
    let (ok, out, err) = server.cli(&[
        "dataset",
        "add",
        "penguins-mass",
        penguins.to_str().unwrap(),
        "--label",
        "body_mass_g",
        "--task",
        "regression",
    ]);
    assert!(ok, "{out}{err}");
    let dir = tempfile::tempdir().unwrap();

    let species = train_and_compare(&client, "penguins", dir.path()).await;
    let accuracy = number(&species.slipway["test_accuracy"], "test_accuracy");
    let logistic = number(
        &species.sklearn["models"]["logistic_regression"]["accuracy"],
        "logistic accuracy",
    );
    println!(
        "penguins species: accuracy slipway {accuracy:.3}, logistic regression {logistic:.3}, \
         gradient boosting {}, baseline {}",
        species.sklearn["models"]["gradient_boosting"]["accuracy"],
        species.slipway["baseline_accuracy"]
    );
    assert_eq!(
        species.slipway["beats_baseline"], 1.0,
        "{}",
        species.slipway
    );
    assert!(
        logistic > number(&species.sklearn["baseline_accuracy"], "baseline_accuracy"),
        "logistic regression does not beat the majority class: {}",
        species.sklearn
    );
    assert!(
        accuracy >= logistic - 0.02,
        "penguins species: Slipway's accuracy {accuracy:.3} is below logistic regression's \
         {logistic:.3} − 0.02"
    );

    let mass = train_and_compare(&client, "penguins-mass", dir.path()).await;
    assert_regression("penguins body_mass_g", &mass);
    let cars = train_and_compare(&client, "cars", dir.path()).await;
    assert_regression("cars Miles_per_Gallon", &cars);
}
