//! The detail screens of the registry and the machinery around it: a model (its versions with
//! their metrics and aliases, and which deployment serves each), a worker (the jobs it runs and
//! ran), a schedule (its firing history) and an audit entry (in full, wrapped).

use crate::data::{ModelData, ScheduleData, WorkerData};
use crate::table::when;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};
use slipway_api::{AuditEvent, Deployment};

/// Where `version` serves: `iris-prod primary`, `iris-prod canary 20%`, … (empty: nowhere).
fn serving(deployments: &[Deployment], version: u32) -> String {
    let mut places = Vec::new();
    for d in deployments {
        if d.spec.primary == version {
            places.push(format!("{} primary", d.name));
        }
        if let Some(canary) = d.spec.canary.filter(|c| c.version == version) {
            places.push(format!("{} canary {}%", d.name, canary.percent));
        }
        if d.spec.shadow == Some(version) {
            places.push(format!("{} shadow", d.name));
        }
    }
    places.join(", ")
}

fn dash(text: String) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

pub fn model(frame: &mut Frame, area: Rect, data: &ModelData) {
    let m = &data.model;
    let block = Block::bordered().title(format!(
        " Model {} · {} versions · updated {} ",
        m.name,
        m.version_count,
        when(&m.updated_at)
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [info, versions] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(3)]).areas(inner);
    let aliases: Vec<String> = m
        .aliases
        .iter()
        .map(|(alias, version)| format!("{alias} → v{version}"))
        .collect();
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(m.description.clone().unwrap_or_default()),
            Line::from(format!("aliases: {}", dash(aliases.join(", ")))),
        ]),
        info,
    );
    let rows = data.versions.iter().map(|v| {
        let metrics: Vec<String> = v
            .metrics
            .iter()
            .map(|(key, value)| format!("{key}={value:.4}"))
            .collect();
        Row::new(vec![
            format!("v{}", v.version),
            v.arch.clone(),
            dash(v.aliases.join(",")),
            dash(metrics.join(" ")),
            dash(serving(&data.deployments, v.version)),
            v.run_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".into()),
            when(&v.created_at),
        ])
    });
    let widths = [
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(12),
        Constraint::Fill(1),
        Constraint::Fill(2),
        Constraint::Length(5),
        Constraint::Length(16),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(
                Row::new([
                    "VER", "ARCH", "ALIASES", "METRICS", "DEPLOYED", "RUN", "CREATED",
                ])
                .bold(),
            )
            .block(Block::bordered().title(" Versions ")),
        versions,
    );
}

pub fn worker(frame: &mut Frame, area: Rect, data: &WorkerData) {
    let w = &data.worker;
    let block = Block::bordered().title(format!(" Worker {} · {} ", w.name, w.state));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [info, jobs] = Layout::vertical([Constraint::Length(2), Constraint::Min(3)]).areas(inner);
    let running: Vec<String> = w.running_jobs.iter().map(|id| id.to_string()).collect();
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(format!(
                "version {} · {} cores · {} GPUs · runs {} at once · labels {}",
                w.version,
                w.cpu_cores,
                w.cuda_devices,
                w.concurrency,
                dash(w.labels.join(","))
            )),
            Line::from(format!(
                "registered {} · last heartbeat {} · running now: {}",
                when(&w.registered_at),
                when(&w.last_heartbeat_at),
                dash(running.join(", "))
            )),
        ]),
        info,
    );
    let rows = data.jobs.iter().map(|j| {
        Row::new(vec![
            j.id.to_string(),
            j.spec.kind().to_string(),
            j.state.to_string(),
            format!("{}/{}", j.attempts, j.max_attempts),
            j.started_at
                .as_ref()
                .map(when)
                .unwrap_or_else(|| "-".into()),
            j.finished_at
                .as_ref()
                .map(when)
                .unwrap_or_else(|| "-".into()),
            j.error.clone().unwrap_or_default(),
        ])
    });
    let widths = [
        Constraint::Length(6),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(16),
        Constraint::Length(16),
        Constraint::Min(10),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(
                Row::new([
                    "JOB", "KIND", "STATE", "TRY", "STARTED", "FINISHED", "ERROR",
                ])
                .bold(),
            )
            .block(Block::bordered().title(" Jobs, running and recent ")),
        jobs,
    );
}

pub fn schedule(frame: &mut Frame, area: Rect, data: &ScheduleData) {
    let s = &data.schedule;
    let block = Block::bordered().title(format!(
        " Schedule {} · {} {} · {} ",
        s.name,
        s.cron,
        s.timezone,
        if s.paused { "paused" } else { "active" }
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [info, firings] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(3)]).areas(inner);
    let next: Vec<String> = s.next_fire_times.iter().map(when).collect();
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(format!(
                "runs {} · next {} · last {}",
                s.job.spec.kind(),
                dash(next.join(", ")),
                s.last_fire_at
                    .as_ref()
                    .map(when)
                    .unwrap_or_else(|| "-".into())
            )),
            Line::from(format!(
                "on drift of {} · by {} {}",
                s.on_drift.as_deref().unwrap_or("-"),
                s.created_by,
                when(&s.created_at)
            )),
        ]),
        info,
    );
    let rows = data.firings.iter().map(|f| {
        let style = match f.job_state.as_deref() {
            Some("failed" | "lost") => Style::new().fg(Color::Red),
            _ if f.outcome.ends_with("_skipped") => Style::new().fg(Color::Yellow),
            _ => Style::new(),
        };
        Row::new(vec![
            when(&f.due_at),
            when(&f.fired_at),
            f.outcome.clone(),
            f.job_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".into()),
            f.job_state.clone().unwrap_or_else(|| "-".into()),
            f.message.clone().unwrap_or_default(),
        ])
        .style(style)
    });
    let widths = [
        Constraint::Length(16),
        Constraint::Length(16),
        Constraint::Length(16),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Min(10),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(["DUE", "FIRED", "OUTCOME", "JOB", "STATE", "MESSAGE"]).bold())
            .block(Block::bordered().title(" Firings ")),
        firings,
    );
}

pub fn audit(frame: &mut Frame, area: Rect, event: &AuditEvent) {
    let block = Block::bordered().title(format!(" Audit entry {} ", event.id));
    let mut lines = vec![
        Line::from(format!(
            "at      {}",
            event.at.format("%Y-%m-%d %H:%M:%S UTC")
        )),
        Line::from(format!("actor   {}", event.actor)),
        Line::from(format!("action  {}", event.action)),
        Line::from(format!("target  {} {}", event.target_kind, event.target_id)),
        Line::from(format!(
            "reason  {}",
            event.reason.as_deref().unwrap_or("-")
        )),
    ];
    if let Some(details) = &event.details {
        lines.push(Line::from(""));
        lines.push(Line::from("details").bold());
        let text = serde_json::to_string_pretty(details).unwrap_or_default();
        lines.extend(text.lines().map(|line| Line::from(line.to_owned())));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
