//! `GET /events`: the event stream of the dashboard's live island, with the page's session
//! cookie (a browser's `EventSource` cannot send a bearer token).

use super::super::error::AppError;
use super::super::events::{self, Naming};
use super::pages::PageError;
use super::session::PageContext;
use crate::auth::Permission;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

pub async fn events(
    State(state): State<AppState>,
    context: PageContext,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    context
        .caller
        .require(Permission::Read)
        .map_err(|err| PageError::from(AppError::from(err)))?;
    Ok(events::stream(&state, &headers, Naming::Unnamed).into_response())
}
