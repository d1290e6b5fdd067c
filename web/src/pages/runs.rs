//! Runs: one page of a search over any number of runs (the server filters with the filter
//! language, sorts and paginates; the page holds one page of rows, links to the pages before
//! and after it, and has a checkbox per run to compare the ticked ones), and a run's detail
//! with its parameters, metric charts and artifacts to download.

use super::run_columns::{self, Column, ColumnChooser};
use crate::charts::{LineChart, LineChartView, Point, Series, XAxis};
use crate::islands::LivePlan;
use crate::layout::{Badge, Frame, Section, Table, encode, link, number, when};
use leptos::prelude::*;
use slipway_api::{MetricHistory, Run, RunDetail, RunStatus};
use std::collections::BTreeMap;

/// One page of the runs search.
#[derive(Debug, Clone, Default)]
pub struct RunsView {
    pub runs: Vec<Run>,
    pub filter: String,
    pub order_by: String,
    pub page_token: String,
    pub next_page_token: Option<String>,
    /// The token of the page before this one: empty for the first page, `None` on the first.
    pub prev_page_token: Option<String>,
    /// Why the search failed (a bad filter), shown above the table.
    pub error: Option<String>,
    /// Experiment names by id.
    pub experiments: BTreeMap<i64, String>,
    /// The shown runs' parameters by run id.
    pub params: BTreeMap<i64, BTreeMap<String, String>>,
    /// The chosen metric and parameter columns (`metrics.KEY`, `params.KEY`); `None`: no
    /// choice made, the first metrics are shown.
    pub columns: Option<Vec<String>>,
}

/// A run's detail.
#[derive(Debug, Clone)]
pub struct RunView {
    pub detail: RunDetail,
    /// One (downsampled) history per metric.
    pub histories: Vec<MetricHistory>,
}

/// The order key of a field: `metrics.acc`, or `metrics.\`val loss\`` when it needs quoting.
fn order_field(prefix: &str, key: &str) -> String {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("{prefix}{key}")
    } else {
        format!("{prefix}`{key}`")
    }
}

/// A column header that sorts by `field`, flipping the direction when already sorted by it.
fn sort_header(view: &RunsView, field: &str, label: String, numeric: bool) -> AnyView {
    let current = view.order_by.trim();
    let (next, sort) = if current.eq_ignore_ascii_case(&format!("{field} DESC")) {
        (format!("{field} ASC"), Some("descending"))
    } else if current.eq_ignore_ascii_case(&format!("{field} ASC"))
        || current.eq_ignore_ascii_case(field)
    {
        (format!("{field} DESC"), Some("ascending"))
    } else {
        (format!("{field} DESC"), None)
    };
    let href = link("/runs", &[("filter", &view.filter), ("order_by", &next)]);
    let arrow = match sort {
        Some("descending") => " ↓",
        Some(_) => " ↑",
        None => "",
    };
    let class = numeric.then_some("num");
    view! { <th scope="col" class=class aria-sort=sort><a href=href>{label}{arrow}</a></th> }
        .into_any()
}

