//! Experiment tracking: experiments, runs, what is logged to them, and their artifacts.

pub mod artifacts;
pub mod experiments;
pub mod filter;
pub mod history;
pub mod logging;
pub mod points;
pub mod runs;
