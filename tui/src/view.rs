//! Rendering: pure functions of the state.

use crate::app::{App, Connection, View};
use crate::keys::help_line;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let connection = match &app.connection {
        Connection::Connecting => "connecting…".to_owned(),
        Connection::Connected => "connected".to_owned(),
        Connection::Failed(message) => format!("error: {message}"),
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            "slipway ".bold(),
            app.server.clone().into(),
            "  ".into(),
            connection.into(),
        ])),
        header,
    );
    let (title, table) = match app.view {
        View::Runs => (" Runs ", runs_table(app)),
        View::Experiments => (" Experiments ", experiments_table(app)),
    };
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(
        table.block(Block::bordered().title(title)),
        body,
        &mut state,
    );
    frame.render_widget(Paragraph::new(help_line()).dim(), footer);
}

fn highlighted(table: Table<'_>) -> Table<'_> {
    table
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("› ")
}

fn runs_table(app: &App) -> Table<'static> {
    let rows = app.runs.iter().map(|run| {
        let metrics: Vec<String> = run
            .metrics
            .iter()
            .take(3)
            .map(|(key, value)| format!("{key}={value:.4}"))
            .collect();
        Row::new(vec![
            run.id.to_string(),
            run.name.clone(),
            run.status.to_string(),
            run.start_time.format("%Y-%m-%d %H:%M").to_string(),
            metrics.join(" "),
        ])
    });
    let widths = [
        Constraint::Length(6),
        Constraint::Length(20),
        Constraint::Length(9),
        Constraint::Length(16),
        Constraint::Min(10),
    ];
    highlighted(
        Table::new(rows, widths)
            .header(Row::new(vec!["ID", "NAME", "STATUS", "STARTED", "METRICS"]).bold()),
    )
}

fn experiments_table(app: &App) -> Table<'static> {
    let rows = app.experiments.iter().map(|experiment| {
        Row::new(vec![
            experiment.id.to_string(),
            experiment.name.clone(),
            experiment.created_at.format("%Y-%m-%d %H:%M").to_string(),
            experiment.description.clone().unwrap_or_default(),
        ])
    });
    let widths = [
        Constraint::Length(6),
        Constraint::Length(24),
        Constraint::Length(16),
        Constraint::Min(10),
    ];
    highlighted(
        Table::new(rows, widths)
            .header(Row::new(vec!["ID", "NAME", "CREATED", "DESCRIPTION"]).bold()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{Action, Loaded};
    use chrono::{TimeZone, Utc};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use slipway_api::{Run, RunStatus};
    use std::collections::BTreeMap;

    fn screen(app: &App) -> String {
        let mut terminal = Terminal::new(TestBackend::new(80, 8)).unwrap();
        terminal.draw(|frame| draw(frame, app)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn fixture() -> App {
        let mut app = App::new("http://127.0.0.1:8080");
        let run = |id: i64, name: &str, acc: f64| Run {
            id,
            experiment_id: 1,
            name: name.into(),
            status: RunStatus::Finished,
            start_time: Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap(),
            end_time: None,
            created_by: "admin".into(),
            metrics: BTreeMap::from([("acc".to_owned(), acc)]),
        };
        app.loaded(Loaded::Runs(vec![
            run(2, "mlp-wide", 0.97),
            run(1, "baseline", 0.91),
        ]));
        app
    }

    #[test]
    fn the_runs_view_renders_the_table_and_the_selection() {
        let mut app = fixture();
        app.update(Action::Down);
        let expected = [
            "slipway http://127.0.0.1:8080  connected",
            "┌ Runs ────────────────────────────────────────────────────────────────────────┐",
            "│  ID     NAME                 STATUS    STARTED          METRICS              │",
            "│  2      mlp-wide             FINISHED  2026-11-29 12:00 acc=0.9700           │",
            "│› 1      baseline             FINISHED  2026-11-29 12:00 acc=0.9100           │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "q quit · 1 runs · 2 experiments · tab next view · j/↓ down · k/↑ up · r refresh",
        ]
        .join("\n");
        assert_eq!(screen(&app), expected);
    }

    #[test]
    fn a_failed_call_shows_in_the_header() {
        let mut app = fixture();
        app.loaded(Loaded::Failed("401 invalid or revoked token".into()));
        assert!(
            screen(&app)
                .starts_with("slipway http://127.0.0.1:8080  error: 401 invalid or revoked token")
        );
    }
}
