//! A model trained on a typed table (penguins: categories and missing cells) served end to
//! end: its input signature in `models show` and OIP metadata, REST predict with named cells
//! (missing and unknown values included, bad ones named), OIP per-column inputs, and
//! `slipway predict --file` on the bundled CSV.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{ApiError, JobState, PredictRequest, Prediction, TrainSpec};
use slipway_tests::{TestServer, eventually, run_job};
use std::time::Duration;

const PENGUINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/penguins.csv");

fn adelie() -> serde_json::Value {
    serde_json::json!({
        "year": 2007, "sex": null, "island": "Torgersen", "bill_length_mm": 39.1,
        "bill_depth_mm": 18.7, "flipper_length_mm": 181, "body_mass_g": 3750, "note": "first"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_penguins_model_is_served_by_its_signature() {
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move {
            let names: Vec<String> = client
                .list_datasets()
                .await
                .ok()?
                .into_iter()
                .map(|d| d.name)
                .collect();
            names.iter().any(|n| n == "penguins").then_some(())
        }
    })
    .await;
    let spec = TrainSpec {
        dataset: "penguins".into(),
        arch: Some("logreg".into()),
        epochs: Some(40),
        seed: Some(7),
        register_as: Some("penguins".into()),
        ..TrainSpec::default()
    };
    let job = run_job(&client, spec).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);

    // The signature: on the version, and printed by models show.
    let version = client.model_version("penguins", "1").await.unwrap();
    let island = version
        .signature
        .iter()
        .find(|c| c.name == "island")
        .unwrap();
    assert_eq!(island.column_type.as_str(), "categorical");
    assert!(island.categories.contains(&"Biscoe".to_owned()));
    assert!(!version.signature.iter().any(|c| c.name == "species"));
    let (ok, out, err) = server.cli(&["models", "show", "penguins"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("inputs of v1"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("island") && l.contains("categorical") && l.contains("Biscoe")),
        "{out}"
    );

    let (ok, out, err) = server.cli(&[
        "deploy",
        "penguins",
        "--model",
        "penguins",
        "--version",
        "1",
    ]);
    assert!(ok, "{out}{err}");

    // Named cells in any order, a missing one, an unknown category and an extra column.
    let mut unknown = adelie();
    unknown["island"] = "Atlantis".into();
    let answer = client
        .predict(
            "penguins",
            &PredictRequest {
                instances: vec![adelie(), unknown],
                key: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(answer.predictions.len(), 2);
    assert!(
        matches!(&answer.predictions[0], Prediction::Class { label, .. } if &**label == "Adelie"),
        "{:?}",
        answer.predictions
    );
    assert_eq!(answer.ignored_columns, ["note"]);

    // Bad cells are 400s naming the row and column.
    for (change, expected) in [
        (
            "island",
            "instances[1].island: missing; give every input column",
        ),
        (
            "bill_length_mm",
            "instances[1].bill_length_mm: expected a number, got \"long\"",
        ),
    ] {
        let mut bad = adelie();
        if change == "island" {
            bad.as_object_mut().unwrap().remove("island");
        } else {
            bad[change] = "long".into();
        }
        let err = client
            .predict(
                "penguins",
                &PredictRequest {
                    instances: vec![adelie(), bad],
                    key: None,
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ApiError::Server { status: 400, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(expected), "{err}");
    }

    // OIP: one input per column in the metadata, and per-column infer.
    let http = reqwest::Client::new();
    let metadata: serde_json::Value = http
        .get(format!("{}/v2/models/penguins", server.url))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let inputs = metadata["inputs"].as_array().unwrap();
    assert!(
        inputs.iter().any(|i| i["name"] == "island"
            && i["datatype"] == "BYTES"
            && i["shape"] == serde_json::json!([-1, 1])),
        "{metadata}"
    );
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "bill_length_mm" && i["datatype"] == "FP64"),
        "{metadata}"
    );
    let columns: Vec<serde_json::Value> = inputs
        .iter()
        .map(|input| {
            let name = input["name"].as_str().unwrap();
            let value = &adelie()[name];
            let (datatype, data) = match input["datatype"].as_str().unwrap() {
                "BYTES" => ("BYTES", serde_json::json!([value.as_str().unwrap_or("")])),
                _ => ("FP64", serde_json::json!([value])),
            };
            serde_json::json!({"name": name, "datatype": datatype, "shape": [1, 1], "data": data})
        })
        .collect();
    let inferred = http
        .post(format!("{}/v2/models/penguins/infer", server.url))
        .bearer_auth(server.admin_token())
        .json(&serde_json::json!({"inputs": columns}))
        .send()
        .await
        .unwrap();
    assert_eq!(inferred.status(), 200);
    let inferred: serde_json::Value = inferred.json().await.unwrap();
    let label = inferred["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "label")
        .unwrap();
    assert_eq!(label["data"], serde_json::json!(["Adelie"]), "{inferred}");

    // The bundled CSV as it is: empty cells sent as missing, scored against `species`.
    let (ok, out, err) = server.cli(&["predict", "penguins", "--file", PENGUINS]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("344 predictions from penguins v1"), "{out}");
    assert!(
        out.contains("against the file's labels (column 'species')"),
        "{out}"
    );
}

/// The bundled penguins rows as named instances: numbers as numbers, text as text, empty
/// cells as `null`, without the label.
fn penguin_rows() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(PENGUINS).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            let row: serde_json::Map<String, serde_json::Value> = header
                .iter()
                .zip(line.split(','))
                .filter(|(name, _)| **name != "species")
                .map(|(name, cell)| {
                    let value = match cell.parse::<f64>() {
                        _ if cell.is_empty() => serde_json::Value::Null,
                        Ok(number) => serde_json::json!(number),
                        Err(_) => serde_json::json!(cell),
                    };
                    ((*name).to_owned(), value)
                })
                .collect();
            serde_json::Value::Object(row)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_and_missing_rates_drift_against_the_training_table() {
    let server = TestServer::up();
    let admin = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = admin.clone();
        async move { client.dataset_versions("penguins").await.ok() }
    })
    .await;
    let spec = TrainSpec {
        dataset: "penguins".into(),
        arch: Some("logreg".into()),
        epochs: Some(10),
        register_as: Some("penguins".into()),
        ..TrainSpec::default()
    };
    let job = run_job(&admin, spec).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let (ok, out, err) = server.cli(&[
        "deploy",
        "penguins",
        "--model",
        "penguins",
        "--version",
        "1",
    ]);
    assert!(ok, "{out}{err}");
    let viewer = server.client(Some(
        slipway_tests::new_token(&admin, "dashboard", slipway_api::Role::Viewer).await,
    ));
    let send = |instances: Vec<serde_json::Value>| {
        let (admin, viewer) = (admin.clone(), viewer.clone());
        async move {
            let half = instances.len() / 2;
            for (client, part) in [(admin, &instances[..half]), (viewer, &instances[half..])] {
                let request = PredictRequest {
                    instances: part.to_vec(),
                    key: None,
                };
                client.predict("penguins", &request).await.unwrap();
            }
        }
    };

    // The training rows themselves: every category share and missing rate as in training.
    send(penguin_rows()).await;
    let detail = admin.drift_detail("penguins").await.unwrap();
    assert_eq!(detail.report.rows, 344);
    let column = |detail: &slipway_api::DriftDetail, name: &str| {
        detail
            .columns
            .iter()
            .find(|c| c.feature == name)
            .unwrap_or_else(|| panic!("{name} in {detail:?}"))
            .clone()
    };
    let island = column(&detail, "island");
    assert_eq!(island.kind, "categorical");
    let biscoe = island
        .categories
        .iter()
        .find(|c| c.name == "Biscoe")
        .unwrap();
    assert!(
        (biscoe.baseline_share - 168.0 / 344.0).abs() < 1e-9,
        "{island:?}"
    );
    assert!(
        (biscoe.live_share - biscoe.baseline_share).abs() < 1e-9,
        "{island:?}"
    );
    assert_eq!(island.categories.last().unwrap().name, "(unseen)");
    let sex = column(&detail, "sex");
    assert!(
        (sex.live_missing_rate - 11.0 / 344.0).abs() < 1e-9,
        "{sex:?}"
    );
    assert!((sex.baseline_missing_rate - 11.0 / 344.0).abs() < 1e-9);
    assert_eq!(column(&detail, "bill_length_mm").kind, "numeric");
    assert!(
        detail.columns.iter().all(|c| c.missing_status == "stable"),
        "{detail:?}"
    );
    let psi = |detail: &slipway_api::DriftDetail, name: &str| {
        detail
            .report
            .features
            .iter()
            .find(|f| f.feature == name)
            .unwrap()
            .clone()
    };
    assert_eq!(psi(&detail, "island").status, "stable", "{detail:?}");
    assert_eq!(detail.report.status, "stable", "{detail:?}");

    // Islands never seen in training, and `sex` always missing (the `NA` token).
    let policy = slipway_api::SloPolicy {
        drift_window_rows: 200,
        ..slipway_api::SloPolicy::default()
    };
    admin
        .set_slo_policy("penguins", &policy, None)
        .await
        .unwrap();
    let shifted: Vec<serde_json::Value> = penguin_rows()
        .into_iter()
        .take(200)
        .map(|mut row| {
            row["island"] = "Atlantis".into();
            row["sex"] = "NA".into();
            row
        })
        .collect();
    send(shifted).await;
    let detail = admin.drift_detail("penguins").await.unwrap();
    let island = column(&detail, "island");
    let unseen = island.categories.last().unwrap();
    assert_eq!((unseen.baseline_share, unseen.live_share), (0.0, 1.0));
    assert_eq!(psi(&detail, "island").status, "alert", "{detail:?}");
    let sex = column(&detail, "sex");
    assert_eq!(sex.live_missing_rate, 1.0);
    assert_eq!(sex.missing_status, "alert", "{sex:?}");
    assert_eq!(detail.report.status, "alert");
    // A client that knows only the plain report reads the same answer.
    let plain = admin.drift("penguins").await.unwrap();
    assert_eq!(plain, detail.report);
    let (ok, out, err) = server.cli(&["monitor", "penguins"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("island") && l.contains("categorical") && l.contains("alert")),
        "{out}"
    );
    assert!(out.contains("(unseen) 0%→100%"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("sex") && l.contains("100.0% (training 3.2%)")),
        "{out}"
    );
}
