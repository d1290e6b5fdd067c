//! The state shared by every request handler.

use crate::auth::TokenService;
use crate::config::Config;
use crate::monitoring::Monitoring;
use crate::rate_limit::RateLimits;
use crate::scheduler::Scheduler;
use crate::serving::Serving;
use crate::sessions::Sessions;
use crate::tracking::artifacts::ArtifactStore;
use crate::tracking::logging::LogWriter;
use crate::tracking::search::SearchPool;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// Everything a handler may need; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub tokens: TokenService,
    /// The dashboard's sessions.
    pub sessions: Sessions,
    /// Per-token request budgets of the expensive routes.
    pub rate_limits: Arc<RateLimits>,
    pub log_writer: LogWriter,
    pub artifacts: ArtifactStore,
    pub scheduler: Scheduler,
    pub serving: Serving,
    pub monitoring: Monitoring,
    /// The connections run searches use, apart from everything else.
    pub searches: SearchPool,
    /// Turns true when the server begins to shut down.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}
