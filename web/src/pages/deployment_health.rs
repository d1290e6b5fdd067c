//! The deployment page's health half: the chosen time range, one card per serving version side
//! by side (requests/s, error rate, p50/p99, a shadow's agreement), the per-version request,
//! error-rate and latency charts with every revision marked on the time axis, and per-feature
//! drift on an absolute PSI scale with the policy's thresholds drawn.

use super::common::drift_words;
use crate::charts::{Bar, BarChartView, LineChart, Marker, Point, Series, Threshold, XAxis};
use crate::heatmap::DriftHeatmap;
use crate::layout::{Badge, Table, millis, number, percent, tone, when};
use chrono::{DateTime, Duration, Utc};
use leptos::prelude::*;
use slipway_api::{
    ColumnDrift, DeploymentMetrics, DeploymentRevision, DriftDetail, DriftHours, DriftReport,
    MinuteMetrics, ShadowComparison, SloPolicy,
};
use std::collections::BTreeMap;

/// The span of history the charts show, chosen with `?range=` (links, so no script is needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeRange {
    #[default]
    Hour,
    Day,
    Week,
}

impl TimeRange {
    pub const ALL: [TimeRange; 3] = [TimeRange::Hour, TimeRange::Day, TimeRange::Week];

    /// The range a query value names; anything else is the default hour.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("24h") => Self::Day,
            Some("7d") => Self::Week,
            _ => Self::Hour,
        }
    }

    /// The query value (`1h`, `24h`, `7d`).
    pub fn query(self) -> &'static str {
        match self {
            Self::Hour => "1h",
            Self::Day => "24h",
            Self::Week => "7d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Hour => "1 h",
            Self::Day => "24 h",
            Self::Week => "7 d",
        }
    }

    pub fn minutes(self) -> u32 {
        match self {
            Self::Hour => 60,
            Self::Day => 24 * 60,
            Self::Week => 7 * 24 * 60,
        }
    }

    /// Minutes per charted point: about a hundred points whatever the range.
    pub fn step_minutes(self) -> u32 {
        match self {
            Self::Hour => 1,
            Self::Day => 15,
            Self::Week => 120,
        }
    }
}

/// The links that choose the range; the current one is marked.
#[component]
pub fn RangeChoice(base: String, current: TimeRange) -> impl IntoView {
    let links = TimeRange::ALL
        .into_iter()
        .map(|range| {
            let href = format!("{base}?range={}#h-charts", range.query());
            let current = (range == current).then_some("page");
            view! { <a href=href aria-current=current>{range.label()}</a> }
        })
        .collect_view();
    view! { <nav class="range" aria-label="Time range">"Show the last "{links}</nav> }
}

/// One card per version serving now (primary, canary, shadow), side by side.
#[component]
pub fn VersionCards(metrics: DeploymentMetrics, shadow: Vec<ShadowComparison>) -> impl IntoView {
    let revision = metrics.revision;
    let cards = metrics
        .versions
        .into_iter()
        .map(|version| {
            let agreement = (version.variant == "shadow")
                .then(|| {
                    shadow.iter().find(|comparison| {
                        comparison.revision == revision && comparison.shadow_version == version.version
                    })
                })
                .flatten()
                .map(|comparison| {
                    let text = format!(
                        "{} of {} requests",
                        percent(comparison.agreement),
                        comparison.requests
                    );
                    view! { <dt>"Agrees with primary"</dt><dd class="num">{text}</dd> }
                });
            let heading = format!("{} v{}", version.variant, version.version);
            view! {
                <div class="card version" data-variant=version.variant.clone()>
                    <h3>{heading}</h3>
                    <dl class="facts">
                        <dt>"Requests/s"</dt><dd class="num">{number((version.requests_per_sec * 100.0).round() / 100.0)}</dd>
                        <dt>"Error rate"</dt><dd class="num">{percent(version.error_rate)}</dd>
                        <dt>"p50 / p99"</dt><dd class="num">{format!("{} / {}", millis(version.p50_ms), millis(version.p99_ms))}</dd>
                        <dt>"Requests"</dt><dd class="num">{version.requests}</dd>
                        {agreement}
                    </dl>
                </div>
            }
        })
        .collect_view();
    let caption = format!("Traffic over the last {} s", metrics.window_secs);
    view! {
        <p class="muted">{caption}</p>
        <div class="versions" id="health">{cards}</div>
    }
}

