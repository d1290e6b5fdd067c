//! Charts as plain SVG: line charts with axes, tick labels, a legend, a hover value on every
//! point (an SVG `<title>`) and event markers on the x axis, and horizontal bar charts on a
//! fixed or a relative scale with threshold lines. Long series arrive downsampled by the
//! service layer; these only draw.

use crate::layout::number;
use leptos::prelude::*;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
/// A full-width chart: drawn wider so that its labels keep their size on a wide page.
const WIDE_WIDTH: f64 = 1200.0;
const WIDE_HEIGHT: f64 = 280.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
// Room above the plot for marker labels.
const TOP: f64 = 22.0;
const BOTTOM: f64 = 44.0;
/// Line colours, in order (the compare page takes as many runs as there are colours).
pub const COLORS: [&str; 10] = [
    "#2456c7", "#d0651d", "#17803d", "#9b34b5", "#c0262d", "#0f8c95", "#8a6d00", "#d63384",
    "#5b6472", "#6f42c1",
];

/// One point; `hover` is what the point's tooltip says.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub hover: String,
}

/// A named line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
}

/// How x values read on the axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XAxis {
    /// Seconds since the Unix epoch, shown as `HH:MM` (UTC), with the day on spans over one.
    Time,
    /// Plain numbers (steps).
    #[default]
    Number,
}

/// An event on the x axis (a deploy, a rollback): a dashed vertical line with a short label
/// above the plot and `hover` as its tooltip.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub x: f64,
    pub label: String,
    pub hover: String,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_axis: XAxis,
    pub series: Vec<Series>,
    /// Drawn when inside the x range; others are left out.
    pub markers: Vec<Marker>,
    /// The x range shown (a chosen time range); `None`: the data's own.
    pub x_range: Option<(f64, f64)>,
    /// Spans the page's width rather than sharing a row with other charts.
    pub wide: bool,
    /// The `id` of the figure, for links and tests.
    pub id: Option<String>,
}

/// Round tick values covering `min..=max`.
fn ticks(min: f64, max: f64, count: usize) -> Vec<f64> {
    if !(min.is_finite() && max.is_finite()) || count == 0 {
        return Vec::new();
    }
    if (max - min).abs() < f64::EPSILON {
        return vec![min];
    }
    let raw = (max - min) / count as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(raw);
    let start = (min / step).ceil() * step;
    let mut out = Vec::new();
    let mut value = start;
    while value <= max + step * 1e-9 && out.len() <= count * 2 {
        out.push(value);
        value += step;
    }
    out
}

fn x_tick_label(axis: XAxis, value: f64, span: f64) -> String {
    // Over a day, the hour alone would repeat: the day goes first.
    let format = if span > 86_400.0 {
        "%d %b %H:%M"
    } else {
        "%H:%M"
    };
    match axis {
        XAxis::Time => chrono::DateTime::from_timestamp(value as i64, 0)
            .map(|at| at.format(format).to_string())
            .unwrap_or_default(),
        XAxis::Number => number(value),
    }
}

/// Closer than this (in chart units), markers would draw over each other: they become one.
const MARKER_GAP: f64 = 24.0;

/// Markers placed at `x` (chart units), merged where they would overlap: one line at the
/// first's place, labels joined (`r1,r2`), every hover kept, one per line.
fn cluster(mut placed: Vec<(f64, &Marker)>) -> Vec<(f64, String, String)> {
    placed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, String, String)> = Vec::new();
    for (x, marker) in placed {
        match merged.last_mut() {
            Some((first, label, hover)) if x - *first < MARKER_GAP => {
                label.push(',');
                label.push_str(&marker.label);
                hover.push('\n');
                hover.push_str(&marker.hover);
            }
            _ => merged.push((x, marker.label.clone(), marker.hover.clone())),
        }
    }
    merged
}

