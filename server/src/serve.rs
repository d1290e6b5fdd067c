//! Running the server: prepare the data dir, connect and migrate, make the first admin token,
//! build the state ([`AppState::build`]), listen (with the connection limits of
//! [`crate::transport`], see [`launch`]), and shut down gracefully on SIGTERM or Ctrl-C,
//! letting in-flight requests finish.

use crate::auth::TokenService;
use crate::config::Config;
use crate::state::AppState;
use crate::transport::ConnectionLimits;
use std::net::SocketAddr;
use std::path::Path;
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
    let db = crate::db::connect(&config.database_url()).await?;
    let admin_secret = TokenService::new(db.clone())
        .bootstrap_admin()
        .await
        .map_err(|err| ServeError::AdminToken(err.to_string()))?;
    if let Some(secret) = &admin_secret {
        write_private(&config.admin_token_path(), secret).map_err(data_dir_error)?;
    }
    let listener = tokio::net::TcpListener::bind(config.addr.0)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.addr.0,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let (state, mut tasks) = AppState::build(config, db.clone())?;
    // Nothing uploads yet: whatever is in the temporary directory was cut short by a crash.
    match state.blobs.remove_partial_uploads().await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed partial uploads left by an earlier run"),
        Err(err) => tracing::warn!(error = %err, "cannot remove partial uploads"),
    }
    tracing::info!(artifacts = %state.blobs.location(), "artifacts are stored here");
    tasks.start(&state);
    // Listen for the signals before announcing the address: a SIGTERM sent by whoever waits
    // for that line must stop the server gracefully, not kill it with the default action.
    let signalled = shutdown_signal()?;
    on_started(&Started {
        addr,
        admin_token_created: admin_secret.is_some(),
    });
    tracing::info!(%addr, "listening");
    crate::http::dashboard::assets::log_status();

    let signal = tasks.shutdown_handle();
    let shutdown = async move {
        signalled.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = signal.send(true);
    };
    let result = launch(listener, state, shutdown).await;
    // The router (and with it every writer handle) is gone: the writer drains and ends.
    tasks.finish(grace).await;
    db.close().await?;
    result?;
    tracing::info!("stopped");
    Ok(())
}

/// Serves `state`'s router on `listener` (with the connection limits of its configuration)
/// until `shutdown` resolves, then lets in-flight requests finish. The grace period starts
/// when the state's shutdown flag turns (see [`crate::state::BackgroundTasks::shutdown_handle`]);
/// requests still running after it are dropped.
pub async fn launch(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let limits = ConnectionLimits {
        header_timeout: Duration::from_secs(state.config.limits.header_timeout_secs),
        max_connections: state.config.limits.max_connections,
    };
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    let mut signalled = state.shutdown.clone();
    let app = crate::http::router(state);
    let server = crate::transport::serve(listener, app, limits, shutdown);
    let deadline = async move {
        let _ = signalled.wait_for(|signalled| *signalled).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = server => {},
        () = deadline => tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period; stopping anyway"),
    }
    Ok(())
}

/// Installs the handlers for SIGINT (Ctrl-C) and SIGTERM now, and resolves when either
/// arrives.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> Result<impl Future<Output = ()>, ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Serve)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Serve)?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> Result<impl Future<Output = ()>, ServeError> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
