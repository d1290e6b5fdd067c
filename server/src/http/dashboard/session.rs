//! Sessions of the dashboard over HTTP: the cookie that holds the session id (see
//! [`crate::sessions`]), sign-in and sign-out, the middleware that finds the caller of a page
//! request, and the extractors pages and actions use (the page context and url-encoded forms).

use super::super::auth::bearer_caller;
use super::super::error::AppError;
use super::browser::{CrossOrigin, came_over_tls, check_same_origin, safe_next};
use crate::auth::Caller;
use crate::sessions::csrf_token;
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
use slipway_api::ErrorCode;
use slipway_web::{Flash, Frame, Session};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "slipway_session";

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

/// The session id in the request's cookies.
pub fn cookie_session(headers: &HeaderMap) -> Option<String> {
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

/// Whether cookies set in answer to this request must be `Secure`.
fn secure_cookie(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.auth.secure_cookies || came_over_tls(headers)
}

/// The `Set-Cookie` value of a session cookie (`None`: the one that deletes it).
fn session_cookie(session: Option<(&str, u64)>, secure: bool) -> Option<HeaderValue> {
    let (value, max_age) = session.unwrap_or(("", 0));
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// Sends a browser without a valid session to the sign-in page, coming back afterwards.
fn to_sign_in(uri: &Uri, clear: Option<bool>) -> Response {
    let next = uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    let mut response = see_other(&format!(
        "/sign-in?next={}",
        slipway_web::layout::encode(&next)
    ));
    if let Some(value) = clear.and_then(|secure| session_cookie(None, secure)) {
        response.headers_mut().insert(SET_COOKIE, value);
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
        Ok(None) => match cookie_session(headers) {
            Some(session) => match state.sessions.verify(&session).await {
                Ok(caller) => Some((
                    caller,
                    Via::Cookie {
                        csrf: csrf_token(&session),
                    },
                )),
                Err(err) if wants_html(headers) => {
                    tracing::debug!(error = %err, "dashboard session no longer valid");
                    return to_sign_in(request.uri(), Some(secure_cookie(&state, headers)));
                }
                Err(err) => return AppError::from(err).into_response(),
            },
            None if state.config.auth.anonymous_read => Some((Caller::anonymous(), Via::Anonymous)),
            None => None,
        },
    };
    let Some((caller, via)) = found else {
        if wants_html(request.headers()) {
            return to_sign_in(request.uri(), None);
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

/// `POST /sign-in`: checks the post comes from our own page and the token is valid, then
/// starts a session and sets its cookie.
pub async fn sign_in(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = check_same_origin(&headers) {
        let why = match refused {
            CrossOrigin::Origin => "the sign-in form was posted from another site (Origin)",
            CrossOrigin::Referer => "the sign-in form was posted from another site (Referer)",
        };
        tracing::warn!(why, "cross-origin dashboard sign-in refused");
        let page = slipway_web::render_error(&Frame::default(), "Forbidden", why);
        return (StatusCode::FORBIDDEN, Html(page)).into_response();
    }
    let form: SignInForm = match parse_form(&body) {
        Ok(form) => form,
        Err(err) => {
            let page = slipway_web::render_sign_in("/", Some(&err.message));
            return (StatusCode::BAD_REQUEST, Html(page)).into_response();
        }
    };
    let next = safe_next(form.next.as_deref());
    match state.sessions.create(form.token.trim()).await {
        Ok(session) => {
            tracing::info!(user = %session.caller.name, "dashboard sign-in");
            let lifetime = state.sessions.lifetime().as_secs();
            let secure = secure_cookie(&state, &headers);
            let mut response = see_other(&next);
            if let Some(value) = session_cookie(Some((&session.id, lifetime)), secure) {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            response
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

/// `POST /sign-out`: ends the session on the server and deletes its cookie (a valid session
/// must send its CSRF token).
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(session) = cookie_session(&headers)
        && state.sessions.verify(&session).await.is_ok()
    {
        let posted = parse_form::<SignOutForm>(&body)
            .ok()
            .and_then(|form| form.csrf);
        let expected = csrf_token(&session);
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
        if let Err(err) = state.sessions.revoke(&session).await {
            return AppError::from(err).into_response();
        }
    }
    let mut response = see_other("/sign-in");
    if let Some(value) = session_cookie(None, secure_cookie(&state, &headers)) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_and_set_with_its_attributes() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("theme=dark; slipway_session=ab12 ; other=1"),
        );
        assert_eq!(cookie_session(&headers).as_deref(), Some("ab12"));
        let set = session_cookie(Some(("ab12", 60)), true).unwrap();
        assert_eq!(
            set,
            "slipway_session=ab12; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        let clear = session_cookie(None, false).unwrap();
        assert_eq!(
            clear,
            "slipway_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        );
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
