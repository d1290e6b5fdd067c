//! Attacks on the dashboard's sessions and pages: a stolen or stale cookie, a sign-in posted
//! from another site, an off-site `next`, framing, and an event stream outliving its session.

use super::*;
use crate::entity::auth::session;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::time::Duration;

/// Posts the sign-in form with `headers` added; returns the answer.
async fn post_sign_in(
    harness: &Harness,
    token: &str,
    next: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = Request::post("/sign-in")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = Body::from(form(&[("token", token), ("next", next)]));
    harness.send(request.body(body).unwrap()).await
}

/// The stream's remaining body, or `None` if it is still open after `within`.
async fn stream_end(response: axum::response::Response, within: Duration) -> Option<String> {
    let body = axum::body::to_bytes(response.into_body(), usize::MAX);
    let bytes = tokio::time::timeout(within, body).await.ok()?.ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn session_cookie_is_not_the_api_token() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/jobs").await;
    let value = browser.cookie.trim_start_matches("slipway_session=");
    assert!(
        !value.contains(&viewer) && !viewer.contains(value),
        "{value}"
    );
    assert!(!value.starts_with("slw_"), "{value}");
    // The database keeps only a digest of the session id.
    let rows = session::Entity::find()
        .all(&harness.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].id_hash, value);
    assert_eq!(rows[0].token_name, "vera");
    // The cookie is no bearer token for the API.
    let request = Request::get("/api/v1/whoami")
        .header(header::AUTHORIZATION, format!("Bearer {value}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(harness.send(request).await.status, StatusCode::UNAUTHORIZED);
    // The CSRF token is the session's, not the token's: a second sign-in gets another.
    let again = harness.sign_in(&viewer, "/jobs").await;
    assert_ne!(again.cookie, browser.cookie);
    assert_ne!(again.csrf, browser.csrf);
}

#[tokio::test]
async fn sign_out_makes_old_cookie_useless() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/jobs").await;
    let signed_out = harness
        .post(&browser, "/sign-out", &[("csrf", &browser.csrf)])
        .await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    // The old cookie, kept by an attacker, no longer opens anything.
    let page = harness.get(&browser, "/jobs").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{page:?}");
    assert!(page.location.starts_with("/sign-in"), "{page:?}");
    let rows = session::Entity::find()
        .all(&harness.state.db)
        .await
        .unwrap();
    assert!(rows[0].revoked_at.is_some());
}

#[tokio::test]
async fn expired_session_is_refused() {
    let harness = Harness::with_args(ServerArgs {
        session_lifetime_secs: Some(3600),
        ..ServerArgs::default()
    })
    .await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/jobs").await;
    // The cookie says it lasts as long as configured.
    let request = Request::post("/sign-in")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form(&[("token", &viewer)])))
        .unwrap();
    let answer = harness.respond(request).await;
    let set_cookie = answer.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.contains("Max-Age=3600"), "{set_cookie}");
    // An hour later (the clock moved by moving the expiry back), the session is over, even
    // for a client that ignores the cookie's Max-Age.
    session::Entity::update_many()
        .col_expr(
            session::Column::ExpiresAt,
            sea_orm::sea_query::Expr::val(crate::time::now_millis() - 1),
        )
        .filter(session::Column::TokenName.eq("vera"))
        .exec(&harness.state.db)
        .await
        .unwrap();
    let page = harness.get(&browser, "/jobs").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{page:?}");
    assert!(page.location.starts_with("/sign-in"), "{page:?}");
}

#[tokio::test]
async fn revoked_token_ends_its_sessions() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/jobs").await;
    harness
        .state
        .tokens
        .revoke("admin", "vera", None)
        .await
        .unwrap();
    let page = harness.get(&browser, "/jobs").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{page:?}");
}

