//! Training tests on the bundled datasets: accuracy, determinism, early stopping and
//! cancellation.

use super::*;

fn load(csv: &[u8], label: &str) -> Dataset {
    Dataset::from_csv(csv, label, None).unwrap()
}

#[test]
fn iris_mlp_reaches_ninety_percent_and_is_deterministic() {
    let iris = load(include_bytes!("../../../datasets/iris.csv"), "species");
    let config = TrainConfig {
        epochs: 80,
        ..TrainConfig::default()
    };
    let mut epochs = 0;
    let trained = train(&iris, &config, |_| {
        epochs += 1;
        true
    })
    .unwrap();
    let accuracy = trained.test_metrics["test_accuracy"];
    eprintln!("iris mlp test accuracy {accuracy:.4}");
    assert!(accuracy >= 0.9, "iris test accuracy {accuracy}");
    assert_eq!(epochs, trained.history.len());
    assert!(trained.weights.len() > 100, "safetensors bytes");
    let again = train(&iris, &config, |_| true).unwrap();
    assert_eq!(
        again.test_metrics, trained.test_metrics,
        "same seed, same model"
    );
    assert_eq!(again.weights, trained.weights, "bit-identical weights");
}

#[test]
fn wine_logreg_and_breast_cancer_mlp_meet_their_bars() {
    let wine = load(include_bytes!("../../../datasets/wine.csv"), "cultivar");
    let config = TrainConfig {
        arch: Arch::Logreg,
        ..TrainConfig::default()
    };
    let accuracy = train(&wine, &config, |_| true).unwrap().test_metrics["test_accuracy"];
    eprintln!("wine logreg test accuracy {accuracy:.4}");
    assert!(accuracy >= 0.9, "wine test accuracy {accuracy}");
    let cancer = load(
        include_bytes!("../../../datasets/breast_cancer.csv"),
        "diagnosis",
    );
    let accuracy = train(&cancer, &TrainConfig::default(), |_| true)
        .unwrap()
        .test_metrics["test_accuracy"];
    eprintln!("breast cancer mlp test accuracy {accuracy:.4}");
    assert!(accuracy >= 0.94, "breast cancer test accuracy {accuracy}");
}

#[test]
fn digits_mlp_reaches_ninety_five_percent() {
    let digits = load(include_bytes!("../../../datasets/digits.csv"), "label");
    let config = TrainConfig {
        arch: Arch::mlp(vec![128, 64]),
        epochs: 40,
        learning_rate: 0.002,
        ..TrainConfig::default()
    };
    let accuracy = train(&digits, &config, |_| true).unwrap().test_metrics["test_accuracy"];
    eprintln!("digits mlp test accuracy {accuracy:.4}");
    assert!(accuracy >= 0.95, "digits test accuracy {accuracy}");
}

#[test]
fn digits_cnn_reaches_ninety_five_percent() {
    let digits = load(include_bytes!("../../../datasets/digits.csv"), "label");
    let config = TrainConfig {
        arch: Arch::Cnn {
            image: [1, 8, 8],
            filters: vec![8, 16],
            hidden: vec![64],
            activation: Activation::Relu,
            dropout: 0.1,
        },
        epochs: 12,
        batch_size: 64,
        learning_rate: 0.005,
        ..TrainConfig::default()
    };
    let accuracy = train(&digits, &config, |_| true).unwrap().test_metrics["test_accuracy"];
    eprintln!("digits cnn test accuracy {accuracy:.4}");
    assert!(accuracy >= 0.95, "digits cnn test accuracy {accuracy}");
}

#[test]
fn sgd_with_momentum_and_dropout_trains_reproducibly() {
    let iris = load(include_bytes!("../../../datasets/iris.csv"), "species");
    let config = TrainConfig {
        arch: Arch::Mlp {
            hidden: vec![32],
            activation: Activation::Tanh,
            dropout: 0.2,
        },
        optimiser: Optimiser::Sgd,
        momentum: 0.9,
        learning_rate: 0.05,
        epochs: 60,
        ..TrainConfig::default()
    };
    let first = train(&iris, &config, |_| true).unwrap();
    let accuracy = first.test_metrics["test_accuracy"];
    eprintln!("iris sgd+momentum test accuracy {accuracy:.4}");
    assert!(accuracy >= 0.9, "iris sgd accuracy {accuracy}");
    let second = train(&iris, &config, |_| true).unwrap();
    assert_eq!(
        first.weights, second.weights,
        "seeded dropout is reproducible"
    );
    let no_momentum = TrainConfig {
        momentum: 0.0,
        ..config
    };
    assert_ne!(
        train(&iris, &no_momentum, |_| true).unwrap().weights,
        first.weights,
        "momentum changes the updates"
    );
}

#[test]
fn stopping_from_outside_keeps_the_best_weights_so_far() {
    let iris = load(include_bytes!("../../../datasets/iris.csv"), "species");
    let trained = train(&iris, &TrainConfig::default(), |m| m.epoch < 3).unwrap();
    assert!(trained.interrupted);
    assert_eq!(trained.history.len(), 3);
}

