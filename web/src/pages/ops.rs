//! Operations pages: schedules (next fire times and history), alerts, and the audit log.
//! Engineers can pause, resume and trigger schedules and acknowledge alerts, each with a
//! reason and a confirmation.

use super::common::{AlertsTable, ChangesTable, ReasonFields, RowActions};
use crate::layout::{Badge, Frame, Section, Table, encode, link, when};
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

/// A schedule's actions: pause or resume (whichever applies) and trigger now. Two forms, so
/// pressing enter in a reason field does only the action that form is for.
#[component]
fn ScheduleActions(schedule: Schedule, csrf: String) -> impl IntoView {
    let id = schedule.id;
    let base = format!("/schedules/{}", encode(&schedule.name));
    let name = schedule.name.clone();
    let (verb, label, confirm) = if schedule.paused {
        (
            "resume",
            "Resume",
            " I confirm: fire again from the next due time",
        )
    } else {
        ("pause", "Pause", " I confirm: fire no more until resumed")
    };
    let toggle = format!("schedule-{id}-{verb}");
    let toggle_form = format!("{toggle}-form");
    let trigger = format!("schedule-{id}-trigger");
    let trigger_form = format!("{trigger}-form");
    view! {
        <details>
            <summary id=format!("schedule-{id}-actions")>"Pause, resume or trigger…"</summary>
            <form class="action" method="post" action=format!("{base}/{verb}") id=toggle_form data-schedule=name.clone()>
                <ReasonFields prefix=toggle.clone() csrf=csrf.clone() back="/schedules".to_owned() confirm=confirm />
                <button class="secondary" type="submit" id=toggle data-action=verb data-schedule=name.clone()>{format!("{label} {name}")}</button>
            </form>
            <form class="action" method="post" action=format!("{base}/trigger") id=trigger_form data-schedule=name.clone()>
                <ReasonFields prefix=trigger.clone() csrf=csrf back="/schedules".to_owned() confirm=" I confirm: submit the schedule's job now" />
                <button type="submit" id=trigger data-action="trigger" data-schedule=name.clone()>{format!("Trigger {name} now")}</button>
            </form>
        </details>
    }
}

#[component]
fn ScheduleCard(
    view: ScheduleView,
    #[prop(optional_no_strip)] csrf: Option<String>,
) -> impl IntoView {
    let actions =
        csrf.map(|csrf| view! { <ScheduleActions schedule=view.schedule.clone() csrf=csrf /> });
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
        schedule.job.spec.kind(),
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
            {actions}
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
    let csrf = frame.can_operate().then(|| frame.csrf());
    let cards = schedules
        .into_iter()
        .map(|view| view! { <ScheduleCard view=view csrf=csrf.clone() /> })
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
    let actions = frame.can_operate().then(|| RowActions {
        csrf: frame.csrf(),
        back: "/alerts".to_owned(),
    });
    let body = view! {
        <h1>"Alerts"</h1>
        <AlertsTable alerts=alerts actions=actions />
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

    fn schedule(id: i64, name: &str, paused: bool) -> Schedule {
        Schedule {
            id,
            name: name.into(),
            cron: "0 3 * * *".into(),
            timezone: "Europe/Paris".into(),
            job: SubmitJob::new(slipway_api::PipelineSpec {
                name: None,
                model: "digits".into(),
                deployment: None,
                steps: Vec::new(),
            }),
            misfire: Misfire::Skip,
            overlap: Overlap::Skip,
            on_drift: Some("digits".into()),
            paused,
            next_fire_times: if paused { Vec::new() } else { vec![at(30)] },
            last_fire_at: None,
            created_by: "alice".into(),
            created_at: at(0),
        }
    }

    #[test]
    fn schedules_alerts_and_audit() {
        let schedule = schedule(1, "nightly-digits", false);
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

    #[test]
    fn engineers_can_pause_resume_and_trigger_schedules() {
        let views = vec![
            ScheduleView {
                schedule: schedule(1, "nightly digits", false),
                history: Vec::new(),
            },
            ScheduleView {
                schedule: schedule(2, "weekly", true),
                history: Vec::new(),
            },
        ];
        let html = render_schedules(&frame(Role::Engineer), views.clone());
        assert!(
            html.contains(
                r#"action="/schedules/nightly%20digits/pause" id="schedule-1-pause-form""#
            ),
            "{html}"
        );
        assert!(html.contains(r#"action="/schedules/nightly%20digits/trigger""#));
        assert!(!html.contains("/schedules/nightly%20digits/resume"));
        assert!(
            html.contains(r#"action="/schedules/weekly/resume""#),
            "{html}"
        );
        assert!(!html.contains("/schedules/weekly/pause"));
        assert!(
            html.contains(
                r#"id="schedule-2-trigger" data-action="trigger" data-schedule="weekly""#
            ),
            "{html}"
        );
        assert!(html.contains(r#"<label for="schedule-2-resume-reason">"#));
        assert!(html.contains(r#"name="csrf" value="csrf-123""#));
        assert!(html.contains(r#"name="back" value="/schedules""#));

        let html = render_schedules(&frame(Role::Viewer), views);
        assert!(
            !html.contains("/pause") && !html.contains("/trigger"),
            "{html}"
        );
        assert!(!html.contains("/resume"));
    }

    #[test]
    fn engineers_can_acknowledge_open_alerts() {
        let open = alert("digits");
        let mut seen = alert("digits");
        seen.id = 2;
        seen.acknowledged_by = Some("bob".into());
        seen.acknowledged_at = Some(at(9));
        let html = render_alerts(&frame(Role::Engineer), vec![open.clone(), seen.clone()]);
        assert!(
            html.contains(r#"action="/alerts/1/acknowledge" id="alert-1-ack-form""#),
            "{html}"
        );
        assert!(html.contains(r#"id="alert-1-ack" data-action="acknowledge" data-alert="1""#));
        assert!(!html.contains("/alerts/2/acknowledge"), "{html}");
        assert!(html.contains("bob, 2026-11-29 09:09"));
        assert!(html.contains(r#"name="back" value="/alerts""#));
        assert!(html.contains(r#"name="confirm" value="yes" required"#));

        let html = render_alerts(&frame(Role::Viewer), vec![open, seen]);
        assert!(!html.contains("/acknowledge"), "{html}");
        assert!(!html.contains(">Action<"));
    }
}
