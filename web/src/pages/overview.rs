//! The overview: every deployment with its live version and health, open alerts, recent jobs,
//! runs and changes.

use super::common::{AlertsTable, ChangesTable, JobsTable, drift_words};
use crate::layout::{Badge, Frame, Section, Table, encode, millis, number, percent, when};
use leptos::prelude::*;
use slipway_api::{Alert, AuditEvent, Deployment, Job, Run, VersionMetrics};

/// One deployment's line on the overview.
#[derive(Debug, Clone)]
pub struct DeploymentHealth {
    pub deployment: Deployment,
    /// The primary version's traffic over the monitoring window.
    pub live: Option<VersionMetrics>,
    /// The drift status (`stable`, `warn`, `alert`, `insufficient_data`), when it could be
    /// computed.
    pub drift: Option<String>,
    pub open_alerts: usize,
}

/// What the overview page shows.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub deployments: Vec<DeploymentHealth>,
    pub alerts: Vec<Alert>,
    pub jobs: Vec<Job>,
    pub runs: Vec<Run>,
    pub changes: Vec<AuditEvent>,
}

/// A deployment's spec in a few words: `digits v2 · canary v3 at 10 % · shadow v4`.
pub fn describe_spec(spec: &slipway_api::DeploymentSpec) -> String {
    let mut text = format!("{} v{}", spec.model, spec.primary);
    if let Some(canary) = &spec.canary {
        text.push_str(&format!(
            " · canary v{} at {} %",
            canary.version,
            number(canary.percent)
        ));
    }
    if let Some(shadow) = spec.shadow {
        text.push_str(&format!(" · shadow v{shadow}"));
    }
    text
}

