//! Run search on PostgreSQL: the search pool's connections and how a page is read there.
//!
//! The deadline is the connections' `statement_timeout`, so the server itself cancels a search
//! that runs too long (SQLite's progress handler and step budget have no equivalent here; the
//! filter's cost caps still apply). A search whose client goes away runs on until that timeout
//! at most. The connections are read-only. A page is read in three short statements: the ids in
//! the filter's order, then their runs, then their latest metrics; `float8` comes back exact, so
//! no bit-packing is needed.

use super::{CONNECTIONS, RunRow, run_from_row};
use crate::entity::tracking::{latest_metric, run};
use crate::error::{ServiceError, ServiceResult};
use sea_orm::sea_query::{PostgresQueryBuilder, Query, SelectStatement};
use sea_orm::sqlx;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sea_orm::{ColumnTrait, DbErr};
use sea_query_sqlx::SqlxBinder;
use slipway_api::Run;
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// PostgreSQL's SQLSTATE for a statement cancelled by `statement_timeout`.
const QUERY_CANCELED: &str = "57014";

/// Read-only connections to the PostgreSQL database at `url`, each with `deadline` as its
/// statement timeout.
pub fn open(url: &str, deadline: Duration) -> Result<PgPool, DbErr> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|err| DbErr::Custom(format!("search pool: {err}")))?
        .application_name("slipway-search")
        .options([
            ("statement_timeout", deadline.as_millis().to_string()),
            ("default_transaction_read_only", "on".to_owned()),
        ]);
    Ok(PgPoolOptions::new()
        .max_connections(CONNECTIONS)
        .min_connections(0)
        // A search that cannot get a connection within its deadline is refused (503) rather
        // than queued without bound.
        .acquire_timeout(deadline)
        .connect_lazy_with(options))
}

/// Whether `err` is the statement timeout cancelling a search.
pub fn timed_out(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some(QUERY_CANCELED))
}

/// The rows `statement` selects, each as `T`; every value is a bound parameter.
async fn fetch<T>(
    connection: &mut PgConnection,
    statement: &SelectStatement,
) -> sqlx::Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let (sql, values) = statement.build_sqlx(PostgresQueryBuilder);
    sqlx::query_as_with(sqlx::AssertSqlSafe(sql), values)
        .fetch_all(connection)
        .await
}

/// The run ids `statement` selects, in its order.
pub async fn page_ids(
    connection: &mut PgConnection,
    statement: &SelectStatement,
) -> sqlx::Result<Vec<i64>> {
    let ids: Vec<(i64,)> = fetch(connection, statement).await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// The runs of `ids` with their latest metrics, in the order of `ids`; a run deleted since its
/// id was chosen is left out.
pub async fn runs_of(
    connection: &mut PgConnection,
    ids: &[i64],
    stopped: &impl Fn(sqlx::Error) -> ServiceError,
) -> ServiceResult<Vec<Run>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let run_rows: Vec<RunRow> = fetch(
        connection,
        Query::select()
            .columns([
                run::Column::Id,
                run::Column::ExperimentId,
                run::Column::Name,
                run::Column::Status,
                run::Column::StartTime,
                run::Column::EndTime,
                run::Column::CreatedBy,
            ])
            .from(run::Entity)
            .and_where(run::Column::Id.is_in(ids.iter().copied())),
    )
    .await
    .map_err(stopped)?;
    let metric_rows: Vec<(i64, String, f64)> = fetch(
        connection,
        Query::select()
            .columns([
                latest_metric::Column::RunId,
                latest_metric::Column::Key,
                latest_metric::Column::Value,
            ])
            .from(latest_metric::Entity)
            .and_where(latest_metric::Column::RunId.is_in(ids.iter().copied())),
    )
    .await
    .map_err(stopped)?;
    let mut runs: HashMap<i64, Run> = HashMap::with_capacity(run_rows.len());
    for row in run_rows {
        let run = run_from_row(row)?;
        runs.insert(run.id, run);
    }
    for (run_id, key, value) in metric_rows {
        if let Some(run) = runs.get_mut(&run_id) {
            run.metrics.insert(key, value);
        }
    }
    Ok(ids.iter().filter_map(|id| runs.remove(id)).collect())
}
