//! Attacks on a shared server, each against the real binary: delegated authority that a
//! token does not hold, a worker name that belongs to another token, a registered run
//! overwritten, read-only callers driving the SLO guard, and searches that would hold the
//! database.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    ApiError, Client, DeployRequest, JobKind, JobSpec, JobState, LeaseAnswer, PageRequest,
    PredictRequest, RegisterWorker, Requirements, Role, RunStatus, SearchRuns, SleepSpec,
    SubmitJob, TrainResult, TrainSpec, UpdateRun,
};
use slipway_tests::{TestServer, costliest_filter, eventually, new_token, populate_runs, run_job};
use std::time::{Duration, Instant};

async fn token(admin: &Client, server: &TestServer, name: &str, role: Role) -> Client {
    server.client(Some(new_token(admin, name, role).await))
}

/// Trains iris (logreg) and registers it as model `iris`; returns (version, run id).
async fn train_iris(admin: &Client, seed: u64) -> (u32, i64) {
    let spec = TrainSpec {
        dataset: "iris".into(),
        arch: Some("logreg".into()),
        epochs: Some(20),
        seed: Some(seed),
        register_as: Some("iris".into()),
        ..TrainSpec::default()
    };
    let job = run_job(admin, spec).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result = job.result_as::<TrainResult>().unwrap();
    (result.version.unwrap(), result.run_id)
}

/// A spec of `kind`, written as its JSON for brevity.
fn spec(kind: JobKind, json: serde_json::Value) -> JobSpec {
    JobSpec::from_parts(kind, json).unwrap()
}

async fn up() -> (TestServer, Client) {
    let server = TestServer::up();
    let admin = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let admin = admin.clone();
        async move { admin.dataset_versions("iris").await.ok() }
    })
    .await;
    (server, admin)
}

fn status(result: Result<impl std::fmt::Debug, ApiError>) -> u16 {
    match result {
        Ok(value) => panic!("expected a refusal, got {value:?}"),
        Err(err) => err.status().unwrap_or_default(),
    }
}

/// Submits a job only the worker labelled `secure` may take, as `submitter`.
async fn submit_secure(submitter: &Client, spec: JobSpec) -> i64 {
    submitter
        .submit_job(&SubmitJob {
            requirements: Requirements {
                labels: vec!["secure".into()],
                ..Requirements::default()
            },
            ..SubmitJob::new(spec)
        })
        .await
        .unwrap()
        .id
}

