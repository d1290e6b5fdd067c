//! The client's state and every way it changes: [`App::update`] for the user's actions and
//! [`App::loaded`] for answers from the server. Neither does I/O: both queue [`Request`]s that
//! the event loop takes with [`App::take_requests`] and runs in tasks.

use crate::data::{
    DeploymentData, JobData, Lists, ModelData, Request, RunData, ScheduleData, Stream, WorkerData,
};
use crate::dialog::Dialog;
use crate::table;

mod answers;
mod ask;
mod contexts;
mod open;
mod order;
use slipway_api::Identity;

/// The list views, in the order of their number keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum View {
    Deployments,
    Models,
    Runs,
    Jobs,
    Workers,
    Schedules,
    Alerts,
    Audit,
    /// The servers of the contexts file (`:ctx`; no number key).
    Contexts,
}

impl View {
    pub const ALL: [View; 8] = [
        View::Deployments,
        View::Models,
        View::Runs,
        View::Jobs,
        View::Workers,
        View::Schedules,
        View::Alerts,
        View::Audit,
    ];

    /// The name typed after `:`.
    pub fn name(self) -> &'static str {
        match self {
            View::Deployments => "deployments",
            View::Models => "models",
            View::Runs => "runs",
            View::Jobs => "jobs",
            View::Workers => "workers",
            View::Schedules => "schedules",
            View::Alerts => "alerts",
            View::Audit => "audit",
            View::Contexts => "contexts",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            View::Deployments => "Deployments",
            View::Models => "Models",
            View::Runs => "Runs",
            View::Jobs => "Jobs",
            View::Workers => "Workers",
            View::Schedules => "Schedules",
            View::Alerts => "Alerts",
            View::Audit => "Audit",
            View::Contexts => "Contexts",
        }
    }

    /// The views whose names start with `prefix`, for `:` completion (`ctx` is short for
    /// `contexts`).
    pub fn completions(prefix: &str) -> Vec<View> {
        let prefix = prefix.trim().to_lowercase();
        View::ALL
            .into_iter()
            .chain([View::Contexts])
            .filter(|view| {
                view.name().starts_with(&prefix)
                    || (*view == View::Contexts && !prefix.is_empty() && "ctx".starts_with(&prefix))
            })
            .collect()
    }
}

/// The detail screen opened over a list with `enter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Deployment(String),
    Run(i64),
    Job(i64),
    Model(String),
    /// A worker, by id.
    Worker(i64),
    Schedule(String),
    /// An audit entry, by id (drawn from the list; nothing to fetch).
    Audit(i64),
}

/// What keys do at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Filter,
    Command,
    Dialog,
    Help,
    /// The selected object as JSON, over the view.
    Json,
}

/// Something the user did (see [`crate::keys`] for the keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    StartFilter,
    StartCommand,
    Help,
    Show(View),
    Refresh,
    /// Show the selected object as JSON.
    Yank,
    /// Sort by the next column (after the last: unsorted).
    Sort,
    /// Reverse the sort.
    ReverseSort,
    Follow,
    Promote,
    Rollback,
    Deploy,
    Cancel,
    Retry,
    Trigger,
    Acknowledge,
    /// Text input in the filter, the command line and dialogs.
    Type(char),
    Erase,
    Complete,
    Submit,
}

impl Action {
    /// Whether the action changes something on the server (hidden from read-only clients).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Action::Promote
                | Action::Rollback
                | Action::Deploy
                | Action::Cancel
                | Action::Retry
                | Action::Trigger
                | Action::Acknowledge
        )
    }
}

/// The status line: the outcome of the last action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

/// The order of a list view: by which column, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: usize,
    pub descending: bool,
}

/// Rows a page up or down moves.
const PAGE: usize = 20;

