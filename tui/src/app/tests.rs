#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

//! Tests of [`App::update`] and [`App::loaded`]: navigation, filtering, the command line,
//! dialogs and the requests they queue, read-only clients, and live events.

use super::*;
use crate::data::{Command, Loaded};
use crate::fixtures;
use slipway_api::LiveEvent;
use slipway_api::Role;

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(Action::Type(c));
    }
}

#[test]
fn starts_by_asking_who_it_is_and_the_deployments() {
    let mut app = App::new("http://x");
    assert_eq!(
        app.take_requests(),
        vec![Request::Identity, Request::List(View::Deployments)]
    );
}

#[test]
fn numbers_and_the_command_line_switch_views_with_completion() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Jobs));
    assert_eq!(app.view, View::Jobs);
    assert_eq!(app.take_requests(), vec![Request::List(View::Jobs)]);
    app.update(Action::StartCommand);
    typed(&mut app, "sch");
    app.update(Action::Complete);
    assert_eq!(app.command, "schedules");
    app.update(Action::Submit);
    assert_eq!((app.view, app.mode), (View::Schedules, Mode::Normal));
    app.update(Action::StartCommand);
    typed(&mut app, "nope");
    app.update(Action::Submit);
    assert_eq!(app.view, View::Schedules);
    assert!(app.status.as_ref().is_some_and(|s| s.error));
    app.update(Action::StartCommand);
    typed(&mut app, "q");
    app.update(Action::Submit);
    assert!(!app.running);
}

#[test]
fn the_filter_narrows_the_rows_and_esc_clears_it() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Jobs));
    assert_eq!(app.visible.len(), 3);
    app.update(Action::StartFilter);
    typed(&mut app, "FAIL");
    assert_eq!(app.visible, vec![1]);
    app.update(Action::Submit);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.filter, "FAIL");
    app.update(Action::Back);
    assert_eq!(app.visible.len(), 3);
}

#[test]
fn selection_stays_inside_the_table() {
    let mut app = fixtures::app();
    app.update(Action::Up);
    assert_eq!(app.selected, 0);
    app.update(Action::Bottom);
    assert_eq!(app.selected, 1, "two deployments");
    app.update(Action::PageDown);
    assert_eq!(app.selected, 1);
    app.update(Action::Top);
    assert_eq!(app.selected, 0);
}

#[test]
fn enter_opens_details_and_esc_goes_back() {
    let mut app = fixtures::app();
    app.update(Action::Open);
    assert_eq!(app.detail, Some(Detail::Deployment("iris-prod".into())));
    assert_eq!(
        app.take_requests(),
        vec![Request::Deployment("iris-prod".into())]
    );
    app.update(Action::Back);
    assert_eq!(app.detail, None);
    app.update(Action::Show(View::Jobs));
    app.update(Action::Down);
    app.update(Action::Open);
    assert_eq!(app.detail, Some(Detail::Job(8)));
}

#[test]
fn rollback_from_the_table_opens_the_detail_then_asks_for_a_revision_and_a_reason() {
    let mut app = fixtures::app();
    app.update(Action::Rollback);
    assert_eq!(app.mode, Mode::Normal, "waits for the revisions");
    assert_eq!(
        app.take_requests(),
        vec![Request::Deployment("iris-prod".into())]
    );
    app.loaded(Loaded::Deployment(Box::new(fixtures::deployment_data())));
    assert_eq!(app.mode, Mode::Dialog);
    let dialog = app.dialog.clone().unwrap();
    assert_eq!(
        dialog.choices.iter().map(|c| c.value).collect::<Vec<_>>(),
        vec![2, 1],
        "every revision but the current, newest first"
    );
    app.update(Action::Down);
    app.update(Action::Submit);
    assert_eq!(app.mode, Mode::Dialog, "a reason is required");
    assert!(app.dialog.as_ref().unwrap().problem.is_some());
    typed(&mut app, "bad canary");
    app.update(Action::Submit);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(
        app.take_requests(),
        vec![Request::Act {
            command: Command::Rollback {
                deployment: "iris-prod".into(),
                to: 1
            },
            reason: "bad canary".into()
        }]
    );
    app.loaded(Loaded::Done("rolled back".into()));
    app.flush_stale();
    assert!(
        app.take_requests()
            .contains(&Request::Deployment("iris-prod".into()))
    );
}

