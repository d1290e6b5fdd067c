//! Whole runs for a page of run ids: each run's row, params, tags and the latest point (value,
//! step, time) of each metric, which is what the MLflow API answers a search or a run read with.
//!
//! On SQLite they are read on a search thread (see `sqlite::details_of`); on PostgreSQL as rows
//! on the main connections.

use super::{Pool, SearchPool, sqlite};
use crate::entity::tracking::{latest_metric, run};
use crate::error::ServiceResult;
use crate::tracking::runs;
use sea_orm::DatabaseConnection;
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
    match &searches.pool {
        Pool::Sqlite(threads) => {
            let ids = ids.to_vec();
            threads
                .read(searches.limits(), move |connection| {
                    sqlite::details_of(connection, &ids)
                })
                .await
        }
        Pool::Postgres(_) => {
            let mut by_id = row_details(db, ids).await?;
            Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
        }
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
    async fn search_thread_and_row_details_agree() {
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
        let threaded = run_details(&db, &searches, &[2, 404, 1]).await.unwrap();
        let rows = row_details(&db, &[2, 404, 1]).await.unwrap();
        assert_eq!(
            threaded.iter().map(|run| run.row.id).collect::<Vec<_>>(),
            vec![2, 1]
        );
        for run in &threaded {
            let other = &rows[&run.row.id];
            assert_eq!(run.row, other.row);
            assert_eq!(run.params, other.params);
            assert_eq!(run.tags, other.tags);
            assert_eq!(run.metrics, other.metrics);
        }
        assert_eq!(
            threaded[1].metrics[1].value.to_bits(),
            0.30000000000000004f64.to_bits()
        );
        assert_eq!(threaded[1].params["layers"], "[64, 32]");
        assert_eq!(threaded[0].row.name, "b \"quoted\"");
    }
}
