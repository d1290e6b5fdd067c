//! Artifacts on S3-compatible object storage, against a real one: `moto` in server mode,
//! started from the test venv on a free loopback port, and the real binary started with
//! `--artifacts s3://…` and the AWS environment pointed at it. Uploads and downloads come back
//! byte for byte, the blobs really are objects in the bucket, the collector lists them, a
//! 200 MB artifact goes through without the server holding it in memory, a second server on
//! the same database and bucket reads what the first wrote (PostgreSQL only), and a model
//! trained with its weights in the bucket is served.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{Client, CreateRun, DeployRequest, PredictRequest, TrainSpec};
use slipway_ml::Dataset;
use slipway_tests::{TestServer, database, eventually, python};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BUCKET: &str = "slipway-artifacts";
const PREFIX: &str = "team/slipway";
const BIG: usize = 200 * 1024 * 1024;
const DIGITS: &[u8] = include_bytes!("../../datasets/digits.csv");

/// A moto server, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto on a free loopback port and creates the bucket with a plain HTTP PUT.
    async fn start() -> Self {
        let venv = tokio::task::spawn_blocking(python::venv).await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(venv.join("bin").join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server from the test venv");
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let bucket = format!("{}/{BUCKET}", moto.endpoint);
        eventually("moto to create the bucket", Duration::from_secs(60), || {
            let request = http.put(&bucket);
            async move {
                let response = request.send().await.ok()?;
                response.status().is_success().then_some(())
            }
        })
        .await;
        moto
    }

    /// The AWS environment that points a server at this moto.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ]
    }

    /// The keys in the bucket under the prefix, listed by moto itself.
    async fn keys(&self) -> Vec<String> {
        let listing = reqwest::get(format!(
            "{}/{BUCKET}?list-type=2&prefix={PREFIX}/&max-keys=1000",
            self.endpoint
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect()
    }
}

/// Starts `subcommand` on `data_dir` with its artifacts in moto's bucket.
fn start_on(moto: &Moto, subcommand: &str, data_dir: &std::path::Path) -> TestServer {
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let artifacts = format!("s3://{BUCKET}/{PREFIX}");
    TestServer::start_with_env(subcommand, data_dir, &["--artifacts", &artifacts], &env)
}

/// The server's peak resident memory (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    status_bytes(pid, "VmHWM:")
}

/// The process's resident memory now.
fn rss(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS:")
}

/// A size in bytes from `/proc/<pid>/status` (its line starting with `field`, in kB).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/<pid>/status"));
    let kib: u64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// `len` bytes that do not repeat in any short period (a xorshift stream).
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

async fn new_run(client: &Client) -> i64 {
    client.create_run(&CreateRun::default()).await.unwrap().id
}

