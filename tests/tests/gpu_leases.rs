//! GPUs leased per device, without a GPU: a worker that declares two devices (`--gpus 2`)
//! runs two 1-GPU command jobs at once on different device indices (their scripts print
//! `CUDA_VISIBLE_DEVICES`), while a third waits queued until one ends and then runs on the
//! index it freed. The jobs' detail and `slipway jobs show` name the devices.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{Client, Job, JobState};
use slipway_tests::{TestServer, eventually, wait_job};
use std::path::Path;
use std::time::Duration;

/// Prints its devices, then holds them until the file named by its argument exists.
const SCRIPT: &str = r#"
import os, sys, time
print("devices=" + os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
"#;

fn submit(server: &TestServer, code: &Path, release: &Path) -> Job {
    let (code, release) = (code.to_str().unwrap(), release.to_str().unwrap());
    let args = [
        "-o", "json", "run", "-d", "--gpus", "1", "--code", code, "--", "python3", "hold.py",
        release,
    ];
    let (ok, out, err) = server.cli(&args);
    assert!(ok, "slipway run failed: {err}");
    serde_json::from_str(&out).unwrap()
}

/// The devices job `id` printed, once it has.
async fn printed(client: &Client, id: i64) -> String {
    eventually(
        "the script prints its devices",
        Duration::from_secs(60),
        || async {
            let logs = client.job_logs(id, 0, 100).await.ok()?;
            logs.lines
                .iter()
                .find_map(|line| line.message.strip_prefix("devices=").map(str::to_owned))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn two_gpu_jobs_share_a_two_gpu_worker_and_a_third_waits_for_a_free_device() {
    let server = TestServer::start();
    let _worker = server.worker(
        "two-gpus",
        &["--gpus", "2", "--allow-commands", "--concurrency", "3"],
    );
    let client = server.admin();
    let code = tempfile::tempdir().unwrap();
    std::fs::write(code.path().join("hold.py"), SCRIPT).unwrap();
    let releases: Vec<_> = (0..3)
        .map(|n| code.path().join(format!("release-{n}")))
        .collect();
    let jobs: Vec<Job> = releases
        .iter()
        .map(|release| submit(&server, code.path(), release))
        .collect();

    // The first two run at once, each on a device of its own, and say so.
    let first = printed(&client, jobs[0].id).await;
    let second = printed(&client, jobs[1].id).await;
    let mut seen = vec![first.clone(), second.clone()];
    seen.sort();
    assert_eq!(seen, ["0", "1"]);
    for (job, devices) in [(&jobs[0], &first), (&jobs[1], &second)] {
        let job = client.get_job(job.id).await.unwrap();
        assert_eq!(job.state, JobState::Running);
        assert_eq!(job.gpu_devices, [devices.parse::<u32>().unwrap()]);
    }
    let (ok, shown, err) = server.cli(&["jobs", "show", &jobs[0].id.to_string()]);
    assert!(ok, "{err}");
    assert!(shown.contains(&format!("gpus:     {first}")), "{shown}");

    // Both devices are held: the third job is still queued, though a slot is free.
    let third = client.get_job(jobs[2].id).await.unwrap();
    assert_eq!(third.state, JobState::Queued, "{third:?}");
    assert!(third.gpu_devices.is_empty());

    // The first ends; the third runs on the device it freed.
    std::fs::write(&releases[0], "").unwrap();
    let done = wait_job(&client, jobs[0].id).await;
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.error);
    assert_eq!(printed(&client, jobs[2].id).await, first);
    let third = client.get_job(jobs[2].id).await.unwrap();
    assert_eq!(third.gpu_devices, [first.parse::<u32>().unwrap()]);

    for release in &releases[1..] {
        std::fs::write(release, "").unwrap();
    }
    for job in &jobs[1..] {
        let job = wait_job(&client, job.id).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    }
}
