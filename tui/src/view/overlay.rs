//! What is drawn over the body: the help (every key, from the binding table), the selected
//! object as JSON, and the confirmation dialog.

use crate::app::App;
use crate::dialog::Dialog;
use crate::keys::visible;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, List, ListItem, ListState, Paragraph, Wrap};

/// A box of `width` × `height` in the middle of `area` (clipped to it).
fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

/// Every key the user may press, with where it applies.
pub fn help(frame: &mut Frame, app: &App) {
    let lines: Vec<Line> = visible(app.read_only)
        .map(|binding| {
            let scope = if binding.views.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = binding.views.iter().map(|view| view.name()).collect();
                format!("  ({})", names.join(", "))
            };
            Line::from(vec![
                Span::styled(format!("{:>8}  ", binding.label), Style::new().bold()),
                binding.help.into(),
                scope.dim(),
            ])
        })
        .collect();
    let height = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let area = centred(frame.area(), 64, height);
    frame.render_widget(Clear, area);
    let title = if app.read_only {
        " Keys (read-only) "
    } else {
        " Keys "
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

/// The selected object as the server sent it, scrolled by `app.json_scroll`.
pub fn json(frame: &mut Frame, app: &App) {
    let Some(text) = &app.json else {
        return;
    };
    let outer = frame.area();
    let area = centred(
        outer,
        outer.width.saturating_sub(8),
        outer.height.saturating_sub(4),
    );
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(" JSON ")
        .title_bottom(" ↑/↓ scroll · any other key closes ".dim());
    frame.render_widget(
        Paragraph::new(text.as_str())
            .block(block)
            .scroll((app.json_scroll, 0)),
        area,
    );
}

/// The confirmation dialog: summary, choices, reason.
pub fn dialog(frame: &mut Frame, dialog: &Dialog) {
    let choices = u16::try_from(dialog.choices.len().min(8)).unwrap_or(8);
    let height = 2 + 2 + choices + u16::from(choices > 0) + 3;
    let area = centred(frame.area(), 76, height);
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(format!(" {} ", dialog.title))
        .border_style(Style::new().fg(Color::Yellow));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [summary, list, reason, problem, keys] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(choices + u16::from(choices > 0)),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(dialog.summary.as_str()).wrap(Wrap { trim: true }),
        summary,
    );
    if !dialog.choices.is_empty() {
        let items = dialog
            .choices
            .iter()
            .map(|choice| ListItem::new(choice.label.as_str()));
        let mut state = ListState::default().with_selected(Some(dialog.choice));
        frame.render_stateful_widget(
            List::new(items)
                .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
                .highlight_symbol("› "),
            list,
            &mut state,
        );
    }
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            "Reason: ".bold(),
            dialog.reason.as_str().into(),
            "█".into(),
        ])),
        reason,
    );
    if let Some(text) = &dialog.problem {
        frame.render_widget(
            Paragraph::new(text.as_str()).style(Style::new().fg(Color::Red)),
            problem,
        );
    }
    let hint = if dialog.choices.is_empty() {
        "enter confirm · esc cancel"
    } else {
        "↑/↓ pick · enter confirm · esc cancel"
    };
    frame.render_widget(Paragraph::new(hint).dim(), keys);
}
