//! Serving: what each deployment's current revision serves in this server (its primary,
//! canary and shadow versions, loaded and warm in the model pool), routing between them,
//! and the shadow's record. A change loads and warms the new revision's models first and then
//! swaps one pointer, so requests in flight finish on the old models and none fail. A sync
//! loop follows the database, so a server also picks up changes made elsewhere.

pub mod deployments;
pub mod oip;
mod oip_columns;
mod pool;
pub mod predict;
pub(crate) mod shadow;
pub mod source;
mod switch;
#[cfg(test)]
mod tests;

use crate::error::{ServiceError, ServiceResult};
use crate::events::EventBus;
use crate::monitoring::live::Monitor;
pub use pool::BatchPolicy;
use pool::ModelPool;
pub use pool::Served;
use sea_orm::DatabaseConnection;
use shadow::ShadowRecorder;
use slipway_api::DeploymentSpec;
use source::{Source, VersionRef};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A deployment's current revision, loaded.
#[derive(Debug)]
pub struct Live {
    pub deployment_id: i64,
    pub revision: u32,
    pub spec: DeploymentSpec,
    pub primary: Arc<Served>,
    pub canary: Option<(Arc<Served>, f64)>,
    pub shadow: Option<Arc<Served>>,
    /// The primary of the revision before, when another version: the rows callers sent it are
    /// the contract a new primary is held to.
    pub previous_primary: Option<Arc<Served>>,
    /// Versions (pool keys) this revision and the one before use: kept loaded so a rollback
    /// is fast.
    keep: Vec<String>,
}

impl Live {
    /// The versions this revision serves, with their roles: primary, then canary, then shadow.
    pub fn versions(&self) -> Vec<(&Arc<Served>, &'static str)> {
        std::iter::once((&self.primary, "primary"))
            .chain(self.canary.as_ref().map(|(canary, _)| (canary, "canary")))
            .chain(self.shadow.as_ref().map(|shadow| (shadow, "shadow")))
            .collect()
    }

    /// Version `version` and its role, when this revision serves it.
    pub fn variant(&self, version: u32) -> Option<(&Arc<Served>, &'static str)> {
        self.versions()
            .into_iter()
            .find(|(served, _)| served.version == version)
    }

