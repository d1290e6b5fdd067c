//! Files on disk: the data dir and the database are private, partial uploads do not outlive
//! a crash, and blobs nothing references are collected — but never one that is referenced or
//! young enough that an upload may be about to reference it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{CreateRun, GcReport, PageRequest};
use slipway_tests::TestServer;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const IRIS: &[u8] = include_bytes!("../../datasets/iris.csv");

fn blob(data_dir: &Path, digest: &str) -> PathBuf {
    data_dir.join("artifacts").join(&digest[..2]).join(digest)
}

/// Sets a blob's modification time `age` into the past, as if stored that long ago.
fn age(path: &Path, age: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
}

const TWO_HOURS: Duration = Duration::from_secs(2 * 60 * 60);

#[cfg(unix)]
#[tokio::test]
async fn data_dir_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("fresh");
    let mut server = TestServer::start_in(&data_dir, &[]);
    server.keep(temp);
    // A write, so the WAL is in use.
    server
        .admin()
        .create_run(&CreateRun::default())
        .await
        .unwrap();
    let mode = |name: &str| {
        let path = data_dir.join(name);
        std::fs::metadata(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data dir");
    assert_eq!(mode("artifacts"), 0o700);
    assert_eq!(mode("admin-token"), 0o600);
    if slipway_tests::database::skip_on_postgres(
        "the database files are PostgreSQL's own, outside the data dir",
    ) {
        return;
    }
    for file in ["slipway.db", "slipway.db-wal", "slipway.db-shm"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}

#[tokio::test]
async fn partial_uploads_are_removed_at_start() {
    let temp = tempfile::tempdir().unwrap();
    let tmp = temp.path().join("artifacts").join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let partial = tmp.join("upload-00000000deadbeef");
    std::fs::write(&partial, vec![0u8; 4096]).unwrap();
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&partial)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    // A replica sharing the data dir may be writing this one right now: it stays.
    let in_progress = tmp.join("upload-00000000feedface");
    std::fs::write(&in_progress, vec![0u8; 4096]).unwrap();
    let mut server = TestServer::start_in(temp.path(), &[]);
    server.keep(temp);
    assert!(!partial.exists(), "the partial upload was left behind");
    assert!(
        in_progress.exists(),
        "an upload still being written was removed"
    );
    // Uploads still work afterwards.
    let client = server.admin();
    let run = client.create_run(&CreateRun::default()).await.unwrap();
    client
        .upload_artifact(run.id, "a.txt", b"after".to_vec())
        .await
        .unwrap();
}

/// A server with a run whose artifact `model.bin` was overwritten twice: the first content's
/// blob is unreferenced and old, the second's unreferenced and recent, the third's referenced
/// (and old); a dataset's blob is referenced (and old). Returns the digests in that order.
async fn store_with_garbage(server: &TestServer) -> [String; 4] {
    let client = server.admin();
    let run = client.create_run(&CreateRun::default()).await.unwrap();
    let mut digests = Vec::new();
    for content in ["first", "second", "third"] {
        let artifact = client
            .upload_artifact(run.id, "model.bin", content.as_bytes().to_vec())
            .await
            .unwrap();
        digests.push(artifact.digest);
    }
    let dataset = client
        .upload_dataset("iris", "species", None, IRIS.to_vec())
        .await
        .unwrap();
    digests.push(dataset.dataset.digest);
    for digest in [&digests[0], &digests[2], &digests[3]] {
        age(&blob(&server.data_dir, digest), TWO_HOURS);
    }
    digests.try_into().unwrap()
}

#[tokio::test]
async fn gc_removes_unreferenced_blobs_and_keeps_referenced() {
    let server = TestServer::start();
    let [old, recent, referenced, dataset] = store_with_garbage(&server).await;
    let path = |digest: &str| blob(&server.data_dir, digest);

    // A dry run lists the old unreferenced blob and removes nothing.
    let (ok, stdout, stderr) = server.cli(&["gc", "--dry-run", "--output", "json"]);
    assert!(ok, "{stderr}");
    let report: GcReport = serde_json::from_str(&stdout).unwrap();
    assert!(report.dry_run);
    assert_eq!(report.removed, 1);
    assert_eq!(report.blobs[0].digest, old);
    assert_eq!(report.bytes_freed, "first".len() as u64);
    assert!(path(&old).exists());

    // The real run removes it and prints what it freed.
    let (ok, stdout, stderr) = server.cli(&["gc"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&format!("sha256:{old}")), "{stdout}");
    assert!(
        stdout.contains("removed 1 unreferenced blobs, 5 bytes freed"),
        "{stdout}"
    );
    assert!(!path(&old).exists());
    for kept in [&recent, &referenced, &dataset] {
        assert!(path(kept).exists(), "{kept} was removed");
    }
    // Everything still referenced still reads.
    let client = server.admin();
    let content = client.download_dataset("iris", 1).await.unwrap();
    assert_eq!(content, IRIS);

    // Audited; and admin only.
    let audit = client.list_audit(&PageRequest::default()).await.unwrap();
    let event = audit
        .items
        .iter()
        .find(|e| e.action == "artifacts.gc")
        .expect("the collection is audited");
    assert_eq!(event.details.as_ref().unwrap()["removed"], 1);
    let viewer = client
        .create_token(
            &slipway_api::CreateToken {
                name: "viewer".into(),
                role: slipway_api::Role::Viewer,
            },
            None,
        )
        .await
        .unwrap();
    let err = server
        .client(Some(viewer.secret))
        .gc(true)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
}

#[tokio::test]
async fn gc_keeps_recent_blobs() {
    let server = TestServer::start();
    let [old, recent, _, _] = store_with_garbage(&server).await;
    let path = |digest: &str| blob(&server.data_dir, digest);
    let client = server.admin();

    // The unreferenced recent blob is reported as kept, not collected.
    let report = client.gc(false).await.unwrap();
    assert_eq!(report.removed, 1);
    assert_eq!(report.kept_recent, 1);
    assert!(path(&recent).exists());

    // An upload that finds its blob already stored (dedup) makes it young again, so a
    // collection between the upload's blob and its row never takes it: store "first" again
    // as an unreferenced blob, age it, then upload the same content under another run.
    let run = client.create_run(&CreateRun::default()).await.unwrap();
    let again = client
        .upload_artifact(run.id, "x.bin", b"first".to_vec())
        .await
        .unwrap();
    assert_eq!(again.digest, old);
    client
        .upload_artifact(run.id, "x.bin", b"other".to_vec())
        .await
        .unwrap();
    age(&path(&old), TWO_HOURS);
    let third = client.create_run(&CreateRun::default()).await.unwrap();
    client
        .upload_artifact(third.id, "y.bin", b"first".to_vec())
        .await
        .unwrap();
    let modified = std::fs::metadata(path(&old)).unwrap().modified().unwrap();
    assert!(
        modified > SystemTime::now() - Duration::from_secs(600),
        "dedup refreshed the blob's age"
    );
    let report = client.gc(false).await.unwrap();
    assert!(report.blobs.iter().all(|b| b.digest != old), "{report:?}");
    let body = client.download_artifact(third.id, "y.bin").await.unwrap();
    assert_eq!(body, b"first");
}
