//! The dataset registry end to end, and the demo data of `slipway up`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{ColumnType, DataFormat, JobState, SubmitJob, UploadOptions, UploadedDataset};
use slipway_tests::{TestServer, eventually};
use std::time::Duration;

const IRIS: &[u8] = include_bytes!("../../datasets/iris.csv");
const PENGUINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/penguins.csv");
const CARS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/cars.csv");

fn types(uploaded: &UploadedDataset) -> Vec<(String, ColumnType, u64)> {
    let schema = uploaded.dataset.schema.as_ref().unwrap();
    schema
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.column_type, c.missing))
        .collect()
}

fn owned(list: &[(&str, ColumnType, u64)]) -> Vec<(String, ColumnType, u64)> {
    list.iter()
        .map(|(n, t, m)| (n.to_string(), *t, *m))
        .collect()
}

#[tokio::test]
async fn real_tables_are_typed_at_upload_through_the_cli() {
    use ColumnType::*;
    let server = TestServer::start();
    let add = |args: &[&str]| -> UploadedDataset {
        let mut all = vec!["dataset", "add"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--output", "json"]);
        let (ok, out, err) = server.cli(&all);
        assert!(ok, "{out}{err}");
        serde_json::from_str(&out).unwrap()
    };
    let penguins = add(&["penguins", PENGUINS, "--label", "species"]);
    assert_eq!(penguins.dataset.task, "classification");
    assert_eq!(penguins.dataset.rows, 344);
    assert_eq!(
        types(&penguins),
        owned(&[
            ("species", Label, 0),
            ("island", Categorical, 0),
            ("bill_length_mm", Numeric, 2),
            ("bill_depth_mm", Numeric, 2),
            ("flipper_length_mm", Numeric, 2),
            ("body_mass_g", Numeric, 2),
            ("sex", Categorical, 11),
            ("year", Numeric, 0),
        ])
    );
    let schema = penguins.dataset.schema.as_ref().unwrap();
    let island: Vec<(&str, u64)> = schema
        .column("island")
        .unwrap()
        .levels
        .iter()
        .map(|l| (l.value.as_str(), l.count))
        .collect();
    assert_eq!(
        island,
        vec![("Biscoe", 168), ("Dream", 124), ("Torgersen", 52)]
    );

    let cars = add(&[
        "cars",
        CARS,
        "--label",
        "Miles_per_Gallon",
        "--categorical",
        "Cylinders",
    ]);
    assert_eq!(cars.dataset.task, "regression");
    assert_eq!(
        types(&cars),
        owned(&[
            ("Name", Identifier, 0),
            ("Miles_per_Gallon", Label, 8),
            ("Cylinders", Categorical, 0),
            ("Displacement", Numeric, 0),
            ("Horsepower", Numeric, 6),
            ("Weight_in_lbs", Numeric, 0),
            ("Acceleration", Numeric, 0),
            ("Year", Datetime, 0),
            ("Origin", Categorical, 0),
        ])
    );
    let schema = cars.dataset.schema.as_ref().unwrap();
    assert_eq!(schema.missing_labels, 8);
    assert_eq!(schema.column("Cylinders").unwrap().levels.len(), 5);
    assert!(!cars.dataset.features.contains(&"Name".to_owned()));
    // The text output reports the rows training will skip, and `show` prints the schema.
    let (ok, out, err) = server.cli(&["dataset", "show", "cars"]);
    assert!(ok, "{err}");
    for expected in [
        "identifier",
        "datetime",
        "USA (254)",
        "missing labels: 8 rows",
    ] {
        assert!(out.contains(expected), "{expected} in {out}");
    }
    assert!(
        out.contains("Horsepower") && out.contains("numeric"),
        "{out}"
    );

    // The same table with semicolons, gzip-compressed: detected, read, downloaded unchanged.
    let dir = tempfile::tempdir().unwrap();
    let semicolons = std::fs::read_to_string(PENGUINS).unwrap().replace(',', ";");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, semicolons.as_bytes()).unwrap();
    let gz = encoder.finish().unwrap();
    let path = dir.path().join("penguins.csv.gz");
    std::fs::write(&path, &gz).unwrap();
    let packed = add(&[
        "packed",
        path.to_str().unwrap(),
        "--label",
        "species",
        "--delimiter",
        ";",
        "--ignore",
        "year",
    ]);
    let schema = packed.dataset.schema.as_ref().unwrap();
    assert_eq!(
        (schema.format, schema.delimiter.as_str()),
        (DataFormat::CsvGzip, ";")
    );
    assert_eq!(schema.column("year").unwrap().column_type, Identifier);
    assert_eq!(types(&packed)[6], ("sex".to_owned(), Categorical, 11));
    let back = dir.path().join("back.gz");
    let (ok, _, err) = server.cli(&[
        "dataset",
        "download",
        "packed",
        "--out",
        back.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&back).unwrap(), gz);

    // Missing tokens: the conventional ones by default, or the upload's own, recorded.
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "x,kind,y\n1,a,p\nNA,?,q\n-,b,p\nn/a,null,q\n").unwrap();
    let tokens = tokens.to_str().unwrap();
    let defaults = add(&["tokens", tokens, "--label", "y"]);
    assert_eq!(
        types(&defaults),
        owned(&[
            ("x", Categorical, 2),
            ("kind", Categorical, 2),
            ("y", Label, 0)
        ])
    );
    let schema = defaults.dataset.schema.as_ref().unwrap();
    assert_eq!(
        schema.missing_tokens.as_deref().unwrap(),
        ["NA", "N/A", "NaN", "null", "?"]
    );
    let own = add(&["dashes", tokens, "--label", "y", "--missing", "-,NA,n/a"]);
    assert_eq!(
        types(&own),
        owned(&[("x", Numeric, 3), ("kind", Categorical, 0), ("y", Label, 0)])
    );
    let (ok, out, err) = server.cli(&["dataset", "show", "dashes"]);
    assert!(ok, "{err}");
    assert!(out.contains("missing:  empty cells, -, NA, n/a"), "{out}");
}

