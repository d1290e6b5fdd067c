//! Fixture data for the page tests.

use crate::layout::{Frame, Session};
use chrono::{DateTime, TimeZone, Utc};
use slipway_api::*;
use std::collections::BTreeMap;

pub fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 9, minute, 0)
        .single()
        .unwrap_or_default()
}

pub fn frame(role: Role) -> Frame {
    Frame {
        session: Some(Session {
            user: format!("{role}-user"),
            role,
            csrf: "csrf-123".into(),
        }),
        flash: None,
        bundle: None,
    }
}

pub fn spec(primary: u32) -> DeploymentSpec {
    DeploymentSpec {
        model: "digits".into(),
        primary,
        canary: Some(Canary {
            version: primary + 1,
            percent: 10.0,
        }),
        shadow: None,
    }
}

pub fn deployment(name: &str, revision: u32) -> Deployment {
    Deployment {
        name: name.into(),
        revision,
        spec: spec(2),
        ready: true,
        created_at: at(0),
        updated_at: at(5),
    }
}

pub fn version_metrics(version: u32) -> VersionMetrics {
    VersionMetrics {
        version,
        variant: "primary".into(),
        requests: 600,
        errors: 12,
        errors_by_kind: BTreeMap::from([("invalid_input".to_owned(), 12)]),
        error_rate: 0.02,
        requests_per_sec: 10.0,
        p50_ms: Some(2.0),
        p90_ms: Some(6.0),
        p99_ms: Some(12.5),
        predictions: BTreeMap::new(),
    }
}

pub fn alert(deployment: &str) -> Alert {
    Alert {
        id: 1,
        deployment: deployment.into(),
        kind: "error_rate".into(),
        severity: "alert".into(),
        message: "error rate above 5 %".into(),
        details: serde_json::Value::Null,
        created_at: at(3),
        acknowledged_by: None,
        acknowledged_at: None,
    }
}

pub fn job(id: i64) -> Job {
    Job {
        id,
        spec: slipway_api::TrainSpec {
            dataset: "digits".into(),
            ..slipway_api::TrainSpec::default()
        }
        .into(),
        state: JobState::Running,
        priority: 0,
        requirements: Requirements::default(),
        attempts: 1,
        max_attempts: 3,
        worker: Some("w1".into()),
        progress: 0.5,
        progress_message: Some("epoch 5/10".into()),
        result: None,
        error: None,
        cancel_requested: false,
        parent_id: None,
        schedule_id: None,
        created_by: "alice".into(),
        created_at: at(1),
        started_at: Some(at(2)),
        finished_at: None,
        waiting_reason: None,
        gpu_devices: Vec::new(),
    }
}

pub fn run(id: i64, name: &str) -> Run {
    Run {
        id,
        experiment_id: 1,
        name: name.into(),
        status: RunStatus::Finished,
        start_time: at(4),
        end_time: Some(at(6)),
        created_by: "alice".into(),
        metrics: BTreeMap::from([("accuracy".to_owned(), 0.9712), ("loss".to_owned(), 0.1)]),
    }
}

pub fn audit(kind: &str, id: &str, reason: &str) -> AuditEvent {
    AuditEvent {
        id: 1,
        at: at(7),
        actor: "alice".into(),
        action: format!("{kind}.rollback"),
        target_kind: kind.into(),
        target_id: id.into(),
        reason: Some(reason.into()),
        details: None,
    }
}

pub fn model_version(version: u32, accuracy: f64) -> ModelVersion {
    ModelVersion {
        model: "digits".into(),
        version,
        run_id: Some(40 + i64::from(version)),
        artifact_digest: "ab".repeat(32),
        manifest_digest: "cd".repeat(32),
        arch: "mlp".into(),
        task: "classification".into(),
        features: vec!["p0".into(), "p1".into()],
        signature: Vec::new(),
        labels: vec!["0".into(), "1".into()],
        dataset: Some(DatasetRef {
            name: "digits".into(),
            version: 1,
            digest: "ef".repeat(32),
        }),
        params: BTreeMap::from([("lr".to_owned(), "0.01".to_owned())]),
        seed: Some(7),
        code_version: Some("0.1.0".into()),
        metrics: BTreeMap::from([("test_accuracy".to_owned(), accuracy)]),
        aliases: if version == 2 {
            vec!["champion".into()]
        } else {
            Vec::new()
        },
        description: None,
        created_by: "alice".into(),
        created_at: at(version),
        onnx: None,
    }
}

pub fn minute_metrics(
    version: u32,
    minute: DateTime<Utc>,
    requests: u64,
    p99_ms: Option<f64>,
) -> MinuteMetrics {
    MinuteMetrics {
        version,
        minute,
        requests,
        errors: 0,
        p50_ms: p99_ms.map(|ms| ms / 2.0),
        p99_ms,
        predictions: BTreeMap::new(),
    }
}
