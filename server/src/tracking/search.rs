//! Run search, on its own small pool of read-only connections with a deadline.
//!
//! A search is the one query whose cost the caller shapes, so it must never hold up leasing,
//! heartbeats or writes: it runs on [`SearchPool`]'s few connections, not the main pool. On
//! SQLite a progress handler interrupts it once its deadline passes, its step budget is spent
//! or its caller goes away (the request future is dropped when a client disconnects); on
//! PostgreSQL the deadline is the connections' statement timeout (see `postgres`). The filter's
//! cost is capped before it runs (see `filter::compile`). On SQLite the filter picks the page's
//! run ids, and the same query packs those runs and their latest metrics into one row (see
//! `page_sql`).

mod details;
mod page_json;
mod postgres;

pub use details::{RunDetails, run_details};

use super::filter::{CostError, check_cost, compile_search, parse_filter, parse_order};
use crate::entity::tracking::{latest_metric, run};
use crate::error::{ServiceError, ServiceResult};
use crate::pagination;
use crate::time::from_millis;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement, SqliteQueryBuilder};
use sea_orm::sqlx;
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions,
};
use sea_orm::{ColumnTrait, DbErr};
use sea_query_sqlx::SqlxBinder;
use slipway_api::{Page, Run, SearchRuns};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Most order-by keys.
const MAX_ORDER_KEYS: usize = 5;
/// Connections searches share: enough for a dashboard and a script at once, few enough that a
/// burst of searches leaves the database's other readers their share of the machine.
const CONNECTIONS: u32 = 2;
/// How long a search may run before it is interrupted.
pub const DEADLINE: Duration = Duration::from_secs(2);
/// SQLite virtual-machine steps between deadline checks (a few microseconds of work).
const STEPS_PER_CHECK: i32 = 1_000;
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
    Sqlite(SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Sets a flag when dropped: the search's future was dropped (its client went away), so the
/// query still running for it on the connection's thread must stop.
struct Abandoned(Arc<AtomicBool>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl SearchPool {
    /// Opens read-only connections to the database at `url` (the server's own).
    pub fn open(url: &str, deadline: Duration) -> Result<Self, DbErr> {
        if crate::db::Backend::of(url) == Some(crate::db::Backend::Postgres) {
            return Ok(Self {
                pool: Pool::Postgres(postgres::open(url, deadline)?),
                deadline,
                max_steps: MAX_STEPS,
            });
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| DbErr::Custom(format!("search pool: {err}")))?
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(1))
            .pragma("case_sensitive_like", "ON")
            .pragma("cache_size", "-16000");
        let pool = SqlitePoolOptions::new()
            .max_connections(CONNECTIONS)
            .min_connections(0)
            // Local connections do not go stale; a ping per search would be one more hand-over.
            .test_before_acquire(false)
            // A search that cannot get a connection within its deadline is refused (503)
            // rather than queued without bound.
            .acquire_timeout(deadline)
            .connect_lazy_with(options);
        Ok(Self {
            pool: Pool::Sqlite(pool),
            deadline,
            max_steps: MAX_STEPS,
        })
    }

    /// The answer to a search no connection was free for within the deadline.
    fn busy(&self) -> ServiceError {
        ServiceError::Unavailable(format!(
            "search: every search connection is busy for longer than {} s; retry shortly",
            self.deadline.as_secs_f64()
        ))
    }

    /// The answer when no search connection could be had: busy past the deadline, or broken.
    fn not_acquired(&self, err: sqlx::Error) -> ServiceError {
        match err {
            sqlx::Error::PoolTimedOut => self.busy(),
            other => {
                ServiceError::Database(DbErr::Conn(sea_orm::RuntimeErr::SqlxError(other.into())))
            }
        }
    }

    /// The runs of `window` that `statement` selects, in its order and with their latest
    /// metrics.
    async fn runs(&self, statement: &SelectStatement, window: Window) -> ServiceResult<Vec<Run>> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut search = self.start_sqlite(pool).await?;
                let budget = &search.budget;
                read_page(
                    &mut search.connection,
                    statement,
                    window,
                    &|err: sqlx::Error| budget.stopped(err),
                )
                .await
            }
            Pool::Postgres(pool) => {
                let mut connection = pool.acquire().await.map_err(|err| self.not_acquired(err))?;
                let stopped = |err: sqlx::Error| {
                    if postgres::timed_out(&err) {
                        past_deadline(self.deadline, &err)
                    } else {
                        sqlx_error(err)
                    }
                };
                let mut statement = statement.clone();
                statement.offset(window.offset).limit(window.limit);
                postgres::read_page(&mut connection, &statement, &stopped).await
            }
        }
    }

    /// A search connection on SQLite, its progress handler set to interrupt whatever runs on
    /// it at the deadline, once the step budget is spent, or when the returned search is
    /// dropped (its request's future was: the client went away).
    async fn start_sqlite(&self, pool: &SqlitePool) -> ServiceResult<SqliteSearch> {
        let deadline = Instant::now() + self.deadline;
        let mut connection = pool.acquire().await.map_err(|err| self.not_acquired(err))?;
        let abandoned = Abandoned(Arc::new(AtomicBool::new(false)));
        let stop = Arc::clone(&abandoned.0);
        let steps = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&steps);
        let max_steps = self.max_steps;
        // Replaces the handler of the connection's previous search.
        connection
            .lock_handle()
            .await
            .map_err(sqlx_error)?
            .set_progress_handler(STEPS_PER_CHECK, move || {
                let taken = counted.fetch_add(STEPS_PER_CHECK as u64, Ordering::Relaxed);
                !stop.load(Ordering::Relaxed) && Instant::now() < deadline && taken < max_steps
            });
        Ok(SqliteSearch {
            connection,
            budget: Budget {
                allowed: self.deadline,
                steps,
                max_steps,
                deadline,
                _abandoned: abandoned,
            },
        })
    }
}

