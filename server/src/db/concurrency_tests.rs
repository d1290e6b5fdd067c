//! Concurrency guarantees on whichever backend the tests run (see `testing`): write
//! transactions run one at a time, so a read-check-write such as a deployment's next revision
//! never hands out the same number twice; and a schedule's due time is claimed by one of many
//! servers ticking at once.

use super::{begin_write, connect, testing};
use crate::entity::operations::{job, schedule};
use crate::entity::registry::{deployment, deployment_revision};
use crate::events::EventBus;
use crate::queue::JobQueue;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use std::sync::Arc;
use std::time::Duration;

const WRITERS: usize = 12;

async fn database() -> (DatabaseConnection, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = connect(&testing::url(dir.path()).await).await.unwrap();
    (db, dir)
}

/// Reads the deployment's revision, waits (so every writer has read before any writes, were
/// they not serialised), then appends the next revision, as a deploy does.
async fn append_revision(db: DatabaseConnection, deployment_id: i64) {
    let txn = begin_write(&db).await.unwrap();
    let row = deployment::Entity::find_by_id(deployment_id)
        .one(&txn)
        .await
        .unwrap()
        .unwrap();
    let next = row.current_revision + 1;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut active: deployment::ActiveModel = row.into();
    active.current_revision = Set(next);
    active.update(&txn).await.unwrap();
    deployment_revision::ActiveModel {
        deployment_id: Set(deployment_id),
        revision: Set(next),
        spec: Set("{}".to_owned()),
        actor: Set("test".to_owned()),
        reason: Set(None),
        created_at: Set(0),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .unwrap();
    txn.commit().await.unwrap();
}

#[tokio::test]
async fn concurrent_write_transactions_never_hand_out_a_revision_twice() {
    let (db, _dir) = database().await;
    let created = deployment::ActiveModel {
        name: Set("d".to_owned()),
        current_revision: Set(0),
        slo_policy: Set(None),
        created_at: Set(0),
        updated_at: Set(0),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| tokio::spawn(append_revision(db.clone(), created.id)))
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let revisions: Vec<i32> = deployment_revision::Entity::find()
        .filter(deployment_revision::Column::DeploymentId.eq(created.id))
        .order_by_asc(deployment_revision::Column::Revision)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.revision)
        .collect();
    assert_eq!(revisions, (1..=WRITERS as i32).collect::<Vec<_>>());
    let row = deployment::Entity::find_by_id(created.id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.current_revision, WRITERS as i32);
}

#[tokio::test]
async fn a_due_time_is_claimed_once_however_many_servers_tick() {
    let (db, _dir) = database().await;
    let request = slipway_api::CreateSchedule {
        name: "nightly".to_owned(),
        cron: "0 3 * * *".to_owned(),
        timezone: "UTC".to_owned(),
        job: slipway_api::SubmitJob {
            spec: slipway_api::SleepSpec { seconds: Some(1.0) }.into(),
            priority: 0,
            requirements: slipway_api::Requirements::default(),
            max_attempts: None,
        },
        misfire: slipway_api::Misfire::default(),
        overlap: slipway_api::Overlap::default(),
        on_drift: None,
        paused: false,
    };
    crate::schedules::create(&db, "test", &request)
        .await
        .unwrap();
    // Due a moment ago: on time for every ticking server.
    let now = chrono::Utc::now();
    let due = now.timestamp_millis() - 1_000;
    schedule::Entity::update_many()
        .col_expr(
            schedule::Column::NextFireAt,
            sea_orm::sea_query::Expr::value(Some(due)),
        )
        .exec(&db)
        .await
        .unwrap();
    let servers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let queue = JobQueue::new(Duration::from_secs(30), Arc::new(EventBus::new()));
                crate::schedules::tick(&db, &queue, now, chrono::Duration::seconds(60))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut fired = 0;
    for server in servers {
        fired += server.await.unwrap();
    }
    assert_eq!(fired, 1, "the due time fired {fired} times");
    assert_eq!(job::Entity::find().count(&db).await.unwrap(), 1);
}
