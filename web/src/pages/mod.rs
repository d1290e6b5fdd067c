//! One module per page; each exposes its data struct and a `render_*` function returning a
//! complete HTML document.

pub mod common;
pub mod compare;
pub mod deployment;
pub mod deployment_health;
pub mod jobs;
pub mod model_version;
pub mod models;
pub mod ops;
pub mod overview;
pub mod run_columns;
pub mod runs;
pub mod sign_in;

#[cfg(test)]
pub(crate) mod fixtures;

pub use compare::{CompareView, render_compare};
pub use deployment::{DeploymentView, render_deployment};
pub use deployment_health::TimeRange;
pub use jobs::{JobView, JobsView, render_job, render_jobs, render_workers};
pub use model_version::{ModelVersionView, render_model_version};
pub use models::{ModelView, render_model, render_models};
pub use ops::{AuditView, ScheduleView, render_alerts, render_audit, render_schedules};
pub use overview::{DeploymentHealth, Overview, render_overview};
pub use runs::{RunView, RunsView, render_run, render_runs};
pub use sign_in::{render_error, render_sign_in};
