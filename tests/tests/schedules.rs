//! Cron schedules and retraining pipelines with real processes: firing every due time once
//! (also with two servers on one database), misfire policies across downtime, clear errors,
//! and pipelines that fail at an unmet gate, end with a canary deployed, fail at once when
//! their canary is rolled back during its bake, or bake and ship.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    ApiError, ChangeRequest, Client, CreateSchedule, DeployRequest, Firing, Job, JobKind, JobState,
    Misfire, Overlap, PageRequest, PipelineResult, Schedule, SleepSpec, StepOutcome, SubmitJob,
    TrainSpec,
};
use slipway_tests::{TestServer, eventually, wait_job};
use std::time::Duration;

fn sleep_job() -> SubmitJob {
    SubmitJob::new(SleepSpec { seconds: Some(0.0) })
}

fn every(seconds: u32, name: &str, misfire: Misfire, overlap: Overlap) -> CreateSchedule {
    CreateSchedule {
        name: name.into(),
        cron: format!("*/{seconds} * * * * *"),
        timezone: "UTC".into(),
        job: sleep_job(),
        misfire,
        overlap,
        on_drift: None,
        paused: false,
    }
}

async fn jobs_of(client: &Client, schedule_id: i64) -> Vec<Job> {
    let page = client
        .list_jobs(
            None,
            &PageRequest {
                limit: Some(1000),
                page_token: None,
            },
        )
        .await
        .unwrap();
    page.items
        .into_iter()
        .filter(|j| j.schedule_id == Some(schedule_id))
        .collect()
}

