//! Extractors that answer in the API's error shape: JSON bodies and queries whose rejections
//! name the problem, the authenticated caller, and the reason header.

use super::error::AppError;
use crate::auth::Caller;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use slipway_api::{ErrorCode, REASON_HEADER};

/// A JSON body; a malformed one is a 400 (413 when too large, 415 without the content type).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    let status = rejection.status().as_u16();
    let code = ErrorCode::from_status(status);
    let message = match &rejection {
        JsonRejection::JsonDataError(err) => format!("invalid request body: {}", source_text(err)),
        JsonRejection::JsonSyntaxError(err) => format!("malformed JSON: {}", source_text(err)),
        JsonRejection::MissingJsonContentType(_) => {
            "expected a JSON body with the header 'content-type: application/json'".to_owned()
        }
        _ if status == 413 => "the request body is larger than the server's limit".to_owned(),
        other => other.body_text(),
    };
    let code = if code == ErrorCode::Unprocessable {
        ErrorCode::InvalidArgument
    } else {
        code
    };
    AppError::new(code, message)
}

/// The innermost message of a serde error, which names the field and what was expected.
fn source_text(err: &dyn std::error::Error) -> String {
    let mut current: &dyn std::error::Error = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// A query string; a malformed one is a 400 naming the parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> AppError {
    let message = match &rejection {
        QueryRejection::FailedToDeserializeQueryString(err) => {
            format!("invalid query string: {}", source_text(err))
        }
        other => other.body_text(),
    };
    AppError::new(ErrorCode::InvalidArgument, message)
}

/// A path parameter; a malformed one is a 400 naming it.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(AppError::new(
                ErrorCode::InvalidArgument,
                format!("invalid path: {}", rejection.body_text()),
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "a bearer token is required"))
    }
}

/// The reason given for a change (header `x-slipway-reason`), written to the audit log.
#[derive(Debug, Clone, Default)]
pub struct Reason(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Reason {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(REASON_HEADER) else {
            return Ok(Self(None));
        };
        let text = value.to_str().map_err(|_| {
            AppError::new(
                ErrorCode::InvalidArgument,
                format!("{REASON_HEADER}: expected printable ASCII text"),
            )
        })?;
        let text = text.trim();
        if text.len() > 1000 {
            return Err(AppError::new(
                ErrorCode::InvalidArgument,
                format!("{REASON_HEADER}: at most 1000 bytes"),
            ));
        }
        Ok(Self((!text.is_empty()).then(|| text.to_owned())))
    }
}

impl Reason {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}
