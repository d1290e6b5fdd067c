//! Experiment tracking: experiments, runs, what is logged to them, their artifacts, and
//! comparisons of runs.

pub mod artifacts;
pub mod compare;
pub mod experiments;
pub mod filter;
pub mod history;
pub mod logging;
pub mod points;
pub mod runs;
pub mod search;
