//! The command line as a person reads it, against a real server: dataset download and
//! statistics, errors as JSON with `--output json`, the hint when no token is found, schedule
//! times in their zone, and running jobs in `workers list`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{Role, SleepSpec, SubmitJob};
use slipway_tests::{TestServer, command, eventually, new_token};
use std::time::Duration;

const IRIS: &[u8] = include_bytes!("../../datasets/iris.csv");
const PIPELINE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../pipelines/digits-retrain.toml"
);

/// Runs the CLI as `cli_as` does but returns the raw stdout bytes.
fn raw_stdout(server: &TestServer, token: &str, args: &[&str]) -> (bool, Vec<u8>, String) {
    let output = command()
        .args(["--server", &server.url])
        .args(args)
        .env("SLIPWAY_TOKEN", token)
        .env("SLIPWAY_DATA_DIR", server.data_dir.join("no-such-dir"))
        .output()
        .unwrap();
    (
        output.status.success(),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_downloads_the_bytes_uploaded_and_reads_the_statistics() {
    let server = TestServer::start();
    let admin = server.admin();
    // CRLF line ends: the download must not normalise anything.
    let csv = String::from_utf8(IRIS.to_vec())
        .unwrap()
        .replace('\n', "\r\n");
    admin
        .upload_dataset("iris", "species", None, IRIS.to_vec())
        .await
        .unwrap();
    admin
        .upload_dataset("iris", "species", None, csv.clone().into_bytes())
        .await
        .unwrap();
    let viewer = new_token(&admin, "reader", Role::Viewer).await;

    // stdout, the latest version by default.
    let (ok, out, err) = raw_stdout(&server, &viewer, &["dataset", "download", "iris"]);
    assert!(ok, "{err}");
    assert_eq!(out, csv.as_bytes(), "the latest version, byte for byte");
    // A named version, to a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iris.csv");
    let (ok, out, err) = raw_stdout(
        &server,
        &viewer,
        &[
            "dataset",
            "download",
            "iris",
            "--version",
            "1",
            "--out",
            path.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), IRIS);
    let said = String::from_utf8(out).unwrap();
    assert!(
        said.contains(&format!("wrote iris version 1 ({} bytes)", IRIS.len())),
        "{said}"
    );
    // A version that does not exist: a clear error, and no file left behind.
    let missing = dir.path().join("none.csv");
    let (ok, _, err) = server.cli_as(
        Some(&viewer),
        &[
            "dataset",
            "download",
            "iris",
            "--version",
            "9",
            "--out",
            missing.to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(err.contains("dataset 'iris' version 9 not found"), "{err}");
    assert!(!missing.exists());

    // `dataset show` prints the statistics its help promises, as a table.
    let (ok, out, err) = server.cli_as(Some(&viewer), &["dataset", "show", "iris"]);
    assert!(ok, "{err}");
    assert!(out.contains("FEATURE"), "{out}");
    assert!(out.contains("MEAN") && out.contains("STD"), "{out}");
    // The statistics table follows the schema table (which lists every column too).
    let sepal = out
        .lines()
        .skip_while(|l| !l.contains("FEATURE"))
        .find(|l| l.trim_start().starts_with("sepal_length_cm"))
        .unwrap();
    let cells: Vec<&str> = sepal.split_whitespace().collect();
    assert_eq!(cells[1], "150", "{sepal}");
    assert!(
        cells[2].starts_with("5.84"),
        "the mean of sepal_length: {sepal}"
    );
    assert!(!out.contains('{'), "no raw JSON in text mode: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_output_json_errors_are_the_api_error_body_on_stderr() {
    let server = TestServer::start();
    let (ok, out, err) = server.cli(&["--output", "json", "deployments", "show", "nope"]);
    assert!(!ok);
    assert!(out.is_empty(), "nothing on stdout: {out}");
    let body: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{err}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deployment 'nope' not found"),
        "{err}"
    );
    // A local mistake (a file that is not there) has the same shape.
    let (ok, _, err) = server.cli(&[
        "-o",
        "json",
        "schedule",
        "add",
        "x",
        "--cron",
        "0 3 * * *",
        "--pipeline",
        "/no/such/pipeline.toml",
    ]);
    assert!(!ok);
    let body: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(body["error"]["code"], "invalid_argument", "{err}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/no/such/pipeline.toml"),
        "{err}"
    );
    // Text mode keeps its one line.
    let (ok, _, err) = server.cli(&["deployments", "show", "nope"]);
    assert!(!ok);
    assert!(
        err.starts_with("error: deployment 'nope' not found"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_cli_says_where_tokens_come_from() {
    let server = TestServer::start();
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |json: bool| {
        let mut cli = command();
        cli.current_dir(elsewhere.path())
            .args(["--server", &server.url]);
        if json {
            cli.args(["--output", "json"]);
        }
        let output = cli.args(["runs", "list"]).output().unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let err = run(false);
    for needed in [
        "SLIPWAY_TOKEN",
        "--token",
        ".slipway/admin-token",
        "slipway up",
    ] {
        assert!(err.contains(needed), "{needed} in {err}");
    }
    let looked = elsewhere.path().join(".slipway/admin-token");
    assert!(
        err.contains(&looked.display().to_string()),
        "names where it looked: {err}"
    );
    // An empty SLIPWAY_TOKEN is no token either.
    let output = command()
        .current_dir(elsewhere.path())
        .args(["--server", &server.url, "runs", "list"])
        .env("SLIPWAY_TOKEN", "")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("SLIPWAY_TOKEN"));
    let body: serde_json::Value = serde_json::from_str(run(true).trim()).unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SLIPWAY_TOKEN")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_times_are_shown_in_the_schedules_zone() {
    let server = TestServer::start();
    let (ok, out, err) = server.cli(&[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 3 * * *",
        "--tz",
        "Europe/Paris",
        "--pipeline",
        PIPELINE,
    ]);
    assert!(ok, "{out}{err}");
    let in_paris = |text: &str| text.contains("03:00 CET") || text.contains("03:00 CEST");
    assert!(in_paris(&out), "add: {out}");
    let (ok, out, err) = server.cli(&["schedule", "list"]);
    assert!(ok, "{err}");
    assert!(in_paris(&out), "list: {out}");
    // Not 02:00 or 01:00 UTC unmarked, as before.
    assert!(!out.contains(":00:00"), "{out}");
    let (ok, out, err) = server.cli(&["schedule", "show", "nightly"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("next")).count(), 3);
    assert!(
        out.lines()
            .filter(|l| l.starts_with("next"))
            .all(|l| l.ends_with("03:00 CET") || l.ends_with("03:00 CEST")),
        "{out}"
    );
    // A schedule in UTC says so.
    let (ok, out, err) = server.cli(&[
        "schedule",
        "add",
        "utc",
        "--cron",
        "30 4 * * *",
        "--pipeline",
        PIPELINE,
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("04:30 UTC"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_list_shows_the_running_count_and_the_job_ids_apart() {
    let server = TestServer::start();
    let client = server.admin();
    let _worker = server.worker("w1", &["--concurrency", "2", "--labels", "cpu"]);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let job = client
            .submit_job(&SubmitJob::new(SleepSpec {
                seconds: Some(60.0),
            }))
            .await
            .unwrap();
        ids.push(job.id);
    }
    eventually("both jobs running", Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            let page = client
                .list_workers(&slipway_api::PageRequest::default())
                .await
                .ok()?;
            (page.items.first()?.running_jobs.len() == 2).then_some(())
        }
    })
    .await;
    let (ok, out, err) = server.cli(&["workers", "list"]);
    assert!(ok, "{err}");
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(&header[6..8], ["RUNNING", "JOBS"], "{out}");
    let row = out.lines().find(|l| l.contains("w1")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[6], "2", "the count: {out}");
    let mut listed: Vec<i64> = cells[7].split(',').map(|id| id.parse().unwrap()).collect();
    listed.sort_unstable();
    assert_eq!(listed, ids, "the ids: {out}");
    for id in ids {
        client.cancel_job(id, None).await.unwrap();
    }
}