/// The answer to a search stopped at its deadline, `allowed` after it started.
fn past_deadline(allowed: Duration, err: &sqlx::Error) -> ServiceError {
    tracing::warn!(error = %err, "a search ran past its deadline and was interrupted");
    ServiceError::Unavailable(format!(
        "search: the filter took longer than {} s and was stopped; narrow it (fewer keys, fewer OR branches)",
        allowed.as_secs_f64()
    ))
}

/// A search under way on a SQLite search connection.
struct SqliteSearch {
    connection: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    budget: Budget,
}

/// What a SQLite search may still spend, and what it answers once stopped.
struct Budget {
    /// How long the search may run (for its answer when stopped).
    allowed: Duration,
    steps: Arc<AtomicU64>,
    max_steps: u64,
    deadline: Instant,
    /// Stops the search's statement when the search is dropped mid-way.
    _abandoned: Abandoned,
}

impl Budget {
    /// The answer for a statement that failed with `err`: stopped by the step budget or the
    /// deadline (said so, not "database error"), or another database error.
    fn stopped(&self, err: sqlx::Error) -> ServiceError {
        let max_steps = self.max_steps;
        if self.steps.load(Ordering::Relaxed) >= max_steps {
            tracing::info!(error = %err, "a search ran out of its step budget and was refused");
            ServiceError::invalid(format!(
                "filter: this search needs more than {max_steps} database steps (about 100 ms); \
                 narrow it: fewer keys or OR branches, an AND condition on one metric, or fewer runs \
                 (search named experiments)"
            ))
        } else if Instant::now() >= self.deadline {
            past_deadline(self.allowed, &err)
        } else {
            sqlx_error(err)
        }
    }
}

/// The rows `statement` selects, each as `T`. The SQL text comes from the query builder; every
/// value is a bound parameter.
async fn fetch<T>(
    connection: &mut SqliteConnection,
    statement: &SelectStatement,
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    let (sql, values) = statement.build_sqlx(SqliteQueryBuilder);
    sqlx::query_as_with(sqlx::AssertSqlSafe(sql), values)
        .fetch_all(connection)
        .await
}

/// One run of a page as [`page_sql`] packs it: id, experiment, name, status, start, end,
/// creator, then its latest metrics as [`PACKED_METRICS`] pairs.
type PackedRun = (
    i64,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    String,
    Vec<(String, Option<i64>)>,
);