/// The whole state of the client.
#[derive(Debug, Clone)]
pub struct App {
    pub server: String,
    pub view: View,
    pub detail: Option<Detail>,
    pub mode: Mode,
    pub lists: Lists,
    pub deployment: Option<DeploymentData>,
    pub run: Option<RunData>,
    pub job: Option<JobData>,
    pub model: Option<ModelData>,
    pub worker: Option<WorkerData>,
    pub schedule: Option<ScheduleData>,
    /// The rows of the current view that pass the filter (indices into its list).
    pub visible: Vec<usize>,
    /// The selected row, as a position in `visible`.
    pub selected: usize,
    pub filter: String,
    /// The current view's order (`None`: as the server sent it).
    pub sort: Option<Sort>,
    /// The text after `:`.
    pub command: String,
    pub dialog: Option<Dialog>,
    pub identity: Option<Identity>,
    /// No changes allowed: a viewer token, or the server answered 403.
    pub read_only: bool,
    pub stream: Stream,
    pub status: Option<Status>,
    /// What the JSON overlay shows, and how far it is scrolled.
    pub json: Option<String>,
    pub json_scroll: u16,
    /// Job detail: keep reading new log lines and stay at the end.
    pub follow: bool,
    pub running: bool,
    requests: Vec<Request>,
    /// Lists and detail changed on the server and not fetched since.
    stale: Vec<View>,
    stale_detail: bool,
    /// An action waiting for the deployment detail to load (rollback and deploy pick from it).
    pending: Option<Action>,
    /// The current view's searchable row text, built when first filtered after a change.
    haystack: Option<Vec<String>>,
}

