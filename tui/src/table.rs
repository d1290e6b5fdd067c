//! The table of each list view: its columns and the text of each cell. The filter, the sort
//! and the renderer read cells from here, so what `/` matches and `s` orders is exactly what is
//! on screen.

use crate::app::View;
use crate::data::{DeploymentHealth, Lists};
use chrono::{DateTime, Utc};
use ratatui::layout::Constraint;

/// A column: its header and its width.
pub type Column = (&'static str, Constraint);

/// The columns of `view`.
pub fn columns(view: View) -> &'static [Column] {
    use Constraint::{Fill, Length, Min};
    match view {
        // Names take what the figures leave: the whole width is used at any terminal size.
        View::Deployments => &[
            ("NAME", Fill(2)),
            ("MODEL", Fill(1)),
            ("LIVE", Length(5)),
            ("CANARY", Length(9)),
            ("SHADOW", Length(6)),
            ("REV", Length(4)),
            ("READY", Length(5)),
            ("REQ/S", Length(7)),
            ("P99", Length(9)),
            ("ERRORS", Length(7)),
            ("DRIFT", Length(9)),
            ("ALERTS", Length(6)),
        ],
        View::Models => &[
            ("NAME", Length(20)),
            ("LATEST", Length(7)),
            ("VERSIONS", Length(9)),
            ("ALIASES", Length(28)),
            ("UPDATED", Length(16)),
            ("DESCRIPTION", Min(10)),
        ],
        View::Runs => &[
            ("ID", Length(7)),
            ("NAME", Length(22)),
            ("STATUS", Length(9)),
            ("STARTED", Length(16)),
            ("BY", Length(10)),
            ("METRICS", Min(10)),
        ],
        View::Jobs => &[
            ("ID", Length(7)),
            ("KIND", Length(9)),
            ("STATE", Length(10)),
            ("PROGRESS", Length(9)),
            ("TRY", Length(4)),
            ("WORKER", Length(14)),
            ("BY", Length(10)),
            ("CREATED", Min(16)),
        ],
        View::Workers => &[
            ("NAME", Length(20)),
            ("STATE", Length(9)),
            ("CPU", Length(4)),
            ("GPU", Length(4)),
            ("SLOTS", Length(6)),
            ("RUNNING", Length(16)),
            ("HEARTBEAT", Min(16)),
        ],
        View::Schedules => &[
            ("NAME", Length(18)),
            ("CRON", Length(14)),
            ("ZONE", Length(12)),
            ("JOB", Length(9)),
            ("STATE", Length(7)),
            ("NEXT", Length(16)),
            ("LAST", Min(16)),
        ],
        View::Alerts => &[
            ("ID", Length(5)),
            ("DEPLOYMENT", Length(16)),
            ("KIND", Length(16)),
            ("SEVERITY", Length(8)),
            ("RAISED", Length(16)),
            ("ACK", Length(10)),
            ("MESSAGE", Min(10)),
        ],
        View::Contexts => &[
            ("", Length(1)),
            ("NAME", Length(20)),
            ("SERVER", Fill(2)),
            ("TOKEN", Fill(1)),
        ],
        View::Audit => &[
            ("AT", Length(16)),
            ("ACTOR", Length(12)),
            ("ACTION", Length(18)),
            ("TARGET", Length(22)),
            ("REASON", Min(10)),
        ],
    }
}

/// The number of rows of `view`.
pub fn len(lists: &Lists, view: View) -> usize {
    match view {
        View::Deployments => lists.deployments.len(),
        View::Models => lists.models.len(),
        View::Runs => lists.runs.len(),
        View::Jobs => lists.jobs.len(),
        View::Workers => lists.workers.len(),
        View::Schedules => lists.schedules.len(),
        View::Alerts => lists.alerts.len(),
        View::Audit => lists.audit.len(),
        View::Contexts => lists.contexts.len(),
    }
}

/// A time as the tables show it.
pub fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

fn when_opt(at: Option<&DateTime<Utc>>) -> String {
    at.map(when).unwrap_or_else(|| "-".to_owned())
}

