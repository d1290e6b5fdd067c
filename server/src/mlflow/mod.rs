//! The MLflow REST API, a second door to Slipway's own store: training code instrumented with
//! the `mlflow` client runs unchanged with `MLFLOW_TRACKING_URI` pointing here and a Slipway
//! token in `MLFLOW_TRACKING_TOKEN` (sent as a bearer token, so roles and audit apply).
//! Experiments, runs, models and aliases made either way are the same rows.
//!
//! - `wire`: MLflow's JSON messages and the translation of ids (strings of Slipway's
//!   numbers), times (milliseconds) and lifecycle stages.
//! - `experiments`, `runs`, `artifacts` (the `mlflow-artifacts` proxy), `registry`,
//!   `registry_tags`, `stages`: thin
//!   handlers over the tracking and registry services.
//! - here: the router, the few 3.x calls the client makes, and [`render`], which gives every
//!   error under these prefixes MLflow's shape, `{"error_code", "message"}`, with its statuses.

mod artifacts;
mod experiments;
mod names;
mod registry;
mod registry_tags;
mod runs;
mod stages;
pub mod wire;

use crate::http::ApiResult;
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use slipway_api::ErrorCode;

/// The MLflow API's routes, without authentication (the caller adds it).
pub fn router() -> Router<AppState> {
    let tracking = Router::new()
        .merge(experiments::router())
        .merge(runs::router())
        .merge(registry::router())
        .merge(registry_tags::router())
        .merge(stages::router())
        .route("/logged-models/search", post(search_logged_models))
        .route("/{*rest}", any(unknown_endpoint));
    Router::new()
        .nest("/api/2.0/mlflow", tracking)
        .nest(
            "/api/2.0/mlflow-artifacts",
            artifacts::router().route("/{*rest}", any(unknown_endpoint)),
        )
        .route("/api/3.0/mlflow/server-info", get(server_info))
        .route("/api/3.0/mlflow/{*rest}", any(unknown_endpoint))
}

/// What the client asks before it uploads or downloads: this server streams artifacts whole
/// through the proxy (no multipart transfers).
async fn server_info() -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
    })))
}

/// MLflow 3's logged models are not kept here: a search finds none, so the client registers
/// models from run artifact URIs (`runs:/<id>/<path>`) as MLflow 2 did.
async fn search_logged_models() -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(json!({ "models": [] })))
}

async fn unknown_endpoint(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    mlflow_error(
        StatusCode::NOT_FOUND,
        "ENDPOINT_NOT_FOUND",
        &format!(
            "{method} {} is not part of this server's MLflow API; see the README",
            uri.path()
        ),
    )
}

fn mlflow_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error_code": code, "message": message })),
    )
        .into_response()
}

/// Whether `path` is under one of the MLflow API's prefixes.
fn is_mlflow(path: &str) -> bool {
    ["/api/2.0/mlflow", "/api/3.0/mlflow"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// MLflow's error code and status for one of Slipway's.
fn mlflow_code(code: ErrorCode) -> (&'static str, StatusCode) {
    match code {
        ErrorCode::InvalidArgument | ErrorCode::Unprocessable | ErrorCode::UnsupportedMediaType => {
            ("INVALID_PARAMETER_VALUE", StatusCode::BAD_REQUEST)
        }
        ErrorCode::NotFound => ("RESOURCE_DOES_NOT_EXIST", StatusCode::NOT_FOUND),
        // MLflow answers a duplicate name with 400.
        ErrorCode::Conflict => ("RESOURCE_ALREADY_EXISTS", StatusCode::BAD_REQUEST),
        ErrorCode::PermissionDenied => ("PERMISSION_DENIED", StatusCode::FORBIDDEN),
        ErrorCode::Unauthenticated => ("UNAUTHENTICATED", StatusCode::UNAUTHORIZED),
        ErrorCode::PayloadTooLarge => ("RESOURCE_EXHAUSTED", StatusCode::PAYLOAD_TOO_LARGE),
        ErrorCode::RateLimited => ("REQUEST_LIMIT_EXCEEDED", StatusCode::TOO_MANY_REQUESTS),
        ErrorCode::MethodNotAllowed => ("ENDPOINT_NOT_FOUND", StatusCode::METHOD_NOT_ALLOWED),
        ErrorCode::RequestTimeout | ErrorCode::Unavailable => {
            ("TEMPORARILY_UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE)
        }
        ErrorCode::Internal => ("INTERNAL_ERROR", StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// The middleware: re-renders Slipway's error responses under the MLflow prefixes in MLflow's
/// shape, wherever they came from (handlers, extractors, authentication, limits), keeping
/// their headers (`Retry-After`, `WWW-Authenticate`).
pub async fn render(request: Request, next: Next) -> Response {
    let mlflow = is_mlflow(request.uri().path());
    let response = next.run(request).await;
    if !mlflow {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Some(code) = parts.extensions.remove::<ErrorCode>() else {
        return Response::from_parts(parts, body);
    };
    let message = parts
        .extensions
        .remove::<crate::http::ErrorMessage>()
        .map(|message| message.0)
        .unwrap_or_default();
    let (error_code, status) = mlflow_code(code);
    let body = serde_json::to_vec(&json!({ "error_code": error_code, "message": message }))
        .unwrap_or_default();
    parts.status = status;
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_mlflow() {
        assert_eq!(
            mlflow_code(ErrorCode::NotFound),
            ("RESOURCE_DOES_NOT_EXIST", StatusCode::NOT_FOUND)
        );
        assert_eq!(
            mlflow_code(ErrorCode::Conflict),
            ("RESOURCE_ALREADY_EXISTS", StatusCode::BAD_REQUEST)
        );
        assert!(is_mlflow("/api/2.0/mlflow-artifacts/artifacts"));
        assert!(!is_mlflow("/api/v1/runs"));
    }
}
