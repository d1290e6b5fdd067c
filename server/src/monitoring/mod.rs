//! Monitoring of live models: per-version traffic metrics (live, and per minute in the
//! database with bounded retention), drift of live inputs and predictions against the training
//! baseline (and per feature and hour, for a view over time), SLO policies with guards that roll back a breaching canary, alerts, and the
//! Prometheus exposition. Serving replicas report what they measured (`outbox` on their side,
//! `reports` on the server's), and it counts here as if this server had answered.

pub mod alerts;
mod columns;
mod drift_hours;
pub mod guard;
pub mod live;
mod live_baseline;
pub mod outbox;
mod predictions;
pub mod prometheus;
mod reports;
pub mod series;

use crate::audit::{self, Change};
use crate::blobs::BlobStore;
use crate::entity::operations::deployment_metric;
use crate::entity::registry::{dataset, deployment};
use crate::error::{ServiceError, ServiceResult};
use crate::registry::{Selector, find_version};
use crate::serving::Serving;
use crate::serving::deployments::find_existing;
use crate::time::{from_millis, now_millis};
use columns::ColumnBaseline;
use live::Bucket;
use live_baseline::{Cursors, Gathered, Shape};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use slipway_api::{
    DeploymentMetrics, DriftDetail, DriftReport, FeatureDrift, LiveBaseline, MinuteMetrics,
    SloPolicy, VersionMetrics,
};
use slipway_ml::drift;
use slipway_ml::stats::FeatureStats;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Per-minute metrics older than this are deleted.
pub(crate) const RETENTION_MILLIS: i64 = 7 * 24 * 3600 * 1000;

/// What drift is measured against: the training data of one version, or its first live rows.
#[derive(Debug)]
struct Baseline {
    /// Per model feature, in the model's order (none when the dataset lacks it).
    features: Vec<Option<FeatureStats>>,
    /// Per model feature, its missing count and categories in the training data's typed
    /// schema (none for datasets uploaded before columns were typed).
    columns: Vec<Option<ColumnBaseline>>,
    /// What the training labels looked like.
    labels: Option<LabelBaseline>,
    /// For a baseline made of the version's first live rows: how many.
    live: Option<LiveBaseline>,
}

/// The training labels: class counts in the model's label order, or the statistics of the
/// values (regression).
#[derive(Debug)]
enum LabelBaseline {
    Classes(Vec<usize>),
    Values(FeatureStats),
}

/// Baselines by deployment and primary version, loaded once.
type Baselines = Mutex<HashMap<(String, u32), Arc<Baseline>>>;

/// The monitoring service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Monitoring {
    db: DatabaseConnection,
    store: BlobStore,
    pub serving: Serving,
    baselines: Arc<Baselines>,
    /// Which live rows each live baseline has taken.
    live_baselines: Arc<Cursors>,
    /// When each deployment's hourly drift was last written, and its status then (see
    /// `drift_hours`).
    drift_written: Arc<Mutex<HashMap<i64, (i64, String)>>>,
    /// The last serving replica report merged, per serving replica (see `reports`).
    merged_reports: Arc<reports::Merged>,
}

/// The drift answer while a version's live baseline is still being gathered.
fn collecting(name: &str, version: u32, progress: LiveBaseline) -> DriftDetail {
    DriftDetail {
        report: DriftReport {
            deployment: name.to_owned(),
            version,
            rows: 0,
            callers: 0,
            features: Vec::new(),
            prediction_psi: None,
            prediction_psi_noise: None,
            predictions: Vec::new(),
            status: "collecting_baseline".to_owned(),
            live_baseline: Some(progress),
        },
        columns: Vec::new(),
    }
}

