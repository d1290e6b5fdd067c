//! Tables shown on more than one page: changes (the audit log), jobs and alerts, and the
//! pieces of the action forms engineers get on them (a reason and a confirmation, as on the
//! deployment page).

use crate::layout::{Badge, Table, when};
use leptos::prelude::*;
use slipway_api::{Alert, AuditEvent, Job, JobState};

/// What the action forms in a table's rows need. Tables given none show no actions (viewers,
/// and the overview, which only summarises).
#[derive(Debug, Clone, Default)]
pub struct RowActions {
    /// The session's CSRF token, posted back by every form.
    pub csrf: String,
    /// The page to come back to after the action (its filters and page kept).
    pub back: String,
}

/// The fields every action form shares: the CSRF token, the page to come back to, a reason
/// for the audit log and a confirmation. `prefix` makes the ids unique on the page.
#[component]
pub fn ReasonFields(
    prefix: String,
    csrf: String,
    back: String,
    confirm: &'static str,
) -> impl IntoView {
    let reason_id = format!("{prefix}-reason");
    view! {
        <input type="hidden" name="csrf" value=csrf />
        <input type="hidden" name="back" value=back />
        <label for=reason_id.clone()>"Reason (written to the audit log)"</label>
        <input type="text" id=reason_id name="reason" required maxlength="1000" />
        <label><input type="checkbox" name="confirm" value="yes" required />{confirm}</label>
    }
}

/// A row's action tucked behind a disclosure, so a table of many rows stays compact; the
/// summary is reachable with the keyboard like a button.
fn disclosed(label: &'static str, id: String, form: AnyView) -> AnyView {
    view! {
        <details>
            <summary id=id>{label}</summary>
            {form}
        </details>
    }
    .into_any()
}

/// Characters of a note shown before the rest is tucked behind a disclosure.
const NOTE_CHARS: usize = 120;

/// A note that may be long (a job's error, an alert's message): cut at a word near
/// [`NOTE_CHARS`], with the whole text behind a `<details>` that opens without scripts.
pub fn long_text(text: String) -> AnyView {
    if text.chars().count() <= NOTE_CHARS {
        return text.into_any();
    }
    let cut: String = text.chars().take(NOTE_CHARS).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > NOTE_CHARS / 2 => cut[..space].to_owned(),
        _ => cut,
    };
    view! {
        <details class="note"><summary>{format!("{cut}…")}</summary><p>{text}</p></details>
    }
    .into_any()
}

/// A drift status in words a stakeholder reads, with its tone.
pub fn drift_words(status: Option<&str>) -> (&'static str, &'static str) {
    match status {
        Some("stable") => ("stable", "ok"),
        Some("warn") => ("drifting (warning)", "warn"),
        Some("alert") => ("drifted (alert)", "bad"),
        Some("insufficient_data") | None => ("not enough traffic yet", ""),
        Some(_) => ("cannot be judged", ""),
    }
}

