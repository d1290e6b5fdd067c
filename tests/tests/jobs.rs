//! Job orchestration end to end: a real server and real worker processes.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    FailSpec, JobKind, JobOutcome, JobReport, JobState, PageRequest, PipelineSpec, RegisterWorker,
    Requirements, SleepSpec, Step, SubmitJob, TrainSpec, WorkerState,
};
use slipway_tests::{TestServer, eventually};
use std::time::Duration;

fn sleep_job(seconds: f64) -> SubmitJob {
    SubmitJob {
        ..SubmitJob::new(SleepSpec {
            seconds: Some(seconds),
        })
    }
}

fn start_server() -> TestServer {
    let temp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(temp.path(), &["--job-lease-secs", "2"]);
    server.keep(temp);
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_fifty_jobs_each_exactly_once() {
    let server = start_server();
    let client = server.admin();
    let _a = server.worker("worker-a", &["--concurrency", "2"]);
    let _b = server.worker("worker-b", &["--concurrency", "2"]);
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(client.submit_job(&sleep_job(0.05)).await.unwrap().id);
    }
    let jobs = eventually("50 jobs to succeed", Duration::from_secs(60), || {
        let client = client.clone();
        async move {
            let page = client
                .list_jobs(
                    Some(JobState::Succeeded),
                    &PageRequest {
                        limit: Some(100),
                        page_token: None,
                    },
                )
                .await
                .ok()?;
            (page.items.len() == 50).then_some(page.items)
        }
    })
    .await;
    assert!(
        jobs.iter().all(|job| job.attempts == 1),
        "each ran exactly once"
    );
    let workers: std::collections::HashSet<_> =
        jobs.iter().filter_map(|job| job.worker.clone()).collect();
    assert_eq!(workers.len(), 2, "both workers took work: {workers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_job_is_run_again_by_another() {
    let server = start_server();
    let client = server.admin();
    let mut doomed = server.worker("doomed", &[]);
    let job = client.submit_job(&sleep_job(2.0)).await.unwrap();
    eventually("the job to start", Duration::from_secs(30), || {
        let client = client.clone();
        async move { (client.get_job(job.id).await.ok()?.state == JobState::Running).then_some(()) }
    })
    .await;
    doomed.kill9();
    let _survivor = server.worker("survivor", &[]);
    let done = eventually(
        "the job to succeed on the survivor",
        Duration::from_secs(30),
        || {
            let client = client.clone();
            async move {
                let job = client.get_job(job.id).await.ok()?;
                (job.state == JobState::Succeeded).then_some(job)
            }
        },
    )
    .await;
    assert_eq!(done.attempts, 2);
    assert_eq!(done.worker.as_deref(), Some("survivor"));
    eventually(
        "the dead worker to show as lost",
        Duration::from_secs(30),
        || {
            let client = client.clone();
            async move {
                let workers = client.list_workers(&Default::default()).await.ok()?.items;
                workers
                    .iter()
                    .any(|w| w.name == "doomed" && w.state == WorkerState::Lost)
                    .then_some(())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_retry_and_requirements() {
    let server = start_server();
    let client = server.admin();
    let _worker = server.worker("cpu-only", &[]);

    // A GPU job is never given to a CPU-only worker, and says why it waits.
    let gpu = client
        .submit_job(&SubmitJob {
            requirements: Requirements {
                gpus: 1,
                labels: vec![],
                commands: false,
            },
            ..sleep_job(0.1)
        })
        .await
        .unwrap();

    // Cancel a running job: it ends cancelled within 2 s.
    let long = client.submit_job(&sleep_job(60.0)).await.unwrap();
    eventually("the long job to start", Duration::from_secs(30), || {
        let client = client.clone();
        async move { (client.get_job(long.id).await.ok()?.state == JobState::Running).then_some(()) }
    })
    .await;
    client
        .cancel_job(long.id, Some("not needed"))
        .await
        .unwrap();
    eventually("the cancelled job to stop", Duration::from_secs(5), || {
        let client = client.clone();
        async move { (client.get_job(long.id).await.ok()?.state == JobState::Cancelled).then_some(()) }
    })
    .await;

    // Retry a failed job: a new attempt.
    let failing = client
        .submit_job(&SubmitJob {
            max_attempts: Some(1),
            ..SubmitJob::new(FailSpec {
                message: Some("boom".into()),
            })
        })
        .await
        .unwrap();
    let failed = eventually("the fail job to fail", Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            let job = client.get_job(failing.id).await.ok()?;
            (job.state == JobState::Failed).then_some(job)
        }
    })
    .await;
    assert_eq!(failed.error.as_deref(), Some("boom"));
    let retried = client
        .retry_job(failing.id, Some("try again"))
        .await
        .unwrap();
    assert_eq!(retried.state, JobState::Queued);
    eventually(
        "the retry to run as attempt 2",
        Duration::from_secs(30),
        || {
            let client = client.clone();
            async move {
                let job = client.get_job(failing.id).await.ok()?;
                (job.state == JobState::Failed && job.attempts == 2).then_some(())
            }
        },
    )
    .await;

    let gpu = client.get_job(gpu.id).await.unwrap();
    assert_eq!(gpu.state, JobState::Queued);
    assert_eq!(gpu.waiting_reason.as_deref(), Some("no worker with 1 GPU"));

    // Bad requests are refused clearly.
    // Raw wire JSON on purpose: the typed request cannot name a kind that does not exist.
    let err = client
        .submit_job_json(&serde_json::json!({"kind": "paint"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string().contains("unknown job kind 'paint'"),
        "{err}"
    );
    let err = client.retry_job(long.id + 1000, None).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_workers_late_report_is_refused() {
    let server = start_server();
    let client = server.admin();
    let worker = client
        .register_worker(&RegisterWorker {
            name: "slowpoke".into(),
            version: "test".into(),
            cpu_cores: 1,
            cuda_devices: 0,
            labels: vec![],
            concurrency: 1,
            allow_commands: false,
        })
        .await
        .unwrap();
    let job = client.submit_job(&sleep_job(1.0)).await.unwrap();
    let lease = client
        .lease_job(worker.id, 1000)
        .await
        .unwrap()
        .lease
        .expect("a lease");
    assert_eq!(lease.job.id, job.id);
    // No heartbeat: the reaper takes the job back after the 2 s lease.
    eventually("the lease to expire", Duration::from_secs(10), || {
        let client = client.clone();
        async move { (client.get_job(job.id).await.ok()?.state == JobState::Queued).then_some(()) }
    })
    .await;
    let late = JobReport {
        lease_id: lease.lease_id,
        outcome: JobOutcome::Succeeded {
            result: serde_json::json!({}),
        },
    };
    let err = client.report_job(job.id, &late).await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    assert!(err.to_string().contains("no longer current"), "{err}");
    assert_eq!(
        client.get_job(job.id).await.unwrap().state,
        JobState::Queued,
        "the late report changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_a_server_crash() {
    let mut server = start_server();
    let client = server.admin();
    let _worker = server.worker("steady", &["--concurrency", "2"]);
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(client.submit_job(&sleep_job(1.0)).await.unwrap().id);
    }
    eventually("two jobs to run", Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            let page = client
                .list_jobs(Some(JobState::Running), &PageRequest::default())
                .await
                .ok()?;
            (page.items.len() == 2).then_some(())
        }
    })
    .await;
    server.kill9();
    server.restart_same_address();
    let client = server.admin();
    let jobs = eventually(
        "every job to succeed after the restart",
        Duration::from_secs(60),
        || {
            let client = client.clone();
            async move {
                let page = client
                    .list_jobs(Some(JobState::Succeeded), &PageRequest::default())
                    .await
                    .ok()?;
                (page.items.len() == 6).then_some(page.items)
            }
        },
    )
    .await;
    let mut done: Vec<i64> = jobs.iter().map(|job| job.id).collect();
    done.sort_unstable();
    assert_eq!(done, ids, "nothing lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_drain_and_the_cli() {
    let server = start_server();
    let client = server.admin();
    let _worker = server.worker("chatty", &[]);
    let (ok, out, err) = server.cli(&[
        "jobs",
        "submit",
        JobKind::Sleep.as_str(),
        "--seconds",
        "0.3",
        "--output",
        "json",
    ]);
    assert!(ok, "{err}");
    let job: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = job["id"].as_i64().unwrap().to_string();
    let (ok, out, err) = server.cli(&["jobs", "logs", &id, "--follow"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("sleeping 0.3 s") && out.contains("done"),
        "{out}"
    );
    let (ok, out, _) = server.cli(&["jobs", "list"]);
    assert!(
        ok && out.contains("succeeded") && out.contains("chatty"),
        "{out}"
    );

    let (ok, out, err) = server.cli(&["workers", "drain", "chatty", "--reason", "maintenance"]);
    assert!(ok && out.contains("draining"), "{out}{err}");
    let queued = client.submit_job(&sleep_job(0.1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        client.get_job(queued.id).await.unwrap().state,
        JobState::Queued,
        "a draining worker takes no work"
    );
    let (ok, out, _) = server.cli(&["workers", "list"]);
    assert!(ok && out.contains("draining"), "{out}");
    let logs = client.job_logs(queued.id, 0, 100).await.unwrap();
    assert!(logs.lines.is_empty());
}

/// Reads server-sent events from `response` until `count` events have arrived; returns each
/// event's (id, data).
async fn read_events(
    response: reqwest::Response,
    count: usize,
) -> Vec<(String, serde_json::Value)> {
    use futures_util::StreamExt;
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event in time")
            .expect("the stream stays open")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .map(str::to_owned);
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                events.push((id, serde_json::from_str(data).unwrap()));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_stream_and_resume() {
    let server = start_server();
    let client = server.admin();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/events", server.url);
    let stream = http
        .get(&url)
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let first = client.submit_job(&sleep_job(0.1)).await.unwrap();
    let second = client.submit_job(&sleep_job(0.1)).await.unwrap();
    let events = read_events(stream, 2).await;
    assert_eq!(events[0].1["kind"], "job");
    assert_eq!(events[0].1["id"], first.id);
    assert_eq!(events[0].1["change"], "submitted");
    assert_eq!(events[1].1["id"], second.id);

    // Reconnecting after the first event replays what came after it.
    let resumed = http
        .get(&url)
        .bearer_auth(server.admin_token())
        .header("last-event-id", &events[0].0)
        .send()
        .await
        .unwrap();
    let replayed = read_events(resumed, 1).await;
    assert_eq!(replayed[0].0, events[1].0);

    // An id from another server life asks the client to refetch.
    let stale = http
        .get(&url)
        .bearer_auth(server.admin_token())
        .header("last-event-id", "0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(read_events(stale, 1).await[0].1["kind"], "reset");
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}

/// A pipeline only coordinates its child jobs: a one-slot worker running one is still given
/// the next job (otherwise the pipeline's children would wait for the pipeline forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_pipeline_leaves_its_workers_slot_free() {
    let server = start_server();
    let client = server.admin();
    let worker = client
        .register_worker(&RegisterWorker {
            name: "one-slot".into(),
            version: "test".into(),
            cpu_cores: 1,
            cuda_devices: 0,
            labels: vec![],
            concurrency: 1,
            allow_commands: false,
        })
        .await
        .unwrap();
    let pipeline = PipelineSpec {
        name: None,
        model: "digits".into(),
        deployment: None,
        steps: vec![Step::Train {
            train: Box::new(TrainSpec {
                dataset: "digits".into(),
                ..TrainSpec::default()
            }),
        }],
    };
    let submitted = client
        .submit_job(&SubmitJob {
            priority: 10,
            ..SubmitJob::new(pipeline)
        })
        .await
        .unwrap();
    let first = client
        .lease_job(worker.id, 1000)
        .await
        .unwrap()
        .lease
        .unwrap();
    assert_eq!(first.job.id, submitted.id);
    let child = client.submit_job(&sleep_job(1.0)).await.unwrap();
    let second = client.lease_job(worker.id, 1000).await.unwrap().lease;
    assert_eq!(second.map(|lease| lease.job.id), Some(child.id));
    // An ordinary job does take the slot.
    client.submit_job(&sleep_job(1.0)).await.unwrap();
    assert!(
        client
            .lease_job(worker.id, 200)
            .await
            .unwrap()
            .lease
            .is_none()
    );
}

/// With the default lease (30 s: a heartbeat every 10 s), a cancel still reaches a running job
/// at once: the worker's heartbeat is held open and answered when the cancel arrives. Its log
/// lines carry the time the worker wrote them, not the time they were shipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_is_cancelled_within_two_seconds_and_its_lines_keep_their_time() {
    let server = TestServer::start();
    let client = server.admin();
    let _worker = server.worker("prompt", &[]);
    let (ok, out, err) = server.cli(&[
        "jobs",
        "submit",
        JobKind::Sleep.as_str(),
        "--seconds",
        "30",
        "--output",
        "json",
    ]);
    assert!(ok, "{err}");
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"]
        .as_i64()
        .unwrap();
    let running = eventually("the job to run", Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            let job = client.get_job(id).await.ok()?;
            (job.state == JobState::Running).then_some(job)
        }
    })
    .await;
    // Long enough that lines shipped only at the end would be stamped late.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let asked = std::time::Instant::now();
    let (ok, _, err) = server.cli(&["jobs", "cancel", &id.to_string(), "--reason", "not needed"]);
    assert!(ok, "{err}");
    let cancelled = eventually("the job to be cancelled", Duration::from_secs(10), || {
        let client = client.clone();
        async move {
            let job = client.get_job(id).await.ok()?;
            (job.state == JobState::Cancelled).then_some(job)
        }
    })
    .await;
    let took = asked.elapsed();
    eprintln!("cancelled {took:?} after the request");
    assert!(
        took < Duration::from_secs(2),
        "cancelled {took:?} after the request"
    );
    assert!(cancelled.finished_at.is_some());

    let logs = client.job_logs(id, 0, 100).await.unwrap();
    let line = |text: &str| {
        logs.lines
            .iter()
            .find(|l| l.message.starts_with(text))
            .unwrap_or_else(|| panic!("a '{text}' line in {:?}", logs.lines))
    };
    let started = running.started_at.unwrap();
    let first = line("sleeping 30 s");
    let gap = (first.at - started).num_milliseconds();
    assert!(
        (0..1000).contains(&gap),
        "the first line was written as the job started, not {gap} ms later when shipped"
    );
    let last = line("cancelled");
    assert!(
        (last.at - first.at).num_milliseconds() >= 2900,
        "{first:?} {last:?}"
    );
    assert!(last.at <= cancelled.finished_at.unwrap());
    let (ok, out, _) = server.cli(&["jobs", "logs", &id.to_string()]);
    let shown = first.at.format("%Y-%m-%d %H:%M:%S").to_string();
    assert!(
        ok && out.contains(&format!("{shown} #1 info  sleeping 30 s")),
        "{out}"
    );
}