/// The three per-version charts of the history.
pub struct HistoryCharts {
    pub requests: LineChart,
    pub errors: LineChart,
    pub latency: LineChart,
}

/// A revision as a marker: who did what, and why.
fn marker(revision: &DeploymentRevision) -> Marker {
    let spec = &revision.spec;
    let mut what = format!("primary v{}", spec.primary);
    if let Some(canary) = spec.canary {
        what.push_str(&format!(
            ", canary v{} at {} %",
            canary.version,
            number(canary.percent)
        ));
    }
    if let Some(shadow) = spec.shadow {
        what.push_str(&format!(", shadow v{shadow}"));
    }
    let why = revision
        .reason
        .as_deref()
        .map(|reason| format!(": {reason}"))
        .unwrap_or_default();
    Marker {
        x: revision.created_at.timestamp() as f64,
        label: format!("r{}", revision.revision),
        hover: format!(
            "revision {} · {} by {} at {} UTC{why} ({what})",
            revision.revision,
            revision.action,
            revision.actor,
            when(&revision.created_at)
        ),
    }
}

/// Builds the charts from `history` (already downsampled to `range`'s step), ending at `now`.
pub fn history_charts(
    history: &[MinuteMetrics],
    revisions: &[DeploymentRevision],
    range: TimeRange,
    now: DateTime<Utc>,
) -> HistoryCharts {
    let step = f64::from(range.step_minutes());
    let format = if range == TimeRange::Hour {
        "%H:%M"
    } else {
        "%d %b %H:%M"
    };
    let mut requests: BTreeMap<u32, Vec<Point>> = BTreeMap::new();
    let mut errors: BTreeMap<u32, Vec<Point>> = BTreeMap::new();
    let mut latency: BTreeMap<u32, Vec<Point>> = BTreeMap::new();
    for minute in history {
        let x = minute.minute.timestamp() as f64;
        let label = minute.minute.format(format).to_string();
        let per_minute = minute.requests as f64 / step;
        requests.entry(minute.version).or_default().push(Point {
            x,
            y: per_minute,
            hover: format!(
                "{label} · {} requests, {} errors",
                minute.requests, minute.errors
            ),
        });
        if minute.requests > 0 {
            let rate = minute.errors as f64 / minute.requests as f64;
            errors.entry(minute.version).or_default().push(Point {
                x,
                y: rate * 100.0,
                hover: format!("{label} · {} errors", percent(rate)),
            });
        }
        if let Some(p99) = minute.p99_ms {
            let p50 = minute
                .p50_ms
                .map(|p50| format!(", p50 {p50:.1} ms"))
                .unwrap_or_default();
            latency.entry(minute.version).or_default().push(Point {
                x,
                y: p99,
                hover: format!("{label} · p99 {p99:.1} ms{p50}"),
            });
        }
    }
    let versions: Vec<u32> = requests.keys().copied().collect();
    // Every version gets a legend entry on every chart, even one with nothing to draw there.
    let series = |mut map: BTreeMap<u32, Vec<Point>>| {
        versions
            .iter()
            .map(|version| Series {
                name: format!("v{version}"),
                points: map.remove(version).unwrap_or_default(),
            })
            .collect::<Vec<_>>()
    };
    let end = now.timestamp() as f64;
    let start = (now - Duration::minutes(i64::from(range.minutes()))).timestamp() as f64;
    let markers: Vec<Marker> = revisions.iter().map(marker).collect();
    let chart = |id: &str, title: &str, y_label: &str, series: Vec<Series>| LineChart {
        title: title.to_owned(),
        x_label: "time (UTC)".into(),
        y_label: y_label.to_owned(),
        x_axis: XAxis::Time,
        series,
        markers: markers.clone(),
        x_range: Some((start, end)),
        wide: true,
        id: Some(id.to_owned()),
    };
    HistoryCharts {
        requests: chart(
            "requests-chart",
            "Requests per minute",
            "requests/min",
            series(requests),
        ),
        errors: chart("errors-chart", "Error rate", "errors %", series(errors)),
        latency: chart("latency-chart", "p99 latency", "ms", series(latency)),
    }
}

