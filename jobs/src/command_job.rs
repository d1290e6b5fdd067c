//! `command`: a team's own program, run on a worker that opted in (`--allow-commands`). This
//! module owns one attempt: the run it logs to, its code unpacked in a fresh working directory,
//! its environment (a token scoped to the run, the MLflow and Slipway variables, the GPUs it
//! was given), the process in its own process group with its output streamed to the job log,
//! stopping it (cancel, lost lease, timeout: SIGTERM to the group, SIGKILL after a grace
//! period), and registering the model it wrote.

use crate::code_package;
use crate::command_model;
use crate::handlers::{Context, Outcome, Progress};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use slipway_api::{
    CODE_ARTIFACT, CODE_DIGEST_TAG, Client, CommandResult, CommandSpec, CreateRun, GIT_COMMIT_TAG,
    RunStatus, RunTokenRequest, UpdateRun,
};
use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// How long a process has to end after SIGTERM before it is killed.
pub const GRACE: Duration = Duration::from_secs(10);
/// How many lines of stderr a failure quotes.
const STDERR_TAIL: usize = 20;
/// How often the process is checked for cancellation and its lines are shipped.
const TICK: Duration = Duration::from_millis(100);
const SHIP_EVERY: Duration = Duration::from_millis(500);
/// The longest output line kept (the job log cuts there too).
const MAX_LINE: usize = 8192;

/// Runs one attempt of a command job.
pub async fn run(context: &Context, spec: &CommandSpec, progress: &Arc<Progress>) -> Outcome {
    let attempt = attempt(context, spec, progress).await;
    crate::handlers::settle(attempt, progress)
}

async fn attempt(
    context: &Context,
    spec: &CommandSpec,
    progress: &Arc<Progress>,
) -> Result<Outcome, String> {
    if !context.allow_commands {
        return Err(
            "this worker was not started with --allow-commands and does not run command jobs"
                .to_owned(),
        );
    }
    spec.validate()?;
    let client = &context.client;
    let code = match spec.code_run() {
        Some(run_id) => Some(fetch_code(client, run_id).await?),
        None => None,
    };
    let run_id = match spec.run_id {
        Some(run_id) => run_id,
        None => create_run(context, spec, code.as_ref()).await?,
    };
    let workdir = tokio::task::spawn_blocking(|| {
        tempfile::Builder::new()
            .prefix("slipway-command-")
            .tempdir()
    })
    .await
    .map_err(|err| format!("cannot make the working directory: {err}"))?
    .map_err(|err| format!("cannot make the working directory: {err}"))?;
    let outcome = in_workdir(context, spec, progress, run_id, code, workdir.path()).await;
    // Removing a tree is blocking file work.
    let _ = tokio::task::spawn_blocking(move || drop(workdir)).await;
    let status = match &outcome {
        Ok(Outcome::Succeeded(_)) => RunStatus::Finished,
        Ok(Outcome::Cancelled) => RunStatus::Killed,
        _ => RunStatus::Failed,
    };
    // A succeeded run was closed before its model was registered.
    if status != RunStatus::Finished {
        let update = UpdateRun {
            status: Some(status),
            end_time: Some(chrono::Utc::now()),
            ..UpdateRun::default()
        };
        if let Err(err) = client.update_run(run_id, &update).await {
            progress.log("warn", format!("cannot close run {run_id}: {err}"));
        }
    }
    outcome
}

/// A code package: its bytes, digest and the commit it came from.
struct Code {
    run_id: i64,
    bytes: Vec<u8>,
    digest: String,
    git_commit: Option<String>,
}

async fn fetch_code(client: &Client, run_id: i64) -> Result<Code, String> {
    let run = client
        .get_run(run_id)
        .await
        .map_err(|err| format!("spec.code_run: run {run_id}: {err}"))?;
    if !run.artifacts.iter().any(|a| a.path == CODE_ARTIFACT) {
        return Err(format!(
            "spec.code_run: run {run_id} has no {CODE_ARTIFACT} artifact to unpack"
        ));
    }
    let bytes = client
        .download_artifact(run_id, CODE_ARTIFACT)
        .await
        .map_err(|err| format!("cannot fetch the code of run {run_id}: {err}"))?;
    Ok(Code {
        run_id,
        digest: code_package::digest_of(&bytes),
        git_commit: run.tags.get(GIT_COMMIT_TAG).cloned(),
        bytes,
    })
}