fn version_metrics(version: u32, variant: &str, bucket: &Bucket, window: u64) -> VersionMetrics {
    let requests = bucket.requests();
    let judged = bucket.judged();
    let errors = bucket.errors();
    VersionMetrics {
        version,
        variant: variant.to_owned(),
        requests,
        errors,
        errors_by_kind: bucket
            .outcomes
            .iter()
            .filter(|(outcome, _)| **outcome != live::Outcome::Ok)
            .map(|(outcome, count)| (outcome.as_str().to_owned(), *count))
            .collect(),
        error_rate: if judged > 0 {
            errors as f64 / judged as f64
        } else {
            0.0
        },
        requests_per_sec: requests as f64 / window.max(1) as f64,
        p50_ms: bucket.latency_quantile_ms(0.5),
        p90_ms: bucket.latency_quantile_ms(0.9),
        p99_ms: bucket.latency_quantile_ms(0.99),
        predictions: bucket.classes.clone(),
    }
}

/// A stored minute's counts, to merge with live ones.
fn stored_bucket(row: &deployment_metric::Model) -> Bucket {
    Bucket {
        outcomes: BTreeMap::from([
            (
                live::Outcome::Ok,
                (row.requests - row.errors).unsigned_abs(),
            ),
            (live::Outcome::Error, row.errors.unsigned_abs()),
        ]),
        latency: serde_json::from_str(&row.latency).unwrap_or_default(),
        latency_sum: 0.0,
        classes: serde_json::from_str(&row.predictions).unwrap_or_default(),
    }
}

impl Monitoring {
    pub fn new(db: DatabaseConnection, store: BlobStore, serving: Serving) -> Self {
        Self {
            db,
            store,
            serving,
            baselines: Arc::default(),
            live_baselines: Arc::default(),
            drift_written: Arc::default(),
            merged_reports: Arc::default(),
        }
    }

    /// The deployment's SLO policy (the defaults unless one was set).
    pub async fn policy(&self, name: &str) -> ServiceResult<SloPolicy> {
        let row = find_existing(&self.db, name).await?;
        Ok(row
            .slo_policy
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default())
    }

