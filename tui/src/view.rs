//! Rendering: pure functions of the state that never change it. The frame is a header (server,
//! live-stream state, identity), the view tabs, the body (a table or a detail), and a footer
//! (status line, then the input line or key hints); dialogs and help are drawn over it.
//! Tables build rows only for the page on screen, so drawing stays fast with 10,000 rows.

mod detail;
mod inspect;
mod overlay;

use crate::app::{App, Mode, View};
use crate::data::Stream;
use crate::keys::hints;
use crate::table;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let [header, tabs, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_line(app)), header);
    frame.render_widget(Paragraph::new(tabs_line(app)), tabs);
    match &app.detail {
        Some(detail) => detail::draw(frame, body, app, detail),
        None => draw_table(frame, body, app),
    }
    if let Some(message) = &app.status {
        let style = if message.error {
            Style::new().fg(Color::Red)
        } else {
            Style::new().fg(Color::Green)
        };
        frame.render_widget(Paragraph::new(message.text.as_str()).style(style), status);
    }
    frame.render_widget(Paragraph::new(footer_line(app)), footer);
    match app.mode {
        Mode::Help => overlay::help(frame, app),
        Mode::Json => overlay::json(frame, app),
        Mode::Dialog => {
            if let Some(dialog) = &app.dialog {
                overlay::dialog(frame, dialog);
            }
        }
        Mode::Normal | Mode::Filter | Mode::Command => {}
    }
}

fn header_line(app: &App) -> Line<'static> {
    let stream = match &app.stream {
        Stream::Connecting => Span::styled("○ connecting", Style::new().fg(Color::Yellow)),
        Stream::Live => Span::styled("● live", Style::new().fg(Color::Green)),
        Stream::Reconnecting { attempt, error } => Span::styled(
            format!("✗ reconnecting (try {attempt}): {error}"),
            Style::new().fg(Color::Red),
        ),
    };
    let mut spans = vec!["slipway ".bold()];
    if let Some(context) = &app.lists.context {
        spans.push(Span::styled(
            format!("[{context}] "),
            Style::new().fg(Color::Cyan).bold(),
        ));
    }
    spans.extend([app.server.clone().into(), "  ".into(), stream]);
    if let Some(identity) = &app.identity {
        spans.push(format!("  {} ({})", identity.name, identity.role).into());
    }
    if app.read_only {
        spans.push(Span::styled("  read-only", Style::new().fg(Color::Yellow)));
    }
    Line::from(spans)
}

fn tabs_line(app: &App) -> Line<'static> {
    let mut spans = Vec::new();
    for (number, view) in View::ALL.into_iter().enumerate() {
        let label = format!(" {} {} ", number + 1, view.title());
        spans.push(if view == app.view {
            Span::styled(label, Style::new().add_modifier(Modifier::REVERSED))
        } else {
            Span::raw(label)
        });
    }
    if app.view == View::Contexts {
        spans.push(Span::styled(
            " : Contexts ",
            Style::new().add_modifier(Modifier::REVERSED),
        ));
    }
    Line::from(spans)
}

fn footer_line(app: &App) -> Line<'static> {
    match app.mode {
        Mode::Filter => Line::from(vec![
            "/".bold(),
            app.filter.clone().into(),
            "█".into(),
            "  enter keep · esc clear".dim(),
        ]),
        Mode::Command => {
            let names: Vec<&str> = View::completions(&app.command)
                .into_iter()
                .map(View::name)
                .collect();
            Line::from(vec![
                ":".bold(),
                app.command.clone().into(),
                "█".into(),
                format!("  {}", names.join(" ")).dim(),
                "  tab complete · enter go · esc back".dim(),
            ])
        }
        Mode::Normal | Mode::Help | Mode::Dialog | Mode::Json => {
            Line::from(hints(app.view, app.read_only)).dim()
        }
    }
}

/// The first row shown when `selected` must be visible in `height` rows: tables move a page
/// at a time, so the rows under the cursor stay put while it moves within a page.
pub fn page_offset(selected: usize, height: usize) -> usize {
    selected.checked_div(height).unwrap_or(0) * height
}

fn draw_table(frame: &mut Frame, area: Rect, app: &App) {
    let columns = table::columns(app.view);
    let total = table::len(&app.lists, app.view);
    let mut title = format!(" {} ", app.view.title());
    if app.filter.is_empty() {
        title.push_str(&format!("({total}) "));
    } else {
        title.push_str(&format!("({}/{total}) /{} ", app.visible.len(), app.filter));
    }
    // Borders and the header row take three lines.
    let height = usize::from(area.height.saturating_sub(3));
    let offset = page_offset(app.selected, height);
    let end = (offset + height).min(app.visible.len());
    let rows = app.visible[offset.min(end)..end].iter().map(|&index| {
        let cells = table::cells(&app.lists, app.view, index);
        Row::new(cells).style(row_style(app.view, &app.lists, index))
    });
    let header = Row::new(
        columns
            .iter()
            .enumerate()
            .map(|(column, (name, _))| match app.sort {
                Some(sort) if sort.column == column && sort.descending => format!("{name}▼"),
                Some(sort) if sort.column == column => format!("{name}▲"),
                _ => (*name).to_owned(),
            }),
    )
    .bold();
    let widget = Table::new(rows, columns.iter().map(|(_, width)| *width))
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("› ");
    let mut state = TableState::default()
        .with_selected((!app.visible.is_empty()).then(|| app.selected - offset));
    frame.render_stateful_widget(widget, area, &mut state);
}

/// Colours that tell states apart at a glance.
fn row_style(view: View, lists: &crate::data::Lists, index: usize) -> Style {
    let state = match view {
        View::Jobs => lists.jobs.get(index).map(|job| job.state.as_str()),
        View::Runs => lists.runs.get(index).map(|run| run.status.as_str()),
        View::Workers => lists.workers.get(index).map(|worker| worker.state.as_str()),
        View::Alerts => lists
            .alerts
            .get(index)
            .map(|alert| match alert.acknowledged_by {
                Some(_) => "acknowledged",
                None => alert.severity.as_str(),
            }),
        View::Deployments => lists
            .deployments
            .get(index)
            .map(|d| if d.ready { "ready" } else { "not ready" }),
        View::Models | View::Schedules | View::Audit | View::Contexts => None,
    };
    match state {
        Some("running" | "RUNNING") => Style::new().fg(Color::Cyan),
        Some("failed" | "FAILED" | "lost" | "alert" | "not ready") => Style::new().fg(Color::Red),
        Some("cancelled" | "KILLED" | "draining" | "warn") => Style::new().fg(Color::Yellow),
        Some("acknowledged") => Style::new().add_modifier(Modifier::DIM),
        _ => Style::new(),
    }
}
