//! The client's state and every way it changes.

use slipway_api::{Experiment, Run};

/// The views the client shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Runs,
    Experiments,
}

/// Something that changes the state: a key press or an answer from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    ShowRuns,
    ShowExperiments,
    NextView,
    Up,
    Down,
    Refresh,
}

/// Data arriving from the server.
#[derive(Debug, Clone)]
pub enum Loaded {
    Runs(Vec<Run>),
    Experiments(Vec<Experiment>),
    Failed(String),
}

/// Whether the last call to the server worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected,
    Failed(String),
}

/// The whole state of the client.
#[derive(Debug, Clone)]
pub struct App {
    pub server: String,
    pub view: View,
    pub runs: Vec<Run>,
    pub experiments: Vec<Experiment>,
    pub selected: usize,
    pub connection: Connection,
    pub running: bool,
    /// Set when the data should be fetched again.
    pub wants_refresh: bool,
}

impl App {
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            view: View::Runs,
            runs: Vec::new(),
            experiments: Vec::new(),
            selected: 0,
            connection: Connection::Connecting,
            running: true,
            wants_refresh: true,
        }
    }

    fn rows(&self) -> usize {
        match self.view {
            View::Runs => self.runs.len(),
            View::Experiments => self.experiments.len(),
        }
    }

    fn show(&mut self, view: View) {
        if self.view != view {
            self.view = view;
            self.selected = 0;
        }
    }

    /// Applies a user action.
    pub fn update(&mut self, action: Action) {
        match action {
            Action::Quit => self.running = false,
            Action::ShowRuns => self.show(View::Runs),
            Action::ShowExperiments => self.show(View::Experiments),
            Action::NextView => self.show(match self.view {
                View::Runs => View::Experiments,
                View::Experiments => View::Runs,
            }),
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => {
                if self.selected + 1 < self.rows() {
                    self.selected += 1;
                }
            }
            Action::Refresh => self.wants_refresh = true,
        }
    }

    /// Applies data from the server.
    pub fn loaded(&mut self, loaded: Loaded) {
        match loaded {
            Loaded::Runs(runs) => {
                self.runs = runs;
                self.connection = Connection::Connected;
            }
            Loaded::Experiments(experiments) => {
                self.experiments = experiments;
                self.connection = Connection::Connected;
            }
            Loaded::Failed(message) => self.connection = Connection::Failed(message),
        }
        self.selected = self.selected.min(self.rows().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_stays_inside_the_table() {
        let mut app = App::new("http://x");
        app.update(Action::Down);
        assert_eq!(app.selected, 0, "nothing to move to");
        app.loaded(Loaded::Experiments(Vec::new()));
        app.update(Action::Up);
        assert_eq!(app.selected, 0);
        app.update(Action::NextView);
        assert_eq!(app.view, View::Experiments);
        app.update(Action::Quit);
        assert!(!app.running);
    }
}
