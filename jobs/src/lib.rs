//! Slipway's machine-learning side. It owns datasets — parsing CSV, inferring the schema,
//! computing the per-feature statistics that serve as the drift baseline, and deterministic
//! stratified splits — and, as the platform grows, training, evaluation and inference with
//! candle — and the worker loop that leases jobs from the server and runs them. It talks to
//! the server only through the `api` client and knows nothing of HTTP routes or the database.

pub mod column_drift;
pub mod dataset;
mod deploy_job;
pub mod devices;
pub mod drift;
mod evaluate_job;
pub mod evaluation;
pub mod handlers;
pub mod inference;
pub mod model;
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