    /// The served versions for a message: `1 (primary), 2 (canary)`.
    pub fn describe_versions(&self) -> String {
        self.versions()
            .iter()
            .map(|(served, role)| format!("{} ({role})", served.version))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What this server serves; cheap to clone.
#[derive(Debug, Clone)]
pub struct Serving {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: Source,
    pool: ModelPool,
    live: RwLock<HashMap<String, Arc<Live>>>,
    /// Deployments whose current revision could not be loaded, with why.
    failed: RwLock<HashMap<String, (u32, String)>>,
    /// One change at a time per deployment.
    change_locks: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    shadow: ShadowRecorder,
    events: Arc<EventBus>,
    max_instances: usize,
    monitor: Monitor,
    /// Rung when another replica changed a deployment, so the sync runs now instead of at
    /// the next tick.
    sync_wanted: tokio::sync::Notify,
}

impl Serving {
    pub fn new(
        source: Source,
        policy: BatchPolicy,
        max_instances: usize,
        events: Arc<EventBus>,
        monitor: Monitor,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool: ModelPool::new(source.clone(), policy),
                shadow: ShadowRecorder::default(),
                source,
                live: RwLock::default(),
                failed: RwLock::default(),
                change_locks: tokio::sync::Mutex::default(),
                events,
                max_instances,
                monitor,
                sync_wanted: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The loaded current revision of `name`, if this server has it.
    pub fn live(&self, name: &str) -> Option<Arc<Live>> {
        read(&self.inner.live).get(name).cloned()
    }

    /// The live statistics of what this server answers.
    pub fn monitor(&self) -> &Monitor {
        &self.inner.monitor
    }

    /// The deployments this server serves now.
    pub fn deployment_names(&self) -> Vec<String> {
        let mut names: Vec<String> = read(&self.inner.live).keys().cloned().collect();
        names.sort();
        names
    }

    /// Why `name`'s current revision is not being served, if loading it failed.
    pub fn failure(&self, name: &str) -> Option<String> {
        read(&self.inner.failed)
            .get(name)
            .map(|(_, why)| why.clone())
    }

    /// Whether `name` serves `revision` now.
    pub fn is_ready(&self, name: &str, revision: u32) -> bool {
        self.live(name)
            .is_some_and(|live| live.revision == revision)
    }

    /// Takes the change lock of deployment `name`.
    async fn lock_changes(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.inner.change_locks.lock().await;
            Arc::clone(locks.entry(name.to_owned()).or_default())
        };
        lock.lock_owned().await
    }

    /// The database; a serving replica has none and refuses what needs one.
    pub(crate) fn db(&self) -> ServiceResult<&DatabaseConnection> {
        self.inner.source.db()
    }

    async fn version_row(&self, model: &str, version: u32) -> ServiceResult<VersionRef> {
        self.inner.source.version(model, version).await
    }

    /// The loaded version `version` of `model`; a missing one is named by `field`.
    async fn load(
        &self,
        field: &str,
        model: &str,
        version: u32,
    ) -> ServiceResult<(String, Arc<Served>)> {
        let row = self
            .version_row(model, version)
            .await
            .map_err(|err| match err {
                ServiceError::NotFound(message) => {
                    ServiceError::NotFound(format!("{field}: {message}"))
                }
                other => other,
            })?;
        Ok((row.key(), self.inner.pool.get(&row).await?))
    }

    /// Loads and warms what `spec` serves (and keeps `previous`'s models loaded); a version
    /// that does not exist is a `NotFound` naming its field.
    async fn prepare(
        &self,
        deployment_id: i64,
        revision: u32,
        spec: &DeploymentSpec,
        previous: Option<&DeploymentSpec>,
    ) -> ServiceResult<Live> {
        let (primary_id, primary) = self.load("version", &spec.model, spec.primary).await?;
        let mut keep = vec![primary_id];
        let canary = match &spec.canary {
            Some(canary) => {
                let (id, served) = self.load("version", &spec.model, canary.version).await?;
                keep.push(id);
                Some((served, canary.percent))
            }
            None => None,
        };
        let shadow = match spec.shadow {
            Some(version) => {
                let (id, served) = self.load("shadow_version", &spec.model, version).await?;
                keep.push(id);
                Some(served)
            }
            None => None,
        };
        let mut previous_primary = None;
        if let Some(previous) = previous {
            for version in
                std::iter::once(previous.primary).chain(previous.canary.map(|c| c.version))
            {
                if let Ok(row) = self.version_row(&previous.model, version).await {
                    let served = self.inner.pool.get(&row).await?;
                    let replaced_primary = version == previous.primary
                        && (previous.model != spec.model || version != spec.primary);
                    if replaced_primary {
                        previous_primary = Some(served);
                    }
                    keep.push(row.key());
                }
            }
        }
        Ok(Live {
            deployment_id,
            revision,
            spec: spec.clone(),
            primary,
            canary,
            shadow,
            previous_primary,
            keep,
        })
    }

    /// Makes `live` the answer for `name` and unloads models nothing serves any more.
    fn install(&self, name: &str, live: Live) {
        let (id, revision) = (live.deployment_id, live.revision);
        {
            let mut map = write(&self.inner.live);
            map.insert(name.to_owned(), Arc::new(live));
            let keep: Vec<String> = map.values().flat_map(|l| l.keep.iter().cloned()).collect();
            self.inner.pool.retain(&keep);
        }
        write(&self.inner.failed).remove(name);
        self.inner
            .events
            .publish("deployment", id, "revision", Some(&revision.to_string()));
    }

    /// Whether every deployment's current revision has been loaded (or has failed to load,
    /// which waiting cannot mend, and which the deployment reports): until then a restarted
    /// server is not ready, since it would answer 503 to predictions. Err names the first
    /// deployment still loading.
    pub async fn readiness(&self) -> ServiceResult<Result<(), String>> {
        let rows = self.inner.source.heads().await?;
        let pending = rows.iter().find(|row| {
            let revision = row.revision;
            let served = self
                .live(&row.name)
                .is_some_and(|live| live.revision >= revision);
            let failed = read(&self.inner.failed)
                .get(&row.name)
                .is_some_and(|(bad, _)| *bad == revision);
            !served && !failed
        });
        Ok(match pending {
            Some(row) => Err(format!(
                "deployment '{}' revision {} is still loading",
                row.name, row.revision
            )),
            None => Ok(()),
        })
    }

    /// Brings every deployment this server does not serve at its current revision up to
    /// date. Called at start and then every second.
    pub async fn sync(&self) -> ServiceResult<()> {
        let rows = self.inner.source.heads().await?;
        for row in rows {
            let revision = row.revision;
            let stale = self
                .live(&row.name)
                .is_none_or(|live| live.revision < revision);
            let known_bad = read(&self.inner.failed)
                .get(&row.name)
                .is_some_and(|(bad, _)| *bad == revision);
            if !stale || known_bad {
                continue;
            }
            let _guard = self.lock_changes(&row.name).await;
            if self
                .live(&row.name)
                .is_some_and(|live| live.revision >= revision)
            {
                continue;
            }
            let loaded = async {
                let (spec, previous) = self.inner.source.revision_specs(&row).await?;
                self.prepare(row.id, revision, &spec, previous.as_ref())
                    .await
            }
            .await;
            match loaded {
                Ok(live) => self.install(&row.name, live),
                Err(err) => {
                    tracing::warn!(deployment = %row.name, revision, error = %err, "cannot serve this revision");
                    let why = match err {
                        ServiceError::NotFound(message)
                        | ServiceError::InvalidArgument(message) => message,
                        _ => "its models could not be loaded; see the log".to_owned(),
                    };
                    write(&self.inner.failed).insert(row.name.clone(), (revision, why));
                }
            }
        }
        Ok(())
    }

    /// Follows the source until shutdown (every `period`, and at once when another replica
    /// announces a deployment change); also writes the shadow's record.
    pub fn spawn_background(
        &self,
        period: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let serving = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = serving.inner.sync_wanted.notified() => {}
                    _ = shutdown.changed() => break,
                }
                if let Err(err) = serving.sync().await {
                    tracing::warn!(error = %err, "deployment sync failed");
                }
                serving.flush_shadow().await;
            }
            serving.flush_shadow().await;
        });
    }

    /// Writes the shadow's record; a replica, with no database, keeps none.
    async fn flush_shadow(&self) {
        if let Ok(db) = self.db()
            && let Err(err) = self.inner.shadow.flush(db).await
        {
            tracing::warn!(error = %err, "cannot record shadow comparisons");
        }
    }

    /// Adds shadow comparisons a serving replica made (written with the next flush).
    pub fn add_shadow_counts(
        &self,
        pair: shadow::Pair,
        requests: u64,
        agreements: u64,
        errors: u64,
    ) {
        self.inner.shadow.add(pair, requests, agreements, errors);
    }

    /// Takes the shadow comparisons not written yet (a serving replica reports them).
    pub fn take_shadow_counts(&self) -> Vec<(shadow::Pair, u64, u64, u64)> {
        self.inner.shadow.take()
    }

    /// Asks the background loop to sync now: another replica changed a deployment. The tick
    /// stays as the fallback for a missed notice.
    pub fn wake_sync(&self) {
        // A stored permit: a notice that comes while a sync runs starts one more after it.
        self.inner.sync_wanted.notify_one();
    }

    /// The recorded shadow comparisons of deployment `id`.
    pub async fn shadow_comparisons(
        &self,
        deployment_id: i64,
    ) -> ServiceResult<Vec<slipway_api::ShadowComparison>> {
        let db = self.db()?;
        self.inner.shadow.flush(db).await?;
        shadow::list(db, deployment_id).await
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // Values are replaced whole, so a panicked writer cannot leave one half-written.
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
