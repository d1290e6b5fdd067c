use super::*;
use crate::{JobState, ModelRef, Requirements, Step, SubmitJob};
use serde_json::json;

fn round_trip(wire: serde_json::Value) -> JobSpec {
    let spec: JobSpec = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(serde_json::to_value(&spec).unwrap(), wire, "{spec:?}");
    spec
}

#[test]
fn kinds_read_and_write_their_lowercase_names() {
    for kind in JobKind::ALL {
        let text = serde_json::to_value(kind).unwrap();
        assert_eq!(text, json!(kind.as_str()));
        assert_eq!(serde_json::from_value::<JobKind>(text).unwrap(), kind);
        assert_eq!(kind.to_string().parse::<JobKind>().unwrap(), kind);
    }
    assert_eq!(
        serde_json::to_value(JobKind::ALL).unwrap(),
        json!([
            "sleep", "fail", "train", "evaluate", "deploy", "pipeline", "command"
        ])
    );
    let err = "sleeep".parse::<JobKind>().unwrap_err();
    assert_eq!(
        err,
        "unknown job kind 'sleeep'; expected one of sleep, fail, train, evaluate, deploy, pipeline, command"
    );
}

#[test]
fn only_a_pipeline_coordinates_and_only_deploys_and_pipelines_operate() {
    let coordinating: Vec<JobKind> = JobKind::ALL
        .into_iter()
        .filter(|k| k.coordinates())
        .collect();
    assert_eq!(coordinating, [JobKind::Pipeline]);
    assert!(JobKind::Train.takes_a_slot());
    assert!(!JobKind::Pipeline.takes_a_slot());
    let operating: Vec<JobKind> = JobKind::ALL.into_iter().filter(|k| k.operates()).collect();
    assert_eq!(operating, [JobKind::Deploy, JobKind::Pipeline]);
}

#[test]
fn every_kind_round_trips_with_todays_wire_json() {
    let sleep = round_trip(json!({"kind": "sleep", "spec": {"seconds": 1}}));
    assert_eq!(sleep, JobSpec::Sleep(SleepSpec { seconds: Some(1.0) }));
    round_trip(json!({"kind": "sleep", "spec": {"seconds": 0.25}}));
    let fail = round_trip(json!({"kind": "fail", "spec": {"message": "boom"}}));
    assert_eq!(
        fail,
        JobSpec::Fail(FailSpec {
            message: Some("boom".into())
        })
    );
    let train = round_trip(json!({"kind": "train", "spec": {"dataset": "iris"}}));
    assert!(matches!(&train, JobSpec::Train(spec) if spec.dataset == "iris"));
    let evaluate = round_trip(json!({"kind": "evaluate", "spec": {"model": {"run_id": 4}}}));
    let JobSpec::Evaluate(spec) = evaluate else {
        panic!("{evaluate:?}")
    };
    assert_eq!(
        spec.model,
        ModelRef {
            run_id: Some(4),
            ..ModelRef::default()
        }
    );
    let deploy = round_trip(json!({
        "kind": "deploy",
        "spec": {"deployment": "live", "model": "iris", "version": 2}
    }));
    assert_eq!(deploy.kind(), JobKind::Deploy);
    let pipeline = round_trip(json!({
        "kind": "pipeline",
        "spec": {"model": "m", "steps": [{"kind": "train", "train": {"dataset": "d"}}]}
    }));
    let JobSpec::Pipeline(spec) = pipeline else {
        panic!("{pipeline:?}")
    };
    assert!(matches!(spec.steps[0], Step::Train { .. }));
    assert_eq!(spec.steps[0].job_kind(), Some(JobKind::Train));
    assert_eq!(Step::Register { alias: None }.job_kind(), None);
}

