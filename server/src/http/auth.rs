//! Authentication middleware: every `/api/v1` route needs a bearer token, except reads when
//! the server is configured for anonymous read access.

use super::error::AppError;
use crate::auth::Caller;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use slipway_api::{ErrorCode, Role};

pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request.headers().get(AUTHORIZATION).cloned();
    let caller = match header {
        None if state.config.anonymous_read => Caller {
            name: "anonymous".to_owned(),
            role: Role::Viewer,
        },
        None => {
            return AppError::new(
                ErrorCode::Unauthenticated,
                "a bearer token is required: send 'Authorization: Bearer <token>'",
            )
            .into_response();
        }
        Some(value) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|text| {
                    text.strip_prefix("Bearer ")
                        .or_else(|| text.strip_prefix("bearer "))
                })
                .map(str::trim);
            let Some(token) = token else {
                return AppError::new(
                    ErrorCode::Unauthenticated,
                    "the Authorization header must read 'Bearer <token>'",
                )
                .into_response();
            };
            match state.tokens.verify(token).await {
                Ok(caller) => caller,
                Err(err) => return AppError::from(err).into_response(),
            }
        }
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}
