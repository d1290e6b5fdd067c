//! `GET /api/v1/events`: live changes as server-sent events, resumable with `Last-Event-ID`.
//! The dashboard's live island gets the same stream (see [`stream`]). A stream lives only as
//! long as the credential that opened it: it is checked again every few seconds, and the
//! stream ends once the token is revoked or the session signed out or expired.

use super::auth::bearer_token;
use super::error::ApiResult;
use crate::auth::{Caller, Permission};
use crate::events::Sequenced;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::{Stream, StreamExt};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

async fn events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    caller.require(Permission::Read)?;
    let credential = match bearer_token(&headers) {
        Some(token) => Credential::Bearer(token.to_owned()),
        None => Credential::Anonymous,
    };
    Ok(stream(&state, &headers, Naming::ByKind, credential))
}

/// How often an open stream's credential is checked again. Revoking a token on this server
/// takes effect at the next check; on another replica, after its token cache (5 s) too.
const RECHECK_EVERY: Duration = Duration::from_secs(2);

/// What the caller of a stream showed, to be checked again while the stream is open.
#[derive(Debug, Clone)]
pub enum Credential {
    Bearer(String),
    /// A dashboard session id.
    Session(String),
    /// Anonymous read access, a setting of the server: nothing to check again.
    Anonymous,
}

impl Credential {
    /// Whether the credential still lets its caller in. Only a refusal ends the stream; a
    /// failing database is not the caller's fault.
    async fn still_valid(&self, state: &AppState) -> bool {
        let checked = match self {
            Credential::Bearer(token) => state.tokens.verify(token).await,
            Credential::Session(id) => state.sessions.verify(id).await,
            Credential::Anonymous => return true,
        };
        match checked {
            Ok(_) => true,
            Err(crate::error::ServiceError::Unauthenticated(why)) => {
                tracing::info!(why, "closing an event stream: its credential ended");
                false
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot check an event stream's credential");
                true
            }
        }
    }
}

/// How events are named on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `event: <kind>`, so clients can listen by kind (the API).
    ByKind,
    /// Unnamed `message` events (the kind is in the data), which a browser's `EventSource`
    /// delivers to one handler whatever the kinds (the dashboard).
    Unnamed,
}

/// The live stream for a caller already allowed to read, starting after `Last-Event-ID`.
pub fn stream(
    state: &AppState,
    headers: &HeaderMap,
    naming: Naming,
    credential: Credential,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let last = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let bus = state.events.clone();
    let subscription = bus.subscribe(last.as_deref());
    let backlog = futures_util::stream::iter(subscription.backlog);
    let live = futures_util::stream::unfold(subscription.live, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => return Some((event, receiver)),
                // Too slow to keep up: skip ahead; the client refetches on `reset`.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let to_sse = move |sequenced: Sequenced| {
        let data = serde_json::to_string(&sequenced.event).unwrap_or_default();
        let event = Event::default().id(bus.id_of(sequenced.seq)).data(data);
        Ok(match naming {
            Naming::ByKind => event.event(sequenced.event.kind.clone()),
            Naming::Unnamed => event,
        })
    };
    // End with the server, so a graceful shutdown is not held up by open streams, and with
    // the caller's credential.
    let mut shutdown = state.shutdown.clone();
    let state = state.clone();
    let stopping = async move {
        let revoked = async {
            loop {
                tokio::time::sleep(RECHECK_EVERY).await;
                if !credential.still_valid(&state).await {
                    return;
                }
            }
        };
        tokio::select! {
            _ = shutdown.wait_for(|stopping| *stopping) => {},
            () = revoked => {},
        }
    };
    let events = backlog.chain(live).take_until(stopping).map(to_sse);
    Sse::new(events).keep_alive(KeepAlive::default())
}
