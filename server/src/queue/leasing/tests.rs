//! Leasing and fencing against a real (temporary, migrated) SQLite database: one claim per
//! job however many workers ask at once, a stale lease id refused on every report, and the
//! reaper's three endings for an expired lease (queued again, failed, cancelled).

use super::*;
use crate::events::EventBus;
use crate::queue::jobs::submit;
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
use slipway_api::{RegisterWorker, SubmitJob};
use std::sync::Arc;

const OWNER: &str = "wes";

struct Fixture {
    db: DatabaseConnection,
    queue: JobQueue,
    _dir: tempfile::TempDir,
}

async fn fixture(lease: Duration) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::db::connect(&crate::db::testing::url(dir.path()).await)
        .await
        .unwrap();
    Fixture {
        db,
        queue: JobQueue::new(lease, Arc::new(EventBus::new())),
        _dir: dir,
    }
}

async fn worker(f: &Fixture, name: &str) -> i64 {
    let request = RegisterWorker {
        name: name.to_owned(),
        version: "test".to_owned(),
        cpu_cores: 2,
        cuda_devices: 0,
        labels: Vec::new(),
        concurrency: 1,
        allow_commands: false,
    };
    workers::register(&f.db, &f.queue, OWNER, &request)
        .await
        .unwrap()
        .id
}

async fn queue(f: &Fixture, max_attempts: u32) -> i64 {
    let request = SubmitJob {
        spec: slipway_api::SleepSpec { seconds: Some(1.0) }.into(),
        priority: 0,
        requirements: Requirements::default(),
        max_attempts: Some(max_attempts),
    };
    submit(&f.db, &f.queue, "eve", &request).await.unwrap().id
}

async fn claim(f: &Fixture, worker_id: i64) -> Option<Lease> {
    lease(&f.db, &f.queue, worker_id, OWNER, Duration::ZERO)
        .await
        .unwrap()
}

fn beat(lease_id: &str) -> JobHeartbeat {
    JobHeartbeat {
        lease_id: lease_id.to_owned(),
        progress: Some(0.5),
        message: None,
        wait_ms: 0,
    }
}

/// Moves the job's lease expiry into the past, as if its worker had gone silent.
async fn expire(f: &Fixture, job_id: i64) {
    let row = find(&f.db, job_id).await.unwrap();
    let mut row = row.into_active_model();
    row.lease_expires_at = Set(Some(now_millis() - 1));
    row.update(&f.db).await.unwrap();
}

#[tokio::test]
async fn many_workers_asking_at_once_claim_a_job_once() {
    let f = fixture(Duration::from_secs(30)).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(worker(&f, &format!("box-{n}")).await);
    }
    let job = queue(&f, 3).await;
    let claims = futures_util::future::join_all(ids.iter().map(|id| claim(&f, *id))).await;
    let won: Vec<_> = claims.into_iter().flatten().collect();
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(won[0].job.id, job);
    assert_eq!(won[0].job.attempts, 1);
    assert_eq!(won[0].lease_id.len(), 32);
}

#[tokio::test]
async fn another_tokens_worker_may_not_lease() {
    let f = fixture(Duration::from_secs(30)).await;
    let id = worker(&f, "box").await;
    queue(&f, 3).await;
    let err = lease(&f.db, &f.queue, id, "mallory", Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::PermissionDenied(_)), "{err:?}");
}

#[tokio::test]
async fn an_expired_lease_is_requeued_and_its_old_id_fenced_off() {
    let f = fixture(Duration::from_secs(30)).await;
    let first_worker = worker(&f, "box-1").await;
    let second_worker = worker(&f, "box-2").await;
    let job = queue(&f, 3).await;
    let first = claim(&f, first_worker).await.unwrap();
    heartbeat(&f.db, &f.queue, OWNER, job, &beat(&first.lease_id))
        .await
        .unwrap();

    expire(&f, job).await;
    assert_eq!(reap(&f.db, &f.queue).await.unwrap(), 1);
    let row = find(&f.db, job).await.unwrap();
    assert_eq!(row.state, job::StoredJobState::Queued);
    assert!(
        row.error
            .unwrap_or_default()
            .contains("attempt 1 lost its lease")
    );

    let second = claim(&f, second_worker).await.unwrap();
    assert_eq!(second.job.attempts, 2);
    assert_ne!(second.lease_id, first.lease_id);
    // The first attempt comes back: every report under its lease id is refused.
    let err = heartbeat(&f.db, &f.queue, OWNER, job, &beat(&first.lease_id))
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Conflict(_)), "{err:?}");
    let stale = JobReport {
        lease_id: first.lease_id.clone(),
        outcome: JobOutcome::Succeeded {
            result: serde_json::json!({}),
        },
    };
    let err = report(&f.db, &f.queue, OWNER, job, &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Conflict(_)), "{err:?}");
    // The current attempt finishes the job.
    let current = JobReport {
        lease_id: second.lease_id.clone(),
        ..stale
    };
    let done = report(&f.db, &f.queue, OWNER, job, &current).await.unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.progress, 1.0);
    // A finished job's lease is gone: reporting twice is a conflict too.
    let err = report(&f.db, &f.queue, OWNER, job, &current)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn the_last_attempt_fails_and_a_cancelled_job_ends_cancelled() {
    let f = fixture(Duration::from_secs(30)).await;
    let id = worker(&f, "box").await;
    let last = queue(&f, 1).await;
    claim(&f, id).await.unwrap();
    expire(&f, last).await;
    assert_eq!(reap(&f.db, &f.queue).await.unwrap(), 0, "nothing requeued");
    let row = find(&f.db, last).await.unwrap();
    assert_eq!(row.state, job::StoredJobState::Failed);
    assert!(row.finished_at.is_some());

    let cancelled = queue(&f, 3).await;
    claim(&f, id).await.unwrap();
    let mut row = find(&f.db, cancelled).await.unwrap().into_active_model();
    row.cancel_requested = Set(true);
    row.update(&f.db).await.unwrap();
    expire(&f, cancelled).await;
    reap(&f.db, &f.queue).await.unwrap();
    let row = find(&f.db, cancelled).await.unwrap();
    assert_eq!(row.state, job::StoredJobState::Cancelled);
}