    /// Sets the deployment's SLO policy.
    pub async fn set_policy(
        &self,
        actor: &str,
        name: &str,
        policy: &SloPolicy,
        reason: Option<&str>,
    ) -> ServiceResult<SloPolicy> {
        policy.validate().map_err(ServiceError::invalid)?;
        let row = find_existing(&self.db, name).await?;
        let before = row.slo_policy.clone();
        let txn = crate::db::begin_write(&self.db).await?;
        let mut active: deployment::ActiveModel = row.into();
        active.slo_policy = Set(Some(serde_json::to_string(policy)?));
        active.update(&txn).await?;
        audit::record(
            &txn,
            Change {
                actor,
                action: "deployment.slo",
                target_kind: "deployment",
                target_id: name.to_owned(),
                reason,
                details: Some(serde_json::json!({ "before": before, "after": policy })),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(policy.clone())
    }

    /// Live metrics of each version the deployment serves, over its policy's window.
    pub async fn metrics(&self, name: &str) -> ServiceResult<DeploymentMetrics> {
        let policy = self.policy(name).await?;
        let live = self.serving.serving(name).await?;
        let window = policy.window_secs;
        let monitor = self.serving.monitor();
        let mut variants = vec![(live.primary.version, "primary")];
        if let Some((canary, _)) = &live.canary {
            variants.push((canary.version, "canary"));
        }
        let mut versions: Vec<VersionMetrics> = variants
            .iter()
            .map(|(version, variant)| {
                version_metrics(
                    *version,
                    variant,
                    &monitor.window(name, *version, window),
                    window,
                )
            })
            .collect();
        let others: Vec<u32> = monitor.with(name, |stats| stats.versions.keys().copied().collect());
        for version in others
            .into_iter()
            .filter(|v| variants.iter().all(|(s, _)| s != v))
        {
            let bucket = monitor.window(name, version, window);
            if bucket.requests() > 0 {
                versions.push(version_metrics(version, "previous", &bucket, window));
            }
        }
        Ok(DeploymentMetrics {
            deployment: name.to_owned(),
            revision: live.revision,
            window_secs: window,
            versions,
        })
    }

    /// The stored per-minute metrics of the last `minutes` minutes, oldest first.
    pub async fn history(&self, name: &str, minutes: u32) -> ServiceResult<Vec<MinuteMetrics>> {
        let row = find_existing(&self.db, name).await?;
        let since = now_millis() - i64::from(minutes.clamp(1, 7 * 24 * 60)) * 60_000;
        let rows = deployment_metric::Entity::find()
            .filter(deployment_metric::Column::DeploymentId.eq(row.id))
            .filter(deployment_metric::Column::Minute.gte(since))
            .all(&self.db)
            .await?;
        let mut buckets: BTreeMap<(i64, u32), Bucket> = rows
            .iter()
            .map(|row| ((row.minute, row.version.unsigned_abs()), stored_bucket(row)))
            .collect();
        // The minute in progress (and minutes not flushed yet) count too: a chart or sparkline
        // shows traffic as it comes, not once the next minute has begun. A minute written at
        // a shutdown and continued after the restart adds up.
        for (version, minute, bucket) in self.serving.monitor().unwritten_minutes(name) {
            if minute >= since {
                buckets.entry((minute, version)).or_default().merge(&bucket);
            }
        }
        Ok(buckets
            .into_iter()
            .map(|((minute, version), bucket)| MinuteMetrics {
                version,
                minute: from_millis(minute),
                requests: bucket.requests(),
                errors: bucket.errors(),
                p50_ms: bucket.latency_quantile_ms(0.5),
                p99_ms: bucket.latency_quantile_ms(0.99),
                predictions: bucket.classes,
            })
            .collect())
    }

    /// Writes finished minutes (all minutes when `all`, at shutdown) and drops old ones.
    pub async fn flush_minutes(&self, all: bool) -> ServiceResult<()> {
        let minutes = self.serving.monitor().take_minutes(all);
        if minutes.is_empty() {
            return Ok(());
        }
        let txn = crate::db::begin_write(&self.db).await?;
        for (deployment_id, version, minute, bucket) in minutes {
            let existing = deployment_metric::Entity::find()
                .filter(deployment_metric::Column::DeploymentId.eq(deployment_id))
                .filter(deployment_metric::Column::Version.eq(version as i32))
                .filter(deployment_metric::Column::Minute.eq(minute))
                .one(&txn)
                .await?;
            // A minute flushed at shutdown and continued after a restart adds up.
            let mut merged = bucket;
            if let Some(row) = &existing {
                merged.merge(&stored_bucket(row));
            }
            let mut active = match existing {
                Some(row) => row.into(),
                None => deployment_metric::ActiveModel {
                    deployment_id: Set(deployment_id),
                    version: Set(version as i32),
                    minute: Set(minute),
                    ..Default::default()
                },
            };
            active.requests = Set(merged.requests() as i64);
            active.errors = Set(merged.errors() as i64);
            active.latency = Set(serde_json::to_string(&merged.latency)?);
            active.predictions = Set(serde_json::to_string(&merged.classes)?);
            active.save(&txn).await?;
        }
        deployment_metric::Entity::delete_many()
            .filter(deployment_metric::Column::Minute.lt(now_millis() - RETENTION_MILLIS))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The baseline of the deployment's primary version: its training data, or its first
    /// live rows (the progress while they are gathered).
    async fn baseline(
        &self,
        name: &str,
        policy: &SloPolicy,
    ) -> ServiceResult<(u32, Result<Arc<Baseline>, LiveBaseline>)> {
        let live = self.serving.serving(name).await?;
        let version = live.primary.version;
        let key = (name.to_owned(), version);
        if let Some(found) = self.lock_baselines().get(&key) {
            return Ok((version, Ok(Arc::clone(found))));
        }
        let row = find_version(&self.db, &live.spec.model, &Selector::Number(version)).await?;
        let manifest = live.primary.engine.manifest().clone();
        // The same file may be stored under two names with different labels (penguins by
        // species and by body mass): the name the model records picks the right schema.
        let trained_on = manifest
            .dataset
            .get("name")
            .and_then(serde_json::Value::as_str);
        let data = match &row.dataset_digest {
            Some(digest) => {
                let by_digest =
                    || dataset::Entity::find().filter(dataset::Column::Digest.eq(digest.as_str()));
                let named = match trained_on {
                    Some(trained_on) => {
                        by_digest()
                            .filter(dataset::Column::Name.eq(trained_on))
                            .one(&self.db)
                            .await?
                    }
                    None => None,
                };
                match named {
                    Some(found) => Some(found),
                    None => by_digest().one(&self.db).await?,
                }
            }
            None => None,
        };
        let Some(data) = data else {
            // No training data: the version's first live rows are its baseline.
            let shape = Shape {
                features: &manifest.features,
                labels: &manifest.labels,
                regression: manifest.task == "regression",
            };
            let monitor = self.serving.monitor();
            let gathered = self
                .live_baselines
                .gather(
                    &self.db,
                    monitor,
                    (name, version, row.id),
                    policy.baseline_rows,
                    shape,
                )
                .await?;
            return Ok(match gathered {
                Gathered::Collecting(progress) => (version, Err(progress)),
                Gathered::Complete(baseline) => {
                    let baseline = Arc::new(baseline);
                    self.lock_baselines().insert(key, Arc::clone(&baseline));
                    (version, Ok(baseline))
                }
            });
        };
        let stats: Vec<FeatureStats> = serde_json::from_str(&data.statistics)?;
        let features = manifest
            .features
            .iter()
            .map(|feature| stats.iter().find(|s| s.name == *feature).cloned())
            .collect();
        let table = serde_json::from_str::<slipway_ml::dataset::Schema>(&data.schema)
            .ok()
            .and_then(|schema| schema.table);
        let data_rows = u64::try_from(data.row_count).unwrap_or(0);
        let columns = manifest
            .features
            .iter()
            .map(|feature| {
                table
                    .as_ref()
                    .and_then(|table| ColumnBaseline::of(table, feature, data_rows))
            })
            .collect();
        let csv = self.store.read_blob(&data.digest).await?;
        let label = data.label_column.clone();
        let (task, model_labels) = (manifest.task.clone(), manifest.labels.clone());
        let labels = tokio::task::spawn_blocking(move || {
            let regression = task == "regression";
            let kind = if regression {
                slipway_ml::Task::Regression
            } else {
                slipway_ml::Task::Classification
            };
            let parsed = slipway_ml::Dataset::from_csv(&csv, &label, Some(kind)).ok()?;
            if regression {
                return Some(LabelBaseline::Values(FeatureStats::from_values(
                    "prediction",
                    &parsed.labels,
                )));
            }
            let mut counts = vec![0usize; model_labels.len()];
            for value in &parsed.labels {
                let class = &parsed.schema.classes[*value as usize];
                if let Some(index) = model_labels.iter().position(|l| l == class) {
                    counts[index] += 1;
                }
            }
            Some(LabelBaseline::Classes(counts))
        })
        .await
        .map_err(|err| ServiceError::internal(format!("baseline stopped: {err}")))?;
        let baseline = Arc::new(Baseline {
            features,
            columns,
            labels,
            live: None,
        });
        self.lock_baselines().insert(key, Arc::clone(&baseline));
        Ok((version, Ok(baseline)))
    }

    fn lock_baselines(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Arc<Baseline>>> {
        self.baselines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drift of the primary's recent inputs and predictions against its training data.
    pub async fn drift(&self, name: &str) -> ServiceResult<DriftReport> {
        Ok(self.drift_detail(name).await?.report)
    }

    /// [`Monitoring::drift`] with each table column's missing rate and category shares.
    pub async fn drift_detail(&self, name: &str) -> ServiceResult<DriftDetail> {
        let policy = self.policy(name).await?;
        self.drift_under(name, &policy).await
    }

    /// Drift judged under `policy` (for callers that have read it already).
    pub async fn drift_under(&self, name: &str, policy: &SloPolicy) -> ServiceResult<DriftDetail> {
        let policy = policy.clone();
        let (version, baseline) = self.baseline(name, &policy).await?;
        let baseline = match baseline {
            Ok(baseline) => baseline,
            Err(progress) => return Ok(collecting(name, version, progress)),
        };
        let live_baseline = baseline.live.clone();
        let live = self.serving.serving(name).await?;
        let features = live.primary.engine.features().to_vec();
        let labels = live.primary.engine.manifest().labels.clone();
        let monitor = self.serving.monitor();
        let cutoff = policy.drift_window_secs.and_then(|secs| {
            std::time::Instant::now().checked_sub(std::time::Duration::from_secs(secs))
        });
        let recent: Vec<live::LiveRow> = monitor.with(name, |stats| {
            if stats.input_version != version {
                return Vec::new();
            }
            let recent = stats
                .inputs
                .iter()
                .rev()
                .take(policy.drift_window_rows)
                .filter(|row| cutoff.is_none_or(|cutoff| row.at >= cutoff));
            recent.cloned().collect()
        });
        let window = monitor.window(name, version, policy.window_secs.max(300));
        let report = tokio::task::spawn_blocking(move || {
            let mut drifts: Vec<FeatureDrift> = features
                .iter()
                .enumerate()
                .filter_map(|(column, feature)| {
                    let stats = baseline.features.get(column)?.as_ref()?;
                    let values: Vec<f64> = recent
                        .iter()
                        .filter_map(|row| row.values.get(column).copied())
                        // Text and missing cells of table models are not numbers to compare.
                        .filter(|value| value.is_finite())
                        .collect();
                    let psi = drift::psi(stats, &values);
                    let noise = drift::psi_noise(stats.bin_counts.len(), values.len(), stats.count);
                    Some(FeatureDrift {
                        feature: feature.clone(),
                        psi,
                        psi_noise: noise,
                        ks: drift::ks(stats, &values),
                        status: drift::status(
                            drift::excess(psi, noise),
                            policy.psi_warn,
                            policy.psi_alert,
                        )
                        .to_owned(),
                    })
                })
                .collect();
            let mut columns = Vec::new();
            for (column, feature) in features.iter().enumerate() {
                let Some(Some(column_baseline)) = baseline.columns.get(column) else {
                    continue;
                };
                let (entry, categorical) =
                    columns::measure(feature, column, column_baseline, &recent, &policy);
                columns.push(entry);
                drifts.extend(categorical);
            }
            // Most drifted first: by what exceeds the allowance, then by PSI.
            drifts.sort_by(|a, b| {
                let excess = |d: &FeatureDrift| drift::excess(d.psi, d.psi_noise);
                excess(b)
                    .total_cmp(&excess(a))
                    .then(b.psi.total_cmp(&a.psi))
            });
            let predicted: Vec<f64> = recent.iter().filter_map(|row| row.predicted).collect();
            let (prediction, predictions) = match &baseline.labels {
                Some(labels_baseline) => {
                    predictions::compare(labels_baseline, &labels, &window.classes, &predicted)
                }
                None => (None, Vec::new()),
            };
            let worst = drifts
                .iter()
                .map(|d| drift::excess(d.psi, d.psi_noise))
                .chain(prediction.map(|(psi, noise)| drift::excess(psi, noise)))
                .fold(0.0, f64::max);
            let callers = recent
                .iter()
                .map(|row| &*row.caller)
                .collect::<std::collections::HashSet<&str>>()
                .len();
            let status =
                if recent.len() < policy.min_drift_rows || callers < policy.min_drift_callers {
                    "insufficient_data"
                } else {
                    columns.iter().fold(
                        drift::status(worst, policy.psi_warn, policy.psi_alert),
                        |status, column| columns::worse(status, &column.missing_status),
                    )
                };
            let report = DriftReport {
                deployment: String::new(),
                version,
                rows: recent.len(),
                callers,
                features: drifts,
                prediction_psi: prediction.map(|(psi, _)| psi),
                prediction_psi_noise: prediction.map(|(_, noise)| noise),
                predictions,
                status: status.to_owned(),
                live_baseline,
            };
            DriftDetail { report, columns }
        })
        .await
        .map_err(|err| ServiceError::internal(format!("drift stopped: {err}")))?;
        Ok(DriftDetail {
            report: DriftReport {
                deployment: name.to_owned(),
                ..report.report
            },
            columns: report.columns,
        })
    }
}
