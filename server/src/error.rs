//! The service layer's error: what went wrong in domain terms, free of HTTP. The HTTP layer
//! maps each variant to a status and the API's error body (see `http::error`).

use sea_orm::DbErr;

/// An error from a service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A field of the request is invalid; the message names the field and what was expected.
    #[error("{0}")]
    InvalidArgument(String),
    /// The named object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// The request holds more than allowed; the message gives the limit.
    #[error("{0}")]
    TooLarge(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The caller is not authenticated.
    #[error("{0}")]
    Unauthenticated(String),
    /// The server cannot serve this now (for example it is shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// The database failed. Logged, never shown to clients.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// Reading or writing a file failed. Logged, never shown to clients.
    #[error("storage error: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else that should not happen. Logged, never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::TooLarge(message.into())
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }
}

impl From<serde_json::Error> for ServiceError {
    fn from(err: serde_json::Error) -> Self {
        Self::Internal(format!("JSON: {err}"))
    }
}

/// The result of a service call.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// Maps a unique-constraint violation to a conflict with `message`, other errors as they are.
pub fn conflict_on_unique(err: DbErr, message: impl FnOnce() -> String) -> ServiceError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ServiceError::Conflict(message()),
        _ => ServiceError::Database(err),
    }
}
