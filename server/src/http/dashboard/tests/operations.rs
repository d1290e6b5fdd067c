//! Acknowledging alerts, cancelling and retrying jobs, and pausing, resuming and triggering
//! schedules through the dashboard's forms: refused to viewers and to forged forms, done for
//! engineers with their reason in the audit log.

use super::{Harness, flash};
use crate::audit;
use crate::entity::registry::deployment;
use crate::monitoring::alerts::{self, Raise};
use crate::queue::jobs;
use crate::schedules;
use axum::http::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use slipway_api::{CreateSchedule, JobState, Role, SubmitJob};

/// The reason the newest audit event gives.
async fn last_reason(harness: &Harness) -> (String, String) {
    let events = audit::list(&harness.state.db, Some(1), None).await.unwrap();
    let event = &events.items[0];
    (
        event.action.clone(),
        event.reason.clone().unwrap_or_default(),
    )
}

#[tokio::test]
async fn open_alerts_are_acknowledged_by_engineers_only() {
    let harness = Harness::new().await;
    let deployment = deployment::ActiveModel {
        name: Set("digits".into()),
        current_revision: Set(1),
        slo_policy: Set(None),
        created_at: Set(0),
        updated_at: Set(0),
        ..Default::default()
    }
    .insert(&harness.state.db)
    .await
    .unwrap();
    let raise = Raise {
        deployment_id: deployment.id,
        kind: "error_rate",
        severity: "alert",
        message: "error rate above 5 %".into(),
        details: serde_json::Value::Null,
    };
    let events = &harness.state.queue.events;
    let id = alerts::raise(&harness.state.db, events, raise)
        .await
        .unwrap();
    let path = format!("/alerts/{id}/acknowledge");
    let viewer = harness.token("vera", Role::Viewer).await;
    let engineer = harness.token("erin", Role::Engineer).await;

    let viewer = harness.sign_in(&viewer, "/alerts").await;
    let page = harness.get(&viewer, "/alerts").await;
    assert!(page.body.contains("error rate above 5 %"), "{}", page.body);
    assert!(!page.body.contains(&path), "a viewer gets no form");
    let csrf = viewer.csrf.clone();
    let form = [
        ("csrf", csrf.as_str()),
        ("reason", "mine"),
        ("confirm", "yes"),
    ];
    let refused = harness.post(&viewer, &path, &form).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert!(
        refused.body.contains("role engineer or admin"),
        "{}",
        refused.body
    );

    let engineer = harness.sign_in(&engineer, "/alerts").await;
    let page = harness.get(&engineer, "/alerts").await;
    assert!(
        page.body.contains(&format!(r#"id="alert-{id}-ack""#)),
        "{}",
        page.body
    );
    let forged = [("csrf", "forged"), ("reason", "mine"), ("confirm", "yes")];
    let refused = harness.post(&engineer, &path, &forged).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("CSRF"), "{}", refused.body);
    let csrf = engineer.csrf.clone();
    let unexplained = [("csrf", csrf.as_str()), ("confirm", "yes")];
    let back = harness.post(&engineer, &path, &unexplained).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert_eq!(flash(&back.location), "error: a reason is required");
    let unconfirmed = [("csrf", csrf.as_str()), ("reason", "on it")];
    let back = harness.post(&engineer, &path, &unconfirmed).await;
    assert_eq!(
        flash(&back.location),
        "error: tick the confirmation to go ahead"
    );
    let open = alerts::list(&harness.state.db, None, true, 10)
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "nothing refused changed anything");

    let done = [
        ("csrf", csrf.as_str()),
        ("reason", "on it"),
        ("confirm", "yes"),
    ];
    let back = harness.post(&engineer, &path, &done).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert!(back.location.starts_with("/alerts?notice="), "{back:?}");
    assert_eq!(
        flash(&back.location),
        format!("notice: Acknowledged alert #{id} (error_rate on digits)")
    );
    assert!(
        alerts::list(&harness.state.db, None, true, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let all = alerts::list(&harness.state.db, None, false, 10)
        .await
        .unwrap();
    assert_eq!(all[0].acknowledged_by.as_deref(), Some("erin"));
    assert_eq!(
        last_reason(&harness).await,
        ("alert.acknowledge".into(), "on it".into())
    );
    let page = harness.get(&engineer, &back.location).await;
    assert!(
        page.body.contains("Acknowledged alert #"),
        "the flash is shown"
    );
    assert!(
        !page.body.contains(&path),
        "an acknowledged alert has no form"
    );

    // A second try is answered on the page, not with an error page.
    let again = harness.post(&engineer, &path, &done).await;
    assert!(
        flash(&again.location).contains("already acknowledged"),
        "{again:?}"
    );
}

#[tokio::test]
async fn jobs_are_cancelled_and_retried_by_engineers_only() {
    let harness = Harness::new().await;
    let request = SubmitJob::new(slipway_api::SleepSpec { seconds: Some(1.0) });
    let queue = &harness.state.queue;
    let job = jobs::submit(&harness.state.db, queue, "admin", &request)
        .await
        .unwrap();
    let id = job.id;
    let viewer = harness.token("vera", Role::Viewer).await;
    let engineer = harness.token("erin", Role::Engineer).await;

    let viewer = harness.sign_in(&viewer, &format!("/jobs/{id}")).await;
    let page = harness.get(&viewer, "/jobs").await;
    assert!(!page.body.contains("/cancel"), "{}", page.body);
    let cancel = format!("/jobs/{id}/cancel");
    let csrf = viewer.csrf.clone();
    let form = [
        ("csrf", csrf.as_str()),
        ("reason", "mine"),
        ("confirm", "yes"),
    ];
    let refused = harness.post(&viewer, &cancel, &form).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let engineer = harness.sign_in(&engineer, "/jobs?state=queued").await;
    let page = harness.get(&engineer, "/jobs?state=queued").await;
    assert!(
        page.body.contains(&format!(r#"id="job-{id}-cancel""#)),
        "{}",
        page.body
    );
    let forged = [("csrf", "forged"), ("reason", "stop"), ("confirm", "yes")];
    assert_eq!(
        harness.post(&engineer, &cancel, &forged).await.status,
        StatusCode::FORBIDDEN
    );
    let got = jobs::get(&harness.state.db, id).await.unwrap();
    assert_eq!(got.state, JobState::Queued, "refused forms change nothing");

    // Cancelled from the filtered list: back to the same list.
    let csrf = engineer.csrf.clone();
    let done = [
        ("csrf", csrf.as_str()),
        ("reason", "wrong dataset"),
        ("confirm", "yes"),
        ("back", "/jobs?state=queued"),
    ];
    let back = harness.post(&engineer, &cancel, &done).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert!(
        back.location.starts_with("/jobs?state=queued&notice="),
        "{back:?}"
    );
    assert_eq!(
        flash(&back.location),
        format!("notice: Cancelled job #{id}")
    );
    let got = jobs::get(&harness.state.db, id).await.unwrap();
    assert_eq!(got.state, JobState::Cancelled);
    assert_eq!(
        last_reason(&harness).await,
        ("job.cancel".into(), "wrong dataset".into())
    );

    // Retried from its own page: back to it.
    let page = harness.get(&engineer, &format!("/jobs/{id}")).await;
    let retry = format!("/jobs/{id}/retry");
    assert!(
        page.body.contains(&format!(r#"action="{retry}""#)),
        "{}",
        page.body
    );
    let back_here = format!("/jobs/{id}");
    let done = [
        ("csrf", csrf.as_str()),
        ("reason", "dataset fixed"),
        ("confirm", "yes"),
        ("back", back_here.as_str()),
    ];
    let back = harness.post(&engineer, &retry, &done).await;
    assert!(
        back.location.starts_with(&format!("{back_here}?notice=")),
        "{back:?}"
    );
    let got = jobs::get(&harness.state.db, id).await.unwrap();
    assert_eq!(got.state, JobState::Queued);
    assert_eq!(
        last_reason(&harness).await,
        ("job.retry".into(), "dataset fixed".into())
    );

    // What the service refuses comes back as the page's error; a foreign `back` is ignored.
    let done = [
        ("csrf", csrf.as_str()),
        ("reason", "again"),
        ("confirm", "yes"),
        ("back", "https://elsewhere.example/"),
    ];
    let back = harness.post(&engineer, &retry, &done).await;
    assert!(back.location.starts_with("/jobs?error="), "{back:?}");
    assert!(
        flash(&back.location).contains("only failed or cancelled jobs"),
        "{back:?}"
    );
    let missing = harness.post(&engineer, "/jobs/999/cancel", &done).await;
    assert!(
        flash(&missing.location).contains("job 999 not found"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn schedules_are_paused_resumed_and_triggered_by_engineers_only() {
    let harness = Harness::new().await;
    let request = CreateSchedule {
        name: "nightly".into(),
        cron: "0 3 * * *".into(),
        timezone: "UTC".into(),
        job: SubmitJob::new(slipway_api::SleepSpec { seconds: Some(1.0) }),
        misfire: Default::default(),
        overlap: Default::default(),
        on_drift: None,
        paused: false,
    };
    schedules::create(&harness.state.db, "admin", &request)
        .await
        .unwrap();
    let viewer = harness.token("vera", Role::Viewer).await;
    let engineer = harness.token("erin", Role::Engineer).await;

    let viewer = harness.sign_in(&viewer, "/schedules").await;
    let page = harness.get(&viewer, "/schedules").await;
    assert!(page.body.contains("nightly") && !page.body.contains("/pause"));
    let csrf = viewer.csrf.clone();
    let form = [
        ("csrf", csrf.as_str()),
        ("reason", "mine"),
        ("confirm", "yes"),
    ];
    for verb in ["pause", "resume", "trigger"] {
        let refused = harness
            .post(&viewer, &format!("/schedules/nightly/{verb}"), &form)
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{verb}");
    }

    let engineer = harness.sign_in(&engineer, "/schedules").await;
    let forged = [("csrf", "forged"), ("reason", "quiet"), ("confirm", "yes")];
    let refused = harness
        .post(&engineer, "/schedules/nightly/pause", &forged)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let unknown = harness
        .post(&engineer, "/schedules/weekly/pause", &forged)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{unknown:?}");
    let schedule = schedules::get(&harness.state.db, "nightly").await.unwrap();
    assert!(!schedule.paused, "refused forms change nothing");

    let csrf = engineer.csrf.clone();
    let act = |verb: &'static str, reason: &'static str| {
        let (harness, engineer, csrf) = (&harness, &engineer, csrf.clone());
        async move {
            let form = [
                ("csrf", csrf.as_str()),
                ("reason", reason),
                ("confirm", "yes"),
            ];
            let path = format!("/schedules/nightly/{verb}");
            let back = harness.post(engineer, &path, &form).await;
            assert_eq!(back.status, StatusCode::SEE_OTHER, "{verb}: {back:?}");
            flash(&back.location)
        }
    };
    let page = harness.get(&engineer, "/schedules").await;
    assert!(page.body.contains(r#"action="/schedules/nightly/pause""#));
    assert_eq!(
        act("pause", "freeze week").await,
        "notice: Paused schedule nightly: it fires no more until resumed"
    );
    assert!(
        schedules::get(&harness.state.db, "nightly")
            .await
            .unwrap()
            .paused
    );
    assert_eq!(
        last_reason(&harness).await,
        ("schedule.pause".into(), "freeze week".into())
    );
    let page = harness.get(&engineer, "/schedules").await;
    assert!(page.body.contains(r#"action="/schedules/nightly/resume""#));

    let resumed = act("resume", "freeze over").await;
    assert!(
        resumed.starts_with("notice: Resumed schedule nightly; next due "),
        "{resumed}"
    );
    assert!(
        !schedules::get(&harness.state.db, "nightly")
            .await
            .unwrap()
            .paused
    );

    let triggered = act("trigger", "new data landed").await;
    assert!(
        triggered.starts_with("notice: Triggered schedule nightly: job #"),
        "{triggered}"
    );
    let queued = jobs::list(&harness.state.db, Some(JobState::Queued), None, None)
        .await
        .unwrap();
    assert_eq!(queued.items.len(), 1);
    assert!(queued.items[0].schedule_id.is_some());
    assert_eq!(
        last_reason(&harness).await,
        ("schedule.trigger".into(), "new data landed".into())
    );
    // The first firing's job is still queued, so the overlap policy holds a second one back.
    let skipped = act("trigger", "once more").await;
    assert!(
        skipped.starts_with("error: Schedule nightly did not fire"),
        "{skipped}"
    );
}
