//! Live events across replicas on PostgreSQL: every event this replica publishes is sent to
//! the others with `pg_notify` on one channel, and every replica `LISTEN`s there and hands
//! the others' events to its own subscribers (its own come back too and are skipped, so none
//! is seen twice). A foreign job event wakes this replica's long-polling workers; a foreign
//! deployment event starts its serving sync at once.
//!
//! Notices are small: a batch of events (kind, id, change, state, time) with the sender's
//! replica id, kept under PostgreSQL's 8000-byte payload limit. Notices are not stored: when
//! the listening connection drops, it reconnects, and subscribers get a `reset` (refetch)
//! and serving syncs, since some events may have been missed meanwhile.

use crate::events::EventBus;
use crate::queue::JobQueue;
use crate::serving::Serving;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use slipway_api::{JobState, LiveEvent};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The notification channel all replicas share.
const CHANNEL: &str = "slipway_events";
/// The most bytes one notice carries: PostgreSQL refuses payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7800;
/// How long to wait before connecting again after the listening connection failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// One notice: events in the order their replica published them.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    from: String,
    events: Vec<LiveEvent>,
}

/// What a foreign event must reach besides the subscribers.
#[derive(Debug, Clone)]
pub struct Local {
    pub events: Arc<EventBus>,
    pub queue: JobQueue,
    pub serving: Serving,
}

/// Starts relaying (PostgreSQL only; a no-op on SQLite, where there is one process).
pub fn spawn(
    db: &DatabaseConnection,
    replica: &str,
    local: Local,
    shutdown: watch::Receiver<bool>,
) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let (outbound, pending) = mpsc::unbounded_channel();
    local.events.forward_to(outbound);
    tokio::spawn(send_loop(db.clone(), replica.to_owned(), pending));
    tokio::spawn(listen_loop(db.clone(), replica.to_owned(), local, shutdown));
}

/// Sends this replica's events, batching what piled up while the last notice was sent.
async fn send_loop(
    db: DatabaseConnection,
    replica: String,
    mut pending: mpsc::UnboundedReceiver<LiveEvent>,
) {
    let mut carried: Option<LiveEvent> = None;
    loop {
        let first = match carried.take() {
            Some(event) => event,
            None => match pending.recv().await {
                Some(event) => event,
                None => return,
            },
        };
        let mut notice = Notice {
            from: replica.clone(),
            events: vec![compact(first)],
        };
        while let Ok(next) = pending.try_recv() {
            notice.events.push(compact(next));
            if payload_len(&notice) > MAX_PAYLOAD {
                carried = notice.events.pop();
                break;
            }
        }
        let payload = match serde_json::to_string(&notice) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::warn!(error = %err, "cannot encode events for the other replicas");
                continue;
            }
        };
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        );
        if let Err(err) = db.execute_raw(statement).await {
            // The others miss these events; their serving still syncs on its tick.
            tracing::warn!(error = %err, "cannot send events to the other replicas");
        }
    }
}

/// An event that fits a notice whatever its fields hold: the kinds and changes are short
/// words, but a state is cut rather than let one event exceed the payload limit.
fn compact(mut event: LiveEvent) -> LiveEvent {
    const MAX_FIELD: usize = 200;
    for field in [Some(&mut event.change), event.state.as_mut()]
        .into_iter()
        .flatten()
    {
        if field.len() > MAX_FIELD {
            let mut cut = MAX_FIELD;
            while !field.is_char_boundary(cut) {
                cut -= 1;
            }
            field.truncate(cut);
        }
    }
    event
}

fn payload_len(notice: &Notice) -> usize {
    serde_json::to_string(notice).map_or(usize::MAX, |payload| payload.len())
}

/// Listens for the other replicas' events until shutdown, reconnecting when the connection
/// drops.
async fn listen_loop(
    db: DatabaseConnection,
    replica: String,
    local: Local,
    mut shutdown: watch::Receiver<bool>,
) {
    let pool = db.get_postgres_connection_pool().clone();
    let mut first = true;
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let connected = tokio::select! {
            connected = connected => connected,
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for the other replicas' events");
                tokio::select! {
                    _ = tokio::time::sleep(RECONNECT_AFTER) => continue,
                    _ = shutdown.wait_for(|stopping| *stopping) => return,
                }
            }
        };
        if !first {
            missed(&local);
        }
        first = false;
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = shutdown.wait_for(|stopping| *stopping) => return,
            };
            match received {
                Ok(Some(notification)) => receive(&replica, &local, notification.payload()),
                // The connection dropped and was made again: anything sent meanwhile is lost.
                Ok(None) => missed(&local),
                Err(err) => {
                    tracing::warn!(error = %err, "lost the connection listening for the other replicas' events");
                    break;
                }
            }
        }
    }
}

/// Hands one notice's events to this replica, unless it sent them itself.
fn receive(replica: &str, local: &Local, payload: &str) {
    let notice: Notice = match serde_json::from_str(payload) {
        Ok(notice) => notice,
        Err(err) => {
            tracing::warn!(error = %err, "an unreadable notice on the events channel");
            return;
        }
    };
    if notice.from == replica {
        return;
    }
    for event in notice.events {
        react(local, &event);
        local.events.publish_foreign(event);
    }
}

/// What a foreign event changes here besides what subscribers see.
fn react(local: &Local, event: &LiveEvent) {
    match event.kind.as_str() {
        "job" if event.state.as_deref() == Some(JobState::Queued.as_str()) => {
            local.queue.available.notify_waiters();
        }
        "job" if event.change == "cancel-requested" => local.queue.cancels.notify_waiters(),
        "deployment" => local.serving.wake_sync(),
        _ => {}
    }
}

/// Some foreign events may have been missed: subscribers refetch, serving syncs, and
/// waiting workers look again.
fn missed(local: &Local) {
    local.events.publish_foreign(LiveEvent {
        kind: "reset".to_owned(),
        id: 0,
        change: "refetch".to_owned(),
        state: None,
        at: crate::time::from_millis(crate::time::now_millis()),
    });
    local.serving.wake_sync();
    local.queue.available.notify_waiters();
}

#[cfg(test)]
mod tests;
