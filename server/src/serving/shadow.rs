//! The shadow's record: how often the shadow version agreed with the primary, per deployment
//! revision. Counted in memory on the request path and added to the database once a second,
//! so mirroring costs no write per request.

use crate::entity::registry::shadow_comparison;
use crate::error::ServiceResult;
use crate::time::now_millis;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use slipway_api::ShadowComparison;
use std::collections::HashMap;
use std::sync::Mutex;

/// Which comparison a count belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pair {
    pub deployment_id: i64,
    pub revision: u32,
    pub primary_version: u32,
    pub shadow_version: u32,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    requests: u64,
    agreements: u64,
    errors: u64,
}

/// Counts not yet written.
#[derive(Debug, Default)]
pub struct ShadowRecorder {
    pending: Mutex<HashMap<Pair, Counts>>,
    /// One flush at a time, so two cannot add the same counts twice.
    flushing: tokio::sync::Mutex<()>,
}

impl ShadowRecorder {
    /// Counts one mirrored request: `agreed` is `None` when the shadow failed.
    pub fn record(&self, pair: Pair, compared: u64, agreed: Option<u64>) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let counts = pending.entry(pair).or_default();
        counts.requests += compared;
        match agreed {
            Some(agreements) => counts.agreements += agreements,
            None => counts.errors += compared,
        }
    }

    /// Adds counts measured elsewhere (a serving replica's).
    pub fn add(&self, pair: Pair, requests: u64, agreements: u64, errors: u64) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let counts = pending.entry(pair).or_default();
        counts.requests += requests;
        counts.agreements += agreements;
        counts.errors += errors;
    }

    /// Takes the pending counts as (pair, requests, agreements, errors).
    pub fn take(&self) -> Vec<(Pair, u64, u64, u64)> {
        std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_iter()
        .map(|(pair, c)| (pair, c.requests, c.agreements, c.errors))
        .collect()
    }

    /// Adds the pending counts to the stored ones.
    pub async fn flush(&self, db: &DatabaseConnection) -> ServiceResult<()> {
        let _one_at_a_time = self.flushing.lock().await;
        let pending: Vec<(Pair, Counts)> = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_iter()
        .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let txn = crate::db::begin_write(db).await?;
        for (pair, counts) in pending {
            let existing = shadow_comparison::Entity::find()
                .filter(shadow_comparison::Column::DeploymentId.eq(pair.deployment_id))
                .filter(shadow_comparison::Column::Revision.eq(pair.revision as i32))
                .filter(shadow_comparison::Column::ShadowVersion.eq(pair.shadow_version as i32))
                .one(&txn)
                .await?;
            match existing {
                Some(row) => {
                    let (requests, agreements, errors) = (row.requests, row.agreements, row.errors);
                    let mut row: shadow_comparison::ActiveModel = row.into();
                    row.requests = Set(requests + counts.requests as i64);
                    row.agreements = Set(agreements + counts.agreements as i64);
                    row.errors = Set(errors + counts.errors as i64);
                    row.updated_at = Set(now_millis());
                    row.update(&txn).await?;
                }
                None => {
                    shadow_comparison::ActiveModel {
                        deployment_id: Set(pair.deployment_id),
                        revision: Set(pair.revision as i32),
                        primary_version: Set(pair.primary_version as i32),
                        shadow_version: Set(pair.shadow_version as i32),
                        requests: Set(counts.requests as i64),
                        agreements: Set(counts.agreements as i64),
                        errors: Set(counts.errors as i64),
                        updated_at: Set(now_millis()),
                        ..Default::default()
                    }
                    .insert(&txn)
                    .await?;
                }
            }
        }
        txn.commit().await?;
        Ok(())
    }
}

/// The stored comparisons of one deployment, newest revision first.
pub async fn list(
    db: &DatabaseConnection,
    deployment_id: i64,
) -> ServiceResult<Vec<ShadowComparison>> {
    Ok(shadow_comparison::Entity::find()
        .filter(shadow_comparison::Column::DeploymentId.eq(deployment_id))
        .order_by_desc(shadow_comparison::Column::Revision)
        .all(db)
        .await?
        .into_iter()
        .map(|row| ShadowComparison {
            revision: row.revision.unsigned_abs(),
            primary_version: row.primary_version.unsigned_abs(),
            shadow_version: row.shadow_version.unsigned_abs(),
            requests: row.requests.unsigned_abs(),
            agreements: row.agreements.unsigned_abs(),
            errors: row.errors.unsigned_abs(),
            agreement: if row.requests > 0 {
                row.agreements as f64 / row.requests as f64
            } else {
                0.0
            },
        })
        .collect())
}
