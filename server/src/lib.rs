//! Slipway's control plane: the HTTP API (axum), persistence (sea-orm over SQLite, portable to
//! PostgreSQL), authentication and the audit log, experiment tracking, and the `slipway`
//! command line that drives it all.
//!
//! Layers: `http` extracts and maps; the services (`tracking`, `auth`, `audit`) hold the
//! domain logic and know nothing of HTTP; `entity` and `db` are the storage.

pub mod audit;
pub mod auth;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod datasets;
pub mod db;
pub mod entity;
pub mod error;
pub mod events;
pub mod files;
pub mod gc;
pub mod http;
pub mod monitoring;
pub mod pagination;
pub mod queue;
pub mod rate_limit;
pub mod registry;
pub mod schedules;
pub mod serve;
pub mod serving;
pub mod sessions;
pub mod state;
pub mod time;
pub mod tracking;
pub mod transport;
