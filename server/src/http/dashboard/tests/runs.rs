//! The runs page's columns: experiments by name, and the chosen metric and parameter columns
//! remembered by a cookie from one visit to the next.

use super::compare::logged_run;
use super::{Browser, Harness};
use slipway_api::Role;

/// The header cells of the runs table.
fn headers(html: &str) -> String {
    html.split(r#"<table id="runs">"#)
        .nth(1)
        .and_then(|table| table.split("</thead>").next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn chosen_columns_are_remembered_by_cookie() {
    let harness = Harness::new().await;
    logged_run(
        &harness,
        "small",
        &[("lr", "0.01")],
        &[("accuracy", vec![0.9])],
    )
    .await;
    logged_run(
        &harness,
        "large",
        &[("lr", "0.1")],
        &[("accuracy", vec![0.8])],
    )
    .await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let browser = harness.sign_in(&viewer, "/runs").await;

    let first = harness.get(&browser, "/runs").await;
    assert_eq!(first.status.as_u16(), 200);
    assert_eq!(first.cookie, None, "nothing chosen, nothing remembered");
    let table = headers(&first.body);
    assert!(table.contains(">accuracy"), "{table}");
    assert!(
        !table.contains(">lr<"),
        "parameters wait to be chosen: {table}"
    );
    assert!(
        first
            .body
            .contains(r#"<td title="default" class="name">default</td>"#),
        "the experiment reads by name: {}",
        first.body
    );

    let chosen = harness
        .get(
            &browser,
            "/runs?filter=&order_by=&columns=chosen&col=params.lr",
        )
        .await;
    assert_eq!(chosen.status.as_u16(), 200);
    let remembered = chosen.cookie.clone().unwrap_or_default();
    assert_eq!(remembered, "slipway_run_columns=col=params.lr");
    let table = headers(&chosen.body);
    assert!(table.contains(">lr<"), "{table}");
    assert!(!table.contains(">accuracy"), "{table}");

    // The next visit, with no query, shows the remembered choice.
    let returning = Browser {
        cookie: format!("{}; {remembered}", browser.cookie),
        csrf: browser.csrf.clone(),
    };
    let again = harness.get(&returning, "/runs").await;
    assert_eq!(again.status.as_u16(), 200);
    let table = headers(&again.body);
    assert!(table.contains(">lr<"), "{table}");
    assert!(!table.contains(">accuracy"), "{table}");
    assert!(again.body.contains("0.01") && again.body.contains("0.1"));
    assert!(
        again
            .body
            .contains(r#"name="col" value="params.lr" checked"#),
        "the chooser shows the remembered choice: {}",
        again.body
    );
}
