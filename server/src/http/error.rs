//! The HTTP layer's error: every failure leaves as `{"error": {"code", "message"}}` with its
//! status. Internal causes are logged here and replaced by a generic message.

use crate::error::ServiceError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use slipway_api::{ErrorBody, ErrorCode, ErrorDetail};

/// The message of an error response, kept in the response's extensions beside its body, so
/// a protocol with its own error shape (the Open Inference Protocol under `/v2`) can render
/// any error — a handler's or a middleware's refusal — its own way, in one place.
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

/// An error on its way to the client.
#[derive(Debug)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<ServiceError> for AppError {
    fn from(err: ServiceError) -> Self {
        let code = match &err {
            ServiceError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::Conflict(_) => ErrorCode::Conflict,
            ServiceError::TooLarge(_) => ErrorCode::PayloadTooLarge,
            ServiceError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            ServiceError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ServiceError::Unavailable(_) => ErrorCode::Unavailable,
            ServiceError::Database(_) | ServiceError::Io(_) | ServiceError::Internal(_) => {
                tracing::error!(error = %err, "request failed");
                return Self::new(
                    ErrorCode::Internal,
                    "internal error; the server log has the details",
                );
            }
        };
        Self::new(code, err.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = ErrorMessage(self.message.clone());
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(message);
        // Beside the message, for protocols that name errors their own way (MLflow's codes).
        response.extensions_mut().insert(self.code);
        if self.code == ErrorCode::Unauthenticated {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, AppError>;
