//! Tables shown on more than one page: changes (the audit log), jobs and alerts.

use crate::layout::{Badge, Table, when};
use leptos::prelude::*;
use slipway_api::{Alert, AuditEvent, Job};

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

/// Jobs with their state and progress.
#[component]
pub fn JobsTable(jobs: Vec<Job>) -> impl IntoView {
    let rows = jobs
        .into_iter()
        .map(|job| {
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
                    <td>{job.kind}</td>
                    <td><Badge text=job.state.to_string() /></td>
                    <td class="num">{progress}</td>
                    <td>{job.worker.unwrap_or_default()}</td>
                    <td>{job.created_by}</td>
                    <td>{when(&job.created_at)}</td>
                    <td>{note}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table caption="Jobs" id="jobs">
            <thead><tr><th scope="col">"Job"</th><th scope="col">"Kind"</th><th scope="col">"State"</th><th scope="col" class="num">"Progress"</th><th scope="col">"Worker"</th><th scope="col">"By"</th><th scope="col">"Created (UTC)"</th><th scope="col">"Note"</th></tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
}

/// Alerts raised by the guards.
#[component]
pub fn AlertsTable(alerts: Vec<Alert>) -> impl IntoView {
    let rows = alerts
        .into_iter()
        .map(|alert| {
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
                    <td>{alert.message}</td>
                    <td>{acknowledged}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table caption="Alerts" id="alerts">
            <thead><tr><th scope="col">"Raised (UTC)"</th><th scope="col">"Deployment"</th><th scope="col">"Kind"</th><th scope="col">"Severity"</th><th scope="col">"Message"</th><th scope="col">"Acknowledged"</th></tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
}
