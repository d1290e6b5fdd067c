//! Jobs (with a state filter and pages), one job with its spec, result and logs, and the
//! workers that run them. Engineers get a cancel or retry form on each job.

use super::common::{JobsTable, RowActions, job_action};
use crate::layout::{Badge, Frame, Section, Table, link, when};
use leptos::prelude::*;
use slipway_api::{Job, JobLogLine, JobState, Worker};

/// One page of jobs.
#[derive(Debug, Clone, Default)]
pub struct JobsView {
    pub jobs: Vec<Job>,
    /// The state filter (empty: all).
    pub state: String,
    pub page_token: String,
    pub next_page_token: Option<String>,
}

/// A job with its logs.
#[derive(Debug, Clone)]
pub struct JobView {
    pub job: Job,
    /// Oldest first.
    pub logs: Vec<JobLogLine>,
    /// Whether more lines exist than shown.
    pub logs_truncated: bool,
}

/// The jobs page as a complete HTML document.
pub fn render_jobs(frame: &Frame, view: JobsView) -> String {
    let options = JobState::ALL
        .iter()
        .map(|state| {
            let selected = view.state == state.as_str();
            view! { <option value=state.as_str() selected=selected>{state.as_str()}</option> }
        })
        .collect_view();
    let first = (!view.page_token.is_empty()).then(|| {
        view! { <a href=link("/jobs", &[("state", &view.state)])>"First page"</a> }
    });
    let next = view.next_page_token.as_ref().map(|token| {
        let href = link("/jobs", &[("state", &view.state), ("page_token", token)]);
        view! { <a href=href rel="next">"Next page"</a> }
    });
    // An action brings the engineer back to this very page: same filter, same page.
    let actions = frame.can_operate().then(|| RowActions {
        csrf: frame.csrf(),
        back: link(
            "/jobs",
            &[("state", &view.state), ("page_token", &view.page_token)],
        ),
    });
    let body = view! {
        <h1>"Jobs"</h1>
        <form class="filters" method="get" action="/jobs">
            <label for="state">"State"
                <select id="state" name="state"><option value="">"any"</option>{options}</select>
            </label>
            <button type="submit">"Show"</button>
        </form>
        <JobsTable jobs=view.jobs actions=actions />
        <nav class="pager" aria-label="Pages">{first}{next}</nav>
    }
    .to_html();
    frame.document("Jobs", Section::Jobs, body)
}

