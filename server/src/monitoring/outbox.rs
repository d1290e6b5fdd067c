//! A serving replica's side of its reports: what its monitor recorded since the last report
//! (per-second counts per deployment and version, and a bounded sample of the newest input
//! rows), and the conversions between the monitor's buckets and the wire's.

use super::live::{Bucket, LiveRow, Outcome};
use slipway_api::{MAX_REPORT_ROWS, ReportBucket, ReportRow};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a serving replica recorded and has not reported yet.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Counts by (deployment, version, second).
    pub buckets: BTreeMap<(String, u32, u64), Bucket>,
    /// The newest input rows (older ones are dropped beyond the report's limit: drift reads
    /// the most recent rows anyway).
    pub rows: VecDeque<ReportRow>,
}

impl Outbox {
    pub(crate) fn add(
        &mut self,
        name: &str,
        version: u32,
        second: u64,
        outcome: Outcome,
        seconds: f64,
        labels: &[String],
    ) {
        self.buckets
            .entry((name.to_owned(), version, second))
            .or_default()
            .add(outcome, seconds, labels);
    }

    /// Keeps rows of deployment `name`'s version `version`, come at `second`.
    pub(crate) fn add_rows(
        &mut self,
        (name, version, second): (&str, u32, u64),
        caller: &str,
        rows: &[Vec<f64>],
        cells: &[Vec<String>],
        predicted: &[f64],
    ) {
        // Rows that would be dropped at once are never copied.
        let skip = rows.len().saturating_sub(MAX_REPORT_ROWS);
        for (index, values) in rows.iter().enumerate().skip(skip) {
            if self.rows.len() >= MAX_REPORT_ROWS {
                self.rows.pop_front();
            }
            self.rows.push_back(ReportRow {
                deployment: name.to_owned(),
                version,
                second,
                caller: caller.to_owned(),
                // JSON has no NaN: a missing cell travels as null.
                values: values
                    .iter()
                    .map(|value| value.is_finite().then_some(*value))
                    .collect(),
                cells: cells.get(index).cloned().unwrap_or_default(),
                predicted: predicted
                    .get(index)
                    .copied()
                    .filter(|value| value.is_finite()),
            });
        }
    }

    /// Takes the oldest `max_buckets` buckets and all the rows, leaving the rest.
    pub(crate) fn take(&mut self, max_buckets: usize) -> Outbox {
        let buckets = if self.buckets.len() <= max_buckets {
            std::mem::take(&mut self.buckets)
        } else {
            let mut taken = BTreeMap::new();
            while taken.len() < max_buckets {
                let Some((key, bucket)) = self.buckets.pop_first() else {
                    break;
                };
                taken.insert(key, bucket);
            }
            taken
        };
        Outbox {
            buckets,
            rows: std::mem::take(&mut self.rows),
        }
    }

    /// The buckets on the wire.
    pub fn report_buckets(&self) -> Vec<ReportBucket> {
        self.buckets
            .iter()
            .map(|((deployment, version, second), bucket)| {
                let count = |outcome| bucket.outcomes.get(&outcome).copied().unwrap_or(0);
                ReportBucket {
                    deployment: deployment.clone(),
                    version: *version,
                    second: *second,
                    ok: count(Outcome::Ok),
                    invalid_input: count(Outcome::InvalidInput),
                    error: count(Outcome::Error),
                    latency: bucket.latency.clone(),
                    latency_sum: bucket.latency_sum,
                    classes: bucket.classes.clone(),
                }
            })
            .collect()
    }
}

/// A reported bucket as the monitor's.
pub fn bucket_of(report: &ReportBucket) -> Bucket {
    let outcomes = [
        (Outcome::Ok, report.ok),
        (Outcome::InvalidInput, report.invalid_input),
        (Outcome::Error, report.error),
    ]
    .into_iter()
    .filter(|(_, count)| *count > 0)
    .collect();
    Bucket {
        outcomes,
        latency: report.latency.clone(),
        latency_sum: report.latency_sum,
        classes: report.classes.clone(),
    }
}

/// A reported row as the monitor's: its time placed on this process's clock by its age.
pub fn row_of(report: ReportRow, now_second: u64, now: Instant) -> LiveRow {
    let age = Duration::from_secs(now_second.saturating_sub(report.second));
    LiveRow {
        seq: 0,
        at: now.checked_sub(age).unwrap_or(now),
        caller: Arc::from(report.caller),
        values: report
            .values
            .into_iter()
            .map(|value| value.unwrap_or(f64::NAN))
            .collect(),
        cells: report.cells,
        predicted: report.predicted,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::monitoring::live::Monitor;

    #[test]
    fn a_replicas_counts_and_rows_merge_as_if_recorded_here() {
        let replica = Monitor::reporting();
        for outcome in [Outcome::Ok, Outcome::Ok, Outcome::Error] {
            replica.record(
                ("d", 7),
                2,
                outcome,
                Duration::from_millis(3),
                &["a".into()],
            );
        }
        let rows = vec![vec![1.0, f64::NAN]; MAX_REPORT_ROWS + 5];
        replica.record_inputs("d", 2, "alice", rows, Vec::new(), &[0.0]);
        let outbox = replica.take_report(1000).unwrap();
        assert_eq!(outbox.rows.len(), MAX_REPORT_ROWS, "the newest rows only");
        assert_eq!(outbox.rows[0].values, vec![Some(1.0), None]);
        let buckets = outbox.report_buckets();
        assert_eq!((buckets[0].ok, buckets[0].error), (2, 1));
        assert!(replica.take_report(1000).unwrap().buckets.is_empty());

        let server = Monitor::new(true);
        for bucket in &buckets {
            server.merge_second(("d", 1), bucket.version, bucket.second, &bucket_of(bucket));
        }
        let window = server.window("d", 2, 60);
        assert_eq!((window.requests(), window.errors()), (3, 1));
        assert_eq!(window.classes["a"], 3);
        assert_eq!(server.totals()[0].2.requests(), 3);
        assert_eq!(server.take_minutes(true).len(), 1);
        let now = Instant::now();
        let second = super::super::live::now_second();
        let rows: Vec<LiveRow> = outbox
            .rows
            .into_iter()
            .map(|row| row_of(row, second, now))
            .collect();
        server.merge_rows("d", 2, rows);
        let (kept, last) = server.with("d", |s| (s.inputs.len(), s.last_seq));
        assert_eq!((kept, last), (1000, 1000));
        assert!(server.with("d", |s| s.inputs[0].values[1].is_nan()));
    }

    #[test]
    fn an_old_second_goes_in_order_and_to_its_minute() {
        let server = Monitor::new(true);
        let now = super::super::live::now_second();
        let bucket = bucket_of(&ReportBucket {
            ok: 1,
            ..ReportBucket::default()
        });
        server.merge_second(("d", 1), 1, now, &bucket);
        server.merge_second(("d", 1), 1, now - 120, &bucket);
        server.merge_second(("d", 1), 1, now + 30, &bucket);
        assert_eq!(server.window("d", 1, 60).requests(), 2, "the future is now");
        assert_eq!(server.window("d", 1, 300).requests(), 3);
        let minutes = server.take_minutes(true);
        assert_eq!(minutes.len(), 2, "{minutes:?}");
    }
}
