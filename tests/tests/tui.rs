//! The terminal client against a real server, driven through a real terminal (tmux): open a
//! deployment with two revisions, press `r`, confirm with a reason, and find the rollback
//! revision through the API; a viewer token gets a read-only client whose keys change nothing;
//! with a contexts file naming two servers, `:ctx` switches from one to the other.
//! Skipped (with a note) where tmux is not installed.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{Client, CreateToken, DeployRequest, Role, SubmitJob, TrainSpec};
use slipway_tests::{TestServer, binary, eventually};
use std::process::Command;
use std::time::{Duration, Instant};

/// One tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|out| out.status.success())
    }

    fn new(name: &str) -> Self {
        Self {
            socket: format!("slipway-tui-{name}-{}", std::process::id()),
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `slipway tui` in a 160×45 terminal; after it exits the pane stays, showing its
    /// exit status.
    fn start(&self, server: &TestServer, token: &str) {
        self.start_with(
            &format!("SLIPWAY_TOKEN={token}"),
            &format!("--server {} tui", server.url),
        );
    }

    /// Starts `slipway ARGS` with the environment `ENV` (`NAME=value …`) added.
    fn start_with(&self, env: &str, args: &str) {
        let command = format!(
            "env {env} SLIPWAY_DATA_DIR=/nonexistent RUST_LOG=off {} {args}; \
             echo \"tui exited $?\"; sleep 600",
            binary().display(),
        );
        self.tmux(&[
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            "160",
            "-y",
            "45",
            "sh",
            "-c",
            &command,
        ]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "tui"])
    }

    /// Types `keys` as text (no key names).
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "tui", "-l", text]);
    }

    /// Presses named keys (`Enter`, `Escape`, …).
    fn press(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "tui", key]);
    }

    /// Waits until the screen shows all of `texts`; returns it.
    fn wait_for(&self, texts: &[&str]) -> String {
        self.wait_until(&format!("the screen never showed {texts:?}"), |screen| {
            texts.iter().all(|text| screen.contains(text))
        })
    }

    /// Waits until the screen no longer shows `text`.
    fn wait_until_gone(&self, text: &str) {
        self.wait_until(&format!("the screen still shows {text:?}"), |screen| {
            !screen.contains(text)
        });
    }

    /// Waits (up to a minute) until the screen is as `done` wants it; returns it.
    fn wait_until(&self, failure: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{failure}:\n{screen}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

async fn train(client: &Client, seed: u64) -> u32 {
    let spec = TrainSpec {
        dataset: "iris".into(),
        hidden: Some(vec![8]),
        epochs: Some(10),
        seed: Some(seed),
        register_as: Some("iris".into()),
        ..TrainSpec::default()
    };
    slipway_tests::train_and_register(client, spec).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_back_from_the_terminal_and_a_viewer_sees_no_actions() {
    if !Tmux::available() {
        eprintln!("tmux is not installed: skipping the terminal client test");
        return;
    }
    let server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("iris").await.ok() }
    })
    .await;
    let v1 = train(&client, 1).await;
    let v2 = train(&client, 2).await;
    for (version, reason) in [(v1, "first release"), (v2, "second release")] {
        let request = DeployRequest {
            model: Some("iris".into()),
            version: Some(version),
            ..DeployRequest::default()
        };
        client
            .deploy("iris-prod", &request, Some(reason))
            .await
            .unwrap();
    }
    assert_eq!(
        client
            .deployment_revisions("iris-prod")
            .await
            .unwrap()
            .len(),
        2
    );

    // An engineer's cockpit: open the deployment, roll back, give the reason.
    let tmux = Tmux::new("admin");
    tmux.start(&server, &server.admin_token());
    let screen = tmux.wait_for(&["iris-prod", "● live", "(admin)"]);
    assert!(screen.contains("r rollback"), "{screen}");
    // The list carries each deployment's health, and sorts by any column.
    tmux.wait_for(&["REQ/S", "P99", "ERRORS", "DRIFT", "ALERTS"]);
    tmux.type_text("s");
    tmux.wait_for(&["sorted by NAME, ascending"]);
    tmux.press("Enter");
    tmux.wait_for(&["Revisions", "second release", "first release"]);
    tmux.type_text("r");
    tmux.wait_for(&["Roll back", "rev 1 · v1", "Reason:"]);
    tmux.type_text("canary looked wrong");
    tmux.press("Enter");
    tmux.wait_for(&["rolled iris-prod back to revision 1"]);
    let revisions = client.deployment_revisions("iris-prod").await.unwrap();
    let newest = revisions.iter().max_by_key(|r| r.revision).unwrap();
    assert_eq!(revisions.len(), 3);
    assert_eq!(newest.action, "rollback");
    assert_eq!(newest.rolled_back_to, Some(1));
    assert_eq!(newest.spec.primary, v1);
    assert_eq!(newest.reason.as_deref(), Some("canary looked wrong"));
    // The detail follows the change live.
    tmux.wait_for(&["revision 3", "canary looked wrong"]);
    tmux.type_text("q");
    tmux.wait_for(&["tui exited 0"]);
    drop(tmux);

    // A viewer: no actions in the footer or the help, and `r` changes nothing.
    let viewer = client
        .create_token(
            &CreateToken {
                name: "stakeholder".into(),
                role: Role::Viewer,
            },
            None,
        )
        .await
        .unwrap();
    let tmux = Tmux::new("viewer");
    tmux.start(&server, &viewer.secret);
    let screen = tmux.wait_for(&["iris-prod", "read-only", "(viewer)"]);
    assert!(!screen.contains("r rollback"), "{screen}");
    assert!(!screen.contains("p promote"), "{screen}");
    tmux.press("Enter");
    tmux.wait_for(&["Revisions", "canary looked wrong"]);
    tmux.type_text("r");
    tmux.wait_for(&["read-only: this token cannot change anything"]);
    tmux.type_text("?");
    let help = tmux.wait_for(&["Keys (read-only)"]);
    assert!(help.contains("filter the table"), "{help}");
    assert!(!help.contains("rollback to a revision"), "{help}");
    assert!(!help.contains("cancel the job"), "{help}");
    tmux.press("Escape");
    // An Escape followed at once by `q` reads as Alt+q, which only closes the help: wait for
    // the help to close before quitting.
    tmux.wait_until_gone("Keys (read-only)");
    tmux.type_text("q");
    tmux.wait_for(&["tui exited 0"]);
    assert_eq!(
        client
            .deployment_revisions("iris-prod")
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_shows_the_connection_and_the_client_reconnects_by_itself() {
    if !Tmux::available() {
        eprintln!("tmux is not installed: skipping the terminal client test");
        return;
    }
    let mut server = TestServer::up();
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("iris").await.ok() }
    })
    .await;
    let tmux = Tmux::new("reconnect");
    tmux.start(&server, &server.admin_token());
    tmux.wait_for(&["● live", "Deployments (0)"]);
    server.kill9();
    tmux.wait_for(&["reconnecting"]);
    server.restart_same_address();
    tmux.wait_for(&["● live"]);
    // After the restart the client resumes and refetches: a new job shows up live.
    tmux.type_text("4");
    tmux.wait_for(&["Jobs ("]);
    // (The restarted server has no worker, so the job stays queued.)
    let spec = TrainSpec {
        dataset: "iris".into(),
        ..TrainSpec::default()
    };
    let job = server
        .admin()
        .submit_job(&SubmitJob::new(spec))
        .await
        .unwrap();
    tmux.wait_for(&[&format!("› {} ", job.id), "queued"]);
    tmux.type_text("q");
    tmux.wait_for(&["tui exited 0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_between_two_servers_of_the_contexts_file() {
    let one = TestServer::up();
    let two = TestServer::up();
    // Each server's audit log names a token only it has, to tell them apart on screen.
    for (server, name) in [(&one, "only-on-one"), (&two, "only-on-two")] {
        server
            .admin()
            .create_token(
                &CreateToken {
                    name: name.into(),
                    role: Role::Viewer,
                },
                None,
            )
            .await
            .unwrap();
    }
    let path = std::env::temp_dir().join(format!("slipway-contexts-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "[[context]]\nname = \"one\"\nserver = \"{}\"\ntoken = \"{}\"\n\n\
             [[context]]\nname = \"two\"\nserver = \"{}\"\ntoken_env = \"SLIPWAY_TWO_TOKEN\"\n",
            one.url,
            one.admin_token(),
            two.url
        ),
    )
    .unwrap();

    // An unknown context is refused before the terminal is touched, naming the file.
    let out = Command::new(binary())
        .args(["tui", "--context", "three"])
        .env("SLIPWAY_CONTEXTS", &path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no context named 'three'"), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");

    if !Tmux::available() {
        eprintln!("tmux is not installed: skipping the terminal part of the contexts test");
        let _ = std::fs::remove_file(&path);
        return;
    }
    let tmux = Tmux::new("contexts");
    tmux.start_with(
        &format!(
            "SLIPWAY_CONTEXTS={} SLIPWAY_TWO_TOKEN={}",
            path.display(),
            two.admin_token()
        ),
        "tui --context one",
    );
    tmux.wait_for(&["[one]", "● live", "(admin)"]);
    tmux.type_text("8");
    tmux.wait_for(&["token/only-on-one"]);
    tmux.type_text(":ctx");
    tmux.press("Enter");
    tmux.wait_for(&["Contexts (2)", "* one", "$SLIPWAY_TWO_TOKEN"]);
    tmux.press("Down");
    tmux.press("Enter");
    tmux.wait_for(&["[two]", "switched to context two", "● live", "(admin)"]);
    tmux.type_text("8");
    let screen = tmux.wait_for(&["token/only-on-two"]);
    assert!(!screen.contains("only-on-one"), "{screen}");
    tmux.type_text("q");
    tmux.wait_for(&["tui exited 0"]);
    let _ = std::fs::remove_file(&path);
}
