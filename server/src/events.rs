//! The live event bus behind `GET /api/v1/events`: services publish changes (jobs, workers);
//! each subscriber gets them as server-sent events. Every event has an id `<boot>.<seq>`; a
//! client that reconnects with `Last-Event-ID` first receives what it missed from a bounded
//! backlog, or a `reset` event when that is not possible (another boot, or too far behind).
//!
//! With several replicas on one database, what this replica publishes is also handed to an
//! outbound channel (see `crate::cluster::relay`, which sends it to the others), and what the
//! others publish comes back in through [`EventBus::publish_foreign`]: every subscriber sees
//! every replica's changes, numbered in this replica's sequence.

use crate::time::now_millis;
use slipway_api::LiveEvent;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use tokio::sync::{broadcast, mpsc};

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
    /// Where this replica's own events go for the other replicas, once a relay is attached.
    outbound: OnceLock<mpsc::UnboundedSender<LiveEvent>>,
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
            outbound: OnceLock::new(),
        }
    }

    /// Sends every event published here from now on to `outbound` as well (the relay to the
    /// other replicas). Only the first call takes effect.
    pub fn forward_to(&self, outbound: mpsc::UnboundedSender<LiveEvent>) {
        let _ = self.outbound.set(outbound);
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
        if let Some(outbound) = self.outbound.get() {
            // The relay is gone only when the runtime shuts down; nothing to do then.
            let _ = outbound.send(event.clone());
        }
        self.deliver(event);
    }

    /// Publishes, to this replica's subscribers only, an event another replica published
    /// (or a `reset` when some of theirs may have been missed).
    pub fn publish_foreign(&self, event: LiveEvent) {
        self.deliver(event);
    }

    fn deliver(&self, event: LiveEvent) {
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
