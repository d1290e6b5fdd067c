//! Operations pages: schedules (next fire times and history), alerts, and the audit log.

use super::common::{AlertsTable, ChangesTable};
use crate::layout::{Badge, Frame, Section, Table, link, when};
use leptos::prelude::*;
use slipway_api::{Alert, AuditEvent, Firing, Schedule};

/// A schedule with its recent firings.
#[derive(Debug, Clone)]
pub struct ScheduleView {
    pub schedule: Schedule,
    /// Newest first.
    pub history: Vec<Firing>,
}

/// One page of the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditView {
    pub events: Vec<AuditEvent>,
    pub page_token: String,
    pub next_page_token: Option<String>,
}

#[component]
fn ScheduleCard(view: ScheduleView) -> impl IntoView {
    let schedule = view.schedule;
    let next = if schedule.paused {
        "paused".to_owned()
    } else {
        schedule
            .next_fire_times
            .iter()
            .map(when)
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let rows = view
        .history
        .into_iter()
        .map(|firing| {
            let job = firing
                .job_id
                .map(|id| view! { <a href=format!("/jobs/{id}")>{format!("#{id}")}</a> });
            view! {
                <tr>
                    <td>{when(&firing.due_at)}</td>
                    <td>{when(&firing.fired_at)}</td>
                    <td><Badge text=firing.outcome /></td>
                    <td>{job}</td>
                    <td>{firing.job_state.map(|state| view! { <Badge text=state /> })}</td>
                    <td>{firing.message.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    let policies = format!(
        "job {} · misfire {:?} · overlap {:?}{}",
        schedule.job.kind,
        schedule.misfire,
        schedule.overlap,
        schedule
            .on_drift
            .as_ref()
            .map(|name| format!(" · also fires on drift of {name}"))
            .unwrap_or_default()
    );
    view! {
        <section class="card">
            <h3>{schedule.name.clone()}</h3>
            <dl class="facts">
                <dt>"Cron"</dt><dd><code>{schedule.cron.clone()}</code>" ("{schedule.timezone.clone()}")"</dd>
                <dt>"Next (UTC)"</dt><dd>{next}</dd>
                <dt>"Last fired"</dt><dd>{schedule.last_fire_at.as_ref().map(when).unwrap_or_else(|| "never".into())}</dd>
                <dt>"Runs"</dt><dd>{policies}</dd>
                <dt>"By"</dt><dd>{schedule.created_by.clone()}</dd>
            </dl>
            <details>
                <summary>"History"</summary>
                <Table caption="Firings" id="firings">
                    <thead><tr><th scope="col">"Due (UTC)"</th><th scope="col">"Fired (UTC)"</th><th scope="col">"Outcome"</th><th scope="col">"Job"</th><th scope="col">"Job state"</th><th scope="col">"Message"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </Table>
            </details>
        </section>
    }
}

/// The schedules page as a complete HTML document.
pub fn render_schedules(frame: &Frame, schedules: Vec<ScheduleView>) -> String {
    let empty = schedules
        .is_empty()
        .then(|| view! { <p class="muted">"No schedules."</p> });
    let cards = schedules
        .into_iter()
        .map(|view| view! { <ScheduleCard view=view /> })
        .collect_view();
    let body = view! {
        <h1>"Schedules"</h1>
        {empty}
        <div class="cards">{cards}</div>
    }
    .to_html();
    frame.document("Schedules", Section::Schedules, body)
}

/// The alerts page as a complete HTML document.
pub fn render_alerts(frame: &Frame, alerts: Vec<Alert>) -> String {
    let body = view! {
        <h1>"Alerts"</h1>
        <AlertsTable alerts=alerts />
    }
    .to_html();
    frame.document("Alerts", Section::Alerts, body)
}

/// The audit log page as a complete HTML document.
pub fn render_audit(frame: &Frame, view: AuditView) -> String {
    let first = (!view.page_token.is_empty()).then(|| view! { <a href="/audit">"Newest"</a> });
    let next = view.next_page_token.as_ref().map(|token| {
        view! { <a href=link("/audit", &[("page_token", token)]) rel="next">"Older"</a> }
    });
    let body = view! {
        <h1>"Audit log"</h1>
        <p class="muted">"Every change: who, when, what and why. Append-only."</p>
        <ChangesTable changes=view.events />
        <nav class="pager" aria-label="Pages">{first}{next}</nav>
    }
    .to_html();
    frame.document("Audit log", Section::Audit, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixtures::*;
    use slipway_api::{Misfire, Overlap, Role, SubmitJob};

    #[test]
    fn schedules_alerts_and_audit() {
        let schedule = Schedule {
            id: 1,
            name: "nightly-digits".into(),
            cron: "0 3 * * *".into(),
            timezone: "Europe/Paris".into(),
            job: SubmitJob {
                kind: "pipeline".into(),
                ..SubmitJob::default()
            },
            misfire: Misfire::Skip,
            overlap: Overlap::Skip,
            on_drift: Some("digits".into()),
            paused: false,
            next_fire_times: vec![at(30)],
            last_fire_at: None,
            created_by: "alice".into(),
            created_at: at(0),
        };
        let history = vec![Firing {
            id: 1,
            due_at: at(10),
            fired_at: at(10),
            outcome: "fired".into(),
            job_id: Some(5),
            job_state: Some("succeeded".into()),
            message: None,
        }];
        let html = render_schedules(
            &frame(Role::Viewer),
            vec![ScheduleView { schedule, history }],
        );
        assert!(html.contains("<title>Schedules · Slipway</title>"));
        assert!(
            html.contains("nightly-digits") && html.contains("2026-11-29 09:30"),
            "{html}"
        );
        assert!(html.contains("also fires on drift of digits"));
        assert!(html.contains(r#"<a href="/jobs/5">#5</a>"#));

        let html = render_alerts(&frame(Role::Viewer), vec![alert("digits")]);
        assert!(html.contains("error rate above 5 %"));

        let view = AuditView {
            events: vec![audit("deployment", "digits", "bad canary")],
            page_token: String::new(),
            next_page_token: Some("b1".into()),
        };
        let html = render_audit(&frame(Role::Viewer), view);
        assert!(
            html.contains(r#"<a href="/deployments/digits">deployment digits</a>"#),
            "{html}"
        );
        assert!(html.contains("/audit?page_token=b1"));
    }
}
