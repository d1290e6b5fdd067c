//! Authentication middleware: every `/api/v1` route needs a bearer token, except reads when
//! the server is configured for anonymous read access.

use super::error::AppError;
use crate::auth::Caller;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use slipway_api::ErrorCode;

pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match bearer_caller(&state, request.headers()).await {
        Ok(Some(caller)) => caller,
        Ok(None) if state.config.auth.anonymous_read => Caller::anonymous(),
        Ok(None) => {
            return AppError::new(
                ErrorCode::Unauthenticated,
                "a bearer token is required: send 'Authorization: Bearer <token>'",
            )
            .into_response();
        }
        Err(err) => return err.into_response(),
    };
    if let Some(run_id) = caller.run_scope {
        // Nested routers see their own part of the path; the scope is checked on the whole.
        let path = request
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map_or_else(
                || request.uri().path().to_owned(),
                |uri| uri.path().to_owned(),
            );
        if !crate::run_tokens::allows(run_id, request.method(), &path) {
            return AppError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "token '{}' is a run token: it may write only to run {run_id}",
                    caller.name
                ),
            )
            .into_response();
        }
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The caller of the request's bearer token; none without an `Authorization` header.
pub(super) async fn bearer_caller(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Caller>, AppError> {
    if headers.get(AUTHORIZATION).is_none() {
        return Ok(None);
    }
    let Some(token) = bearer_token(headers) else {
        return Err(AppError::new(
            ErrorCode::Unauthenticated,
            "the Authorization header must read 'Bearer <token>'",
        ));
    };
    match state.tokens.verify(token).await {
        Ok(caller) => Ok(Some(caller)),
        Err(err) => Err(AppError::from(err)),
    }
}

/// The token of the request's `Authorization: Bearer <token>` header.
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(|text| {
            text.strip_prefix("Bearer ")
                .or_else(|| text.strip_prefix("bearer "))
        })
        .map(str::trim)
}
