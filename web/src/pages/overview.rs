//! The overview: every deployment with its live version and health, open alerts, recent jobs,
//! runs and changes.

use super::common::{AlertsTable, ChangesTable, JobsTable, drift_words};
use crate::layout::{Badge, Frame, Section, Table, encode, millis, number, percent, when};
use crate::sparkline::Sparkline;
use chrono::{DateTime, Duration, DurationRound, Utc};
use leptos::prelude::*;
use slipway_api::{Alert, AuditEvent, Deployment, Job, MinuteMetrics, Run, VersionMetrics};

/// Minutes the sparklines cover.
pub const SPARK_MINUTES: u32 = 60;

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
    /// Every version's per-minute figures over the last [`SPARK_MINUTES`].
    pub history: Vec<MinuteMetrics>,
}

/// The last hour minute by minute, ending at `now`'s minute: requests of all versions added
/// up, and the worst version's p99 (a gap where no request was served).
fn per_minute(
    history: &[MinuteMetrics],
    now: DateTime<Utc>,
) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
    let end = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    let start = end - Duration::minutes(i64::from(SPARK_MINUTES) - 1);
    let mut requests = vec![Some(0.0); SPARK_MINUTES as usize];
    let mut p99: Vec<Option<f64>> = vec![None; SPARK_MINUTES as usize];
    for minute in history {
        let Ok(index) = usize::try_from((minute.minute - start).num_minutes()) else {
            continue;
        };
        if index >= requests.len() {
            continue;
        }
        requests[index] = Some(requests[index].unwrap_or_default() + minute.requests as f64);
        if let Some(ms) = minute.p99_ms.filter(|_| minute.requests > 0) {
            p99[index] = Some(p99[index].map_or(ms, |worst: f64| worst.max(ms)));
        }
    }
    (requests, p99)
}

/// The two sparkline cells of a deployment, or one cell saying there was no traffic.
fn trend_cells(history: &[MinuteMetrics], now: DateTime<Utc>) -> AnyView {
    let (requests, p99) = per_minute(history, now);
    let total: f64 = requests.iter().flatten().sum();
    if total <= 0.0 {
        return view! { <td colspan="2" class="muted">"no traffic in the last hour"</td> }
            .into_any();
    }
    let peak = requests.iter().flatten().copied().fold(0.0_f64, f64::max);
    let worst = p99.iter().flatten().copied().fold(0.0_f64, f64::max);
    let requests_label = format!(
        "requests per minute over the last hour: {} in all, at most {} a minute",
        number(total),
        number(peak)
    );
    let p99_label = format!(
        "p99 over the last hour, worst minute {}",
        millis(Some(worst))
    );
    view! {
        <td><Sparkline values=requests label=requests_label /></td>
        <td><Sparkline values=p99 label=p99_label /></td>
    }
    .into_any()
}

/// What the overview page shows.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub deployments: Vec<DeploymentHealth>,
    pub alerts: Vec<Alert>,
    pub jobs: Vec<Job>,
    pub runs: Vec<Run>,
    pub changes: Vec<AuditEvent>,
    /// When the page was made: the sparklines end at this minute.
    pub now: DateTime<Utc>,
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
fn DeploymentsTable(deployments: Vec<DeploymentHealth>, now: DateTime<Utc>) -> impl IntoView {
    let rows = deployments
        .into_iter()
        .map(|health| {
            let trends = trend_cells(&health.history, now);
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
                    {trends}
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
                <th scope="col">"State"</th><th scope="col">"Requests/min, last hour"</th><th scope="col">"p99, last hour"</th><th scope="col" class="num">"Requests/s"</th><th scope="col" class="num">"p99"</th>
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
        view! { <DeploymentsTable deployments=overview.deployments now=overview.now /> }.into_any()
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
                history: vec![
                    minute_metrics(2, at(10), 120, Some(9.0)),
                    minute_metrics(3, at(10), 12, Some(14.0)),
                    minute_metrics(2, at(11), 90, Some(11.0)),
                ],
            }],
            alerts: vec![alert("digits")],
            jobs: vec![job(12)],
            runs: vec![run(7, "<script>alert(1)</script>")],
            changes: vec![audit("deployment", "digits", "bad canary")],
            now: at(12),
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
        // Both sparklines draw a path over the hour; the figures are in their labels too.
        let sparks = html.matches(r#"class="spark""#).count();
        assert_eq!(sparks, 2, "{html}");
        assert!(
            html.contains("222 in all, at most 132 a minute"),
            "requests of both versions add up: {html}"
        );
        assert!(html.contains("worst minute 14.0 ms"), "{html}");
        let paths: Vec<&str> = html
            .split(r#"<path d=""#)
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert_eq!(paths.len(), 2, "{html}");
        assert!(
            paths.iter().all(|d| d.starts_with('M') && d.contains(" L")),
            "{paths:?}"
        );
        assert!(!html.contains("no traffic in the last hour"));
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
                history: Vec::new(),
            }],
            jobs: vec![failed],
            ..Overview::default()
        };
        let html = render_overview(&frame(slipway_api::Role::Viewer), overview);
        assert!(html.contains("not enough traffic yet"), "{html}");
        assert!(html.contains("no traffic in the last hour"), "{html}");
        assert!(!html.contains(r#"class="spark""#), "{html}");
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
