//! Whole runs for a page of run ids: each run's row, params, tags and the latest point (value,
//! step, time) of each metric, which is what the MLflow API answers a search or a run read with.
//!
//! On SQLite one statement on the search connections packs the whole page as JSON, so the page
//! costs one hand-over from the database's thread instead of one per row (a page of 100 runs
//! has several hundred rows of params and metrics). On PostgreSQL the parts are read as rows on
//! the main connections, where rows cost no hand-over each.

use super::{Pool, SearchPool, Window, sqlx_error};
use crate::entity::tracking::{latest_metric, run};
use crate::error::{ServiceError, ServiceResult};
use crate::tracking::runs;
use sea_orm::sea_query::{SelectStatement, SqliteQueryBuilder};
use sea_orm::sqlx::sqlite::SqliteConnection;
use sea_orm::{DatabaseConnection, sqlx};
use sea_query_sqlx::SqlxBinder;
use std::collections::{BTreeMap, HashMap};

/// A run with everything logged to it but its metric histories.
#[derive(Debug, Clone)]
pub struct RunDetails {
    pub row: run::Model,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// The latest point of each metric, by key.
    pub metrics: Vec<latest_metric::Model>,
}

/// One run as [`PACKED_PAGE`] packs it: the `runs` columns in the model's order, then its params
/// and tags as `[key, value]` pairs and its metrics as `[key, bits, value, step, timestamp]`.
type PackedRun = (
    i64,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Vec<(String, String)>,
    Vec<(String, String)>,
    Vec<(String, Option<i64>, Option<f64>, i64, i64)>,
);

/// The runs whose ids the CTE `page(id)` lists, packed. A metric's value travels as its
/// IEEE-754 bits (JSON text would round it); rows written before those were kept fall back to
/// the value itself, which is written as text only then: SQLite's conversion of a float to
/// text shows in a profile of the search.
const PACKED_PAGE: &str = "SELECT json_group_array(json_array(runs.id, runs.experiment_id, \
     runs.name, runs.status, runs.start_time, runs.end_time, runs.created_by, \
     runs.dataset_digest, runs.code_version, runs.job_id, runs.seed, runs.deleted_at, \
     (SELECT json_group_array(json_array(key, value)) FROM params WHERE run_id = runs.id), \
     (SELECT json_group_array(json_array(key, value)) FROM tags WHERE run_id = runs.id), \
     (SELECT json_group_array(json_array(key, value_bits, \
     CASE WHEN value_bits IS NULL THEN value END, step, timestamp) ORDER BY key) \
     FROM latest_metrics WHERE run_id = runs.id))) \
     FROM page JOIN runs ON runs.id = page.id";

/// [`PACKED_PAGE`] for the ids of a bound JSON array.
fn by_ids_sql() -> String {
    format!("WITH page(id) AS (SELECT value FROM json_each(?)) {PACKED_PAGE}")
}

/// [`PACKED_PAGE`] for the runs a search statement (`ids_sql`) picks, with those ids in the
/// statement's order: a materialized CTE is read back in the order it was written.
fn searched_sql(ids_sql: &str) -> String {
    format!(
        "WITH page(id) AS MATERIALIZED ({ids_sql}) \
         SELECT (SELECT json_group_array(id) FROM page), ({PACKED_PAGE})"
    )
}

/// The runs of `ids` with their details, in the order of `ids`; ids of runs that do not exist
/// (or no longer do) are left out.
pub async fn run_details(
    db: &DatabaseConnection,
    searches: &SearchPool,
    ids: &[i64],
) -> ServiceResult<Vec<RunDetails>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_id = match &searches.pool {
        Pool::Sqlite(pool) => sqlite_details(searches, pool, ids).await?,
        Pool::Postgres(_) => row_details(db, ids).await?,
    };
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