#[test]
fn promote_needs_a_canary_and_esc_cancels_a_dialog() {
    let mut app = fixtures::app();
    app.loaded(Loaded::Deployment(Box::new(fixtures::deployment_data())));
    app.update(Action::Promote);
    assert_eq!(app.mode, Mode::Dialog);
    assert_eq!(
        app.dialog.as_ref().unwrap().summary,
        "Promote canary v3 (10 %) of iris-prod to primary, replacing v2?"
    );
    app.update(Action::Back);
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.take_requests().is_empty());
    app.update(Action::Down);
    app.update(Action::Promote);
    app.take_requests();
    let mut data = fixtures::deployment_data();
    data.deployment.name = "wine-staging".into();
    data.deployment.spec.canary = None;
    app.loaded(Loaded::Deployment(Box::new(data)));
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.status.unwrap().text.contains("no canary"));
}

#[test]
fn job_schedule_and_alert_actions_ask_first() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Jobs));
    app.update(Action::Cancel);
    typed(&mut app, "wrong data");
    app.update(Action::Submit);
    app.update(Action::Retry);
    typed(&mut app, "flaky");
    app.update(Action::Submit);
    app.update(Action::Show(View::Schedules));
    app.update(Action::Trigger);
    typed(&mut app, "now");
    app.update(Action::Submit);
    app.update(Action::Show(View::Alerts));
    app.update(Action::Acknowledge);
    typed(&mut app, "known");
    app.update(Action::Submit);
    let commands: Vec<Command> = app
        .take_requests()
        .into_iter()
        .filter_map(|r| match r {
            Request::Act { command, .. } => Some(command),
            _ => None,
        })
        .collect();
    assert_eq!(
        commands,
        vec![
            Command::Cancel { job: 9 },
            Command::Retry { job: 9 },
            Command::Trigger {
                schedule: "nightly-iris".into()
            },
            Command::Acknowledge { alert: 4 },
        ]
    );
}

#[test]
fn a_viewer_gets_no_actions_and_a_403_makes_the_client_read_only() {
    let mut app = fixtures::app();
    app.loaded(Loaded::Identity(Identity {
        name: "guest".into(),
        role: Role::Viewer,
    }));
    assert!(app.read_only);
    app.update(Action::Rollback);
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.take_requests().is_empty());
    let mut app = fixtures::app();
    app.loaded(Loaded::Failed {
        message: "403 forbidden".into(),
        forbidden: true,
    });
    assert!(app.read_only);
}

#[test]
fn events_mark_what_is_on_screen_stale_and_fetches_are_batched() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Jobs));
    app.take_requests();
    let event = |kind: &str, id: i64| {
        Loaded::Event(LiveEvent {
            kind: kind.into(),
            id,
            change: "state".into(),
            state: None,
            at: fixtures::at(0),
        })
    };
    for id in 0..50 {
        app.loaded(event("job", id));
    }
    app.loaded(event("worker", 1));
    app.flush_stale();
    assert_eq!(app.take_requests(), vec![Request::List(View::Jobs)]);
    app.flush_stale();
    assert!(app.take_requests().is_empty());
}

#[test]
fn following_a_log_asks_for_the_next_lines() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Jobs));
    app.update(Action::Down);
    app.update(Action::Down);
    app.update(Action::Open);
    app.loaded(Loaded::Job(Box::new(fixtures::job_data())));
    app.update(Action::Follow);
    app.take_requests();
    app.flush_stale();
    assert_eq!(
        app.take_requests(),
        vec![Request::JobLogs { job: 7, after: 30 }]
    );
    app.loaded(Loaded::JobLogs {
        job: 7,
        lines: Vec::new(),
        next_after: 31,
    });
    assert_eq!(app.job.as_ref().unwrap().next_after, 31);
    // A followed log keeps only the newest lines.
    for batch in 0..3 {
        app.loaded(Loaded::JobLogs {
            job: 7,
            lines: (0..2000)
                .map(|i| slipway_api::JobLogLine {
                    id: i,
                    attempt: 1,
                    at: chrono::Utc::now(),
                    level: "info".into(),
                    message: format!("line {batch}-{i}"),
                })
                .collect(),
            next_after: 32 + batch,
        });
    }
    let logs = &app.job.as_ref().unwrap().logs;
    assert_eq!(logs.len(), 5000);
    assert_eq!(logs.last().unwrap().message, "line 2-1999");
}

#[test]
fn a_reconnected_stream_refetches_the_screen() {
    let mut app = fixtures::app();
    app.loaded(Loaded::Stream(Stream::Reconnecting {
        attempt: 1,
        error: "down".into(),
    }));
    app.take_requests();
    app.loaded(Loaded::Stream(Stream::Live));
    assert_eq!(app.take_requests(), vec![Request::List(View::Deployments)]);
}

