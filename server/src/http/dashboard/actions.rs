//! The dashboard's actions: promote and roll back a deployment from an HTML form. Each needs
//! the engineer or admin role, the session's CSRF token, a reason and a ticked confirmation,
//! and answers with a redirect back to the deployment carrying a flash message.

use super::super::error::AppError;
use super::pages::PageError;
use super::session::{PageContext, parse_form, see_other};
use crate::auth::Permission;
use crate::serving::deployments::{self, Requested};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use slipway_api::{ChangeRequest, ErrorCode};
use slipway_web::layout::{encode, link};

/// The fields of the promote and roll back forms.
#[derive(Debug, Default, Deserialize)]
struct ChangeForm {
    csrf: Option<String>,
    reason: Option<String>,
    confirm: Option<String>,
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
) -> Result<Response, PageError> {
    change(&state, &context, &name, &body, true).await
}

/// `POST /deployments/{name}/promote`.
pub async fn promote(
    State(state): State<AppState>,
    context: PageContext,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    change(&state, &context, &name, &body, false).await
}

fn forbidden(context: &PageContext, error: AppError) -> PageError {
    PageError::from(error).with_frame(context.frame.clone())
}

async fn change(
    state: &AppState,
    context: &PageContext,
    name: &str,
    body: &Bytes,
    rollback: bool,
) -> Result<Response, PageError> {
    context
        .caller
        .require(Permission::Operate)
        .map_err(|err| forbidden(context, AppError::from(err)))?;
    let form: ChangeForm = parse_form(body)?;
    if !context.csrf_ok(form.csrf.as_deref()) {
        return Err(forbidden(
            context,
            AppError::new(
                ErrorCode::PermissionDenied,
                "the form's CSRF token does not match this session; reload the page and try again",
            ),
        ));
    }
    let back = format!("/deployments/{}", encode(name));
    let fail = |message: String| see_other(&link(&back, &[("error", &message)]));
    let reason = form.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Ok(fail("a reason is required".to_owned()));
    }
    if reason.len() > 1000 {
        return Ok(fail("reason: at most 1000 bytes".to_owned()));
    }
    if form.confirm.as_deref() != Some("yes") {
        return Ok(fail(
            "tick the confirmation to change live traffic".to_owned(),
        ));
    }
    let (to_revision, expected_revision) = match (
        revision("to_revision", form.to_revision.as_deref()),
        revision("expected_revision", form.expected_revision.as_deref()),
    ) {
        (Ok(to), Ok(expected)) => (to, expected),
        (Err(message), _) | (_, Err(message)) => return Ok(fail(message)),
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
        Some(reason),
    )
    .await
    {
        Ok(deployment) => {
            let verb = if rollback { "Rolled back" } else { "Promoted" };
            let message = format!(
                "{verb}: now revision {} serving v{}",
                deployment.revision, deployment.spec.primary
            );
            Ok(see_other(&link(&back, &[("notice", &message)])))
        }
        Err(err) => Ok(fail(AppError::from(err).message)),
    }
}
