//! Sessions of the dashboard: the cookie that holds the token, the CSRF token derived from it,
//! sign-in and sign-out, the middleware that finds the caller of a page request, and the
//! extractors pages and actions use (the page context and url-encoded forms).

use super::super::auth::bearer_caller;
use super::super::error::AppError;
use crate::auth::Caller;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{ACCEPT, CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use slipway_api::ErrorCode;
use slipway_web::{Flash, Frame, Session};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "slipway_session";
/// How long a session lasts, in seconds.
const SESSION_SECS: u64 = 12 * 60 * 60;

/// The CSRF token of a session: a digest of its token, so it needs no storage and changes
/// with the token.
pub fn csrf_token(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"slipway-dashboard-csrf\0");
    hasher.update(token.as_bytes());
    hex::encode(hasher.finalize())
}

/// How the caller of a page request was found.
#[derive(Debug, Clone)]
pub enum Via {
    /// The session cookie; forms must carry this CSRF token.
    Cookie { csrf: String },
    /// A bearer token (not sent by browsers on their own, so not forgeable cross-site).
    Bearer,
    /// Anonymous read access.
    Anonymous,
}

/// The session token in the request's cookies.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether the client is a browser asking for a page (it gets redirects, not 401s).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// A 303 to `location`.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("slipway_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Sends a browser without a valid session to the sign-in page, coming back afterwards.
fn to_sign_in(uri: &Uri, clear: bool) -> Response {
    let next = uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    let mut response = see_other(&format!(
        "/sign-in?next={}",
        slipway_web::layout::encode(&next)
    ));
    if clear {
        response.headers_mut().insert(SET_COOKIE, clear_cookie());
    }
    response
}

/// Finds the caller of a page request: bearer token, then session cookie, then anonymous read
/// access; otherwise a browser goes to sign in and other clients get 401.
pub async fn require(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let found = match bearer_caller(&state, headers).await {
        Err(err) => return err.into_response(),
        Ok(Some(caller)) => Some((caller, Via::Bearer)),
        Ok(None) => match cookie_token(headers) {
            Some(token) => match state.tokens.verify(&token).await {
                Ok(caller) => Some((
                    caller,
                    Via::Cookie {
                        csrf: csrf_token(&token),
                    },
                )),
                Err(err) if wants_html(headers) => {
                    tracing::debug!(error = %err, "dashboard session no longer valid");
                    return to_sign_in(request.uri(), true);
                }
                Err(err) => return AppError::from(err).into_response(),
            },
            None if state.config.anonymous_read => Some((Caller::anonymous(), Via::Anonymous)),
            None => None,
        },
    };
    let Some((caller, via)) = found else {
        if wants_html(request.headers()) {
            return to_sign_in(request.uri(), false);
        }
        return AppError::new(
            ErrorCode::Unauthenticated,
            "a bearer token or a dashboard session is required: sign in at /sign-in",
        )
        .into_response();
    };
    request.extensions_mut().insert(caller);
    request.extensions_mut().insert(via);
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Debug, Default, Deserialize)]
struct FlashQuery {
    notice: Option<String>,
    error: Option<String>,
}

/// What a page handler knows of its request: the caller, how they came, and the page frame
/// (user, CSRF token, flash message from `?notice=` or `?error=`).
#[derive(Debug, Clone)]
pub struct PageContext {
    pub caller: Caller,
    pub via: Via,
    pub frame: Frame,
}

impl FromRequestParts<AppState> for PageContext {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "sign in first"))?;
        let via = parts
            .extensions
            .get::<Via>()
            .cloned()
            .unwrap_or(Via::Anonymous);
        let flash = axum::extract::Query::<FlashQuery>::try_from_uri(&parts.uri)
            .map(|query| query.0)
            .unwrap_or_default();
        let flash = match (flash.notice, flash.error) {
            (_, Some(message)) => Some(Flash { ok: false, message }),
            (Some(message), None) => Some(Flash { ok: true, message }),
            (None, None) => None,
        };
        let session = match &via {
            Via::Anonymous => None,
            Via::Cookie { csrf } => Some(Session {
                user: caller.name.clone(),
                role: caller.role,
                csrf: csrf.clone(),
            }),
            Via::Bearer => Some(Session {
                user: caller.name.clone(),
                role: caller.role,
                csrf: String::new(),
            }),
        };
        Ok(Self {
            caller,
            via,
            frame: Frame {
                session,
                flash,
                bundle: super::assets::version().map(str::to_owned),
            },
        })
    }
}

