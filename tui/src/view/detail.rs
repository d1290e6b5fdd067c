//! The detail screens: a deployment (what serves which share of traffic, revisions, live
//! metrics as sparklines, drift bars, open alerts), a run (parameters, tags, metric curves,
//! artifacts) and a job (state, progress, log tail).

use crate::app::{App, Detail};
use crate::data::{DeploymentData, JobData, RunData};
use crate::table::when;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Chart, Dataset, Gauge, GraphType, Paragraph, Row, Sparkline, Table, Wrap,
};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, detail: &Detail) {
    match detail {
        Detail::Deployment(name) => match app
            .deployment
            .as_ref()
            .filter(|d| &d.deployment.name == name)
        {
            Some(data) => deployment(frame, area, data),
            None => loading(frame, area, &format!(" Deployment {name} ")),
        },
        Detail::Run(id) => match app.run.as_ref().filter(|r| r.detail.run.id == *id) {
            Some(data) => run(frame, area, data),
            None => loading(frame, area, &format!(" Run {id} ")),
        },
        Detail::Job(id) => match app.job.as_ref().filter(|j| j.job.id == *id) {
            Some(data) => job(frame, area, data, app.follow),
            None => loading(frame, area, &format!(" Job {id} ")),
        },
        Detail::Model(name) => match app.model.as_ref().filter(|m| &m.model.name == name) {
            Some(data) => super::inspect::model(frame, area, data),
            None => loading(frame, area, &format!(" Model {name} ")),
        },
        Detail::Worker(id) => match app.worker.as_ref().filter(|w| w.worker.id == *id) {
            Some(data) => super::inspect::worker(frame, area, data),
            None => loading(frame, area, &format!(" Worker {id} ")),
        },
        Detail::Schedule(name) => {
            match app.schedule.as_ref().filter(|s| &s.schedule.name == name) {
                Some(data) => super::inspect::schedule(frame, area, data),
                None => loading(frame, area, &format!(" Schedule {name} ")),
            }
        }
        Detail::Audit(id) => match app.lists.audit.iter().find(|a| a.id == *id) {
            Some(event) => super::inspect::audit(frame, area, event),
            None => loading(frame, area, &format!(" Audit entry {id} ")),
        },
    }
}

fn loading(frame: &mut Frame, area: Rect, title: &str) {
    frame.render_widget(
        Paragraph::new("loading…").block(Block::bordered().title(title)),
        area,
    );
}

