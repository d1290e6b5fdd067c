//! Long per-minute histories made chartable: minutes merged into fixed steps per version, so
//! that a week draws about a hundred points rather than ten thousand.

use chrono::{DateTime, Utc};
use slipway_api::MinuteMetrics;
use std::collections::BTreeMap;

/// Merges `history` (oldest first) into steps of `step_minutes`, per version, oldest first.
/// Requests, errors and predictions add up. The stored minutes keep no latency histogram at
/// this point, so a step's p99 is its worst minute's (an upper bound that never hides a slow
/// minute) and its p50 the request-weighted mean of its minutes'.
pub fn downsample(history: Vec<MinuteMetrics>, step_minutes: u32) -> Vec<MinuteMetrics> {
    if step_minutes <= 1 {
        return history;
    }
    let step = i64::from(step_minutes) * 60;
    // (step start, version) → merged minute, with the weights of its p50.
    let mut steps: BTreeMap<(i64, u32), (MinuteMetrics, f64, u64)> = BTreeMap::new();
    for minute in history {
        let start = minute.minute.timestamp().div_euclid(step) * step;
        let at = DateTime::<Utc>::from_timestamp(start, 0).unwrap_or(minute.minute);
        let (merged, p50_sum, p50_weight) =
            steps.entry((start, minute.version)).or_insert_with(|| {
                (
                    MinuteMetrics {
                        version: minute.version,
                        minute: at,
                        requests: 0,
                        errors: 0,
                        p50_ms: None,
                        p99_ms: None,
                        predictions: BTreeMap::new(),
                    },
                    0.0,
                    0,
                )
            });
        merged.requests += minute.requests;
        merged.errors += minute.errors;
        if let Some(p50) = minute.p50_ms {
            let weight = minute.requests.max(1);
            *p50_sum += p50 * weight as f64;
            *p50_weight += weight;
            merged.p50_ms = Some(*p50_sum / *p50_weight as f64);
        }
        if let Some(p99) = minute.p99_ms {
            merged.p99_ms = Some(merged.p99_ms.map_or(p99, |worst| worst.max(p99)));
        }
        for (class, count) in minute.predictions {
            *merged.predictions.entry(class).or_default() += count;
        }
    }
    steps.into_values().map(|(merged, _, _)| merged).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(version: u32, at: i64, requests: u64, p50: f64, p99: f64) -> MinuteMetrics {
        MinuteMetrics {
            version,
            minute: DateTime::<Utc>::from_timestamp(at * 60, 0).unwrap_or_default(),
            requests,
            errors: 1,
            p50_ms: Some(p50),
            p99_ms: Some(p99),
            predictions: BTreeMap::from([("7".to_owned(), requests)]),
        }
    }

    #[test]
    fn minutes_merge_into_steps_per_version() {
        let history = vec![
            minute(1, 0, 10, 1.0, 5.0),
            minute(2, 0, 1, 9.0, 90.0),
            minute(1, 14, 30, 3.0, 8.0),
            minute(1, 15, 5, 2.0, 4.0),
        ];
        let steps = downsample(history, 15);
        assert_eq!(steps.len(), 3);
        let first = &steps[0];
        assert_eq!((first.version, first.requests, first.errors), (1, 40, 2));
        assert_eq!(first.p99_ms, Some(8.0));
        assert_eq!(first.p50_ms, Some((10.0 + 90.0) / 40.0));
        assert_eq!(first.predictions["7"], 40);
        assert_eq!((steps[1].version, steps[1].requests), (2, 1));
        assert_eq!(steps[2].minute.timestamp(), 15 * 60);
        assert_eq!(downsample(steps.clone(), 1), steps);
    }
}
