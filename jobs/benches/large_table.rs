//! A large table through the upload path and into training: 1,000,000 rows × 50 columns
//! (30 numeric, 15 categorical, 4 boolean, a 3-class label; missing cells in 8 columns,
//! written as empty cells and as the default missing tokens), generated here with a fixed
//! seed into a temporary file that is deleted afterwards.
//!
//! Profiling is what an upload does once the file is staged: `table::read` over the file into
//! a `Profiler` (one accumulator per column, never the rows). Its peak resident memory is
//! measured by resetting the kernel's high-water mark (`/proc/self/clear_refs`) before the
//! phase and reading `VmHWM` from `/proc/self/status` after it; the target is under 1 GB.
//!
//! Training reads the stored table as the train job does (`Dataset::from_table`: every input
//! cell kept as text for the preprocessing fitted on the training split), then trains an MLP
//! (hidden 64, batch 256, AdamW) for `BENCH_EPOCHS` epochs; rows/s = training rows × epochs /
//! wall time of the `train` call. Knobs: `BENCH_ROWS` (1,000,000), `BENCH_EPOCHS` (2).

use slipway_ml::dataset::Dataset;
use slipway_ml::split::SplitMix64;
use slipway_ml::table::{self, Input, ProfileOptions, Profiler, missing};
use slipway_ml::train::{Arch, TrainConfig, train};
use std::error::Error;
use std::io::Write;
use std::time::Instant;

const NUMERIC: usize = 30;
const CATEGORICAL: usize = 15;
const BOOLEAN: usize = 4;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|&value| value > 0)
        .unwrap_or(default)
}

