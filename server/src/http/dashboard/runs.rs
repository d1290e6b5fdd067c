//! `GET /runs`: one page of the runs search, its experiments named and the metric and
//! parameter columns the person chose. The choice comes from the chooser's GET form and is
//! remembered in a cookie for the next visit, so it works without scripts.

use super::pages::{PAGE_ROWS, PageResult, readable};
use super::session::PageContext;
use crate::error::ServiceError;
use crate::state::AppState;
use crate::tracking::{experiments, runs as tracking_runs, search};
use axum::extract::State;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{Html, IntoResponse, Response};
use slipway_api::SearchRuns;
use slipway_web::RunsView;
use slipway_web::layout::encode;
use slipway_web::pages::run_columns::{CHOSEN_PARAM, COLUMN_PARAM};

/// The cookie that remembers the chosen columns (a query string of `col=` pairs).
pub const COLUMNS_COOKIE: &str = "slipway_run_columns";
/// How long a choice is remembered: a year.
const COLUMNS_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// What `GET /runs` asks for. `col` repeats, which the usual query extractor cannot take, so
/// the pairs are read as they come.
#[derive(Debug, Default)]
struct RunsQuery {
    filter: String,
    order_by: String,
    page_token: String,
    /// `Some` when the chooser was submitted (an empty choice included).
    columns: Option<Vec<String>>,
}

fn pairs(query: &str) -> Result<Vec<(String, String)>, ServiceError> {
    let uri: Uri = format!("/?{query}")
        .parse()
        .map_err(|_| ServiceError::invalid("query: not a query string"))?;
    axum::extract::Query::try_from_uri(&uri)
        .map(|query| query.0)
        .map_err(|err| ServiceError::invalid(format!("query: {}", err.body_text())))
}

fn asked(uri: &Uri) -> Result<RunsQuery, ServiceError> {
    let mut query = RunsQuery::default();
    let mut chosen = Vec::new();
    let mut submitted = false;
    for (key, value) in pairs(uri.query().unwrap_or_default())? {
        match key.as_str() {
            "filter" => query.filter = value.trim().to_owned(),
            "order_by" => query.order_by = value.trim().to_owned(),
            "page_token" => query.page_token = value,
            CHOSEN_PARAM => submitted = true,
            COLUMN_PARAM if !value.is_empty() => chosen.push(value),
            _ => {}
        }
    }
    query.columns = submitted.then_some(chosen);
    Ok(query)
}

/// The columns remembered in the request's cookie; a cookie that does not read is ignored.
fn remembered(headers: &HeaderMap) -> Option<Vec<String>> {
    let value = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COLUMNS_COOKIE)
        .map(|(_, value)| value.trim().to_owned())?;
    let pairs = pairs(&value).ok()?;
    Some(
        pairs
            .into_iter()
            .filter(|(key, value)| key == COLUMN_PARAM && !value.is_empty())
            .map(|(_, value)| value)
            .collect(),
    )
}

/// The `Set-Cookie` value that remembers `columns`.
fn remember(columns: &[String]) -> Option<HeaderValue> {
    let value = columns
        .iter()
        .map(|column| format!("{COLUMN_PARAM}={}", encode(column)))
        .collect::<Vec<_>>()
        .join("&");
    HeaderValue::from_str(&format!(
        "{COLUMNS_COOKIE}={value}; Path=/runs; HttpOnly; SameSite=Strict; Max-Age={COLUMNS_MAX_AGE_SECS}"
    ))
    .ok()
}

/// `GET /runs?filter=&order_by=&page_token=&columns=chosen&col=…`: one page of the search with
/// links to the pages before and after it, a bad filter shown, the chosen columns remembered.
pub async fn runs(
    State(state): State<AppState>,
    context: PageContext,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, super::pages::PageError> {
    readable(&context)?;
    let query = asked(&uri)
        .map_err(|err| super::pages::PageError::from(err).with_frame(context.frame.clone()))?;
    let set_cookie = query.columns.as_deref().and_then(remember);
    let columns = query.columns.clone().or_else(|| remembered(&headers));
    let page = page(&state, &context, query, columns).await?;
    let mut response = page.into_response();
    if let Some(value) = set_cookie {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    Ok(response)
}

async fn page(
    state: &AppState,
    context: &PageContext,
    query: RunsQuery,
    columns: Option<Vec<String>>,
) -> PageResult {
    let search = SearchRuns {
        filter: (!query.filter.is_empty()).then(|| query.filter.clone()),
        order_by: if query.order_by.is_empty() {
            Vec::new()
        } else {
            vec![query.order_by.clone()]
        },
        limit: Some(PAGE_ROWS),
        page_token: (!query.page_token.is_empty()).then(|| query.page_token.clone()),
        ..SearchRuns::default()
    };
    let mut view = RunsView {
        filter: query.filter,
        order_by: query.order_by,
        page_token: query.page_token,
        columns,
        ..RunsView::default()
    };
    match search::search(&state.searches, &search).await {
        Ok(page) => {
            view.runs = page.items;
            view.next_page_token = page.next_page_token;
            view.prev_page_token = search::previous_page_token(&search)?;
        }
        Err(ServiceError::InvalidArgument(message)) => view.error = Some(message),
        Err(err) => return Err(err.into()),
    }
    let run_ids: Vec<i64> = view.runs.iter().map(|run| run.id).collect();
    let mut experiment_ids: Vec<i64> = view.runs.iter().map(|run| run.experiment_id).collect();
    experiment_ids.sort_unstable();
    experiment_ids.dedup();
    view.params = tracking_runs::params_of(&state.db, &run_ids).await?;
    view.experiments = experiments::names(&state.db, &experiment_ids).await?;
    Ok(Html(slipway_web::render_runs(&context.frame, view)))
}
