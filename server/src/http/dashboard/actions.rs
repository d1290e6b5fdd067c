//! The dashboard's actions: HTML form posts that change something. Every one runs the same
//! checks before it acts ([`vet`]): the caller's role as the API checks it for the same
//! operation, the session's CSRF token, a reason and a ticked confirmation. Each answers with a
//! redirect back to its page carrying a flash message. This module holds those checks and
//! promote and roll back a deployment; [`super::operations`] holds the others.

use super::super::error::AppError;
use super::pages::PageError;
use super::session::{PageContext, parse_form, see_other};
use crate::auth::Permission;
use crate::serving::deployments::{self, Requested};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use slipway_api::{ChangeRequest, ErrorCode};
use slipway_web::layout::{encode, link};

/// Longest reason, as the API's reason header allows.
const MAX_REASON: usize = 1000;

/// The fields every action form posts.
#[derive(Debug, Default, Deserialize)]
struct ActionForm {
    csrf: Option<String>,
    reason: Option<String>,
    confirm: Option<String>,
    /// The page the form was on, to come back to (its filter and page kept).
    back: Option<String>,
}

/// What an action may go on with once [`vet`] passed it.
#[derive(Debug)]
pub(super) struct Vetted {
    pub reason: String,
    /// Where to redirect afterwards, without a flash message yet.
    pub back: String,
}

impl Vetted {
    /// A redirect back with a notice.
    pub fn notice(&self, message: &str) -> Response {
        see_other(&with_flash(&self.back, "notice", message))
    }

    /// A redirect back with an error.
    pub fn error(&self, message: &str) -> Response {
        see_other(&with_flash(&self.back, "error", message))
    }
}

/// `back` with `key=message` added to its query.
fn with_flash(back: &str, key: &str, message: &str) -> String {
    if back.contains('?') {
        format!("{back}&{key}={}", encode(message))
    } else {
        link(back, &[(key, message)])
    }
}

/// Where to come back to: the posted page when it is `home` itself or below it (so a form
/// can only send the browser to the page it was on, never off this server), else `home`.
fn back_to(posted: Option<&str>, home: &str) -> String {
    match posted {
        Some(path)
            if (path == home
                || path
                    .strip_prefix(home)
                    .is_some_and(|rest| rest.starts_with(['?', '/'])))
                && path.bytes().all(|byte| byte.is_ascii_graphic()) =>
        {
            path.to_owned()
        }
        _ => home.to_owned(),
    }
}

/// The error page of a refused action, inside the user's frame.
fn refused(context: &PageContext, error: AppError) -> Box<Response> {
    Box::new(
        PageError::from(error)
            .with_frame(context.frame.clone())
            .into_response(),
    )
}

/// The checks every action runs, in order: `allowed` (the caller's role, as the API decides
/// it for the same operation; its error page otherwise, 403 for a role that may not), the
/// session's CSRF token (403), then a reason and a ticked confirmation (back to `home` with an
/// error, the form being the place to fix them). `Err` is the answer to send at once (boxed:
/// a response is large, and the happy path should not pay for moving it).
pub(super) fn vet(
    context: &PageContext,
    allowed: Result<(), AppError>,
    body: &Bytes,
    home: &str,
    unconfirmed: &str,
) -> Result<Vetted, Box<Response>> {
    allowed.map_err(|err| refused(context, err))?;
    let form: ActionForm = parse_form(body).map_err(|err| refused(context, err))?;
    if !context.csrf_ok(form.csrf.as_deref()) {
        return Err(refused(
            context,
            AppError::new(
                ErrorCode::PermissionDenied,
                "the form's CSRF token does not match this session; reload the page and try again",
            ),
        ));
    }
    let vetted = Vetted {
        reason: form
            .reason
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned(),
        back: back_to(form.back.as_deref(), home),
    };
    if vetted.reason.is_empty() {
        return Err(Box::new(vetted.error("a reason is required")));
    }
    if vetted.reason.len() > MAX_REASON {
        let message = format!("reason: at most {MAX_REASON} bytes");
        return Err(Box::new(vetted.error(&message)));
    }
    if form.confirm.as_deref() != Some("yes") {
        return Err(Box::new(vetted.error(unconfirmed)));
    }
    Ok(vetted)
}

