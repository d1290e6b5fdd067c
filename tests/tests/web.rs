//! The web dashboard against a real server: sign-in, session cookie and CSRF over plain HTTP,
//! then a real headless Chromium driven over WebDriver: a viewer sees no rollback button, an
//! engineer rolls back with a reason through the form, and the API shows the new revision. A
//! screenshot of the overview is saved under the target's temporary folder.
//!
//! The browser part needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`); without them it says so and skips.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    Client, CreateRun, CreateToken, DeployRequest, KeyValue, LogBatch, MetricPoint, PredictRequest,
    Role, TrainSpec,
};
use slipway_tests::axe;
use slipway_tests::browser::Browser;
use slipway_tests::{TestServer, eventually};
use std::path::PathBuf;
use std::time::{Duration, Instant};

async fn train(client: &Client, seed: u64) -> u32 {
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = client.clone();
        async move { client.dataset_versions("digits").await.ok() }
    })
    .await;
    let spec = TrainSpec {
        dataset: "digits".into(),
        hidden: Some(vec![32]),
        epochs: Some(3),
        seed: Some(seed),
        register_as: Some("digits".into()),
        ..TrainSpec::default()
    };
    slipway_tests::train_and_register(client, spec).await
}

/// A deployment `digits` at revision 2 (v1, then v2), and viewer and engineer tokens.
async fn platform(server: &TestServer) -> (String, String) {
    let admin = server.admin();
    let v1 = train(&admin, 1).await;
    let v2 = train(&admin, 2).await;
    for version in [v1, v2] {
        let request = DeployRequest {
            model: Some("digits".into()),
            version: Some(version),
            ..DeployRequest::default()
        };
        admin
            .deploy("digits", &request, Some(&format!("release v{version}")))
            .await
            .unwrap();
    }
    let mut secrets = Vec::new();
    for (name, role) in [("vera", Role::Viewer), ("erin", Role::Engineer)] {
        let created = admin
            .create_token(
                &CreateToken {
                    name: name.into(),
                    role,
                },
                None,
            )
            .await
            .unwrap();
        secrets.push(created.secret);
    }
    let engineer = secrets.pop().unwrap();
    let viewer = secrets.pop().unwrap();
    (viewer, engineer)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| {
            let value: String = value
                .bytes()
                .map(|byte| {
                    if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
                        (byte as char).to_string()
                    } else {
                        format!("%{byte:02X}")
                    }
                })
                .collect();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Signs in over plain HTTP; returns the session cookie (`name=value`) and the CSRF token of
/// the deployment page.
async fn sign_in(server: &TestServer, token: &str) -> (String, String) {
    let response = http()
        .post(format!("{}/sign-in", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", token), ("next", "/deployments/digits")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/deployments/digits");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let page = http()
        .get(format!("{}/deployments/digits", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    (cookie, csrf)
}

async fn post_rollback(server: &TestServer, cookie: &str, csrf: &str) -> reqwest::Response {
    http()
        .post(format!("{}/deployments/digits/rollback", server.url))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf", csrf),
            ("reason", "forged"),
            ("confirm", "yes"),
        ]))
        .send()
        .await
        .unwrap()
}

/// Audits one page of each type with axe-core as a signed-in viewer, the sign-in page first.
async fn audit_every_page(browser: &Browser, server: &TestServer, viewer: &str, run_id: i64) {
    browser.goto(&format!("{}/sign-in", server.url)).await;
    browser.wait_for_title("Sign in · Slipway").await;
    axe::audit(browser, "/sign-in").await;
    browser
        .sign_in(&server.url, viewer, "/", "Overview · Slipway")
        .await;
    let other_run = server
        .admin()
        .search_runs(&slipway_api::SearchRuns::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|run| run.id)
        .find(|id| *id != run_id)
        .unwrap_or(run_id);
    for path in [
        "/".to_owned(),
        "/deployments/digits".into(),
        "/runs".into(),
        format!("/runs/{run_id}"),
        format!("/runs/compare?run={run_id}&run={other_run}"),
        "/models".into(),
        "/models/digits".into(),
        "/models/digits/versions/1".into(),
        "/jobs".into(),
        "/jobs/1".into(),
        "/workers".into(),
        "/schedules".into(),
        "/alerts".into(),
        "/audit".into(),
    ] {
        browser.goto(&format!("{}{path}", server.url)).await;
        browser.wait_for("main", Duration::from_secs(20)).await;
        axe::audit(browser, &path).await;
    }
}

/// Where the screenshots go: `docs/` when `SLIPWAY_UPDATE_SCREENSHOTS=1` (to refresh the
/// README's), else the test artifacts, so a test run leaves the clone clean.
fn screenshot_dir() -> PathBuf {
    if std::env::var("SLIPWAY_UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::create_dir_all(&docs).unwrap();
        docs
    } else {
        artifact_dir()
    }
}

/// Where test artifacts go: the target's temporary folder, never the source tree.
fn artifact_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_roles_csrf_and_a_rollback_through_the_browser() {
    let server = TestServer::up();
    let (viewer, engineer) = platform(&server).await;
    let admin = server.admin();

    // Not signed in: a browser is sent to sign in; API clients still get 401 JSON.
    let page = http()
        .get(format!("{}/runs?filter=x", server.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 303);
    assert_eq!(
        page.headers()["location"],
        "/sign-in?next=%2Fruns%3Ffilter%3Dx"
    );
    let api = http()
        .get(format!("{}/api/v1/runs", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status().as_u16(), 401);
    let bad = http()
        .post(format!("{}/sign-in", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", "slw_nope_nope")]))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("invalid or revoked token")
    );

    // The server refuses a viewer's rollback, and an engineer's without the session's CSRF token.
    let (viewer_cookie, viewer_csrf) = sign_in(&server, &viewer).await;
    assert_eq!(
        post_rollback(&server, &viewer_cookie, &viewer_csrf)
            .await
            .status()
            .as_u16(),
        403
    );
    let (engineer_cookie, engineer_csrf) = sign_in(&server, &engineer).await;
    assert!(!engineer_csrf.is_empty());
    assert_eq!(
        post_rollback(&server, &engineer_cookie, "wrong")
            .await
            .status()
            .as_u16(),
        403
    );
    assert_eq!(admin.get_deployment("digits").await.unwrap().revision, 2);

    // Every page answers for a signed-in viewer.
    let run_id = admin
        .search_runs(&slipway_api::SearchRuns::default())
        .await
        .unwrap()
        .items[0]
        .id;
    for path in [
        "/".to_owned(),
        "/deployments/digits".into(),
        "/models".into(),
        "/models/digits".into(),
        "/runs".into(),
        "/runs?filter=metrics.test_accuracy%20%3E%200&order_by=metrics.test_accuracy%20DESC".into(),
        format!("/runs/{run_id}"),
        "/jobs".into(),
        "/jobs/1".into(),
        "/workers".into(),
        "/schedules".into(),
        "/alerts".into(),
        "/audit".into(),
    ] {
        let response = http()
            .get(format!("{}{path}", server.url))
            .header("cookie", &viewer_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains(" · Slipway</title>"), "{path}: {html}");
    }

    let Some(browser) = Browser::start().await else {
        return;
    };
    audit_every_page(&browser, &server, &viewer, run_id).await;
    // A viewer sees the deployment but no rollback button.
    browser
        .sign_in(
            &server.url,
            &viewer,
            "/deployments/digits",
            "Deployment digits · Slipway",
        )
        .await;
    assert!(browser.source().await.contains("Revisions"));
    assert!(browser.find_all("#rollback").await.is_empty());
    assert!(
        browser
            .find_all("form[action$='/rollback']")
            .await
            .is_empty()
    );

    // Both revisions are marked on the latency chart, with who and why on hover.
    // Deployed within a second of each other, they share one marker whose hover names both.
    let markers = browser.find_all("#latency-chart g.marker").await;
    assert!(!markers.is_empty(), "{}", browser.source().await);
    let hovers = browser
        .execute(
            "return Array.from(document.querySelectorAll('#latency-chart g.marker > title'))\
             .map(t => t.textContent).join('\\n');",
        )
        .await;
    let hovers = hovers.as_str().unwrap_or_default().to_owned();
    assert!(hovers.contains("revision 1 · deploy by "), "{hovers}");
    assert!(hovers.contains("revision 2 · deploy by "), "{hovers}");
    assert!(hovers.contains(": release v"), "{hovers}");
    // The time range is a plain link.
    browser.click("nav.range a[href*='range=24h']").await;
    browser
        .wait_for("#latency-chart", Duration::from_secs(20))
        .await;
    assert!(browser.url().await.contains("range=24h"));
    assert_eq!(
        browser.find_all("#latency-chart g.marker").await.len(),
        markers.len()
    );

    // An engineer rolls back with a reason through the form behind the "Roll back" button.
    browser
        .sign_in(
            &server.url,
            &engineer,
            "/deployments/digits",
            "Deployment digits · Slipway",
        )
        .await;
    browser.click("#rollback-open").await;
    browser
        .type_into("#rollback-reason", "v2 misreads sevens")
        .await;
    browser.click("#rollback-form input[name=confirm]").await;
    browser.click("#rollback").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !browser.url().await.contains("notice=") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let html = browser.source().await;
    assert!(
        html.contains("Rolled back: now revision 3 serving v1"),
        "{html}"
    );
    browser.resize(1400, 1000).await;
    browser
        .screenshot(&screenshot_dir().join("deployment.png"))
        .await;

    let revisions = admin.deployment_revisions("digits").await.unwrap();
    let newest = &revisions[0];
    assert_eq!(newest.revision, 3);
    assert_eq!(newest.action, "rollback");
    assert_eq!(newest.spec.primary, 1);
    assert_eq!(newest.actor, "erin");
    assert_eq!(newest.reason.as_deref(), Some("v2 misreads sevens"));

    // Live traffic from two callers: the overview shows its rate, latency and sparklines.
    let viewer_client = server.client(Some(viewer.clone()));
    let instances = slipway_tests::digits_instances(|v| v);
    for (index, chunk) in instances[..400].chunks(20).enumerate() {
        let caller = if index % 2 == 0 {
            &admin
        } else {
            &viewer_client
        };
        let request = PredictRequest {
            instances: chunk.to_vec(),
            key: None,
        };
        caller.predict("digits", &request).await.unwrap();
    }
    browser.goto(&format!("{}/", server.url)).await;
    browser.wait_for_title("Overview · Slipway").await;
    let html = browser.source().await;
    assert!(!html.contains("no traffic in the last hour"), "{html}");
    assert!(html.contains(r#"class="spark""#), "{html}");
    browser.resize(1400, 1000).await;
    let shot = screenshot_dir().join("overview.png");
    browser.screenshot(&shot).await;
    eprintln!("overview screenshot: {}", shot.display());
}

/// Grows the runs to `target` with 8 concurrent writers, each run with an accuracy and a
/// learning rate.
async fn populate(client: &Client, target: usize) {
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..target).step_by(8) {
                let run = client
                    .create_run(&CreateRun {
                        experiment: Some("scale".into()),
                        name: Some(format!("run-{i}")),
                        ..CreateRun::default()
                    })
                    .await
                    .unwrap();
                let batch = LogBatch {
                    metrics: vec![MetricPoint {
                        key: "acc".into(),
                        value: (i % 1000) as f64 / 1000.0,
                        step: 1,
                        timestamp: None,
                    }],
                    params: vec![KeyValue {
                        key: "lr".into(),
                        value: ["0.1", "0.01", "0.001"][i % 3].into(),
                    }],
                    tags: Vec::new(),
                };
                client.log_batch(run.id, &batch).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The runs page over many runs (10,000 unless `SLIPWAY_WEB_RUNS` says otherwise): prints render
/// times (the target is under 100 ms) and checks the page weight, unfiltered, filtered and
/// sorted, and deep in the pages. Slow to populate, so
/// run on demand: `cargo nextest run -p slipway-tests --test web --run-ignored only`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "populates 10,000 runs; run on demand for the figures"]
async fn runs_page_over_ten_thousand_runs() {
    let target: usize = std::env::var("SLIPWAY_WEB_RUNS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000);
    let server = TestServer::start();
    let admin = server.admin();
    let started = Instant::now();
    populate(&admin, target).await;
    eprintln!("populated {target} runs in {:.1?}", started.elapsed());
    let token = server.admin_token();
    for path in [
        "/runs",
        "/runs?order_by=metrics.acc%20DESC",
        "/runs?filter=metrics.acc%20%3E%200.5%20and%20params.lr%20%3D%20%270.01%27&order_by=metrics.acc%20DESC",
        "/runs?page_token=bzk5MDA",
    ] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..20 {
            let start = Instant::now();
            let response = http()
                .get(format!("{}{path}", server.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200, "{path}");
            let html = response.text().await.unwrap();
            times.push(start.elapsed());
            bytes = html.len();
            assert!(html.contains("runs on this page"));
        }
        times.sort();
        eprintln!(
            "{path}: p50 {:.1?}, max {:.1?}, {bytes} bytes",
            times[times.len() / 2],
            times[times.len() - 1]
        );
        assert!(bytes < 500_000, "{path}: {bytes} bytes");
    }
}
