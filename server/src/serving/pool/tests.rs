//! The micro-batcher with a real (small, freshly trained) model: concurrent requests joined
//! into passes still get exactly their own rows' answers, in order; a failed pass answers
//! with its error; a version being unloaded answers unavailable.

use super::*;
use slipway_ml::Dataset;
use slipway_ml::train::{TrainConfig, train};

/// An iris classifier (a few epochs: the answers need not be good, only the model's).
fn iris() -> (Arc<Engine>, Dataset) {
    let data = Dataset::from_csv(
        include_bytes!("../../../../datasets/iris.csv"),
        "species",
        None,
    )
    .unwrap();
    let config = TrainConfig {
        epochs: 3,
        ..TrainConfig::default()
    };
    let trained = train(&data, &config, |_| true).unwrap();
    let manifest = serde_json::json!({
        "task": "classification",
        "features": data.schema.features,
        "labels": data.schema.classes,
        "normalisation": trained.normalisation,
    });
    let engine = Engine::load(manifest.to_string().as_bytes(), &trained.weights).unwrap();
    (Arc::new(engine), data)
}

/// A version served by its own batcher.
fn serve(engine: &Arc<Engine>, policy: BatchPolicy) -> Served {
    let (queue, pending) = mpsc::channel(4096);
    let in_flight = Arc::new(AtomicUsize::new(0));
    tokio::spawn(run_batches(
        Arc::clone(engine),
        pending,
        policy,
        Arc::clone(&in_flight),
    ));
    Served {
        version: 1,
        engine: Arc::clone(engine),
        queue,
        in_flight,
    }
}

/// The labels of `predictions`, which must all be classes.
fn labels(predictions: &[Prediction]) -> Vec<String> {
    predictions
        .iter()
        .map(|prediction| match prediction {
            Prediction::Class { label, .. } => label.to_string(),
            other => panic!("expected a class, got {other:?}"),
        })
        .collect()
}

/// Asserts that `got` answers the same rows as `want`: same labels and, since a barely
/// trained model may give every row one label, the same probabilities (within rounding).
#[track_caller]
fn same_answers(got: &[Prediction], want: &[Prediction]) {
    assert_eq!(labels(got), labels(want));
    for (got, want) in got.iter().zip(want) {
        let (
            Prediction::Class {
                probabilities: got, ..
            },
            Prediction::Class {
                probabilities: want,
                ..
            },
        ) = (got, want)
        else {
            panic!("expected classes");
        };
        for (class, p) in want.iter() {
            assert!(
                (got[class] - p).abs() < 1e-4,
                "{class}: {} vs {p}",
                got[class]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_requests_each_get_their_own_rows_back_in_order() {
    let (engine, data) = iris();
    let served = Arc::new(serve(
        &engine,
        BatchPolicy {
            max_rows: 16,
            max_wait: Duration::from_millis(20),
        },
    ));
    // 30 requests of 1 to 3 rows each, from different parts of the data set, all at once.
    let requests: Vec<Vec<Vec<f64>>> = (0..30)
        .map(|n| {
            let start = (n * 5) % (data.len() - 3);
            data.features[start..start + 1 + n % 3].to_vec()
        })
        .collect();
    let answers = futures_util::future::join_all(requests.iter().map(|rows| {
        let served = Arc::clone(&served);
        let flat = engine.encode(rows).unwrap();
        async move { served.predict(flat, rows.len()).await }
    }))
    .await;
    for (rows, answer) in requests.iter().zip(answers) {
        let answer = answer.unwrap();
        assert_eq!(answer.len(), rows.len());
        same_answers(&answer, &engine.predict(rows).unwrap());
    }
}

#[tokio::test]
async fn a_lone_request_is_answered_without_waiting_for_company() {
    let (engine, data) = iris();
    let served = serve(
        &engine,
        BatchPolicy {
            max_rows: 64,
            // Far longer than the test may take: a lone request must not wait for it.
            max_wait: Duration::from_secs(30),
        },
    );
    let rows = data.features[..2].to_vec();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        served.predict(engine.encode(&rows).unwrap(), 2),
    )
    .await
    .expect("answered at once")
    .unwrap();
    same_answers(&answer, &engine.predict(&rows).unwrap());
}

#[tokio::test]
async fn a_failed_pass_answers_its_error_and_an_unloaded_version_is_unavailable() {
    let (engine, _) = iris();
    let served = serve(
        &engine,
        BatchPolicy {
            max_rows: 1,
            max_wait: Duration::ZERO,
        },
    );
    // Three values are not one row of four features.
    let err = served.predict(vec![0.0; 3], 1).await.unwrap_err();
    assert!(
        matches!(&err, ServiceError::Internal(message) if message.contains("encoded values")),
        "{err:?}"
    );

    let (queue, pending) = mpsc::channel(1);
    drop(pending);
    let unloaded = Served {
        version: 1,
        engine,
        queue,
        in_flight: Arc::default(),
    };
    let err = unloaded.predict(vec![0.0; 4], 1).await.unwrap_err();
    assert!(matches!(err, ServiceError::Unavailable(_)), "{err:?}");
}