impl App {
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            view: View::Deployments,
            detail: None,
            mode: Mode::Normal,
            lists: Lists::default(),
            deployment: None,
            run: None,
            job: None,
            model: None,
            worker: None,
            schedule: None,
            visible: Vec::new(),
            selected: 0,
            filter: String::new(),
            sort: None,
            command: String::new(),
            dialog: None,
            identity: None,
            read_only: false,
            stream: Stream::Connecting,
            status: None,
            json: None,
            json_scroll: 0,
            follow: false,
            running: true,
            requests: vec![Request::Identity, Request::List(View::Deployments)],
            stale: Vec::new(),
            stale_detail: false,
            pending: None,
            haystack: None,
        }
    }

    /// The calls queued since the last time, to run in tasks.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    /// Queues the current view and detail again (the periodic refresh).
    pub fn refresh(&mut self) {
        self.requests.push(Request::List(self.view));
        if let Some(request) = self.detail_request() {
            self.requests.push(request);
        }
    }

    /// Queues what changed since the last call (events are many; fetches are batched), and the
    /// next log lines of a followed job.
    pub fn flush_stale(&mut self) {
        if self.stale.contains(&self.view) {
            self.requests.push(Request::List(self.view));
        }
        self.stale.clear();
        if std::mem::take(&mut self.stale_detail)
            && let Some(request) = self.detail_request()
        {
            self.requests.push(request);
        }
        if self.follow
            && let (Some(Detail::Job(id)), Some(job)) = (&self.detail, &self.job)
            && job.job.id == *id
        {
            self.requests.push(Request::JobLogs {
                job: *id,
                after: job.next_after,
            });
        }
    }

    /// The list index of the selected row.
    pub fn selected_index(&self) -> Option<usize> {
        self.visible.get(self.selected).copied()
    }

    fn refilter(&mut self) {
        self.visible = if self.filter.is_empty() {
            (0..table::len(&self.lists, self.view)).collect()
        } else {
            let haystack = self
                .haystack
                .get_or_insert_with(|| table::haystack(&self.lists, self.view));
            table::matching(haystack, &self.filter)
        };
        if let Some(sort) = self.sort {
            let mut cells: Vec<(usize, String)> = self
                .visible
                .iter()
                .map(|&index| {
                    let cell = table::cells(&self.lists, self.view, index)
                        .into_iter()
                        .nth(sort.column)
                        .unwrap_or_default();
                    (index, cell)
                })
                .collect();
            cells.sort_by(|(_, a), (_, b)| {
                let order = table::compare_cells(a, b);
                if sort.descending {
                    order.reverse()
                } else {
                    order
                }
            });
            self.visible = cells.into_iter().map(|(index, _)| index).collect();
        }
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
        });
    }

    fn show(&mut self, view: View) {
        if self.detail.take().is_some() {
            self.status = None;
        }
        self.follow = false;
        if self.view != view {
            // The last outcome belonged to the view left behind.
            self.status = None;
            self.view = view;
            self.haystack = None;
            self.selected = 0;
            self.filter.clear();
            self.sort = None;
            self.refilter();
        }
        self.requests.push(Request::List(view));
    }

    /// Applies a user action.
    pub fn update(&mut self, action: Action) {
        match self.mode {
            Mode::Normal => self.normal(action),
            Mode::Help => {
                if matches!(action, Action::Back | Action::Help | Action::Quit) {
                    self.mode = Mode::Normal;
                }
            }
            Mode::Json => match action {
                Action::Up => self.json_scroll = self.json_scroll.saturating_sub(1),
                Action::Down => self.json_scroll = self.json_scroll.saturating_add(1),
                Action::PageUp => self.json_scroll = self.json_scroll.saturating_sub(20),
                Action::PageDown => self.json_scroll = self.json_scroll.saturating_add(20),
                _ => {
                    self.json = None;
                    self.mode = Mode::Normal;
                }
            },
            Mode::Filter => self.filtering(action),
            Mode::Command => self.commanding(action),
            Mode::Dialog => self.in_dialog(action),
        }
    }

    fn normal(&mut self, action: Action) {
        if action.writes() && self.read_only {
            self.say("read-only: this token cannot change anything", true);
            return;
        }
        match action {
            Action::Quit => self.running = false,
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.move_to(self.selected.saturating_add(1)),
            Action::PageUp => self.selected = self.selected.saturating_sub(PAGE),
            Action::PageDown => self.move_to(self.selected.saturating_add(PAGE)),
            Action::Top => self.selected = 0,
            Action::Bottom => self.move_to(usize::MAX),
            Action::Open => self.open(),
            Action::Back => {
                if self.detail.take().is_some() {
                    self.follow = false;
                    self.status = None;
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                    self.refilter();
                }
            }
            Action::StartFilter => {
                self.detail = None;
                self.mode = Mode::Filter;
            }
            Action::StartCommand => {
                self.command.clear();
                self.mode = Mode::Command;
            }
            Action::Help => self.mode = Mode::Help,
            Action::Show(view) => self.show(view),
            Action::Refresh => self.refresh(),
            Action::Sort | Action::ReverseSort => self.sort_by(action),
            Action::Yank => match self.selected_json() {
                Some(json) => {
                    self.json = Some(json);
                    self.json_scroll = 0;
                    self.mode = Mode::Json;
                }
                None => self.say("nothing selected", true),
            },
            Action::Follow => {
                if matches!(self.detail, Some(Detail::Job(_))) {
                    self.follow = !self.follow;
                    self.say(
                        if self.follow {
                            "following the log"
                        } else {
                            "stopped following the log"
                        },
                        false,
                    );
                }
            }
            Action::Promote
            | Action::Rollback
            | Action::Deploy
            | Action::Cancel
            | Action::Retry
            | Action::Trigger
            | Action::Acknowledge => self.ask(action),
            Action::Type(_) | Action::Erase | Action::Complete | Action::Submit => {}
        }
    }

    fn move_to(&mut self, position: usize) {
        self.selected = position.min(self.visible.len().saturating_sub(1));
    }

    fn filtering(&mut self, action: Action) {
        match action {
            Action::Type(c) => {
                self.filter.push(c);
                self.selected = 0;
                self.refilter();
            }
            Action::Erase => {
                self.filter.pop();
                self.refilter();
            }
            Action::Back => {
                self.filter.clear();
                self.refilter();
                self.mode = Mode::Normal;
            }
            Action::Submit => self.mode = Mode::Normal,
            Action::Up | Action::Down => {
                self.mode = Mode::Normal;
                self.normal(action);
            }
            _ => {}
        }
    }

    fn commanding(&mut self, action: Action) {
        match action {
            Action::Type(c) => self.command.push(c),
            Action::Erase => {
                self.command.pop();
            }
            Action::Complete => {
                if let Some(view) = View::completions(&self.command).first() {
                    self.command = view.name().to_owned();
                }
            }
            Action::Back => self.mode = Mode::Normal,
            Action::Submit => {
                self.mode = Mode::Normal;
                let typed = self.command.trim().to_lowercase();
                if matches!(typed.as_str(), "q" | "quit") {
                    self.running = false;
                    return;
                }
                match View::completions(&typed).first() {
                    Some(view) if !typed.is_empty() => self.show(*view),
                    _ => self.say(format!("no view named '{typed}'"), true),
                }
            }
            _ => {}
        }
    }

    fn in_dialog(&mut self, action: Action) {
        let Some(dialog) = self.dialog.as_mut() else {
            self.mode = Mode::Normal;
            return;
        };
        match action {
            Action::Type(c) => dialog.type_char(c),
            Action::Erase => dialog.erase(),
            Action::Complete => dialog.next_field(),
            Action::Up => dialog.up(),
            Action::Down => dialog.down(),
            Action::Back => {
                self.dialog = None;
                self.mode = Mode::Normal;
                self.say("cancelled", false);
            }
            Action::Submit => {
                if let Some((command, reason)) = dialog.confirm() {
                    self.dialog = None;
                    self.mode = Mode::Normal;
                    self.say(format!("{}…", command.ask().trim_end_matches('?')), false);
                    self.requests.push(Request::Act { command, reason });
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