fn deployment(frame: &mut Frame, area: Rect, data: &DeploymentData) {
    let d = &data.deployment;
    let block = Block::bordered().title(format!(
        " Deployment {} · model {} · revision {} · {} ",
        d.name,
        d.spec.model,
        d.revision,
        if d.ready { "ready" } else { "not ready" }
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [serving, middle, bottom] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Min(4),
    ])
    .areas(inner);

    // Who serves what share, with the live numbers of each version.
    let canary = d.spec.canary.map(|c| c.percent).unwrap_or(0.0);
    let mut variants = vec![("primary", d.spec.primary, format!("{:.0}%", 100.0 - canary))];
    if let Some(c) = d.spec.canary {
        variants.push(("canary", c.version, format!("{:.0}%", c.percent)));
    }
    if let Some(shadow) = d.spec.shadow {
        variants.push(("shadow", shadow, "mirror".to_owned()));
    }
    let rows = variants.into_iter().map(|(role, version, traffic)| {
        let live = data.metrics.as_ref().and_then(|m| {
            m.versions
                .iter()
                .find(|v| v.version == version && v.variant == role)
        });
        let ms = |value: Option<f64>| {
            value
                .map(|v| format!("{v:.1}"))
                .unwrap_or_else(|| "-".into())
        };
        Row::new(vec![
            role.to_owned(),
            format!("v{version}"),
            traffic,
            live.map(|v| format!("{:.2}", v.requests_per_sec))
                .unwrap_or_else(|| "-".into()),
            ms(live.and_then(|v| v.p50_ms)),
            ms(live.and_then(|v| v.p99_ms)),
            live.map(|v| format!("{:.2}%", v.error_rate * 100.0))
                .unwrap_or_else(|| "-".into()),
        ])
    });
    let widths = [7, 8, 8, 8, 8, 8, 8].map(Constraint::Length);
    frame.render_widget(
        Table::new(rows, widths).header(
            Row::new([
                "ROLE", "VERSION", "TRAFFIC", "REQ/S", "P50 MS", "P99 MS", "ERRORS",
            ])
            .bold(),
        ),
        serving,
    );

    let [sparks, drift] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(middle);
    sparklines(frame, sparks, data);
    drift_bars(frame, drift, data);

    let [revisions, alerts] =
        Layout::horizontal([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(bottom);
    let rows = data.revisions.iter().map(|r| {
        // A revision that switched models names the model it switched to.
        let mut serving = match &r.previous {
            Some(previous) if previous.model != r.spec.model => {
                format!("{} v{}", r.spec.model, r.spec.primary)
            }
            _ => format!("v{}", r.spec.primary),
        };
        if let Some(c) = r.spec.canary {
            serving.push_str(&format!("+v{}@{}%", c.version, c.percent));
        }
        Row::new(vec![
            r.revision.to_string(),
            r.action.clone(),
            serving,
            r.actor.clone(),
            when(&r.created_at),
            r.reason.clone().unwrap_or_default(),
        ])
    });
    let widths = [
        Constraint::Length(4),
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(16),
        Constraint::Min(6),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(["REV", "ACTION", "SERVING", "WHO", "WHEN", "WHY"]).bold())
            .block(Block::bordered().title(" Revisions ")),
        revisions,
    );
    let lines: Vec<Line> = if data.alerts.is_empty() {
        vec![Line::from("none").dim()]
    } else {
        data.alerts
            .iter()
            .map(|a| {
                let colour = if a.severity == "alert" {
                    Color::Red
                } else {
                    Color::Yellow
                };
                Line::from(vec![
                    Span::styled(format!("{} ", a.severity), Style::new().fg(colour)),
                    format!("#{} {}: {}", a.id, a.kind, a.message).into(),
                ])
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Open alerts ")),
        alerts,
    );
}

/// Requests per second and p99 latency of the primary over the last hour, per minute.
fn sparklines(frame: &mut Frame, area: Rect, data: &DeploymentData) {
    let primary = data.deployment.spec.primary;
    let minutes: Vec<_> = data
        .history
        .iter()
        .filter(|m| m.version == primary)
        .collect();
    let rps: Vec<u64> = minutes.iter().map(|m| m.requests).collect();
    let p99: Vec<u64> = minutes
        .iter()
        .map(|m| m.p99_ms.unwrap_or(0.0).round() as u64)
        .collect();
    let errors: u64 = minutes.iter().map(|m| m.errors).sum();
    let requests: u64 = rps.iter().sum();
    let rate = if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64 * 100.0
    };
    let last_rps = rps.last().map(|r| *r as f64 / 60.0).unwrap_or(0.0);
    let last_p99 = p99.last().copied().unwrap_or(0);
    let [a, b, c] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Length(2),
    ])
    .areas(area);
    frame.render_widget(
        Sparkline::default()
            .data(&rps)
            .style(Style::new().fg(Color::Cyan))
            .block(Block::new().title(format!("requests/s (per minute, 1 h): {last_rps:.2}"))),
        a,
    );
    frame.render_widget(
        Sparkline::default()
            .data(&p99)
            .style(Style::new().fg(Color::Magenta))
            .block(Block::new().title(format!("p99 latency ms: {last_p99}"))),
        b,
    );
    let style = if rate > 5.0 {
        Style::new().fg(Color::Red)
    } else {
        Style::new()
    };
    frame.render_widget(
        Paragraph::new(format!(
            "error rate (1 h): {rate:.2}% of {requests} requests"
        ))
        .style(style),
        c,
    );
}

