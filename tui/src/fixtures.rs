//! Fixed sample data for the snapshot tests and the frame benchmark: a small, realistic set of
//! every kind the client shows, and lists of any length.

use crate::app::App;
use crate::data::{
    DeploymentData, DeploymentHealth, JobData, Loaded, ModelData, RunData, ScheduleData, Stream,
    WorkerData,
};
use chrono::{DateTime, Utc};
use slipway_api::*;
use std::collections::BTreeMap;

/// 2026-11-29 12:00 UTC plus `minutes`.
pub fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_953_600 + minutes * 60, 0).unwrap_or_default()
}

fn spec(primary: u32, canary: Option<(u32, f64)>) -> DeploymentSpec {
    DeploymentSpec {
        model: "iris".into(),
        primary,
        canary: canary.map(|(version, percent)| Canary { version, percent }),
        shadow: None,
    }
}

pub fn deployment() -> Deployment {
    Deployment {
        name: "iris-prod".into(),
        revision: 3,
        spec: spec(2, Some((3, 10.0))),
        ready: true,
        created_at: at(0),
        updated_at: at(30),
    }
}

pub fn job(id: i64, state: JobState) -> Job {
    Job {
        id,
        spec: if id % 3 == 0 {
            slipway_api::JobSpec::from(slipway_api::EvaluateSpec::default())
        } else {
            slipway_api::JobSpec::from(slipway_api::TrainSpec::default())
        },
        state,
        priority: 0,
        requirements: Requirements::default(),
        attempts: 1,
        max_attempts: 3,
        worker: (state == JobState::Running).then(|| "embedded".to_owned()),
        progress: if state.is_terminal() { 1.0 } else { 0.4 },
        progress_message: (state == JobState::Running).then(|| "epoch 16/40 loss 0.31".to_owned()),
        result: None,
        error: (state == JobState::Failed).then(|| "dataset iris v9 not found".to_owned()),
        cancel_requested: false,
        parent_id: None,
        schedule_id: None,
        created_by: "admin".into(),
        created_at: at(id),
        started_at: Some(at(id)),
        finished_at: None,
        waiting_reason: None,
        gpu_devices: Vec::new(),
    }
}

pub fn run(id: i64) -> Run {
    Run {
        id,
        experiment_id: 1,
        name: format!("iris-mlp-{id}"),
        status: if id % 5 == 0 {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        },
        start_time: at(id),
        end_time: None,
        created_by: "admin".into(),
        metrics: BTreeMap::from([
            ("test_accuracy".to_owned(), 0.9 + (id % 10) as f64 / 100.0),
            ("val_loss".to_owned(), 0.3 - (id % 10) as f64 / 100.0),
        ]),
    }
}

fn revision(revision: u32, action: &str, spec: DeploymentSpec, reason: &str) -> DeploymentRevision {
    DeploymentRevision {
        revision,
        action: action.into(),
        spec,
        previous: None,
        rolled_back_to: None,
        actor: "admin".into(),
        reason: Some(reason.into()),
        created_at: at(i64::from(revision) * 10),
    }
}

fn version(number: u32, accuracy: f64, aliases: &[&str]) -> ModelVersion {
    ModelVersion {
        model: "iris".into(),
        version: number,
        run_id: Some(i64::from(number)),
        artifact_digest: "ab".repeat(32),
        manifest_digest: "cd".repeat(32),
        arch: "mlp".into(),
        task: "classification".into(),
        features: vec!["sepal_length".into(), "petal_width".into()],
        signature: Vec::new(),
        labels: vec!["setosa".into(), "versicolor".into(), "virginica".into()],
        dataset: None,
        params: BTreeMap::new(),
        seed: Some(7),
        code_version: None,
        metrics: BTreeMap::from([("test_accuracy".to_owned(), accuracy)]),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        description: None,
        created_by: "admin".into(),
        created_at: at(i64::from(number)),
        onnx: None,
    }
}

