//! The database behind each test server: SQLite in its data dir by default; a fresh PostgreSQL
//! database per data dir when `SLIPWAY_TEST_DATABASE_URL` names a PostgreSQL server. A server
//! started again on the same data dir (a restart after a crash) finds the same database.
//! Databases are created with `psql`, the client installed with PostgreSQL.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the PostgreSQL server the tests run against.
pub const ADMIN_URL_VAR: &str = "SLIPWAY_TEST_DATABASE_URL";

/// The PostgreSQL admin URL the tests run against, if any.
pub fn admin_url() -> Option<String> {
    std::env::var(ADMIN_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether the servers run on PostgreSQL.
pub fn postgres() -> bool {
    admin_url().is_some()
}

/// Prints why (part of) a test does not apply on PostgreSQL; returns `true` when the test
/// runs against PostgreSQL, so the caller stops or skips that part.
pub fn skip_on_postgres(why: &str) -> bool {
    if postgres() {
        println!("skipped on PostgreSQL: {why}");
        true
    } else {
        false
    }
}

/// The `--database-url` for a server on `data_dir`: `None` for SQLite in the data dir, else
/// the PostgreSQL database made for that data dir (created on first use).
pub fn url_for(data_dir: &Path) -> Option<String> {
    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    let admin = admin_url()?;
    let key = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let mut databases = DATABASES.lock().unwrap_or_else(|err| err.into_inner());
    let url = databases
        .get_or_insert_default()
        .entry(key)
        .or_insert_with(|| create(&admin));
    Some(url.clone())
}

/// Creates a database with a name no other test process uses, and returns its URL.
fn create(admin: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let name = format!(
        "slipway_e2e_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let output = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", admin, "-c"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("run psql (install PostgreSQL's client to test on PostgreSQL)");
    assert!(
        output.status.success(),
        "psql could not create database {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    with_database(admin, &name)
}

/// `url` with its database name replaced by `name` (its query string kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_database_name_replaces_the_admin_one() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/postgres", "t1"),
            "postgres://u@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/postgres?sslmode=disable", "t2"),
            "postgresql://u:p@h/t2?sslmode=disable"
        );
    }
}