fn fired(firings: &[Firing]) -> Vec<&Firing> {
    firings.iter().filter(|f| f.outcome == "fired").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_each_due_time_once_and_bad_input_is_named() {
    let server = TestServer::up();
    let client = server.admin();
    let created = client
        .create_schedule(&every(1, "tick", Misfire::Skip, Overlap::Queue))
        .await
        .unwrap();
    assert_eq!(created.next_fire_times.len(), 3);
    let gaps: Vec<i64> = created
        .next_fire_times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .collect();
    assert_eq!(gaps, [1000, 1000]);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let paused: Schedule = client.schedule_action("tick", "pause", None).await.unwrap();
    assert!(paused.paused && paused.next_fire_times.is_empty());
    let firings = client.schedule_firings("tick").await.unwrap();
    let done = fired(&firings);
    assert!((3..=6).contains(&done.len()), "{firings:?}");
    for pair in done.windows(2) {
        assert_eq!(
            (pair[0].due_at - pair[1].due_at).num_milliseconds(),
            1000,
            "consecutive seconds"
        );
    }
    assert_eq!(jobs_of(&client, created.id).await.len(), done.len());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        client.schedule_firings("tick").await.unwrap().len(),
        firings.len(),
        "paused"
    );
    let triggered: serde_json::Value = client
        .schedule_action("tick", "trigger", Some("a manual run"))
        .await
        .unwrap();
    assert!(triggered["job_id"].as_i64().is_some());
    let history = client.schedule_firings("tick").await.unwrap();
    assert_eq!(history[0].outcome, "triggered");
    let audit = client
        .list_audit(&PageRequest {
            limit: Some(50),
            page_token: None,
        })
        .await
        .unwrap();
    let event = audit
        .items
        .iter()
        .find(|e| e.action == "schedule.trigger")
        .unwrap();
    assert_eq!(event.reason.as_deref(), Some("a manual run"));
    // Each due time the scheduler fired is audited with the job it started (the manual
    // firing above only once, as the person's trigger).
    let automatic: Vec<_> = audit
        .items
        .iter()
        .filter(|e| e.action == "schedule.fire")
        .collect();
    assert_eq!(automatic.len(), done.len(), "{automatic:?}");
    for event in &automatic {
        assert_eq!(
            (event.actor.as_str(), event.target_id.as_str()),
            ("scheduler", "tick")
        );
        let job = event.details.as_ref().unwrap()["job_id"].as_i64().unwrap();
        assert!(
            event
                .reason
                .as_deref()
                .unwrap()
                .ends_with(&format!("job {job}")),
            "{event:?}"
        );
    }

    // A due time that comes while the last firing's job still runs is skipped.
    let mut slow = every(1, "slow", Misfire::Skip, Overlap::Skip);
    slow.job.spec = SleepSpec { seconds: Some(2.5) }.into();
    client.create_schedule(&slow).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    client
        .schedule_action::<Schedule>("slow", "pause", None)
        .await
        .unwrap();
    let slow_firings = client.schedule_firings("slow").await.unwrap();
    assert!(!fired(&slow_firings).is_empty(), "{slow_firings:?}");
    let skipped: Vec<_> = slow_firings
        .iter()
        .filter(|f| f.outcome == "overlap_skipped")
        .collect();
    assert!(!skipped.is_empty(), "{slow_firings:?}");
    assert!(
        skipped[0]
            .message
            .as_deref()
            .unwrap()
            .contains("still unfinished")
    );
    let audit = client
        .list_audit(&PageRequest {
            limit: Some(100),
            page_token: None,
        })
        .await
        .unwrap();
    assert!(
        audit.items.iter().any(|e| e.action == "schedule.skip"
            && e.target_id == "slow"
            && e.reason.as_deref().unwrap().contains("still unfinished")),
        "{:?}",
        audit.items
    );

    // Mistakes are refused up front, naming what is wrong.
    let mut bad = every(1, "bad", Misfire::Skip, Overlap::Skip);
    bad.cron = "61 * * * *".into();
    let err = client.create_schedule(&bad).await.unwrap_err();
    assert!(matches!(err, ApiError::Server { status: 400, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("cron: '61 * * * *' is not a cron expression"),
        "{err}"
    );
    let mut bad = every(1, "bad", Misfire::Skip, Overlap::Skip);
    bad.timezone = "Mars/Olympus".into();
    let err = client.create_schedule(&bad).await.unwrap_err();
    assert!(
        err.to_string().contains("unknown time zone 'Mars/Olympus'"),
        "{err}"
    );
    let file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
    std::fs::write(
        file.path(),
        "model = \"digits\"\n[[steps]]\nkind = \"train\"\n[steps.train]\ndataset = \"digits\"\n[[steps]]\nkind = \"gate\"\ncondition = \"accuracy is high\"\n",
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let (ok, _, err) = server.cli(&[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 3 * * *",
        "--tz",
        "Europe/Paris",
        "--pipeline",
        path,
    ]);
    assert!(!ok);
    assert!(
        err.contains("steps[1] (gate).kind: needs a evaluate step before it"),
        "{err}"
    );
    // The demo schedule `up` adds, paused.
    let demo = client.get_schedule("digits-nightly").await.unwrap();
    assert!(demo.paused);
    assert_eq!(demo.job.spec.kind(), JobKind::Pipeline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misfire_policies_are_honoured_after_downtime() {
    let temp = tempfile::tempdir().unwrap();
    let flags = ["--schedule-misfire-grace-secs", "1"];
    let mut server = TestServer::start_in(temp.path(), &flags);
    let client = server.admin();
    client
        .create_schedule(&every(2, "skipper", Misfire::Skip, Overlap::Queue))
        .await
        .unwrap();
    client
        .create_schedule(&every(2, "catcher", Misfire::RunOnce, Overlap::Queue))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.kill9();
    tokio::time::sleep(Duration::from_secs(6)).await;
    server.restart_with(&flags);
    let client = server.admin();
    let skipped = eventually("the skipped misfire", Duration::from_secs(10), || {
        let client = client.clone();
        async move {
            let firings = client.schedule_firings("skipper").await.ok()?;
            firings.into_iter().find(|f| f.outcome == "misfire_skipped")
        }
    })
    .await;
    assert!(skipped.job_id.is_none());
    assert!(
        skipped
            .message
            .unwrap()
            .contains("due time(s) passed while no server was running")
    );
    let caught = eventually("the run-once misfire", Duration::from_secs(10), || {
        let client = client.clone();
        async move {
            let firings = client.schedule_firings("catcher").await.ok()?;
            firings
                .into_iter()
                .find(|f| f.outcome == "misfire_run_once")
        }
    })
    .await;
    assert!(caught.job_id.is_some());
    let catcher = client.schedule_firings("catcher").await.unwrap();
    assert_eq!(
        catcher
            .iter()
            .filter(|f| f.outcome == "misfire_run_once")
            .count(),
        1,
        "once for all missed: {catcher:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_fire_each_due_time_once() {
    let temp = tempfile::tempdir().unwrap();
    let first = TestServer::start_in(temp.path(), &[]);
    let client = first.admin();
    let schedule = client
        .create_schedule(&every(1, "shared", Misfire::Skip, Overlap::Queue))
        .await
        .unwrap();
    let _second = TestServer::start_in(temp.path(), &[]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    client
        .schedule_action::<Schedule>("shared", "pause", None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let firings = client.schedule_firings("shared").await.unwrap();
    let done = fired(&firings);
    assert!(done.len() >= 4, "{firings:?}");
    let mut due: Vec<_> = done.iter().map(|f| f.due_at).collect();
    due.dedup();
    assert_eq!(due.len(), done.len(), "each due time once");
    assert_eq!(
        jobs_of(&client, schedule.id).await.len(),
        done.len(),
        "one job per firing, not one per server"
    );
}

fn pipeline_file(train: &str, gate: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
    std::fs::write(
        file.path(),
        format!(
            "name = \"retrain\"\nmodel = \"digits\"\ndeployment = \"digits\"\n\
             [[steps]]\nkind = \"train\"\n[steps.train]\n{train}\n\
             [[steps]]\nkind = \"evaluate\"\n\
             [[steps]]\nkind = \"gate\"\ncondition = \"{gate}\"\n\
             [[steps]]\nkind = \"register\"\n\
             [[steps]]\nkind = \"deploy\"\ncanary_percent = 20\n"
        ),
    )
    .unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_stops_at_an_unmet_gate_and_a_better_challenger_ends_as_a_canary() {
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("digits").await.ok() }
    })
    .await;
    // A weak champion: softmax regression, one epoch.
    let weak = TrainSpec {
        dataset: "digits".into(),
        arch: Some("logreg".into()),
        epochs: Some(1),
        register_as: Some("digits".into()),
        ..TrainSpec::default()
    };
    let job = client.submit_job(&SubmitJob::new(weak)).await.unwrap();
    assert_eq!(wait_job(&client, job.id).await.state, JobState::Succeeded);
    client
        .set_alias("digits", "champion", 1, Some("first model"))
        .await
        .unwrap();
    let first = DeployRequest {
        model: Some("digits".into()),
        version: Some(1),
        ..DeployRequest::default()
    };
    client
        .deploy("digits", &first, Some("first release"))
        .await
        .unwrap();

    // A challenger that must beat the champion by 0.5 accuracy cannot: nothing changes.
    let strong = "dataset = \"digits\"\nhidden = [64]\nepochs = 20";
    let unmet = pipeline_file(strong, "accuracy >= champion.accuracy + 0.5");
    let (ok, out, err) = server.cli(&[
        "--output",
        "json",
        "pipeline",
        "run",
        unmet.path().to_str().unwrap(),
        "--wait",
    ]);
    // It did not ship: it fails, and `--wait` exits non-zero with the reason.
    assert!(!ok, "{out}{err}");
    let reason = "did not ship: the gate refused: 'accuracy >= champion.accuracy + 0.5' not met";
    assert!(err.contains(reason), "{err}");
    let job: Job = serde_json::from_str(&out).unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert!(job.error.as_deref().unwrap().starts_with(reason), "{job:?}");
    let result = job.result_as::<PipelineResult>().unwrap();
    assert!(!result.completed);
    let outcomes: Vec<StepOutcome> = result.steps.iter().map(|step| step.outcome).collect();
    use StepOutcome::{Done, Skipped, Stopped};
    assert_eq!(outcomes, [Done, Done, Stopped, Skipped, Skipped]);
    assert_eq!(
        client.model_versions("digits").await.unwrap().len(),
        1,
        "nothing registered"
    );
    assert_eq!(
        client.get_deployment("digits").await.unwrap().revision,
        1,
        "nothing deployed"
    );
    let page = client
        .list_jobs(
            None,
            &PageRequest {
                limit: Some(100),
                page_token: None,
            },
        )
        .await
        .unwrap();
    let children: Vec<&Job> = page
        .items
        .iter()
        .filter(|j| j.parent_id == Some(job.id))
        .collect();
    let kinds: Vec<JobKind> = children.iter().rev().map(|j| j.spec.kind()).collect();
    assert_eq!(
        kinds,
        [JobKind::Train, JobKind::Evaluate],
        "steps are child jobs"
    );
    assert!(
        children.iter().all(|j| j.created_by == "admin"),
        "children act for the submitter"
    );

    // A better challenger passes the gate, is registered and ends as a canary.
    let better = pipeline_file(strong, "accuracy >= champion.accuracy + 0.002");
    let (ok, out, err) = server.cli(&[
        "--output",
        "json",
        "pipeline",
        "run",
        better.path().to_str().unwrap(),
        "--wait",
    ]);
    assert!(ok, "{out}{err}");
    let job: Job = serde_json::from_str(&out).unwrap();
    let result = job.result_as::<PipelineResult>().unwrap();
    assert!(result.completed, "{result:?}");
    assert!(result.metrics["accuracy"] > result.champion_metrics.unwrap()["accuracy"]);
    let deployment = client.get_deployment("digits").await.unwrap();
    let canary = deployment.spec.canary.unwrap();
    assert_eq!(
        (deployment.spec.primary, canary.version, canary.percent),
        (1, 2, 20.0)
    );
    let revisions = client.deployment_revisions("digits").await.unwrap();
    assert!(
        revisions[0].actor.starts_with("admin (job "),
        "{}",
        revisions[0].actor
    );
}

/// A pipeline that trains a quick challenger, registers it and bakes it as a canary for
/// `bake_secs` before promoting it.
fn baking_pipeline(bake_secs: u64) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
    std::fs::write(
        file.path(),
        format!(
            "name = \"bake\"\nmodel = \"digits\"\ndeployment = \"digits\"\n\
             [[steps]]\nkind = \"train\"\n[steps.train]\n\
             dataset = \"digits\"\narch = \"logreg\"\nepochs = 1\n\
             [[steps]]\nkind = \"register\"\n\
             [[steps]]\nkind = \"deploy\"\ncanary_percent = 20\n\
             [[steps]]\nkind = \"promote\"\nbake_secs = {bake_secs}\n"
        ),
    )
    .unwrap();
    file
}

/// The newest pipeline job.
async fn newest_pipeline(client: &Client) -> Option<Job> {
    let page = client
        .list_jobs(
            None,
            &PageRequest {
                limit: Some(20),
                page_token: None,
            },
        )
        .await
        .ok()?;
    page.items
        .into_iter()
        .find(|job| job.spec.kind() == JobKind::Pipeline)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_rolled_back_during_its_bake_fails_the_pipeline_at_once() {
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("digits").await.ok() }
    })
    .await;
    let first = TrainSpec {
        dataset: "digits".into(),
        arch: Some("logreg".into()),
        epochs: Some(1),
        register_as: Some("digits".into()),
        ..TrainSpec::default()
    };
    let job = client.submit_job(&SubmitJob::new(first)).await.unwrap();
    assert_eq!(wait_job(&client, job.id).await.state, JobState::Succeeded);
    let release = DeployRequest {
        model: Some("digits".into()),
        version: Some(1),
        ..DeployRequest::default()
    };
    client
        .deploy("digits", &release, Some("first release"))
        .await
        .unwrap();

    // `pipeline run --wait` in the background, as a person would run it.
    let file = baking_pipeline(600);
    let waiting = slipway_tests::command()
        .args(["--server", &server.url, "pipeline", "run"])
        .arg(file.path())
        .arg("--wait")
        .env("SLIPWAY_TOKEN", server.admin_token())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let baking = eventually("the bake", Duration::from_secs(120), || {
        let client = client.clone();
        async move {
            let job = newest_pipeline(&client).await?;
            let message = job.progress_message.clone()?;
            message.starts_with("baking canary v2").then_some(job)
        }
    })
    .await;
    let message = baking.progress_message.clone().unwrap();
    assert!(
        message.contains(" on digits until ") && message.ends_with("UTC; open alerts: none"),
        "{message}"
    );
    let (ok, out, _) = server.cli(&["jobs", "show", &baking.id.to_string()]);
    assert!(ok && out.contains("now:      baking canary v2"), "{out}");

    // Rolled back by hand ten minutes before the bake would end: the pipeline ends at once.
    let rolled = std::time::Instant::now();
    client
        .rollback("digits", &ChangeRequest::default(), Some("looks wrong"))
        .await
        .unwrap();
    let ended = eventually("the pipeline to end", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let job = client.get_job(baking.id).await.ok()?;
            job.state.is_terminal().then_some(job)
        }
    })
    .await;
    let took = rolled.elapsed();
    assert!(took < Duration::from_secs(3), "noticed after {took:?}");
    assert_eq!(ended.state, JobState::Failed);
    let reason = "did not ship: canary v2 was rolled back during its bake (revision 3 by admin: looks wrong)";
    assert_eq!(ended.error.as_deref(), Some(reason));
    let output = tokio::task::spawn_blocking(move || waiting.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "--wait exits non-zero: {stderr}");
    assert!(
        stderr.contains("baking canary v2 on digits until"),
        "{stderr}"
    );
    assert!(stderr.contains(reason), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains('{'),
        "steps as a table, not JSON: {stdout}"
    );
    let steps: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("STEP"))
        .skip(1)
        .collect();
    assert_eq!(steps.len(), 4, "{stdout}");
    assert!(steps[0].starts_with("train     done"), "{stdout}");
    assert!(
        steps[3].starts_with("promote   stopped")
            && steps[3].ends_with(
                "canary v2 was rolled back during its bake (revision 3 by admin: looks wrong)"
            ),
        "{stdout}"
    );
    let deployment = client.get_deployment("digits").await.unwrap();
    assert_eq!((deployment.spec.primary, deployment.spec.canary), (1, None));

    // A canary that bakes with its guards green is promoted, and the pipeline succeeds.
    let file = baking_pipeline(1);
    let (ok, out, err) = server.cli(&["pipeline", "run", file.path().to_str().unwrap(), "--wait"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("state:    succeeded"), "{out}");
    let deployment = client.get_deployment("digits").await.unwrap();
    assert_eq!((deployment.spec.primary, deployment.spec.canary), (3, None));
}