pub fn alert(id: i64) -> Alert {
    Alert {
        id,
        deployment: "iris-prod".into(),
        kind: "drift".into(),
        severity: "warn".into(),
        message: "petal_width PSI 0.14 above 0.1".into(),
        details: Default::default(),
        created_at: at(40),
        acknowledged_by: None,
        acknowledged_at: None,
    }
}

/// The deployments list's health: iris-prod drifting with an open alert, wine-staging idle.
pub fn health() -> BTreeMap<String, DeploymentHealth> {
    let metrics = deployment_data().metrics;
    BTreeMap::from([
        (
            "iris-prod".to_owned(),
            DeploymentHealth {
                metrics,
                drift: Some("warn".into()),
                open_alerts: 1,
            },
        ),
        (
            "wine-staging".to_owned(),
            DeploymentHealth {
                metrics: None,
                drift: Some("insufficient_data".into()),
                open_alerts: 0,
            },
        ),
    ])
}

pub fn deployment_data() -> DeploymentData {
    let versions = |version: u32, variant: &str, requests: u64, p99: f64| VersionMetrics {
        version,
        variant: variant.into(),
        requests,
        errors: 1,
        errors_by_kind: BTreeMap::new(),
        error_rate: 1.0 / requests as f64,
        requests_per_sec: requests as f64 / 60.0,
        p50_ms: Some(p99 / 3.0),
        p90_ms: None,
        p99_ms: Some(p99),
        predictions: BTreeMap::new(),
    };
    DeploymentData {
        deployment: deployment(),
        revisions: vec![
            revision(3, "deploy", spec(2, Some((3, 10.0))), "canary v3"),
            DeploymentRevision {
                previous: Some(DeploymentSpec {
                    model: "flowers".into(),
                    ..spec(1, None)
                }),
                ..revision(2, "deploy", spec(2, None), "better accuracy")
            },
            revision(
                1,
                "deploy",
                DeploymentSpec {
                    model: "flowers".into(),
                    ..spec(1, None)
                },
                "first release",
            ),
        ],
        metrics: Some(DeploymentMetrics {
            deployment: "iris-prod".into(),
            revision: 3,
            window_secs: 60,
            versions: vec![
                versions(2, "primary", 540, 4.2),
                versions(3, "canary", 60, 5.0),
            ],
        }),
        history: (0..30)
            .map(|minute| MinuteMetrics {
                version: 2,
                minute: at(minute),
                requests: 300 + (minute as u64 * 37) % 250,
                errors: (minute as u64) % 3,
                p50_ms: Some(1.5),
                p99_ms: Some(3.0 + (minute % 7) as f64),
                predictions: BTreeMap::new(),
            })
            .collect(),
        drift: Some(DriftReport {
            predictions: Vec::new(),
            live_baseline: None,
            deployment: "iris-prod".into(),
            version: 2,
            rows: 1000,
            callers: 2,
            features: vec![
                FeatureDrift {
                    feature: "petal_width".into(),
                    psi: 0.14,
                    psi_noise: 0.0,
                    ks: 0.2,
                    status: "warn".into(),
                },
                FeatureDrift {
                    feature: "sepal_length".into(),
                    psi: 0.03,
                    psi_noise: 0.0,
                    ks: 0.05,
                    status: "stable".into(),
                },
            ],
            prediction_psi: Some(0.01),
            prediction_psi_noise: None,
            status: "warn".into(),
        }),
        alerts: vec![alert(4)],
        versions: vec![
            version(3, 0.97, &["challenger"]),
            version(2, 0.96, &["champion"]),
            version(1, 0.93, &[]),
        ],
    }
}

