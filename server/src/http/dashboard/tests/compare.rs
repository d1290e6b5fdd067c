//! The runs page's links back through the pages, and the compare page over real runs: one
//! curve per run, the runs side by side, and bad queries answered with a page naming the field.

use super::{Browser, Harness};
use crate::tracking::runs;
use axum::http::StatusCode;
use slipway_api::{CreateRun, KeyValue, LogBatch, MetricPoint, Role};

/// A run named `name` with `params` and, per metric, one value per step.
pub(super) async fn logged_run(
    harness: &Harness,
    name: &str,
    params: &[(&str, &str)],
    metrics: &[(&str, Vec<f64>)],
) -> i64 {
    let request = CreateRun {
        name: Some(name.to_owned()),
        ..CreateRun::default()
    };
    let run = runs::create(&harness.state.db, "erin", &request)
        .await
        .unwrap();
    let batch = LogBatch {
        metrics: metrics
            .iter()
            .flat_map(|(key, values)| {
                values.iter().enumerate().map(|(step, value)| MetricPoint {
                    key: (*key).to_owned(),
                    value: *value,
                    step: step as i64,
                    timestamp: None,
                })
            })
            .collect(),
        params: params
            .iter()
            .map(|(key, value)| KeyValue {
                key: (*key).to_owned(),
                value: (*value).to_owned(),
            })
            .collect(),
        tags: Vec::new(),
    };
    harness.state.log_writer.log(run.id, batch).await.unwrap();
    run.id
}

/// The `href` of the link with `id`, as a path to request.
fn href_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind("href=\"")? + "href=\"".len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].replace("&amp;", "&"))
}

/// The run ids linked from a page of the runs table, in order.
fn run_ids(html: &str) -> Vec<String> {
    html.split("<td><a href=\"/runs/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

async fn viewer(harness: &Harness) -> Browser {
    let token = harness.token("vera", Role::Viewer).await;
    harness.sign_in(&token, "/runs").await
}

#[tokio::test]
async fn the_runs_page_links_back_to_the_page_before() {
    let harness = Harness::new().await;
    for i in 0..120 {
        let request = CreateRun {
            name: Some(format!("run-{i}")),
            ..CreateRun::default()
        };
        runs::create(&harness.state.db, "erin", &request)
            .await
            .unwrap();
    }
    let browser = viewer(&harness).await;
    let first = harness.get(&browser, "/runs?order_by=id%20ASC").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(href_of(&first.body, "prev-page"), None);
    assert!(
        first.body.contains(r#"id="compare-form""#),
        "{}",
        first.body
    );
    let second_path = href_of(&first.body, "next-page").unwrap();
    let second = harness.get(&browser, &second_path).await;
    // Back from the second page is the first page, asked for without a token.
    let back = href_of(&second.body, "prev-page").unwrap();
    assert_eq!(back, "/runs?order_by=id%20ASC");
    let third_path = href_of(&second.body, "next-page").unwrap();
    let third = harness.get(&browser, &third_path).await;
    assert_eq!(run_ids(&third.body).len(), 20);
    assert_eq!(href_of(&third.body, "next-page"), None);
    let back = href_of(&third.body, "prev-page").unwrap();
    assert!(back.contains("page_token="), "{back}");
    let again = harness.get(&browser, &back).await;
    assert_eq!(run_ids(&again.body), run_ids(&second.body));
    assert_eq!(run_ids(&again.body)[0], "51");
}

#[tokio::test]
async fn ticked_runs_are_compared_on_one_chart() {
    let harness = Harness::new().await;
    let curve =
        |scale: f64| -> Vec<f64> { (0..500).map(|step| scale / f64::from(step + 1)).collect() };
    let a = logged_run(
        &harness,
        "mlp-small",
        &[("lr", "0.01"), ("hidden", "32")],
        &[("loss", curve(1.0)), ("accuracy", vec![0.5, 0.9])],
    )
    .await;
    let b = logged_run(
        &harness,
        "mlp-fast",
        &[("lr", "0.1"), ("hidden", "32")],
        &[("loss", curve(2.0)), ("accuracy", vec![0.4, 0.8])],
    )
    .await;
    let c = logged_run(&harness, "baseline", &[], &[("accuracy", vec![0.7])]).await;
    let browser = viewer(&harness).await;

    // The first shared metric is charted unless one is picked.
    let page = harness
        .get(&browser, &format!("/runs/compare?run={a}&run={b}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let html = page.body;
    assert!(
        html.contains("<title>Comparing 2 runs · Slipway</title>"),
        "{html}"
    );
    assert!(html.contains("<title>accuracy by step</title>"), "{html}");
    assert!(
        html.contains(r#"<option value="accuracy" selected"#),
        "{html}"
    );
    assert!(html.contains(r#"<option value="loss">"#), "{html}");
    assert!(
        html.contains(&format!("<title>#{a} mlp-small: step 1: 0.9</title>")),
        "{html}"
    );
    assert!(
        html.contains(&format!("<title>#{b} mlp-fast: step 1: 0.8</title>")),
        "{html}"
    );
    assert!(html.contains("lr ≠</th>"), "{html}");
    assert!(html.contains(r#"<th scope="row">hidden</th>"#), "{html}");

    // A picked metric; 500 points a run are downsampled for the chart.
    let path = format!("/runs/compare?run={a}&run={b}&metric=loss");
    let html = harness.get(&browser, &path).await.body;
    assert!(
        html.contains("<title>loss by step (downsampled)</title>"),
        "{html}"
    );
    assert_eq!(html.matches("<path d=\"M").count(), 2, "one curve per run");
    assert!(html.matches("<circle").count() <= 2 * 300);
    assert!(
        html.contains(&format!("#{b} mlp-fast: step 499: 0.004<")),
        "the last point stays"
    );

    // Bad queries: a page that names the field, with the status the API would give.
    let cases = [
        (
            "/runs/compare".to_owned(),
            400,
            "run: pick at least one run to compare",
        ),
        (
            format!("/runs/compare?run={a}&run=x1"),
            400,
            "run: expected a run id (a number), got 'x1'",
        ),
        (
            format!("/runs/compare?run={a}&run=9999"),
            404,
            "run: there is no run 9999",
        ),
        (
            format!(
                "/runs/compare?{}",
                (1..=11)
                    .map(|id| format!("run={id}"))
                    .collect::<Vec<_>>()
                    .join("&")
            ),
            400,
            "run: at most 10 runs can be compared at once, got 11",
        ),
        (
            format!("/runs/compare?run={a}&run={c}&metric=loss"),
            400,
            "metric: not every selected run logged 'loss'; they share accuracy",
        ),
    ];
    for (path, status, message) in cases {
        let page = harness.get(&browser, &path).await;
        assert_eq!(page.status.as_u16(), status, "{path}: {}", page.body);
        let html = page.body.replace("&#39;", "'");
        assert!(html.contains(message), "{path}: {html}");
        assert!(
            html.contains("vera"),
            "{path}: the error keeps the user's frame"
        );
    }
}
