//! `GET /api/v1/events`: live changes as server-sent events, resumable with `Last-Event-ID`.

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
    let last = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let bus = state.scheduler.events.clone();
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
        Ok(Event::default()
            .id(bus.id_of(sequenced.seq))
            .event(sequenced.event.kind.clone())
            .data(data))
    };
    // End with the server, so a graceful shutdown is not held up by open streams.
    let mut shutdown = state.shutdown.clone();
    let stopping = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    let stream = backlog.chain(live).take_until(stopping).map(to_sse);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
