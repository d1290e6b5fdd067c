//! `cargo run -p migration -- status|up|down|fresh|…`: Slipway's migrations on their own.
//!
//! `DATABASE_URL` (or `-u URL`) names the database; without either, the default data dir's
//! SQLite file (`./.slipway/slipway.db`) is used, so `status` works next to `slipway up`.

use sea_orm_migration::prelude::*;

const DEFAULT_DIR: &str = "./.slipway";
const DEFAULT_URL: &str = "sqlite://./.slipway/slipway.db?mode=rwc";

#[tokio::main]
async fn main() {
    let has_url_flag = std::env::args().any(|a| a == "-u" || a.starts_with("--database-url"));
    if std::env::var_os("DATABASE_URL").is_some() || has_url_flag {
        cli::run_cli(migration::Migrator).await;
        return;
    }
    // The CLI reads the URL from the environment only; re-run this same program with the
    // default set, rather than mutating the environment of a running multi-threaded process.
    if let Err(err) = std::fs::create_dir_all(DEFAULT_DIR) {
        eprintln!("error: cannot create {DEFAULT_DIR}: {err}");
        std::process::exit(1);
    }
    let status = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("DATABASE_URL", DEFAULT_URL)
            .status()
    });
    match status {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(err) => {
            eprintln!("error: cannot run the migration tool: {err}");
            std::process::exit(1);
        }
    }
}
