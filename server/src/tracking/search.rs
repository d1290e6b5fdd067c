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
        let pool = if crate::db::Backend::of(url) == Some(crate::db::Backend::Postgres) {
            Pool::Postgres(postgres::open(url, deadline)?)
        } else {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|err| DbErr::Custom(format!("search pool: {err}")))?;
            let searches = sqlite::Searches::start(options.get_filename(), CONNECTIONS as usize)
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
    Ok(paging.page(items))
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
    let items = match &searches.pool {
        Pool::Sqlite(threads) => {
            let experiments = request.experiment_ids.clone();
            threads
                .read(searches.limits(), move |connection| {
                    sqlite::require_experiments(connection, &experiments)?;
                    let ids = sqlite::page_ids(connection, &statement, window)?;
                    sqlite::details_of(connection, &ids)
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
            run_details(db, searches, &ids).await?
        }
    };
    Ok(paging.page(items))
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
}

/// A fixed statement (the tests' own) has nothing to mark.
impl Statement for SelectStatement {
    fn candidates(&self) -> Vec<&Comparison> {
        Vec::new()
    }

    fn build(&self, _: Option<&Comparison>) -> SelectStatement {
        self.clone()
    }
}

/// A search's filter, order, experiments and lifecycle view, checked against the caps.
struct CheckedSearch {
    filter: Option<Filter>,
    order: Vec<OrderKey>,
    experiment_ids: Vec<i64>,
    view: RunView,
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
    use crate::entity::tracking::latest_metric;
    use sea_orm::sea_query::Query;
    use std::time::Instant;

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
        let err = pool.runs(endless(), Window::ALL).await.unwrap_err();
        assert!(matches!(err, ServiceError::InvalidArgument(_)), "{err}");
        assert!(
            err.to_string().contains("more than 200000 database steps"),
            "{err}"
        );
        // The budget is per search: the next one starts afresh.
        let quick = Query::select().expr(Expr::val(7i64)).to_owned();
        assert!(pool.runs(quick, Window::ALL).await.unwrap().is_empty());
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
        let page = searches.runs(newest_first, Window::ALL).await.unwrap();
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
        let err = pool.runs(endless(), Window::ALL).await.unwrap_err();
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
                tokio::spawn(async move { pool.runs(endless(), Window::ALL).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        for task in &abandoned {
            task.abort();
        }
        // Were they still running, this would wait for the 60 s deadline.
        let started = Instant::now();
        let quick = Query::select().expr(Expr::val(7i64)).to_owned();
        assert!(pool.runs(quick, Window::ALL).await.unwrap().is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    /// Of a filter's comparisons, the one matching the fewest runs leads (when one does, under
    /// the count's cap), and a search led by it finds the same runs in the same order.
    #[tokio::test]
    async fn the_comparison_matching_the_fewest_runs_leads_and_the_answer_is_unchanged() {
        use super::super::filter::ast::Field;
        use sea_orm::ConnectionTrait;
        if crate::db::testing::skip_on_postgres("PostgreSQL plans from its own statistics") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let url = crate::db::testing::url(dir.path()).await;
        let db = crate::db::connect(&url).await.unwrap();
        let mut sql = String::from(
            "INSERT INTO experiments (id, name, created_at, updated_at) VALUES (1, 'e', 0, 0);",
        );
        // 600 runs: acc spread over [0, 1), lr '0.01' on one run in four (150 runs).
        for id in 1..=600_i64 {
            let acc = ((id * 7919) % 600) as f64 / 600.0;
            let lr = if id % 4 == 0 { "0.01" } else { "0.1" };
            sql.push_str(&format!(
                "INSERT INTO runs (id, experiment_id, name, status, start_time, created_by) \
                 VALUES ({id}, 1, 'r{id}', 'finished', {}, 'x'); \
                 INSERT INTO latest_metrics (run_id, key, value, step, timestamp) \
                 VALUES ({id}, 'acc', {acc:?}, 0, 0); \
                 INSERT INTO params (run_id, key, value) VALUES ({id}, 'lr', '{lr}');",
                id % 7
            ));
        }
        db.execute_unprepared(&sql).await.unwrap();
        let searches = SearchPool::open(&url, DEADLINE).unwrap();
        let Pool::Sqlite(threads) = &searches.pool else {
            unreachable!("SQLite")
        };
        for (filter, leader) in [
            // 150 runs against 300 (counted up to 256).
            (
                "metrics.acc > 0.5 and params.lr = '0.01'",
                Some(Field::Param("lr".into())),
            ),
            // 60 against 450.
            (
                "params.lr = '0.1' and metrics.acc >= 0.9",
                Some(Field::Metric("acc".into())),
            ),
            // Both past the cap: SQLite's own choice stands.
            ("metrics.acc > 0.4 and params.lr = '0.1'", None),
        ] {
            let parsed = parse_filter(filter).unwrap().unwrap();
            let counted = parsed.clone();
            let chosen = threads
                .read(searches.limits(), move |connection| {
                    let candidates = index_candidates(&counted);
                    Ok(sqlite::most_selective(connection, &candidates)?
                        .map(|comparison| comparison.field.clone()))
                })
                .await
                .unwrap();
            assert_eq!(chosen, leader, "{filter}");
            for order in [vec![], vec!["metrics.acc DESC".to_owned()]] {
                let request = SearchRuns {
                    filter: Some(filter.into()),
                    order_by: order.clone(),
                    limit: Some(1000),
                    ..SearchRuns::default()
                };
                let led: Vec<i64> = search(&searches, &request)
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .map(|run| run.id)
                    .collect();
                let order: Vec<_> = order.iter().map(|o| parse_order(o).unwrap()).collect();
                let plain = compile_search(Some(&parsed), &order, &[], None);
                let unled: Vec<i64> = searches
                    .runs(plain, Window::ALL)
                    .await
                    .unwrap()
                    .iter()
                    .map(|run| run.id)
                    .collect();
                assert!(!led.is_empty(), "{filter}");
                assert_eq!(led, unled, "{filter} by {order:?}");
            }
        }
    }
}
