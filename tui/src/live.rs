//! Follows `GET /api/v1/events` for as long as the client runs: reports the connection state,
//! forwards each event, and reconnects by itself with a growing pause, resuming after the last
//! event seen so nothing is missed (the server sends `reset` when it cannot replay).

use crate::data::{Loaded, Stream};
use backon::{BackoffBuilder as _, ExponentialBuilder};
use slipway_api::Client;
use std::time::Duration;

/// The server sends a keep-alive comment every 15 s; silence for longer means a dead link.
const SILENCE: Duration = Duration::from_secs(40);
/// The longest pause between reconnection attempts, before its random part.
const MAX_PAUSE: Duration = Duration::from_secs(10);
/// 0.5 s, 1 s, 2 s, … up to [`MAX_PAUSE`], each with a random part of up to as much again, so
/// that clients cut off together do not come back in step.
const RECONNECT: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(500))
    .with_max_delay(MAX_PAUSE)
    .with_jitter()
    .without_max_times();

/// Follows the stream until `send` reports the client gone (returns `false`).
pub async fn follow(client: Client, send: impl Fn(Loaded) -> bool) {
    let mut last_id: Option<String> = None;
    let mut attempt: u32 = 0;
    let mut pauses = RECONNECT.build();
    loop {
        let error = match client.events(last_id.as_deref()).await {
            Ok(mut stream) => {
                attempt = 0;
                pauses = RECONNECT.build();
                if !send(Loaded::Stream(Stream::Live)) {
                    return;
                }
                loop {
                    match tokio::time::timeout(SILENCE, stream.next()).await {
                        Ok(Some(Ok(streamed))) => {
                            if streamed.id.is_some() {
                                last_id = streamed.id;
                            }
                            if !send(Loaded::Event(streamed.event)) {
                                return;
                            }
                        }
                        // A bad event is skipped; the next refresh covers it.
                        Ok(Some(Err(slipway_api::ApiError::Decode(_)))) => {}
                        Ok(Some(Err(err))) => break err.to_string(),
                        Ok(None) => break "the server closed the stream".to_owned(),
                        Err(_) => break "no keep-alive from the server".to_owned(),
                    }
                }
            }
            Err(err) => err.to_string(),
        };
        attempt += 1;
        if !send(Loaded::Stream(Stream::Reconnecting { attempt, error })) {
            return;
        }
        tokio::time::sleep(pauses.next().unwrap_or(MAX_PAUSE)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_stop_growing() {
        let pauses: Vec<Duration> = RECONNECT.build().take(30).collect();
        assert_eq!(pauses.len(), 30, "reconnecting goes on");
        let within = |pause: Duration, step: Duration| pause >= step && pause < step * 2;
        assert!(within(pauses[0], Duration::from_millis(500)), "{pauses:?}");
        assert!(within(pauses[1], Duration::from_secs(1)), "{pauses:?}");
        assert!(within(pauses[29], MAX_PAUSE), "{pauses:?}");
    }
}