/// A run for this attempt, with the code's lineage.
async fn create_run(
    context: &Context,
    spec: &CommandSpec,
    code: Option<&Code>,
) -> Result<i64, String> {
    let mut tags =
        std::collections::BTreeMap::from([("job".to_owned(), context.job_id.to_string())]);
    if let Some(code) = code {
        tags.insert(CODE_DIGEST_TAG.to_owned(), code.digest.clone());
        tags.insert("code.run".to_owned(), code.run_id.to_string());
        if let Some(commit) = &code.git_commit {
            tags.insert(GIT_COMMIT_TAG.to_owned(), commit.clone());
        }
    }
    let run = context
        .client
        .create_run(&CreateRun {
            experiment: Some(
                spec.experiment
                    .clone()
                    .unwrap_or_else(|| CommandSpec::DEFAULT_EXPERIMENT.to_owned()),
            ),
            name: Some(format!("command-job{}", context.job_id)),
            code_version: code.map(|code| code.digest.clone()),
            job_id: Some(context.job_id),
            tags,
            ..CreateRun::default()
        })
        .await
        .map_err(|err| format!("cannot create the run: {err}"))?;
    Ok(run.id)
}

async fn in_workdir(
    context: &Context,
    spec: &CommandSpec,
    progress: &Arc<Progress>,
    run_id: i64,
    code: Option<Code>,
    workdir: &Path,
) -> Result<Outcome, String> {
    if let Some(code) = code {
        let dir = workdir.to_owned();
        let files = tokio::task::spawn_blocking(move || code_package::unpack(&code.bytes, &dir))
            .await
            .map_err(|err| format!("cannot unpack the code: {err}"))?
            .map_err(|err| err.to_string())?;
        progress.log("info", format!("unpacked {files} files of code"));
    }
    let token = context
        .client
        .run_token(
            context.job_id,
            &RunTokenRequest {
                lease_id: context.lease_id.clone(),
                run_id,
            },
        )
        .await
        .map_err(|err| format!("cannot get a token for run {run_id}: {err}"))?;
    let mut command = tokio::process::Command::new(&spec.command[0]);
    command
        .args(&spec.command[1..])
        .current_dir(workdir)
        // The worker's own token never reaches the script: it gets one scoped to its run.
        .env_remove("SLIPWAY_TOKEN")
        .env("PYTHONUNBUFFERED", "1")
        .envs(&spec.env)
        .envs(job_env(context, run_id, &token.token))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that stopping it reaches every process it started.
        .process_group(0)
        .kill_on_drop(true);
    progress.log("info", format!("running {}", shown(&spec.command)));
    progress.set_message(format!("running {}", spec.command[0]));
    let mut child = command
        .spawn()
        .map_err(|err| format!("spec.command: cannot start '{}': {err}", spec.command[0]))?;
    let group = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .map(Pid::from_raw)
        .ok_or_else(|| "the process ended before it could be watched".to_owned())?;
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let readers = [
        child
            .stdout
            .take()
            .map(|out| tokio::spawn(forward(out, "info", progress.clone(), None))),
        child
            .stderr
            .take()
            .map(|err| tokio::spawn(forward(err, "stderr", progress.clone(), Some(tail.clone())))),
    ];
    let timeout = spec.timeout_seconds.map(Duration::from_secs);
    let ended = watch(context, &mut child, group, timeout, progress).await;
    // Whatever the script left behind in its group goes with it.
    let _ = killpg(group, Signal::SIGKILL);
    for reader in readers.into_iter().flatten() {
        // A process that escaped the group may hold the pipes open: do not wait for it.
        let abort = reader.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), reader)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    crate::worker::ship_lines(&context.client, context.job_id, &context.lease_id, progress).await;
    let status = match ended {
        Ended::Exited(status) => status,
        Ended::Cancelled => {
            progress.log("warn", "cancelled: the process group was stopped");
            return Ok(Outcome::Cancelled);
        }
        Ended::TimedOut(after) => {
            return Err(format!(
                "timed out after {} s (spec.timeout_seconds); the process group was stopped",
                after.as_secs()
            ));
        }
    };
    let tail: Vec<String> = tail
        .lock()
        .map(|lines| lines.iter().cloned().collect())
        .unwrap_or_default();
    match status.code() {
        Some(0) => {}
        Some(code) => return Err(failure(&format!("exit code {code}"), &tail)),
        None => {
            use std::os::unix::process::ExitStatusExt;
            let signal = status.signal().unwrap_or_default();
            return Err(failure(&format!("killed by signal {signal}"), &tail));
        }
    }
    progress.log("info", "the command exited with code 0");
    let mut result = CommandResult {
        run_id,
        exit_code: 0,
        metrics: Default::default(),
        model: None,
        version: None,
    };
    // The model goes to the run and the run is closed before registering: a registered run
    // is frozen.
    let finished = UpdateRun {
        status: Some(RunStatus::Finished),
        end_time: Some(chrono::Utc::now()),
        ..UpdateRun::default()
    };
    context
        .client
        .update_run(run_id, &finished)
        .await
        .map_err(|err| format!("cannot finish run {run_id}: {err}"))?;
    if let Some(path) = &spec.model_path {
        let stored = command_model::store(&context.client, run_id, &workdir.join(path)).await?;
        progress.log(
            "info",
            format!("stored the model at {path} with run {run_id}"),
        );
        if let Some(model) = &spec.register_as {
            let version = command_model::register(&context.client, run_id, model, stored).await?;
            progress.log("info", format!("registered as {model} version {version}"));
            result.model = Some(model.clone());
            result.version = Some(version);
        }
    }
    if let Ok(run) = context.client.get_run(run_id).await {
        result.metrics = run.run.metrics;
    }
    Ok(Outcome::succeeded(&result))
}

