//! Slipway's web dashboard for stakeholders: what runs exist, how they score, and what
//! changed. Pages are leptos components rendered on the server (the `ssr` feature), so they
//! read fine with scripts off; the `hydrate` feature builds the same components for the
//! browser.

use leptos::prelude::*;
use slipway_api::{AuditEvent, Experiment, Run};

/// What the overview page shows.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub experiments: Vec<Experiment>,
    pub runs: Vec<Run>,
    pub changes: Vec<AuditEvent>,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2430}\
table{border-collapse:collapse;margin-bottom:2rem}\
th,td{padding:.3rem .8rem;border-bottom:1px solid #dde;text-align:left}\
th{background:#f3f5f9}h1{margin-bottom:.2rem}.muted{color:#667}";

#[component]
fn RunsTable(runs: Vec<Run>) -> impl IntoView {
    view! {
        <table id="runs">
            <thead><tr><th>"Run"</th><th>"Name"</th><th>"Status"</th><th>"Started (UTC)"</th><th>"Latest metrics"</th></tr></thead>
            <tbody>
                {runs.into_iter().map(|run| {
                    let metrics = run.metrics.iter()
                        .map(|(key, value)| format!("{key} = {value:.4}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    view! {
                        <tr>
                            <td>{run.id}</td>
                            <td>{run.name}</td>
                            <td>{run.status.to_string()}</td>
                            <td>{run.start_time.format("%Y-%m-%d %H:%M").to_string()}</td>
                            <td>{metrics}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn ChangesTable(changes: Vec<AuditEvent>) -> impl IntoView {
    view! {
        <table id="changes">
            <thead><tr><th>"When (UTC)"</th><th>"Who"</th><th>"What"</th><th>"Why"</th></tr></thead>
            <tbody>
                {changes.into_iter().map(|event| view! {
                    <tr>
                        <td>{event.at.format("%Y-%m-%d %H:%M").to_string()}</td>
                        <td>{event.actor}</td>
                        <td>{format!("{} {} {}", event.action, event.target_kind, event.target_id)}</td>
                        <td>{event.reason.unwrap_or_default()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn OverviewPage(overview: Overview) -> impl IntoView {
    let summary = format!(
        "{} experiments · {} recent runs",
        overview.experiments.len(),
        overview.runs.len()
    );
    view! {
        <h1>"Slipway"</h1>
        <p class="muted">{summary}</p>
        <h2>"Recent runs"</h2>
        <RunsTable runs=overview.runs />
        <h2>"Recent changes"</h2>
        <ChangesTable changes=overview.changes />
    }
}

/// The overview page as a complete HTML document.
pub fn render_overview(overview: Overview) -> String {
    let body = view! { <OverviewPage overview=overview /> }.to_html();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Slipway</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use slipway_api::RunStatus;
    use std::collections::BTreeMap;

    #[test]
    fn renders_runs_and_changes_and_escapes_text() {
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 9, 30, 0).unwrap();
        let overview = Overview {
            experiments: Vec::new(),
            runs: vec![Run {
                id: 7,
                experiment_id: 1,
                name: "<script>alert(1)</script>".into(),
                status: RunStatus::Finished,
                start_time: at,
                end_time: None,
                created_by: "alice".into(),
                metrics: BTreeMap::from([("acc".to_owned(), 0.9712)]),
            }],
            changes: vec![AuditEvent {
                id: 1,
                at,
                actor: "alice".into(),
                action: "token.revoke".into(),
                target_kind: "token".into(),
                target_id: "bob".into(),
                reason: Some("left the team".into()),
                details: None,
            }],
        };
        let html = render_overview(overview);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("0 experiments · 1 recent runs"));
        assert!(html.contains("acc = 0.9712"));
        assert!(html.contains("2026-11-29 09:30"));
        assert!(html.contains("left the team"));
        assert!(
            !html.contains("<script>alert"),
            "text must be escaped: {html}"
        );
        assert!(html.contains("&lt;script&gt;"));
    }
}
