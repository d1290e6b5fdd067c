//! Run search on SQLite: a few threads, each owning one read-only connection, to which a search
//! is handed whole.
//!
//! A search reads its page in several statements (the ids in the filter's order, then each run
//! with its metrics). Behind an async driver every command and every row is a hand-over between
//! threads, which on a small machine cost more than the statements themselves; on the
//! connection's own thread a row costs a function call, and a search costs one hand-over there
//! and one back. The statements of one search run in one read transaction, so they see one
//! snapshot and the file is locked once per search rather than once per statement.
//!
//! A progress handler interrupts the search once its deadline passes, its step budget is spent,
//! or its caller goes away (the caller's future is dropped when a client disconnects); a search
//! still queued when its deadline passes is refused as busy.

use super::details::RunDetails;
use super::queue::{JobQueue, Worker};
use super::{Statement, Window, busy, past_deadline, run_from_row};
use crate::entity::tracking::{latest_metric, run};
use crate::error::{ServiceError, ServiceResult};
use crate::tracking::experiments;
use crate::tracking::filter::ast::Comparison;
use crate::tracking::filter::index_matches;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter};
use sea_orm::DbErr;
use sea_orm::sea_query::{SqliteQueryBuilder, Value};
use slipway_api::Run;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// SQLite virtual-machine steps between deadline checks (a few microseconds of work).
const STEPS_PER_CHECK: i32 = 1_000;
/// Searches that may wait for a thread; more are refused as busy at once.
const QUEUE: usize = 64;
/// Prepared statements each connection keeps: the page readers' few, and the filters in use.
const CACHED_STATEMENTS: usize = 64;
/// Counting how many runs a comparison matches stops here: the count walks the key's index,
/// so this bounds its cost (a few microseconds) whatever the number of runs.
const COUNTED_UP_TO: i64 = 256;
/// The most comparisons counted for one search.
const MOST_COUNTED: usize = 4;
/// How long a search thread reuses a plan (a statement, marked by the counts, and its values):
/// searches repeat (the pages of one filter, a dashboard's refresh), and a count only steers
/// the plan, so one a second old steers it as well as a fresh one.
const PLAN_KEPT_FOR: Duration = Duration::from_secs(1);
/// The most plans a search thread keeps; past it they are all dropped.
const PLANS_KEPT: usize = 256;

/// A search's statement as its connection runs it, but for the window.
struct Plan {
    made: Instant,
    sql: String,
    values: Vec<SqlValue>,
}

thread_local! {
    /// This search thread's recent plans, by their statement's key.
    static PLANS: RefCell<HashMap<String, Plan>> = RefCell::default();
}

/// What one search may spend.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// How long it may take, queued or running.
    pub deadline: Duration,
    /// The most virtual-machine steps it may take.
    pub max_steps: u64,
}

/// A search for a thread to run: given its connection, or `None` when that cannot be opened.
type Job = Box<dyn FnOnce(Option<&Connection>) + Send>;

/// The search threads of one database.
#[derive(Debug, Clone)]
pub(super) struct Searches {
    jobs: JobQueue<Job>,
}

/// Why a read on a search connection failed.
pub(super) enum ReadError {
    Sqlite(rusqlite::Error),
    Service(ServiceError),
}

impl From<rusqlite::Error> for ReadError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Sqlite(err)
    }
}

impl From<ServiceError> for ReadError {
    fn from(err: ServiceError) -> Self {
        Self::Service(err)
    }
}