/// The cells of row `index` of `view` (empty when out of range).
pub fn cells(lists: &Lists, view: View, index: usize) -> Vec<String> {
    match view {
        View::Deployments => lists.deployments.get(index).map(|d| {
            let mut row = vec![
                d.name.clone(),
                d.spec.model.clone(),
                format!("v{}", d.spec.primary),
                d.spec
                    .canary
                    .map(|c| format!("v{} {}%", c.version, c.percent))
                    .unwrap_or_else(|| "-".into()),
                d.spec
                    .shadow
                    .map(|v| format!("v{v}"))
                    .unwrap_or_else(|| "-".into()),
                d.revision.to_string(),
                if d.ready { "yes" } else { "no" }.into(),
            ];
            row.extend(health_cells(lists.health.get(&d.name)));
            row
        }),
        View::Models => lists.models.get(index).map(|m| {
            vec![
                m.name.clone(),
                m.latest_version
                    .map(|v| format!("v{v}"))
                    .unwrap_or_else(|| "-".into()),
                m.version_count.to_string(),
                m.aliases
                    .iter()
                    .map(|(alias, v)| format!("{alias}=v{v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                when(&m.updated_at),
                m.description.clone().unwrap_or_default(),
            ]
        }),
        View::Runs => lists.runs.get(index).map(|r| {
            let metrics: Vec<String> = r
                .metrics
                .iter()
                .take(3)
                .map(|(key, value)| format!("{key}={value:.4}"))
                .collect();
            vec![
                r.id.to_string(),
                r.name.clone(),
                r.status.to_string(),
                when(&r.start_time),
                r.created_by.clone(),
                metrics.join(" "),
            ]
        }),
        View::Jobs => lists.jobs.get(index).map(|j| {
            vec![
                j.id.to_string(),
                j.spec.kind().to_string(),
                j.state.to_string(),
                format!("{:>3.0}%", j.progress * 100.0),
                format!("{}/{}", j.attempts, j.max_attempts),
                j.worker.clone().unwrap_or_else(|| "-".into()),
                j.created_by.clone(),
                when(&j.created_at),
            ]
        }),
        View::Workers => lists.workers.get(index).map(|w| {
            vec![
                w.name.clone(),
                w.state.to_string(),
                w.cpu_cores.to_string(),
                w.cuda_devices.to_string(),
                w.concurrency.to_string(),
                w.running_jobs
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                when(&w.last_heartbeat_at),
            ]
        }),
        View::Schedules => lists.schedules.get(index).map(|s| {
            vec![
                s.name.clone(),
                s.cron.clone(),
                s.timezone.clone(),
                s.job.spec.kind().to_string(),
                if s.paused { "paused" } else { "active" }.into(),
                when_opt(s.next_fire_times.first()),
                when_opt(s.last_fire_at.as_ref()),
            ]
        }),
        View::Alerts => lists.alerts.get(index).map(|a| {
            vec![
                a.id.to_string(),
                a.deployment.clone(),
                a.kind.clone(),
                a.severity.clone(),
                when(&a.created_at),
                a.acknowledged_by.clone().unwrap_or_else(|| "-".into()),
                a.message.clone(),
            ]
        }),
        View::Audit => lists.audit.get(index).map(|e| {
            vec![
                when(&e.at),
                e.actor.clone(),
                e.action.clone(),
                format!("{}/{}", e.target_kind, e.target_id),
                e.reason.clone().unwrap_or_default(),
            ]
        }),
        View::Contexts => lists.contexts.get(index).map(|c| {
            let current = lists.context.as_deref() == Some(c.name.as_str());
            vec![
                if current { "*" } else { "" }.to_owned(),
                c.name.clone(),
                c.server.clone(),
                c.token.describe(),
            ]
        }),
    }
    .unwrap_or_default()
}

/// The health columns of a deployment: requests/s over every version, the primary's p99 and
/// error rate, drift in a word, open alerts.
fn health_cells(health: Option<&DeploymentHealth>) -> [String; 5] {
    let dash = || "-".to_owned();
    let metrics = health.and_then(|health| health.metrics.as_ref());
    let primary = metrics.and_then(|metrics| {
        metrics
            .versions
            .iter()
            .find(|version| version.variant == "primary")
    });
    let rate = metrics
        .map(|metrics| {
            let total: f64 = metrics.versions.iter().map(|v| v.requests_per_sec).sum();
            format!("{total:.1}")
        })
        .unwrap_or_else(dash);
    let p99 = primary
        .and_then(|primary| primary.p99_ms)
        .map(|ms| format!("{ms:.1} ms"))
        .unwrap_or_else(dash);
    let errors = primary
        .map(|primary| format!("{:.2}%", primary.error_rate * 100.0))
        .unwrap_or_else(dash);
    let drift = match health.and_then(|health| health.drift.as_deref()) {
        Some("insufficient_data") => "too few".to_owned(),
        Some(status) => status.to_owned(),
        None => dash(),
    };
    let alerts = health
        .map(|health| health.open_alerts.to_string())
        .unwrap_or_else(dash);
    [rate, p99, errors, drift, alerts]
}

/// Orders two cells: as numbers when both read as one (`v3`, `12.5 ms`, `0.40%`), otherwise
/// as text, so figures sort by value rather than by their first digit.
pub fn compare_cells(a: &str, b: &str) -> std::cmp::Ordering {
    fn figure(cell: &str) -> Option<f64> {
        let digits: String = cell
            .trim_start_matches('v')
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
            .collect();
        digits.parse().ok()
    }
    match (figure(a), figure(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

/// `value` as pretty JSON (what the server sent, for `y`).
pub fn to_json(value: &impl serde::Serialize) -> Option<String> {
    serde_json::to_string_pretty(value).ok()
}

/// Row `index` of `view` as pretty JSON (a deployment with its health).
pub fn json(lists: &Lists, view: View, index: usize) -> Option<String> {
    match view {
        View::Deployments => {
            let deployment = lists.deployments.get(index)?;
            let health = lists.health.get(&deployment.name);
            to_json(&serde_json::json!({
                "deployment": deployment,
                "metrics": health.and_then(|health| health.metrics.as_ref()),
                "drift": health.and_then(|health| health.drift.as_ref()),
                "open_alerts": health.map(|health| health.open_alerts),
            }))
        }
        View::Models => to_json(lists.models.get(index)?),
        View::Runs => to_json(lists.runs.get(index)?),
        View::Jobs => to_json(lists.jobs.get(index)?),
        View::Workers => to_json(lists.workers.get(index)?),
        View::Schedules => to_json(lists.schedules.get(index)?),
        View::Alerts => to_json(lists.alerts.get(index)?),
        View::Audit => to_json(lists.audit.get(index)?),
        // Never the token itself.
        View::Contexts => {
            let context = lists.contexts.get(index)?;
            to_json(&serde_json::json!({
                "name": context.name,
                "server": context.server,
                "token": context.token.describe(),
            }))
        }
    }
}

/// What identifies row `index` of `view` across refreshes (its id or name).
pub fn key(lists: &Lists, view: View, index: usize) -> String {
    match view {
        View::Audit => lists.audit.get(index).map(|e| e.id.to_string()),
        View::Deployments => lists.deployments.get(index).map(|d| d.name.clone()),
        View::Models => lists.models.get(index).map(|m| m.name.clone()),
        View::Runs => lists.runs.get(index).map(|r| r.id.to_string()),
        View::Jobs => lists.jobs.get(index).map(|j| j.id.to_string()),
        View::Workers => lists.workers.get(index).map(|w| w.name.clone()),
        View::Schedules => lists.schedules.get(index).map(|s| s.name.clone()),
        View::Alerts => lists.alerts.get(index).map(|a| a.id.to_string()),
        View::Contexts => lists.contexts.get(index).map(|c| c.name.clone()),
    }
    .unwrap_or_default()
}

/// The searchable text of every row of `view`: its cells, lower-cased, one line each (built
/// once per list change, so a filter keystroke is one substring search per row).
pub fn haystack(lists: &Lists, view: View) -> Vec<String> {
    (0..len(lists, view))
        .map(|index| cells(lists, view, index).join("\n").to_lowercase())
        .collect()
}

/// The indices of the rows whose text (from [`haystack`]) contains `filter` (any case).
pub fn matching(haystack: &[String], filter: &str) -> Vec<usize> {
    let needle = filter.to_lowercase();
    haystack
        .iter()
        .enumerate()
        .filter(|(_, text)| text.contains(&needle))
        .map(|(index, _)| index)
        .collect()
}
