//! In-process tests of the `/api/v1` resources, one file per resource: the whole router over
//! a temporary SQLite database with the real migrations (built by [`AppState::build`] through
//! the dashboard's harness), driven with `oneshot`, asserting status codes, the error shape
//! and which roles may do what.
//!
//! [`AppState::build`]: crate::state::AppState::build

mod admin;
mod experiments;
mod jobs;
mod models;
mod monitoring;
mod runs;
mod schedules;
mod tokens;

use crate::http::dashboard::tests::Harness;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use slipway_api::Role;

/// A fresh server with a token of each role.
pub struct Api {
    pub harness: Harness,
    pub admin: String,
    pub engineer: String,
    pub viewer: String,
    pub worker: String,
}

/// What the API answered: its status and JSON body (`null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// Asserts an API error: `status`, and the `{"error": {"code", "message"}}` shape with
    /// `code` and a message.
    #[track_caller]
    pub fn error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        let message = self.body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{}", self.body);
    }

    /// Asserts `status` and returns the body.
    #[track_caller]
    pub fn ok(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }
}

/// A list's items: paged lists wrap them in `items`, short ones are plain arrays.
#[track_caller]
pub fn items(list: &Value) -> &Vec<Value> {
    let items = list.get("items").unwrap_or(list);
    items
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
}

impl Api {
    pub async fn new() -> Self {
        let harness = Harness::new().await;
        let admin = harness.token("ada", Role::Admin).await;
        let engineer = harness.token("eve", Role::Engineer).await;
        let viewer = harness.token("vic", Role::Viewer).await;
        let worker = harness.token("wes", Role::Worker).await;
        Self {
            harness,
            admin,
            engineer,
            viewer,
            worker,
        }
    }

    /// `method path` with `token` (none: anonymous) and a JSON `body`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self.harness.respond(request.body(body).unwrap()).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply { status, body }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Asserts that `method path` needs a token: 401 without one, and with an unknown one.
    pub async fn needs_a_token(&self, method: Method, path: &str, body: Option<Value>) {
        self.call(method.clone(), path, None, body.clone())
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthenticated");
        self.call(method, path, Some("slw_not-a-token"), body)
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
}