/// SQL for one run's latest metrics as a JSON array of `[key, bits]` pairs, `bits` being the
/// value's exact IEEE-754 bits as an integer (SQLite's JSON would round the value itself), or
/// `null` for rows written before those were kept. Built as JSON rather than concatenated
/// text: SQLite assembles JSON arrays a good deal faster than it joins strings. Not wrapped in
/// `json(…)`: that would have SQLite parse the array again, which cost more than the rest of
/// the packing; the bundled SQLite (3.51) keeps the array's JSON type across the sub-query.
const PACKED_METRICS: &str = "(SELECT json_group_array(json_array(latest_metrics.key, \
     latest_metrics.value_bits)) FROM latest_metrics WHERE latest_metrics.run_id = runs.id)";

/// Wraps the statement that chooses a page's run ids (`{ids}`) into one query that answers
/// one row: the ids in their order, and the runs as a JSON array of [`PackedRun`]s. Every row
/// the database's thread hands over costs a task switch or two, more than the query itself at
/// small scale, so a page of 100 runs costs one hand-over instead of a few hundred; and the
/// ids and their runs come from one statement instead of two round trips.
fn page_sql(ids: &str) -> String {
    format!(
        "WITH page(id) AS MATERIALIZED ({ids}) \
         SELECT (SELECT json_group_array(id) FROM page), \
         (SELECT json_group_array(json_array(runs.id, runs.experiment_id, runs.name, \
         runs.status, runs.start_time, runs.end_time, runs.created_by, {PACKED_METRICS})) \
         FROM page JOIN runs ON runs.id = page.id)"
    )
}

