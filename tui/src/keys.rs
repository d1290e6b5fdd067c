//! Key bindings, in one table that both the event loop and the help line read.

use crate::app::Action;
use ratatui::crossterm::event::KeyCode;

/// A key, what it does, and how the help line names it.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [KeyCode],
    pub label: &'static str,
    pub help: &'static str,
    pub action: Action,
}

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[KeyCode::Char('q')],
        label: "q",
        help: "quit",
        action: Action::Quit,
    },
    Binding {
        keys: &[KeyCode::Char('1')],
        label: "1",
        help: "runs",
        action: Action::ShowRuns,
    },
    Binding {
        keys: &[KeyCode::Char('2')],
        label: "2",
        help: "experiments",
        action: Action::ShowExperiments,
    },
    Binding {
        keys: &[KeyCode::Tab],
        label: "tab",
        help: "next view",
        action: Action::NextView,
    },
    Binding {
        keys: &[KeyCode::Down, KeyCode::Char('j')],
        label: "j/↓",
        help: "down",
        action: Action::Down,
    },
    Binding {
        keys: &[KeyCode::Up, KeyCode::Char('k')],
        label: "k/↑",
        help: "up",
        action: Action::Up,
    },
    Binding {
        keys: &[KeyCode::Char('r')],
        label: "r",
        help: "refresh",
        action: Action::Refresh,
    },
];

/// The action bound to `code`, if any.
pub fn action_for(code: KeyCode) -> Option<Action> {
    BINDINGS
        .iter()
        .find(|binding| binding.keys.contains(&code))
        .map(|binding| binding.action)
}

/// The help line: every binding, from the same table.
pub fn help_line() -> String {
    BINDINGS
        .iter()
        .map(|binding| format!("{} {}", binding.label, binding.help))
        .collect::<Vec<_>>()
        .join(" · ")
}
