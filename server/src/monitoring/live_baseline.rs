//! Drift baselines gathered from live rows. A version registered without training data (an
//! ONNX import given only a signature, a version registered through the MLflow API) has
//! nothing to compare its inputs with, so its first `baseline_rows` live rows (the SLO
//! policy's) become its baseline: stored per version in the database (it outlives a restart
//! and every replica adds to the same one), then turned into the same per-feature statistics
//! and class counts a dataset gives, so drift is judged exactly as for a dataset baseline.

use super::{Baseline, LabelBaseline};
use crate::entity::registry::live_baseline;
use crate::error::{ServiceError, ServiceResult};
use crate::monitoring::live::Monitor;
use crate::time::now_millis;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use slipway_api::LiveBaseline;
use slipway_ml::stats::FeatureStats;
use std::collections::HashMap;

/// Per deployment and version, the `seq` of the last live row already taken: each row counts
/// once. In memory: after a restart the rows kept in memory are all new ones.
#[derive(Debug, Default)]
pub(super) struct Cursors(tokio::sync::Mutex<HashMap<(String, u32), u64>>);

/// What the version's model reads and answers, to build the baseline with.
pub(super) struct Shape<'a> {
    pub features: &'a [String],
    pub labels: &'a [String],
    pub regression: bool,
}

/// Where a version's live baseline stands.
pub(super) enum Gathered {
    /// Still gathering.
    Collecting(LiveBaseline),
    /// Complete: the baseline drift is judged against.
    Complete(Baseline),
}

fn progress(row: &live_baseline::Model) -> LiveBaseline {
    LiveBaseline {
        rows: row.rows.unsigned_abs(),
        target: row.target.unsigned_abs(),
        complete: row.completed_at.is_some(),
    }
}

impl Cursors {
    /// Adds the deployment's live rows not taken yet to the version's baseline (creating it,
    /// `target` rows long, on the first call) until it is complete; answers where it stands.
    pub async fn gather(
        &self,
        db: &DatabaseConnection,
        monitor: &Monitor,
        (name, version, model_version_id): (&str, u32, i64),
        target: usize,
        shape: Shape<'_>,
    ) -> ServiceResult<Gathered> {
        // One gatherer at a time, so that two drift requests never take the same rows twice.
        let mut cursors = self.0.lock().await;
        let existing = live_baseline::Entity::find()
            .filter(live_baseline::Column::ModelVersionId.eq(model_version_id))
            .one(db)
            .await?;
        if let Some(row) = existing.as_ref().filter(|row| row.completed_at.is_some()) {
            return build(row.clone(), shape).await.map(Gathered::Complete);
        }
        let mut values: Vec<Vec<f64>> = match &existing {
            Some(row) => serde_json::from_str(&row.feature_values)?,
            None => Vec::new(),
        };
        let mut predicted: Vec<f64> = match &existing {
            Some(row) => serde_json::from_str(&row.predicted)?,
            None => Vec::new(),
        };
        let key = (name.to_owned(), version);
        let after = cursors.get(&key).copied().unwrap_or(0);
        let wanted = target.saturating_sub(values.len());
        let (fresh, last) = monitor.with(name, |stats| {
            if stats.input_version != version {
                return (Vec::new(), after);
            }
            let fresh: Vec<(Vec<f64>, f64)> = stats
                .inputs
                .iter()
                .filter(|row| row.seq > after)
                .take(wanted)
                .map(|row| (row.values.clone(), row.predicted.unwrap_or(f64::NAN)))
                .collect();
            (fresh, stats.last_seq.max(after))
        });
        cursors.insert(key, last);
        if let (true, Some(row)) = (fresh.is_empty(), &existing) {
            return Ok(Gathered::Collecting(progress(row)));
        }
        for (row, prediction) in fresh {
            values.push(row);
            predicted.push(prediction);
        }
        let complete = values.len() >= target;
        let now = now_millis();
        let fill = |active: &mut live_baseline::ActiveModel| -> ServiceResult<()> {
            active.target = Set(target as i64);
            active.rows = Set(values.len() as i64);
            active.feature_values = Set(serde_json::to_string(&values)?);
            active.predicted = Set(serde_json::to_string(&predicted)?);
            active.completed_at = Set(complete.then_some(now));
            active.updated_at = Set(now);
            Ok(())
        };
        let row = match existing {
            Some(row) => {
                let mut active: live_baseline::ActiveModel = row.into();
                fill(&mut active)?;
                active.update(db).await?
            }
            None => {
                let mut active = live_baseline::ActiveModel {
                    model_version_id: Set(model_version_id),
                    ..Default::default()
                };
                fill(&mut active)?;
                active.insert(db).await?
            }
        };
        if complete {
            tracing::info!(deployment = %name, version, rows = row.rows, "the live drift baseline is complete");
            return build(row, shape).await.map(Gathered::Complete);
        }
        Ok(Gathered::Collecting(progress(&row)))
    }
}

/// The baseline from the stored rows: per-feature statistics as a dataset's, and the class
/// counts (or the predicted values' statistics) as its labels'.
async fn build(row: live_baseline::Model, shape: Shape<'_>) -> ServiceResult<Baseline> {
    let features = shape.features.to_vec();
    let classes = shape.labels.len();
    let regression = shape.regression;
    tokio::task::spawn_blocking(move || -> ServiceResult<Baseline> {
        let values: Vec<Vec<f64>> = serde_json::from_str(&row.feature_values)?;
        let predicted: Vec<f64> = serde_json::from_str(&row.predicted)?;
        let stats = features
            .iter()
            .enumerate()
            .map(|(column, feature)| {
                let column: Vec<f64> = values
                    .iter()
                    .filter_map(|row| row.get(column).copied())
                    .filter(|value| value.is_finite())
                    .collect();
                Some(FeatureStats::from_values(feature, &column))
            })
            .collect();
        let known = predicted.iter().copied().filter(|value| value.is_finite());
        let labels = if regression {
            LabelBaseline::Values(FeatureStats::from_values(
                "prediction",
                &known.collect::<Vec<_>>(),
            ))
        } else {
            let mut counts = vec![0usize; classes];
            for index in known {
                if let Some(count) = counts.get_mut(index as usize) {
                    *count += 1;
                }
            }
            LabelBaseline::Classes(counts)
        };
        Ok(Baseline {
            features: stats,
            columns: features.iter().map(|_| None).collect(),
            labels: Some(labels),
            live: Some(progress(&row)),
        })
    })
    .await
    .map_err(|err| ServiceError::internal(format!("live baseline stopped: {err}")))?
}