/// Draws a line chart; an empty one says so.
#[component]
pub fn LineChartView(chart: LineChart) -> impl IntoView {
    let points = chart.series.iter().flat_map(|series| series.points.iter());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for point in points.filter(|p| p.x.is_finite() && p.y.is_finite()) {
        x_min = x_min.min(point.x);
        x_max = x_max.max(point.x);
        y_min = y_min.min(point.y);
        y_max = y_max.max(point.y);
    }
    let empty = !x_min.is_finite();
    if empty {
        (x_min, x_max, y_min, y_max) = (0.0, 1.0, 0.0, 1.0);
    }
    if let Some((from, to)) = chart.x_range.filter(|(from, to)| from < to) {
        (x_min, x_max) = (from, to);
    }
    if y_min > 0.0 && y_min < y_max * 0.5 {
        y_min = 0.0;
    }
    if (y_max - y_min).abs() < f64::EPSILON {
        y_max = y_min + 1.0;
    }
    if (x_max - x_min).abs() < f64::EPSILON {
        x_max = x_min + 1.0;
    }
    let (width, height) = if chart.wide {
        (WIDE_WIDTH, WIDE_HEIGHT)
    } else {
        (WIDTH, HEIGHT)
    };
    let plot_w = width - LEFT - RIGHT;
    let plot_h = height - TOP - BOTTOM;
    let sx = move |x: f64| LEFT + (x - x_min) / (x_max - x_min) * plot_w;
    let sy = move |y: f64| TOP + plot_h - (y - y_min) / (y_max - y_min) * plot_h;
    let y_ticks = ticks(y_min, y_max, 4)
        .into_iter()
        .map(|value| {
            let y = format!("{:.1}", sy(value));
            view! {
                <line class="grid" x1=LEFT x2=width - RIGHT y1=y.clone() y2=y.clone() />
                <text x=LEFT - 6.0 y=y text-anchor="end" dominant-baseline="middle">{number(value)}</text>
            }
        })
        .collect_view();
    let span = x_max - x_min;
    let x_ticks = if chart.x_axis == XAxis::Time {
        let count = if chart.wide { 6 } else { 4 };
        (0..=count)
            .map(|i| x_min + span * f64::from(i) / f64::from(count))
            .collect::<Vec<_>>()
    } else {
        ticks(x_min, x_max, 5)
    };
    let x_ticks = x_ticks
        .into_iter()
        .map(|value| {
            let x = format!("{:.1}", sx(value));
            view! {
                <line class="axis" x1=x.clone() x2=x.clone() y1=TOP + plot_h y2=TOP + plot_h + 4.0 />
                <text x=x y=TOP + plot_h + 16.0 text-anchor="middle">{x_tick_label(chart.x_axis, value, span)}</text>
            }
        })
        .collect_view();
    let lines = chart
        .series
        .iter()
        .enumerate()
        .map(|(index, series)| {
            let color = COLORS[index % COLORS.len()];
            let mut path = String::new();
            for point in series.points.iter().filter(|p| p.x.is_finite() && p.y.is_finite()) {
                let command = if path.is_empty() { 'M' } else { 'L' };
                path.push_str(&format!("{command}{:.1},{:.1}", sx(point.x), sy(point.y)));
            }
            let drawn = series
                .points
                .iter()
                .filter(|p| p.x.is_finite() && p.y.is_finite())
                .count();
            // A lone point has no line through it: it is drawn visible, not only on hover.
            let class = (drawn == 1).then_some("solo");
            let dots = series
                .points
                .iter()
                .filter(|p| p.x.is_finite() && p.y.is_finite())
                .map(|point| {
                    let hover = format!("{}: {}", series.name, point.hover);
                    view! {
                        <circle class=class cx=format!("{:.1}", sx(point.x)) cy=format!("{:.1}", sy(point.y)) r="4" fill=color>
                            <title>{hover}</title>
                        </circle>
                    }
                })
                .collect_view();
            view! {
                <g>
                    <path d=path fill="none" stroke=color stroke-width="2" />
                    {dots}
                </g>
            }
        })
        .collect_view();
    let legend = chart
        .series
        .iter()
        .enumerate()
        .map(|(index, series)| {
            let style = format!("background:{}", COLORS[index % COLORS.len()]);
            let none = series.points.is_empty().then_some(" (no data)");
            view! { <span><i style=style></i>{series.name.clone()}{none}</span> }
        })
        .collect_view();
    let placed = chart
        .markers
        .iter()
        .filter(|marker| marker.x.is_finite() && (x_min..=x_max).contains(&marker.x))
        .map(|marker| (sx(marker.x), marker))
        .collect();
    let markers = cluster(placed)
        .into_iter()
        .map(|(x, label, hover)| {
            // A wide, transparent band: a one-pixel line is too thin to hover.
            view! {
                <g class="marker">
                    <title>{hover}</title>
                    <line x1=format!("{x:.1}") x2=format!("{x:.1}") y1=TOP y2=TOP + plot_h />
                    <rect x=format!("{:.1}", x - 5.0) y=TOP - 14.0 width="10" height=plot_h + 14.0 fill="transparent" />
                    <text x=format!("{x:.1}") y=TOP - 6.0 text-anchor="middle">{label}</text>
                </g>
            }
        })
        .collect_view();
    let view_box = format!("0 0 {width} {height}");
    let note = empty.then(|| {
        view! {
            <text x=width / 2.0 y=height / 2.0 text-anchor="middle">"no data yet"</text>
        }
    });
    let class = if chart.wide { "chart wide" } else { "chart" };
    view! {
        <figure class="chart-figure" id=chart.id.clone()>
            <svg class=class viewBox=view_box role="img">
                <title>{chart.title.clone()}</title>
                {y_ticks}
                {x_ticks}
                <line class="axis" x1=LEFT x2=LEFT y1=TOP y2=TOP + plot_h />
                <line class="axis" x1=LEFT x2=width - RIGHT y1=TOP + plot_h y2=TOP + plot_h />
                <text x=LEFT + plot_w / 2.0 y=height - 6.0 text-anchor="middle">{chart.x_label.clone()}</text>
                <text x="14" y=TOP + plot_h / 2.0 text-anchor="middle" transform=format!("rotate(-90 14 {})", TOP + plot_h / 2.0)>{chart.y_label.clone()}</text>
                {lines}
                {markers}
                {note}
            </svg>
            <figcaption><strong>{chart.title.clone()}</strong>" "<span class="legend">{legend}</span></figcaption>
        </figure>
    }
}