#[test]
fn a_missing_or_null_spec_is_an_empty_one() {
    let missing: JobSpec = serde_json::from_value(json!({"kind": "sleep"})).unwrap();
    assert_eq!(missing, JobSpec::Sleep(SleepSpec::default()));
    let null: JobSpec = serde_json::from_value(json!({"kind": "fail", "spec": null})).unwrap();
    assert_eq!(null, JobSpec::Fail(FailSpec::default()));
    assert_eq!(
        serde_json::to_value(&missing).unwrap(),
        json!({"kind": "sleep", "spec": {}})
    );
    // Defaults are the handler's.
    assert_eq!(SleepSpec::default().seconds(), 1.0);
    assert_eq!(
        FailSpec::default().message(),
        "failed on purpose (a 'fail' job)"
    );
}

#[test]
fn bad_wire_json_is_an_error_naming_the_field() {
    let error = |wire: serde_json::Value| {
        serde_json::from_value::<JobSpec>(wire)
            .unwrap_err()
            .to_string()
    };
    let unknown = error(json!({"kind": "teach", "spec": {}}));
    assert!(
        unknown.starts_with("kind: unknown job kind 'teach'; expected one of sleep"),
        "{unknown}"
    );
    assert!(error(json!({"spec": {}})).starts_with("kind: missing"));
    assert_eq!(
        error(json!({"kind": "sleep", "spec": [1]})),
        "spec: expected a JSON object"
    );
    let seconds = error(json!({"kind": "sleep", "spec": {"seconds": "x"}}));
    assert!(
        seconds.starts_with("spec: invalid type: string \"x\""),
        "{seconds}"
    );
    let train = error(json!({"kind": "train", "spec": {}}));
    assert_eq!(train, "spec: missing field `dataset`");
    let big = error(json!({"kind": "sleep", "spec": {"pad": "x".repeat(MAX_SPEC_BYTES)}}));
    assert!(
        big.starts_with("spec: at most 65536 bytes serialised, got "),
        "{big}"
    );
    let range = JobSpec::Sleep(SleepSpec {
        seconds: Some(-1.0),
    })
    .validate()
    .unwrap_err();
    assert_eq!(range, "spec.seconds: expected 0 to 86400, got -1");
}

#[test]
fn a_submitted_job_keeps_its_flat_wire_shape() {
    let wire = json!({
        "kind": "sleep",
        "spec": {"seconds": 5},
        "priority": 3,
        "requirements": {"gpus": 0},
        "max_attempts": 2
    });
    let request: SubmitJob = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(
        request.spec,
        JobSpec::Sleep(SleepSpec { seconds: Some(5.0) })
    );
    assert_eq!(request.priority, 3);
    assert_eq!(request.requirements, Requirements::default());
    assert_eq!(serde_json::to_value(&request).unwrap(), wire);
    let bare: SubmitJob = serde_json::from_value(json!({"kind": "fail"})).unwrap();
    assert_eq!(bare, SubmitJob::new(FailSpec::default()));
    let unknown = serde_json::from_value::<SubmitJob>(json!({"kind": "nap"})).unwrap_err();
    assert!(
        unknown
            .to_string()
            .starts_with("kind: unknown job kind 'nap'"),
        "{unknown}"
    );
}

#[test]
fn a_result_reads_as_its_jobs_kind_only() {
    let job: crate::Job = serde_json::from_value(json!({
        "id": 7, "kind": "train", "state": "succeeded", "spec": {"dataset": "iris"},
        "priority": 0, "requirements": {}, "attempts": 1, "max_attempts": 3, "progress": 1.0,
        "result": {"run_id": 4, "metrics": {"accuracy": 0.5}, "model": "iris", "version": 2},
        "created_by": "alice", "created_at": "2026-01-01T00:00:00Z"
    }))
    .unwrap();
    assert_eq!(job.state, JobState::Succeeded);
    let result = job.result_as::<crate::TrainResult>().unwrap();
    assert_eq!((result.run_id, result.version), (4, Some(2)));
    assert_eq!(result.metrics["accuracy"], 0.5);
    let wrong = job
        .result_as::<crate::PipelineResult>()
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains("job 7 is a train job, not pipeline"),
        "{wrong}"
    );
}
