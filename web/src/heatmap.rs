//! The drift heatmap: each feature's PSI per hour as a grid of cells coloured on the same
//! absolute scale as the drift bars (green below the warn threshold, orange from it, red from
//! the alert threshold; grey where nothing was judged), with the value on hover, so that one
//! glance tells when inputs began to drift and which features moved together.

use crate::layout::number;
use leptos::prelude::*;
use slipway_api::DriftHours;

const WIDTH: f64 = 1200.0;
const LABEL_WIDTH: f64 = 150.0;
const RIGHT: f64 = 10.0;
const CELL_HEIGHT: f64 = 16.0;
const TOP: f64 = 6.0;
const BOTTOM: f64 = 26.0;
/// Hour labels along the bottom, at most.
const LABELS: usize = 12;

/// A cell's fill and what it says on hover.
fn fill(psi: Option<f64>, warn: f64, alert: f64) -> (&'static str, f64) {
    match psi {
        None => ("#d6d9de", 1.0),
        Some(psi) if psi >= alert => ("#c0262d", 1.0),
        Some(psi) if psi >= warn => ("#d0651d", 1.0),
        // Below warn the shade deepens towards it: a stable feature stays pale.
        Some(psi) => (
            "#17803d",
            0.2 + 0.6 * (psi / warn.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0),
        ),
    }
}

/// The heatmap of the `rows` most drifted features (all when `rows` is 0).
#[component]
pub fn DriftHeatmap(
    drift: DriftHours,
    warn: f64,
    alert: f64,
    #[prop(optional)] rows: usize,
) -> impl IntoView {
    let hours = drift.hours.len().max(1);
    let shown = if rows == 0 {
        drift.features.len()
    } else {
        rows
    };
    let features: Vec<_> = drift.features.into_iter().take(shown).collect();
    let cell_w = (WIDTH - LABEL_WIDTH - RIGHT) / hours as f64;
    let height = TOP + CELL_HEIGHT * features.len().max(1) as f64 + BOTTOM;
    // Days matter once the range spans more than one.
    let format = if hours > 24 { "%m-%d %H:00" } else { "%H:00" };
    let every = hours.div_ceil(LABELS).max(1);
    let labels = drift
        .hours
        .iter()
        .enumerate()
        .filter(|(slot, _)| slot % every == 0)
        .map(|(slot, at)| {
            let x = LABEL_WIDTH + cell_w * (slot as f64 + 0.5);
            let y = height - BOTTOM + 16.0;
            view! { <text x=format!("{x:.1}") y=y text-anchor="middle">{at.format(format).to_string()}</text> }
        })
        .collect_view();
    let hour_names: Vec<String> = drift
        .hours
        .iter()
        .map(|at| at.format("%Y-%m-%d %H:00 UTC").to_string())
        .collect();
    let grid = features
        .into_iter()
        .enumerate()
        .map(|(row, feature)| {
            let y = TOP + CELL_HEIGHT * row as f64;
            let cells = feature
                .psi
                .iter()
                .enumerate()
                .map(|(slot, psi)| {
                    let (color, opacity) = fill(*psi, warn, alert);
                    let hour = hour_names.get(slot).cloned().unwrap_or_default();
                    let hover = match psi {
                        Some(psi) => format!("{} · {hour}: PSI {}", feature.feature, number(*psi)),
                        None => format!("{} · {hour}: not judged", feature.feature),
                    };
                    let x = LABEL_WIDTH + cell_w * slot as f64;
                    view! {
                        <rect x=format!("{x:.1}") y=y + 1.0 width=format!("{:.1}", (cell_w - 1.0).max(1.0)) height=CELL_HEIGHT - 2.0 fill=color fill-opacity=format!("{opacity:.2}")>
                            <title>{hover}</title>
                        </rect>
                    }
                })
                .collect_view();
            view! {
                <g>
                    <text x=LABEL_WIDTH - 6.0 y=y + CELL_HEIGHT / 2.0 text-anchor="end" dominant-baseline="middle">{feature.feature.clone()}</text>
                    {cells}
                </g>
            }
        })
        .collect_view();
    let view_box = format!("0 0 {WIDTH} {height}");
    let title = format!(
        "PSI per feature and hour over the last {hours} hours: green below warn ({}), orange from warn, red from alert ({}), grey not judged",
        number(warn),
        number(alert)
    );
    view! {
        <figure class="chart-figure" id="drift-heatmap">
            <svg class="chart wide heatmap" viewBox=view_box role="img">
                <title>{title.clone()}</title>
                {grid}
                {labels}
            </svg>
            <figcaption>
                <strong>"Drift over time"</strong>" "
                <span class="legend">
                    <span><i style="background:#17803d"></i>"below warn"</span>
                    <span><i style="background:#d0651d"></i>"warn"</span>
                    <span><i style="background:#c0262d"></i>"alert"</span>
                    <span><i style="background:#d6d9de"></i>"not judged"</span>
                </span>
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use slipway_api::FeatureHours;

    fn hours(count: u32) -> Vec<chrono::DateTime<chrono::Utc>> {
        (0..count)
            .map(|hour| {
                chrono::Utc
                    .with_ymd_and_hms(2026, 12, 1, hour, 0, 0)
                    .single()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn cells_read_on_the_absolute_scale_and_say_their_hour() {
        let drift = DriftHours {
            deployment: "digits".into(),
            hours: hours(3),
            features: vec![
                FeatureHours {
                    feature: "p12".into(),
                    psi: vec![Some(0.01), Some(0.15), Some(5.8)],
                },
                FeatureHours {
                    feature: "p3".into(),
                    psi: vec![None, Some(0.02), Some(0.03)],
                },
                FeatureHours {
                    feature: "p9".into(),
                    psi: vec![None, None, Some(0.01)],
                },
            ],
        };
        let html = view! { <DriftHeatmap drift=drift warn=0.1 alert=0.25 rows=2 /> }.to_html();
        assert!(
            html.contains("<title>p12 · 2026-12-01 02:00 UTC: PSI 5.8</title>"),
            "{html}"
        );
        assert!(
            html.contains("<title>p3 · 2026-12-01 00:00 UTC: not judged</title>"),
            "{html}"
        );
        // Only the two rows asked for.
        assert!(!html.contains(">p9<"), "{html}");
        assert!(html.contains(r##"fill="#c0262d""##) && html.contains(r##"fill="#d0651d""##));
        assert!(html.contains(">01:00</text>"), "{html}");
    }

    #[test]
    fn a_stable_feature_stays_pale() {
        assert_eq!(fill(Some(0.0), 0.1, 0.25), ("#17803d", 0.2));
        assert_eq!(fill(Some(0.1), 0.1, 0.25).0, "#d0651d");
        assert_eq!(fill(Some(0.25), 0.1, 0.25).0, "#c0262d");
        assert_eq!(fill(None, 0.1, 0.25).0, "#d6d9de");
    }
}
