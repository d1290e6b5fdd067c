//! Drift over time: the guard's judgement of each feature's PSI kept per deployment and hour
//! (the last one in the hour wins), and read back as a grid of features by hours for the
//! dashboard's heatmap. The live rows PSI is measured on stay in memory; these outlive them.

use super::{Monitoring, RETENTION_MILLIS};
use crate::entity::operations::drift_hour;
use crate::error::{ServiceError, ServiceResult};
use crate::serving::deployments::find_existing;
use crate::time::{from_millis, now_millis};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use slipway_api::{DriftHours, DriftReport, FeatureHours};
use std::collections::HashMap;

const HOUR_MILLIS: i64 = 3_600_000;

/// How often one deployment's judgement is written while its status holds: the guard judges
/// every second, and an hour's cell barely moves within a minute.
const EVERY_MILLIS: i64 = 60_000;

/// The longest range asked for: what the retention keeps.
pub const MAX_HOURS: u32 = (RETENTION_MILLIS / HOUR_MILLIS) as u32;

/// Rows per insert, well under every backend's limit of bound parameters.
const CHUNK: usize = 500;

impl Monitoring {
    /// Keeps a judged report as the current hour's drift of the deployment, at most once a
    /// minute unless its status changed; hours past the retention are dropped on the way.
    pub(super) async fn record_drift_hour(
        &self,
        deployment_id: i64,
        report: &DriftReport,
    ) -> ServiceResult<()> {
        let now = now_millis();
        {
            let mut written = self
                .drift_written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // A changed status is written at once: the hour's cell shows an alert when it is
            // raised, not a minute later.
            if written
                .get(&deployment_id)
                .is_some_and(|(at, status)| now - at < EVERY_MILLIS && *status == report.status)
            {
                return Ok(());
            }
            written.insert(deployment_id, (now, report.status.clone()));
        }
        let hour = now - now.rem_euclid(HOUR_MILLIS);
        let rows: Vec<drift_hour::ActiveModel> = report
            .features
            .iter()
            .filter(|feature| feature.psi.is_finite())
            .map(|feature| drift_hour::ActiveModel {
                deployment_id: Set(deployment_id),
                hour: Set(hour),
                feature: Set(feature.feature.clone()),
                version: Set(report.version as i32),
                psi: Set(feature.psi),
                rows: Set(report.rows as i64),
                ..Default::default()
            })
            .collect();
        for chunk in rows.chunks(CHUNK) {
            drift_hour::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([
                        drift_hour::Column::DeploymentId,
                        drift_hour::Column::Hour,
                        drift_hour::Column::Feature,
                    ])
                    .update_columns([
                        drift_hour::Column::Version,
                        drift_hour::Column::Psi,
                        drift_hour::Column::Rows,
                    ])
                    .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await?;
        }
        drift_hour::Entity::delete_many()
            .filter(drift_hour::Column::Hour.lt(now - RETENTION_MILLIS))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The deployment's drift per feature over the last `hours` hours (the current one
    /// included), the highest PSI first.
    pub async fn drift_hours(&self, name: &str, hours: u32) -> ServiceResult<DriftHours> {
        if !(1..=MAX_HOURS).contains(&hours) {
            return Err(ServiceError::invalid(format!(
                "hours: expected 1 to {MAX_HOURS} (the hours drift is kept), got {hours}"
            )));
        }
        let deployment = find_existing(&self.db, name).await?;
        let now = now_millis();
        let last = now - now.rem_euclid(HOUR_MILLIS);
        let first = last - i64::from(hours - 1) * HOUR_MILLIS;
        let rows = drift_hour::Entity::find()
            .filter(drift_hour::Column::DeploymentId.eq(deployment.id))
            .filter(drift_hour::Column::Hour.gte(first))
            .order_by_asc(drift_hour::Column::Hour)
            .all(&self.db)
            .await?;
        Ok(grid(name, first, hours, rows))
    }
}

/// Lays judgements out as features by hours from `first`.
fn grid(name: &str, first: i64, hours: u32, rows: Vec<drift_hour::Model>) -> DriftHours {
    let mut features: Vec<FeatureHours> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let Ok(slot) = usize::try_from((row.hour - first) / HOUR_MILLIS) else {
            continue;
        };
        if slot >= hours as usize {
            continue;
        }
        let at = *index.entry(row.feature.clone()).or_insert_with(|| {
            features.push(FeatureHours {
                feature: row.feature.clone(),
                psi: vec![None; hours as usize],
            });
            features.len() - 1
        });
        features[at].psi[slot] = Some(row.psi);
    }
    let highest = |feature: &FeatureHours| {
        feature
            .psi
            .iter()
            .flatten()
            .fold(0.0, |a: f64, b| a.max(*b))
    };
    features.sort_by(|a, b| {
        highest(b)
            .total_cmp(&highest(a))
            .then(a.feature.cmp(&b.feature))
    });
    DriftHours {
        deployment: name.to_owned(),
        hours: (0..hours)
            .map(|slot| from_millis(first + i64::from(slot) * HOUR_MILLIS))
            .collect(),
        features,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(hour: i64, feature: &str, psi: f64) -> drift_hour::Model {
        drift_hour::Model {
            id: 0,
            deployment_id: 1,
            hour,
            feature: feature.into(),
            version: 1,
            psi,
            rows: 500,
        }
    }

    #[test]
    fn judgements_land_in_their_hour_and_the_most_drifted_feature_leads() {
        let first = 10 * HOUR_MILLIS;
        let rows = vec![
            judged(first, "a", 0.02),
            judged(first, "b", 0.01),
            judged(first + 2 * HOUR_MILLIS, "b", 0.7),
            // Outside the range: left out.
            judged(first + 3 * HOUR_MILLIS, "a", 9.0),
            judged(first - HOUR_MILLIS, "a", 9.0),
        ];
        let grid = grid("digits", first, 3, rows);
        assert_eq!(grid.hours.len(), 3);
        assert_eq!(grid.hours[1], from_millis(first + HOUR_MILLIS));
        let names: Vec<&str> = grid.features.iter().map(|f| f.feature.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(grid.features[0].psi, [Some(0.01), None, Some(0.7)]);
        assert_eq!(grid.features[1].psi, [Some(0.02), None, None]);
    }
}
