//! Several runs compared: one chart with a line per run for a metric they all logged (a select
//! picks which), and a table of their parameters and final metric values side by side.

use super::runs::step_points;
use crate::charts::{self, LineChart, LineChartView, Series, XAxis};
use crate::layout::{Badge, Frame, Section, Table, number};
use leptos::prelude::*;
use slipway_api::{MetricHistory, RunDetail};
use std::collections::BTreeSet;

/// Most runs compared at once: one line colour each, so every line can be told apart.
pub const MAX_RUNS: usize = charts::COLORS.len();

/// What the compare page shows.
#[derive(Debug, Clone, Default)]
pub struct CompareView {
    /// In the order they were picked.
    pub runs: Vec<RunDetail>,
    /// The metrics every run logged, offered in the select.
    pub metrics: Vec<String>,
    /// The metric charted (none when the runs share none).
    pub metric: Option<String>,
    /// The charted metric's (downsampled) history of each run, in the order of `runs`.
    pub histories: Vec<MetricHistory>,
}

/// A run as its line and column are titled: `#7 digits-mlp`.
fn run_label(detail: &RunDetail) -> String {
    format!("#{} {}", detail.run.id, detail.run.name)
}

fn comparison_chart(metric: &str, runs: &[RunDetail], histories: Vec<MetricHistory>) -> LineChart {
    let downsampled = histories.iter().any(|history| history.downsampled);
    let series = runs
        .iter()
        .zip(histories)
        .map(|(detail, history)| Series {
            name: run_label(detail),
            points: step_points(&history),
        })
        .collect();
    LineChart {
        title: if downsampled {
            format!("{metric} by step (downsampled)")
        } else {
            format!("{metric} by step")
        },
        x_label: "step".into(),
        y_label: metric.to_owned(),
        x_axis: XAxis::Number,
        series,
        ..LineChart::default()
    }
}

/// One row of the side-by-side table: a label and a value per run; rows whose values differ
/// are marked, since those are what a comparison is after.
fn side_by_side_row(label: String, values: Vec<String>, charted: bool) -> AnyView {
    let differs = values.windows(2).any(|pair| pair[0] != pair[1]);
    let cells = values
        .into_iter()
        .map(|value| view! { <td class="num"><code>{value}</code></td> })
        .collect_view();
    let label = match (charted, differs) {
        (true, _) => format!("{label} (charted)"),
        (false, true) => format!("{label} ≠"),
        (false, false) => label,
    };
    let title = differs.then_some("the runs differ here");
    view! { <tr><th scope="row" title=title>{label}</th>{cells}</tr> }.into_any()
}

#[component]
fn SideBySide(runs: Vec<RunDetail>, metric: Option<String>) -> impl IntoView {
    let columns = runs
        .iter()
        .map(|detail| {
            let href = format!("/runs/{}", detail.run.id);
            view! {
                <th scope="col"><a href=href>{run_label(detail)}</a>" "<Badge text=detail.run.status.to_string() /></th>
            }
        })
        .collect_view();
    let params: BTreeSet<&String> = runs
        .iter()
        .flat_map(|detail| detail.params.keys())
        .collect();
    let metrics: BTreeSet<&String> = runs
        .iter()
        .flat_map(|detail| detail.run.metrics.keys())
        .collect();
    let width = runs.len() + 1;
    let param_rows = params
        .into_iter()
        .map(|key| {
            let values = runs
                .iter()
                .map(|detail| {
                    detail
                        .params
                        .get(key)
                        .cloned()
                        .unwrap_or_else(|| "–".into())
                })
                .collect();
            side_by_side_row(key.clone(), values, false)
        })
        .collect_view();
    let metric_rows = metrics
        .into_iter()
        .map(|key| {
            let values = runs
                .iter()
                .map(|detail| {
                    detail
                        .run
                        .metrics
                        .get(key)
                        .map_or_else(|| "–".into(), |value| number(*value))
                })
                .collect();
            side_by_side_row(key.clone(), values, metric.as_ref() == Some(key))
        })
        .collect_view();
    view! {
        <Table caption="Parameters and final metric values of the compared runs" id="side-by-side">
            <thead><tr><th scope="col">"Run"</th>{columns}</tr></thead>
            <tbody>
                <tr><th scope="colgroup" colspan=width>"Parameters"</th></tr>
                {param_rows}
                <tr><th scope="colgroup" colspan=width>"Final metric values"</th></tr>
                {metric_rows}
            </tbody>
        </Table>
    }
}