/// The runs page as a complete HTML document.
pub fn render_runs(frame: &Frame, view: RunsView) -> String {
    let available = run_columns::available(&view.runs, &view.params);
    let columns = run_columns::shown(&available, view.columns.as_deref());
    let metric_headers = columns
        .iter()
        .map(|column| match column {
            Column::Metric(key) => {
                sort_header(&view, &order_field("metrics.", key), key.clone(), true)
            }
            Column::Param(key) => view! { <th scope="col">{key.clone()}</th> }.into_any(),
        })
        .collect_view();
    let headers = view! {
        <tr>
            <th scope="col">"Compare"</th>
            {sort_header(&view, "id", "Run".into(), false)}
            {sort_header(&view, "name", "Name".into(), false)}
            {sort_header(&view, "status", "Status".into(), false)}
            <th scope="col">"Experiment"</th>
            {sort_header(&view, "created_by", "By".into(), false)}
            {sort_header(&view, "start_time", "Started (UTC)".into(), false)}
            {metric_headers}
        </tr>
    };
    let rows = view
        .runs
        .iter()
        .map(|run| {
            let metrics = columns
                .iter()
                .map(|column| match column {
                    Column::Metric(key) => {
                        let value = run.metrics.get(key).map(|v| number(*v)).unwrap_or_default();
                        view! { <td class="num">{value}</td> }.into_any()
                    }
                    Column::Param(key) => {
                        let value = view
                            .params
                            .get(&run.id)
                            .and_then(|params| params.get(key))
                            .cloned()
                            .unwrap_or_default();
                        view! { <td>{value}</td> }.into_any()
                    }
                })
                .collect_view();
            let experiment = view
                .experiments
                .get(&run.experiment_id)
                .cloned()
                .unwrap_or_else(|| format!("#{}", run.experiment_id));
            let experiment_title = experiment.clone();
            let pick = format!("compare-{}", run.id);
            view! {
                <tr>
                    <td><input type="checkbox" name="run" value=run.id id=pick aria-label=format!("Compare run #{}", run.id) /></td>
                    <td><a href=format!("/runs/{}", run.id)>{format!("#{}", run.id)}</a></td>
                    <td class="name" title=run.name.clone()>{run.name.clone()}</td>
                    <td><Badge text=run.status.to_string() /></td>
                    <td class="name" title=experiment_title>{experiment}</td>
                    <td>{run.created_by.clone()}</td>
                    <td>{when(&run.start_time)}</td>
                    {metrics}
                </tr>
            }
        })
        .collect_view();
    let error = view
        .error
        .clone()
        .map(|error| view! { <p class="flash bad" role="alert">{error}</p> });
    // The previous page being the first, one link serves as both.
    let first = view
        .prev_page_token
        .as_ref()
        .is_some_and(|token| !token.is_empty())
        .then(|| {
            let href = link(
                "/runs",
                &[("filter", &view.filter), ("order_by", &view.order_by)],
            );
            view! { <a href=href>"First page"</a> }
        });
    let prev = view.prev_page_token.as_ref().map(|token| {
        let href = link(
            "/runs",
            &[
                ("filter", &view.filter),
                ("order_by", &view.order_by),
                ("page_token", token),
            ],
        );
        view! { <a href=href rel="prev" id="prev-page">"Previous page"</a> }
    });
    let next = view.next_page_token.as_ref().map(|token| {
        let href = link(
            "/runs",
            &[
                ("filter", &view.filter),
                ("order_by", &view.order_by),
                ("page_token", token),
            ],
        );
        view! { <a href=href rel="next" id="next-page">"Next page"</a> }
    });
    let count = format!("{} runs on this page", view.runs.len());
    let compare = (!view.runs.is_empty()).then(|| {
        view! {
            <p class="filters">
                <button type="submit" id="compare">"Compare ticked runs"</button>
                <span class="muted">{format!("up to {} runs, their metric curves on one chart", super::compare::MAX_RUNS)}</span>
            </p>
        }
    });
    let body = view! {
        <h1>"Runs"</h1>
        <form class="filters" method="get" action="/runs" role="search">
            <label for="filter">"Filter"
                <input type="search" id="filter" name="filter" size="60" value=view.filter.clone()
                    placeholder="metrics.accuracy > 0.9 and params.lr = '0.01'" />
            </label>
            <label for="order_by">"Order by"
                <input type="text" id="order_by" name="order_by" value=view.order_by.clone() placeholder="start_time DESC" />
            </label>
            <button type="submit">"Search"</button>
        </form>
        <ColumnChooser available=available shown=columns.clone() filter=view.filter.clone()
            order_by=view.order_by.clone() />
        {error}
        <p class="muted">{count}</p>
        // The table is the compare form: the ticked runs go to the compare page.
        <form method="get" action="/runs/compare" id="compare-form">
            {compare}
            <Table caption="Runs" id="runs">
                <thead>{headers}</thead>
                <tbody>{rows}</tbody>
            </Table>
        </form>
        <nav class="pager" aria-label="Pages">{first}{prev}{next}</nav>
    }
    .to_html();
    frame.document("Runs", Section::Runs, body)
}

/// A metric's history as chart points by step, each hovering its value.
pub(crate) fn step_points(history: &MetricHistory) -> Vec<Point> {
    history
        .points
        .iter()
        .map(|point| Point {
            x: point.step as f64,
            y: point.value,
            hover: format!("step {}: {}", point.step, number(point.value)),
        })
        .collect()
}