/// The PSI a bar chart spans: at least 0.5, so that a stable feature draws a short bar.
pub fn psi_scale(drift: &DriftReport, policy: &SloPolicy) -> f64 {
    drift
        .features
        .iter()
        .map(|feature| feature.psi)
        .filter(|psi| psi.is_finite())
        .fold(0.5f64.max(policy.psi_alert * 1.25), f64::max)
}

#[component]
pub fn DriftSection(
    drift: Option<DriftDetail>,
    hours: Option<DriftHours>,
    note: Option<String>,
    policy: SloPolicy,
) -> impl IntoView {
    // Past hours are worth showing even when the last rows are too few to judge now.
    let over_time = hours
        .filter(|hours| !hours.features.is_empty())
        .map(|hours| view! { <DriftHeatmap drift=hours warn=policy.psi_warn alert=policy.psi_alert rows=16 /> });
    let Some(DriftDetail {
        report: drift,
        columns,
    }) = drift
    else {
        let note = note.unwrap_or_else(|| "Not enough live traffic to judge drift yet.".into());
        return view! { <p class="muted">{note}</p>{over_time} }.into_any();
    };
    let summary = format!(
        "v{} · {} live rows compared with the training data{}",
        drift.version,
        drift.rows,
        drift
            .prediction_psi
            .map(|psi| format!(" · prediction PSI {}", number(psi)))
            .unwrap_or_default()
    );
    let scale = psi_scale(&drift, &policy);
    let (status, status_tone) = drift_words(Some(&drift.status));
    let status_class = format!("badge {status_tone}");
    let bars = drift
        .features
        .iter()
        .take(20)
        .map(|feature| Bar {
            label: feature.feature.clone(),
            value: feature.psi,
            tone: tone(&feature.status),
        })
        .collect::<Vec<_>>();
    let thresholds = vec![
        Threshold {
            value: policy.psi_warn,
            label: "warn".into(),
            tone: "warn",
        },
        Threshold {
            value: policy.psi_alert,
            label: "alert".into(),
            tone: "bad",
        },
    ];
    let rows = drift
        .features
        .into_iter()
        .map(|feature| {
            view! {
                <tr>
                    <td>{feature.feature}</td>
                    <td class="num">{number(feature.psi)}</td>
                    <td class="num">{number(feature.ks)}</td>
                    <td><Badge text=feature.status /></td>
                </tr>
            }
        })
        .collect_view();
    let title = format!(
        "PSI by feature (most drifted first), on a scale of 0 to {}",
        number(scale)
    );
    view! {
        <p>"Status "<span class=status_class>{status}</span>" "<span class="muted">{summary}</span></p>
        <div id="drift-bars"><BarChartView title=title bars=bars scale=scale thresholds=thresholds /></div>
        {over_time}
        <CategoryShares columns=columns />
        <details>
            <summary>"Every feature"</summary>
            <Table caption="Drift by feature" id="drift">
                <thead><tr><th scope="col">"Feature"</th><th scope="col" class="num">"PSI"</th><th scope="col" class="num">"KS"</th><th scope="col">"Status"</th></tr></thead>
                <tbody>{rows}</tbody>
            </Table>
        </details>
    }
    .into_any()
}