impl PageContext {
    /// Whether a posted form's CSRF token is right: it must match the session's; bearer
    /// requests need none.
    pub fn csrf_ok(&self, posted: Option<&str>) -> bool {
        match &self.via {
            Via::Cookie { csrf } => {
                posted.is_some_and(|posted| bool::from(posted.as_bytes().ct_eq(csrf.as_bytes())))
            }
            Via::Bearer => true,
            Via::Anonymous => false,
        }
    }
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn parse_form<T: DeserializeOwned>(body: &Bytes) -> Result<T, AppError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| AppError::new(ErrorCode::InvalidArgument, "the form is not UTF-8"))?;
    let uri: Uri = format!("/?{text}")
        .parse()
        .map_err(|_| AppError::new(ErrorCode::InvalidArgument, "malformed form body"))?;
    axum::extract::Query::<T>::try_from_uri(&uri)
        .map(|query| query.0)
        .map_err(|err| AppError::new(ErrorCode::InvalidArgument, format!("invalid form: {err}")))
}

/// Where to go after signing in: only paths on this server.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

/// `GET /sign-in`.
pub async fn sign_in_page(uri: Uri) -> Html<String> {
    let query = axum::extract::Query::<SignInQuery>::try_from_uri(&uri)
        .map(|query| query.0)
        .unwrap_or_default();
    Html(slipway_web::render_sign_in(
        &safe_next(query.next.as_deref()),
        None,
    ))
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    token: String,
    next: Option<String>,
}

/// `POST /sign-in`: checks the token and keeps it in the session cookie.
pub async fn sign_in(State(state): State<AppState>, body: Bytes) -> Response {
    let form: SignInForm = match parse_form(&body) {
        Ok(form) => form,
        Err(err) => {
            let page = slipway_web::render_sign_in("/", Some(&err.message));
            return (StatusCode::BAD_REQUEST, Html(page)).into_response();
        }
    };
    let next = safe_next(form.next.as_deref());
    let token = form.token.trim();
    match state.tokens.verify(token).await {
        Ok(caller) => {
            tracing::info!(user = %caller.name, "dashboard sign-in");
            let cookie = format!(
                "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}"
            );
            let mut response = see_other(&next);
            match HeaderValue::from_str(&cookie) {
                Ok(value) => {
                    response.headers_mut().insert(SET_COOKIE, value);
                    response
                }
                Err(_) => {
                    let page = slipway_web::render_sign_in(&next, Some("invalid or revoked token"));
                    (StatusCode::UNAUTHORIZED, Html(page)).into_response()
                }
            }
        }
        Err(err) => {
            let message = AppError::from(err).message;
            let page = slipway_web::render_sign_in(&next, Some(&message));
            (StatusCode::UNAUTHORIZED, Html(page)).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct SignOutForm {
    csrf: Option<String>,
}

/// `POST /sign-out`: forgets the session cookie (a valid session must send its CSRF token).
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(token) = cookie_token(&headers)
        && state.tokens.verify(&token).await.is_ok()
    {
        let posted = parse_form::<SignOutForm>(&body)
            .ok()
            .and_then(|form| form.csrf);
        let expected = csrf_token(&token);
        let ok =
            posted.is_some_and(|posted| bool::from(posted.as_bytes().ct_eq(expected.as_bytes())));
        if !ok {
            let page = slipway_web::render_error(
                &Frame::default(),
                "Forbidden",
                "the form's CSRF token does not match this session; reload the page and try again",
            );
            return (StatusCode::FORBIDDEN, Html(page)).into_response();
        }
    }
    let mut response = see_other("/sign-in");
    response.headers_mut().insert(SET_COOKIE, clear_cookie());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_csrf_and_next() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("theme=dark; slipway_session=slw_ab_cd ; other=1"),
        );
        assert_eq!(cookie_token(&headers).as_deref(), Some("slw_ab_cd"));
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_eq!(safe_next(Some("/runs?x=1")), "/runs?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn forms_are_parsed() {
        #[derive(Debug, Deserialize)]
        struct Form {
            reason: String,
            to_revision: Option<String>,
        }
        let form: Form = parse_form(&Bytes::from_static(
            b"reason=bad+canary+%3C1%3E&to_revision=",
        ))
        .unwrap();
        assert_eq!(form.reason, "bad canary <1>");
        assert_eq!(form.to_revision.as_deref(), Some(""));
    }
}
