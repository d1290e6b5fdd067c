//! `GET /events`: the event stream of the dashboard's live island, with the page's session
//! cookie (a browser's `EventSource` cannot send a bearer token). The stream ends when the
//! session does (sign-out, expiry, its token revoked).

use super::super::auth::bearer_token;
use super::super::events::{self, Credential, Naming};
use super::pages::{PageError, readable};
use super::session::{PageContext, Via, cookie_session};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

pub async fn events(
    State(state): State<AppState>,
    context: PageContext,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    readable(&context)?;
    let credential = match &context.via {
        Via::Cookie { .. } => cookie_session(&headers).map(Credential::Session),
        Via::Bearer => bearer_token(&headers).map(|token| Credential::Bearer(token.to_owned())),
        Via::Anonymous => Some(Credential::Anonymous),
    };
    // The middleware found the caller by the same headers, so a credential is there.
    let credential = credential.unwrap_or(Credential::Anonymous);
    Ok(events::stream(&state, &headers, Naming::Unnamed, credential).into_response())
}