/// The variables every command job gets.
fn job_env(context: &Context, run_id: i64, token: &str) -> Vec<(String, String)> {
    let server = context.client.base_url().to_owned();
    let devices: Vec<String> = context.gpus.iter().map(u32::to_string).collect();
    vec![
        ("MLFLOW_TRACKING_URI".into(), server.clone()),
        ("MLFLOW_TRACKING_TOKEN".into(), token.to_owned()),
        ("MLFLOW_RUN_ID".into(), run_id.to_string()),
        ("SLIPWAY_SERVER".into(), server),
        ("SLIPWAY_TOKEN".into(), token.to_owned()),
        ("SLIPWAY_JOB_ID".into(), context.job_id.to_string()),
        ("SLIPWAY_RUN_ID".into(), run_id.to_string()),
        // Empty for a CPU job: it must not use a GPU that another job was given.
        ("CUDA_VISIBLE_DEVICES".into(), devices.join(",")),
    ]
}

fn shown(command: &[String]) -> String {
    command.join(" ")
}

fn failure(how: &str, tail: &[String]) -> String {
    if tail.is_empty() {
        format!("the command failed with {how} (no stderr)")
    } else {
        format!(
            "the command failed with {how}; the end of its stderr:\n{}",
            tail.join("\n")
        )
    }
}

/// How the process ended.
enum Ended {
    Exited(std::process::ExitStatus),
    Cancelled,
    TimedOut(Duration),
}

/// Waits for the process, shipping its lines; stops its group when the job is cancelled (or
/// its lease is lost, which the heartbeat reports as a cancel) or its time is up.
async fn watch(
    context: &Context,
    child: &mut tokio::process::Child,
    group: Pid,
    timeout: Option<Duration>,
    progress: &Arc<Progress>,
) -> Ended {
    let started = tokio::time::Instant::now();
    let mut last_ship = started;
    let mut ticker = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            status = child.wait() => {
                return match status {
                    Ok(status) => Ended::Exited(status),
                    // Waiting itself failed: treat the process as gone, the group is killed.
                    Err(_) => Ended::Cancelled,
                };
            }
            _ = ticker.tick() => {}
        }
        let timed_out = timeout.filter(|limit| started.elapsed() >= *limit);
        if progress.cancelled() || timed_out.is_some() {
            stop(child, group).await;
            return match timed_out {
                Some(limit) => Ended::TimedOut(limit),
                None => Ended::Cancelled,
            };
        }
        if last_ship.elapsed() >= SHIP_EVERY {
            last_ship = tokio::time::Instant::now();
            crate::worker::ship_lines(&context.client, context.job_id, &context.lease_id, progress)
                .await;
        }
    }
}

/// SIGTERM to the group, SIGKILL after [`GRACE`] if the process has not ended.
async fn stop(child: &mut tokio::process::Child, group: Pid) {
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    }
}

/// Copies a stream to the job log line by line (and keeps the last lines of stderr).
async fn forward(
    stream: impl AsyncRead + Unpin,
    level: &'static str,
    progress: Arc<Progress>,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    let mut reader = BufReader::new(stream);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let end = buffer.len().min(MAX_LINE);
        let line = String::from_utf8_lossy(&buffer[..end])
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        if let Some(tail) = &tail
            && let Ok(mut tail) = tail.lock()
        {
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(line.clone());
        }
        progress.log(level, line);
    }
}