#[component]
fn DeploymentsTable(deployments: Vec<DeploymentHealth>) -> impl IntoView {
    let rows = deployments
        .into_iter()
        .map(|health| {
            let deployment = health.deployment;
            let href = format!("/deployments/{}", encode(&deployment.name));
            let ready = if deployment.ready {
                "ready"
            } else {
                "not ready"
            };
            let (rps, p99, errors) = match &health.live {
                Some(live) => (
                    number((live.requests_per_sec * 100.0).round() / 100.0),
                    millis(live.p99_ms),
                    percent(live.error_rate),
                ),
                None => ("–".to_owned(), "–".to_owned(), "–".to_owned()),
            };
            let (drift, drift_tone) = drift_words(health.drift.as_deref());
            let drift_class = format!("badge {drift_tone}");
            let alerts = match health.open_alerts {
                0 => "none".to_owned(),
                open => format!("{open} open"),
            };
            let alerts_class = if health.open_alerts > 0 {
                "num bad"
            } else {
                "num"
            };
            view! {
                <tr>
                    <td><a href=href>{deployment.name.clone()}</a></td>
                    <td>{describe_spec(&deployment.spec)}</td>
                    <td class="num">{deployment.revision}</td>
                    <td><Badge text=ready.to_owned() /></td>
                    <td class="num">{rps}</td>
                    <td class="num">{p99}</td>
                    <td class="num">{errors}</td>
                    <td><span class=drift_class>{drift}</span></td>
                    <td class=alerts_class>{alerts}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table caption="Deployments" id="deployments">
            <thead><tr>
                <th scope="col">"Deployment"</th><th scope="col">"Live"</th><th scope="col" class="num">"Revision"</th>
                <th scope="col">"State"</th><th scope="col" class="num">"Requests/s"</th><th scope="col" class="num">"p99"</th>
                <th scope="col" class="num">"Error rate"</th><th scope="col">"Drift"</th><th scope="col" class="num">"Open alerts"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
}

/// Runs with their latest metrics.
#[component]
pub fn RecentRuns(runs: Vec<Run>) -> impl IntoView {
    let rows = runs
        .into_iter()
        .map(|run| {
            let metrics = run
                .metrics
                .iter()
                .take(6)
                .map(|(key, value)| format!("{key} = {}", number(*value)))
                .collect::<Vec<_>>()
                .join(", ");
            view! {
                <tr>
                    <td><a href=format!("/runs/{}", run.id)>{format!("#{}", run.id)}</a></td>
                    <td>{run.name}</td>
                    <td><Badge text=run.status.to_string() /></td>
                    <td>{when(&run.start_time)}</td>
                    <td>{metrics}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table caption="Recent runs" id="runs">
            <thead><tr><th scope="col">"Run"</th><th scope="col">"Name"</th><th scope="col">"Status"</th><th scope="col">"Started (UTC)"</th><th scope="col">"Latest metrics"</th></tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
}

/// The overview page as a complete HTML document.
pub fn render_overview(frame: &Frame, overview: Overview) -> String {
    let summary = format!(
        "{} deployments · {} open alerts · {} recent jobs",
        overview.deployments.len(),
        overview.alerts.len(),
        overview.jobs.len()
    );
    let deployments = if overview.deployments.is_empty() {
        view! { <p class="muted">"Nothing is deployed yet."</p> }.into_any()
    } else {
        view! { <DeploymentsTable deployments=overview.deployments /> }.into_any()
    };
    let alerts = if overview.alerts.is_empty() {
        view! { <p class="muted">"No open alerts."</p> }.into_any()
    } else {
        view! { <AlertsTable alerts=overview.alerts /> }.into_any()
    };
    let body = view! {
        <h1>"Overview"</h1>
        <p class="muted">{summary}</p>
        <section aria-labelledby="h-deployments"><h2 id="h-deployments">"Deployments"</h2>{deployments}</section>
        <section aria-labelledby="h-alerts"><h2 id="h-alerts">"Open alerts"</h2>{alerts}</section>
        <section aria-labelledby="h-jobs"><h2 id="h-jobs">"Recent jobs"</h2><JobsTable jobs=overview.jobs /></section>
        <section aria-labelledby="h-runs"><h2 id="h-runs">"Recent runs"</h2><RecentRuns runs=overview.runs /></section>
        <section aria-labelledby="h-changes"><h2 id="h-changes">"Recent changes"</h2><ChangesTable changes=overview.changes /></section>
    }
    .to_html();
    frame.document("Overview", Section::Overview, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixtures::*;

    #[test]
    fn shows_deployments_health_alerts_jobs_runs_and_changes() {
        let overview = Overview {
            deployments: vec![DeploymentHealth {
                deployment: deployment("digits", 3),
                live: Some(version_metrics(2)),
                drift: Some("warn".into()),
                open_alerts: 1,
            }],
            alerts: vec![alert("digits")],
            jobs: vec![job(12)],
            runs: vec![run(7, "<script>alert(1)</script>")],
            changes: vec![audit("deployment", "digits", "bad canary")],
        };
        let html = render_overview(&frame(slipway_api::Role::Viewer), overview);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>Overview · Slipway</title>"));
        assert!(
            html.contains(r#"<a href="/deployments/digits">digits</a>"#),
            "{html}"
        );
        assert!(html.contains("digits v2 · canary v3 at 10 %"), "{html}");
        assert!(html.contains("12.5 ms"), "{html}");
        assert!(html.contains("2.00 %"), "{html}");
        assert!(
            html.contains(r#"<span class="badge warn">drifting (warning)</span>"#),
            "{html}"
        );
        assert!(html.contains(">1 open</td>"), "{html}");
        assert!(html.contains("error rate above 5 %"));
        assert!(html.contains(r#"<a href="/jobs/12">#12</a>"#));
        assert!(html.contains("bad canary"));
        assert!(!html.contains("<script>alert"), "text must be escaped");
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn states_read_as_words_and_long_notes_fold() {
        let mut failed = job(13);
        failed.error = Some(format!(
            "the worker lost its lease {}",
            "again and again ".repeat(20)
        ));
        let overview = Overview {
            deployments: vec![DeploymentHealth {
                deployment: deployment("digits", 3),
                live: None,
                drift: Some("insufficient_data".into()),
                open_alerts: 0,
            }],
            jobs: vec![failed],
            ..Overview::default()
        };
        let html = render_overview(&frame(slipway_api::Role::Viewer), overview);
        assert!(html.contains("not enough traffic yet"), "{html}");
        assert!(!html.contains("insufficient_data"), "{html}");
        assert!(
            html.contains(r#"<details class="note"><summary>the worker lost its lease again"#),
            "{html}"
        );
        assert!(html.contains("…</summary>"), "{html}");
    }

    #[test]
    fn an_empty_platform_says_so() {
        let html = render_overview(&Frame::default(), Overview::default());
        assert!(html.contains("Nothing is deployed yet."));
        assert!(html.contains("No open alerts."));
    }
}
