//! The relay between two replicas built on one PostgreSQL database (skipped on SQLite, where
//! nothing is relayed): an event published on one reaches the other's subscribers once, and
//! after the listening connections are cut, subscribers are told to refetch and events flow
//! again.

use super::*;
use crate::config::{Config, ServerArgs};
use crate::state::{AppState, BackgroundTasks};
use tokio::sync::broadcast;

#[test]
fn a_batch_of_events_fits_a_notice_and_a_long_state_is_cut() {
    let event = LiveEvent {
        kind: "job".to_owned(),
        id: 1,
        change: "state".to_owned(),
        state: Some("x".repeat(20_000)),
        at: crate::time::from_millis(0),
    };
    let compacted = compact(event);
    assert_eq!(compacted.state.as_deref().map(str::len), Some(200));
    let notice = Notice {
        from: "r".to_owned(),
        events: vec![compacted; 20],
    };
    assert!(payload_len(&notice) <= MAX_PAYLOAD);
}

/// A replica's state and loops over `url`, with its own data dir.
async fn replica(url: &str) -> (AppState, BackgroundTasks, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let args = ServerArgs {
        data_dir: Some(dir.path().to_owned()),
        database_url: Some(url.to_owned()),
        ..ServerArgs::default()
    };
    let config = Config::resolve(&args).unwrap();
    std::fs::create_dir_all(config.artifacts_dir()).unwrap();
    let db = crate::db::connect(url).await.unwrap();
    let (state, mut tasks) = AppState::build(config, db).unwrap();
    tasks.start(&state);
    (state, tasks, dir)
}

/// The next event on `live` that `wanted` accepts, within ten seconds.
async fn next_matching(
    live: &mut broadcast::Receiver<crate::events::Sequenced>,
    wanted: impl Fn(&LiveEvent) -> bool,
) -> LiveEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = live.recv().await.unwrap().event;
            if wanted(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the event arrived")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_replicas_once_and_again_after_the_connection_is_cut() {
    if !crate::db::testing::postgres() {
        println!("skipped on SQLite: events are relayed through PostgreSQL's NOTIFY");
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let url = crate::db::testing::url(scratch.path()).await;
    let (a, _a_tasks, _a_dir) = replica(&url).await;
    let (b, _b_tasks, _b_dir) = replica(&url).await;
    let mut on_a = a.events.subscribe(None).live;
    let mut on_b = b.events.subscribe(None).live;

    // Published on A, seen on B; A's subscribers see it once (its own notice is skipped).
    // The listeners start with the loops, so publish until B has one.
    let relayed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut id = 0;
        loop {
            id += 1;
            a.events.publish("job", id, "submitted", Some("queued"));
            let got = tokio::time::timeout(Duration::from_millis(300), on_b.recv()).await;
            if let Ok(Ok(event)) = got {
                return (id, event.event);
            }
        }
    })
    .await
    .expect("B receives A's events");
    assert_eq!(relayed.1.kind, "job");
    let (last, mut seen_on_a) = (relayed.0, Vec::new());
    while let Ok(event) = on_a.try_recv() {
        seen_on_a.push(event.event.id);
    }
    assert_eq!(
        seen_on_a,
        (1..=last).collect::<Vec<_>>(),
        "each once, in order"
    );

    // Cut every listening connection: B tells its subscribers to refetch, then hears again.
    a.db.execute_unprepared(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .await
    .unwrap();
    next_matching(&mut on_b, |event| event.kind == "reset").await;
    a.events.publish("job", 1_000, "submitted", Some("queued"));
    next_matching(&mut on_b, |event| event.id == 1_000).await;
}