/// Sets a flag when dropped: the search's future was dropped (its client went away), so the
/// statement still running for it on its thread must stop, or never start.
struct Abandoned(Arc<AtomicBool>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Searches {
    /// Starts `threads` threads that open read-only connections to the database file at `path`
    /// when their first search comes. They end once every handle to them is dropped.
    pub fn start(path: &Path, threads: usize) -> std::io::Result<Self> {
        let jobs = JobQueue::new(QUEUE);
        for index in 0..threads {
            let worker = jobs.worker();
            let path = path.to_owned();
            std::thread::Builder::new()
                .name(format!("slipway-search-{index}"))
                .spawn(move || serve(&path, &worker))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `read` on a search connection, in one read transaction, within `limits`.
    pub async fn read<T, F>(&self, limits: Limits, read: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, ReadError> + Send + 'static,
    {
        let started = Instant::now();
        let deadline = started + limits.deadline;
        let abandoned = Abandoned(Arc::new(AtomicBool::new(false)));
        let stop = Arc::clone(&abandoned.0);
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |connection| {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let outcome = match connection {
                None => Err(ServiceError::Unavailable(
                    "search: the database cannot be opened for searching; retry shortly".into(),
                )),
                Some(_) if Instant::now() >= deadline => Err(busy(limits.deadline)),
                Some(connection) => run_within(connection, limits, deadline, stop, read),
            };
            let _ = answer.send(outcome);
        });
        self.jobs.push(job).map_err(|_| busy(limits.deadline))?;
        let outcome = answered
            .await
            .map_err(|_| ServiceError::internal("search: the search thread dropped the search"));
        drop(abandoned);
        outcome?
    }
}

/// A search thread: runs the queue's searches one after another on its connection.
fn serve(path: &Path, jobs: &Worker<Job>) {
    let mut connection: Option<Connection> = None;
    while let Some(job) = jobs.next() {
        if connection.is_none() {
            connection = open(path)
                .inspect_err(|err| tracing::error!(error = %err, "cannot open a search connection"))
                .ok();
        }
        // A search that panics fails alone; the thread serves the next one.
        if catch_unwind(AssertUnwindSafe(|| job(connection.as_ref()))).is_err() {
            tracing::error!("a search panicked");
            connection = None;
        }
    }
}

/// A read-only connection to the database file at `path`.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        PathBuf::from(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(Duration::from_secs(1))?;
    // The filter language's LIKE is case-sensitive, as on PostgreSQL.
    connection.execute_batch("PRAGMA case_sensitive_like = ON; PRAGMA cache_size = -16000;")?;
    connection.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    Ok(connection)
}

/// Runs `read` in a read transaction with a progress handler that stops it at `deadline`, once
/// `limits.max_steps` are spent or once `stop` is set.
fn run_within<T>(
    connection: &Connection,
    limits: Limits,
    deadline: Instant,
    stop: Arc<AtomicBool>,
    read: impl FnOnce(&Connection) -> Result<T, ReadError>,
) -> ServiceResult<T> {
    let steps = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&steps);
    let max_steps = limits.max_steps;
    let stopped = |err: rusqlite::Error| {
        if steps.load(Ordering::Relaxed) >= max_steps {
            tracing::info!(error = %err, "a search ran out of its step budget and was refused");
            ServiceError::invalid(format!(
                "filter: this search needs more than {max_steps} database steps (about 100 ms); \
                 narrow it: fewer keys or OR branches, an AND condition on one metric, or fewer runs \
                 (search named experiments)"
            ))
        } else if Instant::now() >= deadline {
            past_deadline(limits.deadline, &err)
        } else {
            database_error(err)
        }
    };
    connection
        .progress_handler(
            STEPS_PER_CHECK,
            Some(move || {
                let taken = counted.fetch_add(STEPS_PER_CHECK as u64, Ordering::Relaxed);
                // `true` interrupts the statement.
                stop.load(Ordering::Relaxed) || Instant::now() >= deadline || taken >= max_steps
            }),
        )
        .map_err(database_error)?;
    let outcome = connection
        .unchecked_transaction()
        .map_err(ReadError::from)
        .and_then(|transaction| {
            let read = read(&transaction)?;
            transaction.finish()?;
            Ok(read)
        });
    connection
        .progress_handler(0, None::<fn() -> bool>)
        .map_err(database_error)?;
    outcome.map_err(|err| match err {
        ReadError::Sqlite(err) => stopped(err),
        ReadError::Service(err) => err,
    })
}

fn database_error(err: rusqlite::Error) -> ServiceError {
    ServiceError::Database(DbErr::Custom(format!("search connection: {err}")))
}

/// `value` as SQLite binds it.
fn bound(value: &Value) -> Result<SqlValue, ReadError> {
    let bound = match value {
        Value::Bool(v) => v.map(|v| SqlValue::Integer(v.into())),
        Value::TinyInt(v) => v.map(|v| SqlValue::Integer(v.into())),
        Value::SmallInt(v) => v.map(|v| SqlValue::Integer(v.into())),
        Value::Int(v) => v.map(|v| SqlValue::Integer(v.into())),
        Value::BigInt(v) => v.map(SqlValue::Integer),
        Value::TinyUnsigned(v) => v.map(|v| SqlValue::Integer(v.into())),
        Value::SmallUnsigned(v) => v.map(|v| SqlValue::Integer(v.into())),
        Value::Unsigned(v) => v.map(|v| SqlValue::Integer(v.into())),
        Value::BigUnsigned(v) => match v {
            Some(v) => Some(SqlValue::Integer(i64::try_from(*v).map_err(|_| {
                ServiceError::invalid(format!("filter: {v} is larger than any stored integer"))
            })?)),
            None => None,
        },
        Value::Float(v) => v.map(|v| SqlValue::Real(v.into())),
        Value::Double(v) => v.map(SqlValue::Real),
        Value::String(v) => v.clone().map(SqlValue::Text),
        Value::Char(v) => v.map(|v| SqlValue::Text(v.to_string())),
        Value::Bytes(v) => v.clone().map(SqlValue::Blob),
        other => {
            return Err(ServiceError::internal(format!(
                "search: the filter compiled to a value SQLite cannot bind: {other:?}"
            ))
            .into());
        }
    };
    Ok(bound.unwrap_or(SqlValue::Null))
}

/// The run ids of `window` that `statement` selects, in its order, the comparison that matches
/// the fewest runs marked for the planner. The statement's values are bound, never written
/// into its SQL. A statement with a key is planned (counted, marked, written) once per
/// [`PLAN_KEPT_FOR`] on each thread: that took a tenth of a repeated search's time.
pub(super) fn page_ids(
    connection: &Connection,
    statement: &impl Statement,
    window: Window,
) -> Result<Vec<i64>, ReadError> {
    let now = Instant::now();
    let key = statement.key();
    let kept = key.and_then(|key| {
        PLANS.with_borrow_mut(|plans| {
            plans
                .remove(key)
                .filter(|plan| now.duration_since(plan.made) < PLAN_KEPT_FOR)
        })
    });
    let plan = match kept {
        Some(plan) => plan,
        None => {
            let candidates = statement.candidates();
            let selective = most_selective(connection, &candidates)?;
            let (sql, values) = statement.build(selective).build(SqliteQueryBuilder);
            let values = values.iter().map(bound).collect::<Result<Vec<_>, _>>()?;
            Plan {
                made: now,
                sql,
                values,
            }
        }
    };
    let ids = connection
        .prepare_cached(&window.written_after(&plan.sql))?
        .query_map(params_from_iter(&plan.values), |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    if let Some(key) = key {
        PLANS.with_borrow_mut(|plans| {
            if plans.len() >= PLANS_KEPT {
                plans.clear();
            }
            plans.insert(key.to_owned(), plan);
        });
    }
    Ok(ids)
}

/// How many plans this thread keeps.
#[cfg(test)]
pub(super) fn plans_kept() -> usize {
    PLANS.with_borrow(HashMap::len)
}

/// Of two to [`MOST_COUNTED`] comparisons, the one that matches the fewest runs, when it
/// matches fewer than [`COUNTED_UP_TO`] and fewer than each other one. Without statistics
/// SQLite guesses which index to start from; for `metrics.acc > 0.5 and params.lr = '0.01'`
/// it started from `acc` (490 of 1,000 runs) rather than `lr` (250), twice the work. Counted
/// over every experiment, as the indexes hold them.
pub(super) fn most_selective<'c>(
    connection: &Connection,
    candidates: &[&'c Comparison],
) -> Result<Option<&'c Comparison>, ReadError> {
    if !(2..=MOST_COUNTED).contains(&candidates.len()) {
        return Ok(None);
    }
    let mut counts = Vec::with_capacity(candidates.len());
    for comparison in candidates {
        let Some(matches) = index_matches(comparison) else {
            return Ok(None);
        };
        let (sql, values) = matches.build(SqliteQueryBuilder);
        let values = values.iter().map(bound).collect::<Result<Vec<_>, _>>()?;
        // The cap is written into the SQL, as a page's window is (see `Window`).
        let sql = format!("SELECT count(*) FROM ({sql} LIMIT {COUNTED_UP_TO})");
        counts.push(counted(connection, &sql, values)?);
    }
    let fewest = counts.iter().copied().min().unwrap_or(COUNTED_UP_TO);
    let mut at_fewest = (0..counts.len()).filter(|&index| counts[index] == fewest);
    Ok(match (at_fewest.next(), at_fewest.next()) {
        (Some(index), None) if fewest < COUNTED_UP_TO => Some(candidates[index]),
        _ => None,
    })
}

/// The count `sql` answers for its bound `values`.
fn counted(connection: &Connection, sql: &str, values: Vec<SqlValue>) -> rusqlite::Result<i64> {
    connection
        .prepare_cached(sql)?
        .query_row(params_from_iter(values), |row| row.get(0))
}

/// Checks that every experiment of `ids` exists, answering the first that does not as not found.
pub(super) fn require_experiments(connection: &Connection, ids: &[i64]) -> Result<(), ReadError> {
    let mut exists = connection.prepare_cached("SELECT 1 FROM experiments WHERE id = ?1")?;
    for id in ids {
        if !exists.exists([id])? {
            return Err(experiments::not_found(&id.to_string()).into());
        }
    }
    Ok(())
}

/// A stored metric value, exact: from its IEEE-754 bits where the row keeps them (SQLite stores
/// -0.0 as 0), else as stored.
fn metric_value(value: f64, bits: Option<i64>) -> f64 {
    bits.map_or(value, |bits| f64::from_bits(bits as u64))
}

/// The runs of `ids` with their latest metrics, in the order of `ids`; ids of runs that do not
/// exist (or no longer do) are left out.
pub(super) fn runs_of(connection: &Connection, ids: &[i64]) -> Result<Vec<Run>, ReadError> {
    let mut run_rows = connection.prepare_cached(
        "SELECT id, experiment_id, name, status, start_time, end_time, created_by \
         FROM runs WHERE id = ?1",
    )?;
    let mut metric_rows = connection
        .prepare_cached("SELECT key, value, value_bits FROM latest_metrics WHERE run_id = ?1")?;
    let mut runs = Vec::with_capacity(ids.len());
    for id in ids {
        let row = run_rows
            .query_row([id], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ))
            })
            .optional()?;
        let Some(row) = row else { continue };
        let mut run = run_from_row(row)?;
        let mut metrics = metric_rows.query([id])?;
        while let Some(metric) = metrics.next()? {
            run.metrics
                .insert(metric.get(0)?, metric_value(metric.get(1)?, metric.get(2)?));
        }
        runs.push(run);
    }
    Ok(runs)
}

