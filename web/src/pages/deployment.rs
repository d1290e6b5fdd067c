//! A deployment: its traffic split, request and latency charts, per-feature drift, revisions
//! (who, when, why), the lineage of the live version (run → dataset digest → parameters), and,
//! for engineers, promote and roll back forms that ask for a reason and a confirmation.

use super::common::AlertsTable;
use super::overview::describe_spec;
use crate::charts::{Bar, BarChartView, LineChart, LineChartView, Point, Series, XAxis};
use crate::layout::{Badge, Frame, Section, Table, encode, millis, number, percent, tone, when};
use leptos::prelude::*;
use slipway_api::{
    Alert, Deployment, DeploymentMetrics, DeploymentRevision, DriftReport, MinuteMetrics,
    ModelVersion,
};
use std::collections::BTreeMap;

/// What the deployment page shows.
#[derive(Debug, Clone)]
pub struct DeploymentView {
    pub deployment: Deployment,
    pub metrics: Option<DeploymentMetrics>,
    /// Per-minute history, oldest first.
    pub history: Vec<MinuteMetrics>,
    pub drift: Option<DriftReport>,
    /// Why drift could not be judged, when it could not.
    pub drift_note: Option<String>,
    /// Newest first.
    pub revisions: Vec<DeploymentRevision>,
    /// The primary version, with its lineage.
    pub live_version: Option<ModelVersion>,
    pub alerts: Vec<Alert>,
}

#[component]
fn TrafficSplit(deployment: Deployment) -> impl IntoView {
    let spec = deployment.spec;
    let canary_percent = spec.canary.map_or(0.0, |canary| canary.percent);
    let primary_style = format!("width:{}%", 100.0 - canary_percent);
    let primary_text = format!(
        "primary v{} · {} %",
        spec.primary,
        number(100.0 - canary_percent)
    );
    let canary = spec.canary.map(|canary| {
        let style = format!("width:{}%", canary.percent.max(4.0));
        let text = format!("canary v{} · {} %", canary.version, number(canary.percent));
        view! { <span class="canary" style=style>{text}</span> }
    });
    let shadow = spec
        .shadow
        .map(|version| view! { <p class="muted">{format!("Shadow v{version} sees a mirrored copy of every request and never answers.")}</p> });
    view! {
        <div class="split" id="split">
            <span class="primary" style=primary_style>{primary_text}</span>
            {canary}
        </div>
        {shadow}
    }
}

