//! On SQLite, the per-run key tables (`latest_metrics`, `params`, `tags`) are stored by their
//! primary key `(run_id, key)` (`WITHOUT ROWID`) instead of by a hidden row id.
//!
//! A search reads these tables two ways: by `(key, value)` index to pick a page's runs, and by
//! `(run_id, key)` to pack each run's metrics. With a row id, each of those lookups went
//! through the index and then once more through the table; clustered by the primary key, the
//! `(key, value)` index carries `run_id` itself and a run's keys lie side by side, so both are
//! one b-tree walk. That halves the database's work per search page. PostgreSQL has no row id
//! tables of this kind and is left as it is.
//!
//! SQLite cannot change a table's storage in place, so each table is rebuilt: created anew
//! from its own definition with `WITHOUT ROWID`, filled, swapped in, and its indexes made
//! again from their own definitions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 3] = ["latest_metrics", "params", "tags"];
const SUFFIX: &str = " WITHOUT ROWID";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            rebuild(manager, table, true).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            rebuild(manager, table, false).await?;
        }
        Ok(())
    }
}

/// Rebuilds `table` on SQLite as clustered by its primary key (`clustered`) or as a row-id
/// table; a no-op elsewhere and when the table is already stored that way.
async fn rebuild(manager: &SchemaManager<'_>, table: &str, clustered: bool) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(());
    }
    // One transaction, so every step runs on one connection (the pool's others may still see
    // the schema as it was) and a failure leaves the table as it was.
    let txn = manager.get_connection().begin().await?;
    let definitions = txn
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL \
             ORDER BY type = 'index'",
            [table.into()],
        ))
        .await?;
    let mut create_table = None;
    let mut create_indexes = Vec::new();
    for row in definitions {
        let kind: String = row.try_get("", "type")?;
        let sql: String = row.try_get("", "sql")?;
        match kind.as_str() {
            "table" => create_table = Some(sql),
            "index" => create_indexes.push(sql),
            _ => {}
        }
    }
    let create_table =
        create_table.ok_or_else(|| DbErr::Migration(format!("table {table} is missing")))?;
    let definition = create_table.trim_end();
    let is_clustered = definition.ends_with(SUFFIX.trim_start());
    if is_clustered == clustered {
        return txn.commit().await;
    }
    // The definition names the table once, right after `CREATE TABLE [IF NOT EXISTS]`; the
    // columns and constraints that follow are kept as they are.
    let body = definition
        .find('(')
        .map(|open| &definition[open..])
        .ok_or_else(|| DbErr::Migration(format!("table {table}: unreadable definition")))?;
    let body = body
        .strip_suffix(SUFFIX.trim_start())
        .unwrap_or(body)
        .trim_end();
    let rebuilt = format!("{table}_rebuilt");
    let storage = if clustered { SUFFIX } else { "" };
    let statements = [
        format!("CREATE TABLE \"{rebuilt}\" {body}{storage}"),
        format!("INSERT INTO \"{rebuilt}\" SELECT * FROM \"{table}\""),
        format!("DROP TABLE \"{table}\""),
        format!("ALTER TABLE \"{rebuilt}\" RENAME TO \"{table}\""),
    ];
    for statement in statements.iter().chain(&create_indexes) {
        txn.execute_unprepared(statement).await?;
    }
    txn.commit().await
}