/// One bar: a label, a value, and its tone class (`ok`, `warn`, `bad`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub tone: &'static str,
}

/// A line across every bar at a value (a warn or alert threshold).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub value: f64,
    pub label: String,
    /// `warn` or `bad`.
    pub tone: &'static str,
}

/// A horizontal bar chart. With a `scale` of 0 the largest value spans the width; otherwise
/// `scale` does, so that bars read alike from one report to the next.
#[component]
pub fn BarChartView(
    title: String,
    bars: Vec<Bar>,
    #[prop(optional)] scale: f64,
    #[prop(optional)] thresholds: Vec<Threshold>,
) -> impl IntoView {
    let row = 18.0;
    let label_w = 120.0;
    let height = TOP + row * bars.len().max(1) as f64 + 8.0;
    let largest = bars
        .iter()
        .map(|bar| bar.value)
        .filter(|value| value.is_finite())
        .fold(0.0f64, f64::max);
    let max = if scale > 0.0 {
        scale.max(largest)
    } else {
        largest
    }
    .max(f64::MIN_POSITIVE);
    let plot_w = WIDTH - label_w - 80.0;
    let rows = bars
        .into_iter()
        .enumerate()
        .map(|(index, bar)| {
            let y = TOP + row * index as f64;
            let width = (bar.value.max(0.0) / max * plot_w).max(1.0);
            let fill = match bar.tone {
                "bad" => "#c0262d",
                "warn" => "#d0651d",
                _ => "#17803d",
            };
            let hover = format!("{}: {}", bar.label, number(bar.value));
            view! {
                <g>
                    <text x=label_w - 6.0 y=y + row / 2.0 text-anchor="end" dominant-baseline="middle">{bar.label}</text>
                    <rect class="bar" x=label_w y=y + 2.0 width=format!("{width:.1}") height=row - 4.0 fill=fill>
                        <title>{hover}</title>
                    </rect>
                    <text x=label_w + width + 4.0 y=y + row / 2.0 dominant-baseline="middle">{number(bar.value)}</text>
                </g>
            }
        })
        .collect_view();
    let lines = thresholds
        .into_iter()
        .filter(|threshold| threshold.value > 0.0 && threshold.value <= max)
        .map(|threshold| {
            let x = format!("{:.1}", label_w + threshold.value / max * plot_w);
            let class = format!("threshold {}", threshold.tone);
            let hover = format!("{} at {}", threshold.label, number(threshold.value));
            view! {
                <g class=class>
                    <title>{hover}</title>
                    <line x1=x.clone() x2=x.clone() y1=TOP - 4.0 y2=height - 6.0 />
                    <text x=x y=TOP - 8.0 text-anchor="middle">{threshold.label}</text>
                </g>
            }
        })
        .collect_view();
    let scale_note = (scale > 0.0).then(|| {
        let x = label_w + plot_w;
        view! { <text x=format!("{x:.1}") y=TOP - 8.0 text-anchor="middle">{number(max)}</text> }
    });
    let view_box = format!("0 0 {WIDTH} {height}");
    view! {
        <svg class="chart bars" viewBox=view_box role="img">
            <title>{title}</title>
            {rows}
            {lines}
            {scale_note}
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_that_would_overlap_become_one() {
        let marker = |label: &str| Marker {
            x: 0.0,
            label: label.into(),
            hover: format!("revision {label}"),
        };
        let (r1, r2, r3) = (marker("r1"), marker("r2"), marker("r3"));
        let merged = cluster(vec![(300.0, &r3), (100.0, &r1), (110.0, &r2)]);
        assert_eq!(
            merged,
            vec![
                (
                    100.0,
                    "r1,r2".to_owned(),
                    "revision r1\nrevision r2".to_owned()
                ),
                (300.0, "r3".to_owned(), "revision r3".to_owned()),
            ]
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(0.0, 1.0, 4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(ticks(3.0, 3.0, 4), vec![3.0]);
    }

    #[test]
    fn a_line_chart_has_axes_labels_and_hover_values() {
        let chart = LineChart {
            title: "p99 latency".into(),
            x_label: "time (UTC)".into(),
            y_label: "ms".into(),
            x_axis: XAxis::Number,
            series: vec![Series {
                name: "v<1>".into(),
                points: vec![
                    Point {
                        x: 0.0,
                        y: 1.0,
                        hover: "step 0: 1".into(),
                    },
                    Point {
                        x: 10.0,
                        y: 3.5,
                        hover: "step 10: 3.5".into(),
                    },
                ],
            }],
            ..LineChart::default()
        };
        let html = view! { <LineChartView chart=chart /> }.to_html();
        assert!(html.contains("<svg"), "{html}");
        assert!(html.contains("<title>p99 latency</title>"), "{html}");
        assert!(
            html.contains("<title>v&lt;1&gt;: step 10: 3.5</title>"),
            "{html}"
        );
        assert!(html.contains(">time (UTC)</text>"));
        assert!(html.contains("<path d=\"M"));
    }
}