/// The spec object alone, as submitted (the kind is shown in the title).
fn pretty_spec(spec: &slipway_api::JobSpec) -> String {
    match spec.spec_json() {
        Ok(value) => pretty(&value),
        Err(err) => format!("(cannot show the spec: {err})"),
    }
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A job's page as a complete HTML document.
pub fn render_job(frame: &Frame, view: JobView) -> String {
    let job = view.job;
    let title = format!("Job #{} {}", job.id, job.spec.kind());
    let parent = job
        .parent_id
        .map(|id| view! { <dt>"Pipeline"</dt><dd><a href=format!("/jobs/{id}")>{format!("#{id}")}</a></dd> });
    let schedule = job
        .schedule_id
        .map(|id| view! { <dt>"Schedule"</dt><dd><a href="/schedules">{format!("schedule {id}")}</a></dd> });
    let problem = job
        .error
        .clone()
        .or(job.waiting_reason.clone())
        .map(|text| view! { <p class="flash bad">{text}</p> });
    let result = job.result.as_ref().map(
        |result| view! { <h2>"Result"</h2><pre class="logs" tabindex="0">{pretty(result)}</pre> },
    );
    let logs = view
        .logs
        .iter()
        .map(|line| {
            format!(
                "{} [attempt {}] {:5} {}\n",
                line.at.format("%H:%M:%S"),
                line.attempt,
                line.level,
                line.message
            )
        })
        .collect::<String>();
    let truncated = view
        .logs_truncated
        .then(|| view! { <p class="muted">"Only the first lines are shown."</p> });
    let actions = frame
        .can_operate()
        .then(|| {
            let actions = RowActions {
                csrf: frame.csrf(),
                back: format!("/jobs/{}", job.id),
            };
            job_action(&job, &actions).map(|(_, form)| {
                view! { <section aria-labelledby="h-actions"><h2 id="h-actions">"Actions"</h2>{form}</section> }
            })
        })
        .flatten();
    let body = view! {
        <nav aria-label="Breadcrumb"><p><a href="/jobs">"Jobs"</a>" › "{title.clone()}</p></nav>
        <h1>{title.clone()}" "<Badge text=job.state.to_string() /></h1>
        {problem}
        {actions}
        <dl class="facts" id="facts">
            <dt>"Progress"</dt><dd>{format!("{:.0} %", job.progress * 100.0)}" "{job.progress_message.clone().unwrap_or_default()}</dd>
            <dt>"Attempts"</dt><dd>{format!("{} of {}", job.attempts, job.max_attempts)}</dd>
            <dt>"Worker"</dt><dd>{job.worker.clone().unwrap_or_else(|| "–".into())}</dd>
            <dt>"Priority"</dt><dd>{job.priority}</dd>
            <dt>"By"</dt><dd>{job.created_by.clone()}</dd>
            <dt>"Created"</dt><dd>{when(&job.created_at)}" UTC"</dd>
            <dt>"Started"</dt><dd>{job.started_at.as_ref().map(when).unwrap_or_else(|| "–".into())}</dd>
            <dt>"Finished"</dt><dd>{job.finished_at.as_ref().map(when).unwrap_or_else(|| "–".into())}</dd>
            {parent}
            {schedule}
        </dl>
        <h2>"Spec"</h2>
        <pre class="logs" tabindex="0">{pretty_spec(&job.spec)}</pre>
        {result}
        <h2>"Logs"</h2>
        <pre class="logs" id="logs" tabindex="0">{logs}</pre>
        {truncated}
    }
    .to_html();
    frame.document(&title, Section::Jobs, body)
}

/// The workers page as a complete HTML document.
pub fn render_workers(frame: &Frame, workers: Vec<Worker>) -> String {
    let rows = workers
        .into_iter()
        .map(|worker| {
            let running = worker
                .running_jobs
                .iter()
                .map(|id| view! { <a href=format!("/jobs/{id}")>{format!("#{id} ")}</a> })
                .collect_view();
            view! {
                <tr>
                    <td>{worker.name}</td>
                    <td><Badge text=worker.state.to_string() /></td>
                    <td>{worker.version}</td>
                    <td class="num">{worker.cpu_cores}</td>
                    <td class="num">{worker.cuda_devices}</td>
                    <td>{worker.labels.join(", ")}</td>
                    <td class="num">{worker.concurrency}</td>
                    <td>{running}</td>
                    <td>{when(&worker.last_heartbeat_at)}</td>
                </tr>
            }
        })
        .collect_view();
    let body = view! {
        <h1>"Workers"</h1>
        <Table caption="Workers" id="workers">
            <thead><tr><th scope="col">"Worker"</th><th scope="col">"State"</th><th scope="col">"Version"</th><th scope="col" class="num">"CPU cores"</th><th scope="col" class="num">"CUDA devices"</th><th scope="col">"Labels"</th><th scope="col" class="num">"Concurrency"</th><th scope="col">"Running"</th><th scope="col">"Last heartbeat (UTC)"</th></tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
    .to_html();
    frame.document("Workers", Section::Workers, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixtures::*;
    use slipway_api::{Role, WorkerState};

    #[test]
    fn jobs_job_logs_and_workers() {
        let view = JobsView {
            jobs: vec![job(12)],
            state: "running".into(),
            page_token: String::new(),
            next_page_token: Some("a12".into()),
        };
        let html = render_jobs(&frame(Role::Viewer), view);
        assert!(html.contains("<title>Jobs · Slipway</title>"));
        assert!(
            html.contains(r#"<option value="running" selected"#),
            "{html}"
        );
        assert!(
            html.contains("/jobs?state=running&amp;page_token=a12"),
            "{html}"
        );

        let view = JobView {
            job: job(12),
            logs: vec![JobLogLine {
                id: 1,
                attempt: 1,
                at: at(2),
                level: "info".into(),
                message: "epoch 1 <loss> 0.5".into(),
            }],
            logs_truncated: false,
        };
        let html = render_job(&frame(Role::Viewer), view);
        assert!(html.contains("<title>Job #12 train · Slipway</title>"));
        assert!(
            html.contains("[attempt 1] info  epoch 1 &lt;loss&gt; 0.5"),
            "{html}"
        );
        assert!(
            html.contains("&quot;dataset&quot;: &quot;digits&quot;")
                || html.contains("\"dataset\": \"digits\""),
            "{html}"
        );

        let worker = Worker {
            id: 1,
            name: "embedded".into(),
            version: "0.1.0".into(),
            cpu_cores: 2,
            cuda_devices: 0,
            labels: vec!["cpu".into()],
            concurrency: 1,
            state: WorkerState::Active,
            registered_at: at(0),
            last_heartbeat_at: at(9),
            running_jobs: vec![12],
            allow_commands: false,
        };
        let html = render_workers(&frame(Role::Viewer), vec![worker]);
        assert!(html.contains("embedded"));
        assert!(html.contains(r#"<a href="/jobs/12">"#), "{html}");
    }

    #[test]
    fn engineers_can_cancel_running_jobs_and_retry_failed_ones() {
        let mut failed = job(11);
        failed.state = JobState::Failed;
        let mut succeeded = job(10);
        succeeded.state = JobState::Succeeded;
        let view = JobsView {
            jobs: vec![job(12), failed.clone(), succeeded],
            state: String::new(),
            page_token: "k13".into(),
            next_page_token: None,
        };
        let html = render_jobs(&frame(Role::Engineer), view.clone());
        assert!(
            html.contains(
                r#"method="post" action="/jobs/12/cancel" id="job-12-cancel-form" data-job="12""#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"id="job-12-cancel" data-action="cancel""#),
            "{html}"
        );
        assert!(html.contains(r#"action="/jobs/11/retry""#), "{html}");
        assert!(
            !html.contains("/jobs/10/"),
            "a succeeded job offers nothing: {html}"
        );
        assert!(html.contains(r#"<summary id="job-12-actions">Cancel…</summary>"#));
        assert!(html.contains(r#"name="csrf" value="csrf-123""#));
        // The action comes back to this page of the list.
        assert!(
            html.contains(r#"name="back" value="/jobs?page_token=k13""#),
            "{html}"
        );
        assert!(
            html.contains(r#"<label for="job-12-cancel-reason">"#),
            "{html}"
        );
        assert!(html.contains(r#"id="job-12-cancel-reason" name="reason" required"#));

        let html = render_jobs(&frame(Role::Viewer), view);
        assert!(
            !html.contains("/cancel") && !html.contains("/retry"),
            "{html}"
        );
        assert!(!html.contains(">Action<"));

        let page = |job, role| {
            let view = JobView {
                job,
                logs: Vec::new(),
                logs_truncated: false,
            };
            render_job(&frame(role), view)
        };
        let html = page(failed.clone(), Role::Engineer);
        assert!(html.contains(r#"action="/jobs/11/retry""#), "{html}");
        assert!(html.contains(r#"name="back" value="/jobs/11""#), "{html}");
        assert!(!page(failed, Role::Viewer).contains("/retry"));
        let mut stopping = job(12);
        stopping.cancel_requested = true;
        assert!(!page(stopping, Role::Engineer).contains("/cancel"));
    }
}
