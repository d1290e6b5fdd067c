//! A real headless Chromium driven over WebDriver (chromedriver), for the dashboard's browser
//! tests. Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages `chromium` and
//! `chromium-driver`); [`Browser::start`] says so and returns `None` without them. This module
//! owns the chromedriver process and the helpers the tests use; the WebDriver protocol is
//! `fantoccini`'s.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use crate::eventually;
use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process with one headless Chromium session, ended when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: fantoccini::Client,
    _profile: tempfile::TempDir,
}

/// Any WebDriver endpoint of the session, for what the helpers below do not cover.
#[derive(Debug)]
struct SessionCommand {
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (reqwest::Method, Option<String>) {
        let body = self.body.as_ref().map(Value::to_string);
        (self.method.clone(), body)
    }
}

impl Browser {
    /// Starts chromedriver and one headless session, or says why not and returns `None`.
    pub async fn start() -> Option<Self> {
        if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
            eprintln!("skipping the browser part: install chromium and chromium-driver");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        eventually(
            "chromedriver to listen",
            Duration::from_secs(30),
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
            },
        )
        .await;
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities: Capabilities = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }))
        .unwrap();
        // Listening is not yet ready to make sessions: ask until a session comes.
        let client = eventually("a WebDriver session", Duration::from_secs(30), || {
            let mut builder = ClientBuilder::new(HttpConnector::new());
            builder.capabilities(capabilities.clone());
            let base = base.clone();
            async move { builder.connect(&base).await.ok() }
        })
        .await;
        let session = client
            .session_id()
            .await
            .unwrap()
            .expect("a WebDriver session id");
        Some(Self {
            driver,
            base,
            session,
            client,
            _profile: profile,
        })
    }

    /// Sends `body` to the session's endpoint `path` (such as `/url`) and returns the answer's
    /// value; fails the test on a WebDriver error.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let command = SessionCommand {
            method,
            path: path.to_owned(),
            body,
        };
        self.client
            .issue_cmd(command)
            .await
            .unwrap_or_else(|err| panic!("WebDriver {path}: {err}"))
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|err| panic!("WebDriver goto {url}: {err}"));
    }

    async fn elements(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("WebDriver find {css}: {err}"))
    }

    async fn element(&self, css: &str) -> Element {
        let found = self.elements(css).await;
        assert!(!found.is_empty(), "no element matches {css}");
        found.into_iter().next().unwrap()
    }

    /// The WebDriver ids of the elements that match `css`.
    pub async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self.elements(css).await;
        found
            .iter()
            .map(|element| element.element_id().to_string())
            .collect()
    }

    /// The WebDriver id of the first element that matches `css`; fails if none does.
    pub async fn find(&self, css: &str) -> String {
        self.element(css).await.element_id().to_string()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.element(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|err| panic!("WebDriver type into {css}: {err}"));
    }

    pub async fn click(&self, css: &str) {
        self.element(css)
            .await
            .click()
            .await
            .unwrap_or_else(|err| panic!("WebDriver click {css}: {err}"));
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Waits for a navigation (a click on a submit button returns before the next page loads).
    pub async fn wait_for_title(&self, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let title = self.title().await;
            if title == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected the page '{expected}', still on '{title}'"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an element matches `css`; fails after `within`.
    pub async fn wait_for(&self, css: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while self.find_all(css).await.is_empty() {
            assert!(
                Instant::now() < deadline,
                "nothing matched {css} within {within:?}; the page: {}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` in the page and returns its value.
    pub async fn execute(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|err| panic!("WebDriver execute: {err}"))
    }

    /// Runs `script` asynchronously in the page: it ends by calling its last argument with
    /// the value to return.
    pub async fn execute_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, Vec::new())
            .await
            .unwrap_or_else(|err| panic!("WebDriver execute_async: {err}"))
    }

    pub async fn title(&self) -> String {
        self.client.title().await.unwrap()
    }

    /// Signs in with `token` on the way to `path` of the server at `base`, and waits for the
    /// page titled `title`.
    pub async fn sign_in(&self, base: &str, token: &str, path: &str, title: &str) {
        self.client.delete_all_cookies().await.unwrap();
        self.goto(&format!("{base}{path}")).await;
        assert_eq!(
            self.title().await,
            "Sign in · Slipway",
            "redirected to sign in"
        );
        self.type_into("#token", token).await;
        self.click("#sign-in button[type=submit]").await;
        self.wait_for_title(title).await;
        let cookies = self.client.get_all_cookies().await.unwrap();
        let cookie = &cookies[0];
        assert_eq!(cookie.name(), "slipway_session");
        assert_eq!(cookie.http_only(), Some(true), "{cookie}");
        let same_site = cookie.same_site().map(|same_site| same_site.to_string());
        assert_eq!(same_site.as_deref(), Some("Strict"), "{cookie}");
    }

    /// Sets the page's viewport (what a screenshot shows) to `width` × `height` pixels: the
    /// window is sized, then grown by what its frame takes.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|err| panic!("WebDriver window size: {err}"));
        let inner = self
            .execute("return [window.innerWidth, window.innerHeight];")
            .await;
        let inner_of = |index: usize, fallback: u32| {
            inner[index]
                .as_u64()
                .and_then(|value| u32::try_from(value).ok())
                .unwrap_or(fallback)
        };
        let (inner_width, inner_height) = (inner_of(0, width), inner_of(1, height));
        self.client
            .set_window_size(
                width + width.saturating_sub(inner_width),
                height + height.saturating_sub(inner_height),
            )
            .await
            .unwrap_or_else(|err| panic!("WebDriver window size: {err}"));
    }

    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session's own client runs on the test's runtime, which is ending and may have one
        // thread: a thread of its own with a fresh runtime reattaches to the session and ends
        // it, so Chromium quits before chromedriver is killed.
        let base = self.base.clone();
        let session = self.session.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let connector = HttpConnector::new();
                if let Ok(client) =
                    fantoccini::Client::with_existing_session(&base, &session, connector).await
                {
                    let _ = client.close().await;
                }
            });
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