#[test]
fn the_cursor_stays_on_its_row_when_new_rows_arrive() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Jobs));
    app.update(Action::Down);
    assert_eq!(app.lists.jobs[app.selected_index().unwrap()].id, 8);
    let mut jobs = app.lists.jobs.clone();
    jobs.insert(0, fixtures::job(10, slipway_api::JobState::Queued));
    app.loaded(Loaded::Jobs(jobs));
    assert_eq!(app.lists.jobs[app.selected_index().unwrap()].id, 8);
}

#[test]
fn s_cycles_the_sort_column_and_shift_s_reverses_it() {
    let mut app = fixtures::app();
    let names = |app: &App| -> Vec<String> {
        app.visible
            .iter()
            .map(|&index| app.lists.deployments[index].name.clone())
            .collect()
    };
    assert_eq!(names(&app), ["iris-prod", "wine-staging"]);
    app.update(Action::Sort);
    assert_eq!(
        app.sort,
        Some(Sort {
            column: 0,
            descending: false
        })
    );
    app.update(Action::ReverseSort);
    assert_eq!(names(&app), ["wine-staging", "iris-prod"]);
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("NAME, descending")
    );
    // To ALERTS, the last column: iris-prod has one open, wine-staging none.
    let columns = table::columns(View::Deployments).len();
    for _ in 1..columns {
        app.update(Action::Sort);
    }
    assert_eq!(app.sort.unwrap().column, columns - 1);
    assert_eq!(names(&app), ["wine-staging", "iris-prod"]);
    app.update(Action::ReverseSort);
    assert_eq!(names(&app), ["iris-prod", "wine-staging"]);
    app.update(Action::Sort);
    assert_eq!(app.sort, None);
}

#[test]
fn figures_sort_by_value_not_by_their_first_digit() {
    use std::cmp::Ordering;
    assert_eq!(table::compare_cells("9.5 ms", "12.0 ms"), Ordering::Less);
    assert_eq!(table::compare_cells("v10", "v9"), Ordering::Greater);
    assert_eq!(table::compare_cells("-", "1"), Ordering::Less);
    assert_eq!(table::compare_cells("Beta", "alpha"), Ordering::Greater);
}

#[test]
fn the_status_line_clears_when_the_view_changes() {
    let mut app = fixtures::app();
    app.update(Action::Sort);
    assert!(app.status.is_some());
    app.update(Action::Show(View::Deployments));
    assert!(app.status.is_some(), "the same view keeps it");
    app.update(Action::Show(View::Jobs));
    assert_eq!(app.status, None);
    assert_eq!(app.sort, None, "each view starts unsorted");
}

#[test]
fn y_shows_the_selected_object_as_json_and_any_key_closes_it() {
    let mut app = fixtures::app();
    app.update(Action::Yank);
    assert_eq!(app.mode, Mode::Json);
    let json: serde_json::Value = serde_json::from_str(app.json.as_deref().unwrap()).unwrap();
    assert_eq!(json["deployment"]["name"], "iris-prod");
    assert_eq!(json["drift"], "warn");
    assert_eq!(json["open_alerts"], 1);
    app.update(Action::Down);
    assert_eq!((app.mode, app.json_scroll), (Mode::Json, 1));
    app.update(Action::Back);
    assert_eq!((app.mode, app.json.as_deref()), (Mode::Normal, None));
    app.update(Action::Show(View::Jobs));
    app.update(Action::Yank);
    let json: serde_json::Value = serde_json::from_str(app.json.as_deref().unwrap()).unwrap();
    assert_eq!(json["id"], 9);
}

#[test]
fn enter_opens_a_detail_on_every_view_and_esc_goes_back() {
    let mut app = fixtures::app();
    let expected = [
        (
            View::Models,
            Detail::Model("iris".into()),
            Some(Request::Model("iris".into())),
        ),
        (View::Workers, Detail::Worker(1), Some(Request::Worker(1))),
        (
            View::Schedules,
            Detail::Schedule("nightly-iris".into()),
            Some(Request::Schedule("nightly-iris".into())),
        ),
        // The audit entry is all in the list: nothing to fetch.
        (View::Audit, Detail::Audit(1), None),
    ];
    for (view, detail, request) in expected {
        app.update(Action::Show(view));
        app.take_requests();
        app.update(Action::Open);
        assert_eq!(app.detail.as_ref(), Some(&detail), "{view:?}");
        assert_eq!(app.take_requests(), request.into_iter().collect::<Vec<_>>());
        app.update(Action::Back);
        assert_eq!(app.detail, None, "{view:?}");
        assert_eq!(app.view, view);
    }
}

