//! Serving replicas' reports on the server: any server replica takes a report (checked
//! against its bounds) and stores it in `replica_reports`; the replica that holds the
//! maintenance leadership, which runs the SLO guards, merges the stored reports into its live
//! metrics every tick and deletes them. So a serving replica's predictions count in `/metrics`,
//! the live metrics, the per-minute history, drift and the guards exactly as if that server
//! replica had answered them, whichever server replica the report reached. On one server
//! (SQLite) that replica is always the leader.
//!
//! A report sent again after its answer was lost is merged once: the leader remembers the
//! highest sequence merged per serving replica (whose reports are sent one at a time, in
//! order).

use super::Monitoring;
use super::outbox::{bucket_of, row_of};
use crate::entity::cluster::replica_report;
use crate::error::{ServiceError, ServiceResult};
use crate::serving::shadow::Pair;
use crate::time::now_millis;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use slipway_api::{ReplicaReport, ReportReceived};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Reports merged per tick at most (a backlog after an outage drains over a few ticks).
const MERGE_PER_TICK: u64 = 500;
/// How long a serving replica's last sequence is remembered after its last report.
const FORGET_REPLICA_AFTER: Duration = Duration::from_secs(3600);

/// The highest sequence merged per serving replica, and when.
pub(crate) type Merged = Mutex<HashMap<String, (u64, Instant)>>;

impl Monitoring {
    /// Takes a serving replica's report: checked, then stored for the leader to merge.
    pub async fn receive_report(&self, report: ReplicaReport) -> ServiceResult<ReportReceived> {
        report.validate().map_err(ServiceError::invalid)?;
        let received = ReportReceived {
            buckets: report.buckets.len(),
            rows: report.rows.len(),
            shadows: report.shadows.len(),
        };
        // With monitoring off nothing would ever merge it.
        if report.is_empty() || !self.serving.monitor().enabled() {
            return Ok(received);
        }
        let row = replica_report::ActiveModel {
            replica: Set(report.replica.clone()),
            sequence: Set(i64::try_from(report.sequence).unwrap_or(i64::MAX)),
            body: Set(serde_json::to_string(&report)?),
            received_at: Set(now_millis()),
            ..Default::default()
        };
        replica_report::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await?;
        Ok(received)
    }

    /// Merges the stored reports into this replica's live metrics and deletes them (the
    /// leader's work, every tick); returns how many were merged.
    pub async fn merge_reports(&self) -> ServiceResult<usize> {
        // Most ticks find none: a plain read, no write transaction.
        let rows = replica_report::Entity::find()
            .order_by_asc(replica_report::Column::Id)
            .limit(MERGE_PER_TICK)
            .all(&self.db)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        // A server that has just started merges nothing until its deployments are loaded:
        // counts of a deployment it does not serve yet would be dropped.
        if self.serving.readiness().await?.is_err() {
            return Ok(0);
        }
        // By id, not up to the last one: on PostgreSQL a lower id may commit after a higher.
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        replica_report::Entity::delete_many()
            .filter(replica_report::Column::Id.is_in(ids))
            .exec(&self.db)
            .await?;
        // Merged only once deleted, so that none is merged twice.
        let mut merged = 0;
        for row in rows {
            match serde_json::from_str::<ReplicaReport>(&row.body) {
                Ok(report) => {
                    if self.first_time(&report) {
                        self.merge(report);
                        merged += 1;
                    }
                }
                Err(err) => {
                    tracing::warn!(id = row.id, error = %err, "an unreadable replica report");
                }
            }
        }
        Ok(merged)
    }

    /// Whether `report` was not merged yet, remembering that it is now.
    fn first_time(&self, report: &ReplicaReport) -> bool {
        let mut seen = self
            .merged_reports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        seen.retain(|_, (_, at)| now.duration_since(*at) < FORGET_REPLICA_AFTER);
        match seen.get_mut(&report.replica) {
            Some((highest, _)) if *highest >= report.sequence => false,
            Some(entry) => {
                *entry = (report.sequence, now);
                true
            }
            None => {
                seen.insert(report.replica.clone(), (report.sequence, now));
                true
            }
        }
    }

    /// Adds one report's counts, rows and shadow comparisons to what this server measured.
    /// Deployments this server does not serve (deleted meanwhile) are skipped.
    fn merge(&self, report: ReplicaReport) {
        let monitor = self.serving.monitor();
        for bucket in &report.buckets {
            let Some(live) = self.serving.live(&bucket.deployment) else {
                continue;
            };
            monitor.merge_second(
                (&bucket.deployment, live.deployment_id),
                bucket.version,
                bucket.second,
                &bucket_of(bucket),
            );
        }
        let (now_second, now) = (super::live::now_second(), Instant::now());
        let mut rows: HashMap<(String, u32), Vec<_>> = HashMap::new();
        for row in report.rows {
            // Rows of another primary than this server's (a replica still catching up with
            // a change) would read other features.
            let primary = self
                .serving
                .live(&row.deployment)
                .map(|l| l.primary.version);
            if primary == Some(row.version) {
                rows.entry((row.deployment.clone(), row.version))
                    .or_default()
                    .push(row_of(row, now_second, now));
            }
        }
        for ((name, version), rows) in rows {
            monitor.merge_rows(&name, version, rows);
        }
        for shadow in report.shadows {
            let Some(live) = self.serving.live(&shadow.deployment) else {
                continue;
            };
            let pair = Pair {
                deployment_id: live.deployment_id,
                revision: shadow.revision,
                primary_version: shadow.primary_version,
                shadow_version: shadow.shadow_version,
            };
            self.serving
                .add_shadow_counts(pair, shadow.requests, shadow.agreements, shadow.errors);
        }
    }
}