#[tokio::test]
async fn bad_tables_are_refused_naming_the_row_and_column_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), &["--max-artifact-bytes", "4096"]);
    let client = server.admin();
    let file = dir.path().join("mixed.csv");
    std::fs::write(&file, "a,y\n1,x\nfoo,z\n").unwrap();
    // Mixed numbers and text are text, unless the column is named numeric.
    let (ok, _, err) = server.cli(&[
        "dataset",
        "add",
        "mixed",
        file.to_str().unwrap(),
        "--label",
        "y",
        "--numeric",
        "a",
    ]);
    assert!(!ok);
    assert!(
        err.contains("row 3, column 'a': 'foo' is not a number, and the column is numeric"),
        "{err}"
    );
    let (ok, _, err) = server.cli(&[
        "dataset",
        "add",
        "mixed",
        file.to_str().unwrap(),
        "--label",
        "y",
        "--ignore",
        "b",
    ]);
    assert!(
        !ok && err.contains("--ignore: column 'b' not found; the columns are: a, y"),
        "{err}"
    );

    let upload = |body: Vec<u8>, options: UploadOptions| {
        let client = client.clone();
        async move {
            client
                .upload_dataset_with("bad", &options, body)
                .await
                .unwrap_err()
        }
    };
    let label = |label: &str| UploadOptions {
        label: label.into(),
        ..UploadOptions::default()
    };
    let err = upload(b"a,y\n1,x\n2,x\n".to_vec(), label("y")).await;
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string()
            .contains("label column 'y' has one class ('x')"),
        "{err}"
    );
    let err = upload(Vec::new(), label("y")).await;
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("the file is empty"), "{err}");
    let err = upload(
        b"a,y\n1,2\n".to_vec(),
        UploadOptions {
            delimiter: Some("ab".into()),
            ..label("y")
        },
    )
    .await;
    assert!(
        err.to_string()
            .contains("delimiter: expected one character"),
        "{err}"
    );
    let mut big = String::from("a,y\n");
    while big.len() <= 4096 {
        big.push_str("1,2\n");
    }
    let err = upload(big.into_bytes(), label("y")).await;
    assert_eq!(err.status(), Some(413));
    assert!(
        err.to_string()
            .contains("file: larger than the limit of 4096 bytes"),
        "{err}"
    );

    assert!(client.list_datasets().await.unwrap().is_empty());
    let artifacts = dir.path().join("artifacts");
    let stored: Vec<_> = walk(&artifacts);
    assert!(stored.is_empty(), "nothing is stored: {stored:?}");
}

/// Every file under `root`.
fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

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
        .upload_dataset("bad", "y", None, b"a,y\n1,x\n2\n".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string()
            .contains("row 3: expected 2 values like the header, found 1"),
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
            (list.len() == 6).then_some(list)
        }
    })
    .await;
    let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "breast_cancer",
            "cars",
            "digits",
            "iris",
            "penguins",
            "wine"
        ]
    );
    let cars = datasets.iter().find(|d| d.name == "cars").unwrap();
    assert_eq!(
        (cars.task.as_str(), cars.label.as_str()),
        ("regression", "Miles_per_Gallon")
    );
    let penguins = datasets.iter().find(|d| d.name == "penguins").unwrap();
    assert_eq!(penguins.classes, vec!["Adelie", "Chinstrap", "Gentoo"]);
    let digits = datasets.iter().find(|d| d.name == "digits").unwrap();
    assert_eq!(
        (digits.rows, digits.features.len(), digits.classes.len()),
        (1797, 64, 10)
    );

    let job = client
        .submit_job(&SubmitJob::new(slipway_api::SleepSpec {
            seconds: Some(0.1),
        }))
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
    let job: slipway_api::Job = serde_json::from_str(&out).unwrap();
    assert_eq!(job.state, slipway_api::JobState::Succeeded);
    let run_id = job.result_as::<slipway_api::TrainResult>().unwrap().run_id;
    let run = client.get_run(run_id).await.unwrap();
    let accuracy = run.run.metrics["test_accuracy"];
    assert!(accuracy >= 0.9, "iris accuracy {accuracy}");
    assert_eq!(run.params["dataset"], "iris:1");
    assert_eq!(run.seed, Some(7));
    assert!(run.dataset_digest.is_some());
    let paths: Vec<&str> = run.artifacts.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, vec!["model.json", "model.safetensors", "split.json"]);
    // The rows of each split, so that other tools can score the very same held-out rows.
    let split: serde_json::Value = serde_json::from_slice(
        &client
            .download_artifact(run_id, "split.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(split["seed"], 7);
    assert_eq!(split["label"], "species");
    assert_eq!(
        split["dataset"]["digest"],
        run.dataset_digest.clone().unwrap()
    );
    let part = |name: &str| split[name].as_array().unwrap().len();
    assert_eq!(part("test"), 30);
    assert_eq!(part("train") + part("validation") + part("test"), 150);
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
    let engine = slipway_ml::inference::Engine::load(&json, &weights).unwrap();
    let prediction = engine.predict(&[vec![5.1, 3.5, 1.4, 0.2]]).unwrap();
    assert!(
        matches!(&prediction[0], slipway_ml::inference::Prediction::Class { label, .. } if &**label == "setosa"),
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
