//! Training throughput and inference latency of the digits MLP (64-128-64-10) on the CPU,
//! through the product's own code paths.
//!
//! Training: `slipway_ml::train::train` on `datasets/digits.csv` with hidden layers
//! [128, 64], batch 64, AdamW and the other defaults of `TrainConfig`, a fixed number of epochs
//! (patience is set so it never stops early). One warm-up run, then `BENCH_REPEATS` timed runs;
//! samples/s = training rows × epochs run / wall time of the whole `train` call (split,
//! standardisation, every epoch with its validation pass, the final test pass and writing the
//! weights).
//!
//! Inference: the trained model loaded into `slipway_ml::inference::Engine`, then
//! `Engine::predict` on 1 row and on 64 rows (validation, standardisation, forward pass, softmax
//! and the labelled probabilities), p50 and p99 over `BENCH_CALLS` calls after a warm-up.
//!
//! Prints a table, then one `BENCH_JSON {...}` line for scripts (`bench/vs_pytorch.sh` puts it
//! beside PyTorch doing the same work). Knobs: `BENCH_EPOCHS` (30), `BENCH_REPEATS` (7),
//! `BENCH_CALLS` (2000).

use slipway_ml::dataset::Dataset;
use slipway_ml::inference::Engine;
use slipway_ml::model::ModelManifest;
use slipway_ml::split::stratified_split;
use slipway_ml::train::{Arch, TrainConfig, train};
use std::error::Error;
use std::hint::black_box;
use std::time::{Duration, Instant};

const DIGITS: &[u8] = include_bytes!("../../datasets/digits.csv");

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|&value| value > 0)
        .unwrap_or(default)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// p50 and p99 in microseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |percent: usize| {
        let index = (samples.len() * percent / 100).min(samples.len() - 1);
        samples[index].as_secs_f64() * 1e6
    };
    (at(50), at(99))
}

/// Times `calls` predictions of `rows` consecutive rows, moving through the dataset.
fn latency(
    engine: &Engine,
    data: &Dataset,
    rows: usize,
    calls: usize,
) -> Result<(f64, f64), Box<dyn Error>> {
    let starts = data.len() - rows;
    let batch = |call: usize| &data.features[(call * rows) % starts..][..rows];
    for call in 0..calls / 10 {
        black_box(engine.predict(batch(call))?);
    }
    let mut samples = Vec::with_capacity(calls);
    for call in 0..calls {
        let rows = batch(call);
        let started = Instant::now();
        black_box(engine.predict(black_box(rows))?);
        samples.push(started.elapsed());
    }
    Ok(percentiles(samples))
}

fn main() -> Result<(), Box<dyn Error>> {
    let epochs = knob("BENCH_EPOCHS", 30);
    let repeats = knob("BENCH_REPEATS", 7);
    let calls = knob("BENCH_CALLS", 2000);

    let data = Dataset::from_csv(DIGITS, "label", None)?;
    let config = TrainConfig {
        arch: Arch::mlp(vec![128, 64]),
        epochs,
        batch_size: 64,
        patience: epochs + 1,
        ..TrainConfig::default()
    };
    let train_rows = stratified_split(
        &data,
        config.validation_fraction,
        config.test_fraction,
        config.seed,
    )
    .train
    .len();

    // Warm-up: page in the code and let the allocator settle.
    let mut trained = train(&data, &config, |_| true)?;
    let mut seconds = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let started = Instant::now();
        trained = train(&data, &config, |_| true)?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    let epochs_run = trained.history.len();
    let samples = (train_rows * epochs_run) as f64;
    let median_s = median(&seconds);
    let best_s = seconds.iter().copied().fold(f64::INFINITY, f64::min);
    let test_accuracy = trained
        .test_metrics
        .get("test_accuracy")
        .copied()
        .unwrap_or(f64::NAN);

    // Through JSON so that fields added to the manifest later keep their defaults here.
    let manifest: ModelManifest = serde_json::from_value(serde_json::json!({
        "arch": "mlp",
        "hyper_parameters": config,
        "features": data.schema.features,
        "labels": data.schema.classes,
        "task": "classification",
        "normalisation": trained.normalisation,
        "metrics": trained.test_metrics,
        "epochs_run": epochs_run,
        "stopped_early": trained.stopped_early,
    }))?;
    let engine = Engine::load(&serde_json::to_vec(&manifest)?, &trained.weights)?;
    let (one_p50, one_p99) = latency(&engine, &data, 1, calls)?;
    let (batch_p50, batch_p99) = latency(&engine, &data, 64, calls)?;

    let threads = candle_core::utils::get_num_threads();
    println!(
        "slipway-ml (candle) on the CPU, {threads} threads: digits MLP 64-128-64-10, \
         batch 64, {epochs_run} epochs × {train_rows} training rows, {repeats} timed runs"
    );
    println!("| measurement | value |");
    println!("| --- | --- |");
    println!(
        "| training (median) | {:.0} samples/s ({median_s:.3} s a run) |",
        samples / median_s
    );
    println!(
        "| training (best) | {:.0} samples/s ({best_s:.3} s a run) |",
        samples / best_s
    );
    println!("| test accuracy | {test_accuracy:.4} |");
    println!("| predict 1 row | p50 {one_p50:.1} µs, p99 {one_p99:.1} µs |");
    println!("| predict 64 rows | p50 {batch_p50:.1} µs, p99 {batch_p99:.1} µs |");
    let json = serde_json::json!({
        "impl": "candle",
        "threads": threads,
        "epochs": epochs_run,
        "batch_size": config.batch_size,
        "train_rows": train_rows,
        "repeats": repeats,
        "train_seconds_median": median_s,
        "train_seconds_best": best_s,
        "samples_per_s_median": samples / median_s,
        "samples_per_s_best": samples / best_s,
        "test_accuracy": test_accuracy,
        "calls": calls,
        "predict_1_p50_us": one_p50,
        "predict_1_p99_us": one_p99,
        "predict_64_p50_us": batch_p50,
        "predict_64_p99_us": batch_p99,
    });
    println!("BENCH_JSON {json}");
    Ok(())
}
