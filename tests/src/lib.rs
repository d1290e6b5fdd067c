//! The harness for end-to-end tests and benchmarks: it builds the real `slipway` binary (once
//! per test process; cargo makes it a no-op when fresh), starts it on `127.0.0.1:0` with a
//! temporary data dir, learns the chosen port from its first line of output, and hands out
//! typed API clients. Servers are killed when dropped.
//!
//! The store is SQLite in the data dir, or, when `SLIPWAY_TEST_DATABASE_URL` names a
//! PostgreSQL server (an admin URL: a role that may create databases), a fresh database there
//! for each data dir (see [`database`]), so the whole suite runs on either backend.

pub mod database;

pub mod axe;
pub mod bench;
pub mod browser;
pub mod python;

use slipway_api::Client;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The `slipway` binary of the profile this test was built with, built if needed.
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("current exe");
            // target/<profile>/deps/<test> → target/<profile>
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("the test binary lives in target/<profile>/deps");
            let release = profile_dir
                .file_name()
                .is_some_and(|name| name == "release");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut build = Command::new(cargo);
            build.args([
                "build",
                "--quiet",
                "-p",
                "slipway-server",
                "--bin",
                "slipway",
            ]);
            if release {
                build.arg("--release");
            }
            let target_dir = profile_dir.parent().expect("target dir");
            build.env("CARGO_TARGET_DIR", target_dir);
            // A test process carries its own package's variables (`CARGO_MANIFEST_DIR`,
            // `CARGO_PKG_*`, …). Build scripts that track them (ring's does) would count them as
            // changed from the shell's build and rebuild, and the next build from the shell
            // would rebuild them back: minutes each time.
            for (name, _) in std::env::vars_os() {
                if name.to_str().is_some_and(|name| {
                    name.starts_with("CARGO_PKG_")
                        || name.starts_with("CARGO_MANIFEST_")
                        || matches!(
                            name,
                            "CARGO_CRATE_NAME"
                                | "CARGO_BIN_NAME"
                                | "CARGO_PRIMARY_PACKAGE"
                                | "CARGO_TARGET_TMPDIR"
                                | "OUT_DIR"
                        )
                }) {
                    build.env_remove(name);
                }
            }
            let status = build
                .status()
                .expect("run cargo build for the slipway binary");
            assert!(status.success(), "building the slipway binary failed");
            profile_dir.join("slipway")
        })
        .clone()
}

