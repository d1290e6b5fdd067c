//! Run search, on connections of its own with a deadline.
//!
//! A search is the one query whose cost the caller shapes, so it must never hold up leasing,
//! heartbeats or writes: it runs on [`SearchPool`]'s few connections, not the main pool. On
//! SQLite those are threads of their own (see `sqlite`), where a progress handler interrupts a
//! search once its deadline passes, its step budget is spent or its caller goes away; on
//! PostgreSQL the deadline is the connections' statement timeout (see `postgres`). The filter's
//! cost is capped before it runs (see `filter::compile`).

mod details;
mod postgres;
mod queue;
mod sqlite;

pub use details::{RunDetails, run_details};

use super::filter::ast::{Comparison, Filter, OrderKey};
use super::filter::{
    CostError, check_cost, compile_search, index_candidates, parse_filter, parse_order,
};
use crate::entity::tracking::run;
use crate::error::{ServiceError, ServiceResult};
use crate::pagination;
use crate::time::from_millis;
use sea_orm::DbErr;
use sea_orm::sea_query::{Expr, ExprTrait, SelectStatement};
use sea_orm::sqlx;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use slipway_api::{Page, Run, SearchRuns};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

/// Most order-by keys.
const MAX_ORDER_KEYS: usize = 5;
/// Connections searches share: enough for a dashboard and a script at once, few enough that a
/// burst of searches leaves the database's other readers their share of the machine.
const CONNECTIONS: u32 = 2;
/// How long a search may run before it is interrupted.
pub const DEADLINE: Duration = Duration::from_secs(2);
/// The most virtual-machine steps one search may take: about 100 ms of one core on the 2-core
/// development machine (the costliest filter the caps allow takes ~31 million steps over
/// 100,000 runs, a typical one ~10,000). Counting steps rather than time makes the verdict the
/// same for the same search and data however busy the machine is; the deadline is the
/// backstop for a machine too busy to finish even an allowed search.
pub const MAX_STEPS: u64 = 6_000_000;

/// The connections searches run on.
#[derive(Debug, Clone)]
pub struct SearchPool {
    pool: Pool,
    deadline: Duration,
    max_steps: u64,
}

/// Which of the rows a statement selects make the page: at most `limit` after the first
/// `offset`.
#[derive(Debug, Clone, Copy)]
struct Window {
    limit: u64,
    offset: u64,
}

impl Window {
    /// `sql` limited to the window. The window is written into the SQL, not bound: SQLite
    /// plans a bound LIMIT by its value, so it would compile the whole statement again on
    /// every search (a tenth of the server's CPU under load). Both are integers of the
    /// server's own making.
    fn written_after(self, sql: &str) -> String {
        format!("{sql} LIMIT {} OFFSET {}", self.limit, self.offset)
    }

    /// Every row (the tests' statements choose their own).
    #[cfg(test)]
    const ALL: Self = Self {
        limit: i64::MAX as u64,
        offset: 0,
    };
}

/// The search connections of each backend.
#[derive(Debug, Clone)]
enum Pool {
    Sqlite(sqlite::Searches),
    Postgres(sqlx::PgPool),
}

impl SearchPool {
    /// Opens read-only connections to the database at `url` (the server's own).
    pub fn open(url: &str, deadline: Duration) -> Result<Self, DbErr> {
        Self::open_with(url, deadline, CONNECTIONS as usize)
    }

