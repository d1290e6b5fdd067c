//! The one error shape of the API, `{"error": {"code": "...", "message": "..."}}`, and the
//! client-side error that carries it.

use serde::{Deserialize, Serialize};

/// A machine-readable error code; each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request is malformed or a field is invalid.
    InvalidArgument,
    /// 401: no token, or an unknown or revoked one.
    Unauthenticated,
    /// 403: the token's role may not do this.
    PermissionDenied,
    /// 404: the named object does not exist.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 408: the request (its body) did not arrive in time.
    RequestTimeout,
    /// 409: the change conflicts with the current state.
    Conflict,
    /// 413: the body or batch is larger than allowed.
    PayloadTooLarge,
    /// 415: the body is not of the expected content type.
    UnsupportedMediaType,
    /// 422: well-formed, but cannot be processed.
    Unprocessable,
    /// 429: too many requests.
    RateLimited,
    /// 500: something failed inside the server (details are in its log).
    Internal,
    /// 503: not ready (for example the database is unreachable).
    Unavailable,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidArgument => 400,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unprocessable => 422,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The code for an HTTP status, for answers that carry no error body.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 => Self::InvalidArgument,
            401 => Self::Unauthenticated,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::Unprocessable,
            429 => Self::RateLimited,
            503 => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The body of an error under `/v2` (the Open Inference Protocol): `{"error": "message"}`,
/// the shape its clients read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OipErrorBody {
    pub error: String,
}

/// The code and human-readable message of an error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// What a [`crate::Client`] call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error.
    #[error("{message} ({status} {code:?})")]
    Server {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("cannot reach the server at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with something that is not the expected JSON.
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    /// The client was given an invalid argument (for example a bad server URL).
    #[error("{0}")]
    Usage(String),
}

impl ApiError {
    /// The error code, when the server answered.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Server { status, .. } => Some(*status),
            _ => None,
        }
    }
}
