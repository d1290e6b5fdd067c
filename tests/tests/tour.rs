//! The README's short tour, run command by command in its order from a fresh `up`, so the
//! first thing a newcomer types cannot rot. Two things are shortened and nothing else is
//! changed: training epochs (a debug build trains slowly) and the pipeline's bake (ten minutes
//! in the bundled file). `slipway tui` is left to `tui.rs`, which drives it in a real terminal.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use slipway_tests::{TestServer, binary};
use std::path::Path;
use std::process::{Command, Output};

/// The `slipway …` commands of the tour's code block, continuation lines joined.
fn tour_commands(readme: &str) -> Vec<String> {
    let start = readme
        .find("## A short tour")
        .expect("the README has a tour");
    let block = &readme[start..];
    let block = &block[block.find("```sh\n").expect("the tour's code block") + 6..];
    let block = &block[..block.find("```").expect("the block ends")];
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        let continued = line.trim_end().ends_with('\\');
        pending.push_str(line.trim_end().trim_end_matches('\\'));
        pending.push(' ');
        if !continued {
            let command = pending.trim().to_owned();
            pending.clear();
            if command.starts_with("slipway ") {
                commands.push(command);
            }
        }
    }
    commands
}

/// Runs one tour line with bash in `dir`, `slipway` being the binary under test.
fn run(dir: &Path, url: &str, line: &str) -> Output {
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(format!("slipway() {{ \"$SLIPWAY_BIN\" \"$@\"; }}\n{line}"))
        .current_dir(dir)
        .env("SLIPWAY_BIN", binary())
        .env("SLIPWAY_SERVER", url)
        .env("RUST_LOG", "warn");
    for (key, _) in std::env::vars() {
        if key.starts_with("SLIPWAY_") && key != "SLIPWAY_BIN" && key != "SLIPWAY_SERVER" {
            command.env_remove(key);
        }
    }
    command.output().expect("run bash")
}

#[test]
fn the_readme_tour_runs_as_written_from_a_fresh_up() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let commands = tour_commands(&readme);
    assert!(
        commands.len() > 25,
        "the tour has its commands: {commands:?}"
    );

    // The folder a newcomer works in: the checkout's datasets, the pipeline with a short bake.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo.join("datasets"), dir.path().join("datasets")).unwrap();
    std::fs::create_dir(dir.path().join("pipelines")).unwrap();
    let pipeline = std::fs::read_to_string(repo.join("pipelines/digits-retrain.toml")).unwrap();
    assert!(pipeline.contains("epochs = 40") && pipeline.contains("bake_secs = 600"));
    std::fs::write(
        dir.path().join("pipelines/digits-retrain.toml"),
        pipeline
            .replace("epochs = 40", "epochs = 2")
            .replace("bake_secs = 600", "bake_secs = 2"),
    )
    .unwrap();
    let server = TestServer::up_in(&dir.path().join(".slipway"));

    for written in &commands {
        if written.starts_with("slipway tui") {
            continue;
        }
        let line = written
            .replace("epochs=30", "epochs=3")
            .replace("epochs=15", "epochs=1");
        // A watch runs until stopped; a person presses Ctrl-C after a frame or two.
        let line = match line.strip_prefix("slipway ") {
            Some(rest) if line.contains("--watch") => format!("timeout 5 \"$SLIPWAY_BIN\" {rest}"),
            _ => line,
        };
        let output = run(dir.path(), &server.url, &line);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let context = format!("`{written}`\nstdout:\n{stdout}\nstderr:\n{stderr}");
        let ok = match output.status.code() {
            Some(0) => true,
            // Stopped by `timeout` after printing frames.
            Some(124) if line.starts_with("timeout") => !stdout.trim().is_empty(),
            // A pipeline whose candidate does not beat the champion stops at its gate; the
            // tour promises the reason, not the outcome.
            Some(_) if written.starts_with("slipway pipeline run") => {
                stderr.contains("did not ship")
            }
            _ => false,
        };
        assert!(ok, "the tour's command failed: {context}");
        if !written.contains("--output json") {
            assert!(
                !stdout
                    .lines()
                    .any(|l| l.trim_start().starts_with('{') || l.trim_start().starts_with("[{")),
                "text mode printed raw JSON: {context}"
            );
        }
        let expect = |needle: &str| {
            assert!(
                stdout.contains(needle),
                "expected '{needle}' in the output of {context}"
            );
        };
        match written.as_str() {
            w if w.starts_with("slipway runs show 1") => expect("test_accuracy"),
            w if w.starts_with("slipway dataset list") => expect("digits"),
            w if w.starts_with("slipway predict") && w.contains("--batch-rows") => expect("v2"),
            w if w.starts_with("slipway deployments history") => expect("rollback"),
            w if w.starts_with("slipway schedule list") => expect("paused"),
            w if w.starts_with("slipway jobs submit sleep") => expect("#1"),
            _ => {}
        }
    }
    assert!(
        dir.path().join("iris.csv").metadata().unwrap().len() > 1000,
        "dataset download wrote the file"
    );
}
