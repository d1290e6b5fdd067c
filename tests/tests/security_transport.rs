//! The transport's limits against a real server, with short configured timeouts: slow
//! headers and bodies, too many connections, a request deadline that spares long polls, rate
//! limits configured by flags, and an event stream whose token is revoked.

use futures_util::StreamExt;
use slipway_api::{CreateToken, RegisterWorker, Role};
use slipway_tests::{TestServer, command};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn start(flags: &[&str]) -> TestServer {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut server = TestServer::start_in(temp.path(), flags);
    server.keep(temp);
    server
}

fn connect(server: &TestServer) -> TcpStream {
    let addr = server.url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    stream
}

/// What a read found within its timeout.
#[derive(Debug, PartialEq)]
enum Heard {
    Data(String),
    Closed,
    Nothing,
}

fn read_some(stream: &mut TcpStream) -> Heard {
    let mut buffer = [0u8; 4096];
    match stream.read(&mut buffer) {
        Ok(0) => Heard::Closed,
        Ok(n) => Heard::Data(String::from_utf8_lossy(&buffer[..n]).into_owned()),
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Heard::Nothing
        }
        Err(_) => Heard::Closed,
    }
}

/// Reads until the server closes the connection or `within` passes; returns whether it
/// closed and everything it sent.
fn until_closed(stream: &mut TcpStream, within: Duration) -> (bool, String) {
    let deadline = Instant::now() + within;
    let mut received = String::new();
    while Instant::now() < deadline {
        match read_some(stream) {
            Heard::Closed => return (true, received),
            Heard::Data(text) => received.push_str(&text),
            Heard::Nothing => {}
        }
    }
    (false, received)
}

#[test]
fn slow_header_connection_is_closed_within_header_timeout() {
    let server = start(&["--header-timeout-secs", "1"]);

    // Half a header, then silence.
    let mut half = connect(&server);
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: slipway\r\n")
        .unwrap();
    let (closed, _) = until_closed(&mut half, Duration::from_secs(5));
    assert!(closed, "a half-sent header kept its connection open");

    // A header trickling in a byte at a time, never finished in time.
    let mut trickle = connect(&server);
    let header =
        b"GET /healthz HTTP/1.1\r\nHost: slipway\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let started = Instant::now();
    let mut closed = false;
    for byte in header.iter().cycle() {
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
        if trickle.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        if until_closed(&mut trickle, Duration::from_millis(300)).0 {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickling header kept its connection open");

    // An idle connection that never says anything is closed too.
    let mut idle = connect(&server);
    assert!(until_closed(&mut idle, Duration::from_secs(5)).0);
}

#[test]
fn slow_body_gets_408() {
    let server = start(&["--body-timeout-secs", "1"]);
    let mut stream = connect(&server);
    let head = format!(
        "POST /api/v1/runs/search HTTP/1.1\r\nHost: slipway\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        server.admin_token()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let (_, answer) = until_closed(&mut stream, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
}

#[test]
fn connections_beyond_cap_are_not_accepted() {
    let server = start(&["--max-connections", "2"]);
    let first = connect(&server);
    let _second = connect(&server);
    // The kernel completes the third handshake, but the server does not take the connection
    // while two are open: its request waits unanswered.
    let mut third = connect(&server);
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: slipway\r\n\r\n")
        .unwrap();
    let waited = Instant::now() + Duration::from_secs(1);
    while Instant::now() < waited {
        assert_eq!(
            read_some(&mut third),
            Heard::Nothing,
            "served beyond the cap"
        );
    }
    // One closes: the waiting client is served.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answer = String::new();
    while Instant::now() < deadline && !answer.contains("\r\n\r\n") {
        if let Heard::Data(text) = read_some(&mut third) {
            answer.push_str(&text);
        }
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_long_poll_outlives_the_request_deadline() {
    let server = start(&["--request-deadline-secs", "1"]);
    let admin = server.admin();
    let worker = admin
        .register_worker(&RegisterWorker {
            name: "patient".into(),
            version: "test".into(),
            cpu_cores: 1,
            cuda_devices: 0,
            labels: Vec::new(),
            concurrency: 1,
            allow_commands: false,
        })
        .await
        .unwrap();
    let started = Instant::now();
    let answer = admin.lease_job(worker.id, 2500).await.unwrap();
    assert!(answer.lease.is_none());
    assert!(started.elapsed() >= Duration::from_secs(2), "it waited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_over_rate_limit_answers_429_with_retry_after() {
    let server = start(&["--predict-rate", "0.5", "--predict-burst", "1"]);
    let viewer = server
        .admin()
        .create_token(
            &CreateToken {
                name: "vera".into(),
                role: Role::Viewer,
            },
            None,
        )
        .await
        .unwrap()
        .secret;
    let predict = || {
        reqwest::Client::new()
            .post(format!("{}/api/v1/deployments/nope/predict", server.url))
            .bearer_auth(&viewer)
            .json(&serde_json::json!({"instances": [[1.0]]}))
            .send()
    };
    assert_eq!(predict().await.unwrap().status().as_u16(), 404);
    let limited = predict().await.unwrap();
    assert_eq!(limited.status().as_u16(), 429);
    assert_eq!(limited.headers()["retry-after"], "2");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_event_stream_ends() {
    let server = TestServer::start();
    let admin = server.admin();
    let viewer = admin
        .create_token(
            &CreateToken {
                name: "vera".into(),
                role: Role::Viewer,
            },
            None,
        )
        .await
        .unwrap()
        .secret;
    let stream = reqwest::Client::new()
        .get(format!("{}/api/v1/events", server.url))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    admin.revoke_token("vera", Some("left")).await.unwrap();
    let mut chunks = stream.bytes_stream();
    let drained = async { while let Some(Ok(_)) = chunks.next().await {} };
    assert!(
        tokio::time::timeout(Duration::from_secs(10), drained)
            .await
            .is_ok(),
        "the stream outlived its token"
    );
}

#[test]
fn invalid_limits_are_refused_at_start() {
    let temp = tempfile::tempdir().unwrap();
    let output = command()
        .args(["server", "--addr", "127.0.0.1:0", "--max-connections", "0"])
        .arg("--data-dir")
        .arg(temp.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("limits.max_connections"), "{stderr}");
}