fn history_chart(history: MetricHistory) -> LineChart {
    let title = if history.downsampled {
        format!("{} (downsampled)", history.key)
    } else {
        history.key.clone()
    };
    let points = step_points(&history);
    LineChart {
        id: Some(format!(
            "metric-{}",
            history
                .key
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        )),
        // One curve a row, as wide as the page, so that axis labels stay readable.
        wide: true,
        title,
        x_label: "step".into(),
        y_label: history.key.clone(),
        x_axis: XAxis::Number,
        series: vec![Series {
            name: history.key,
            points,
        }],
        ..LineChart::default()
    }
}

fn pairs_table(caption: &'static str, id: &'static str, pairs: Vec<(String, String)>) -> AnyView {
    if pairs.is_empty() {
        return view! { <p class="muted">"None."</p> }.into_any();
    }
    let rows = pairs
        .into_iter()
        .map(|(key, value)| view! { <tr><th scope="row">{key}</th><td><code>{value}</code></td></tr> })
        .collect_view();
    view! { <Table caption=caption id=id><tbody>{rows}</tbody></Table> }.into_any()
}

/// A run's page as a complete HTML document.
pub fn render_run(frame: &Frame, view: RunView) -> String {
    let detail = view.detail;
    let run = detail.run;
    // A running run's curves grow without events: its page refreshes while it runs.
    let live = (run.status == RunStatus::Running).then(|| LivePlan {
        topics: vec!["job".into()],
        every_secs: 5,
    });
    let id = run.id;
    let title = format!("Run #{id} {}", run.name);
    let ended = run
        .end_time
        .as_ref()
        .map(when)
        .unwrap_or_else(|| "–".into());
    let metrics = run
        .metrics
        .iter()
        .map(|(key, value)| (key.clone(), number(*value)))
        .collect();
    let charts = view
        .histories
        .into_iter()
        .filter(|history| history.points.len() > 1)
        .map(|history| view! { <LineChartView chart=history_chart(history) /> })
        .collect_view();
    let artifacts = detail
        .artifacts
        .into_iter()
        .map(|artifact| {
            let path = artifact
                .path
                .split('/')
                .map(encode)
                .collect::<Vec<_>>()
                .join("/");
            let href = format!("/runs/{id}/artifacts/{path}");
            view! {
                <tr>
                    <td><a href=href download>{artifact.path.clone()}</a></td>
                    <td class="num">{artifact.size}</td>
                    <td><code>{artifact.digest.chars().take(16).collect::<String>()}</code></td>
                    <td>{when(&artifact.created_at)}</td>
                </tr>
            }
        })
        .collect_view();
    let body = view! {
        <nav aria-label="Breadcrumb"><p><a href="/runs">"Runs"</a>" › "{title.clone()}</p></nav>
        <h1>{title.clone()}" "<Badge text=run.status.to_string() /></h1>
        <dl class="facts" id="facts">
            <dt>"Experiment"</dt><dd>{run.experiment_id}</dd>
            <dt>"By"</dt><dd>{run.created_by.clone()}</dd>
            <dt>"Started"</dt><dd>{when(&run.start_time)}" UTC"</dd>
            <dt>"Ended"</dt><dd>{ended}</dd>
            <dt>"Dataset digest"</dt><dd><code>{detail.dataset_digest.clone().unwrap_or_else(|| "–".into())}</code></dd>
            <dt>"Code version"</dt><dd>{detail.code_version.clone().unwrap_or_else(|| "–".into())}</dd>
            <dt>"Seed"</dt><dd>{detail.seed.map(|seed| seed.to_string()).unwrap_or_else(|| "–".into())}</dd>
        </dl>
        <h2>"Parameters"</h2>
        {pairs_table("Parameters", "params", detail.params.into_iter().collect())}
        <h2>"Metrics"</h2>
        {pairs_table("Latest metrics", "metrics", metrics)}
        <div class="charts">{charts}</div>
        <h2>"Tags"</h2>
        {pairs_table("Tags", "tags", detail.tags.into_iter().collect())}
        <h2>"Artifacts"</h2>
        <Table caption="Artifacts" id="artifacts">
            <thead><tr><th scope="col">"Path"</th><th scope="col" class="num">"Bytes"</th><th scope="col">"Digest"</th><th scope="col">"Stored (UTC)"</th></tr></thead>
            <tbody>{artifacts}</tbody>
        </Table>
    }
    .to_html();
    frame.live_document(&title, Section::Runs, live, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixtures::*;
    use slipway_api::{Artifact, MetricValue, Role};
    use std::collections::BTreeMap;

    #[test]
    fn names_read_whole_and_empty_columns_are_left_out() {
        let long = "a-run-with-a-name-far-too-long-to-fit-in-its-column";
        let mut tuned = run(2, long);
        tuned.experiment_id = 5;
        let view = RunsView {
            runs: vec![run(1, "plain"), tuned],
            experiments: BTreeMap::from([(1, "digits-mlp".to_owned())]),
            params: BTreeMap::from([(2, BTreeMap::from([("lr".to_owned(), "0.05".to_owned())]))]),
            columns: Some(vec![
                "params.lr".into(),
                "params.depth".into(),
                "metrics.accuracy".into(),
            ]),
            ..RunsView::default()
        };
        let html = render_runs(&frame(Role::Viewer), view);
        assert!(
            html.contains(&format!(r#"<td title="{long}" class="name">{long}</td>"#)),
            "{html}"
        );
        assert!(
            html.contains(r#"<td title="digits-mlp" class="name">digits-mlp</td>"#),
            "{html}"
        );
        // An experiment not in the map still reads as something.
        assert!(
            html.contains(r##"title="#5" class="name">#5</td>"##),
            "{html}"
        );
        assert!(html.contains(
            "td.name{max-width:16rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}"
        ));
        // Chosen and present: shown; chosen but empty on every run (depth), or not chosen
        // (loss): no column.
        let table = html
            .split(r#"<table id="runs">"#)
            .nth(1)
            .unwrap_or_default();
        assert!(table.contains(r#"<th scope="col">lr</th>"#), "{table}");
        assert!(table.contains("0.05"), "{table}");
        assert!(table.contains(">accuracy"), "{table}");
        assert!(!table.contains("depth"), "{table}");
        assert!(!table.contains(">loss"), "{table}");
        // The chooser offers every column that has a value, the chosen ones ticked.
        let chooser = html
            .split(r#"<details id="columns""#)
            .nth(1)
            .unwrap_or_default();
        assert!(
            chooser.contains(r#"<form method="get" action="/runs">"#),
            "{chooser}"
        );
        assert!(
            chooser.contains(r#"name="columns" value="chosen""#),
            "{chooser}"
        );
        assert!(
            chooser.contains(r#"name="col" value="metrics.loss">"#),
            "{chooser}"
        );
        assert!(
            chooser.contains(r#"name="col" value="params.lr" checked"#),
            "{chooser}"
        );
    }

    #[test]
    fn the_runs_page_filters_sorts_and_pages() {
        let view = RunsView {
            runs: (0..3).map(|i| run(100 - i, &format!("run-{i}"))).collect(),
            filter: "metrics.accuracy > 0.9".into(),
            order_by: "metrics.accuracy DESC".into(),
            page_token: String::new(),
            next_page_token: Some("o50".into()),
            prev_page_token: None,
            error: None,
            ..RunsView::default()
        };
        let html = render_runs(&frame(Role::Viewer), view);
        assert!(html.contains("<title>Runs · Slipway</title>"));
        assert!(
            html.contains(r#"value="metrics.accuracy &gt; 0.9""#),
            "{html}"
        );
        assert!(
            html.contains(r#"aria-sort="descending" class="num"><a href="/runs?filter=metrics.accuracy%20%3E%200.9&amp;order_by=metrics.accuracy%20ASC">accuracy"#),
            "{html}"
        );
        assert!(html.contains("page_token=o50"), "{html}");
        assert!(html.contains(">0.9712<"));
        assert!(html.contains(r#"<a href="/runs/100">#100</a>"#));
        assert!(!html.contains("First page"));
        assert!(!html.contains("Previous page"));
    }

    #[test]
    fn later_pages_link_back() {
        let page = |prev: Option<&str>| {
            let view = RunsView {
                runs: vec![run(1, "a")],
                order_by: "id".into(),
                page_token: "x".into(),
                prev_page_token: prev.map(str::to_owned),
                ..RunsView::default()
            };
            render_runs(&frame(Role::Viewer), view)
        };
        let html = page(Some("o50"));
        assert!(
            html.contains(r#"<a href="/runs?order_by=id&amp;page_token=o50" rel="prev" id="prev-page">Previous page</a>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="/runs?order_by=id">First page</a>"#),
            "{html}"
        );
        // The second page: the previous page is the first, asked for without a token.
        let html = page(Some(""));
        assert!(
            html.contains(
                r#"<a href="/runs?order_by=id" rel="prev" id="prev-page">Previous page</a>"#
            ),
            "{html}"
        );
        assert!(!html.contains("First page"));
    }

    #[test]
    fn ticked_runs_go_to_the_compare_page() {
        let view = RunsView {
            runs: vec![run(7, "a"), run(9, "b")],
            ..RunsView::default()
        };
        let html = render_runs(&frame(Role::Viewer), view);
        assert!(
            html.contains(r#"<form method="get" action="/runs/compare" id="compare-form">"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<td><input type="checkbox" name="run" value="9" id="compare-9" aria-label="Compare run #9"></td>"#),
            "{html}"
        );
        assert!(html.contains(r#"<button type="submit" id="compare">"#));
        let html = render_runs(&frame(Role::Viewer), RunsView::default());
        assert!(!html.contains(r#"id="compare""#), "nothing to compare");
    }

    #[test]
    fn a_bad_filter_is_shown() {
        let view = RunsView {
            error: Some("filter: invalid filter at 3".into()),
            ..RunsView::default()
        };
        let html = render_runs(&frame(Role::Viewer), view);
        assert!(
            html.contains(r#"role="alert" class="flash bad">filter: invalid filter at 3"#),
            "{html}"
        );
    }

    #[test]
    fn a_run_shows_params_charts_and_artifacts() {
        let detail = RunDetail {
            run: run(7, "digits-mlp"),
            params: BTreeMap::from([("lr".to_owned(), "0.01".to_owned())]),
            tags: BTreeMap::from([("team".to_owned(), "vision".to_owned())]),
            artifacts: vec![Artifact {
                path: "model/model json.json".into(),
                digest: "ab".repeat(32),
                size: 1234,
                created_at: at(6),
            }],
            dataset_digest: Some("ef".repeat(32)),
            code_version: Some("0.1.0".into()),
            seed: Some(7),
        };
        let histories = vec![MetricHistory {
            key: "loss".into(),
            points: (0..3)
                .map(|step| MetricValue {
                    step,
                    value: 1.0 / (step + 1) as f64,
                    timestamp: at(4),
                })
                .collect(),
            downsampled: false,
            next_page_token: None,
        }];
        let html = render_run(&frame(Role::Viewer), RunView { detail, histories });
        assert!(html.contains("<title>Run #7 digits-mlp · Slipway</title>"));
        assert!(
            html.contains(r#"<th scope="row">lr</th><td><code>0.01</code></td>"#),
            "{html}"
        );
        assert!(
            html.contains("<title>loss: step 2: 0.3333</title>"),
            "{html}"
        );
        assert!(
            html.contains(r#"href="/runs/7/artifacts/model/model%20json.json""#),
            "{html}"
        );
        assert!(html.contains("vision"));
        assert!(
            html.contains(
                r#"<figure id="metric-loss" class="chart-figure"><svg viewBox="0 0 1200 280" role="img" class="chart wide">"#
            ),
            "{html}"
        );
    }

    #[test]
    fn only_a_running_run_keeps_its_page_live() {
        let view = |status| {
            let mut detail = RunDetail {
                run: run(7, "digits-mlp"),
                params: BTreeMap::new(),
                tags: BTreeMap::new(),
                artifacts: Vec::new(),
                dataset_digest: None,
                code_version: None,
                seed: None,
            };
            detail.run.status = status;
            RunView {
                detail,
                histories: Vec::new(),
            }
        };
        let mut frame = frame(Role::Viewer);
        frame.bundle = Some("v1".into());
        let running = render_run(&frame, view(RunStatus::Running));
        assert!(running.contains("LiveUpdates_"), "{running}");
        assert!(running.contains("&quot;every_secs&quot;:5"), "{running}");
        let finished = render_run(&frame, view(RunStatus::Finished));
        assert!(!finished.contains("LiveUpdates_"), "{finished}");
    }
}
