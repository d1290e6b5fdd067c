//! The dashboard's browser bundle against a real server: the embedded wasm and JavaScript are
//! served (gzipped, cacheable, versioned), a real headless Chromium hydrates the live island,
//! connects to the event stream, and a job submitted through the API appears on the open jobs
//! page without a reload; while an engineer has a job's cancel form open, updates wait, and the
//! cancel goes through the form. A deployment's charts and drift in the same browser: a canary
//! with one minute of data is drawn as a point, and drift bars sit on an absolute PSI scale.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{
    Client, CreateToken, DeployRequest, JobState, PredictRequest, Role, SubmitJob, TrainSpec,
};
use slipway_tests::browser::Browser;
use slipway_tests::{TestServer, eventually};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The bundle's version, read from the script tag of a page.
fn bundle_version(html: &str) -> Option<String> {
    let rest = html.split("src=\"/pkg/").nth(1)?;
    Some(rest.split('/').next()?.to_owned())
}

async fn token(admin: &Client, name: &str, role: Role) -> String {
    admin
        .create_token(
            &CreateToken {
                name: name.into(),
                role,
            },
            None,
        )
        .await
        .unwrap()
        .secret
}

/// A queued job (the plain server has no worker, so it stays queued).
async fn queued_job(admin: &Client) -> i64 {
    admin
        .submit_job(&SubmitJob::new(slipway_api::SleepSpec {
            seconds: Some(1.0),
        }))
        .await
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_jobs_page_updates_live_in_a_real_browser() {
    let server = TestServer::start();
    let admin = server.admin();
    let viewer = token(&admin, "vera", Role::Viewer).await;
    let engineer = token(&admin, "erin", Role::Engineer).await;

    // The page names the bundle; its files are served with long caching and gzip.
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/jobs", server.url))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let Some(version) = bundle_version(&page) else {
        panic!(
            "the page loads no bundle (was the server built without the wasm32-unknown-unknown \
             target?): {page}"
        );
    };
    assert!(
        page.contains("<leptos-island data-component=\"LiveUpdates_"),
        "{page}"
    );
    let wasm = http
        .get(format!("{}/pkg/{version}/slipway_web_bg.wasm", server.url))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(wasm.status().as_u16(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert_eq!(wasm.headers()["content-encoding"], "gzip");
    assert!(
        wasm.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let stale = http
        .get(format!("{}/pkg/0000/slipway_web.js", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 404, "another build's file");
    let loader = http
        .get(format!("{}/pkg/{version}/loader.js", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(loader.headers()["content-type"], "text/javascript");
    assert!(loader.text().await.unwrap().contains("slipwayHydrate"));

    let Some(browser) = Browser::start().await else {
        return;
    };
    browser
        .sign_in(&server.url, &viewer, "/jobs", "Jobs · Slipway")
        .await;
    // Hydrated and connected: the island says so.
    browser
        .wait_for("#live[data-state=live]", Duration::from_secs(30))
        .await;
    let jobs_url = browser.url().await;

    let job = queued_job(&admin).await;
    let link = format!("a[href='/jobs/{job}']");
    browser.wait_for(&link, Duration::from_secs(20)).await;
    assert_eq!(
        browser.url().await,
        jobs_url,
        "updated in place, not reloaded"
    );
    // The island survived the swap and still listens.
    assert_eq!(
        browser
            .execute("return document.getElementById('live').dataset.state")
            .await,
        "live"
    );

    // An engineer opens the job's cancel form: a new job waits rather than replace the form.
    browser
        .sign_in(&server.url, &engineer, "/jobs", "Jobs · Slipway")
        .await;
    browser
        .wait_for("#live[data-state=live]", Duration::from_secs(30))
        .await;
    browser.click(&format!("#job-{job}-actions")).await;
    let later = queued_job(&admin).await;
    browser
        .wait_for("#live[data-state=paused]", Duration::from_secs(20))
        .await;
    assert!(
        browser
            .find_all(&format!("a[href='/jobs/{later}']"))
            .await
            .is_empty(),
        "no swap while a form is open"
    );
    browser
        .type_into(&format!("#job-{job}-cancel-reason"), "submitted by mistake")
        .await;
    browser
        .click(&format!("#job-{job}-cancel-form input[name=confirm]"))
        .await;
    browser.click(&format!("#job-{job}-cancel")).await;
    browser.wait_for(".flash.ok", Duration::from_secs(20)).await;
    assert_eq!(admin.get_job(job).await.unwrap().state, JobState::Cancelled);
    // The fresh page has the later job, and is live again.
    assert!(
        !browser
            .find_all(&format!("a[href='/jobs/{later}']"))
            .await
            .is_empty()
    );
    browser
        .wait_for("#live[data-state=live]", Duration::from_secs(30))
        .await;
}

/// The digits training rows as named instances.
fn digits_rows() -> Vec<serde_json::Value> {
    slipway_tests::digits_instances(|v| v)
}

async fn train_digits(client: &Client, seed: u64) -> u32 {
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

fn minute_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
}

async fn send(client: &Client, rows: &[serde_json::Value]) {
    for chunk in rows.chunks(10) {
        let request = PredictRequest {
            instances: chunk.to_vec(),
            key: None,
        };
        client.predict("digits", &request).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_one_minute_canary_is_a_point_and_drift_bars_are_absolute() {
    let server = TestServer::up();
    let admin = server.admin();
    eventually("the bundled datasets", Duration::from_secs(60), || {
        let client = admin.clone();
        async move { client.dataset_versions("digits").await.ok() }
    })
    .await;
    let v1 = train_digits(&admin, 1).await;
    let v2 = train_digits(&admin, 2).await;
    for (version, canary_percent) in [(v1, None), (v2, Some(50.0))] {
        let request = DeployRequest {
            model: Some("digits".into()),
            version: Some(version),
            canary_percent,
            ..DeployRequest::default()
        };
        admin.deploy("digits", &request, None).await.unwrap();
    }
    let viewer = token(&admin, "vera", Role::Viewer).await;

    // One minute of traffic to both versions: the minute in progress is charted at once.
    let rows = digits_rows();
    // Start early in a minute, so that the first batch stays inside it.
    eventually(
        "an early second of a minute",
        Duration::from_secs(30),
        || async {
            let seconds = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
            (seconds % 60 < 40).then_some(())
        },
    )
    .await;
    let first = minute_now();
    send(&admin, &rows[..300]).await;
    // Thirty requests take a second; should they still cross a minute, the canary has two.
    let one_minute = minute_now() == first;
    let history = eventually("the canary's minute", Duration::from_secs(60), || {
        let admin = admin.clone();
        async move {
            let history = admin.metrics_history("digits", 60).await.ok()?;
            history
                .iter()
                .any(|minute| minute.version == v2)
                .then_some(history)
        }
    })
    .await;

    let Some(browser) = Browser::start().await else {
        return;
    };
    browser
        .sign_in(
            &server.url,
            &viewer,
            "/deployments/digits",
            "Deployment digits · Slipway",
        )
        .await;
    // Each line of the latency chart: its points, how many are drawn solid, and the solid
    // ones' opacity as the browser computes it.
    let lines = browser
        .execute(
            "return Array.from(document.querySelectorAll('#latency-chart svg > g:not(.marker)'))\
             .map(g => [g.querySelectorAll('circle').length, g.querySelectorAll('circle.solo').length,\
             Array.from(g.querySelectorAll('circle.solo')).map(c => getComputedStyle(c).fillOpacity).join()]);",
        )
        .await;
    let lines = lines.as_array().unwrap().clone();
    assert_eq!(lines.len(), 2, "a line per version: {lines:?}");
    let stored = |version: u32| history.iter().filter(|m| m.version == version).count();
    for (line, version) in lines.iter().zip([v1, v2]) {
        let points = line[0].as_u64().unwrap();
        assert_eq!(points as usize, stored(version), "v{version}: {lines:?}");
        if points == 1 {
            assert_eq!(line[1], 1, "a lone point is drawn: {lines:?}");
            assert_eq!(line[2], "1", "and visible: {lines:?}");
        }
    }
    if one_minute {
        assert_eq!(stored(v2), 1, "the canary has one minute: {history:?}");
    }
    let legend = browser
        .execute("return document.querySelector('#latency-chart figcaption').textContent;")
        .await;
    assert!(
        legend.as_str().unwrap().contains(&format!("v{v2}")),
        "{legend:?}"
    );

    // Drift bars: each as wide as its PSI on a scale of 0 to max(0.5, largest).
    let bars = browser
        .execute(
            "return Array.from(document.querySelectorAll('#drift-bars rect.bar'))\
             .map(r => [parseFloat(r.getAttribute('width')), parseFloat(r.querySelector('title').textContent.split(': ')[1])]);",
        )
        .await;
    let bars: Vec<(f64, f64)> = bars
        .as_array()
        .unwrap()
        .iter()
        .map(|bar| (bar[0].as_f64().unwrap(), bar[1].as_f64().unwrap()))
        .collect();
    assert!(!bars.is_empty(), "{}", browser.source().await);
    let scale = bars.iter().map(|(_, psi)| *psi).fold(0.5, f64::max);
    // The plot is 440 units wide; a bar is at least 1 unit so that it shows.
    for (width, psi) in &bars {
        let expected = (psi / scale * 440.0).max(1.0);
        assert!((width - expected).abs() < 0.2, "{bars:?}");
    }
    let (width, psi) = bars.last().unwrap();
    assert!(
        *psi < 0.1 && *width < 0.2 * 440.0,
        "a small PSI is a short bar: {bars:?}"
    );
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&dir).unwrap();
    browser
        .execute("document.getElementById('h-charts').scrollIntoView();")
        .await;
    browser.screenshot(&dir.join("deployment-charts.png")).await;
}
