//! Metric history: every point of one metric of a run, paged, or downsampled for a chart.
//!
//! Downsampling uses largest-triangle-three-buckets, which keeps the first and last points and
//! the visual shape (peaks and dips survive) far better than taking every n-th point.

use super::points::{StoredPoint, decode};
use super::runs;
use crate::entity::tracking::metric;
use crate::error::{ServiceError, ServiceResult};
use crate::pagination;
use crate::time::from_millis;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use slipway_api::limits::MAX_HISTORY_PAGE;
use slipway_api::{MetricHistory, MetricHistoryQuery, MetricValue};

/// Points per page when no limit is given.
const DEFAULT_PAGE: u32 = 10_000;

/// A page of the history of `query.key` on run `run_id`, in step order (then time).
pub async fn history(
    db: &DatabaseConnection,
    run_id: i64,
    query: &MetricHistoryQuery,
) -> ServiceResult<MetricHistory> {
    super::logging::validate_key("key", &query.key)?;
    if query.max_points.is_some() && query.page_token.is_some() {
        return Err(ServiceError::invalid(
            "page_token: a downsampled history is one page; drop page_token or max_points",
        ));
    }
    if let Some(max_points) = query.max_points
        && max_points < 2
    {
        return Err(ServiceError::invalid(format!(
            "max_points: expected at least 2, got {max_points}"
        )));
    }
    let limit = u64::from(query.limit.unwrap_or(DEFAULT_PAGE));
    if limit == 0 || limit > u64::from(MAX_HISTORY_PAGE) {
        return Err(ServiceError::invalid(format!(
            "limit: expected a number from 1 to {MAX_HISTORY_PAGE}, got {limit}"
        )));
    }
    let offset = pagination::decode_offset(query.page_token.as_deref())?;
    runs::find(db, run_id).await?;
    let points = load(db, run_id, &query.key).await?;
    if let Some(max_points) = query.max_points {
        let downsampled = points.len() > max_points as usize;
        let points = points.into_iter().map(to_api).collect();
        return Ok(MetricHistory {
            key: query.key.clone(),
            points: downsample(points, max_points as usize),
            downsampled,
            next_page_token: None,
        });
    }
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(points.len());
    let end = start.saturating_add(limit as usize).min(points.len());
    Ok(MetricHistory {
        key: query.key.clone(),
        points: points[start..end].iter().copied().map(to_api).collect(),
        downsampled: false,
        next_page_token: (end < points.len()).then(|| pagination::at_offset(end as u64)),
    })
}

/// Every point of one metric of a run, sorted by step, then time.
async fn load(db: &DatabaseConnection, run_id: i64, key: &str) -> ServiceResult<Vec<StoredPoint>> {
    let chunks = metric::Entity::find()
        .filter(metric::Column::RunId.eq(run_id))
        .filter(metric::Column::Key.eq(key))
        .order_by_asc(metric::Column::Id)
        .all(db)
        .await?;
    let total = chunks.iter().map(|c| c.point_count.max(0) as usize).sum();
    let mut points = Vec::with_capacity(total);
    for chunk in &chunks {
        if !decode(&chunk.points, &mut points) {
            tracing::error!(
                run_id,
                key,
                chunk = chunk.id,
                "a stored metric chunk is torn"
            );
        }
    }
    // Stable: points with the same step and time keep the order they were logged in.
    points.sort_by_key(|p| (p.step, p.timestamp));
    Ok(points)
}

fn to_api(point: StoredPoint) -> MetricValue {
    MetricValue {
        step: point.step,
        value: point.value,
        timestamp: from_millis(point.timestamp),
    }
}

/// Largest-triangle-three-buckets: at most `target` points, first and last kept.
pub fn downsample(points: Vec<MetricValue>, target: usize) -> Vec<MetricValue> {
    if target < 3 || points.len() <= target {
        if points.len() > target && target == 2 {
            let first = points[0].clone();
            let last = points[points.len() - 1].clone();
            return vec![first, last];
        }
        return points;
    }
    let x = |p: &MetricValue| p.step as f64;
    let bucket_size = (points.len() - 2) as f64 / (target - 2) as f64;
    let mut sampled = Vec::with_capacity(target);
    sampled.push(points[0].clone());
    let mut previous = 0usize;
    for bucket in 0..target - 2 {
        let start = (bucket as f64 * bucket_size) as usize + 1;
        let end = (((bucket + 1) as f64 * bucket_size) as usize + 1).min(points.len() - 1);
        // The average of the next bucket is the third corner of each candidate triangle.
        let next_start = end;
        let next_end = (((bucket + 2) as f64 * bucket_size) as usize + 1).min(points.len());
        let next = &points[next_start..next_end.max(next_start + 1).min(points.len())];
        let count = next.len() as f64;
        let avg_x = next.iter().map(x).sum::<f64>() / count;
        let avg_y = next.iter().map(|p| p.value).sum::<f64>() / count;
        let (px, py) = (x(&points[previous]), points[previous].value);
        let mut best = start;
        let mut best_area = -1.0;
        for (index, candidate) in points
            .iter()
            .enumerate()
            .take(end.max(start + 1))
            .skip(start)
        {
            let area =
                ((px - avg_x) * (candidate.value - py) - (px - x(candidate)) * (avg_y - py)).abs();
            if area > best_area {
                best_area = area;
                best = index;
            }
        }
        sampled.push(points[best].clone());
        previous = best;
    }
    sampled.push(points[points.len() - 1].clone());
    sampled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<MetricValue> {
        values
            .iter()
            .enumerate()
            .map(|(step, value)| MetricValue {
                step: step as i64,
                value: *value,
                timestamp: from_millis(0),
            })
            .collect()
    }

    #[test]
    fn keeps_first_last_and_the_spike() {
        let mut values = vec![0.0; 1000];
        values[500] = 100.0;
        values[999] = 5.0;
        let sampled = downsample(series(&values), 50);
        assert_eq!(sampled.len(), 50);
        assert_eq!(sampled[0].step, 0);
        assert_eq!(sampled[49].step, 999);
        assert!(
            sampled.iter().any(|p| p.value == 100.0),
            "the spike must survive"
        );
        assert!(sampled.windows(2).all(|w| w[0].step < w[1].step));
    }

    #[test]
    fn short_series_are_untouched() {
        let points = series(&[1.0, 2.0, 3.0]);
        assert_eq!(downsample(points.clone(), 10), points);
        assert_eq!(downsample(points, 2).len(), 2);
    }
}
