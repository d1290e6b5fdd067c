//! The live island's event stream (session only) and the bundle pages load.

use super::*;
use crate::http::dashboard::assets;

#[tokio::test]
async fn the_event_stream_needs_a_session_and_streams_to_one() {
    let harness = Harness::new().await;
    let anonymous = Request::get("/events").body(Body::empty()).unwrap();
    let anonymous = harness.router.clone().oneshot(anonymous).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/jobs").await;
    // The stream never ends: only its head is read.
    let request = Request::get("/events")
        .header(header::COOKIE, &browser.cookie)
        .body(Body::empty())
        .unwrap();
    let stream = harness.router.clone().oneshot(request).await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()[header::CONTENT_TYPE], "text/event-stream");
}

#[tokio::test]
async fn pages_load_the_bundle_this_build_serves() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/jobs").await;
    let page = harness.get(&browser, "/jobs").await;
    let Some(version) = assets::version() else {
        // Built without the bundle: complete pages, no scripts.
        assert!(!page.body.contains("<script"), "{}", page.body);
        return;
    };
    assert!(
        page.body.contains(&format!(
            r#"<script type="module" src="/pkg/{version}/loader.js">"#
        )),
        "{}",
        page.body
    );
    let request = Request::get(format!("/pkg/{version}/slipway_web.js"))
        .body(Body::empty())
        .unwrap();
    let glue = harness.send(request).await;
    assert_eq!(glue.status, StatusCode::OK);
    assert!(glue.body.contains("export"), "the wasm-bindgen glue module");
    let request = Request::get(format!("/pkg/{version}/nope.js"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(harness.send(request).await.status, StatusCode::NOT_FOUND);
}
