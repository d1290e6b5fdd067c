//! The SLO guards: every second, each deployment's variants are judged over the policy's
//! window. A breaching canary is rolled back at once (actor `slo-guard`, the figures as the
//! reason); a breaching primary raises an alert, and rolls back to the previous revision when
//! the policy says so. Drift above the alert threshold raises an alert naming the features.
//! Also writes the per-minute metrics, and (on the leader) merges the serving replicas'
//! reports first.

use super::Monitoring;
use super::alerts::{self, Raise};
use crate::error::ServiceResult;
use crate::queue::JobQueue;
use crate::schedules;
use crate::serving::Live;
use crate::serving::deployments::{self, Requested};
use slipway_api::{ChangeRequest, SloPolicy};
use slipway_ml::drift;
use std::time::Duration;

/// The actor guards act as.
pub const ACTOR: &str = "slo-guard";

/// What breached, in words, or `None`.
fn breach(policy: &SloPolicy, metrics: &super::live::Bucket) -> Option<(String, &'static str)> {
    // Invalid inputs are the caller's mistake: a caller must not be able to roll a version
    // back (or shield it) by sending bad rows, so they are neither errors nor judged.
    let requests = metrics.judged();
    if requests < policy.min_requests {
        return None;
    }
    let error_rate = metrics.errors() as f64 / requests as f64;
    if error_rate > policy.max_error_rate {
        return Some((
            format!(
                "error rate {:.1}% over the last {} s ({} of {} requests) is above the maximum {:.1}%",
                error_rate * 100.0,
                policy.window_secs,
                metrics.errors(),
                requests,
                policy.max_error_rate * 100.0
            ),
            "error_rate",
        ));
    }
    if let (Some(max), Some(p99)) = (policy.max_p99_ms, metrics.latency_quantile_ms(0.99))
        && p99 > max
    {
        return Some((
            format!(
                "p99 latency {p99:.1} ms over the last {} s is above the maximum {max:.1} ms",
                policy.window_secs
            ),
            "latency",
        ));
    }
    None
}

impl Monitoring {
    /// Judges every served deployment once; one deployment's failure does not stop the others.
    pub async fn guard_once(&self, queue: &JobQueue) -> ServiceResult<()> {
        let mut largest_window = 0;
        for name in self.serving.deployment_names() {
            let Some(live) = self.serving.live(&name) else {
                continue;
            };
            let policy = self.policy(&name).await?;
            largest_window = largest_window.max(policy.drift_window_rows);
            if let Err(err) = self.guard_deployment(queue, &name, &live, &policy).await {
                tracing::warn!(deployment = %name, error = %err, "the SLO guard failed for this deployment");
            }
        }
        if largest_window > 0 {
            self.serving.monitor().keep_input_rows(largest_window);
        }
        Ok(())
    }

    /// Judges one deployment: its canary, its primary, its drift.
    async fn guard_deployment(
        &self,
        queue: &JobQueue,
        name: &str,
        live: &Live,
        policy: &SloPolicy,
    ) -> ServiceResult<()> {
        let events = &queue.events;
        let monitor = self.serving.monitor();
        if let Some((canary, _)) = &live.canary {
            let window = monitor.window(name, canary.version, policy.window_secs);
            if let Some((why, kind)) = breach(policy, &window) {
                let reason = format!("canary v{}: {why}", canary.version);
                let request = Requested::RemoveCanary {
                    expected_revision: live.revision,
                };
                deployments::change(&self.serving, ACTOR, name, &request, Some(&reason)).await?;
                monitor.reset_window(name, canary.version);
                alerts::raise(&self.db, events, Raise {
                    deployment_id: live.deployment_id,
                    kind,
                    severity: "alert",
                    message: format!("{name}: {reason}; the canary was rolled back"),
                    details: serde_json::json!({ "version": canary.version, "variant": "canary", "rolled_back": true }),
                })
                .await?;
                return Ok(());
            }
        }
        let window = monitor.window(name, live.primary.version, policy.window_secs);
        // A rollback acts whatever alerts are open; an alert alone is raised once until
        // acknowledged.
        let may_roll_back = policy.rollback_primary && live.revision > 1;
        if let Some((why, kind)) = breach(policy, &window)
            && (may_roll_back || !alerts::is_open(&self.db, live.deployment_id, kind).await?)
        {
            let reason = format!("primary v{}: {why}", live.primary.version);
            let mut rolled_back = false;
            if may_roll_back {
                let request = ChangeRequest {
                    to_revision: None,
                    expected_revision: Some(live.revision),
                };
                deployments::change(
                    &self.serving,
                    ACTOR,
                    name,
                    &Requested::Rollback(request),
                    Some(&reason),
                )
                .await?;
                monitor.reset_window(name, live.primary.version);
                rolled_back = true;
            }
            alerts::raise(&self.db, events, Raise {
                deployment_id: live.deployment_id,
                kind,
                severity: "alert",
                message: format!("{name}: {reason}{}", if rolled_back { "; rolled back to the previous revision" } else { "" }),
                details: serde_json::json!({ "version": live.primary.version, "variant": "primary", "rolled_back": rolled_back }),
            })
            .await?;
        }
        self.guard_drift(queue, name, policy, live.deployment_id)
            .await;
        Ok(())
    }

