//! The Open Inference Protocol's error shape, `{"error": "message"}`, for every error under
//! `/v2`: a layer around the whole application re-renders error responses of `/v2` paths, so
//! handlers, extractors and middleware (authentication, rate and body limits, timeouts,
//! unknown routes) keep one error type and OIP clients still read their shape. Status and
//! headers (`Retry-After`, `WWW-Authenticate`) stay as they were.

use super::super::error::ErrorMessage;
use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::Response;
use slipway_api::OipErrorBody;

/// Most of an error body that was not built from an `AppError` that is read as its message.
const MAX_FOREIGN_ERROR_BYTES: usize = 16 * 1024;

/// Whether `path` is under the Open Inference Protocol's prefix.
fn is_v2(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// The middleware.
pub async fn render(request: Request, next: Next) -> Response {
    let v2 = is_v2(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !v2 || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = match parts.extensions.remove::<ErrorMessage>() {
        Some(ErrorMessage(message)) => message,
        // A refusal from outside the API's error type: its text, or the status's name.
        None => {
            let bytes = axum::body::to_bytes(body, MAX_FOREIGN_ERROR_BYTES)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                text
            }
        }
    };
    let body = serde_json::to_vec(&OipErrorBody { error: message }).unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::AppError;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::http::header::RETRY_AFTER;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use slipway_api::ErrorCode;
    use tower::ServiceExt;

    fn app() -> Router {
        let refusal = || async {
            let mut response =
                AppError::new(ErrorCode::RateLimited, "too many predictions").into_response();
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            response
        };
        Router::new()
            .route("/v2/models/x/infer", get(refusal))
            .route("/api/v1/x", get(refusal))
            .route(
                "/v2/plain",
                get(|| async { (StatusCode::BAD_REQUEST, "plain text refusal") }),
            )
            .route("/v2/ok", get(|| async { "fine" }))
            .layer(axum::middleware::from_fn(render))
    }

    async fn call(path: &str) -> (StatusCode, Option<String>, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app().oneshot(request).await.unwrap();
        let retry = response
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, retry, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn errors_under_v2_are_a_message_string_with_status_and_headers_kept() {
        let (status, retry, body) = call("/v2/models/x/infer").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(body, r#"{"error":"too many predictions"}"#);
        let (status, _, body) = call("/v2/plain").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, r#"{"error":"plain text refusal"}"#);
    }

    #[tokio::test]
    async fn other_paths_and_successes_are_untouched() {
        let (_, _, body) = call("/api/v1/x").await;
        assert!(body.contains(r#""code":"rate_limited""#), "{body}");
        let (status, _, body) = call("/v2/ok").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "fine"));
        assert!(is_v2("/v2") && is_v2("/v2/health/live") && !is_v2("/v2x"));
    }
}
