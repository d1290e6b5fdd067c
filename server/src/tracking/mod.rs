//! Experiment tracking: experiments, runs, what is logged to them, their artifacts, and
//! comparisons of runs; `experiment_tags` holds the tags the MLflow API sets on experiments.

pub mod artifacts;
pub mod compare;
pub mod experiment_tags;
pub mod experiments;
pub mod filter;
pub mod history;
pub mod logging;
pub mod points;
pub mod runs;
pub mod search;