/// One bar per feature, as long as its PSI (full width at PSI 0.5).
fn drift_bars(frame: &mut Frame, area: Rect, data: &DeploymentData) {
    let Some(drift) = &data.drift else {
        frame.render_widget(Paragraph::new("drift: no live data yet").dim(), area);
        return;
    };
    let mut lines = vec![Line::from(format!(
        "drift of v{} over {} rows: {}",
        drift.version, drift.rows, drift.status
    ))];
    let bar_width = usize::from(area.width.saturating_sub(28)).max(4);
    for feature in drift
        .features
        .iter()
        .take(usize::from(area.height.saturating_sub(1)))
    {
        let filled = ((feature.psi / 0.5).clamp(0.0, 1.0) * bar_width as f64).round() as usize;
        let colour = match feature.status.as_str() {
            "alert" => Color::Red,
            "warn" => Color::Yellow,
            _ => Color::Green,
        };
        lines.push(Line::from(vec![
            format!("{:<14.14} ", feature.feature).into(),
            Span::styled("█".repeat(filled), Style::new().fg(colour)),
            "░".repeat(bar_width - filled).dim(),
            format!(" {:.3}", feature.psi).into(),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn run(frame: &mut Frame, area: Rect, data: &RunData) {
    let r = &data.detail.run;
    let block = Block::bordered().title(format!(" Run {} · {} · {} ", r.id, r.name, r.status));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [info, lists, charts] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(8),
        Constraint::Min(6),
    ])
    .areas(inner);
    let seed = data
        .detail
        .seed
        .map(|s| s.to_string())
        .unwrap_or_else(|| "-".into());
    let digest = data.detail.dataset_digest.as_deref().unwrap_or("-");
    frame.render_widget(
        Paragraph::new(format!(
            "started {} by {} · seed {seed} · data {:.12}",
            when(&r.start_time),
            r.created_by,
            digest
        )),
        info,
    );
    let [params, tags, artifacts] = Layout::horizontal([
        Constraint::Percentage(34),
        Constraint::Percentage(33),
        Constraint::Percentage(33),
    ])
    .areas(lists);
    let pairs = |map: &std::collections::BTreeMap<String, String>| -> Vec<Line<'static>> {
        map.iter()
            .map(|(k, v)| Line::from(format!("{k} = {v}")))
            .collect()
    };
    frame.render_widget(
        Paragraph::new(pairs(&data.detail.params)).block(Block::bordered().title(" Parameters ")),
        params,
    );
    frame.render_widget(
        Paragraph::new(pairs(&data.detail.tags)).block(Block::bordered().title(" Tags ")),
        tags,
    );
    let files: Vec<Line> = data
        .detail
        .artifacts
        .iter()
        .map(|a| Line::from(format!("{} ({} B)", a.path, a.size)))
        .collect();
    frame.render_widget(
        Paragraph::new(files).block(Block::bordered().title(" Artifacts ")),
        artifacts,
    );
    curves(frame, charts, data);
}

/// One chart per metric, side by side.
fn curves(frame: &mut Frame, area: Rect, data: &RunData) {
    if data.curves.is_empty() {
        frame.render_widget(Paragraph::new("no metric history").dim(), area);
        return;
    }
    let count = u32::try_from(data.curves.len()).unwrap_or(1);
    let areas = Layout::horizontal((0..count).map(|_| Constraint::Ratio(1, count))).split(area);
    let colours = [Color::Cyan, Color::Magenta, Color::Yellow, Color::Green];
    for ((curve, area), colour) in data
        .curves
        .iter()
        .zip(areas.iter())
        .zip(colours.iter().cycle())
    {
        let points: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|p| (p.step as f64, p.value))
            .collect();
        let (x_min, x_max) = bounds(points.iter().map(|p| p.0));
        let (y_min, y_max) = bounds(points.iter().map(|p| p.1));
        let dataset = Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(*colour))
            .data(&points);
        let last = points.last().map(|p| p.1).unwrap_or(0.0);
        let chart = Chart::new(vec![dataset])
            .block(Block::bordered().title(format!(" {} {last:.4} ", curve.key)))
            .x_axis(
                Axis::default()
                    .bounds([x_min, x_max])
                    .labels([format!("{x_min:.0}"), format!("{x_max:.0}")]),
            )
            .y_axis(
                Axis::default()
                    .bounds([y_min, y_max])
                    .labels([format!("{y_min:.3}"), format!("{y_max:.3}")]),
            );
        frame.render_widget(chart, *area);
    }
}

/// The range of `values`, widened when flat so the chart has room to draw.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !min.is_finite() || !max.is_finite() {
        return (0.0, 1.0);
    }
    if (max - min).abs() < f64::EPSILON {
        return (min - 0.5, max + 0.5);
    }
    (min, max)
}

fn job(frame: &mut Frame, area: Rect, data: &JobData, follow: bool) {
    let j = &data.job;
    let block =
        Block::bordered().title(format!(" Job {} · {} · {} ", j.id, j.spec.kind(), j.state));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [info, progress, log] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(3),
    ])
    .areas(inner);
    let mut lines = vec![Line::from(format!(
        "attempt {}/{} · worker {} · by {} · created {}",
        j.attempts,
        j.max_attempts,
        j.worker.as_deref().unwrap_or("-"),
        j.created_by,
        when(&j.created_at)
    ))];
    if let Some(message) = j
        .progress_message
        .as_deref()
        .or(j.waiting_reason.as_deref())
    {
        lines.push(Line::from(message.to_owned()));
    }
    if let Some(error) = &j.error {
        lines.push(Line::from(Span::styled(
            error.clone(),
            Style::new().fg(Color::Red),
        )));
    }
    frame.render_widget(Paragraph::new(lines), info);
    frame.render_widget(
        Gauge::default()
            .ratio(j.progress.clamp(0.0, 1.0))
            .gauge_style(Style::new().fg(Color::Cyan)),
        progress,
    );
    // The tail: as many of the last lines as fit.
    let room = usize::from(log.height.saturating_sub(2));
    let start = data.logs.len().saturating_sub(room);
    let tail: Vec<Line> = data.logs[start..]
        .iter()
        .map(|line| {
            let colour = match line.level.as_str() {
                "error" => Color::Red,
                "warn" => Color::Yellow,
                _ => Color::Reset,
            };
            Line::from(vec![
                format!("{} ", line.at.format("%H:%M:%S")).dim(),
                Span::styled(format!("{:<5} ", line.level), Style::new().fg(colour)),
                line.message.clone().into(),
            ])
        })
        .collect();
    let title = if follow {
        format!(" Log ({} lines) · following (l to stop) ", data.logs.len())
    } else {
        format!(" Log ({} lines) · l to follow ", data.logs.len())
    };
    frame.render_widget(
        Paragraph::new(tail).block(Block::bordered().title(title)),
        log,
    );
}
