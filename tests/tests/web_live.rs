//! The dashboard's browser bundle against a real server: the embedded wasm and JavaScript are
//! served (gzipped, cacheable, versioned), a real headless Chromium hydrates the live island,
//! connects to the event stream, and a job submitted through the API appears on the open jobs
//! page without a reload; while an engineer has a job's cancel form open, updates wait, and the
//! cancel goes through the form.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use slipway_api::{Client, CreateToken, JobState, Role, SubmitJob};
use slipway_tests::TestServer;
use slipway_tests::browser::Browser;
use std::time::Duration;

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
