//! The live event stream, `GET /api/v1/events`, read as server-sent events: [`Client::events`]
//! opens it (resuming after `Last-Event-ID` when given) and [`EventStream::next`] yields each
//! event with its id. Reconnecting is the caller's choice, so the terminal client can show the
//! connection state while it retries.

use super::Client;
use crate::LiveEvent;
use crate::error::ApiError;
use reqwest::{Method, Response};
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

/// An open event stream.
#[derive(Debug)]
pub struct EventStream {
    response: Response,
    parser: SseParser,
    url: String,
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
        Ok(EventStream {
            response,
            parser: SseParser::default(),
            url: self.base.clone(),
        })
    }
}

impl EventStream {
    /// The next event; `None` when the server ended the stream. Keep-alive comments are
    /// skipped here, so a caller that wants to detect a dead connection should bound each
    /// wait by more than the server's keep-alive interval (15 s).
    pub async fn next(&mut self) -> Option<Result<StreamedEvent, ApiError>> {
        loop {
            if let Some(event) = self.parser.pop() {
                return Some(event);
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.parser.feed(&bytes),
                Ok(None) => return None,
                Err(source) => {
                    return Some(Err(ApiError::Transport {
                        url: self.url.clone(),
                        source,
                    }));
                }
            }
        }
    }
}

/// Splits the byte stream into SSE fields and events (the parts of the format the server
/// uses: `id`, `event`, `data`, comments); a chunk may end anywhere, even inside a character.
#[derive(Debug, Default)]
struct SseParser {
    pending: Vec<u8>,
    id: Option<String>,
    data: String,
    ready: std::collections::VecDeque<Result<StreamedEvent, ApiError>>,
}

impl SseParser {
    fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            self.line(line.trim_end_matches(['\n', '\r']));
        }
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line.starts_with(':') {
            return; // a comment: the keep-alive
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.id = Some(value.to_owned()),
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        if self.data.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.data);
        let parsed = serde_json::from_str::<LiveEvent>(&data)
            .map(|event| StreamedEvent {
                id: self.id.clone(),
                event,
            })
            .map_err(|err| ApiError::Decode(format!("event data: {err}")));
        self.ready.push_back(parsed);
    }

    fn pop(&mut self) -> Option<Result<StreamedEvent, ApiError>> {
        self.ready.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str =
        r#"{"kind":"job","id":7,"change":"state","state":"running","at":"2026-11-29T12:00:00Z"}"#;

    #[test]
    fn parses_events_split_anywhere_and_skips_comments() {
        let stream =
            format!(":\n\nid: b.1\nevent: job\ndata: {EVENT}\n\nid: b.2\r\ndata:{EVENT}\r\n\r\n");
        let mut parser = SseParser::default();
        for byte in stream.as_bytes() {
            parser.feed(std::slice::from_ref(byte));
        }
        let first = parser.pop().unwrap().unwrap();
        assert_eq!(first.id.as_deref(), Some("b.1"));
        assert_eq!(first.event.kind, "job");
        assert_eq!(first.event.id, 7);
        assert_eq!(first.event.state.as_deref(), Some("running"));
        let second = parser.pop().unwrap().unwrap();
        assert_eq!(second.id.as_deref(), Some("b.2"));
        assert!(parser.pop().is_none());
    }

    #[test]
    fn bad_data_is_an_error_and_the_stream_goes_on() {
        let mut parser = SseParser::default();
        parser.feed(format!("data: nope\n\ndata: {EVENT}\n\n").as_bytes());
        assert!(parser.pop().unwrap().is_err());
        assert!(parser.pop().unwrap().is_ok());
    }
}