    /// Raises a drift alert naming the drifting features (once until acknowledged), and fires
    /// the schedules that retrain on drift of this deployment.
    async fn guard_drift(
        &self,
        queue: &JobQueue,
        name: &str,
        policy: &SloPolicy,
        deployment_id: i64,
    ) {
        let events = &queue.events;
        // Most ticks find too few live rows to judge: skip the report (baseline, window,
        // PSI/KS) when even all the rows kept could not be enough.
        let kept = self
            .serving
            .monitor()
            .with(name, |stats| stats.inputs.len());
        if kept < policy.min_drift_rows {
            return;
        }
        let (report, columns) = match self.drift_under(name, policy).await {
            Ok(detail) => (detail.report, detail.columns),
            // No baseline (no recorded training data): nothing to judge.
            Err(_) => return,
        };
        // Too few rows, or rows from too few callers (one caller alone must not raise it), or
        // a live baseline still being gathered.
        if report.status == "insufficient_data" || report.status == "collecting_baseline" {
            return;
        }
        if let Err(err) = self.record_drift_hour(deployment_id, &report).await {
            tracing::warn!(deployment = %name, error = %err, "cannot keep the hour's drift");
        }
        // Judged beyond each PSI's sampling allowance (the report's statuses).
        let drifting: Vec<_> = report
            .features
            .iter()
            .filter(|f| f.status == "alert")
            .collect();
        // Columns whose missing rate rose beyond its allowance by more than the alert share.
        let emptying: Vec<_> = columns
            .iter()
            .filter(|c| c.missing_status == "alert")
            .collect();
        let prediction_excess = report
            .prediction_psi
            .map(|psi| drift::excess(psi, report.prediction_psi_noise.unwrap_or(0.0)));
        let (kind, message) = if !drifting.is_empty() {
            let shown: Vec<String> = drifting
                .iter()
                .take(8)
                .map(|f| format!("{} (PSI {:.2})", f.feature, f.psi))
                .collect();
            let more = drifting.len().saturating_sub(8);
            (
                "drift",
                format!(
                    "{name}: {} feature(s) drifted above PSI {}: {}{}",
                    drifting.len(),
                    policy.psi_alert,
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
            )
        } else if !emptying.is_empty() {
            let shown: Vec<String> = emptying
                .iter()
                .take(8)
                .map(|c| {
                    format!(
                        "{} ({:.0}% missing, {:.0}% in training)",
                        c.feature,
                        100.0 * c.live_missing_rate,
                        100.0 * c.baseline_missing_rate
                    )
                })
                .collect();
            (
                "drift",
                format!(
                    "{name}: the missing rate of {} column(s) rose: {}",
                    emptying.len(),
                    shown.join(", ")
                ),
            )
        } else if prediction_excess.is_some_and(|excess| excess > policy.psi_alert) {
            (
                "prediction_drift",
                format!(
                    "{name}: predicted class shares drifted (PSI {:.2})",
                    report.prediction_psi.unwrap_or(0.0)
                ),
            )
        } else {
            return;
        };
        match alerts::is_open(&self.db, deployment_id, kind).await {
            Ok(false) => {}
            _ => return,
        }
        let details = serde_json::json!({
            "features": drifting.iter().map(|f| serde_json::json!({"feature": f.feature, "psi": f.psi, "ks": f.ks})).collect::<Vec<_>>(),
            "missing": emptying.iter().map(|c| serde_json::json!({"feature": c.feature, "live_missing_rate": c.live_missing_rate, "baseline_missing_rate": c.baseline_missing_rate})).collect::<Vec<_>>(),
            "rows": report.rows,
            "prediction_psi": report.prediction_psi,
        });
        let raised = alerts::raise(
            &self.db,
            events,
            Raise {
                deployment_id,
                kind,
                severity: "alert",
                message,
                details,
            },
        )
        .await;
        if let Err(err) = raised {
            tracing::warn!(error = %err, "cannot raise a drift alert");
            return;
        }
        if let Err(err) = schedules::fire_on_drift(&self.db, queue, name).await {
            tracing::warn!(error = %err, "cannot fire the schedules that retrain on drift");
        }
    }

    /// Runs the guards every `tick` and writes the per-minute metrics, until shutdown.
    pub fn spawn(
        &self,
        queue: JobQueue,
        tick: Duration,
        leader: crate::cluster::leader::Leadership,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let monitoring = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            let mut flushed = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = shutdown.changed() => break,
                }
                // One replica judges (and rolls back) per tick, after merging what the
                // serving replicas reported; every replica still writes the metrics it
                // measured itself.
                if leader.is_leader() {
                    if let Err(err) = monitoring.merge_reports().await {
                        tracing::warn!(error = %err, "cannot merge the serving replicas' reports");
                    }
                    if let Err(err) = monitoring.guard_once(&queue).await {
                        tracing::warn!(error = %err, "the SLO guard failed this round");
                    }
                }
                if flushed.elapsed() >= Duration::from_secs(10) {
                    flushed = tokio::time::Instant::now();
                    if let Err(err) = monitoring.flush_minutes(false).await {
                        tracing::warn!(error = %err, "cannot write the per-minute metrics");
                    }
                }
            }
            if let Err(err) = monitoring.flush_minutes(true).await {
                tracing::warn!(error = %err, "cannot write the per-minute metrics");
            }
        });
    }
}

#[cfg(test)]
mod tests;
