//! Slipway's database schema, as sea-orm migrations.
//!
//! The server applies these at start; `cargo run -p migration -- status` (or `up`, `down`, …)
//! runs them on their own against `DATABASE_URL`. Every statement is built with sea-query, so
//! the same migrations run on SQLite and PostgreSQL. Times are stored as integer milliseconds
//! since the Unix epoch (UTC): portable, compact, and ordered correctly on every backend.

pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261129_000001_tracking;
mod m20261129_000002_registry;
mod m20261129_000003_operations;
mod m20261130_000004_serving;
mod m20261130_000005_monitoring;
mod m20261130_000006_firings;
mod m20261201_000007_sessions;
mod m20261201_000008_worker_owner;
mod m20261201_000009_metric_bits;
mod m20261202_000010_worker_commands;
mod m20261202_000011_drift_hours;
mod m20261202_000012_lifecycle;
mod m20261202_000013_leaders;
mod m20261202_000014_live_baselines;
mod m20261202_000015_experiment_tags;
mod m20261202_000016_registry_tags;
mod m20261202_000017_job_devices;
mod m20261202_000018_version_stages;
mod m20261202_000019_replica_reports;
mod m20261202_000020_clustered_keys;

/// The ordered list of Slipway's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_tracking::Migration),
            Box::new(m20261129_000002_registry::Migration),
            Box::new(m20261129_000003_operations::Migration),
            Box::new(m20261130_000004_serving::Migration),
            Box::new(m20261130_000005_monitoring::Migration),
            Box::new(m20261130_000006_firings::Migration),
            Box::new(m20261201_000007_sessions::Migration),
            Box::new(m20261201_000008_worker_owner::Migration),
            Box::new(m20261201_000009_metric_bits::Migration),
            Box::new(m20261202_000010_worker_commands::Migration),
            Box::new(m20261202_000011_drift_hours::Migration),
            Box::new(m20261202_000012_lifecycle::Migration),
            Box::new(m20261202_000013_leaders::Migration),
            Box::new(m20261202_000014_live_baselines::Migration),
            Box::new(m20261202_000015_experiment_tags::Migration),
            Box::new(m20261202_000016_registry_tags::Migration),
            Box::new(m20261202_000017_job_devices::Migration),
            Box::new(m20261202_000018_version_stages::Migration),
            Box::new(m20261202_000019_replica_reports::Migration),
            Box::new(m20261202_000020_clustered_keys::Migration),
        ]
    }
}