/// The runs of `ids` with their params, tags and latest metric points, in the order of `ids`;
/// ids of runs that do not exist (or no longer do) are left out.
pub(super) fn details_of(
    connection: &Connection,
    ids: &[i64],
) -> Result<Vec<RunDetails>, ReadError> {
    let mut run_rows = connection.prepare_cached(
        "SELECT id, experiment_id, name, status, start_time, end_time, created_by, \
         dataset_digest, code_version, job_id, seed, deleted_at FROM runs WHERE id = ?1",
    )?;
    let mut param_rows =
        connection.prepare_cached("SELECT key, value FROM params WHERE run_id = ?1")?;
    let mut tag_rows =
        connection.prepare_cached("SELECT key, value FROM tags WHERE run_id = ?1")?;
    let mut metric_rows = connection.prepare_cached(
        "SELECT key, value, value_bits, step, timestamp FROM latest_metrics \
         WHERE run_id = ?1 ORDER BY key",
    )?;
    let mut runs = Vec::with_capacity(ids.len());
    for &id in ids {
        let row = run_rows
            .query_row([id], |row| {
                Ok(run::Model {
                    id: row.get(0)?,
                    experiment_id: row.get(1)?,
                    name: row.get(2)?,
                    status: row.get(3)?,
                    start_time: row.get(4)?,
                    end_time: row.get(5)?,
                    created_by: row.get(6)?,
                    dataset_digest: row.get(7)?,
                    code_version: row.get(8)?,
                    job_id: row.get(9)?,
                    seed: row.get(10)?,
                    deleted_at: row.get(11)?,
                })
            })
            .optional()?;
        let Some(row) = row else { continue };
        let pairs = |statement: &mut rusqlite::CachedStatement<'_>| {
            statement
                .query_map([id], |pair| Ok((pair.get(0)?, pair.get(1)?)))?
                .collect::<rusqlite::Result<BTreeMap<String, String>>>()
        };
        let params = pairs(&mut param_rows)?;
        let tags = pairs(&mut tag_rows)?;
        let metrics = metric_rows
            .query_map([id], |point| {
                Ok(latest_metric::Model {
                    run_id: id,
                    key: point.get(0)?,
                    value: metric_value(point.get(1)?, point.get(2)?),
                    step: point.get(3)?,
                    timestamp: point.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        runs.push(RunDetails {
            row,
            params,
            tags,
            metrics,
        });
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Search threads over an empty database file in `dir`.
    fn searches(dir: &tempfile::TempDir, threads: usize) -> Searches {
        let path = dir.path().join("search.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        Searches::start(&path, threads).unwrap()
    }

    fn limits(deadline: Duration) -> Limits {
        Limits {
            deadline,
            max_steps: u64::MAX,
        }
    }

    #[tokio::test]
    async fn a_search_still_queued_at_its_deadline_is_refused_as_busy() {
        let dir = tempfile::tempdir().unwrap();
        let searches = searches(&dir, 1);
        let slow = tokio::spawn({
            let searches = searches.clone();
            async move {
                searches
                    .read(limits(Duration::from_secs(10)), |_| {
                        std::thread::sleep(Duration::from_millis(500));
                        Ok(1)
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let err = searches
            .read(limits(Duration::from_millis(100)), |_| Ok(2))
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("busy"), "{err}");
        assert_eq!(slow.await.unwrap().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_search_that_panics_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let searches = searches(&dir, 1);
        let err = searches
            .read(
                limits(Duration::from_secs(10)),
                |_| -> Result<(), ReadError> { panic!("a bug in a reader") },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::Internal(_)), "{err}");
        // The thread lives on and serves the next search.
        let count = searches
            .read(limits(Duration::from_secs(10)), |connection| {
                Ok(connection
                    .query_row("SELECT count(*) FROM t", [], |row| row.get::<_, i64>(0))?)
            })
            .await
            .unwrap();
        assert_eq!(count, 0);
    }

    #[tokio::test]
    async fn the_connections_are_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let searches = searches(&dir, 1);
        let err = searches
            .read(limits(Duration::from_secs(10)), |connection| {
                Ok(connection.execute("INSERT INTO t VALUES (1)", [])?)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::Database(_)), "{err}");
    }
}