/// The fields of the promote and roll back forms besides [`ActionForm`]'s.
#[derive(Debug, Default, Deserialize)]
struct ChangeForm {
    /// Rollback: the revision to re-apply (empty: the previous one).
    to_revision: Option<String>,
    expected_revision: Option<String>,
}

fn revision(field: &str, text: Option<&str>) -> Result<Option<u32>, String> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| format!("{field}: expected a revision number, got '{text}'")),
    }
}

/// `POST /deployments/{name}/rollback`.
pub async fn rollback(
    State(state): State<AppState>,
    context: PageContext,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    change(&state, &context, &name, &body, true).await
}

/// `POST /deployments/{name}/promote`.
pub async fn promote(
    State(state): State<AppState>,
    context: PageContext,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    change(&state, &context, &name, &body, false).await
}

async fn change(
    state: &AppState,
    context: &PageContext,
    name: &str,
    body: &Bytes,
    rollback: bool,
) -> Response {
    let allowed = context
        .caller
        .require(Permission::Operate)
        .map_err(AppError::from);
    let home = format!("/deployments/{}", encode(name));
    let vetted = match vet(
        context,
        allowed,
        body,
        &home,
        "tick the confirmation to change live traffic",
    ) {
        Ok(vetted) => vetted,
        Err(answer) => return *answer,
    };
    let form: ChangeForm = match parse_form(body) {
        Ok(form) => form,
        Err(err) => return vetted.error(&err.message),
    };
    let (to_revision, expected_revision) = match (
        revision("to_revision", form.to_revision.as_deref()),
        revision("expected_revision", form.expected_revision.as_deref()),
    ) {
        (Ok(to), Ok(expected)) => (to, expected),
        (Err(message), _) | (_, Err(message)) => return vetted.error(&message),
    };
    let request = ChangeRequest {
        to_revision: if rollback { to_revision } else { None },
        expected_revision,
    };
    let requested = if rollback {
        Requested::Rollback(request)
    } else {
        Requested::Promote(request)
    };
    match deployments::change(
        &state.serving,
        &context.caller.name,
        name,
        &requested,
        Some(&vetted.reason),
    )
    .await
    {
        Ok(deployment) => {
            let verb = if rollback { "Rolled back" } else { "Promoted" };
            vetted.notice(&format!(
                "{verb}: now revision {} serving v{}",
                deployment.revision, deployment.spec.primary
            ))
        }
        Err(err) => vetted.error(&AppError::from(err).message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_comes_back_only_to_its_own_page() {
        assert_eq!(
            back_to(Some("/jobs?state=failed"), "/jobs"),
            "/jobs?state=failed"
        );
        assert_eq!(back_to(Some("/jobs/12"), "/jobs"), "/jobs/12");
        assert_eq!(back_to(Some("/jobs"), "/jobs"), "/jobs");
        assert_eq!(back_to(Some("/jobsx"), "/jobs"), "/jobs");
        assert_eq!(back_to(Some("https://evil.example/jobs"), "/jobs"), "/jobs");
        assert_eq!(back_to(Some("/jobs/1\r\nSet-Cookie: x"), "/jobs"), "/jobs");
        assert_eq!(back_to(None, "/alerts"), "/alerts");
        assert_eq!(
            with_flash("/jobs?state=failed", "notice", "done <1>"),
            "/jobs?state=failed&notice=done%20%3C1%3E"
        );
        assert_eq!(with_flash("/alerts", "error", "no"), "/alerts?error=no");
    }
}
