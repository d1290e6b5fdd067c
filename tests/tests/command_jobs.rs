//! Command jobs end to end: `slipway run` packs a team's own script
//! (`tests/python/command_train.py`, standard library only) and a real worker started with
//! `--allow-commands` runs it. Its metrics land on its run through the run-scoped token, its
//! output is the job log in order, a worker without the flag never leases it (and the job says
//! why it waits), cancel stops the script and its children, a failing script fails the job with
//! its exit code and the end of its stderr, and `--register-as` registers the model it wrote
//! (Slipway's own, or an ONNX file through the checked import).
//! A script instrumented with the real `mlflow` client (`tests/python/command_mlflow.py`) logs
//! to its run unchanged.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{ApiError, Client, CommandSpec, Job, JobState, SubmitJob, TrainSpec};
use slipway_tests::{TestServer, eventually, wait_job};
use std::path::Path;
use std::time::{Duration, Instant};

const IRIS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/iris.csv");
const DIGITS: &str = include_str!("../../datasets/digits.csv");

/// A code directory with the script, a helper file, and data that `.gitignore` leaves out.
fn code_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = slipway_tests::python::python_dir().join("command_train.py");
    std::fs::copy(script, dir.path().join("train.py")).unwrap();
    std::fs::create_dir_all(dir.path().join("lib")).unwrap();
    std::fs::write(dir.path().join("lib/helper.txt"), "packed\n").unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/big.csv"), "a,b\n1,2\n").unwrap();
    std::fs::write(dir.path().join(".gitignore"), "data/\n").unwrap();
    dir
}

/// `slipway run -d -o json … -- python3 train.py ARGS` in `code`; answers the queued job.
fn submit(server: &TestServer, code: &Path, flags: &[&str], script_args: &[&str]) -> Job {
    let code = code.to_str().unwrap();
    let mut args = vec!["-o", "json", "run", "-d", "--code", code];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--", "python3", "train.py"]);
    args.extend_from_slice(script_args);
    let (ok, out, err) = server.cli(&args);
    assert!(ok, "slipway run failed: {err}");
    serde_json::from_str(&out).unwrap()
}

fn run_of(job: &Job) -> i64 {
    match &job.spec {
        slipway_api::JobSpec::Command(spec) => spec.run_id.unwrap(),
        other => panic!("not a command job: {other:?}"),
    }
}