#[test]
fn worker_events_refetch_an_open_worker_but_not_an_audit_entry() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Workers));
    app.update(Action::Open);
    app.take_requests();
    app.loaded(Loaded::Event(LiveEvent {
        kind: "worker".into(),
        id: 1,
        change: "state".into(),
        state: None,
        at: fixtures::at(0),
    }));
    app.flush_stale();
    assert!(app.take_requests().contains(&Request::Worker(1)));
    app.update(Action::Back);
    app.update(Action::Show(View::Audit));
    app.update(Action::Open);
    app.take_requests();
    app.loaded(Loaded::Event(LiveEvent {
        kind: "deployment".into(),
        id: 1,
        change: "state".into(),
        state: None,
        at: fixtures::at(0),
    }));
    app.flush_stale();
    assert_eq!(app.take_requests(), vec![Request::List(View::Audit)]);
}

#[test]
fn the_deploy_dialog_sends_a_canary_share_or_a_shadow() {
    let mut app = fixtures::app();
    app.loaded(Loaded::Deployment(Box::new(fixtures::deployment_data())));
    app.take_requests();
    app.update(Action::Deploy);
    typed(&mut app, "ramp v3");
    app.update(Action::Complete);
    typed(&mut app, "c");
    app.update(Action::Complete);
    app.update(Action::Erase);
    app.update(Action::Erase);
    typed(&mut app, "0");
    app.update(Action::Submit);
    let dialog = app.dialog.as_ref().unwrap();
    assert!(
        dialog.problem.as_deref().unwrap().contains("from 1 to 99"),
        "{:?}",
        dialog.problem
    );
    assert!(
        app.take_requests().is_empty(),
        "a refused share sends nothing"
    );
    app.update(Action::Erase);
    typed(&mut app, "25");
    app.update(Action::Submit);
    let requests = app.take_requests();
    let [Request::Act { command, reason }] = requests.as_slice() else {
        panic!("{requests:?}");
    };
    assert_eq!(reason, "ramp v3");
    assert_eq!(
        command,
        &Command::Deploy {
            deployment: "iris-prod".into(),
            model: "iris".into(),
            version: 3,
            serve: crate::data::Serve::Canary { percent: 25.0 },
        }
    );
    let sent = command.deploy_request().unwrap();
    assert_eq!((sent.version, sent.canary_percent), (Some(3), Some(25.0)));
    assert_eq!(sent.shadow_version, None);

    app.update(Action::Deploy);
    typed(&mut app, "mirror v1");
    app.update(Action::Complete);
    typed(&mut app, "s");
    app.update(Action::Down);
    app.update(Action::Down);
    app.update(Action::Submit);
    let requests = app.take_requests();
    let [Request::Act { command, .. }] = requests.as_slice() else {
        panic!("{requests:?}");
    };
    let sent = command.deploy_request().unwrap();
    assert_eq!((sent.version, sent.shadow_version), (None, Some(1)));
    assert_eq!(sent.canary_percent, None);
}

#[test]
fn ctx_lists_the_contexts_and_enter_switches_to_one() {
    let mut app = fixtures::app();
    app.update(Action::StartCommand);
    typed(&mut app, "ctx");
    app.update(Action::Submit);
    assert_eq!(app.view, View::Contexts);
    assert_eq!(app.take_requests(), vec![Request::List(View::Contexts)]);
    app.loaded(Loaded::Contexts(fixtures::contexts()));
    app.update(Action::Down);
    app.update(Action::Open);
    assert_eq!(app.detail, None);
    assert_eq!(
        app.take_requests(),
        vec![Request::UseContext("staging".into())]
    );
}

#[test]
fn switching_forgets_the_old_server_and_asks_the_new_one() {
    let mut app = fixtures::app();
    app.update(Action::Show(View::Contexts));
    app.loaded(Loaded::Contexts(fixtures::contexts()));
    app.update(Action::Show(View::Jobs));
    app.update(Action::Open);
    app.take_requests();
    app.switched("staging", "https://staging.slipway.example.com");
    assert_eq!(app.server, "https://staging.slipway.example.com");
    assert_eq!(app.lists.context.as_deref(), Some("staging"));
    assert_eq!(app.lists.contexts.len(), 3, "the contexts stay");
    assert!(app.lists.jobs.is_empty() && app.lists.deployments.is_empty());
    assert_eq!((app.view, app.detail.clone()), (View::Deployments, None));
    assert!(app.identity.is_none());
    assert_eq!(app.stream, Stream::Connecting);
    assert_eq!(
        app.take_requests(),
        vec![Request::Identity, Request::List(View::Deployments)]
    );
    assert!(app.status.unwrap().text.contains("staging"));
}
