//! The database connection: SQLite in the data dir by default, configured for a server
//! (WAL, a busy timeout, foreign keys on), with the migrations applied at start.
//!
//! This is the one place that knows which backend is in use; everything SQLite-specific is in
//! the marked switch below, and every query elsewhere is portable to PostgreSQL.

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::path::Path;
use std::time::Duration;

/// The SQLite URL of the database file in `data_dir`.
pub fn default_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("slipway.db").display()
    )
}

/// Connects to `url` and applies every pending migration.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(30));
    // --- backend switch: SQLite -------------------------------------------------------
    if url.starts_with("sqlite:") {
        // Private before SQLite first opens it: its -wal and -shm files take its mode.
        if let Some(file) = crate::files::sqlite_file(url) {
            crate::files::make_database_private(&file).map_err(|err| {
                DbErr::Custom(format!("cannot make {} private: {err}", file.display()))
            })?;
        }
        options
            // Readers never block the writer in WAL mode; a few connections serve reads in
            // parallel while SQLite serialises writes (and the busy timeout queues them).
            .max_connections(8)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts: SqliteConnectOptions| {
                opts.journal_mode(SqliteJournalMode::Wal)
                    // In WAL mode NORMAL loses no committed transaction when the process is
                    // killed; only a power loss can drop the last commits.
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    // LIKE is case-sensitive on PostgreSQL; make SQLite agree.
                    .pragma("case_sensitive_like", "ON")
                    .pragma("cache_size", "-32000")
                    .pragma("temp_store", "MEMORY")
                    .create_if_missing(true)
            });
    }
    // ------------------------------------------------------------------------------------
    let db = Database::connect(options).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// Whether the database answers and every migration is applied: what `/readyz` reports.
pub async fn readiness(db: &DatabaseConnection) -> Result<(), String> {
    let backend = db.get_database_backend();
    db.query_one_raw(Statement::from_string(backend, "SELECT 1"))
        .await
        .map_err(|err| format!("database unreachable: {err}"))?;
    let pending = Migrator::get_pending_migrations(db)
        .await
        .map_err(|err| format!("cannot read the migration state: {err}"))?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err(format!("{} migrations are not applied", pending.len()))
    }
}

/// Begins a transaction that will write.
///
/// On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`): a transaction that reads
/// first and writes later could otherwise fail with "database is locked" when another writer
/// commits in between, which the busy timeout cannot cure. Other backends ignore the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let mode = (db.get_database_backend() == DbBackend::Sqlite)
        .then_some(SqliteTransactionMode::Immediate);
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: mode,
        ..TransactionOptions::default()
    })
    .await
}
