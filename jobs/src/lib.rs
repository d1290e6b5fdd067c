//! Slipway's machine-learning side. It owns datasets — parsing CSV, inferring the schema,
//! computing the per-feature statistics that serve as the drift baseline, and deterministic
//! stratified splits — and, as the platform grows, training, evaluation and inference with
//! candle. It knows nothing of HTTP or the database.

pub mod dataset;
pub mod split;
pub mod stats;

pub use dataset::{Dataset, DatasetError, Schema, Task};