#[tokio::test]
async fn heartbeats_check_progress_and_carry_the_cancel_request() {
    let f = fixture(Duration::from_secs(30)).await;
    let id = worker(&f, "box").await;
    let job = queue(&f, 3).await;
    let held = claim(&f, id).await.unwrap();
    let mut bad = beat(&held.lease_id);
    bad.progress = Some(1.5);
    let err = heartbeat(&f.db, &f.queue, OWNER, job, &bad)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::InvalidArgument(_)), "{err:?}");
    let answer = heartbeat(&f.db, &f.queue, OWNER, job, &beat(&held.lease_id))
        .await
        .unwrap();
    assert!(!answer.cancel);
    let mut row = find(&f.db, job).await.unwrap().into_active_model();
    row.cancel_requested = Set(true);
    row.update(&f.db).await.unwrap();
    let answer = heartbeat(&f.db, &f.queue, OWNER, job, &beat(&held.lease_id))
        .await
        .unwrap();
    assert!(answer.cancel);
}

/// A worker declaring `gpus` devices that runs up to `concurrency` jobs.
async fn gpu_worker(f: &Fixture, name: &str, gpus: u32, concurrency: u32) -> i64 {
    let request = RegisterWorker {
        name: name.to_owned(),
        version: "test".to_owned(),
        cpu_cores: 2,
        cuda_devices: gpus,
        labels: Vec::new(),
        concurrency,
        allow_commands: false,
    };
    workers::register(&f.db, &f.queue, OWNER, &request)
        .await
        .unwrap()
        .id
}

async fn queue_gpu_job(f: &Fixture, gpus: u32) -> i64 {
    let request = SubmitJob {
        spec: slipway_api::SleepSpec { seconds: Some(1.0) }.into(),
        priority: 0,
        requirements: Requirements {
            gpus,
            ..Requirements::default()
        },
        max_attempts: Some(1),
    };
    submit(&f.db, &f.queue, "eve", &request).await.unwrap().id
}

#[test]
fn devices_are_picked_lowest_free_first_or_not_at_all() {
    let busy: HashSet<u32> = [0, 2].into_iter().collect();
    assert_eq!(pick_devices(4, &busy, 1), Some(vec![1]));
    assert_eq!(pick_devices(4, &busy, 2), Some(vec![1, 3]));
    assert_eq!(pick_devices(4, &busy, 3), None);
    assert_eq!(pick_devices(0, &HashSet::new(), 1), None);
}

#[tokio::test]
async fn gpu_jobs_lease_only_free_devices_even_when_asked_at_once() {
    let f = fixture(Duration::from_secs(30)).await;
    let id = gpu_worker(&f, "gpu-box", 2, 4).await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(queue_gpu_job(&f, 1).await);
    }
    // Four lease requests for the same worker at once (as through several replicas).
    let claims = futures_util::future::join_all((0..4).map(|_| claim(&f, id))).await;
    let won: Vec<Lease> = claims.into_iter().flatten().collect();
    assert_eq!(won.len(), 2, "{won:?}");
    let mut devices: Vec<u32> = won.iter().flat_map(|l| l.job.gpu_devices.clone()).collect();
    devices.sort_unstable();
    assert_eq!(devices, vec![0, 1], "each lease holds a device of its own");
    let waiting = jobs
        .iter()
        .find(|job| won.iter().all(|l| l.job.id != **job))
        .copied()
        .unwrap();
    assert_eq!(
        JobState::from(find(&f.db, waiting).await.unwrap().state),
        JobState::Queued
    );

    // The first job ends; its device is free again and goes to the waiting job.
    let first = &won[0];
    let done = JobReport {
        lease_id: first.lease_id.clone(),
        outcome: JobOutcome::Succeeded {
            result: serde_json::json!({}),
        },
    };
    report(&f.db, &f.queue, OWNER, first.job.id, &done)
        .await
        .unwrap();
    let next = claim(&f, id).await.unwrap();
    assert_eq!(next.job.id, waiting);
    assert_eq!(next.job.gpu_devices, first.job.gpu_devices);
}

#[tokio::test]
async fn a_job_wanting_more_devices_than_are_free_leaves_room_for_cpu_work() {
    let f = fixture(Duration::from_secs(30)).await;
    let id = gpu_worker(&f, "gpu-box", 2, 4).await;
    let one = queue_gpu_job(&f, 1).await;
    let two = queue_gpu_job(&f, 2).await;
    let cpu = queue(&f, 1).await;
    assert_eq!(claim(&f, id).await.unwrap().job.id, one);
    // Only one device is free: the 2-GPU job waits and the CPU job goes past it.
    let next = claim(&f, id).await.unwrap();
    assert_eq!(next.job.id, cpu);
    assert!(next.job.gpu_devices.is_empty());
    assert!(claim(&f, id).await.is_none());
    assert_eq!(
        JobState::from(find(&f.db, two).await.unwrap().state),
        JobState::Queued
    );
}
