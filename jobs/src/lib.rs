//! `slipway-ml`: Slipway's machine-learning engine and its worker. It is the only part that
//! knows candle. It talks to the server only through the `api` client and knows nothing of
//! HTTP routes or the database. (Its folder keeps the name `jobs/` that users know.)
//!
//! Data:
//! - `table`: reading uploads row by row in bounded memory (CSV, gzip, Parquet), typing and
//!   profiling columns, missing-value tokens.
//! - `dataset`: a typed dataset loaded for training, its schema and task.
//! - `split`: deterministic stratified train / validation / test splits (`split.json`).
//! - `stats`: per-feature statistics and the quantile histograms drift is measured against.
//! - `preprocess`: standardisation, imputation, one-hot and datetime parts, fitted on the
//!   training split and stored with the model.
//! - `signature`: a model's input columns, checked at predict.
//!
//! Models:
//! - `train`: candle training of `logreg`, `mlp` and `cnn` models.
//! - `model`: what a trained model is made of (`model.json`, `model.safetensors`).
//! - `inference`: a loaded model answering batches of rows.
//! - `onnx`: imported ONNX models: checked at import, planned once per loaded version and run
//!   on tract (`tract-onnx`), not candle (candle-onnx was 11x to 42x behind onnxruntime).
//! - `evaluation`: metrics free of I/O, baselines and comparisons.
//! - `drift`, `column_drift`: PSI and KS of features, category shares and missing rates.
//! - `devices`: the CPU and, with the `cuda` feature, GPUs a worker offers.
//!
//! Jobs:
//! - `worker`: register, lease by long-poll, heartbeat, report.
//! - `handlers`: one exhaustive match from a typed job spec to its handler; the handlers are
//!   `train_job`, `evaluate_job`, `deploy_job`, `pipeline_job` (with `pipeline_bake`) and
//!   `command_job` (a team's own program, on workers that opt in).
//! - `command_model`: the model a command job wrote (Slipway's or an `.onnx` file with its
//!   signature), stored with its run and registered.
//! - `code_package`: a command job's code directory packed (honouring `.gitignore`) and
//!   unpacked.

pub mod code_package;
pub mod column_drift;
mod command_job;
mod command_model;
pub mod dataset;
mod deploy_job;
pub mod devices;
pub mod drift;
mod evaluate_job;
pub mod evaluation;
pub mod handlers;
pub mod inference;
pub mod model;
pub mod onnx;
mod pipeline_bake;
mod pipeline_job;
pub mod preprocess;
pub mod signature;
pub mod split;
pub mod stats;
pub mod table;
pub mod train;
mod train_job;
pub mod worker;

pub use dataset::{Dataset, DatasetError, Schema, Task};
pub use train_job::check_train_spec;