/// A `slipway` command with a clean environment: no inherited `SLIPWAY_*` settings.
pub fn command() -> Command {
    let mut command = Command::new(binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("SLIPWAY_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "warn");
    command
}

/// A running `slipway server`.
pub struct TestServer {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    /// Keeps a temporary data dir alive for as long as the server.
    _temp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server on a new temporary data dir.
    pub fn start() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in(temp.path(), &[]);
        server._temp = Some(temp);
        server
    }

    /// Starts a server on `data_dir` (which may hold an earlier server's data) with extra flags.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Self {
        Self::launch("server", data_dir, extra)
    }

    /// Starts another replica of this server: a `slipway server` on the same data dir, so on
    /// the same database (on PostgreSQL, the one made for that data dir), with the same admin
    /// token and artifacts, on its own port. `extra` are its flags.
    pub fn replica(&self, extra: &[&str]) -> Self {
        Self::start_in(&self.data_dir, extra)
    }

    /// Starts `slipway up` (server, embedded worker, demo data) on a new temporary data dir.
    pub fn up() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::launch("up", temp.path(), &[]);
        server._temp = Some(temp);
        server
    }

    /// Starts `slipway up` on `data_dir` (for example `./.slipway` of a folder the test then
    /// runs commands in, as a person following the README would).
    pub fn up_in(data_dir: &Path) -> Self {
        Self::launch("up", data_dir, &[])
    }

    /// Starts `subcommand` (`server` or `up`) on `data_dir` with extra flags and extra
    /// environment variables (for example the AWS ones of an object store).
    pub fn start_with_env(
        subcommand: &str,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::launch_with_env(subcommand, data_dir, extra, env)
    }

    fn launch(subcommand: &str, data_dir: &Path, extra: &[&str]) -> Self {
        Self::launch_with_env(subcommand, data_dir, extra, &[])
    }

    fn launch_with_env(
        subcommand: &str,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let default_addr: &[&str] = if extra.contains(&"--addr") {
            &[]
        } else {
            &["--addr", "127.0.0.1:0"]
        };
        let mut command = command();
        command
            .arg(subcommand)
            .arg("--data-dir")
            .arg(data_dir)
            .args(default_addr);
        if let Some(url) = database::url_for(data_dir) {
            command.arg("--database-url").arg(url);
        }
        let mut child = command
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start slipway server");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("slipway listening on ") {
                    let _ = sender.send(url.to_owned());
                }
            }
        });
        let url = receiver
            .recv_timeout(Duration::from_secs(120))
            .expect("the server printed its address");
        Self {
            child,
            url,
            data_dir: data_dir.to_owned(),
            _temp: None,
        }
    }

    /// Keeps `temp` (the data dir) alive as long as the server.
    pub fn keep(&mut self, temp: tempfile::TempDir) {
        self._temp = Some(temp);
    }

    /// The admin token written on first start.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin-token"))
            .expect("admin-token")
            .trim()
            .to_owned()
    }

    /// A client with the admin token.
    pub fn admin(&self) -> Client {
        self.client(Some(self.admin_token()))
    }

    /// A client with `token` (or none).
    pub fn client(&self, token: Option<String>) -> Client {
        Client::new(&self.url, token).expect("client")
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same data dir (after [`Self::kill9`]).
    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    /// Starts the server again on the same data dir with extra flags (after [`Self::kill9`]).
    pub fn restart_with(&mut self, extra: &[&str]) {
        let temp = self._temp.take();
        let fresh = Self::start_in(&self.data_dir, extra);
        // Swap in the new process; the old (dead) one is reaped by its drop.
        let old = std::mem::replace(self, fresh);
        self._temp = temp;
        drop(old);
    }

    /// Starts the server again on the same data dir and the same address (after
    /// [`Self::kill9`]), so clients that know the address find it again.
    pub fn restart_same_address(&mut self) {
        let addr = self.url.trim_start_matches("http://").to_owned();
        self.restart_with(&["--addr", &addr, "--job-lease-secs", "2"]);
    }

    /// Sends SIGTERM, as a service manager stopping the server would.
    pub fn signal_term(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits up to `timeout` for the process to exit; returns its exit code.
    pub fn wait_exit(mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; returns the exit code.
    pub fn terminate(self, timeout: Duration) -> Option<i32> {
        self.signal_term();
        self.wait_exit(timeout)
    }

    /// Runs the `slipway` CLI against this server with the admin token; returns
    /// (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        self.cli_as(Some(&self.admin_token()), args)
    }

    /// Runs the `slipway` CLI against this server with `token`.
    pub fn cli_as(&self, token: Option<&str>, args: &[&str]) -> (bool, String, String) {
        let mut command = command();
        command.args(["--server", &self.url]).args(args);
        if let Some(token) = token {
            command.env("SLIPWAY_TOKEN", token);
        }
        // Never pick up an admin token from a data dir in the working directory.
        command.env("SLIPWAY_DATA_DIR", self.data_dir.join("no-such-dir"));
        let output = command.output().expect("run slipway");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// A running `slipway worker`, killed when dropped.
pub struct TestWorker {
    child: Child,
}

impl TestWorker {
    /// Kills the worker with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        self.kill9();
    }
}

impl TestServer {
    /// Starts `slipway worker` against this server, with the admin token.
    pub fn worker(&self, name: &str, extra: &[&str]) -> TestWorker {
        let child = command()
            .args(["--server", &self.url, "worker", "--name", name])
            .args(extra)
            .env("SLIPWAY_TOKEN", self.admin_token())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start slipway worker");
        TestWorker { child }
    }
}

/// A running `slipway serve` (a serving replica), killed when dropped.
pub struct TestServingReplica {
    child: Child,
    pub url: String,
    /// Its model file cache.
    _cache: tempfile::TempDir,
}

impl TestServingReplica {
    /// A client of this replica with `token`.
    pub fn client(&self, token: &str) -> Client {
        Client::new(&self.url, Some(token.to_owned())).expect("client")
    }
}

impl Drop for TestServingReplica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestServer {
    /// Starts `slipway serve` against this server with `token`, on a free port and its own
    /// cache dir; returns once it listens (it may still be loading models: see `/readyz`).
    pub fn serving_replica(&self, token: &str) -> TestServingReplica {
        self.serving_replica_with(token, &[])
    }

    /// [`Self::serving_replica`] with extra flags.
    pub fn serving_replica_with(&self, token: &str, extra: &[&str]) -> TestServingReplica {
        let cache = tempfile::tempdir().expect("temp dir");
        let mut child = command()
            .args(["serve", "--server", &self.url, "--addr", "127.0.0.1:0"])
            .arg("--cache-dir")
            .arg(cache.path())
            .args(extra)
            .env("SLIPWAY_TOKEN", token)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start slipway serve");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("slipway listening on ") {
                    let _ = sender.send(url.to_owned());
                }
            }
        });
        let url = receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("the serving replica printed its address");
        TestServingReplica {
            child,
            url,
            _cache: cache,
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Submits a job with `spec` and waits (up to five minutes) for it to end.
pub async fn run_job(client: &Client, spec: impl Into<slipway_api::JobSpec>) -> slipway_api::Job {
    let job = client
        .submit_job(&slipway_api::SubmitJob::new(spec))
        .await
        .expect("submit the job");
    wait_job(client, job.id).await
}

/// Runs a train job whose spec registers its model (`register_as`) and answers the version it
/// registered; a job that did not succeed fails the test with its error.
pub async fn train_and_register(client: &Client, spec: slipway_api::TrainSpec) -> u32 {
    let job = run_job(client, spec).await;
    assert_eq!(
        job.state,
        slipway_api::JobState::Succeeded,
        "{:?}",
        job.error
    );
    job.result_as::<slipway_api::TrainResult>()
        .expect("a train job's result")
        .version
        .expect("the train spec registers its model")
}

/// Waits (up to five minutes) for job `id` to end.
pub async fn wait_job(client: &Client, id: i64) -> slipway_api::Job {
    eventually("the job to end", Duration::from_secs(300), || {
        let client = client.clone();
        async move {
            let job = client.get_job(id).await.ok()?;
            job.state.is_terminal().then_some(job)
        }
    })
    .await
}

/// Creates a token named `name` with `role` through `admin`; returns its secret.
pub async fn new_token(admin: &Client, name: &str, role: slipway_api::Role) -> String {
    admin
        .create_token(
            &slipway_api::CreateToken {
                name: name.into(),
                role,
            },
            None,
        )
        .await
        .expect("create a token")
        .secret
}

/// Grows `experiment` from `have` to `target` runs, written by `writers` concurrent clients.
/// Run `i` logs `metrics` metrics (`acc`, then `m1`, `m2`, …; `acc` is `i % 1000 / 1000`), the
/// param `lr` (`0.1`, `0.01` or `0.001`) and the tag `team` (`vision` or `speech`).
pub async fn populate_runs(
    client: &Client,
    experiment: &str,
    (have, target): (usize, usize),
    writers: usize,
    metrics: usize,
) {
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let client = client.clone();
        let experiment = experiment.to_owned();
        tasks.push(tokio::spawn(async move {
            for i in (have + writer..target).step_by(writers) {
                let run = client
                    .create_run(&slipway_api::CreateRun {
                        experiment: Some(experiment.clone()),
                        ..slipway_api::CreateRun::default()
                    })
                    .await
                    .expect("create a run");
                let batch = slipway_api::LogBatch {
                    metrics: (0..metrics)
                        .map(|m| slipway_api::MetricPoint {
                            key: if m == 0 {
                                "acc".into()
                            } else {
                                format!("m{m}")
                            },
                            value: ((i * (2 * m + 1) + m) % 1000) as f64 / 1000.0,
                            step: 1,
                            timestamp: None,
                        })
                        .collect(),
                    params: vec![slipway_api::KeyValue {
                        key: "lr".into(),
                        value: ["0.1", "0.01", "0.001"][i % 3].into(),
                    }],
                    tags: vec![slipway_api::KeyValue {
                        key: "team".into(),
                        value: ["vision", "speech"][i % 2].into(),
                    }],
                };
                client
                    .log_batch(run.id, &batch)
                    .await
                    .expect("log to the run");
            }
        }));
    }
    for task in tasks {
        task.await.expect("a writer");
    }
}

