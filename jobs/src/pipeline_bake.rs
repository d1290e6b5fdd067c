//! The `promote` step of a pipeline: bake the canary, then promote it. During the bake the
//! deployment and its open alerts are read every second, so a canary rolled back (by its
//! guard or by hand) ends the pipeline at once rather than when the bake would have ended;
//! the progress message says what it waits for and until when.

use crate::handlers::Progress;
use crate::pipeline_job::{Stop, failed};
use slipway_api::{Alert, ChangeRequest, Client, Deployment, DeploymentRevision};
use std::time::Duration;

/// How often the bake looks at the deployment and its alerts.
const POLL: Duration = Duration::from_secs(1);

/// Where our version stands in the deployment.
#[derive(Debug, PartialEq, Eq)]
enum Standing {
    /// Still the canary: bake on.
    Canary,
    /// Already the primary (promoted by hand): nothing left to do.
    Primary,
    /// Neither: it was rolled back or replaced.
    Gone,
}

fn standing(deployment: &Deployment, version: u32) -> Standing {
    match &deployment.spec.canary {
        Some(canary) if canary.version == version => Standing::Canary,
        _ if deployment.spec.primary == version => Standing::Primary,
        _ => Standing::Gone,
    }
}

/// `open alerts: none` or `open alerts: 2 (error_rate, drift)`.
fn alerts_shown(alerts: &[Alert]) -> String {
    if alerts.is_empty() {
        return "open alerts: none".to_owned();
    }
    let kinds: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
    format!("open alerts: {} ({})", alerts.len(), kinds.join(", "))
}

/// Why canary `version` is gone, from the newest revision that took it out (newest first).
fn gone_reason(version: u32, revisions: &[DeploymentRevision]) -> String {
    let taken_out = revisions.iter().find(|revision| {
        revision
            .previous
            .as_ref()
            .and_then(|spec| spec.canary.as_ref())
            .is_some_and(|canary| canary.version == version)
            && revision
                .spec
                .canary
                .as_ref()
                .is_none_or(|canary| canary.version != version)
    });
    let Some(revision) = taken_out else {
        return format!("canary v{version} was rolled back during its bake");
    };
    let why = revision
        .reason
        .as_deref()
        .map(|reason| format!(": {reason}"))
        .unwrap_or_default();
    let what = if revision.action == "rollback" {
        "rolled back"
    } else {
        "replaced"
    };
    format!(
        "canary v{version} was {what} during its bake (revision {} by {}{why})",
        revision.revision, revision.actor
    )
}

/// Bakes canary `version` of `deployment` for `bake`, then promotes it when it is still the
/// canary and no alert is open.
pub(crate) async fn bake_and_promote(
    client: &Client,
    deployment: &str,
    version: u32,
    bake: Duration,
    progress: &Progress,
) -> Result<String, Stop> {
    let until = chrono::Utc::now()
        + chrono::Duration::from_std(bake).unwrap_or_else(|_| chrono::Duration::days(7));
    let deadline = tokio::time::Instant::now() + bake;
    let (current, alerts) = loop {
        if progress.cancelled() {
            return Err(Stop::Cancelled);
        }
        let current = client
            .get_deployment(deployment)
            .await
            .map_err(failed("cannot read the deployment"))?;
        match standing(&current, version) {
            Standing::Canary => {}
            Standing::Primary => return Ok(format!("v{version} is already the primary")),
            Standing::Gone => {
                let revisions = client
                    .deployment_revisions(deployment)
                    .await
                    .unwrap_or_default();
                return Err(Stop::DidNotShip(gone_reason(version, &revisions)));
            }
        }
        let alerts = client
            .alerts(Some(deployment), true)
            .await
            .map_err(failed("cannot read alerts"))?;
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break (current, alerts);
        }
        progress.set_message(format!(
            "baking canary v{version} on {deployment} until {} UTC; {}",
            until.format("%H:%M:%S"),
            alerts_shown(&alerts)
        ));
        // Cancellation is looked at every 100 ms; the deployment every second.
        let next = deadline.min(now + POLL);
        while tokio::time::Instant::now() < next && !progress.cancelled() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    if let Some(alert) = alerts.first() {
        return Err(Stop::DidNotShip(format!(
            "canary v{version} was not promoted: {} at the end of its bake: {}",
            alerts_shown(&alerts),
            alert.message
        )));
    }
    progress.set_message(format!("promoting canary v{version} on {deployment}"));
    let request = ChangeRequest {
        to_revision: None,
        expected_revision: Some(current.revision),
    };
    let promoted = client
        .promote(
            deployment,
            &request,
            Some("the canary baked with its guards green"),
        )
        .await
        .map_err(failed("cannot promote"))?;
    Ok(format!(
        "{deployment} revision {}: v{version} is the primary",
        promoted.revision
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_api::{Canary, DeploymentSpec};

    fn spec(primary: u32, canary: Option<u32>) -> DeploymentSpec {
        DeploymentSpec {
            model: "digits".into(),
            primary,
            canary: canary.map(|version| Canary {
                version,
                percent: 20.0,
            }),
            shadow: None,
        }
    }

    fn revision(
        number: u32,
        action: &str,
        before: DeploymentSpec,
        after: DeploymentSpec,
    ) -> DeploymentRevision {
        DeploymentRevision {
            revision: number,
            action: action.into(),
            spec: after,
            previous: Some(before),
            rolled_back_to: None,
            actor: "slo-guard".into(),
            reason: Some("error rate 0.31 above 0.05".into()),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_canary_taken_out_is_named_with_who_and_why() {
        let revisions = vec![
            revision(5, "deploy", spec(1, None), spec(1, Some(4))),
            revision(4, "rollback", spec(1, Some(3)), spec(1, None)),
            revision(3, "deploy", spec(1, None), spec(1, Some(3))),
        ];
        assert_eq!(
            gone_reason(3, &revisions),
            "canary v3 was rolled back during its bake (revision 4 by slo-guard: error rate 0.31 above 0.05)"
        );
        let replaced = vec![revision(4, "deploy", spec(1, Some(3)), spec(1, Some(4)))];
        assert!(gone_reason(3, &replaced).starts_with("canary v3 was replaced during its bake"));
        assert_eq!(
            gone_reason(3, &[]),
            "canary v3 was rolled back during its bake"
        );
    }

    #[test]
    fn open_alerts_are_counted_by_kind() {
        assert_eq!(alerts_shown(&[]), "open alerts: none");
        let alert = |kind: &str| Alert {
            id: 1,
            deployment: "digits".into(),
            kind: kind.into(),
            severity: "alert".into(),
            message: "m".into(),
            details: serde_json::Value::Null,
            created_at: chrono::Utc::now(),
            acknowledged_by: None,
            acknowledged_at: None,
        };
        assert_eq!(
            alerts_shown(&[alert("error_rate"), alert("drift")]),
            "open alerts: 2 (error_rate, drift)"
        );
    }
}