pub fn run_data() -> RunData {
    let curve = |key: &str, start: f64, step: f64| MetricHistory {
        key: key.into(),
        points: (0..40)
            .map(|i| MetricValue {
                step: i,
                value: start + step * (1.0 - (-(i as f64) / 8.0).exp()),
                timestamp: at(i),
            })
            .collect(),
        downsampled: false,
        next_page_token: None,
    };
    RunData {
        detail: RunDetail {
            run: run(12),
            params: BTreeMap::from([
                ("epochs".to_owned(), "40".to_owned()),
                ("hidden".to_owned(), "[16]".to_owned()),
                ("learning_rate".to_owned(), "0.01".to_owned()),
            ]),
            tags: BTreeMap::from([("dataset".to_owned(), "iris".to_owned())]),
            artifacts: vec![Artifact {
                path: "model.safetensors".into(),
                digest: "ef".repeat(32),
                size: 2_436,
                created_at: at(12),
            }],
            dataset_digest: Some("0123456789abcdef".repeat(4)),
            code_version: None,
            seed: Some(7),
        },
        curves: vec![
            curve("train_loss", 1.1, -0.9),
            curve("val_accuracy", 0.3, 0.65),
        ],
    }
}

pub fn job_data() -> JobData {
    let logs: Vec<JobLogLine> = (1..=30)
        .map(|i| JobLogLine {
            id: i,
            attempt: 1,
            at: at(i),
            level: if i == 30 { "warn" } else { "info" }.into(),
            message: format!("epoch {i}/40 loss {:.3}", 1.0 / i as f64),
        })
        .collect();
    JobData {
        job: job(7, JobState::Running),
        next_after: 30,
        logs,
    }
}

/// The model detail of `iris`: three versions, served by the sample's deployments.
pub fn model_data() -> ModelData {
    let mut shadowed = deployment();
    shadowed.name = "iris-staging".into();
    shadowed.spec = DeploymentSpec {
        shadow: Some(1),
        ..spec(3, None)
    };
    ModelData {
        model: RegisteredModel {
            name: "iris".into(),
            description: Some("iris classifier".into()),
            latest_version: Some(3),
            version_count: 3,
            aliases: BTreeMap::from([("champion".to_owned(), 2), ("challenger".to_owned(), 3)]),
            created_at: at(0),
            updated_at: at(20),
        },
        versions: vec![
            version(3, 0.97, &["challenger"]),
            version(2, 0.96, &["champion"]),
            version(1, 0.93, &[]),
        ],
        deployments: vec![deployment(), shadowed],
    }
}

/// The worker detail of `embedded`: one job running, two done.
pub fn worker_data() -> WorkerData {
    let mut jobs = vec![
        job(9, JobState::Running),
        job(8, JobState::Failed),
        job(7, JobState::Succeeded),
    ];
    for job in &mut jobs {
        job.worker = Some("embedded".into());
    }
    WorkerData {
        worker: Worker {
            id: 1,
            name: "embedded".into(),
            version: "0.1.0".into(),
            cpu_cores: 16,
            cuda_devices: 0,
            labels: vec!["cpu".into()],
            concurrency: 2,
            allow_commands: false,
            state: WorkerState::Active,
            registered_at: at(0),
            last_heartbeat_at: at(59),
            running_jobs: vec![9],
        },
        jobs,
    }
}

/// The schedule detail of `nightly-iris`: fired, skipped, failed.
pub fn schedule_data(schedule: Schedule) -> ScheduleData {
    let firing = |id: i64, day: i64, outcome: &str, job: Option<(i64, &str)>| Firing {
        id,
        due_at: at(day * 24 * 60),
        fired_at: at(day * 24 * 60 + 1),
        outcome: outcome.into(),
        job_id: job.map(|(id, _)| id),
        job_state: job.map(|(_, state)| state.to_owned()),
        message: (outcome == "overlap_skipped").then(|| "job 5 still running".to_owned()),
    };
    ScheduleData {
        schedule,
        firings: vec![
            firing(3, -1, "fired", Some((7, "succeeded"))),
            firing(2, -2, "overlap_skipped", None),
            firing(1, -3, "fired", Some((5, "failed"))),
        ],
    }
}