async fn sqlite_details(
    searches: &SearchPool,
    pool: &sqlx::SqlitePool,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, RunDetails>> {
    let mut connection = pool
        .acquire()
        .await
        .map_err(|err| searches.not_acquired(err))?;
    // The page is bounded by the page size, so it needs no deadline; the handler a search left
    // on this connection would hold that search's (past) deadline.
    connection
        .lock_handle()
        .await
        .map_err(sqlx_error)?
        .remove_progress_handler();
    let ids_json = serde_json::to_string(ids)
        .map_err(|err| ServiceError::internal(format!("run details: page ids: {err}")))?;
    let (packed,): (Option<String>,) = sqlx::query_as(sqlx::AssertSqlSafe(by_ids_sql()))
        .bind(ids_json)
        .fetch_one(&mut *connection)
        .await
        .map_err(sqlx_error)?;
    unpack_page(packed.as_deref())
}

/// The runs of `window` that `ids_statement` picks, in its order, with their details, in one
/// statement on the search's connection.
pub(super) async fn read_searched(
    connection: &mut SqliteConnection,
    ids_statement: &SelectStatement,
    window: Window,
    stopped: &impl Fn(sqlx::Error) -> ServiceError,
) -> ServiceResult<Vec<RunDetails>> {
    let (ids_sql, values) = ids_statement.build_sqlx(SqliteQueryBuilder);
    let sql = searched_sql(&window.written_after(&ids_sql));
    let (ids, packed): (Option<String>, Option<String>) =
        sqlx::query_as_with(sqlx::AssertSqlSafe(sql), values)
            .fetch_one(&mut *connection)
            .await
            .map_err(stopped)?;
    let ids: Vec<i64> = serde_json::from_str(ids.as_deref().unwrap_or("[]")).map_err(unreadable)?;
    let mut by_id = unpack_page(packed.as_deref())?;
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

fn unreadable(err: serde_json::Error) -> ServiceError {
    ServiceError::internal(format!(
        "run details: unreadable page from the database: {err}"
    ))
}

/// The packed runs of [`PACKED_PAGE`], by id.
fn unpack_page(packed: Option<&str>) -> ServiceResult<HashMap<i64, RunDetails>> {
    let runs: Vec<PackedRun> = serde_json::from_str(packed.unwrap_or("[]")).map_err(unreadable)?;
    Ok(runs
        .into_iter()
        .map(|packed| {
            let details = unpack(packed);
            (details.row.id, details)
        })
        .collect())
}

fn unpack(packed: PackedRun) -> RunDetails {
    let (id, experiment_id, name, status, start_time, end_time, created_by) = (
        packed.0, packed.1, packed.2, packed.3, packed.4, packed.5, packed.6,
    );
    let row = run::Model {
        id,
        experiment_id,
        name,
        status,
        start_time,
        end_time,
        created_by,
        dataset_digest: packed.7,
        code_version: packed.8,
        job_id: packed.9,
        seed: packed.10,
        deleted_at: packed.11,
    };
    let metrics = packed
        .14
        .into_iter()
        .map(|(key, bits, value, step, timestamp)| latest_metric::Model {
            run_id: id,
            key,
            value: bits.map_or(value.unwrap_or(f64::NAN), |bits| {
                f64::from_bits(bits as u64)
            }),
            step,
            timestamp,
        })
        .collect();
    RunDetails {
        row,
        params: packed.12.into_iter().collect(),
        tags: packed.13.into_iter().collect(),
        metrics,
    }
}

/// The details as rows, through the main connections.
async fn row_details(
    db: &DatabaseConnection,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, RunDetails>> {
    let rows = runs::rows_of(db, ids).await?;
    let mut params = runs::params_of(db, ids).await?;
    let mut tags = runs::tags_of(db, ids).await?;
    let mut metrics: HashMap<i64, Vec<latest_metric::Model>> = HashMap::new();
    for point in runs::latest_points_of(db, ids).await? {
        metrics.entry(point.run_id).or_default().push(point);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let id = row.id;
            let details = RunDetails {
                params: params.remove(&id).unwrap_or_default(),
                tags: tags.remove(&id).unwrap_or_default(),
                metrics: metrics.remove(&id).unwrap_or_default(),
                row,
            };
            (id, details)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnectionTrait;

    /// Both ways of reading a page answer the same runs, in the order asked, with every
    /// column, param, tag and metric point; unknown ids are left out.
    #[tokio::test]
    async fn packed_and_row_details_agree() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::db::testing::url(dir.path()).await;
        let db = crate::db::connect(&url).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO experiments (id, name, created_at, updated_at) VALUES (1, 'e', 0, 0); \
             INSERT INTO runs (id, experiment_id, name, status, start_time, end_time, created_by, \
             dataset_digest, code_version, job_id, seed, deleted_at) VALUES \
             (1, 1, 'a', 'finished', 5, 9, 'ann', 'sha256:d', 'abc', NULL, 7, NULL), \
             (2, 1, 'b \"quoted\"', 'running', 6, NULL, 'bob', NULL, NULL, NULL, NULL, 11); \
             INSERT INTO params (run_id, key, value) VALUES (1, 'lr', '0.1'), (1, 'layers', '[64, 32]'); \
             INSERT INTO tags (run_id, key, value) VALUES (2, 'team', 'vision'); \
             INSERT INTO latest_metrics (run_id, key, value, value_bits, step, timestamp) VALUES \
             (1, 'loss', 0.30000000000000004, 4599075939470750516, 3, 1000), \
             (1, 'acc', 0.5, NULL, 4, 2000)",
        )
        .await
        .unwrap();
        let searches = SearchPool::open(&url, super::super::DEADLINE).unwrap();
        let packed = run_details(&db, &searches, &[2, 404, 1]).await.unwrap();
        let rows = row_details(&db, &[2, 404, 1]).await.unwrap();
        assert_eq!(
            packed.iter().map(|run| run.row.id).collect::<Vec<_>>(),
            vec![2, 1]
        );
        for run in &packed {
            let other = &rows[&run.row.id];
            assert_eq!(run.row, other.row);
            assert_eq!(run.params, other.params);
            assert_eq!(run.tags, other.tags);
            assert_eq!(run.metrics, other.metrics);
        }
        assert_eq!(
            packed[1].metrics[1].value.to_bits(),
            0.30000000000000004f64.to_bits()
        );
        assert_eq!(packed[1].params["layers"], "[64, 32]");
        assert_eq!(packed[0].row.name, "b \"quoted\"");
    }
}
