//! What a serving replica (`slipway serve`) reports to the server every second, so that its
//! predictions count in the server's monitoring (live metrics, `/metrics`, SLO guards, drift)
//! as if the server had answered them: per-second counts per deployment and version, a
//! bounded sample of the input rows its primaries read, and its shadow comparisons.
//! `POST /api/v1/replicas/reports` takes one [`ReplicaReport`]; the limits here bound it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most per-second buckets in one report.
pub const MAX_REPORT_BUCKETS: usize = 1_000;
/// Most input rows in one report.
pub const MAX_REPORT_ROWS: usize = 1_000;
/// Most values (or cells) in one input row.
pub const MAX_ROW_VALUES: usize = 10_000;
/// Most shadow comparisons in one report.
pub const MAX_REPORT_SHADOWS: usize = 1_000;
/// Most predicted classes counted in one bucket.
pub const MAX_BUCKET_CLASSES: usize = 1_000;
/// Most latency buckets in one bucket (the server's histogram has fewer).
pub const MAX_LATENCY_BUCKETS: usize = 64;

/// One report of a serving replica.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaReport {
    /// The replica's id, random per boot.
    pub replica: String,
    /// Counts up from 1 per replica: a report sent again (its answer was lost) is counted once.
    pub sequence: u64,
    #[serde(default)]
    pub buckets: Vec<ReportBucket>,
    #[serde(default)]
    pub rows: Vec<ReportRow>,
    #[serde(default)]
    pub shadows: Vec<ReportShadow>,
}

/// One deployment version's requests during one second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBucket {
    pub deployment: String,
    pub version: u32,
    /// Seconds since the Unix epoch, by the replica's clock.
    pub second: u64,
    #[serde(default)]
    pub ok: u64,
    /// Requests refused for their input (the caller's mistake, not the version's).
    #[serde(default)]
    pub invalid_input: u64,
    /// Requests the model failed.
    #[serde(default)]
    pub error: u64,
    /// Counts per latency bucket, in the server's bounds (`slipway_predict_latency_seconds`),
    /// the last one above them all.
    #[serde(default)]
    pub latency: Vec<u64>,
    /// The sum of the latencies, in seconds.
    #[serde(default)]
    pub latency_sum: f64,
    /// Predicted classes and how often.
    #[serde(default)]
    pub classes: BTreeMap<String, u64>,
}

/// One input row a primary read, for drift.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRow {
    pub deployment: String,
    pub version: u32,
    /// Seconds since the Unix epoch when it came.
    pub second: u64,
    /// The token name that sent it.
    pub caller: String,
    /// Feature values in the model's order; `null` where a cell was missing or not a number.
    pub values: Vec<Option<f64>>,
    /// A table model's cells as read (empty for an all-numeric model).
    #[serde(default)]
    pub cells: Vec<String>,
    /// The value predicted, or the class's index among the model's labels.
    #[serde(default)]
    pub predicted: Option<f64>,
}

/// How often the shadow agreed with the answers of one revision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportShadow {
    pub deployment: String,
    pub revision: u32,
    pub primary_version: u32,
    pub shadow_version: u32,
    pub requests: u64,
    pub agreements: u64,
    pub errors: u64,
}

/// The answer to a report: what was taken. The counts reach the live metrics within about a
/// second (on the server replica that runs the SLO guards).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportReceived {
    pub buckets: usize,
    pub rows: usize,
    pub shadows: usize,
}

impl ReplicaReport {
    /// Whether there is nothing to say.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty() && self.rows.is_empty() && self.shadows.is_empty()
    }

    /// Checks the bounds; the error names the field and what was expected.
    pub fn validate(&self) -> Result<(), String> {
        if self.replica.is_empty() || self.replica.len() > 64 {
            return Err("replica: expected an id of 1 to 64 characters".into());
        }
        let most = |field: &str, len: usize, max: usize| {
            if len > max {
                Err(format!(
                    "{field}: expected at most {max} entries, got {len}"
                ))
            } else {
                Ok(())
            }
        };
        most("buckets", self.buckets.len(), MAX_REPORT_BUCKETS)?;
        most("rows", self.rows.len(), MAX_REPORT_ROWS)?;
        most("shadows", self.shadows.len(), MAX_REPORT_SHADOWS)?;
        for (index, bucket) in self.buckets.iter().enumerate() {
            most(
                &format!("buckets[{index}].latency"),
                bucket.latency.len(),
                MAX_LATENCY_BUCKETS,
            )?;
            most(
                &format!("buckets[{index}].classes"),
                bucket.classes.len(),
                MAX_BUCKET_CLASSES,
            )?;
            if !(bucket.latency_sum.is_finite() && bucket.latency_sum >= 0.0) {
                return Err(format!(
                    "buckets[{index}].latency_sum: expected a number of seconds of 0 or more"
                ));
            }
        }
        for (index, row) in self.rows.iter().enumerate() {
            most(
                &format!("rows[{index}].values"),
                row.values.len(),
                MAX_ROW_VALUES,
            )?;
            most(
                &format!("rows[{index}].cells"),
                row.cells.len(),
                MAX_ROW_VALUES,
            )?;
        }
        for (index, shadow) in self.shadows.iter().enumerate() {
            if shadow.agreements + shadow.errors > shadow.requests {
                return Err(format!(
                    "shadows[{index}]: expected agreements + errors of at most requests"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn bounds_name_the_field() {
        let mut report = ReplicaReport {
            replica: "r1".into(),
            sequence: 1,
            ..ReplicaReport::default()
        };
        assert_eq!(report.validate(), Ok(()));
        report.rows = vec![ReportRow::default(); MAX_REPORT_ROWS + 1];
        let err = report.validate().unwrap_err();
        assert!(err.starts_with("rows: expected at most 1000"), "{err}");
        report.rows.clear();
        report.buckets = vec![ReportBucket {
            latency: vec![0; MAX_LATENCY_BUCKETS + 1],
            ..ReportBucket::default()
        }];
        let err = report.validate().unwrap_err();
        assert!(err.starts_with("buckets[0].latency:"), "{err}");
    }
}
