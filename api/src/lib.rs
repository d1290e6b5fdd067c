//! Slipway's wire contract, shared by every part: the request and response types of the REST
//! API under `/api/v1`, the one error body, and [`Client`], the typed HTTP client used by the
//! CLI, the worker and the terminal client.
//!
//! Times on the wire are RFC 3339 strings in UTC. Lists are paginated with `limit` and an
//! opaque `page_token`; a response carries `next_page_token` while more remain.
//!
//! Modules, by domain: `common` (health, pages, live events), `auth` (tokens, roles, audit),
//! `tracking` (experiments, runs, metrics, artifacts), `datasets`, `registry` (models,
//! versions, aliases, deployments), `signature` (an ONNX model's input columns), `predict` and `oip` (predictions, the Open Inference
//! Protocol and its binary tensors), `monitoring` (live metrics, drift, SLO policies, alerts), `replica` (what a serving replica
//! reports to the server),
//! `jobs` (jobs and workers), `job_kind` (the job kinds and the typed `JobSpec`), `command` (command jobs: a team's own
//! script, its code package and its run-scoped token), `specs` (the
//! specs of the ML kinds), `job_results` (each kind's typed result), `pipelines` (pipelines and
//! schedules), `admin`; `error` (the one error body) and `client` (the typed client).

pub mod admin;
pub mod auth;
mod client;
pub mod command;
pub mod common;
pub mod datasets;
mod error;
pub mod job_kind;
pub mod job_results;
pub mod jobs;
pub mod monitoring;
pub mod oip;
pub mod pipelines;
pub mod predict;
pub mod registry;
pub mod replica;
pub mod signature;
pub mod specs;
pub mod tracking;

pub use admin::*;
pub use auth::*;
pub use client::{Client, ClientBuilder, DatasetDownload};
pub use command::*;
pub use common::*;
pub use datasets::*;
pub use error::{ApiError, ErrorBody, ErrorCode, ErrorDetail, OipErrorBody};
pub use job_kind::*;
pub use job_results::*;
pub use jobs::*;
pub use monitoring::*;
pub use pipelines::*;
pub use predict::*;
pub use registry::*;
pub use replica::*;
pub use specs::*;
pub use tracking::*;

/// The header that carries the reason for a change; it is written to the audit log.
pub const REASON_HEADER: &str = "x-slipway-reason";
/// The header with which a worker acts for the job it runs (a `deploy` job deploys with the
/// authority of the engineer who submitted it); it goes with [`LEASE_HEADER`].
pub const JOB_HEADER: &str = "x-slipway-job";
/// The lease id of the attempt a worker acts for: the proof that it holds the job.
pub const LEASE_HEADER: &str = "x-slipway-lease";
/// The header that names each request; the server echoes or assigns it.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The default server address.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