/// Three servers of a contexts file.
pub fn contexts() -> Vec<crate::contexts::Context> {
    use crate::contexts::{Context, TokenSource};
    vec![
        Context {
            name: "local".into(),
            server: "http://127.0.0.1:8080".into(),
            token: TokenSource::None,
        },
        Context {
            name: "staging".into(),
            server: "https://staging.slipway.example.com".into(),
            token: TokenSource::Literal("secret".into()),
        },
        Context {
            name: "prod".into(),
            server: "https://slipway.example.com".into(),
            token: TokenSource::Env("SLIPWAY_PROD_TOKEN".into()),
        },
    ]
}

/// A client with the small sample loaded into every list, live, as an admin.
pub fn app() -> App {
    let mut app = App::new("http://127.0.0.1:8080");
    app.take_requests();
    app.loaded(Loaded::Identity(Identity {
        name: "admin".into(),
        role: Role::Admin,
    }));
    app.loaded(Loaded::Stream(Stream::Live));
    app.take_requests();
    app.loaded(Loaded::Deployments(
        vec![
            deployment(),
            Deployment {
                name: "wine-staging".into(),
                revision: 1,
                spec: DeploymentSpec {
                    model: "wine".into(),
                    primary: 1,
                    canary: None,
                    shadow: Some(2),
                },
                ready: false,
                created_at: at(5),
                updated_at: at(5),
            },
        ],
        health(),
    ));
    app.loaded(Loaded::Models(vec![RegisteredModel {
        name: "iris".into(),
        description: Some("iris classifier".into()),
        latest_version: Some(3),
        version_count: 3,
        aliases: BTreeMap::from([("champion".to_owned(), 2), ("challenger".to_owned(), 3)]),
        created_at: at(0),
        updated_at: at(20),
    }]));
    app.loaded(Loaded::Runs((1..=3).rev().map(run).collect()));
    app.loaded(Loaded::Jobs(vec![
        job(9, JobState::Running),
        job(8, JobState::Failed),
        job(7, JobState::Succeeded),
    ]));
    app.loaded(Loaded::Workers(vec![Worker {
        id: 1,
        name: "embedded".into(),
        version: "0.1.0".into(),
        cpu_cores: 16,
        cuda_devices: 0,
        labels: Vec::new(),
        concurrency: 2,
        allow_commands: false,
        state: WorkerState::Active,
        registered_at: at(0),
        last_heartbeat_at: at(59),
        running_jobs: vec![9],
    }]));
    app.loaded(Loaded::Schedules(vec![Schedule {
        id: 1,
        name: "nightly-iris".into(),
        cron: "0 2 * * *".into(),
        timezone: "UTC".into(),
        job: SubmitJob::new(slipway_api::PipelineSpec {
            name: None,
            model: "iris".into(),
            deployment: None,
            steps: Vec::new(),
        }),
        misfire: Misfire::default(),
        overlap: Overlap::default(),
        on_drift: None,
        paused: false,
        next_fire_times: vec![at(14 * 60)],
        last_fire_at: None,
        created_by: "admin".into(),
        created_at: at(0),
    }]));
    app.loaded(Loaded::Alerts(vec![alert(4)]));
    app.loaded(Loaded::Audit(vec![AuditEvent {
        id: 1,
        at: at(30),
        actor: "admin".into(),
        action: "deployment.deploy".into(),
        target_kind: "deployment".into(),
        target_id: "iris-prod".into(),
        reason: Some("canary v3 after a week of shadow traffic without disagreement, checked by the on-call engineer".into()),
        details: Some(serde_json::json!({"canary_percent": 10.0, "version": 3})),
    }]));
    app
}

/// A client with `n` jobs and `n` runs.
pub fn big(n: i64) -> App {
    let mut app = app();
    let states = JobState::ALL;
    app.loaded(Loaded::Jobs(
        (1..=n)
            .rev()
            .map(|id| job(id, states[(id % 5) as usize]))
            .collect(),
    ));
    app.loaded(Loaded::Runs((1..=n).rev().map(run).collect()));
    app
}