async fn log_lines(client: &Client, job: i64) -> Vec<String> {
    let logs = client.job_logs(job, 0, 1000).await.unwrap();
    logs.lines.into_iter().map(|l| l.message).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_logs_to_its_run_with_a_scoped_token_and_its_output_is_the_job_log() {
    let server = TestServer::start();
    let _worker = server.worker("commands", &["--allow-commands"]);
    let client = server.admin();
    let code = code_dir();
    let token_file = tempfile::NamedTempFile::new().unwrap();
    let env = format!("TOKEN_OUT={}", token_file.path().display());
    let job = submit(
        &server,
        code.path(),
        &["--env", &env, "--experiment", "own-code"],
        &["--epochs", "5", "--probe"],
    );
    let run_id = run_of(&job);
    let job = wait_job(&client, job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result: slipway_api::CommandResult = job.result_as().unwrap();
    assert_eq!((result.run_id, result.exit_code), (run_id, 0));
    assert_eq!(result.metrics.get("loss"), Some(&0.2));

    // The metrics are on the run, with the code's lineage.
    let run = client.get_run(run_id).await.unwrap();
    assert_eq!(run.run.metrics.get("loss"), Some(&0.2));
    assert_eq!(run.params.get("epochs").map(String::as_str), Some("5"));
    assert_eq!(run.run.status, slipway_api::RunStatus::Finished);
    let digest = run.tags.get(slipway_api::CODE_DIGEST_TAG).unwrap();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(run.code_version.as_ref(), Some(digest));
    assert_eq!(run.tags.get("job"), Some(&job.id.to_string()));
    assert!(run.artifacts.iter().any(|a| a.path == "code.tar.gz"));
    let query = slipway_api::MetricHistoryQuery {
        key: "loss".into(),
        max_points: None,
        limit: None,
        page_token: None,
    };
    let history = client.metric_history(run_id, &query).await.unwrap();
    assert_eq!(history.points.len(), 5);

    // Its stdout is the job log, in order; the environment is the worker's.
    let lines = log_lines(&client, job.id).await;
    let epochs: Vec<&String> = lines.iter().filter(|l| l.starts_with("epoch ")).collect();
    let expected: Vec<String> = (1..=5)
        .map(|e| format!("epoch {e} loss {:.4}", 1.0 / f64::from(e)))
        .collect();
    assert_eq!(epochs, expected.iter().collect::<Vec<_>>(), "{lines:#?}");
    let has = |text: &str| lines.iter().any(|l| l == text);
    assert!(has("cuda=[]"), "a CPU job sees no GPU: {lines:#?}");
    assert!(has(&format!("job={} run={run_id}", job.id)), "{lines:#?}");
    assert!(has("ignored file unpacked: False"), "{lines:#?}");
    assert!(has("helper: packed"), "{lines:#?}");
    // The token writes to its own run only, and submits nothing.
    assert!(has("other run: 403, submit: 403"), "{lines:#?}");

    // Once the job ended, the token is refused.
    let token = std::fs::read_to_string(token_file.path()).unwrap();
    let scoped = server.client(Some(token));
    let err = scoped.get_run(run_id).await.unwrap_err();
    assert!(matches!(err, ApiError::Server { status: 401, .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_using_the_mlflow_client_logs_to_its_run_unchanged() {
    let venv = tokio::task::spawn_blocking(slipway_tests::python::venv)
        .await
        .unwrap();
    let python = venv.join("bin").join("python");
    let server = TestServer::start();
    let _worker = server.worker("commands", &["--allow-commands"]);
    let client = server.admin();
    let code = tempfile::tempdir().unwrap();
    let script = slipway_tests::python::python_dir().join("command_mlflow.py");
    std::fs::copy(script, code.path().join("train.py")).unwrap();
    let (ok, out, err) = server.cli(&[
        "-o",
        "json",
        "run",
        "-d",
        "--code",
        code.path().to_str().unwrap(),
        // MLflow's own variables are the worker's to set; this one keeps telemetry off.
        "--env",
        "DO_NOT_TRACK=true",
        "--",
        python.to_str().unwrap(),
        "train.py",
    ]);
    assert!(ok, "slipway run failed: {err}");
    let job: Job = serde_json::from_str(&out).unwrap();
    let run_id = run_of(&job);
    let job = wait_job(&client, job.id).await;
    let lines = log_lines(&client, job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?} {lines:#?}", job.error);

    let run = client.get_run(run_id).await.unwrap();
    assert_eq!(run.params.get("lr").map(String::as_str), Some("0.1"));
    assert_eq!(
        run.tags.get("framework").map(String::as_str),
        Some("mlflow")
    );
    assert_eq!(run.run.metrics.get("acc"), Some(&0.8));
    let query = slipway_api::MetricHistoryQuery {
        key: "acc".into(),
        max_points: None,
        limit: None,
        page_token: None,
    };
    let steps: Vec<i64> = client
        .metric_history(run_id, &query)
        .await
        .unwrap()
        .points
        .iter()
        .map(|point| point.step)
        .collect();
    assert_eq!(steps, [0, 1, 2, 3]);
    let printed: Vec<&String> = lines.iter().filter(|l| l.starts_with("step ")).collect();
    assert_eq!(
        printed,
        ["step 0", "step 1", "step 2", "step 3"],
        "{lines:#?}"
    );
    // The scoped token is held to its run through the MLflow API too.
    assert!(
        lines.iter().any(|l| l == "other run: PERMISSION_DENIED"),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_without_allow_commands_never_leases_a_command_job() {
    let server = TestServer::start();
    let _plain = server.worker("plain", &[]);
    let client = server.admin();
    let spec = CommandSpec {
        command: vec!["python3".into(), "-c".into(), "print('ran')".into()],
        ..CommandSpec::default()
    };
    let command = client.submit_job(&SubmitJob::new(spec)).await.unwrap();
    assert!(command.requirements.commands);
    // A job queued after it runs: the worker leases, and passed the command job over.
    let sleep =
        slipway_tests::run_job(&client, slipway_api::SleepSpec { seconds: Some(0.1) }).await;
    assert_eq!(sleep.state, JobState::Succeeded);
    let waiting = client.get_job(command.id).await.unwrap();
    assert_eq!(waiting.state, JobState::Queued);
    assert_eq!(waiting.attempts, 0);
    let reason = waiting.waiting_reason.unwrap_or_default();
    assert!(reason.contains("--allow-commands"), "{reason}");
    let workers = client
        .list_workers(&slipway_api::PageRequest::default())
        .await
        .unwrap();
    assert!(workers.items.iter().all(|w| !w.allow_commands));

    // A worker that opted in takes it.
    let _commands = server.worker("commands", &["--allow-commands"]);
    let job = wait_job(&client, command.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(job.worker.as_deref(), Some("commands"));
    assert!(log_lines(&client, job.id).await.contains(&"ran".to_owned()));
}

/// Whether process `pid` is gone (a zombie waiting for its reaper counts as gone).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_the_script_and_its_children() {
    let server = TestServer::start();
    let _worker = server.worker("commands", &["--allow-commands"]);
    let client = server.admin();
    let code = code_dir();
    let job = submit(&server, code.path(), &[], &["--hang"]);
    let pids: Vec<u32> = eventually("the script's pids", Duration::from_secs(60), || {
        let client = client.clone();
        async move {
            let lines = log_lines(&client, job.id).await;
            let line = lines.iter().find(|l| l.starts_with("pids "))?;
            Some(line[5..].split(' ').map(|p| p.parse().unwrap()).collect())
        }
    })
    .await;
    assert_eq!(pids.len(), 2);
    assert!(
        pids.iter().all(|&pid| !gone(pid)),
        "both run before the cancel"
    );

    let asked = Instant::now();
    client.cancel_job(job.id, Some("stop")).await.unwrap();
    // The issue's bound: the script and its child end within 2 s of the cancel.
    eventually(
        "the script and its child sleep to end",
        Duration::from_secs(2),
        || async { pids.iter().all(|&pid| gone(pid)).then_some(()) },
    )
    .await;
    let stopped_in = asked.elapsed();
    let job = wait_job(&client, job.id).await;
    assert_eq!(job.state, JobState::Cancelled, "{:?}", job.error);
    let run = client.get_run(run_of(&job)).await.unwrap();
    assert_eq!(run.run.status, slipway_api::RunStatus::Killed);
    println!("the script and its child ended {stopped_in:?} after the cancel");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_script_fails_with_its_exit_code_and_the_end_of_its_stderr() {
    let server = TestServer::start();
    let _worker = server.worker("commands", &["--allow-commands"]);
    let client = server.admin();
    let code = code_dir();
    let job = submit(&server, code.path(), &["--max-attempts", "1"], &["--fail"]);
    let job = wait_job(&client, job.id).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.clone().unwrap();
    assert!(error.contains("exit code 3"), "{error}");
    assert!(
        error.contains("ValueError: the learning rate is negative"),
        "{error}"
    );
    assert!(error.contains("noise 29"), "the tail: {error}");
    assert!(!error.contains("noise 0\n"), "only the tail: {error}");
    let run = client.get_run(run_of(&job)).await.unwrap();
    assert_eq!(run.run.status, slipway_api::RunStatus::Failed);
    // Its stderr is in the job log too.
    let lines = log_lines(&client, job.id).await;
    assert!(lines.iter().any(|l| l == "noise 0"), "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn register_as_registers_the_model_the_script_wrote() {
    let server = TestServer::start();
    let _worker = server.worker("commands", &["--allow-commands"]);
    let client = server.admin();
    client
        .upload_dataset(
            "iris",
            "species",
            Some("classification"),
            std::fs::read(IRIS).unwrap(),
        )
        .await
        .unwrap();
    // A model for the script to "train": it copies this run's files, as a team's script
    // writes the model it trained.
    let trained = slipway_tests::run_job(
        &client,
        TrainSpec {
            dataset: "iris".into(),
            arch: Some("logreg".into()),
            epochs: Some(2),
            ..TrainSpec::default()
        },
    )
    .await;
    assert_eq!(trained.state, JobState::Succeeded, "{:?}", trained.error);
    let source: slipway_api::TrainResult = trained.result_as().unwrap();
    let code = code_dir();
    let source_run = source.run_id.to_string();
    let job = submit(
        &server,
        code.path(),
        &["--register-as", "iris-own", "--model-path", "out"],
        &["--epochs", "2", "--copy-model", &source_run],
    );
    let job = wait_job(&client, job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result: slipway_api::CommandResult = job.result_as().unwrap();
    assert_eq!(result.model.as_deref(), Some("iris-own"));
    assert_eq!(result.version, Some(1));
    let versions = client.model_versions("iris-own").await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].run_id, Some(run_of(&job)));
}

/// A script that writes the model a team exported elsewhere: an ONNX file (copied from the
/// fixtures) and its signature beside it.
const WRITE_ONNX: &str = r#"
import json, os, shutil, sys
os.makedirs("out", exist_ok=True)
shutil.copy(sys.argv[1], "out/digits.onnx")
with open("out/digits.signature.json", "w") as f:
    json.dump({"inputs": [f"pixel_{i}" for i in range(64)], "labels": [str(i) for i in range(10)]}, f)
print("wrote out/digits.onnx")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn register_as_imports_an_onnx_file_the_script_wrote() {
    let server = TestServer::start();
    let _worker = server.worker("commands", &["--allow-commands"]);
    let client = server.admin();
    let code = tempfile::tempdir().unwrap();
    std::fs::write(code.path().join("train.py"), WRITE_ONNX).unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/onnx/digits_mlp.onnx");
    let job = submit(
        &server,
        code.path(),
        &[
            "--register-as",
            "digits-own",
            "--model-path",
            "out/digits.onnx",
        ],
        &[fixture],
    );
    let job = wait_job(&client, job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result: slipway_api::CommandResult = job.result_as().unwrap();
    assert_eq!(
        (result.model.as_deref(), result.version),
        (Some("digits-own"), Some(1))
    );
    // Registered through the import: an ONNX version with the run as its source, and the
    // files stored with the run.
    let version = client.model_version("digits-own", "1").await.unwrap();
    assert_eq!(version.run_id, Some(run_of(&job)));
    assert_eq!(version.arch, "onnx");
    assert_eq!(version.features.len(), 64);
    let artifacts = client.list_artifacts(run_of(&job)).await.unwrap();
    let names: Vec<&str> = artifacts.iter().map(|a| a.path.as_str()).collect();
    assert!(names.contains(&"digits.onnx"), "{names:?}");
    assert!(names.contains(&"digits.signature.json"), "{names:?}");

    // The version deploys and predicts.
    let deploy = slipway_api::DeployRequest {
        model: Some("digits-own".into()),
        version: Some(1),
        ..slipway_api::DeployRequest::default()
    };
    client.deploy("digits-own", &deploy, None).await.unwrap();
    let rows = slipway_tests::digits_instances(|v| v);
    let request = slipway_api::PredictRequest {
        instances: rows[..20].to_vec(),
        key: None,
    };
    let answer = client.predict("digits-own", &request).await.unwrap();
    let truth: Vec<&str> = DIGITS
        .lines()
        .skip(1)
        .take(20)
        .map(|line| line.rsplit(',').next().unwrap())
        .collect();
    let right = answer
        .predictions
        .iter()
        .zip(&truth)
        .filter(|(prediction, truth)| {
            matches!(prediction, slipway_api::Prediction::Class { label, .. } if **label == ***truth)
        })
        .count();
    assert!(right >= 18, "{right} of 20 right: {:?}", answer.predictions);
}
