//! A deployment, in the order a person asks: is it healthy (status, traffic split, each serving
//! version side by side, open alerts), what changed (revisions: who, when, why), what can be
//! done (for engineers, a compact bar whose buttons open promote and roll back forms that ask
//! for a reason and a confirmation), then the charts over a chosen time range, per-feature drift
//! and the lineage of the live version (run → dataset digest → parameters).

use super::common::AlertsTable;
use super::deployment_health::{
    DriftSection, RangeChoice, TimeRange, VersionCards, history_charts,
};
use super::overview::describe_spec;
use crate::charts::LineChartView;
use crate::layout::{Badge, Frame, Section, Table, encode, number, when};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use slipway_api::{
    Alert, Deployment, DeploymentMetrics, DeploymentRevision, DriftDetail, DriftHours,
    MinuteMetrics, ModelVersion, ShadowComparison, SloPolicy,
};

/// What the deployment page shows.
#[derive(Debug, Clone)]
pub struct DeploymentView {
    pub deployment: Deployment,
    pub metrics: Option<DeploymentMetrics>,
    /// History over `range`, oldest first, one entry per version and `range`'s step.
    pub history: Vec<MinuteMetrics>,
    pub range: TimeRange,
    /// Where the charts' time axis ends.
    pub now: DateTime<Utc>,
    /// The deployment's policy: its drift thresholds are drawn on the drift bars.
    pub policy: SloPolicy,
    /// The shadow's agreement with the primary, by revision.
    pub shadow: Vec<ShadowComparison>,
    /// The drift report with each table column's missing rate and category shares.
    pub drift: Option<DriftDetail>,
    /// Each feature's PSI per hour over the range (at least a day).
    pub drift_hours: Option<DriftHours>,
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
        <Table caption="Revisions, newest first" id="revisions">
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
            <details class="danger" id="rollback-details">
                <summary id="rollback-open">"Roll back…"</summary>
                <form class="action" method="post" action=format!("{base}/rollback") id="rollback-form">
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
            </details>
        }
    });
    let primary = deployment.spec.primary;
    let promote = deployment.spec.canary.map(|canary| {
        let label = format!("Promote canary v{} to primary", canary.version);
        let confirm = format!(
            " I confirm: canary v{} ({} %) takes all traffic now, replacing v{primary}",
            canary.version,
            number(canary.percent)
        );
        view! {
            <details id="promote-details">
                <summary id="promote-open">{format!("{label}…")}</summary>
                <form class="action" method="post" action=format!("{base}/promote") id="promote-form">
                    <input type="hidden" name="csrf" value=csrf.clone() />
                    <input type="hidden" name="expected_revision" value=current.to_string() />
                    <label for="promote-reason">"Reason (written to the audit log)"</label>
                    <input type="text" id="promote-reason" name="reason" required maxlength="1000" />
                    <label><input type="checkbox" name="confirm" value="yes" required />{confirm}</label>
                    <button type="submit" id="promote">{label}</button>
                </form>
            </details>
        }
    });
    view! { <div class="actionbar" id="actions">{promote} {rollback}</div> }
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
        Some(metrics) => view! { <VersionCards metrics=metrics shadow=view.shadow /> }.into_any(),
        None => view! { <p class="muted">"No live metrics."</p> }.into_any(),
    };
    let charts = history_charts(&view.history, &view.revisions, view.range, view.now);
    let actions = if frame.can_operate() {
        view! { <Actions deployment=deployment.clone() revisions=view.revisions.clone() csrf=frame.csrf() /> }.into_any()
    } else {
        view! { <p class="muted">"Read-only: promoting and rolling back need the engineer or admin role."</p> }.into_any()
    };
    let alerts = (!view.alerts.is_empty()).then(|| {
        view! { <h3>"Alerts"</h3><AlertsTable alerts=view.alerts /> }
    });
    let base = format!("/deployments/{}", encode(&name));
    let breadcrumb = format!(" › {name}");
    let body = view! {
        <nav aria-label="Breadcrumb"><p><a href="/">"Overview"</a>{breadcrumb}</p></nav>
        <h1>{name.clone()}" "<Badge text=ready.to_owned() /></h1>
        <p class="muted">{subtitle}</p>
        <section aria-labelledby="h-health"><h2 id="h-health">"Health"</h2>
            <TrafficSplit deployment=deployment.clone() />
            {health}
            {alerts}
        </section>
        <section aria-labelledby="h-revisions"><h2 id="h-revisions">"What changed"</h2><RevisionsTable revisions=view.revisions /></section>
        <section aria-labelledby="h-actions"><h2 id="h-actions">"Actions"</h2>{actions}</section>
        <section aria-labelledby="h-charts"><h2 id="h-charts">"Over time"</h2>
            <RangeChoice base=base current=view.range />
            <LineChartView chart=charts.requests />
            <LineChartView chart=charts.errors />
            <LineChartView chart=charts.latency />
        </section>
        <section aria-labelledby="h-drift"><h2 id="h-drift">"Drift"</h2><DriftSection drift=view.drift hours=view.drift_hours note=view.drift_note policy=view.policy /></section>
        <section aria-labelledby="h-lineage"><h2 id="h-lineage">"Lineage of the live version"</h2><Lineage version=view.live_version /></section>
    }
    .to_html();
    frame.document(&format!("Deployment {name}"), Section::Overview, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixtures::*;
    use slipway_api::{CategoryShare, ColumnDrift, DriftReport, FeatureDrift, FeatureHours, Role};
    use std::collections::BTreeMap;

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
            range: TimeRange::Hour,
            now: at(30),
            policy: SloPolicy::default(),
            shadow: Vec::new(),
            drift: Some(DriftDetail {
                report: DriftReport {
                    predictions: Vec::new(),
                    live_baseline: None,
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
                },
                columns: vec![ColumnDrift {
                    feature: "colour".into(),
                    kind: "categorical".into(),
                    baseline_missing_rate: 0.0,
                    live_missing_rate: 0.0,
                    missing_noise: 0.02,
                    missing_status: "stable".into(),
                    categories: vec![
                        CategoryShare {
                            name: "red".into(),
                            baseline_share: 0.75,
                            live_share: 0.25,
                        },
                        CategoryShare {
                            name: "(unseen)".into(),
                            baseline_share: 0.0,
                            live_share: 0.5,
                        },
                    ],
                }],
            }),
            drift_hours: Some(DriftHours {
                deployment: "digits".into(),
                hours: vec![at(0)],
                features: vec![FeatureHours {
                    feature: "pixel_3".into(),
                    psi: vec![Some(0.31)],
                }],
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
        assert!(html.contains("<title>Error rate</title>"));
        assert!(html.contains("v2: 09:04 · p99 13.0 ms"), "{html}");
        assert!(
            html.contains(r#"href="/deployments/digits?range=24h#h-charts""#),
            "{html}"
        );
        assert!(
            html.contains("revision 2 · deploy by bob at 2026-11-29 09:05 UTC: canary for v3"),
            "{html}"
        );
        assert!(html.contains("<title>pixel_3: 0.31</title>"), "{html}");
        // Drift over time, and a categorical column by its category shares.
        assert!(
            html.contains("<title>pixel_3 · 2026-11-29 09:00 UTC: PSI 0.31</title>"),
            "{html}"
        );
        assert!(
            html.contains(r#"<th scope="row">red</th><td class="shares"><span class="share" style="width:75.0%;"></span>75.00 %</td><td class="shares"><span class="share live" style="width:25.0%;"></span>25.00 %</td>"#),
            "{html}"
        );
        assert!(html.contains("colour: share of rows by category"), "{html}");
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
        assert!(
            html.contains("canary v3 (10 %) takes all traffic now, replacing v2"),
            "{html}"
        );
        assert!(html.contains("<title>Deployment digits · Slipway</title>"));
        assert!(html.contains("Overview</a> › digits"), "{html}");
    }

    #[test]
    fn health_comes_before_what_changed_and_both_before_the_actions() {
        let html = render_deployment(&frame(Role::Engineer), fixture());
        let at = |needle: &str| html.find(needle).unwrap_or(usize::MAX);
        assert!(at(r#"id="health""#) < at(r#"id="revisions""#), "{html}");
        assert!(at(r#"id="revisions""#) < at(r#"id="actions""#), "{html}");
        assert!(
            at(r#"id="actions""#) < at(r#"id="latency-chart""#),
            "{html}"
        );
        // The forms sit closed behind their buttons.
        assert!(html.contains(r#"<summary id="rollback-open">"#), "{html}");
        assert!(!html.contains("<details class=\"danger\" id=\"rollback-details\" open"));
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
