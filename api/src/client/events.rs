//! The live event stream, `GET /api/v1/events`, read as server-sent events: [`Client::events`]
//! opens it (resuming after `Last-Event-ID` when given) and [`EventStream::next`] yields each
//! event with its id. The SSE framing is `eventsource-stream`'s; this module owns the typing of
//! each event's data. Reconnecting is the caller's choice, so the terminal client can show the
//! connection state while it retries.

use super::Client;
use crate::LiveEvent;
use crate::error::ApiError;
use eventsource_stream::{Event, EventStreamError, Eventsource as _};
use futures_util::{Stream, StreamExt as _};
use reqwest::Method;
use std::pin::Pin;
use std::time::Duration;

/// A stream stays open for as long as the server keeps it; the client's whole-request timeout
/// would cut it, so the events request gets a far longer one. Callers notice a silent
/// connection by the keep-alive comments the server sends.
const STREAM_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// One event from the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamedEvent {
    /// The SSE id, to resume after with `Last-Event-ID`.
    pub id: Option<String>,
    pub event: LiveEvent,
}

type SseEvents =
    Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// An open event stream.
pub struct EventStream {
    events: SseEvents,
    url: String,
    /// Set once the SSE framing itself failed: nothing after it can be trusted.
    broken: bool,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("url", &self.url)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens `GET /api/v1/events`, resuming after `last_event_id` when given.
    pub async fn events(&self, last_event_id: Option<&str>) -> Result<EventStream, ApiError> {
        let mut request = self
            .request(Method::GET, "/api/v1/events")
            .header("accept", "text/event-stream")
            .timeout(STREAM_TIMEOUT);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = self.send(request).await?;
        Ok(EventStream::over(
            response.bytes_stream(),
            self.base.clone(),
        ))
    }
}

impl EventStream {
    /// Reads server-sent events from `bytes`, the body of the answer from `url`.
    fn over<S, B>(bytes: S, url: String) -> Self
    where
        S: Stream<Item = Result<B, reqwest::Error>> + Send + 'static,
        B: AsRef<[u8]>,
    {
        Self {
            events: Box::pin(bytes.eventsource()),
            url,
            broken: false,
        }
    }

    /// The next event; `None` when the server ended the stream. Keep-alive comments are
    /// skipped here, so a caller that wants to detect a dead connection should bound each
    /// wait by more than the server's keep-alive interval (15 s). Data that is not a
    /// [`LiveEvent`] is an [`ApiError::Decode`] for that event alone: the stream goes on.
    pub async fn next(&mut self) -> Option<Result<StreamedEvent, ApiError>> {
        if self.broken {
            return None;
        }
        match self.events.next().await? {
            Ok(event) => Some(typed(event)),
            Err(EventStreamError::Transport(source)) => Some(Err(ApiError::Transport {
                url: self.url.clone(),
                source,
            })),
            // The body ended inside a character, or was not SSE: the framing would report the
            // same error again on every call, so the stream ends here.
            Err(err) => {
                self.broken = true;
                Some(Err(ApiError::Decode(format!("event stream: {err}"))))
            }
        }
    }
}

/// The [`LiveEvent`] in an event's data, with the SSE id in force (an event without an `id`
/// field keeps the last one, as the SSE rules say).
fn typed(event: Event) -> Result<StreamedEvent, ApiError> {
    let live = serde_json::from_str::<LiveEvent>(&event.data)
        .map_err(|err| ApiError::Decode(format!("event data: {err}")))?;
    Ok(StreamedEvent {
        id: (!event.id.is_empty()).then_some(event.id),
        event: live,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str =
        r#"{"kind":"job","id":7,"change":"state","state":"running","at":"2026-11-29T12:00:00Z"}"#;

    /// The stream over `chunks`, each one a body chunk as the network delivers it.
    fn stream_of(chunks: Vec<Vec<u8>>) -> EventStream {
        let bytes = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, reqwest::Error>));
        EventStream::over(bytes, "http://test".to_owned())
    }

    #[tokio::test]
    async fn parses_events_split_anywhere_and_skips_comments() {
        let stream =
            format!(":\n\nid: b.1\nevent: job\ndata: {EVENT}\n\nid: b.2\r\ndata:{EVENT}\r\n\r\n");
        // One byte a chunk: every boundary, inside a field name and between CR and LF too.
        let mut events = stream_of(stream.bytes().map(|byte| vec![byte]).collect());
        let first = events.next().await.unwrap().unwrap();
        assert_eq!(first.id.as_deref(), Some("b.1"));
        assert_eq!(first.event.kind, "job");
        assert_eq!(first.event.id, 7);
        assert_eq!(first.event.state.as_deref(), Some("running"));
        let second = events.next().await.unwrap().unwrap();
        assert_eq!(second.id.as_deref(), Some("b.2"));
        assert!(events.next().await.is_none());
    }

    #[tokio::test]
    async fn a_character_split_across_chunks_survives() {
        let data = EVENT.replace("running", "runnin\u{e9}");
        let body = format!("data: {data}\n\n").into_bytes();
        let split = body.iter().position(|&byte| byte == 0xc3).unwrap() + 1;
        let mut events = stream_of(vec![body[..split].to_vec(), body[split..].to_vec()]);
        let event = events.next().await.unwrap().unwrap();
        assert_eq!(event.event.state.as_deref(), Some("runnin\u{e9}"));
        assert_eq!(event.id, None);
    }

    #[tokio::test]
    async fn an_event_without_an_id_keeps_the_last_one() {
        let body = format!("id: b.9\ndata: {EVENT}\n\ndata: {EVENT}\n\n");
        let mut events = stream_of(vec![body.into_bytes()]);
        for _ in 0..2 {
            let event = events.next().await.unwrap().unwrap();
            assert_eq!(event.id.as_deref(), Some("b.9"));
        }
    }

    #[tokio::test]
    async fn bad_data_is_an_error_and_the_stream_goes_on() {
        let body = format!("data: nope\n\ndata: {EVENT}\n\n");
        let mut events = stream_of(vec![body.into_bytes()]);
        assert!(matches!(
            events.next().await,
            Some(Err(ApiError::Decode(_)))
        ));
        assert!(events.next().await.unwrap().is_ok());
        assert!(events.next().await.is_none());
    }

    #[tokio::test]
    async fn a_body_cut_inside_a_character_ends_the_stream() {
        let mut body = format!("data: {EVENT}\n\n").into_bytes();
        body.push(0xc3);
        let mut events = stream_of(vec![body]);
        assert!(events.next().await.unwrap().is_ok());
        assert!(matches!(
            events.next().await,
            Some(Err(ApiError::Decode(_)))
        ));
        assert!(events.next().await.is_none());
    }
}
