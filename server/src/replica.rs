//! A serving replica (`slipway serve`): a stateless process with no database that follows the
//! server's deployments through its API (a poll, and the live event stream to react at once),
//! downloads the model files of the versions their revisions use into a cache directory,
//! loads and warms them into the same model pool as the server, and answers predictions with
//! the same routing, batching and responses. Any number of them may run behind a load
//! balancer. Every second it reports what it measured to the server (`reporter`), so that its
//! predictions count in the server's monitoring and SLO guards.

mod reporter;

use crate::config::Config;
use crate::events::EventBus;
use crate::http::replica::{ReplicaState, router};
use crate::monitoring::live::Monitor;
use crate::serving::source::Source;
use crate::serving::{BatchPolicy, Serving};
use crate::transport::ConnectionLimits;
use slipway_api::{ApiError, Client};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How a replica runs.
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    pub addr: SocketAddr,
    /// Where downloaded model files are kept, by digest.
    pub cache_dir: PathBuf,
    /// How often the deployments are read even without an event.
    pub poll: Duration,
    /// Each caller's prediction budget here, and whether admins have one too.
    pub predict_limit: crate::config::RateLimit,
    pub rate_limit_admin: bool,
}

/// Why a replica stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(
        "the server at {server} refused the token: {source}; give a valid one with --token or SLIPWAY_TOKEN"
    )]
    Token { server: String, source: ApiError },
    #[error("cannot reach the server at {server}: {source}")]
    Server { server: String, source: ApiError },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot use the cache directory {dir}: {source}")]
    Cache {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Signal(String),
}

/// Runs a replica until SIGINT or SIGTERM. Prints `slipway listening on http://ADDR` once it
/// accepts connections (it answers 503 for a deployment until its models are loaded).
pub async fn run(client: Client, config: ReplicaConfig) -> Result<(), ReplicaError> {
    let server = client.base_url().to_owned();
    // A bad token is a startup error, not a replica that silently serves nothing.
    let identity = client
        .whoami()
        .await
        .map_err(|source| match source.code() {
            Some(
                slipway_api::ErrorCode::Unauthenticated | slipway_api::ErrorCode::PermissionDenied,
            ) => ReplicaError::Token {
                server: server.clone(),
                source,
            },
            _ => ReplicaError::Server {
                server: server.clone(),
                source,
            },
        })?;
    std::fs::create_dir_all(&config.cache_dir).map_err(|source| ReplicaError::Cache {
        dir: config.cache_dir.clone(),
        source,
    })?;
    let reports = identity.role != slipway_api::Role::Viewer;
    if !reports {
        tracing::warn!(
            token = %identity.name,
            "this replica's token is a viewer's: its predictions will not count in the server's monitoring or SLO guards; give it a worker or engineer token"
        );
    }
    let defaults = Config::default();
    let serving = Serving::new(
        Source::Server {
            client: client.clone(),
            cache: config.cache_dir.clone(),
        },
        BatchPolicy {
            max_rows: defaults.serving.batch_max_rows,
            max_wait: Duration::from_micros(defaults.serving.batch_max_wait_us),
        },
        defaults.serving.predict_max_instances,
        Arc::new(EventBus::new()),
        // A viewer may not report (it could fake traffic and trip a guard): such a replica
        // keeps its counts to itself.
        if reports {
            Monitor::reporting()
        } else {
            Monitor::new(true)
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    serving.spawn_background(config.poll, stopped.clone());
    // The reporter stops only once the requests in flight have finished, so that its last
    // report counts them too.
    let (served_all, reporter_stopped) = tokio::sync::watch::channel(false);
    let reporting = reports.then(|| {
        tokio::spawn(reporter::run(
            client.clone(),
            serving.clone(),
            reporter_stopped,
        ))
    });
    tokio::spawn(follow_events(client, serving.clone(), stopped));
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| ReplicaError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ReplicaError::Bind {
        addr: config.addr,
        source,
    })?;
    tracing::info!(%addr, %server, "serving replica listening");
    println!("slipway listening on http://{addr}");
    let signalled =
        crate::serve::shutdown_signal().map_err(|err| ReplicaError::Signal(err.to_string()))?;
    let app = router(ReplicaState::new(
        serving,
        server,
        defaults.limits.max_body_bytes,
        crate::rate_limit::RateLimits::predict_only(config.predict_limit, config.rate_limit_admin),
    ));
    let limits = ConnectionLimits {
        header_timeout: Duration::from_secs(defaults.limits.header_timeout_secs),
        max_connections: defaults.limits.max_connections,
    };
    crate::transport::serve(listener, app, limits, async move {
        signalled.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop.send(true);
    })
    .await;
    // The last report: what was answered since the one before.
    let _ = served_all.send(true);
    if let Some(reporting) = reporting {
        let _ = tokio::time::timeout(Duration::from_secs(6), reporting).await;
    }
    Ok(())
}

/// Wakes the sync at once when the server announces a deployment change; reconnects after a
/// broken stream (the poll covers what is missed meanwhile).
async fn follow_events(
    client: Client,
    serving: Serving,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let followed = async {
            let mut stream = client.events(None).await?;
            while let Some(event) = stream.next().await {
                let event = event?;
                // `reset`: the server lost track of events; anything may have changed.
                if matches!(event.event.kind.as_str(), "deployment" | "reset") {
                    serving.wake_sync();
                }
            }
            Ok::<_, ApiError>(())
        };
        tokio::select! {
            result = followed => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "event stream broken; reconnecting");
                }
            }
            _ = stopped.changed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stopped.changed() => return,
        }
    }
}
