//! The web dashboard's pages, rendered on the server by `slipway-web`. They need the same
//! read access as the API (a bearer token, or anonymous read access when configured).

use super::error::ApiResult;
use crate::audit;
use crate::auth::{Caller, Permission};
use crate::state::AppState;
use crate::tracking::{experiments, runs};
use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use slipway_api::SearchRuns;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(overview))
}

async fn overview(State(state): State<AppState>, caller: Caller) -> ApiResult<Html<String>> {
    caller.require(Permission::Read)?;
    let experiments = experiments::list(&state.db, Some(1000), None).await?.items;
    let search = SearchRuns {
        limit: Some(50),
        ..SearchRuns::default()
    };
    let runs = runs::search(&state.db, &search).await?.items;
    let changes = audit::list(&state.db, Some(20), None).await?.items;
    let overview = slipway_web::Overview {
        experiments,
        runs,
        changes,
    };
    Ok(Html(slipway_web::render_overview(overview)))
}
