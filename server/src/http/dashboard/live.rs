//! `GET /events`: the event stream of the dashboard's live island, with the page's session
//! cookie (a browser's `EventSource` cannot send a bearer token).

use super::super::events::{self, Naming};
use super::pages::{PageError, readable};
use super::session::PageContext;
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
    Ok(events::stream(&state, &headers, Naming::Unnamed).into_response())
}