/// The compare page as a complete HTML document.
pub fn render_compare(frame: &Frame, view: CompareView) -> String {
    let title = format!("Comparing {} runs", view.runs.len());
    // The metric select re-asks for the same runs.
    let hidden = view
        .runs
        .iter()
        .map(|detail| view! { <input type="hidden" name="run" value=detail.run.id /> })
        .collect_view();
    let options = view
        .metrics
        .iter()
        .map(|key| {
            let selected = view.metric.as_ref() == Some(key);
            view! { <option value=key.clone() selected=selected>{key.clone()}</option> }
        })
        .collect_view();
    let picker = (!view.metrics.is_empty()).then(|| {
        view! {
            <form class="filters" method="get" action="/runs/compare" id="metric-form">
                {hidden}
                <label for="metric">"Metric"
                    <select id="metric" name="metric">{options}</select>
                </label>
                <button type="submit">"Show"</button>
            </form>
        }
    });
    let chart = match &view.metric {
        Some(metric) => {
            let chart = comparison_chart(metric, &view.runs, view.histories);
            view! { <LineChartView chart=chart /> }.into_any()
        }
        None => view! { <p class="muted" id="no-shared-metric">"These runs share no metric, so there is no curve to compare."</p> }.into_any(),
    };
    let body = view! {
        <nav aria-label="Breadcrumb"><p><a href="/runs">"Runs"</a>" › compare"</p></nav>
        <h1>{title.clone()}</h1>
        {picker}
        <section aria-labelledby="h-curves"><h2 id="h-curves">"Curves"</h2>{chart}</section>
        <section aria-labelledby="h-side"><h2 id="h-side">"Side by side"</h2>
            <SideBySide runs=view.runs metric=view.metric />
        </section>
    }
    .to_html();
    frame.document(&title, Section::Runs, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixtures::*;
    use slipway_api::{MetricValue, Role};
    use std::collections::BTreeMap;

    fn detail(id: i64, lr: &str, loss: f64) -> RunDetail {
        let mut run = run(id, &format!("run-{id}"));
        run.metrics.insert("loss".into(), loss);
        RunDetail {
            run,
            params: BTreeMap::from([
                ("lr".to_owned(), lr.to_owned()),
                ("epochs".to_owned(), "10".to_owned()),
            ]),
            tags: BTreeMap::new(),
            artifacts: Vec::new(),
            dataset_digest: None,
            code_version: None,
            seed: None,
        }
    }

    fn history(key: &str, scale: f64) -> MetricHistory {
        MetricHistory {
            key: key.into(),
            points: (0..3)
                .map(|step| MetricValue {
                    step,
                    value: scale / (step + 1) as f64,
                    timestamp: at(4),
                })
                .collect(),
            downsampled: false,
            next_page_token: None,
        }
    }

    #[test]
    fn one_line_per_run_and_the_runs_side_by_side() {
        let view = CompareView {
            runs: vec![detail(7, "0.01", 0.2), detail(9, "0.1", 0.4)],
            metrics: vec!["accuracy".into(), "loss".into()],
            metric: Some("loss".into()),
            histories: vec![history("loss", 1.0), history("loss", 2.0)],
        };
        let html = render_compare(&frame(Role::Viewer), view);
        assert!(
            html.contains("<title>Comparing 2 runs · Slipway</title>"),
            "{html}"
        );
        assert!(html.contains("<title>loss by step</title>"), "{html}");
        assert!(
            html.contains("<title>#7 run-7: step 2: 0.3333</title>"),
            "{html}"
        );
        assert!(
            html.contains("<title>#9 run-9: step 2: 0.6667</title>"),
            "{html}"
        );
        assert_eq!(html.matches("<path d=\"M").count(), 2, "one line per run");
        assert!(html.contains(r#"<option value="loss" selected"#), "{html}");
        assert!(html.contains(r#"<option value="accuracy">"#));
        assert!(
            html.contains(r#"<input type="hidden" name="run" value="7">"#),
            "{html}"
        );
        assert!(html.contains(r#"<label for="metric">Metric"#));
        assert!(html.contains(r#"<a href="/runs/9">#9 run-9</a>"#), "{html}");
        assert!(
            html.contains(r#"<th scope="row" title="the runs differ here">lr ≠</th><td class="num"><code>0.01</code></td><td class="num"><code>0.1</code></td>"#),
            "{html}"
        );
        assert!(html.contains(r#"<th scope="row">epochs</th>"#), "{html}");
        assert!(html.contains("loss (charted)"), "{html}");
        assert!(html.contains("<code>0.9712</code>"));
    }

    #[test]
    fn runs_without_a_shared_metric_have_no_chart() {
        let view = CompareView {
            runs: vec![detail(7, "0.01", 0.2)],
            ..CompareView::default()
        };
        let html = render_compare(&frame(Role::Viewer), view);
        assert!(html.contains("These runs share no metric"), "{html}");
        assert!(!html.contains("<svg"));
        assert!(!html.contains("metric-form"));
    }
}
