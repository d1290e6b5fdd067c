//! The database a test builds its store in: SQLite in the test's temporary directory, or,
//! when `SLIPWAY_TEST_DATABASE_URL` names a PostgreSQL server (an admin URL: a role that may
//! create databases), a fresh database there, so every test starts from an empty store on
//! either backend.

use sea_orm::{ConnectionTrait, Database};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the PostgreSQL server the tests run against.
pub const ADMIN_URL_VAR: &str = "SLIPWAY_TEST_DATABASE_URL";

/// The PostgreSQL admin URL the tests run against, if any.
pub fn admin_url() -> Option<String> {
    std::env::var(ADMIN_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether the tests run against PostgreSQL; tests of SQLite-only machinery skip then.
pub fn postgres() -> bool {
    admin_url().is_some()
}

/// Prints why a test does nothing on this backend; it returns `true` when the test should
/// stop here (the tests run against PostgreSQL).
pub fn skip_on_postgres(why: &str) -> bool {
    if postgres() {
        println!("skipped on PostgreSQL: {why}");
        true
    } else {
        false
    }
}

/// The URL of a new, empty database for one test (not migrated: `db::connect` does that).
pub async fn url(dir: &Path) -> String {
    match admin_url() {
        Some(admin) => create(&admin).await,
        None => super::default_url(dir),
    }
}

/// Creates a database with a name no other test process uses, and returns its URL.
async fn create(admin: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let name = format!(
        "slipway_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let server = Database::connect(admin).await.unwrap();
    server
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    server.close().await.unwrap();
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
    assert_eq!(with_database("postgres://h:1", "t3"), "postgres://h:1/t3");
}
