//! The `deploy` job: the change `slipway deploy` makes, run from a pipeline or a schedule. It
//! acts for the engineer who submitted it, and may name the version by alias.

use crate::handlers::{Outcome, Progress};
use slipway_api::{Client, DeployRequest, DeployResult, DeploySpec};
use std::sync::Arc;

/// Runs one `deploy` attempt; `client` acts for the job's submitter.
pub async fn run(client: &Client, spec: &DeploySpec, progress: &Arc<Progress>) -> Outcome {
    crate::handlers::settle(attempt(client, spec, progress).await, progress)
}

async fn attempt(
    client: &Client,
    spec: &DeploySpec,
    progress: &Progress,
) -> Result<Outcome, String> {
    spec.validate()?;
    let version = match (&spec.alias, &spec.model) {
        (Some(alias), Some(model)) => Some(
            client
                .model_version(model, alias)
                .await
                .map_err(|err| format!("{model}@{alias}: {err}"))?
                .version,
        ),
        _ => spec.version,
    };
    let request = DeployRequest {
        model: spec.model.clone(),
        version,
        canary_percent: spec.canary_percent,
        shadow_version: spec.shadow_version,
        ..DeployRequest::default()
    };
    let deployment = client
        .deploy(&spec.deployment, &request, spec.reason.as_deref())
        .await
        .map_err(|err| format!("deploy {}: {err}", spec.deployment))?;
    progress.log(
        "info",
        format!(
            "{} is at revision {}: {} v{}{}",
            deployment.name,
            deployment.revision,
            deployment.spec.model,
            deployment.spec.primary,
            deployment
                .spec
                .canary
                .map(|c| format!(", canary v{} at {}%", c.version, c.percent))
                .unwrap_or_default()
        ),
    );
    Ok(Outcome::succeeded(&DeployResult {
        deployment: deployment.name,
        revision: deployment.revision,
        spec: deployment.spec,
    }))
}