async fn lease(worker: &Client, worker_id: i64) -> slipway_api::Lease {
    let LeaseAnswer { lease } = worker.lease_job(worker_id, 5_000).await.unwrap();
    lease.expect("a job to lease")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_authority_is_bound_to_the_lease_and_the_job_spec() {
    let (server, admin) = up().await;
    let (version, run_id) = train_iris(&admin, 7).await;
    let engineer = token(&admin, &server, "ml-team", Role::Engineer).await;
    let gpu_box = token(&admin, &server, "gpu-box", Role::Worker).await;
    let intruder = token(&admin, &server, "intruder", Role::Worker).await;

    let registration = RegisterWorker {
        name: "gpu-box".into(),
        version: "test".into(),
        cpu_cores: 2,
        cuda_devices: 0,
        labels: vec!["secure".into()],
        concurrency: 2,
        allow_commands: false,
    };
    let worker = gpu_box.register_worker(&registration).await.unwrap();

    // Worker identity belongs to the token that registered it.
    assert_eq!(status(intruder.register_worker(&registration).await), 403);
    assert_eq!(status(intruder.lease_job(worker.id, 0).await), 403);

    let deploy_spec = serde_json::json!({
        "deployment": "flowers", "model": "iris", "version": version, "reason": "first release"
    });
    let deploy_job = submit_secure(&engineer, spec(JobKind::Deploy, deploy_spec)).await;
    let held = lease(&gpu_box, worker.id).await;
    assert_eq!(held.job.id, deploy_job);
    let first = DeployRequest {
        model: Some("iris".into()),
        version: Some(version),
        ..DeployRequest::default()
    };

    // A second worker token cannot use another worker's job, even with its lease id.
    let stolen = intruder.for_job(deploy_job, &held.lease_id);
    assert_eq!(status(stolen.deploy("flowers", &first, None).await), 403);
    // An engineer's header is refused: engineers act as themselves.
    let borrowed = engineer.for_job(deploy_job, &held.lease_id);
    assert_eq!(status(borrowed.deploy("other", &first, None).await), 403);
    // The holder needs the current lease id.
    let guessed = gpu_box.for_job(deploy_job, "0000");
    assert_eq!(status(guessed.deploy("flowers", &first, None).await), 403);
    // The holder may do only what the spec names: not another deployment.
    let acting = gpu_box.for_job(deploy_job, &held.lease_id);
    assert_eq!(status(acting.deploy("elsewhere", &first, None).await), 403);
    // What the spec names goes through, recorded with the submitter and the worker.
    let deployed = acting
        .deploy("flowers", &first, Some("first release"))
        .await
        .unwrap();
    assert_eq!(deployed.spec.primary, version);
    let revisions = admin.deployment_revisions("flowers").await.unwrap();
    let expected_actor = format!("ml-team (job {deploy_job}, worker gpu-box)");
    assert_eq!(revisions.last().unwrap().actor, expected_actor);
    // Nor can it roll back what it deployed: a deploy job deploys.
    let rollback = acting
        .rollback("flowers", &slipway_api::ChangeRequest::default(), None)
        .await;
    assert_eq!(status(rollback), 403);

    // A pipeline submits only the steps it declares, each at most as often as declared.
    let pipeline = serde_json::json!({
        "model": "iris",
        "deployment": "flowers",
        "steps": [
            {"kind": "train", "train": {"dataset": "iris", "arch": "logreg"}},
            {"kind": "register"},
            {"kind": "deploy", "canary_percent": 10.0},
        ],
    });
    let pipeline_job = submit_secure(&engineer, spec(JobKind::Pipeline, pipeline)).await;
    let held = lease(&gpu_box, worker.id).await;
    assert_eq!(held.job.id, pipeline_job);
    let acting = gpu_box.for_job(pipeline_job, &held.lease_id);
    let child = |kind: JobKind, json: serde_json::Value| SubmitJob {
        requirements: Requirements {
            labels: vec!["nobody".into()],
            ..Requirements::default()
        },
        ..SubmitJob::new(spec(kind, json))
    };
    let nested = child(
        JobKind::Pipeline,
        serde_json::json!({"model": "iris", "steps": [{"kind": "register"}]}),
    );
    assert_eq!(status(acting.submit_job(&nested).await), 403);
    let sleep = child(JobKind::Sleep, serde_json::json!({"seconds": 1}));
    assert_eq!(status(acting.submit_job(&sleep).await), 403);
    let elsewhere = child(
        JobKind::Deploy,
        serde_json::json!({"deployment": "payments", "model": "iris", "version": version}),
    );
    assert_eq!(status(acting.submit_job(&elsewhere).await), 403);
    let train = child(
        JobKind::Train,
        serde_json::json!({"dataset": "iris", "arch": "logreg"}),
    );
    let step = acting.submit_job(&train).await.unwrap();
    assert_eq!(step.created_by, "ml-team");
    assert_eq!(step.parent_id, Some(pipeline_job));
    assert_eq!(
        status(acting.submit_job(&train).await),
        403,
        "one train step, one train child"
    );
    let audit = admin
        .list_audit(&PageRequest {
            limit: Some(50),
            ..PageRequest::default()
        })
        .await
        .unwrap();
    let submitted = audit
        .items
        .iter()
        .find(|event| event.action == "job.submit" && event.target_id == step.id.to_string())
        .unwrap();
    assert_eq!(
        submitted.actor,
        format!("ml-team (job {pipeline_job}, worker gpu-box)")
    );
    // The pipeline has no promote step: it may not promote.
    let promote = acting
        .promote("flowers", &slipway_api::ChangeRequest::default(), None)
        .await;
    assert_eq!(status(promote), 403);

    // Draining survives re-registration.
    admin
        .drain_worker("gpu-box", Some("maintenance"))
        .await
        .unwrap();
    let again = gpu_box.register_worker(&registration).await.unwrap();
    assert_eq!(again.state, slipway_api::WorkerState::Draining);

    // A registered model's run is frozen: its artifacts and status stay as registered.
    let overwrite = admin
        .upload_artifact(run_id, "model.safetensors", b"not a model".to_vec())
        .await;
    assert_eq!(status(overwrite), 409);
    let reopen = admin
        .update_run(
            run_id,
            &UpdateRun {
                status: Some(RunStatus::Running),
                ..UpdateRun::default()
            },
        )
        .await;
    assert_eq!(status(reopen), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewers_bad_inputs_do_not_roll_back_a_canary() {
    let (server, admin) = up().await;
    let (v1, _) = train_iris(&admin, 7).await;
    let (v2, _) = train_iris(&admin, 8).await;
    let first = DeployRequest {
        model: Some("iris".into()),
        version: Some(v1),
        ..DeployRequest::default()
    };
    admin.deploy("flowers", &first, None).await.unwrap();
    let canary = DeployRequest {
        version: Some(v2),
        canary_percent: Some(50.0),
        ..DeployRequest::default()
    };
    admin.deploy("flowers", &canary, None).await.unwrap();
    let viewer = token(&admin, &server, "curious", Role::Viewer).await;
    let row = serde_json::json!([5.1, 3.5, 1.4, 0.2]);
    // A key the canary answers.
    let mut key = None;
    for i in 0..100 {
        let candidate = format!("k{i}");
        let request = PredictRequest {
            instances: vec![row.clone()],
            key: Some(candidate.clone()),
        };
        if viewer.predict("flowers", &request).await.unwrap().variant == "canary" {
            key = Some(candidate);
            break;
        }
    }
    let key = key.expect("a key for the canary");
    let bad = PredictRequest {
        instances: vec![serde_json::json!([1.0, 2.0])],
        key: Some(key.clone()),
    };
    for _ in 0..40 {
        assert_eq!(status(viewer.predict("flowers", &bad).await), 400);
    }
    // The guard judges every second: give it a few ticks.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deployment = admin.get_deployment("flowers").await.unwrap();
    assert_eq!(deployment.spec.canary.map(|c| c.version), Some(v2));
    let revisions = admin.deployment_revisions("flowers").await.unwrap();
    assert!(
        revisions.iter().all(|r| r.actor != "slo-guard"),
        "{revisions:?}"
    );
    let metrics = admin.deployment_metrics("flowers").await.unwrap();
    let canary = metrics.versions.iter().find(|v| v.version == v2).unwrap();
    assert_eq!(canary.errors, 0);
    assert_eq!(canary.errors_by_kind["invalid_input"], 40);

    // Values beyond what a model computes in are refused, never answered with nulls.
    let huge = PredictRequest {
        instances: vec![serde_json::json!([1e308, 3.5, 1.4, 0.2])],
        key: None,
    };
    match viewer.predict("flowers", &huge).await {
        Err(ApiError::Server {
            status: 400,
            message,
            ..
        }) => assert!(message.starts_with("instances[0][0]: 1e308"), "{message}"),
        other => panic!("expected 400, got {other:?}"),
    }
    let overflowing = PredictRequest {
        instances: vec![serde_json::json!([3e38, -3e38, 3e38, -3e38])],
        key: None,
    };
    match viewer.predict("flowers", &overflowing).await {
        Ok(answer) => assert!(answer.predictions.iter().all(|p| match p {
            slipway_api::Prediction::Class { probabilities, .. } =>
                probabilities.values().all(|v| v.is_finite()),
            slipway_api::Prediction::Value(v) => v.is_finite(),
        })),
        Err(ApiError::Server {
            status: 400,
            message,
            ..
        }) => assert!(message.contains("not a finite number"), "{message}"),
        Err(other) => panic!("expected an answer or 400, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expensive_searches_do_not_hold_up_reads_or_the_lease_reaper() {
    let temp = tempfile::tempdir().unwrap();
    // No rate limit: the storm must reach the database.
    let mut server = TestServer::start_in(
        temp.path(),
        &["--job-lease-secs", "2", "--search-rate", "0"],
    );
    server.keep(temp);
    let admin = server.admin();
    admin
        .create_experiment(&slipway_api::CreateExperiment {
            name: "storm".into(),
            description: None,
        })
        .await
        .unwrap();
    populate_runs(&admin, "storm", (0, 1_000), 4, 7).await;
    let viewer = token(&admin, &server, "viewer", Role::Viewer).await;

    // A 4 KB filter of 270 comparisons answers 400 with the limit.
    let long: Vec<String> = (0..270).map(|i| format!("metrics.a>{}", i % 10)).collect();
    let long = long.join(" or ");
    assert!((4_000..=4_096).contains(&long.len()), "{}", long.len());
    let request = SearchRuns {
        filter: Some(long),
        ..SearchRuns::default()
    };
    match viewer.search_runs(&request).await {
        Err(ApiError::Server {
            status: 400,
            message,
            ..
        }) => assert!(
            message.contains("at most 50 comparisons, got 270"),
            "{message}"
        ),
        other => panic!("expected 400, got {other:?}"),
    }

    // A job whose worker falls silent: the reaper must queue it again on time.
    let worker = admin
        .register_worker(&RegisterWorker {
            name: "silent".into(),
            version: "test".into(),
            cpu_cores: 1,
            cuda_devices: 0,
            labels: vec![],
            concurrency: 1,
            allow_commands: false,
        })
        .await
        .unwrap();
    let job = admin
        .submit_job(&SubmitJob::new(SleepSpec {
            seconds: Some(60.0),
        }))
        .await
        .unwrap();
    let held = lease(&admin, worker.id).await;
    assert_eq!(held.job.id, job.id);
    let leased_at = Instant::now();

    // Eight clients search as hard as the caps allow while others read.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut storm = Vec::new();
    for _ in 0..8 {
        let viewer = viewer.clone();
        let stop = stop.clone();
        storm.push(tokio::spawn(async move {
            let request = SearchRuns {
                filter: Some(costliest_filter()),
                order_by: vec!["metrics.acc DESC".into()],
                limit: Some(100),
                ..SearchRuns::default()
            };
            let mut answered = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match viewer.search_runs(&request).await {
                    Ok(_) => answered += 1,
                    // Interrupted at the deadline or refused while the pool is busy.
                    Err(ApiError::Server { status: 503, .. }) => {}
                    Err(other) => panic!("search: {other}"),
                }
            }
            answered
        }));
    }
    let mut slowest = Duration::ZERO;
    let mut requeued = None;
    while leased_at.elapsed() < Duration::from_secs(8) {
        let started = Instant::now();
        admin.get_run(1).await.unwrap();
        slowest = slowest.max(started.elapsed());
        let current = admin.get_job(job.id).await.unwrap();
        if requeued.is_none() && current.state != JobState::Running {
            requeued = Some(leased_at.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = 0;
    for task in storm {
        answered += task.await.unwrap();
    }
    assert!(answered > 0, "the searches themselves were answered");
    assert!(
        slowest < Duration::from_secs(1),
        "GET /runs/1 took {slowest:?} during the search storm"
    );
    // Lease 2 s, reaper every 0.5 s: requeued by about 2.5 s, allowing a missed tick or two.
    let requeued = requeued.expect("the lease reaper requeued the silent worker's job");
    assert!(
        requeued < Duration::from_secs(4),
        "requeued after {requeued:?}"
    );
}
