//! The live event bus behind `GET /api/v1/events`: services publish changes (jobs, workers);
//! each subscriber gets them as server-sent events. Every event has an id `<boot>.<seq>`; a
//! client that reconnects with `Last-Event-ID` first receives what it missed from a bounded
//! backlog, or a `reset` event when that is not possible (another boot, or too far behind).

use crate::time::now_millis;
use slipway_api::LiveEvent;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// Events kept for reconnecting clients.
const BACKLOG: usize = 10_000;

/// An event with its sequence number.
#[derive(Debug, Clone)]
pub struct Sequenced {
    pub seq: u64,
    pub event: LiveEvent,
}

/// Where a subscriber starts.
#[derive(Debug)]
pub struct Subscription {
    /// Events to send first: missed ones, or a single `reset`.
    pub backlog: Vec<Sequenced>,
    pub live: broadcast::Receiver<Sequenced>,
}

/// Publishes changes to every subscriber.
#[derive(Debug)]
pub struct EventBus {
    boot: String,
    seq: AtomicU64,
    sender: broadcast::Sender<Sequenced>,
    recent: Mutex<VecDeque<Sequenced>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self {
            boot: format!("{:x}", now_millis()),
            seq: AtomicU64::new(0),
            sender,
            recent: Mutex::new(VecDeque::with_capacity(BACKLOG)),
        }
    }

    /// The SSE id of an event.
    pub fn id_of(&self, seq: u64) -> String {
        format!("{}.{seq}", self.boot)
    }

    /// Publishes a change of a job or worker.
    pub fn publish(&self, kind: &str, id: i64, change: &str, state: Option<&str>) {
        let event = LiveEvent {
            kind: kind.to_owned(),
            id,
            change: change.to_owned(),
            state: state.map(str::to_owned),
            at: crate::time::from_millis(now_millis()),
        };
        // The lock orders sequence numbers, backlog and broadcast alike.
        if let Ok(mut recent) = self.recent.lock() {
            let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
            let sequenced = Sequenced { seq, event };
            if recent.len() == BACKLOG {
                recent.pop_front();
            }
            recent.push_back(sequenced.clone());
            let _ = self.sender.send(sequenced);
        }
    }

    /// Subscribes, resuming after `last_event_id` when given.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Subscription {
        let Ok(recent) = self.recent.lock() else {
            return Subscription {
                backlog: vec![self.reset()],
                live: self.sender.subscribe(),
            };
        };
        let live = self.sender.subscribe();
        let Some(last) = last_event_id else {
            return Subscription {
                backlog: Vec::new(),
                live,
            };
        };
        let resumable = last
            .split_once('.')
            .filter(|(boot, _)| *boot == self.boot)
            .and_then(|(_, seq)| seq.parse::<u64>().ok())
            .filter(|seq| recent.front().is_none_or(|first| *seq + 1 >= first.seq));
        let backlog = match resumable {
            Some(seq) => recent.iter().filter(|e| e.seq > seq).cloned().collect(),
            None => vec![self.reset()],
        };
        Subscription { backlog, live }
    }

    fn reset(&self) -> Sequenced {
        Sequenced {
            seq: self.seq.load(Ordering::SeqCst),
            event: LiveEvent {
                kind: "reset".to_owned(),
                id: 0,
                change: "refetch".to_owned(),
                state: None,
                at: crate::time::from_millis(now_millis()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_resumes_after_its_last_event_or_is_told_to_reset() {
        let bus = EventBus::new();
        for id in 1..=3 {
            bus.publish("job", id, "state", Some("queued"));
        }
        let resumed = bus.subscribe(Some(&bus.id_of(1)));
        let ids: Vec<i64> = resumed.backlog.iter().map(|e| e.event.id).collect();
        assert_eq!(ids, vec![2, 3]);
        let fresh = bus.subscribe(None);
        assert!(fresh.backlog.is_empty());
        let foreign = bus.subscribe(Some("other-boot.1"));
        assert_eq!(foreign.backlog[0].event.kind, "reset");
    }
}