#[tokio::test(flavor = "multi_thread")]
async fn artifacts_live_in_the_bucket_and_stream_through() {
    let moto = Moto::start().await;
    let data_dir = tempfile::tempdir().unwrap();
    let server = start_on(&moto, "server", data_dir.path());
    let client = server.admin();
    let run = new_run(&client).await;

    // A small artifact: byte for byte back, listed, and an object in the bucket.
    let small = b"weights,0.25,0.75\n".to_vec();
    let stored = client
        .upload_artifact(run, "model/weights.csv", small.clone())
        .await
        .unwrap();
    assert_eq!(
        client
            .download_artifact(run, "model/weights.csv")
            .await
            .unwrap(),
        small
    );
    let listed = client.list_artifacts(run).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].digest, stored.digest);
    let expected_key = format!("{PREFIX}/{}/{}", &stored.digest[..2], stored.digest);
    assert_eq!(moto.keys().await, vec![expected_key.clone()]);
    // Nothing but the staging folder on the server's own disk.
    let on_disk: Vec<_> = std::fs::read_dir(data_dir.path().join("artifacts"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(on_disk, vec!["tmp".to_owned()]);

    // The same bytes again are the same object.
    client
        .upload_artifact(run, "copy.csv", small.clone())
        .await
        .unwrap();
    assert_eq!(moto.keys().await.len(), 1);

    // 200 MB: sent in parts, streamed back, and never held whole by the server. What the
    // transfer adds to the server's memory is measured, not its whole footprint, which
    // depends on the build and the allocator.
    let before = rss(server.pid());
    let big = noise(BIG);
    let uploaded = client
        .upload_artifact(run, "big.bin", big.clone())
        .await
        .unwrap();
    assert_eq!(uploaded.size, BIG as u64);
    let downloaded = client.download_artifact(run, "big.bin").await.unwrap();
    assert!(downloaded == big, "the 200 MB artifact came back changed");
    drop(downloaded);
    let grown = peak_rss(server.pid()).saturating_sub(before);
    println!(
        "server peak RSS grew by {:.1} MB over a {} MB upload and download",
        grown as f64 / (1024.0 * 1024.0),
        BIG / (1024 * 1024),
    );
    assert!(
        grown < (BIG as u64) / 2,
        "the server's peak RSS grew by {grown} bytes for a {BIG} byte artifact"
    );
    let keys = moto.keys().await;
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&format!(
        "{PREFIX}/{}/{}",
        &uploaded.digest[..2],
        uploaded.digest
    )));

    // The collector lists the bucket: replacing an artifact leaves its old blob unreferenced,
    // kept because it is younger than the grace age.
    client
        .upload_artifact(run, "model/weights.csv", b"weights,1,0\n".to_vec())
        .await
        .unwrap();
    let report = client.gc(true).await.unwrap();
    assert_eq!(report.scanned, 3);
    assert_eq!(report.kept_recent, 0);
    client
        .upload_artifact(run, "copy.csv", b"other\n".to_vec())
        .await
        .unwrap();
    let report = client.gc(true).await.unwrap();
    assert_eq!(report.scanned, 4);
    assert_eq!(report.kept_recent, 1);
    assert_eq!(report.removed, 0);

    // A replica: a second server on the same database and bucket reads what the first wrote.
    if database::postgres() {
        let replica = start_on(&moto, "server", data_dir.path());
        let from_replica = replica
            .admin()
            .download_artifact(run, "big.bin")
            .await
            .unwrap();
        assert!(from_replica == big, "the replica read another artifact");
    } else {
        println!(
            "not run on SQLite: a replica on the same database needs PostgreSQL \
             (set {} to run it)",
            database::ADMIN_URL_VAR
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_trained_with_its_weights_in_the_bucket_is_served() {
    let moto = Moto::start().await;
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = start_on(&moto, "up", data_dir.path());
    server.keep(data_dir);
    let client = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("digits").await.ok() }
    })
    .await;
    let spec = TrainSpec {
        dataset: "digits".into(),
        hidden: Some(vec![16]),
        epochs: Some(4),
        seed: Some(3),
        register_as: Some("digits".into()),
        ..TrainSpec::default()
    };
    let version = slipway_tests::train_and_register(&client, spec).await;
    let model = client
        .model_version("digits", &version.to_string())
        .await
        .unwrap();
    let keys = moto.keys().await;
    for digest in [&model.artifact_digest, &model.manifest_digest] {
        let key = format!("{PREFIX}/{}/{digest}", &digest[..2]);
        assert!(keys.contains(&key), "{key} is not in the bucket: {keys:?}");
    }
    client
        .deploy(
            "digits",
            &DeployRequest {
                model: Some("digits".into()),
                version: Some(version),
                ..DeployRequest::default()
            },
            None,
        )
        .await
        .unwrap();
    let row = Dataset::from_csv(DIGITS, "label", None)
        .unwrap()
        .features
        .remove(0);
    let answer = eventually("the deployment to answer", Duration::from_secs(60), || {
        let client = client.clone();
        let request = PredictRequest {
            instances: vec![serde_json::json!(row)],
            key: None,
        };
        async move { client.predict("digits", &request).await.ok() }
    })
    .await;
    assert_eq!(answer.model_version, version);
    assert_eq!(answer.predictions.len(), 1);
}
