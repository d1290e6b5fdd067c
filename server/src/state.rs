//! The state shared by every request handler, and the one place that assembles it from a
//! configuration and a database: the server and the in-process tests build it the same way.

use crate::auth::TokenService;
use crate::blobs::BlobStore;
use crate::cluster::leader::{Leadership, MAINTENANCE};
use crate::config::Config;
use crate::events::EventBus;
use crate::monitoring::Monitoring;
use crate::monitoring::live::Monitor;
use crate::queue::JobQueue;
use crate::rate_limit::RateLimits;
use crate::serving::{BatchPolicy, Serving};
use crate::sessions::Sessions;
use crate::tracking::logging::LogWriter;
use crate::tracking::search::SearchPool;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the schedules are looked at.
const SCHEDULE_TICK: Duration = Duration::from_millis(250);
/// How often the SLO guards and drift checks run.
const MONITORING_TICK: Duration = Duration::from_secs(1);

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
    pub blobs: BlobStore,
    pub queue: JobQueue,
    pub serving: Serving,
    pub monitoring: Monitoring,
    /// Where changes to jobs, workers, deployments and alerts are announced (the event
    /// stream's source); the queue and serving publish through handles to it.
    pub events: Arc<EventBus>,
    /// The connections run searches use, apart from everything else.
    pub searches: SearchPool,
    /// Turns true when the server begins to shut down.
    pub shutdown: watch::Receiver<bool>,
    /// This replica's standing as the one that runs the once-per-tick loops (see `cluster`).
    pub leadership: Leadership,
}

/// The work a running server does besides answering requests: the metric writer (already
/// running, since handlers queue to it) and the loops [`BackgroundTasks::start`] spawns. It
/// also holds the shutdown flag's sender, so the state's `shutdown` stays false while it lives.
#[derive(Debug)]
pub struct BackgroundTasks {
    shutdown: watch::Sender<bool>,
    log_writer: JoinHandle<()>,
    reaper: Option<JoinHandle<()>>,
    /// The leadership's renewal loop, which releases the role when it ends.
    leadership: Option<JoinHandle<()>>,
}

impl AppState {
    /// Wires every service over `db` (connected and migrated) as `config` says. Starts only
    /// the metric writer; the loops wait for [`BackgroundTasks::start`], so a test can drive
    /// the router without them.
    pub fn build(
        config: Config,
        db: DatabaseConnection,
    ) -> Result<(Self, BackgroundTasks), sea_orm::DbErr> {
        let tokens = TokenService::new(db.clone());
        let (log_writer, writer_task) = LogWriter::spawn(db.clone());
        let events = Arc::new(EventBus::new());
        let queue = JobQueue::new(
            Duration::from_secs(config.job_lease_secs),
            Arc::clone(&events),
        );
        let blobs = BlobStore::open(
            config.artifacts_dir(),
            &config.artifacts,
            config.limits.max_artifact_bytes,
        )
        .map_err(|err| sea_orm::DbErr::Custom(format!("artifacts: {err}")))?;
        let serving = Serving::new(
            crate::serving::source::Source::Database {
                db: db.clone(),
                store: blobs.clone(),
            },
            BatchPolicy {
                max_rows: config.serving.batch_max_rows,
                max_wait: Duration::from_micros(config.serving.batch_max_wait_us),
            },
            config.serving.predict_max_instances,
            Arc::clone(&events),
            Monitor::new(config.serving.monitoring),
        );
        let monitoring = Monitoring::new(db.clone(), blobs.clone(), serving.clone());
        let searches = SearchPool::open(&config.database_url(), crate::tracking::search::DEADLINE)?;
        let sessions = Sessions::new(
            db.clone(),
            tokens.clone(),
            Duration::from_secs(config.auth.session_lifetime_secs),
        );
        let rate_limits = Arc::new(RateLimits::new(&config));
        let (shutdown_tx, shutdown) = watch::channel(false);
        let leadership = Leadership::new(db.clone(), MAINTENANCE, crate::cluster::new_replica_id());
        let state = Self {
            db,
            config: Arc::new(config),
            tokens,
            sessions,
            rate_limits,
            log_writer,
            blobs,
            queue,
            serving,
            monitoring,
            events,
            searches,
            shutdown,
            leadership,
        };
        let tasks = BackgroundTasks {
            shutdown: shutdown_tx,
            log_writer: writer_task,
            reaper: None,
            leadership: None,
        };
        Ok((state, tasks))
    }
}

impl BackgroundTasks {
    /// Starts the loops: the lease reaper, artifact collection, the batcher's upkeep, the SLO
    /// guards and drift checks (when monitoring is on) and the schedules. All but the reaper
    /// end when the shutdown flag turns; the reaper is stopped by [`Self::finish`].
    ///
    /// With several replicas on one database, the reaper, collection, the guards and the
    /// schedules act only on the replica that holds the `maintenance` leadership (taken and
    /// renewed here), and live events are relayed between the replicas (see `cluster`).
    pub fn start(&mut self, state: &AppState) {
        let signalled = || self.shutdown.subscribe();
        let leader = &state.leadership;
        self.leadership = Some(leader.spawn(signalled()));
        crate::cluster::relay::spawn(
            &state.db,
            leader.replica(),
            crate::cluster::relay::Local {
                events: Arc::clone(&state.events),
                queue: state.queue.clone(),
                serving: state.serving.clone(),
            },
            signalled(),
        );
        self.reaper = Some(crate::queue::leasing::spawn_reaper(
            state.db.clone(),
            state.queue.clone(),
            leader.clone(),
        ));
        crate::gc::spawn(
            state.db.clone(),
            state.blobs.clone(),
            leader.clone(),
            signalled(),
        );
        state
            .serving
            .spawn_background(Duration::from_secs(1), signalled());
        if state.config.serving.monitoring {
            state.monitoring.spawn(
                state.queue.clone(),
                MONITORING_TICK,
                leader.clone(),
                signalled(),
            );
        }
        crate::schedules::spawn(
            state.db.clone(),
            state.queue.clone(),
            SCHEDULE_TICK,
            chrono::Duration::seconds(state.config.schedule_misfire_grace_secs as i64),
            leader.clone(),
            signalled(),
        );
    }

    /// A handle that turns the shutdown flag: long polls, event streams and the loops end.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }

    /// Stops the reaper, hands the leadership over, and lets the metric writer drain what was
    /// queued, for at most `grace` each. Call it once the router (and with it every writer
    /// handle) is gone.
    pub async fn finish(self, grace: Duration) {
        let _ = self.shutdown.send(true);
        if let Some(reaper) = self.reaper {
            reaper.abort();
        }
        if let Some(leadership) = self.leadership
            && tokio::time::timeout(grace, leadership).await.is_err()
        {
            tracing::warn!("the leadership was not released in time; it expires on its own");
        }
        if tokio::time::timeout(grace, self.log_writer).await.is_err() {
            tracing::warn!("the metric writer did not finish in time");
        }
    }
}