#[component]
fn HealthTable(metrics: DeploymentMetrics) -> impl IntoView {
    let rows = metrics
        .versions
        .into_iter()
        .map(|version| {
            view! {
                <tr>
                    <td>{version.variant}</td>
                    <td class="num">{format!("v{}", version.version)}</td>
                    <td class="num">{version.requests}</td>
                    <td class="num">{number((version.requests_per_sec * 100.0).round() / 100.0)}</td>
                    <td class="num">{percent(version.error_rate)}</td>
                    <td class="num">{millis(version.p50_ms)}</td>
                    <td class="num">{millis(version.p90_ms)}</td>
                    <td class="num">{millis(version.p99_ms)}</td>
                </tr>
            }
        })
        .collect_view();
    let caption = format!("Traffic over the last {} s", metrics.window_secs);
    view! {
        <p class="muted">{caption}</p>
        <Table caption="Health by version" id="health">
            <thead><tr><th scope="col">"Variant"</th><th scope="col" class="num">"Version"</th><th scope="col" class="num">"Requests"</th><th scope="col" class="num">"Requests/s"</th><th scope="col" class="num">"Error rate"</th><th scope="col" class="num">"p50"</th><th scope="col" class="num">"p90"</th><th scope="col" class="num">"p99"</th></tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
}

/// The request and p99 latency charts, one line per version.
fn history_charts(history: &[MinuteMetrics]) -> (LineChart, LineChart) {
    let mut requests: BTreeMap<u32, Vec<Point>> = BTreeMap::new();
    let mut latency: BTreeMap<u32, Vec<Point>> = BTreeMap::new();
    for minute in history {
        let x = minute.minute.timestamp() as f64;
        let label = minute.minute.format("%H:%M").to_string();
        requests.entry(minute.version).or_default().push(Point {
            x,
            y: minute.requests as f64,
            hover: format!(
                "{label} · {} requests, {} errors",
                minute.requests, minute.errors
            ),
        });
        if let Some(p99) = minute.p99_ms {
            latency.entry(minute.version).or_default().push(Point {
                x,
                y: p99,
                hover: format!("{label} · p99 {p99:.1} ms"),
            });
        }
    }
    let series = |map: BTreeMap<u32, Vec<Point>>| {
        map.into_iter()
            .map(|(version, points)| Series {
                name: format!("v{version}"),
                points,
            })
            .collect()
    };
    (
        LineChart {
            title: "Requests per minute".into(),
            x_label: "time (UTC)".into(),
            y_label: "requests".into(),
            x_axis: XAxis::Time,
            series: series(requests),
        },
        LineChart {
            title: "p99 latency per minute".into(),
            x_label: "time (UTC)".into(),
            y_label: "ms".into(),
            x_axis: XAxis::Time,
            series: series(latency),
        },
    )
}

#[component]
fn DriftSection(drift: Option<DriftReport>, note: Option<String>) -> impl IntoView {
    let Some(drift) = drift else {
        let note = note.unwrap_or_else(|| "Not enough live traffic to judge drift yet.".into());
        return view! { <p class="muted">{note}</p> }.into_any();
    };
    let summary = format!(
        "v{} · {} live rows compared with the training data{}",
        drift.version,
        drift.rows,
        drift
            .prediction_psi
            .map(|psi| format!(" · prediction PSI {}", number(psi)))
            .unwrap_or_default()
    );
    let bars = drift
        .features
        .iter()
        .take(20)
        .map(|feature| Bar {
            label: feature.feature.clone(),
            value: feature.psi,
            tone: tone(&feature.status),
        })
        .collect::<Vec<_>>();
    let rows = drift
        .features
        .into_iter()
        .map(|feature| {
            view! {
                <tr>
                    <td>{feature.feature}</td>
                    <td class="num">{number(feature.psi)}</td>
                    <td class="num">{number(feature.ks)}</td>
                    <td><Badge text=feature.status /></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p>"Status "<Badge text=drift.status />" "<span class="muted">{summary}</span></p>
        <BarChartView title="PSI by feature (most drifted first)".to_owned() bars=bars />
        <details>
            <summary>"Every feature"</summary>
            <Table caption="Drift by feature" id="drift">
                <thead><tr><th scope="col">"Feature"</th><th scope="col" class="num">"PSI"</th><th scope="col" class="num">"KS"</th><th scope="col">"Status"</th></tr></thead>
                <tbody>{rows}</tbody>
            </Table>
        </details>
    }
    .into_any()
}

#[component]
fn Lineage(version: Option<ModelVersion>) -> impl IntoView {
    let Some(version) = version else {
        return view! { <p class="muted">"The live version's lineage is not available."</p> }
            .into_any();
    };
    let model_href = format!("/models/{}", encode(&version.model));
    let run = version.run_id.map(|id| {
        view! { <a href=format!("/runs/{id}")>{format!("run #{id}")}</a> }
    });
    let dataset = version.dataset.as_ref().map(|dataset| {
        format!(
            "{} v{} · sha256:{}",
            dataset.name, dataset.version, dataset.digest
        )
    });
    let params = version
        .params
        .iter()
        .map(|(key, value)| view! { <dt>{key.clone()}</dt><dd><code>{value.clone()}</code></dd> })
        .collect_view();
    let metrics = version
        .metrics
        .iter()
        .map(|(key, value)| format!("{key} = {}", number(*value)))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <dl class="facts" id="lineage">
            <dt>"Model"</dt><dd><a href=model_href>{format!("{} v{}", version.model, version.version)}</a>" · "{version.arch.clone()}" · "{version.task.clone()}</dd>
            <dt>"Trained by"</dt><dd>{run}" · registered by "{version.created_by.clone()}" on "{when(&version.created_at)}</dd>
            <dt>"Dataset"</dt><dd><code>{dataset.unwrap_or_else(|| "unknown".into())}</code></dd>
            <dt>"Seed"</dt><dd>{version.seed.map(|seed| seed.to_string()).unwrap_or_else(|| "–".into())}</dd>
            <dt>"Code"</dt><dd>{version.code_version.clone().unwrap_or_else(|| "–".into())}</dd>
            <dt>"Metrics"</dt><dd>{metrics}</dd>
            <dt>"Model digest"</dt><dd><code>{format!("sha256:{}", version.artifact_digest)}</code></dd>
        </dl>
        <h3>"Parameters"</h3>
        <dl class="facts" id="params">{params}</dl>
    }
    .into_any()
}

#[component]
fn RevisionsTable(revisions: Vec<DeploymentRevision>) -> impl IntoView {
    let rows = revisions
        .into_iter()
        .map(|revision| {
            let what = match revision.rolled_back_to {
                Some(to) => format!("{} (back to revision {to})", describe_spec(&revision.spec)),
                None => describe_spec(&revision.spec),
            };
            view! {
                <tr>
                    <td class="num">{revision.revision}</td>
                    <td>{when(&revision.created_at)}</td>
                    <td>{revision.actor}</td>
                    <td>{revision.action}</td>
                    <td>{what}</td>
                    <td>{revision.reason.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table caption="Revisions" id="revisions">
            <thead><tr><th scope="col" class="num">"Revision"</th><th scope="col">"When (UTC)"</th><th scope="col">"Who"</th><th scope="col">"Action"</th><th scope="col">"What"</th><th scope="col">"Why"</th></tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
}

/// The promote and roll back forms: each needs a reason and a ticked confirmation.
#[component]
fn Actions(
    deployment: Deployment,
    revisions: Vec<DeploymentRevision>,
    csrf: String,
) -> impl IntoView {
    let base = format!("/deployments/{}", encode(&deployment.name));
    let current = deployment.revision;
    let options = revisions
        .iter()
        .filter(|revision| revision.revision != current)
        .map(|revision| {
            let text = format!(
                "revision {} · {}",
                revision.revision,
                describe_spec(&revision.spec)
            );
            view! { <option value=revision.revision.to_string()>{text}</option> }
        })
        .collect_view();
    let can_roll_back = revisions
        .iter()
        .any(|revision| revision.revision != current);
    let rollback = can_roll_back.then(|| {
        view! {
            <form class="action" method="post" action=format!("{base}/rollback") id="rollback-form">
                <h3>"Roll back"</h3>
                <input type="hidden" name="csrf" value=csrf.clone() />
                <input type="hidden" name="expected_revision" value=current.to_string() />
                <label for="rollback-to">"Re-apply"</label>
                <select id="rollback-to" name="to_revision">
                    <option value="">"the previous revision"</option>
                    {options}
                </select>
                <label for="rollback-reason">"Reason (written to the audit log)"</label>
                <input type="text" id="rollback-reason" name="reason" required maxlength="1000" />
                <label><input type="checkbox" name="confirm" value="yes" required />" I confirm: this changes live traffic now"</label>
                <button class="danger" type="submit" id="rollback">"Roll back"</button>
            </form>
        }
    });
    let promote = deployment.spec.canary.map(|canary| {
        let label = format!("Promote canary v{} to primary", canary.version);
        view! {
            <form class="action" method="post" action=format!("{base}/promote") id="promote-form">
                <h3>{label.clone()}</h3>
                <input type="hidden" name="csrf" value=csrf.clone() />
                <input type="hidden" name="expected_revision" value=current.to_string() />
                <label for="promote-reason">"Reason (written to the audit log)"</label>
                <input type="text" id="promote-reason" name="reason" required maxlength="1000" />
                <label><input type="checkbox" name="confirm" value="yes" required />" I confirm: the canary takes all traffic now"</label>
                <button type="submit" id="promote">{label}</button>
            </form>
        }
    });
    view! { {promote} {rollback} }
}

/// The deployment page as a complete HTML document.
pub fn render_deployment(frame: &Frame, view: DeploymentView) -> String {
    let deployment = view.deployment;
    let name = deployment.name.clone();
    let ready = if deployment.ready {
        "ready"
    } else {
        "not ready"
    };
    let subtitle = format!(
        "{} · revision {} · updated {} UTC",
        describe_spec(&deployment.spec),
        deployment.revision,
        when(&deployment.updated_at)
    );
    let health = match view.metrics {
        Some(metrics) => view! { <HealthTable metrics=metrics /> }.into_any(),
        None => view! { <p class="muted">"No live metrics."</p> }.into_any(),
    };
    let (requests, latency) = history_charts(&view.history);
    let actions = if frame.can_operate() {
        view! { <Actions deployment=deployment.clone() revisions=view.revisions.clone() csrf=frame.csrf() /> }.into_any()
    } else {
        view! { <p class="muted">"Read-only: promoting and rolling back need the engineer or admin role."</p> }.into_any()
    };
    let alerts = (!view.alerts.is_empty()).then(|| {
        view! { <section aria-labelledby="h-alerts"><h2 id="h-alerts">"Alerts"</h2><AlertsTable alerts=view.alerts /></section> }
    });
    let body = view! {
        <p><a href="/">"Overview"</a>" › deployment"</p>
        <h1>{name.clone()}" "<Badge text=ready.to_owned() /></h1>
        <p class="muted">{subtitle}</p>
        <section aria-labelledby="h-traffic"><h2 id="h-traffic">"Traffic split"</h2><TrafficSplit deployment=deployment.clone() /></section>
        <section aria-labelledby="h-actions"><h2 id="h-actions">"Actions"</h2>{actions}</section>
        <section aria-labelledby="h-health"><h2 id="h-health">"Health"</h2>{health}
            <div class="charts"><LineChartView chart=requests /><LineChartView chart=latency /></div>
        </section>
        <section aria-labelledby="h-drift"><h2 id="h-drift">"Drift"</h2><DriftSection drift=view.drift note=view.drift_note /></section>
        {alerts}
        <section aria-labelledby="h-lineage"><h2 id="h-lineage">"Lineage of the live version"</h2><Lineage version=view.live_version /></section>
        <section aria-labelledby="h-revisions"><h2 id="h-revisions">"Revisions"</h2><RevisionsTable revisions=view.revisions /></section>
    }
    .to_html();
    frame.document(&format!("Deployment {name}"), Section::Overview, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixtures::*;
    use slipway_api::{FeatureDrift, Role};

    fn fixture() -> DeploymentView {
        let revisions = vec![
            DeploymentRevision {
                revision: 2,
                action: "deploy".into(),
                spec: spec(2),
                previous: Some(spec(1)),
                rolled_back_to: None,
                actor: "bob".into(),
                reason: Some("canary for v3".into()),
                created_at: at(5),
            },
            DeploymentRevision {
                revision: 1,
                action: "deploy".into(),
                spec: spec(1),
                previous: None,
                rolled_back_to: None,
                actor: "alice".into(),
                reason: Some("first release".into()),
                created_at: at(1),
            },
        ];
        DeploymentView {
            deployment: deployment("digits", 2),
            metrics: Some(DeploymentMetrics {
                deployment: "digits".into(),
                revision: 2,
                window_secs: 60,
                versions: vec![version_metrics(2)],
            }),
            history: (0..5)
                .map(|minute| MinuteMetrics {
                    version: 2,
                    minute: at(minute),
                    requests: 100 + u64::from(minute),
                    errors: 1,
                    p50_ms: Some(2.0),
                    p99_ms: Some(9.0 + f64::from(minute)),
                    predictions: BTreeMap::new(),
                })
                .collect(),
            drift: Some(DriftReport {
                predictions: Vec::new(),
                deployment: "digits".into(),
                version: 2,
                rows: 500,
                callers: 2,
                features: vec![FeatureDrift {
                    feature: "pixel_3".into(),
                    psi: 0.31,
                    psi_noise: 0.0,
                    ks: 0.2,
                    status: "alert".into(),
                }],
                prediction_psi: Some(0.05),
                prediction_psi_noise: None,
                status: "alert".into(),
            }),
            drift_note: None,
            revisions,
            live_version: Some(model_version(2, 0.97)),
            alerts: vec![alert("digits")],
        }
    }

    #[test]
    fn an_engineer_sees_split_charts_drift_lineage_revisions_and_actions() {
        let html = render_deployment(&frame(Role::Engineer), fixture());
        assert!(html.contains("<title>Deployment digits · Slipway</title>"));
        assert!(html.contains("primary v2 · 90 %"), "{html}");
        assert!(html.contains("canary v3 · 10 %"));
        assert!(html.contains("<title>Requests per minute</title>"));
        assert!(html.contains("v2: 09:04 · p99 13.0 ms"), "{html}");
        assert!(html.contains("<title>pixel_3: 0.31</title>"), "{html}");
        assert!(html.contains(r#"<a href="/runs/42">run #42</a>"#), "{html}");
        assert!(html.contains(&format!("digits v1 · sha256:{}", "ef".repeat(32))));
        assert!(
            html.contains("<dt>lr</dt><dd><code>0.01</code></dd>"),
            "{html}"
        );
        assert!(html.contains("canary for v3") && html.contains("first release"));
        assert!(
            html.contains(r#"action="/deployments/digits/rollback""#),
            "{html}"
        );
        assert!(html.contains(r#"action="/deployments/digits/promote""#));
        assert!(html.contains(r#"name="csrf" value="csrf-123""#));
        assert!(html.contains(r#"<option value="1">revision 1"#), "{html}");
        assert!(html.contains(r#"name="reason" required"#), "{html}");
    }

    #[test]
    fn a_viewer_sees_no_action_buttons() {
        let html = render_deployment(&frame(Role::Viewer), fixture());
        assert!(!html.contains("/rollback"), "{html}");
        assert!(!html.contains("/promote"));
        assert!(!html.contains("<button class=\"danger\""));
        assert!(html.contains("Read-only"));
    }
}
