//! Several `slipway server` replicas on one PostgreSQL database, as behind a load balancer:
//! jobs submitted round-robin through three replicas all run exactly once, also when one
//! replica (most likely the leader) is killed with SIGKILL in the middle; a schedule fires
//! once per due time across them; a rollback through one is served by all within a second;
//! and an event stream on one shows a job submitted through another.
//!
//! PostgreSQL only: on SQLite one process owns the database, so there are no replicas.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    ChangeRequest, Client, CreateSchedule, DeployRequest, Firing, JobState, Misfire, Overlap,
    PageRequest, PredictRequest, Schedule, SleepSpec, SubmitJob, TrainSpec,
};
use slipway_tests::{TestServer, database, eventually, train_and_register};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const JOBS: usize = 1_000;
/// Short leases, so the killed replica's worker's leases expire soon.
const FLAGS: &[&str] = &["--job-lease-secs", "2"];

fn sleep_job() -> SubmitJob {
    SubmitJob::new(SleepSpec { seconds: Some(0.0) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_one_database_act_as_one_server() {
    if !database::postgres() {
        println!(
            "skipped on SQLite: replicas share one PostgreSQL database (set {} to run it)",
            database::ADMIN_URL_VAR
        );
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    // The first replica starts alone, so it is almost surely the first leader: the one the
    // test kills below.
    let mut first = TestServer::start_in(temp.path(), FLAGS);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = first.replica(FLAGS);
    let third = first.replica(FLAGS);
    let clients = [first.admin(), second.admin(), third.admin()];
    let leaders = eventually(
        "one leader among the replicas",
        Duration::from_secs(10),
        || {
            let servers = [&first, &second, &third].map(|s| (s.url.clone(), s.admin_token()));
            async move {
                let mut leads = Vec::new();
                for (url, token) in servers {
                    leads.push(leads_maintenance(&url, &token).await);
                }
                (leads.iter().filter(|l| **l).count() == 1).then_some(leads)
            }
        },
    )
    .await;
    // The first replica started alone and renews its term; the others wait for it to expire.
    assert_eq!(leaders, [true, false, false]);

    // An event stream on one replica sees a job submitted through another.
    let mut stream = clients[0].events(None).await.unwrap();
    let elsewhere = clients[1].submit_job(&sleep_job()).await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = stream.next().await {
            let event = event.unwrap().event;
            if event.kind == "job" && event.id == elsewhere.id {
                return event;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .expect("the first replica's stream shows the job submitted through the second");
    assert_eq!(seen.change, "submitted");
    drop(stream);

    // Two workers, one on the first replica (it loses its server below) and one on the second.
    let _orphaned = first.worker("w-first", &[]);
    let _worker = second.worker("w-second", &[]);
    let mut acknowledged = vec![elsewhere.id];
    let mut refused = 0;
    let mut killed_at = None;
    for n in 0..JOBS {
        if n == JOBS / 2 {
            first.kill9();
            killed_at = Some(Instant::now());
        }
        match clients[n % 3].submit_job(&sleep_job()).await {
            Ok(job) => acknowledged.push(job.id),
            // The killed replica refuses connections: not acknowledged, so not counted.
            Err(_) if n >= JOBS / 2 && n % 3 == 0 => refused += 1,
            Err(err) => panic!("submission {n} failed: {err}"),
        }
    }
    assert!(refused > 0 && acknowledged.len() == JOBS + 1 - refused);
    let unique: BTreeSet<i64> = acknowledged.iter().copied().collect();
    assert_eq!(unique.len(), acknowledged.len(), "every job id once");

    // Another replica takes the leadership over once the dead leader's term expires.
    let survivors = [&second, &third].map(|s| (s.url.clone(), s.admin_token()));
    eventually("a new leader", Duration::from_secs(30), || {
        let survivors = survivors.clone();
        async move {
            for (url, token) in survivors {
                if leads_maintenance(&url, &token).await {
                    return Some(());
                }
            }
            None
        }
    })
    .await;
    println!(
        "a new leader took over {} ms after the leader was killed",
        killed_at.unwrap().elapsed().as_millis()
    );

    // Everything acknowledged runs to success: the jobs the killed replica's worker held are
    // reaped by the new leader and run by the other worker.
    let live = &clients[1];
    let finished = eventually(
        "every acknowledged job to succeed",
        Duration::from_secs(600),
        || {
            let live = live.clone();
            async move {
                let jobs = all_jobs(&live).await;
                let succeeded = jobs
                    .iter()
                    .filter(|j| j.state == JobState::Succeeded)
                    .count();
                (succeeded == jobs.len()).then_some(jobs)
            }
        },
    )
    .await;
    let ids: BTreeSet<i64> = finished.iter().map(|j| j.id).collect();
    assert_eq!(
        ids, unique,
        "exactly the acknowledged jobs, none lost, none added"
    );
    let retried = finished.iter().filter(|j| j.attempts > 1).count();
    println!(
        "{} jobs succeeded through 3 replicas ({refused} submissions refused by the killed one, {retried} retried after its worker's leases were reaped)",
        finished.len()
    );

    // The killed replica comes back (any replica may restart at any time).
    first.restart_with(FLAGS);
    let clients = [first.admin(), second.admin(), third.admin()];

    // A schedule due every two seconds fires once per due time across the replicas.
    let schedule = clients[2]
        .create_schedule(&CreateSchedule {
            name: "shared".into(),
            cron: "*/2 * * * * *".into(),
            timezone: "UTC".into(),
            job: sleep_job(),
            misfire: Misfire::Skip,
            overlap: Overlap::Queue,
            on_drift: None,
            paused: false,
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(9)).await;
    clients[0]
        .schedule_action::<Schedule>("shared", "pause", None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let firings = clients[1].schedule_firings("shared").await.unwrap();
    let fired: Vec<&Firing> = firings.iter().filter(|f| f.outcome == "fired").collect();
    assert!(fired.len() >= 3, "{firings:?}");
    let due: BTreeSet<_> = fired.iter().map(|f| f.due_at).collect();
    assert_eq!(due.len(), fired.len(), "each due time once: {firings:?}");
    let scheduled = all_jobs(&clients[1])
        .await
        .into_iter()
        .filter(|j| j.schedule_id == Some(schedule.id))
        .count();
    assert_eq!(
        scheduled,
        fired.len(),
        "one job per firing, not one per replica"
    );

    // A rollback through one replica is served by every replica within a second.
    rollback_reaches_every_replica(&clients).await;
}

/// Whether the replica at `url` says (in `/metrics`) that it leads the maintenance role.
async fn leads_maintenance(url: &str, token: &str) -> bool {
    let text = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .any(|line| line == "slipway_leader{role=\"maintenance\"} 1")
}

/// Every job, all pages.
async fn all_jobs(client: &Client) -> Vec<slipway_api::Job> {
    let mut jobs = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_jobs(
                None,
                &PageRequest {
                    limit: Some(500),
                    page_token: token,
                },
            )
            .await
            .unwrap();
        jobs.extend(page.items);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => return jobs,
        }
    }
}

async fn rollback_reaches_every_replica(clients: &[Client; 3]) {
    let iris = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/iris.csv")).unwrap();
    clients[0]
        .upload_dataset("iris", "species", Some("classification"), iris)
        .await
        .unwrap();
    for seed in [1, 2] {
        let spec = TrainSpec {
            dataset: "iris".into(),
            epochs: Some(5),
            seed: Some(seed),
            register_as: Some("iris".into()),
            ..TrainSpec::default()
        };
        train_and_register(&clients[seed as usize], spec).await;
    }
    for (version, client) in [(1, &clients[0]), (2, &clients[1])] {
        client
            .deploy(
                "iris",
                &DeployRequest {
                    model: Some("iris".into()),
                    version: Some(version),
                    ..DeployRequest::default()
                },
                Some("release"),
            )
            .await
            .unwrap();
    }
    let row = PredictRequest {
        instances: vec![serde_json::json!([5.1, 3.5, 1.4, 0.2])],
        key: None,
    };
    for client in clients {
        eventually(
            "every replica to serve version 2",
            Duration::from_secs(60),
            || {
                let (client, row) = (client.clone(), row.clone());
                async move {
                    let answer = client.predict("iris", &row).await.ok()?;
                    (answer.model_version == 2).then_some(())
                }
            },
        )
        .await;
    }

    clients[2]
        .rollback("iris", &ChangeRequest::default(), Some("v2 regressed"))
        .await
        .unwrap();
    let rolled_back = Instant::now();
    let deadline = rolled_back + Duration::from_secs(1);
    for (n, client) in clients.iter().enumerate() {
        loop {
            let answer = client.predict("iris", &row).await.unwrap();
            if answer.model_version == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replica {n} still serves version {} a second after the rollback",
                answer.model_version
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!(
        "every replica served the rolled-back version {} ms after the rollback",
        rolled_back.elapsed().as_millis()
    );
}
