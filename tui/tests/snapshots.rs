//! Snapshot tests: every view, detail, dialog and overlay drawn on a `TestBackend` from the
//! fixture data, its buffer as text, and compared by `insta` with the `.snap` files under
//! `tests/snapshots/`. After an intended change, `INSTA_UPDATE=always cargo nextest run -p
//! slipway-tui` rewrites them (no extra tool needed); review the diff before committing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use slipway_api::{Identity, Role};
use slipway_tui::app::{Action, App, View};
use slipway_tui::data::{Loaded, Stream};
use slipway_tui::fixtures;
use slipway_tui::view::draw;

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(frame, app)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_owned())
            .collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn check(name: &str, app: &App) {
    check_sized(name, app, 120, 32);
}

/// Compares the screen with `tests/snapshots/{name}.snap`. A new or changed screen fails the
/// test and is written beside it as `{name}.snap.new` for review; `INSTA_UPDATE=always`
/// accepts every screen as it is drawn now.
fn check_sized(name: &str, app: &App, width: u16, height: u16) {
    let actual = screen(app, width, height);
    insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, actual);
    });
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(Action::Type(c));
    }
}

#[test]
fn every_list_view() {
    let mut app = fixtures::app();
    for view in View::ALL {
        app.update(Action::Show(view));
        check(&format!("view_{}", view.name()), &app);
    }
}

#[test]
fn deployment_detail() {
    let mut app = fixtures::app();
    app.update(Action::Open);
    check("detail_deployment_loading", &app);
    app.loaded(Loaded::Deployment(Box::new(fixtures::deployment_data())));
    check_sized("detail_deployment", &app, 120, 36);
}

#[test]
fn run_detail() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Runs));
    app.loaded(Loaded::Runs(vec![fixtures::run(12)]));
    app.update(Action::Open);
    app.loaded(Loaded::Run(Box::new(fixtures::run_data())));
    check("detail_run", &app);
}

#[test]
fn job_detail_following_its_log() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Jobs));
    app.loaded(Loaded::Jobs(vec![fixtures::job(
        7,
        slipway_api::JobState::Running,
    )]));
    app.update(Action::Open);
    app.loaded(Loaded::Job(Box::new(fixtures::job_data())));
    app.update(Action::Follow);
    check("detail_job", &app);
}

#[test]
fn dialogs() {
    let mut app = fixtures::app();
    app.loaded(Loaded::Deployment(Box::new(fixtures::deployment_data())));
    app.update(Action::Rollback);
    typed(&mut app, "canary errors");
    check("dialog_rollback", &app);
    app.update(Action::Back);
    app.update(Action::Deploy);
    app.update(Action::Down);
    app.update(Action::Submit);
    check("dialog_deploy_without_reason", &app);
    app.update(Action::Back);
    app.update(Action::Promote);
    check("dialog_promote", &app);
    app.update(Action::Back);
    app.update(Action::Show(View::Jobs));
    app.update(Action::Cancel);
    check("dialog_cancel", &app);
}

#[test]
fn deploy_dialog_in_canary_mode() {
    let mut app = fixtures::app();
    app.loaded(Loaded::Deployment(Box::new(fixtures::deployment_data())));
    app.update(Action::Deploy);
    typed(&mut app, "try v3 on a share");
    app.update(Action::Complete);
    typed(&mut app, "c");
    app.update(Action::Complete);
    app.update(Action::Erase);
    app.update(Action::Erase);
    typed(&mut app, "250");
    app.update(Action::Submit);
    check("dialog_deploy_canary_refused", &app);
    app.update(Action::Erase);
    app.update(Action::Erase);
    typed(&mut app, "5");
    check("dialog_deploy_canary", &app);
}

#[test]
fn help_filter_command_line_and_status() {
    let mut app = fixtures::app();
    app.update(Action::Help);
    check_sized("help", &app, 120, 40);
    app.update(Action::Back);
    app.update(Action::Show(View::Runs));
    app.update(Action::StartFilter);
    typed(&mut app, "mlp-2");
    check("filter", &app);
    app.update(Action::Submit);
    app.update(Action::StartCommand);
    typed(&mut app, "w");
    check("command_line", &app);
    app.update(Action::Back);
    app.loaded(Loaded::Failed {
        message: "409 conflict: the deployment changed; reload".into(),
        forbidden: false,
    });
    app.loaded(Loaded::Stream(Stream::Reconnecting {
        attempt: 3,
        error: "connection refused".into(),
    }));
    check("status_error_and_reconnecting", &app);
}

#[test]
fn a_viewer_sees_no_actions() {
    let mut app = fixtures::app();
    app.loaded(Loaded::Identity(Identity {
        name: "guest".into(),
        role: Role::Viewer,
    }));
    check("viewer_deployments", &app);
    app.update(Action::Help);
    check_sized("viewer_help", &app, 120, 40);
}

#[test]
fn deployments_with_health_sorted_and_at_any_width() {
    let mut app = fixtures::app();
    // REQ/S is the eighth column; `S` turns it busiest first.
    for _ in 0..8 {
        app.update(Action::Sort);
    }
    app.update(Action::ReverseSort);
    check("view_deployments_sorted", &app);
    check_sized("view_deployments_wide", &app, 180, 12);
}

#[test]
fn the_selected_object_as_json() {
    let mut app = fixtures::app();
    app.update(Action::Yank);
    check("json_deployment", &app);
}

#[test]
fn model_detail() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Models));
    app.update(Action::Open);
    app.loaded(Loaded::Model(Box::new(fixtures::model_data())));
    check("detail_model", &app);
}

#[test]
fn worker_detail() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Workers));
    app.update(Action::Open);
    app.loaded(Loaded::Worker(Box::new(fixtures::worker_data())));
    check("detail_worker", &app);
}

#[test]
fn schedule_detail() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Schedules));
    app.update(Action::Open);
    let schedule = app.lists.schedules[0].clone();
    app.loaded(Loaded::Schedule(Box::new(fixtures::schedule_data(
        schedule,
    ))));
    check("detail_schedule", &app);
}

#[test]
fn audit_detail_wraps_the_whole_entry() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Audit));
    app.update(Action::Open);
    check_sized("detail_audit", &app, 80, 20);
}

#[test]
fn contexts_view_marks_the_one_in_use() {
    let mut app = fixtures::app();
    app.set_context("local");
    app.update(Action::StartCommand);
    typed(&mut app, "ctx");
    app.update(Action::Submit);
    app.loaded(Loaded::Contexts(fixtures::contexts()));
    app.update(Action::Down);
    check("view_contexts", &app);
}
