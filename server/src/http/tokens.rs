//! `/api/v1/tokens`, `/api/v1/whoami` and `/api/v1/audit`.

use super::error::ApiResult;
use super::extract::{Json, Path, Query, Reason};
use crate::audit;
use crate::auth::{Caller, Permission};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use slipway_api::{AuditEvent, CreateToken, CreatedToken, Identity, Page, PageRequest, Token};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{name}", delete(revoke))
        .route("/whoami", get(whoami))
        .route("/audit", get(audit_log))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Json(request): Json<CreateToken>,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    caller.require(Permission::Admin)?;
    let created = state
        .tokens
        .create(&caller.name, &request, reason.as_deref())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<Vec<Token>>> {
    caller.require(Permission::Admin)?;
    Ok(axum::Json(state.tokens.list().await?))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    reason: Reason,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Token>> {
    caller.require(Permission::Admin)?;
    let token = state
        .tokens
        .revoke(&caller.name, &name, reason.as_deref())
        .await?;
    Ok(axum::Json(token))
}

async fn whoami(caller: Caller) -> axum::Json<Identity> {
    axum::Json(Identity {
        name: caller.name,
        role: caller.role,
    })
}

async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<AuditEvent>>> {
    caller.require(Permission::Read)?;
    let page = audit::list(&state.db, page.limit, page.page_token.as_deref()).await?;
    Ok(axum::Json(page))
}