#[tokio::test]
async fn cross_origin_sign_in_is_refused() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    for headers in [
        vec![("origin", "http://evil.example")],
        vec![("origin", "null")],
        vec![("origin", "http://127.0.0.1:9999")],
        vec![("referer", "http://evil.example/login.html")],
    ] {
        let answer = post_sign_in(&harness, &viewer, "/", &headers).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(answer.cookie.is_none(), "{headers:?}");
    }
    // The dashboard's own form, and clients that send neither header, sign in.
    for headers in [
        vec![("origin", "http://127.0.0.1:8080")],
        vec![("referer", "http://127.0.0.1:8080/sign-in")],
        vec![],
    ] {
        let answer = post_sign_in(&harness, &viewer, "/", &headers).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{headers:?}");
    }
}

#[tokio::test]
async fn next_with_control_character_is_refused() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
        "//evil.example",
        "https://evil.example",
    ] {
        let answer = post_sign_in(&harness, &viewer, next, &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(answer.location, "/", "{next:?}");
        // The sign-in page does not carry it into its form either.
        let request = Request::get(format!(
            "/sign-in?next={}",
            slipway_web::layout::encode(next)
        ))
        .body(Body::empty())
        .unwrap();
        let page = harness.send(request).await;
        assert!(
            !page.body.contains("evil.example"),
            "{next:?}: {}",
            page.body
        );
    }
    let answer = post_sign_in(&harness, &viewer, "/runs?filter=x", &[]).await;
    assert_eq!(answer.location, "/runs?filter=x");
}

#[tokio::test]
async fn responses_carry_csp_and_frame_ancestors() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/jobs").await;
    let requests = [
        Request::get("/sign-in").body(Body::empty()).unwrap(),
        Request::get("/jobs")
            .header(header::COOKIE, &browser.cookie)
            .body(Body::empty())
            .unwrap(),
        // A browser that is not signed in is redirected: that answer too.
        Request::get("/jobs")
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap(),
    ];
    for request in requests {
        let path = request.uri().to_string();
        let response = harness.respond(request).await;
        let headers = response.headers();
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("'unsafe-eval'"), "{path}: {csp}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
    }
}

#[tokio::test]
async fn signed_out_session_event_stream_ends() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/jobs").await;
    let request = Request::get("/events")
        .header(header::COOKIE, &browser.cookie)
        .body(Body::empty())
        .unwrap();
    let stream = harness.respond(request).await;
    assert_eq!(stream.status(), StatusCode::OK);
    harness
        .post(&browser, "/sign-out", &[("csrf", &browser.csrf)])
        .await;
    let ended = stream_end(stream, Duration::from_secs(10)).await;
    assert!(ended.is_some(), "the stream outlived its session");
}

#[tokio::test]
async fn revoked_token_event_stream_ends() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let request = Request::get("/api/v1/events")
        .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
        .body(Body::empty())
        .unwrap();
    let stream = harness.respond(request).await;
    assert_eq!(stream.status(), StatusCode::OK);
    harness
        .state
        .tokens
        .revoke("admin", "vera", None)
        .await
        .unwrap();
    let ended = stream_end(stream, Duration::from_secs(10)).await;
    assert!(ended.is_some(), "the stream outlived its token");
}

#[tokio::test]
async fn session_cookie_is_secure_over_tls() {
    let set_cookie = |harness: &Harness, token: String, proto: Option<&'static str>| {
        let mut request = Request::post("/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        let request = request
            .body(Body::from(form(&[("token", &token)])))
            .unwrap();
        let router = harness.router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            response.headers()[header::SET_COOKIE]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let plain = set_cookie(&harness, viewer.clone(), None).await;
    assert!(!plain.contains("Secure"), "{plain}");
    let proxied = set_cookie(&harness, viewer, Some("https")).await;
    assert!(proxied.contains("; Secure"), "{proxied}");

    let harness = Harness::with_args(ServerArgs {
        secure_cookies: Some(true),
        ..ServerArgs::default()
    })
    .await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let forced = set_cookie(&harness, viewer, None).await;
    assert!(forced.contains("; Secure"), "{forced}");
}
