//! What is drawn over the body: the help (every key, from the binding table), the selected
//! object as JSON, and the confirmation dialog.

use crate::app::App;
use crate::dialog::{DeployAs, Dialog, Field};
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
    let role_line = u16::from(dialog.deploy_as.is_some());
    let height = 2 + 2 + choices + u16::from(choices > 0) + role_line + 3;
    let area = centred(frame.area(), 76, height);
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(format!(" {} ", dialog.title))
        .border_style(Style::new().fg(Color::Yellow));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [summary, list, role, reason, problem, keys] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(choices + u16::from(choices > 0)),
        Constraint::Length(role_line),
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
    if let Some(picked) = dialog.deploy_as {
        frame.render_widget(Paragraph::new(role_choice(dialog, picked)), role);
    }
    let mut line = vec![label("Reason: ", dialog.focus == Field::Reason)];
    line.push(dialog.reason.as_str().into());
    if dialog.focus == Field::Reason {
        line.push("█".into());
    }
    frame.render_widget(Paragraph::new(Line::from(line)), reason);
    if let Some(text) = &dialog.problem {
        frame.render_widget(
            Paragraph::new(text.as_str()).style(Style::new().fg(Color::Red)),
            problem,
        );
    }
    let hint = match (dialog.choices.is_empty(), dialog.focus) {
        (true, _) => "enter confirm · esc cancel",
        (false, Field::Role) => {
            "p/c/s or space: primary, canary, shadow · tab next · enter confirm"
        }
        (false, _) if dialog.deploy_as.is_some() => {
            "↑/↓ pick · tab next field · enter confirm · esc cancel"
        }
        (false, _) => "↑/↓ pick · enter confirm · esc cancel",
    };
    frame.render_widget(Paragraph::new(hint).dim(), keys);
}

/// A field's label, bold while typed keys go to it.
fn label(text: &'static str, focused: bool) -> Span<'static> {
    if focused {
        Span::styled(text, Style::new().bold().fg(Color::Yellow))
    } else {
        Span::styled(text, Style::new().bold())
    }
}

/// `As: primary [canary] 20 % shadow`, the picked role reversed.
fn role_choice(dialog: &Dialog, picked: DeployAs) -> Line<'_> {
    let mut spans = vec![label("As: ", dialog.focus == Field::Role)];
    for role in DeployAs::ALL {
        // Brackets as well as colour, so the pick reads on any terminal.
        spans.push(if role == picked {
            Span::styled(
                format!("[{}]", role.name()),
                Style::new().add_modifier(Modifier::REVERSED),
            )
        } else {
            Span::raw(format!(" {} ", role.name()))
        });
        if role == DeployAs::Canary && picked == DeployAs::Canary {
            spans.push(" ".into());
            spans.push(label("share: ", dialog.focus == Field::Percent));
            spans.push(dialog.percent.as_str().into());
            if dialog.focus == Field::Percent {
                spans.push("█".into());
            }
            spans.push(" % ".into());
        }
    }
    Line::from(spans)
}
