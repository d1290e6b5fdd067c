//! The HTTP API: one `router()` per resource, mounted under `/api/v1` behind authentication,
//! plus the health probes and the Open Inference Protocol under `/v2`, with request ids,
//! tracing, body size and time limits, and JSON errors everywhere (also for unknown routes and
//! wrong methods; `/v2` has its own error shape).

mod admin;
mod auth;
pub(crate) mod dashboard;
mod datasets;
mod delegation;
mod deployments;
mod error;
mod events;
mod experiments;
pub(crate) mod extract;
mod health;
mod inference;
mod jobs;
pub mod limits;
mod models;
mod monitoring;
pub mod replica;
mod runs;
mod schedules;
#[cfg(test)]
mod tests;
pub(crate) mod throttle;
mod tokens;

pub use error::{ApiResult, AppError, ErrorMessage};

use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use slipway_api::{ErrorCode, REQUEST_ID_HEADER};
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let api = Router::new()
        .merge(experiments::router())
        .merge(runs::router())
        .merge(jobs::router())
        .merge(datasets::router())
        .merge(models::router())
        .merge(deployments::router())
        .merge(monitoring::router())
        .merge(schedules::router())
        .merge(events::router())
        .merge(tokens::router())
        .merge(admin::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let pages = inference::router()
        .merge(monitoring::exposition())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    // The MLflow API, a second door to the same store, behind the same tokens.
    let mlflow = crate::mlflow::router().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::authenticate,
    ));
    Router::new()
        .nest("/api/v1", api)
        .merge(pages)
        .merge(mlflow)
        .merge(dashboard::router(state.clone()))
        .merge(health::router())
        .merge(inference::health())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            limits::RequestLimits {
                body_timeout: Duration::from_secs(state.config.limits.body_timeout_secs),
                deadline: Duration::from_secs(state.config.limits.request_deadline_secs),
            },
            limits::enforce,
        ))
        // Outside the limits, so their refusals under `/v2` are rendered in its shape too.
        .layer(axum::middleware::from_fn(inference::errors::render))
        .layer(axum::middleware::from_fn(crate::mlflow::render))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get(REQUEST_ID_HEADER)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::new(
        ErrorCode::NotFound,
        format!(
            "no route for {}; see the README for the API under /api/v1",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> AppError {
    AppError::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
