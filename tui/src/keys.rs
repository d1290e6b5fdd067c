//! Key bindings, in one table ([`BINDINGS`]) that the event loop, the footer hints and the
//! help view all read, so what the help says is what the keys do. Text input (the filter, the
//! command line, dialogs) maps keys to editing actions instead.

use crate::app::{Action, Mode, View};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key, what it does, where, and how the help names it.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [KeyCode],
    pub label: &'static str,
    pub help: &'static str,
    pub action: Action,
    /// The list views where it applies (empty: everywhere).
    pub views: &'static [View],
    /// Shown in the footer (the most used keys).
    pub hint: bool,
}

const fn bind(
    keys: &'static [KeyCode],
    label: &'static str,
    help: &'static str,
    action: Action,
    views: &'static [View],
    hint: bool,
) -> Binding {
    Binding {
        keys,
        label,
        help,
        action,
        views,
        hint,
    }
}

const EVERYWHERE: &[View] = &[];
const DEPLOYMENTS: &[View] = &[View::Deployments];
const JOBS: &[View] = &[View::Jobs];

pub const BINDINGS: &[Binding] = &[
    bind(
        &[KeyCode::Char('q')],
        "q",
        "quit",
        Action::Quit,
        EVERYWHERE,
        true,
    ),
    bind(
        &[KeyCode::Char('?')],
        "?",
        "help",
        Action::Help,
        EVERYWHERE,
        true,
    ),
    bind(
        &[KeyCode::Char(':')],
        ":",
        "go to a view (tab completes; :ctx switches server)",
        Action::StartCommand,
        EVERYWHERE,
        true,
    ),
    bind(
        &[KeyCode::Char('/')],
        "/",
        "filter the table",
        Action::StartFilter,
        EVERYWHERE,
        true,
    ),
    bind(
        &[KeyCode::Enter],
        "enter",
        "open details",
        Action::Open,
        EVERYWHERE,
        true,
    ),
    bind(
        &[KeyCode::Esc],
        "esc",
        "back",
        Action::Back,
        EVERYWHERE,
        true,
    ),
    bind(
        &[KeyCode::Down, KeyCode::Char('j')],
        "j/↓",
        "down",
        Action::Down,
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Up, KeyCode::Char('k')],
        "k/↑",
        "up",
        Action::Up,
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::PageDown, KeyCode::Char('f')],
        "f/pgdn",
        "page down",
        Action::PageDown,
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::PageUp, KeyCode::Char('b')],
        "b/pgup",
        "page up",
        Action::PageUp,
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Home, KeyCode::Char('g')],
        "g/home",
        "first row",
        Action::Top,
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::End, KeyCode::Char('G')],
        "G/end",
        "last row",
        Action::Bottom,
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::F(5)],
        "F5",
        "refresh now",
        Action::Refresh,
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('1')],
        "1",
        "deployments",
        Action::Show(View::Deployments),
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('2')],
        "2",
        "models",
        Action::Show(View::Models),
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('3')],
        "3",
        "runs",
        Action::Show(View::Runs),
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('4')],
        "4",
        "jobs",
        Action::Show(View::Jobs),
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('5')],
        "5",
        "workers",
        Action::Show(View::Workers),
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('6')],
        "6",
        "schedules",
        Action::Show(View::Schedules),
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('7')],
        "7",
        "alerts",
        Action::Show(View::Alerts),
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('8')],
        "8",
        "audit",
        Action::Show(View::Audit),
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('y')],
        "y",
        "show the selected object as JSON",
        Action::Yank,
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('s')],
        "s",
        "sort by the next column",
        Action::Sort,
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('S')],
        "S",
        "reverse the sort",
        Action::ReverseSort,
        EVERYWHERE,
        false,
    ),
    bind(
        &[KeyCode::Char('l')],
        "l",
        "follow the job log",
        Action::Follow,
        JOBS,
        true,
    ),
    bind(
        &[KeyCode::Char('p')],
        "p",
        "promote the canary",
        Action::Promote,
        DEPLOYMENTS,
        true,
    ),
    bind(
        &[KeyCode::Char('r')],
        "r",
        "rollback to a revision you pick",
        Action::Rollback,
        DEPLOYMENTS,
        true,
    ),
    bind(
        &[KeyCode::Char('d')],
        "d",
        "deploy a version",
        Action::Deploy,
        DEPLOYMENTS,
        true,
    ),
    bind(
        &[KeyCode::Char('c')],
        "c",
        "cancel the job",
        Action::Cancel,
        JOBS,
        true,
    ),
    bind(
        &[KeyCode::Char('R')],
        "R",
        "retry the job",
        Action::Retry,
        JOBS,
        true,
    ),
    bind(
        &[KeyCode::Char('t')],
        "t",
        "trigger the schedule",
        Action::Trigger,
        &[View::Schedules],
        true,
    ),
    bind(
        &[KeyCode::Char('a')],
        "a",
        "acknowledge the alert",
        Action::Acknowledge,
        &[View::Alerts, View::Deployments],
        true,
    ),
];

/// The action of `key` in `mode`, if any.
pub fn action_for(mode: Mode, key: KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(Action::Quit);
    }
    match mode {
        Mode::Normal => BINDINGS
            .iter()
            .find(|binding| binding.keys.contains(&key.code))
            .map(|binding| binding.action),
        Mode::Help => Some(Action::Back),
        Mode::Json => Some(match key.code {
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::PageUp => Action::PageUp,
            KeyCode::PageDown => Action::PageDown,
            _ => Action::Back,
        }),
        Mode::Filter | Mode::Command | Mode::Dialog => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Backspace => Some(Action::Erase),
            KeyCode::Tab => Some(Action::Complete),
            KeyCode::Up => Some(Action::Up),
            KeyCode::Down => Some(Action::Down),
            KeyCode::Char(c) => Some(Action::Type(c)),
            _ => None,
        },
    }
}

/// The bindings a user with these rights sees (read-only clients see no actions).
pub fn visible(read_only: bool) -> impl Iterator<Item = &'static Binding> {
    BINDINGS
        .iter()
        .filter(move |binding| !(read_only && binding.action.writes()))
}

/// The footer: the common keys and those of `view`.
pub fn hints(view: View, read_only: bool) -> String {
    visible(read_only)
        .filter(|binding| {
            binding.hint && (binding.views.is_empty() || binding.views.contains(&view))
        })
        .map(|binding| format!("{} {}", binding.label, first_word(binding.help)))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn first_word(help: &str) -> &str {
    help.split(' ').next().unwrap_or(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_bound_once() {
        let mut seen = std::collections::HashSet::new();
        for binding in BINDINGS {
            for key in binding.keys {
                assert!(seen.insert(*key), "{key:?} is bound twice");
            }
        }
    }

    #[test]
    fn read_only_clients_see_no_actions() {
        assert!(visible(true).all(|binding| !binding.action.writes()));
        assert!(!hints(View::Deployments, true).contains("roll"));
        assert!(hints(View::Deployments, false).contains("r roll"));
    }

    #[test]
    fn text_modes_type_letters_instead_of_acting() {
        let key = KeyEvent::from(KeyCode::Char('q'));
        assert_eq!(action_for(Mode::Normal, key), Some(Action::Quit));
        assert_eq!(action_for(Mode::Dialog, key), Some(Action::Type('q')));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(Mode::Dialog, ctrl_c), Some(Action::Quit));
    }
}