/// The audit log: who did what, when and why.
#[component]
pub fn ChangesTable(changes: Vec<AuditEvent>) -> impl IntoView {
    let rows = changes
        .into_iter()
        .map(|event| {
            let target = target_link(&event.target_kind, &event.target_id);
            view! {
                <tr>
                    <td>{when(&event.at)}</td>
                    <td>{event.actor}</td>
                    <td><code>{event.action}</code></td>
                    <td>{target}</td>
                    <td>{event.reason.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table caption="Changes" id="changes">
            <thead><tr><th scope="col">"When (UTC)"</th><th scope="col">"Who"</th><th scope="col">"What"</th><th scope="col">"On"</th><th scope="col">"Why"</th></tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
}

/// A link to the page of an audited object, when it has one.
fn target_link(kind: &str, id: &str) -> AnyView {
    let text = format!("{kind} {id}");
    let base = id.split(':').next().unwrap_or(id);
    let href = match kind {
        "deployment" => Some(format!("/deployments/{}", crate::layout::encode(base))),
        "model" | "model_version" => Some(format!("/models/{}", crate::layout::encode(base))),
        "run" => Some(format!("/runs/{}", crate::layout::encode(base))),
        "job" => Some(format!("/jobs/{}", crate::layout::encode(base))),
        _ => None,
    };
    match href {
        Some(href) => view! { <a href=href>{text}</a> }.into_any(),
        None => view! { <span>{text}</span> }.into_any(),
    }
}

/// The action a job offers: cancel while it has not ended, retry once it failed or was
/// cancelled (what the API allows). Gives the label of a disclosure that shows the form.
pub fn job_action(job: &Job, actions: &RowActions) -> Option<(&'static str, AnyView)> {
    let id = job.id;
    let (verb, label, summary, confirm, class) = match job.state {
        JobState::Queued | JobState::Running if !job.cancel_requested => (
            "cancel",
            "Cancel",
            "Cancel…",
            " I confirm: stop this job (its work so far is lost)",
            Some("danger"),
        ),
        JobState::Failed | JobState::Cancelled => (
            "retry",
            "Retry",
            "Retry…",
            " I confirm: queue this job again",
            None,
        ),
        _ => return None,
    };
    let prefix = format!("job-{id}-{verb}");
    let form_id = format!("{prefix}-form");
    let form = view! {
        <form class="action" method="post" action=format!("/jobs/{id}/{verb}") id=form_id data-job=id>
            <ReasonFields prefix=prefix.clone() csrf=actions.csrf.clone() back=actions.back.clone() confirm=confirm />
            <button class=class type="submit" id=prefix data-action=verb data-job=id>{format!("{label} job #{id}")}</button>
        </form>
    }
    .into_any();
    Some((summary, form))
}

/// Jobs with their state and progress, and for engineers a cancel or retry form on each row.
#[component]
pub fn JobsTable(
    jobs: Vec<Job>,
    #[prop(optional_no_strip)] actions: Option<RowActions>,
) -> impl IntoView {
    let action_header = actions
        .is_some()
        .then(|| view! { <th scope="col">"Action"</th> });
    let rows = jobs
        .into_iter()
        .map(|job| {
            let action = actions.as_ref().map(|actions| {
                let form = job_action(&job, actions).map(|(summary, form)| {
                    disclosed(summary, format!("job-{}-actions", job.id), form)
                });
                view! { <td>{form}</td> }
            });
            let progress = if job.state.is_terminal() {
                String::new()
            } else {
                format!("{:.0} %", job.progress * 100.0)
            };
            let note = job
                .error
                .clone()
                .or(job.waiting_reason.clone())
                .or(job.progress_message.clone())
                .unwrap_or_default();
            view! {
                <tr>
                    <td><a href=format!("/jobs/{}", job.id)>{format!("#{}", job.id)}</a></td>
                    <td>{job.spec.kind().as_str()}</td>
                    <td><Badge text=job.state.to_string() /></td>
                    <td class="num">{progress}</td>
                    <td>{job.worker.unwrap_or_default()}</td>
                    <td>{job.created_by}</td>
                    <td>{when(&job.created_at)}</td>
                    <td>{long_text(note)}</td>
                    {action}
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table caption="Jobs" id="jobs">
            <thead><tr><th scope="col">"Job"</th><th scope="col">"Kind"</th><th scope="col">"State"</th><th scope="col" class="num">"Progress"</th><th scope="col">"Worker"</th><th scope="col">"By"</th><th scope="col">"Created (UTC)"</th><th scope="col">"Note"</th>{action_header}</tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
}

/// The acknowledge form of an open alert.
fn acknowledge_form(alert: &Alert, actions: &RowActions) -> AnyView {
    let id = alert.id;
    let prefix = format!("alert-{id}-ack");
    let form_id = format!("{prefix}-form");
    let form = view! {
        <form class="action" method="post" action=format!("/alerts/{id}/acknowledge") id=form_id data-alert=id>
            <ReasonFields prefix=prefix.clone() csrf=actions.csrf.clone() back=actions.back.clone() confirm=" I confirm: I am taking this alert on" />
            <button type="submit" id=prefix data-action="acknowledge" data-alert=id>{format!("Acknowledge alert #{id}")}</button>
        </form>
    }
    .into_any();
    disclosed("Acknowledge…", format!("alert-{id}-actions"), form)
}

/// Alerts raised by the guards, and for engineers an acknowledge form on each open one.
#[component]
pub fn AlertsTable(
    alerts: Vec<Alert>,
    #[prop(optional_no_strip)] actions: Option<RowActions>,
) -> impl IntoView {
    let action_header = actions
        .is_some()
        .then(|| view! { <th scope="col">"Action"</th> });
    let rows = alerts
        .into_iter()
        .map(|alert| {
            let action = actions.as_ref().map(|actions| {
                let form = alert
                    .acknowledged_at
                    .is_none()
                    .then(|| acknowledge_form(&alert, actions));
                view! { <td>{form}</td> }
            });
            let acknowledged = match (&alert.acknowledged_by, &alert.acknowledged_at) {
                (Some(by), Some(at)) => format!("{by}, {}", when(at)),
                (Some(by), None) => by.clone(),
                _ => "open".to_owned(),
            };
            view! {
                <tr>
                    <td>{when(&alert.created_at)}</td>
                    <td><a href=format!("/deployments/{}", crate::layout::encode(&alert.deployment))>{alert.deployment.clone()}</a></td>
                    <td>{alert.kind}</td>
                    <td><Badge text=alert.severity /></td>
                    <td>{long_text(alert.message)}</td>
                    <td>{acknowledged}</td>
                    {action}
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table caption="Alerts" id="alerts">
            <thead><tr><th scope="col">"Raised (UTC)"</th><th scope="col">"Deployment"</th><th scope="col">"Kind"</th><th scope="col">"Severity"</th><th scope="col">"Message"</th><th scope="col">"Acknowledged"</th>{action_header}</tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
}
