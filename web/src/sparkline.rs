//! Sparklines: a small inline SVG line without axes, one value per step, for a glance at a
//! trend inside a table cell. The numbers themselves stay in the cell's text and in the
//! image's label, so the line is never the only carrier of a value.

use leptos::prelude::*;

const WIDTH: f64 = 120.0;
const HEIGHT: f64 = 24.0;
/// Keeps the stroke inside the box at the extremes.
const PAD: f64 = 2.0;

/// The path of `values` (one per step, `None` a gap): `M`/`L` commands scaled into the box,
/// from zero to the largest value, or an empty string when there is nothing to draw.
pub fn spark_path(values: &[Option<f64>]) -> String {
    let max = values
        .iter()
        .flatten()
        .copied()
        .filter(|value| value.is_finite())
        .fold(0.0_f64, f64::max);
    let steps = values.len().saturating_sub(1).max(1) as f64;
    let mut path = String::new();
    let mut pen_down = false;
    for (index, value) in values.iter().enumerate() {
        let Some(value) = value.filter(|value| value.is_finite()) else {
            pen_down = false;
            continue;
        };
        let x = PAD + (WIDTH - 2.0 * PAD) * index as f64 / steps;
        let share = if max > 0.0 { value / max } else { 0.0 };
        let y = HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * share;
        if !path.is_empty() {
            path.push(' ');
        }
        path.push(if pen_down { 'L' } else { 'M' });
        path.push_str(&format!("{x:.1},{y:.1}"));
        pen_down = true;
    }
    path
}

/// The height of `values[index]` in the box, on the same scale as [`spark_path`].
fn point_y(values: &[Option<f64>], index: usize) -> f64 {
    let max = values
        .iter()
        .flatten()
        .copied()
        .filter(|value| value.is_finite())
        .fold(0.0_f64, f64::max);
    let value = values.get(index).copied().flatten().unwrap_or_default();
    let share = if max > 0.0 { value / max } else { 0.0 };
    HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * share
}

/// A sparkline of `values`; `label` names what it shows for screen readers and on hover.
#[component]
pub fn Sparkline(values: Vec<Option<f64>>, label: String) -> impl IntoView {
    let path = spark_path(&values);
    let aria = label.clone();
    // A point with no neighbour has no segment to stroke: a dot shows it.
    let steps = values.len().saturating_sub(1).max(1) as f64;
    let dots = (0..values.len())
        .filter(|&index| {
            values[index].is_some()
                && (index == 0 || values[index - 1].is_none())
                && values.get(index + 1).is_none_or(Option::is_none)
        })
        .map(|index| {
            let x = PAD + (WIDTH - 2.0 * PAD) * index as f64 / steps;
            let y = point_y(&values, index);
            view! { <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="1.5" /> }
        })
        .collect_view();
    view! {
        <svg class="spark" viewBox=format!("0 0 {WIDTH} {HEIGHT}") width=WIDTH.to_string()
            height=HEIGHT.to_string() role="img" aria-label=aria>
            <title>{label}</title>
            <path d=path />
            {dots}
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_from_zero_to_the_largest_value_and_breaks_at_gaps() {
        let path = spark_path(&[Some(0.0), Some(10.0), None, Some(5.0)]);
        assert_eq!(path, "M2.0,22.0 L40.7,2.0 M118.0,12.0");
    }

    #[test]
    fn nothing_to_draw_is_an_empty_path() {
        assert_eq!(spark_path(&[None, None]), "");
        assert_eq!(spark_path(&[]), "");
    }

    #[test]
    fn an_isolated_point_is_drawn_as_a_dot() {
        let html = view! {
            <Sparkline values=vec![Some(1.0), None, Some(2.0), Some(3.0)] label="p99".to_owned() />
        }
        .to_html();
        assert_eq!(html.matches("<circle").count(), 1, "{html}");
        assert!(html.contains(r#"aria-label="p99""#), "{html}");
    }
}
