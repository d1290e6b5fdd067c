//! Conversions between the database's integer milliseconds and the API's UTC times.

use chrono::{DateTime, TimeZone, Utc};

/// Now, in milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// Milliseconds since the epoch as a UTC time (out-of-range values clamp to the epoch).
pub fn from_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// A UTC time as milliseconds since the epoch.
pub fn to_millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_milliseconds() {
        let millis = 1_764_000_000_123;
        assert_eq!(to_millis(from_millis(millis)), millis);
    }
}