/// The metrics of [`PACKED_METRICS`] pairs, or `None` when some metric has no exact bits and
/// must be read as a row instead.
fn unpack_metrics(pairs: Vec<(String, Option<i64>)>) -> Option<BTreeMap<String, f64>> {
    pairs
        .into_iter()
        .map(|(key, bits)| Some((key, f64::from_bits(bits? as u64))))
        .collect()
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

/// A run of the page, from its packed form.
fn unpack_run(packed: PackedRun) -> ServiceResult<(Run, Option<BTreeMap<String, f64>>)> {
    let (id, experiment_id, name, status, start, end, created_by, metrics) = packed;
    let run = run_from_row((id, experiment_id, name, status, start, end, created_by))?;
    Ok((run, unpack_metrics(metrics)))
}

/// What [`page_sql`] answers: the page's ids in the statement's order, and its runs packed as
/// JSON ([`PackedRun`]s).
struct PackedPage {
    ids: Option<String>,
    runs: Option<String>,
}

/// The packed page of the runs of `window` that `ids_statement` chooses.
async fn read_packed(
    connection: &mut SqliteConnection,
    ids_statement: &SelectStatement,
    window: Window,
    stopped: &impl Fn(sqlx::Error) -> ServiceError,
) -> ServiceResult<PackedPage> {
    let (ids_sql, values) = ids_statement.build_sqlx(SqliteQueryBuilder);
    let ids_sql = window.written_after(&ids_sql);
    let (ids, runs): (Option<String>, Option<String>) =
        sqlx::query_as_with(sqlx::AssertSqlSafe(page_sql(&ids_sql)), values)
            .fetch_one(&mut *connection)
            .await
            .map_err(stopped)?;
    Ok(PackedPage { ids, runs })
}

/// The runs `ids_statement` chooses, in its order, with their latest metrics; a run deleted
/// since its id was chosen is left out.
async fn read_page(
    connection: &mut SqliteConnection,
    ids_statement: &SelectStatement,
    window: Window,
    stopped: &impl Fn(sqlx::Error) -> ServiceError,
) -> ServiceResult<Vec<Run>> {
    let packed = read_packed(connection, ids_statement, window, stopped).await?;
    unpack_page(connection, packed, stopped).await
}

/// The runs of a packed page as `Run`s; metrics without exact bits are read as rows on
/// `connection`.
async fn unpack_page(
    connection: &mut SqliteConnection,
    packed: PackedPage,
    stopped: &impl Fn(sqlx::Error) -> ServiceError,
) -> ServiceResult<Vec<Run>> {
    let PackedPage { ids, runs } = packed;
    let unreadable = |err: serde_json::Error| {
        ServiceError::internal(format!("search: unreadable page from the database: {err}"))
    };
    let ids: Vec<i64> = serde_json::from_str(ids.as_deref().unwrap_or("[]")).map_err(unreadable)?;
    let runs: Vec<PackedRun> =
        serde_json::from_str(runs.as_deref().unwrap_or("[]")).map_err(unreadable)?;
    let mut rows: HashMap<i64, (Run, Option<BTreeMap<String, f64>>)> =
        HashMap::with_capacity(runs.len());
    for packed in runs {
        let (run, metrics) = unpack_run(packed)?;
        rows.insert(run.id, (run, metrics));
    }
    let unpacked: Vec<i64> = rows
        .iter()
        .filter(|(_, (_, metrics))| metrics.is_none())
        .map(|(id, _)| *id)
        .collect();
    if !unpacked.is_empty() {
        let metric_rows: Vec<(i64, String, f64)> = fetch(
            connection,
            Query::select()
                .columns([
                    latest_metric::Column::RunId,
                    latest_metric::Column::Key,
                    latest_metric::Column::Value,
                ])
                .from(latest_metric::Entity)
                .and_where(latest_metric::Column::RunId.is_in(unpacked)),
        )
        .await
        .map_err(stopped)?;
        for (run_id, key, value) in metric_rows {
            if let Some((_, metrics)) = rows.get_mut(&run_id) {
                metrics.get_or_insert_default().insert(key, value);
            }
        }
    }
    // A materialized CTE is read back in the order it was written, so `ids` keeps the
    // statement's order; the join may visit the runs in any order, so the page takes the ids'.
    Ok(ids
        .iter()
        .filter_map(|id| rows.remove(id))
        .map(|(mut run, metrics)| {
            run.metrics = metrics.unwrap_or_default();
            run
        })
        .collect())
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

/// Searches like [`search`], answering the page as the API's JSON. On SQLite the page is
/// written straight from the packed runs the database answers with (see `page_json`).
pub async fn search_json(searches: &SearchPool, request: &SearchRuns) -> ServiceResult<Vec<u8>> {
    let query = SearchQuery::of(request, RunView::All)?;
    let items = match &searches.pool {
        Pool::Sqlite(pool) => {
            let mut search = searches.start_sqlite(pool).await?;
            let budget = &search.budget;
            let stopped = |err: sqlx::Error| budget.stopped(err);
            let packed = read_packed(
                &mut search.connection,
                &query.statement,
                query.window,
                &stopped,
            )
            .await?;
            let next_page_token = || query.next_page_token();
            if let Some(body) = page_json::write(&packed, query.limit as usize, next_page_token)? {
                return Ok(body);
            }
            unpack_page(&mut search.connection, packed, &stopped).await?
        }
        Pool::Postgres(_) => searches.runs(&query.statement, query.window).await?,
    };
    serde_json::to_vec(&query.page(items))
        .map_err(|err| ServiceError::internal(format!("search: cannot write the page: {err}")))
}

/// Searches the runs of one lifecycle view with a filter, an order and pagination.
pub async fn search_in(
    searches: &SearchPool,
    request: &SearchRuns,
    view: RunView,
) -> ServiceResult<Page<Run>> {
    let query = SearchQuery::of(request, view)?;
    let items = searches.runs(&query.statement, query.window).await?;
    Ok(query.page(items))
}

/// Searches like [`search_in`], answering each run with its params, tags and latest metric
/// points (what the MLflow API answers). On SQLite the page and its details come from one
/// statement on the search connection.
pub async fn search_details_in(
    db: &sea_orm::DatabaseConnection,
    searches: &SearchPool,
    request: &SearchRuns,
    view: RunView,
) -> ServiceResult<Page<RunDetails>> {
    let query = SearchQuery::of(request, view)?;
    let items = match &searches.pool {
        Pool::Sqlite(pool) => {
            let mut search = searches.start_sqlite(pool).await?;
            let budget = &search.budget;
            details::read_searched(
                &mut search.connection,
                &query.statement,
                query.window,
                &|err: sqlx::Error| budget.stopped(err),
            )
            .await?
        }
        Pool::Postgres(_) => {
            let ids: Vec<i64> = searches
                .runs(&query.statement, query.window)
                .await?
                .iter()
                .map(|run| run.id)
                .collect();
            run_details(db, searches, &ids).await?
        }
    };
    Ok(query.page(items))
}

/// A search request checked and compiled: the statement that picks its runs, and the window
/// of them its page shows.
struct SearchQuery {
    statement: SelectStatement,
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
        let mut statement = compile_search(filter.as_ref(), &order, &request.experiment_ids);
        let deleted_at = Expr::col((run::Entity, run::Column::DeletedAt));
        match view {
            RunView::All => {}
            RunView::ActiveOnly => {
                statement.and_where(deleted_at.is_null());
            }
            RunView::DeletedOnly => {
                statement.and_where(deleted_at.is_not_null());
            }
        }
        let window = Window {
            limit: limit + 1,
            offset,
        };
        Ok(Self {
            statement,
            window,
            limit,
        })
    }

    /// The page of `items`, the runs the window selected (one more than the page shows, when
    /// there are more).
    fn page<T>(&self, mut items: Vec<T>) -> Page<T> {
        let more = items.len() as u64 > self.limit;
        items.truncate(self.limit as usize);
        Page {
            items,
            next_page_token: more.then(|| self.next_page_token()),
        }
    }

    /// The token of the page after this one.
    fn next_page_token(&self) -> String {
        pagination::at_offset(self.window.offset + self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query that runs for many seconds unless interrupted.
    fn endless() -> sea_orm::sea_query::SelectStatement {
        Query::select()
            .expr(Expr::cust(
                "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                 WHERE x < 1000000000) SELECT count(*) FROM c)",
            ))
            .to_owned()
    }

    /// A pool whose only limit is `deadline` (the step budget is lifted).
    async fn pool(deadline: Duration) -> (tempfile::TempDir, SearchPool) {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::db::testing::url(dir.path()).await;
        crate::db::connect(&url).await.unwrap();
        let mut pool = SearchPool::open(&url, deadline).unwrap();
        pool.max_steps = u64::MAX;
        (dir, pool)
    }

    #[tokio::test]
    async fn a_search_over_its_step_budget_is_refused_whatever_the_time() {
        if crate::db::testing::skip_on_postgres(
            "the step budget counts SQLite's virtual-machine steps; PostgreSQL has only the deadline",
        ) {
            return;
        }
        let (_dir, mut pool) = pool(Duration::from_secs(60)).await;
        pool.max_steps = 200_000;
        let err = pool.runs(&endless(), Window::ALL).await.unwrap_err();
        assert!(matches!(err, ServiceError::InvalidArgument(_)), "{err}");
        assert!(
            err.to_string().contains("more than 200000 database steps"),
            "{err}"
        );
        // The budget is per search: the next one starts afresh.
        let quick = Query::select().expr(Expr::val(7i64)).to_owned();
        assert!(pool.runs(&quick, Window::ALL).await.unwrap().is_empty());
    }

    /// A page's metrics come back bit for bit, whether a row keeps its exact bits (run 1) or
    /// was written before those were kept (run 2, read as rows instead).
    #[tokio::test]
    async fn a_page_returns_every_metric_value_exactly() {
        use sea_orm::ConnectionTrait;
        let dir = tempfile::tempdir().unwrap();
        let url = crate::db::testing::url(dir.path()).await;
        let db = crate::db::connect(&url).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO experiments (id, name, created_at, updated_at) VALUES (1, 'e', 0, 0); \
             INSERT INTO runs (id, experiment_id, name, status, start_time, created_by) \
             VALUES (1, 1, 'a', 'finished', 0, 'x'), (2, 1, 'b', 'finished', 0, 'x')",
        )
        .await
        .unwrap();
        // (SQLite itself stores -0.0 as 0, so it is not among them.)
        let mut values = vec![
            0.0,
            0.1,
            0.30000000000000004,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            4.425_160_402_714_337_5e284,
        ];
        // Random bit patterns cover every exponent; xorshift keeps the test deterministic.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        while values.len() < 5_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let value = f64::from_bits(state);
            if value.is_finite() && value != 0.0 {
                values.push(value);
            }
        }
        for (chunk_index, chunk) in values.chunks(200).enumerate() {
            let mut insert = Query::insert();
            // `value_bits` is written by the logging service's own statements, not the model.
            insert.into_table(latest_metric::Entity).columns([
                "run_id",
                "key",
                "value",
                "value_bits",
                "step",
                "timestamp",
            ]);
            for (i, value) in chunk.iter().enumerate() {
                let key = format!("k{}", chunk_index * 200 + i);
                let bits = value.to_bits() as i64;
                insert.values_panic([
                    1i64.into(),
                    key.clone().into(),
                    (*value).into(),
                    Some(bits).into(),
                    0i64.into(),
                    0i64.into(),
                ]);
                insert.values_panic([
                    2i64.into(),
                    key.into(),
                    (*value).into(),
                    None::<i64>.into(),
                    0i64.into(),
                    0i64.into(),
                ]);
            }
            db.execute(&insert).await.unwrap();
        }
        let searches = SearchPool::open(&url, DEADLINE).unwrap();
        let newest_first = Query::select()
            .column(run::Column::Id)
            .from(run::Entity)
            .order_by(run::Column::Id, sea_orm::Order::Desc)
            .to_owned();
        let page = searches.runs(&newest_first, Window::ALL).await.unwrap();
        assert_eq!(
            page.iter().map(|run| run.id).collect::<Vec<_>>(),
            vec![2, 1]
        );
        for run in &page {
            assert_eq!(run.metrics.len(), values.len());
            for (i, value) in values.iter().enumerate() {
                let read = run.metrics[&format!("k{i}")];
                assert_eq!(
                    read.to_bits(),
                    value.to_bits(),
                    "run {}: {value:e} came back as {read:e}",
                    run.id
                );
            }
        }
    }

    /// Pages come back in the order the filter's statement chose, across pages, however the
    /// database visits the runs when it packs them.
    #[tokio::test]
    async fn pages_keep_the_order_asked_for() {
        use sea_orm::ConnectionTrait;
        let dir = tempfile::tempdir().unwrap();
        let url = crate::db::testing::url(dir.path()).await;
        let db = crate::db::connect(&url).await.unwrap();
        let runs: Vec<(i64, f64)> = (1..=500)
            .map(|id: i64| (id, ((id * 7919) % 500) as f64 / 500.0))
            .collect();
        let mut sql = String::from(
            "INSERT INTO experiments (id, name, created_at, updated_at) VALUES (1, 'e', 0, 0);",
        );
        for (id, acc) in &runs {
            sql.push_str(&format!(
                "INSERT INTO runs (id, experiment_id, name, status, start_time, created_by) \
                 VALUES ({id}, 1, 'r{id}', 'finished', {id}, 'x'); \
                 INSERT INTO latest_metrics (run_id, key, value, value_bits, step, timestamp) \
                 VALUES ({id}, 'acc', {acc:?}, {}, 0, 0);",
                acc.to_bits() as i64
            ));
        }
        db.execute_unprepared(&sql).await.unwrap();
        let mut expected = runs.clone();
        expected.sort_by(|a, b| b.1.total_cmp(&a.1));
        let searches = SearchPool::open(&url, DEADLINE).unwrap();
        let mut request = SearchRuns {
            order_by: vec!["metrics.acc DESC".into()],
            limit: Some(100),
            ..SearchRuns::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = search(&searches, &request).await.unwrap();
            seen.extend(page.items.iter().map(|run| (run.id, run.metrics["acc"])));
            match page.next_page_token {
                Some(token) => request.page_token = Some(token),
                None => break,
            }
        }
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn a_search_past_its_deadline_is_interrupted() {
        let (_dir, pool) = pool(Duration::from_millis(200)).await;
        let started = Instant::now();
        let err = pool.runs(&endless(), Window::ALL).await.unwrap_err();
        assert!(matches!(err, ServiceError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("narrow it"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn an_abandoned_search_stops_and_frees_its_connection() {
        if crate::db::testing::skip_on_postgres(
            "an abandoned search runs on until its statement timeout there (no progress handler)",
        ) {
            return;
        }
        let (_dir, pool) = pool(Duration::from_secs(60)).await;
        // Occupy every connection with a search whose client then goes away.
        let abandoned: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.runs(&endless(), Window::ALL).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        for task in &abandoned {
            task.abort();
        }
        // Were they still running, this would wait for the 60 s deadline.
        let started = Instant::now();
        let quick = Query::select().expr(Expr::val(7i64)).to_owned();
        assert!(pool.runs(&quick, Window::ALL).await.unwrap().is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