    /// [`Self::open`] with `threads` search threads on SQLite.
    fn open_with(url: &str, deadline: Duration, threads: usize) -> Result<Self, DbErr> {
        let pool = if crate::db::Backend::of(url) == Some(crate::db::Backend::Postgres) {
            Pool::Postgres(postgres::open(url, deadline)?)
        } else {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|err| DbErr::Custom(format!("search pool: {err}")))?;
            let searches = sqlite::Searches::start(options.get_filename(), threads)
                .map_err(|err| DbErr::Custom(format!("search pool: cannot start: {err}")))?;
            Pool::Sqlite(searches)
        };
        Ok(Self {
            pool,
            deadline,
            max_steps: MAX_STEPS,
        })
    }

    /// What one search may spend on SQLite.
    fn limits(&self) -> sqlite::Limits {
        sqlite::Limits {
            deadline: self.deadline,
            max_steps: self.max_steps,
        }
    }

    /// The answer when no PostgreSQL search connection could be had: busy past the deadline,
    /// or broken.
    fn not_acquired(&self, err: sqlx::Error) -> ServiceError {
        match err {
            sqlx::Error::PoolTimedOut => busy(self.deadline),
            other => {
                ServiceError::Database(DbErr::Conn(sea_orm::RuntimeErr::SqlxError(other.into())))
            }
        }
    }

    /// The runs of `window` that `statement` selects, in its order and with their latest
    /// metrics.
    async fn runs(&self, statement: impl Statement, window: Window) -> ServiceResult<Vec<Run>> {
        match &self.pool {
            Pool::Sqlite(threads) => {
                threads
                    .read(self.limits(), move |connection| {
                        let ids = sqlite::page_ids(connection, &statement, window)?;
                        sqlite::runs_of(connection, &ids)
                    })
                    .await
            }
            Pool::Postgres(pool) => {
                let mut connection = self.postgres_connection(pool).await?;
                let ids = self
                    .postgres_ids(&mut connection, statement.build(None), window)
                    .await?;
                postgres::runs_of(&mut connection, &ids, &|err| self.postgres_stopped(err)).await
            }
        }
    }

    /// A PostgreSQL search connection.
    async fn postgres_connection(
        &self,
        pool: &sqlx::PgPool,
    ) -> ServiceResult<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        pool.acquire().await.map_err(|err| self.not_acquired(err))
    }

    /// The ids of the runs of `window` that `statement` selects on PostgreSQL, in its order.
    async fn postgres_ids(
        &self,
        connection: &mut sqlx::PgConnection,
        mut statement: SelectStatement,
        window: Window,
    ) -> ServiceResult<Vec<i64>> {
        statement.offset(window.offset).limit(window.limit);
        postgres::page_ids(connection, &statement)
            .await
            .map_err(|err| self.postgres_stopped(err))
    }

    /// The answer for a statement that failed on PostgreSQL: stopped by the statement timeout
    /// (said so), or another database error.
    fn postgres_stopped(&self, err: sqlx::Error) -> ServiceError {
        if postgres::timed_out(&err) {
            past_deadline(self.deadline, &err)
        } else {
            sqlx_error(err)
        }
    }
}

/// The answer to a search no connection was free for within its deadline.
fn busy(deadline: Duration) -> ServiceError {
    ServiceError::Unavailable(format!(
        "search: every search connection is busy for longer than {} s; retry shortly",
        deadline.as_secs_f64()
    ))
}

/// The answer to a search stopped at its deadline, `allowed` after it started.
fn past_deadline(allowed: Duration, err: &dyn std::fmt::Display) -> ServiceError {
    tracing::warn!(error = %err, "a search ran past its deadline and was interrupted");
    ServiceError::Unavailable(format!(
        "search: the filter took longer than {} s and was stopped; narrow it (fewer keys, fewer OR branches)",
        allowed.as_secs_f64()
    ))
}

/// The columns of `runs` a page shows: id, experiment, name, status, start, end, creator.
type RunRow = (i64, i64, String, String, i64, Option<i64>, String);

/// A run of the page from its row, without its metrics yet (both backends read them apart).
fn run_from_row(row: RunRow) -> ServiceResult<Run> {
    let (id, experiment_id, name, status, start, end, created_by) = row;
    let status = status
        .parse()
        .map_err(|err: String| ServiceError::internal(format!("runs row {id}: status: {err}")))?;
    Ok(Run {
        id,
        experiment_id,
        name,
        status,
        start_time: from_millis(start),
        end_time: end.map(from_millis),
        created_by,
        metrics: BTreeMap::new(),
    })
}