#[test]
fn a_stop_is_heard_before_the_next_batch_not_at_the_end_of_the_epoch() {
    let iris = load(include_bytes!("../../../datasets/iris.csv"), "species");
    let config = TrainConfig {
        batch_size: 8,
        ..TrainConfig::default()
    };
    let asked = std::cell::Cell::new(0);
    // Stop during the first epoch, after three batches.
    let trained = train_until(
        &iris,
        &config,
        || {
            asked.set(asked.get() + 1);
            asked.get() > 3
        },
        |_| true,
    )
    .unwrap();
    assert!(trained.interrupted);
    assert!(
        trained.history.is_empty(),
        "the cut epoch counts for nothing"
    );
    assert_eq!(asked.get(), 4, "asked once per batch, stopped at once");
}

#[test]
fn regression_reports_rmse_and_bad_configs_are_named() {
    let rows: String = (0..200)
        .map(|i| {
            let x = f64::from(i) / 20.0;
            format!("{x},{}\n", 3.0 * x + 1.0)
        })
        .collect();
    let data = Dataset::from_csv(
        format!("x,y\n{rows}").as_bytes(),
        "y",
        Some(Task::Regression),
    )
    .unwrap();
    let config = TrainConfig {
        arch: Arch::Logreg,
        epochs: 200,
        learning_rate: 0.05,
        ..TrainConfig::default()
    };
    let rmse = train(&data, &config, |_| true).unwrap().test_metrics["test_rmse"];
    assert!(rmse < 1.0, "rmse {rmse}");
    let bad = TrainConfig {
        arch: Arch::mlp(vec![]),
        ..TrainConfig::default()
    };
    assert!(
        train(&data, &bad, |_| true)
            .unwrap_err()
            .to_string()
            .contains("hidden")
    );
    let not_an_image = TrainConfig {
        arch: Arch::Cnn {
            image: [1, 8, 8],
            filters: vec![4],
            hidden: vec![],
            activation: Activation::Relu,
            dropout: 0.0,
        },
        ..TrainConfig::default()
    };
    let err = train(&data, &not_an_image, |_| true)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("image: expected channels×height×width = 1"),
        "{err}"
    );
}

/// A typed table read as the worker reads an uploaded version: profiled, then its cells kept.
fn typed(bytes: &[u8], label: &str) -> Dataset {
    use crate::table::{Input, ProfileOptions, Profiler, read};
    let mut profiler = Profiler::new(ProfileOptions {
        label: label.into(),
        ..ProfileOptions::default()
    });
    let format = read(Input::Memory(bytes.to_vec().into()), b',', &mut profiler).unwrap();
    let profile = profiler.finish(format, b',').unwrap();
    Dataset::from_table(
        bytes,
        &profile.schema,
        &profile.features,
        label,
        profile.task,
    )
    .unwrap()
}

#[test]
fn penguins_and_cars_train_through_preprocessing_and_beat_their_baselines() {
    let penguins = include_bytes!("../../../datasets/penguins.csv");
    let species = typed(penguins, "species");
    assert_eq!(species.len(), 344);
    let trained = train(&species, &TrainConfig::default(), |_| true).unwrap();
    let metrics = &trained.test_metrics;
    eprintln!("penguins species {metrics:?}");
    assert!(metrics["test_accuracy"] >= 0.95, "{metrics:?}");
    assert_eq!(metrics["beats_baseline"], 1.0);
    assert!(metrics["baseline_accuracy"] < 0.5, "{metrics:?}");
    let preprocessing = trained.preprocessing.unwrap();
    let names = preprocessing.encoded_names();
    assert!(names.contains(&"island=Biscoe".to_owned()), "{names:?}");
    assert!(names.contains(&"sex=(missing)".to_owned()), "{names:?}");
    assert!(trained.target.is_none());

    let mass = typed(penguins, "body_mass_g");
    assert_eq!(mass.skipped_rows, 2, "rows without a body mass");
    let trained = train(&mass, &TrainConfig::default(), |_| true).unwrap();
    let metrics = &trained.test_metrics;
    eprintln!("penguins body mass {metrics:?}");
    assert!(metrics["test_rmse"] < 400.0, "{metrics:?}");
    assert!(metrics["test_r2"] > 0.7, "{metrics:?}");
    assert_eq!(metrics["beats_baseline"], 1.0);
    assert!(trained.target.is_some_and(|t| t.mean > 3000.0));

    let cars = typed(
        include_bytes!("../../../datasets/cars.csv"),
        "Miles_per_Gallon",
    );
    assert_eq!(cars.skipped_rows, 8);
    assert!(!cars.schema.features.contains(&"Name".to_owned()));
    let trained = train(&cars, &TrainConfig::default(), |_| true).unwrap();
    let metrics = &trained.test_metrics;
    eprintln!("cars mpg {metrics:?}");
    assert!(metrics["test_rmse"] < 4.0, "{metrics:?}");
    assert_eq!(metrics["beats_baseline"], 1.0);
    let names = trained.preprocessing.unwrap().encoded_names();
    assert!(names.contains(&"Year.year".to_owned()), "{names:?}");
    assert!(
        names.contains(&"Horsepower=(missing)".to_owned())
            || names.contains(&"Horsepower".to_owned())
    );
}