/// The costliest run filter the server's caps allow, over runs [`populate_runs`] wrote with
/// seven metrics: eight keys, fifty comparisons, none an index can answer, none satisfied.
pub fn costliest_filter() -> String {
    let mut parts: Vec<String> = (0..49)
        .map(|i| {
            let key = if i % 7 == 0 {
                "acc".to_owned()
            } else {
                format!("m{}", i % 7)
            };
            format!("metrics.{key} > {}.5", 2 + i)
        })
        .collect();
    parts.push("params.lr LIKE '%9%'".into());
    parts.join(" or ")
}

/// The bundled digits rows (`datasets/digits.csv`) as named predict instances, with
/// `transform` applied to every pixel (`|v| v` for the rows as they are).
pub fn digits_instances(transform: impl Fn(f64) -> f64) -> Vec<serde_json::Value> {
    const DIGITS: &str = include_str!("../../datasets/digits.csv");
    let mut lines = DIGITS.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    lines
        .map(|line| {
            let named: serde_json::Map<String, serde_json::Value> = header
                .iter()
                .zip(line.split(','))
                .filter(|(name, _)| **name != "label")
                .map(|(name, value)| {
                    let value: f64 = value.parse().unwrap_or(f64::NAN);
                    ((*name).to_owned(), serde_json::json!(transform(value)))
                })
                .collect();
            serde_json::Value::Object(named)
        })
        .collect()
}
