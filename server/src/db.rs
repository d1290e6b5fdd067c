//! The database connection: SQLite in the data dir by default, configured for a server
//! (WAL, a busy timeout, foreign keys on), or PostgreSQL by URL; the migrations are applied at
//! start on either.
//!
//! This is the one place that knows how each backend is set up; the backend-specific settings
//! are in the marked switch below, and every query elsewhere is portable between the two
//! (the run search's page query, which has one form per backend, asks [`Backend::of`]).

#[cfg(test)]
mod concurrency_tests;
#[cfg(test)]
pub mod testing;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgConnectOptions;
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

/// The database systems the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a URL names, from its scheme; `None` for any other scheme.
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Connects to `url` and applies every pending migration.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(30));
    let backend = Backend::of(url).ok_or_else(|| {
        DbErr::Custom(
            "database URL: expected one starting with sqlite:, postgres:// or postgresql://"
                .to_owned(),
        )
    })?;
    // --- backend switch -------------------------------------------------------------------
    if backend == Backend::Postgres {
        options
            // Each replica's share of the server's `max_connections` (100 by default): room
            // for leasing, heartbeats and writes at once, without one replica taking them all.
            .max_connections(16)
            .min_connections(1)
            .map_sqlx_postgres_opts(|opts: PgConnectOptions| {
                // Named in `pg_stat_activity`, so an operator can tell whose sessions these are.
                opts.application_name("slipway")
            });
    }
    if backend == Backend::Sqlite {
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

/// The key of the PostgreSQL advisory lock that write transactions take (any constant no other
/// application on the database uses; these are the ASCII bytes of "slipway\0").
const WRITE_LOCK_KEY: i64 = 0x736C_6970_7761_7900;

/// Begins a transaction that will write.
///
/// On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`): a transaction that reads
/// first and writes later could otherwise fail with "database is locked" when another writer
/// commits in between, which the busy timeout cannot cure.
///
/// On PostgreSQL it takes a transaction-scoped advisory lock, so write transactions run one at
/// a time there too, across every server replica on the database. The services' transactions
/// read, check, then write (the next revision number, a name not yet taken, an alias's current
/// version); under PostgreSQL's default READ COMMITTED isolation two of them could both pass
/// the check, so they keep the same one-writer guarantee they have on SQLite. Single-statement
/// claims (job leases, schedule due times) need no transaction: a conditional `UPDATE` waits
/// for a concurrent one on the same row and re-checks its condition on the committed row.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let backend = db.get_database_backend();
    let mode = (backend == DbBackend::Sqlite).then_some(SqliteTransactionMode::Immediate);
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: mode,
            ..TransactionOptions::default()
        })
        .await?;
    if backend == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            backend,
            format!("SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"),
        ))
        .await?;
    }
    Ok(txn)
}