fn sqlx_error(err: sqlx::Error) -> ServiceError {
    ServiceError::Database(DbErr::Query(sea_orm::RuntimeErr::SqlxError(err.into())))
}

fn invalid(err: CostError) -> ServiceError {
    ServiceError::invalid(err.0)
}

/// The token of the page before the one `request` asks for: `None` on the first page, empty
/// when the previous page is the first. Offsets make this exact, so a page can link back
/// without carrying the tokens of every page before it.
pub fn previous_page_token(request: &SearchRuns) -> ServiceResult<Option<String>> {
    let limit = pagination::limit(request.limit)?;
    let offset = pagination::decode_offset(request.page_token.as_deref())?;
    Ok(pagination::before_offset(offset, limit))
}

/// Which runs a search sees by their lifecycle: the native API sees every run; the MLflow
/// API hides deleted runs unless asked (its `run_view_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunView {
    All,
    ActiveOnly,
    DeletedOnly,
}

/// Searches runs with a filter, an order and pagination.
pub async fn search(searches: &SearchPool, request: &SearchRuns) -> ServiceResult<Page<Run>> {
    search_in(searches, request, RunView::All).await
}

/// Searches the runs of one lifecycle view with a filter, an order and pagination.
pub async fn search_in(
    searches: &SearchPool,
    request: &SearchRuns,
    view: RunView,
) -> ServiceResult<Page<Run>> {
    let SearchQuery { statement, paging } = SearchQuery::of(request, view)?;
    let items = searches.runs(statement, paging.window).await?;
    let selected = items.len();
    Ok(paging.page(items, selected))
}

/// Searches like [`search_in`], answering each run with its params, tags and latest metric
/// points (what the MLflow API answers). Every experiment the request names must exist.
pub async fn search_details_in(
    db: &sea_orm::DatabaseConnection,
    searches: &SearchPool,
    request: &SearchRuns,
    view: RunView,
) -> ServiceResult<Page<RunDetails>> {
    let SearchQuery { statement, paging } = SearchQuery::of(request, view)?;
    let window = paging.window;
    let (items, selected) = match &searches.pool {
        Pool::Sqlite(threads) => {
            let experiments = request.experiment_ids.clone();
            threads
                .read(searches.limits(), move |connection| {
                    sqlite::require_experiments(connection, &experiments)?;
                    let ids = sqlite::page_ids(connection, &statement, window)?;
                    let details = sqlite::details_of(connection, paging.shown(&ids))?;
                    Ok((details, ids.len()))
                })
                .await?
        }
        Pool::Postgres(pool) => {
            for id in &request.experiment_ids {
                super::experiments::get(db, &id.to_string()).await?;
            }
            let ids = {
                let mut connection = searches.postgres_connection(pool).await?;
                searches
                    .postgres_ids(&mut connection, statement.build(None), window)
                    .await?
            };
            (
                run_details(db, searches, paging.shown(&ids)).await?,
                ids.len(),
            )
        }
    };
    Ok(paging.page(items, selected))
}

/// A search request checked: what picks its runs, and which of them its page shows.
struct SearchQuery {
    statement: CheckedSearch,
    paging: Paging,
}

/// What a search connection runs: a statement, which it may first mark with the comparison
/// that matches the fewest runs (one of `candidates`), found on that connection.
trait Statement: Send + 'static {
    /// The comparisons an index can start from.
    fn candidates(&self) -> Vec<&Comparison>;
    /// The statement, with `selective` marked as matching few runs.
    fn build(&self, selective: Option<&Comparison>) -> SelectStatement;
    /// What names the statement among those a connection planned lately: statements with
    /// equal keys are equal. `None`: it is planned every time.
    fn key(&self) -> Option<&str>;
}

