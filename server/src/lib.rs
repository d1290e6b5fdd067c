//! Slipway's control plane: the HTTP API (axum), persistence (sea-orm over SQLite, portable to
//! PostgreSQL), authentication and the audit log, tracking, the registry, the job queue and
//! schedules, serving and monitoring, and the `slipway` command line that drives it all.
//!
//! Layers: `http` extracts and maps; the services hold the domain logic and know nothing of
//! HTTP; `entity` and `db` are the storage. The modules:
//!
//! - Assembly: `serve` (binds, migrates, launches), `state` (builds the shared state and its
//!   background tasks), `config` (every setting, declared once), `transport` (the accept loop
//!   with its timeouts and connection cap), `cli` (the `slipway` commands).
//! - HTTP: `http` (one router per resource, the dashboard, OIP), `mlflow` (the MLflow REST
//!   API on the same store), `rate_limit`, `sessions`.
//! - Services: `auth` (tokens and roles), `run_tokens` (a command job's token, scoped to its
//!   run), `audit`, `tracking` (experiments, runs, logging, search, run artifacts), `datasets`,
//!   `registry` (models, versions, aliases) and `registry_changes` (create, rename, delete,
//!   register a run's artifact directory), `registry_tags` (tags of models and versions),
//!   `registry_stages` (MLflow's version stages), `model_import` (ONNX files checked and
//!   registered as versions), `queue` (jobs, workers, leases), `schedules` (cron), `serving`
//!   (deployments, the model pool, predict),
//!   `monitoring` (live metrics, drift, SLO guard, alerts), `events` (the live event bus).
//! - Replicas: `cluster` (leader election through the database, live events across the
//!   replicas on one PostgreSQL), `replica` (`slipway serve`: a serving replica with no
//!   database that follows the server through its API).
//! - Storage: `db`, `entity`, `blobs` (the content-addressed file store), `gc` (collecting
//!   unreferenced blobs), `files` (private files in the data dir).
//! - Shared helpers: `error` (the service error), `pagination` (page tokens), `time`.

pub mod audit;
pub mod auth;
pub mod blobs;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod datasets;
pub mod db;
pub mod entity;
pub mod error;
pub mod events;
pub mod files;
pub mod gc;
pub mod http;
pub mod mlflow;
pub mod model_import;
pub mod monitoring;
pub mod pagination;
pub mod queue;
pub mod rate_limit;
pub mod registry;
pub mod registry_changes;
pub mod registry_stages;
pub mod registry_tags;
pub mod replica;
pub mod run_tokens;
pub mod schedules;
pub mod serve;
pub mod serving;
pub mod sessions;
pub mod state;
pub mod time;
pub mod tracking;
pub mod transport;