/// A `/proc/self/status` field in MiB (Linux), if there is one.
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Starts a new peak: the kernel sets the high-water mark back to the current RSS.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn normal(rng: &mut SplitMix64) -> f64 {
    let (u, v) = (rng.unit().max(1e-12), rng.unit());
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Writes the table, streaming, and answers its size in bytes.
fn generate(path: &std::path::Path, rows: usize) -> Result<u64, Box<dyn Error>> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut header: Vec<String> = (0..NUMERIC).map(|i| format!("n{i:02}")).collect();
    header.extend((0..CATEGORICAL).map(|i| format!("c{i:02}")));
    header.extend((0..BOOLEAN).map(|i| format!("b{i}")));
    header.push("y".into());
    writeln!(out, "{}", header.join(","))?;
    let mut rng = SplitMix64(20_261_201);
    let tokens = ["", "NA", "?", "null"];
    let mut line = String::with_capacity(512);
    for _ in 0..rows {
        line.clear();
        let mut score = 0.0;
        for column in 0..NUMERIC {
            let value = normal(&mut rng) * (1.0 + column as f64) + column as f64;
            if column < 2 {
                score += value / (1.0 + column as f64);
            }
            // The first five numeric columns miss about 5 % of their cells.
            if column < 5 && rng.unit() < 0.05 {
                line.push_str(tokens[(rng.next_u64() % 4) as usize]);
            } else {
                line.push_str(&format!("{value:.3}"));
            }
            line.push(',');
        }
        for column in 0..CATEGORICAL {
            let levels = 3 + column as u64;
            let level = rng.next_u64() % levels;
            if column == 0 {
                score += level as f64 * 0.8;
            }
            if column < 3 && rng.unit() < 0.03 {
                line.push_str(tokens[(rng.next_u64() % 4) as usize]);
            } else {
                line.push_str(&format!("L{level}"));
            }
            line.push(',');
        }
        for _ in 0..BOOLEAN {
            line.push_str(if rng.unit() < 0.5 { "true," } else { "false," });
        }
        let class = if score < 0.8 {
            "low"
        } else if score < 2.4 {
            "mid"
        } else {
            "high"
        };
        line.push_str(class);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn main() -> Result<(), Box<dyn Error>> {
    let rows = knob("BENCH_ROWS", 1_000_000);
    let epochs = knob("BENCH_EPOCHS", 2);
    let dir = std::env::temp_dir().join(format!("slipway-large-table-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("large.csv");
    let result = run(&path, rows, epochs);
    std::fs::remove_dir_all(&dir).ok();
    result
}

fn run(path: &std::path::Path, rows: usize, epochs: usize) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let bytes = generate(path, rows)?;
    let generate_s = started.elapsed().as_secs_f64();

    // Profiling, as an upload does once the file is staged.
    let baseline_mib = status_mib("VmRSS:").unwrap_or(f64::NAN);
    let measured = reset_peak();
    let started = Instant::now();
    let mut profiler = Profiler::new(ProfileOptions {
        label: "y".into(),
        missing: missing::parse_tokens(None),
        ..ProfileOptions::default()
    });
    let format = table::read(Input::File(std::fs::File::open(path)?), b',', &mut profiler)?;
    let profile = profiler.finish(format, b',')?;
    let profile_s = started.elapsed().as_secs_f64();
    let profile_peak = status_mib("VmHWM:").unwrap_or(f64::NAN);
    let missing_cells: u64 = profile.schema.columns.iter().map(|c| c.missing).sum();
    let kinds = |kind: slipway_api::ColumnType| {
        profile
            .schema
            .columns
            .iter()
            .filter(|c| c.column_type == kind)
            .count()
    };

    // Training, reading the table as the train job does.
    reset_peak();
    let started = Instant::now();
    let stored = std::fs::read(path)?;
    let data = Dataset::from_table(
        &stored,
        &profile.schema,
        &profile.features,
        "y",
        profile.task,
    )?;
    drop(stored);
    let read_s = started.elapsed().as_secs_f64();
    let config = TrainConfig {
        arch: Arch::mlp(vec![64]),
        epochs,
        batch_size: 256,
        patience: epochs + 1,
        ..TrainConfig::default()
    };
    let started = Instant::now();
    let trained = train(&data, &config, |_| true)?;
    let train_s = started.elapsed().as_secs_f64();
    let train_peak = status_mib("VmHWM:").unwrap_or(f64::NAN);
    let train_rows = trained.split.train.len();
    let epochs_run = trained.history.len();
    let rows_per_s = (train_rows * epochs_run) as f64 / train_s;
    let accuracy = trained
        .test_metrics
        .get("test_accuracy")
        .copied()
        .unwrap_or(f64::NAN);

    let threads = candle_core::utils::get_num_threads();
    println!(
        "slipway-ml: {rows} rows × 50 columns ({} numeric, {} categorical, {} boolean, label), \
         {:.0} MiB of CSV, {missing_cells} missing cells; {threads} threads",
        kinds(slipway_api::ColumnType::Numeric),
        kinds(slipway_api::ColumnType::Categorical),
        kinds(slipway_api::ColumnType::Boolean),
        bytes as f64 / (1024.0 * 1024.0),
    );
    let peak_note = if measured {
        ""
    } else {
        " (peak of the whole process: clear_refs unavailable)"
    };
    println!("| measurement | value |");
    println!("| --- | --- |");
    println!("| generate the CSV | {generate_s:.1} s |");
    println!(
        "| profile (upload path) | {profile_s:.1} s, {:.0} rows/s |",
        rows as f64 / profile_s
    );
    println!(
        "| profile peak RSS | {profile_peak:.0} MiB (RSS before: {baseline_mib:.0} MiB){peak_note} |"
    );
    println!("| read for training (cells as text) | {read_s:.1} s |");
    println!(
        "| train MLP 64, batch 256, {epochs_run} epochs × {train_rows} rows | {train_s:.1} s, {rows_per_s:.0} rows/s |"
    );
    println!("| read + train peak RSS | {train_peak:.0} MiB |");
    println!("| test accuracy | {accuracy:.4} |");
    let json = serde_json::json!({
        "rows": rows,
        "columns": 50,
        "csv_bytes": bytes,
        "missing_cells": missing_cells,
        "profile_seconds": profile_s,
        "profile_peak_rss_mib": profile_peak,
        "read_seconds": read_s,
        "train_seconds": train_s,
        "train_rows": train_rows,
        "epochs": epochs_run,
        "train_rows_per_s": rows_per_s,
        "train_peak_rss_mib": train_peak,
        "test_accuracy": accuracy,
        "threads": threads,
    });
    println!("BENCH_JSON {json}");
    Ok(())
}