/// A fixed statement (the tests' own) has nothing to mark.
impl Statement for SelectStatement {
    fn candidates(&self) -> Vec<&Comparison> {
        Vec::new()
    }

    fn build(&self, _: Option<&Comparison>) -> SelectStatement {
        self.clone()
    }

    fn key(&self) -> Option<&str> {
        None
    }
}

/// A search's filter, order, experiments and lifecycle view, checked against the caps.
struct CheckedSearch {
    filter: Option<Filter>,
    order: Vec<OrderKey>,
    experiment_ids: Vec<i64>,
    view: RunView,
    /// The request's own text of all four, which they are parsed from.
    key: String,
}

impl Statement for CheckedSearch {
    fn candidates(&self) -> Vec<&Comparison> {
        self.filter
            .as_ref()
            .map(index_candidates)
            .unwrap_or_default()
    }

    fn build(&self, selective: Option<&Comparison>) -> SelectStatement {
        let mut statement = compile_search(
            self.filter.as_ref(),
            &self.order,
            &self.experiment_ids,
            selective,
        );
        let deleted_at = Expr::col((run::Entity, run::Column::DeletedAt));
        match self.view {
            RunView::All => {}
            RunView::ActiveOnly => {
                statement.and_where(deleted_at.is_null());
            }
            RunView::DeletedOnly => {
                statement.and_where(deleted_at.is_not_null());
            }
        }
        statement
    }

    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
}

/// Which of a statement's runs a page shows, and how it links to the next.
#[derive(Debug, Clone, Copy)]
struct Paging {
    /// The rows read: one more than the page shows, to tell whether more follow.
    window: Window,
    limit: u64,
}

impl SearchQuery {
    fn of(request: &SearchRuns, view: RunView) -> ServiceResult<Self> {
        let limit = pagination::limit(request.limit)?;
        let offset = pagination::decode_offset(request.page_token.as_deref())?;
        let filter = match &request.filter {
            Some(text) => parse_filter(text)
                .map_err(|err| ServiceError::invalid(format!("filter: invalid filter {err}")))?,
            None => None,
        };
        if request.order_by.len() > MAX_ORDER_KEYS {
            return Err(ServiceError::invalid(format!(
                "order_by: at most {MAX_ORDER_KEYS} keys, got {}",
                request.order_by.len()
            )));
        }
        let order = request
            .order_by
            .iter()
            .enumerate()
            .map(|(index, text)| {
                parse_order(text).map_err(|err| {
                    ServiceError::invalid(format!(
                        "order_by[{index}]: invalid order key '{text}' {err}"
                    ))
                })
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        check_cost(filter.as_ref(), &order).map_err(invalid)?;
        let statement = CheckedSearch {
            filter,
            order,
            experiment_ids: request.experiment_ids.clone(),
            view,
            key: format!(
                "{view:?} {:?} {:?} {:?}",
                request.experiment_ids, request.filter, request.order_by
            ),
        };
        let window = Window {
            limit: limit + 1,
            offset,
        };
        Ok(Self {
            statement,
            paging: Paging { window, limit },
        })
    }
}

impl Paging {
    /// Of the run ids the window selected, those the page shows: the one past them only tells
    /// that more follow, so nothing more is read for it.
    fn shown<'a>(&self, ids: &'a [i64]) -> &'a [i64] {
        &ids[..ids.len().min(self.limit as usize)]
    }

    /// The page of `items`, the first of the `selected` runs the window selected (one more
    /// than the page shows, when more follow).
    fn page<T>(&self, mut items: Vec<T>, selected: usize) -> Page<T> {
        items.truncate(self.limit as usize);
        Page {
            items,
            next_page_token: (selected as u64 > self.limit).then(|| self.next_page_token()),
        }
    }

    /// The token of the page after this one.
    fn next_page_token(&self) -> String {
        pagination::at_offset(self.window.offset + self.limit)
    }
}

#[cfg(test)]
mod tests;