/// Each categorical column's categories: their share of the training rows beside their share
/// of the live rows, so that a category that vanished or a flood of unseen ones shows.
#[component]
fn CategoryShares(columns: Vec<ColumnDrift>) -> impl IntoView {
    let share = |class: &'static str, value: f64| {
        let style = format!("width:{:.1}%", (value * 100.0).clamp(0.0, 100.0));
        view! { <span class=class style=style></span>{percent(value)} }
    };
    columns
        .into_iter()
        .filter(|column| !column.categories.is_empty())
        .map(|column| {
            let caption = format!("{}: share of rows by category", column.feature);
            let id = format!("categories-{}", column.feature.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
            let rows = column
                .categories
                .into_iter()
                .map(|category| {
                    view! {
                        <tr>
                            <th scope="row">{category.name}</th>
                            <td class="shares">{share("share", category.baseline_share)}</td>
                            <td class="shares">{share("share live", category.live_share)}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <Table caption=caption id=id>
                    <thead><tr><th scope="col">"Category"</th><th scope="col">"Training"</th><th scope="col">"Live"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </Table>
            }
        })
        .collect_view()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::LineChartView;
    use crate::pages::fixtures::*;
    use slipway_api::FeatureDrift;

    fn minute(version: u32, at_minute: u32, requests: u64) -> MinuteMetrics {
        MinuteMetrics {
            version,
            minute: at(at_minute),
            requests,
            errors: 1,
            p50_ms: Some(2.0),
            p99_ms: Some(9.0),
            predictions: BTreeMap::new(),
        }
    }

    #[test]
    fn ranges_round_trip_through_the_query() {
        for range in TimeRange::ALL {
            assert_eq!(TimeRange::parse(Some(range.query())), range);
        }
        assert_eq!(TimeRange::parse(Some("nonsense")), TimeRange::Hour);
        assert_eq!(TimeRange::parse(None), TimeRange::Hour);
    }

    #[test]
    fn a_one_minute_canary_is_a_visible_point_with_a_legend_entry() {
        let history = vec![minute(2, 1, 100), minute(2, 2, 100), minute(3, 2, 5)];
        let charts = history_charts(&history, &[], TimeRange::Hour, at(10));
        let html = view! { <LineChartView chart=charts.latency /> }.to_html();
        assert_eq!(html.matches(r#"class="solo""#).count(), 1, "{html}");
        assert!(
            html.contains("v3: 09:02 · p99 9.0 ms, p50 2.0 ms"),
            "{html}"
        );
        assert!(html.contains("</i>v3"), "{html}");
    }

    #[test]
    fn revisions_are_markers_with_who_and_why() {
        let revision = DeploymentRevision {
            revision: 3,
            action: "rollback".into(),
            spec: spec(1),
            previous: Some(spec(2)),
            rolled_back_to: Some(1),
            actor: "slo-guard".into(),
            reason: Some("error rate 9 % over 5 %".into()),
            created_at: at(4),
        };
        let old = DeploymentRevision {
            revision: 1,
            created_at: at(4) - Duration::days(3),
            ..revision.clone()
        };
        let charts = history_charts(&[], &[revision, old], TimeRange::Hour, at(30));
        let html = view! { <LineChartView chart=charts.latency /> }.to_html();
        // The revision of three days ago lies outside the hour shown.
        assert_eq!(html.matches(r#"<g class="marker">"#).count(), 1, "{html}");
        assert!(
            html.contains("revision 3 · rollback by slo-guard at 2026-11-29 09:04 UTC: error rate 9 % over 5 %"),
            "{html}"
        );
        assert!(html.contains(">r3</text>"), "{html}");
    }

    fn detail(psi: f64) -> DriftDetail {
        DriftDetail {
            report: report(psi),
            columns: Vec::new(),
        }
    }

    fn report(psi: f64) -> DriftReport {
        DriftReport {
            predictions: Vec::new(),
            live_baseline: None,
            deployment: "digits".into(),
            version: 2,
            rows: 500,
            callers: 2,
            features: vec![FeatureDrift {
                feature: "pixel_3".into(),
                psi,
                psi_noise: 0.0,
                ks: 0.2,
                status: "stable".into(),
            }],
            prediction_psi: None,
            prediction_psi_noise: None,
            status: "stable".into(),
        }
    }

    /// The width of the first bar, in the chart's units.
    fn bar_width(html: &str) -> f64 {
        html.split("<rect ")
            .nth(1)
            .and_then(|rest| rest.split("width=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .and_then(|width| width.parse().ok())
            .unwrap_or(f64::NAN)
    }

    #[test]
    fn drift_bars_are_on_an_absolute_scale_with_thresholds() {
        let policy = SloPolicy::default();
        let stable =
            view! { <DriftSection drift=Some(detail(0.024)) hours=None note=None policy=policy.clone() /> }
                .to_html();
        let drifted =
            view! { <DriftSection drift=Some(detail(0.5)) hours=None note=None policy=policy.clone() /> }
                .to_html();
        // A stable PSI draws a short bar; the whole width is 0.5.
        assert!(bar_width(&stable) < bar_width(&drifted) / 10.0, "{stable}");
        assert!(stable.contains("<title>warn at 0.1</title>"), "{stable}");
        assert!(stable.contains("<title>alert at 0.2</title>"), "{stable}");
        assert!(stable.contains("on a scale of 0 to 0.5"), "{stable}");
        let huge = report(2.0);
        assert!((psi_scale(&huge, &policy) - 2.0).abs() < 1e-9);
    }
}
