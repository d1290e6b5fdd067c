//! Router-level tests of the dashboard: the whole router over a fresh database (SQLite in a
//! temporary data dir, or PostgreSQL: see `db::testing`), driven as a browser drives it (sign
//! in for a session cookie, read the CSRF token off a page, post url-encoded forms, follow
//! nothing: redirects are asserted).

mod api_limits;
mod compare;
mod live;
mod models;
mod operations;
mod overview;
mod runs;
mod security;

use crate::auth::TokenService;
use crate::config::{Config, ServerArgs};
use crate::state::{AppState, BackgroundTasks};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use slipway_api::{CreateToken, Role};
use tower::ServiceExt;

/// A server's router and state, without a listener or background loops.
pub struct Harness {
    pub state: AppState,
    router: Router,
    /// Never started: the loops stay off; held so the shutdown flag stays false.
    _tasks: BackgroundTasks,
    _dir: tempfile::TempDir,
}

/// A signed-in browser: its session cookie and the CSRF token its pages carry.
#[derive(Debug, Clone)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub location: String,
    /// The cookie set, as `name=value`.
    pub cookie: Option<String>,
    pub body: String,
}

impl Harness {
    /// A server over an empty database (migrated, with the first admin token).
    pub async fn new() -> Self {
        Self::with_args(ServerArgs::default()).await
    }

    /// A server configured by `args` (its data dir is a new temporary one).
    pub async fn with_args(args: ServerArgs) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match args.database_url {
            Some(url) => url,
            None => crate::db::testing::url(dir.path()).await,
        };
        let args = ServerArgs {
            data_dir: Some(dir.path().to_owned()),
            database_url: Some(database_url),
            ..args
        };
        let config = Config::resolve(&args).unwrap();
        std::fs::create_dir_all(config.artifacts_dir()).unwrap();
        let db = crate::db::connect(&config.database_url()).await.unwrap();
        TokenService::new(db.clone())
            .bootstrap_admin()
            .await
            .unwrap();
        let (state, tasks) = AppState::build(config, db).unwrap();
        Self {
            router: crate::http::router(state.clone()),
            state,
            _tasks: tasks,
            _dir: dir,
        }
    }

    /// A token named `name` with `role`; returns its secret.
    pub async fn token(&self, name: &str, role: Role) -> String {
        let request = CreateToken {
            name: name.to_owned(),
            role,
        };
        let created = self.state.tokens.create("admin", &request, None);
        created.await.unwrap().secret
    }

    /// The router's raw answer to `request`.
    pub async fn respond(&self, request: Request<Body>) -> axum::response::Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or_default().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            location,
            cookie,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Signs in with `token` through the sign-in form, then reads the CSRF token off `page`.
    pub async fn sign_in(&self, token: &str, page: &str) -> Browser {
        let request = Request::post("/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form(&[("token", token), ("next", page)])))
            .unwrap();
        let answer = self.send(request).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
        let mut browser = Browser {
            cookie: answer.cookie.unwrap_or_default(),
            csrf: String::new(),
        };
        assert!(
            browser.cookie.starts_with("slipway_session="),
            "{browser:?}"
        );
        let html = self.get(&browser, page).await;
        assert_eq!(html.status, StatusCode::OK, "{html:?}");
        browser.csrf = html
            .body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned();
        assert!(!browser.csrf.is_empty(), "{}", html.body);
        browser
    }

    /// `GET path` as `browser`.
    pub async fn get(&self, browser: &Browser, path: &str) -> Answer {
        let request = Request::get(path)
            .header(header::COOKIE, &browser.cookie)
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    /// Posts a form to `path` as `browser`.
    pub async fn post(&self, browser: &Browser, path: &str, pairs: &[(&str, &str)]) -> Answer {
        let request = Request::post(path)
            .header(header::COOKIE, &browser.cookie)
            .header(header::ACCEPT, "text/html")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form(pairs)))
            .unwrap();
        self.send(request).await
    }
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", slipway_web::layout::encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The flash message a redirect carries, decoded.
pub fn flash(location: &str) -> String {
    let query = location
        .split_once('?')
        .map(|(_, query)| query)
        .unwrap_or_default();
    let uri: axum::http::Uri = format!("/?{query}").parse().unwrap();
    let pairs: Vec<(String, String)> = axum::extract::Query::try_from_uri(&uri).unwrap().0;
    pairs
        .into_iter()
        .filter(|(key, _)| key == "notice" || key == "error")
        .map(|(key, value)| format!("{key}: {value}"))
        .collect::<Vec<_>>()
        .join("; ")
}
