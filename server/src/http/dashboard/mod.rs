//! The web dashboard, rendered on the server by `slipway-web`: pages that work without
//! scripts, a sign-in that starts a server-side session held by an HttpOnly, SameSite=Strict
//! cookie, and promote and roll back as HTML form posts protected against CSRF. Every response
//! carries a Content-Security-Policy and refuses framing ([`browser`]). With the embedded browser
//! bundle ([`assets`]), pages also update live from the event stream ([`live`]).
//!
//! Pages accept the session cookie, a bearer token (as the API does), or anonymous read access
//! when configured. A browser that is not signed in is sent to `/sign-in`; other clients get the
//! API's 401.

mod actions;
pub mod assets;
mod browser;
mod compare;
mod live;
mod operations;
mod pages;
mod runs;
mod session;
#[cfg(test)]
pub(crate) mod tests;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The dashboard's routes: pages and actions behind [`session::require`], sign-in and sign-out
/// open.
pub fn router(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/", get(pages::overview))
        .route("/deployments/{name}", get(pages::deployment))
        .route("/deployments/{name}/rollback", post(actions::rollback))
        .route("/deployments/{name}/promote", post(actions::promote))
        .route("/models", get(pages::models))
        .route("/models/{name}", get(pages::model))
        .route(
            "/models/{name}/versions/{version}",
            get(pages::model_version),
        )
        .route("/runs", get(runs::runs))
        .route("/runs/compare", get(compare::compare))
        .route("/runs/{id}", get(pages::run))
        .route("/runs/{id}/artifacts/{*path}", get(pages::artifact))
        .route("/jobs", get(pages::jobs))
        .route("/jobs/{id}", get(pages::job))
        .route("/jobs/{id}/cancel", post(operations::cancel))
        .route("/jobs/{id}/retry", post(operations::retry))
        .route("/workers", get(pages::workers))
        .route("/schedules", get(pages::schedules))
        .route("/schedules/{name}/pause", post(operations::pause))
        .route("/schedules/{name}/resume", post(operations::resume))
        .route("/schedules/{name}/trigger", post(operations::trigger))
        .route("/alerts", get(pages::alerts))
        .route("/alerts/{id}/acknowledge", post(operations::acknowledge))
        .route("/audit", get(pages::audit))
        .route("/events", get(live::events))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            session::require,
        ));
    Router::new()
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route("/pkg/{version}/{file}", get(assets::asset))
        .merge(protected)
        .layer(axum::middleware::map_response(browser::security_headers))
}
