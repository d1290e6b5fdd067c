//! Running the server: prepare the data dir, connect and migrate, make the first admin token,
//! listen (with the connection limits of [`crate::transport`]), and shut down gracefully on
//! SIGTERM or Ctrl-C, letting in-flight requests finish.

use crate::auth::TokenService;
use crate::config::Config;
use crate::monitoring::Monitoring;
use crate::monitoring::live::Monitor;
use crate::rate_limit::RateLimits;
use crate::scheduler::Scheduler;
use crate::serving::{BatchPolicy, Serving};
use crate::sessions::Sessions;
use crate::state::AppState;
use crate::tracking::artifacts::ArtifactStore;
use crate::tracking::logging::LogWriter;
use crate::tracking::search::SearchPool;
use crate::transport::ConnectionLimits;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot prepare the data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("cannot create the first admin token: {0}")]
    AdminToken(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// What a started server tells its caller.
#[derive(Debug, Clone)]
pub struct Started {
    pub addr: SocketAddr,
    /// Set on the first start, when the admin token was just written.
    pub admin_token_created: bool,
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Runs the server until a shutdown signal; `on_started` is called once it listens.
pub async fn run(config: Config, on_started: impl FnOnce(&Started)) -> Result<(), ServeError> {
    let data_dir_error = |source| ServeError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    };
    crate::files::create_private_dir(&config.data_dir).map_err(data_dir_error)?;
    crate::files::create_private_dir(&config.artifacts_dir()).map_err(data_dir_error)?;
    let db = crate::db::connect(&config.database_url).await?;
    let tokens = TokenService::new(db.clone());
    let admin_secret = tokens
        .bootstrap_admin()
        .await
        .map_err(|err| ServeError::AdminToken(err.to_string()))?;
    if let Some(secret) = &admin_secret {
        write_private(&config.admin_token_path(), secret).map_err(data_dir_error)?;
    }
    let (log_writer, writer_task) = LogWriter::spawn(db.clone());
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let scheduler = Scheduler::new(Duration::from_secs(config.job_lease_secs));
    let reaper = crate::scheduler::leasing::spawn_reaper(db.clone(), scheduler.clone());
    let (signalled_tx, signalled_rx) = tokio::sync::watch::channel(false);
    let artifacts = ArtifactStore::new(config.artifacts_dir(), config.max_artifact_bytes);
    // Nothing uploads yet: whatever is in the temporary directory was cut short by a crash.
    match artifacts.remove_partial_uploads().await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed partial uploads left by an earlier run"),
        Err(err) => tracing::warn!(error = %err, "cannot remove partial uploads"),
    }
    crate::gc::spawn(db.clone(), artifacts.clone(), signalled_rx.clone());
    let serving = Serving::new(
        db.clone(),
        artifacts.clone(),
        BatchPolicy {
            max_rows: config.batch_max_rows,
            max_wait: Duration::from_micros(config.batch_max_wait_us),
        },
        config.predict_max_instances,
        Arc::clone(&scheduler.events),
        Monitor::new(config.monitoring),
    );
    serving.spawn_background(signalled_rx.clone());
    let monitoring = Monitoring::new(db.clone(), artifacts.clone(), serving.clone());
    if config.monitoring {
        monitoring.spawn(
            scheduler.clone(),
            Duration::from_secs(1),
            signalled_rx.clone(),
        );
    }
    crate::scheduler::schedules::spawn(
        db.clone(),
        scheduler.clone(),
        Duration::from_millis(250),
        chrono::Duration::seconds(config.schedule_misfire_grace_secs as i64),
        signalled_rx.clone(),
    );
    let searches = SearchPool::open(&config.database_url, crate::tracking::search::DEADLINE)?;
    let limits = ConnectionLimits {
        header_timeout: Duration::from_secs(config.header_timeout_secs),
        max_connections: config.max_connections,
    };
    let sessions = Sessions::new(
        db.clone(),
        tokens.clone(),
        Duration::from_secs(config.session_lifetime_secs),
    );
    let rate_limits = Arc::new(RateLimits::new(&config));
    let state = AppState {
        searches,
        shutdown: signalled_rx.clone(),
        sessions,
        rate_limits,
        scheduler,
        serving,
        monitoring,
        artifacts,
        db: db.clone(),
        config: Arc::new(config),
        tokens,
        log_writer,
    };
    let app = crate::http::router(state);
    on_started(&Started {
        addr,
        admin_token_created: admin_secret.is_some(),
    });
    tracing::info!(%addr, "listening");
    crate::http::dashboard::assets::log_status();

    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = signalled_tx.send(true);
    };
    let server = crate::transport::serve(listener, app, limits, shutdown);
    let deadline = async move {
        let mut signalled = signalled_rx;
        let _ = signalled.wait_for(|signalled| *signalled).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = server => {},
        () = deadline => tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period; stopping anyway"),
    }
    reaper.abort();
    // The router (and with it every writer handle) is gone: the writer drains and ends.
    if tokio::time::timeout(grace, writer_task).await.is_err() {
        tracing::warn!("the metric writer did not finish in time");
    }
    db.close().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
