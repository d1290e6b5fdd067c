//! The SLO judgement: nothing below the request floor, invalid inputs neither errors nor
//! judged, the error rate before the latency, and latency only when the policy watches it.

use super::*;
use crate::monitoring::live::{Bucket, Outcome, latency_bounds};

/// A window of `ok` good, `errors` failed and `invalid` refused requests, each taking
/// `seconds`.
fn window(ok: u64, errors: u64, invalid: u64, seconds: f64) -> Bucket {
    let mut bucket = Bucket::default();
    for (outcome, count) in [
        (Outcome::Ok, ok),
        (Outcome::Error, errors),
        (Outcome::InvalidInput, invalid),
    ] {
        if count > 0 {
            bucket.outcomes.insert(outcome, count);
        }
    }
    bucket.latency = vec![0; latency_bounds().len() + 1];
    let index = latency_bounds().partition_point(|&bound| bound < seconds);
    bucket.latency[index] = ok + errors + invalid;
    bucket.latency_sum = seconds * (ok + errors + invalid) as f64;
    bucket
}

fn policy() -> SloPolicy {
    SloPolicy {
        max_error_rate: 0.05,
        max_p99_ms: Some(100.0),
        min_requests: 20,
        ..SloPolicy::default()
    }
}

#[test]
fn too_few_requests_are_not_judged() {
    // Every request failed, but there are fewer than the policy's floor.
    assert_eq!(breach(&policy(), &window(0, 19, 0, 0.001)), None);
}

#[test]
fn an_error_rate_above_the_maximum_breaches_and_says_so() {
    let (reason, kind) = breach(&policy(), &window(90, 10, 0, 0.001)).unwrap();
    assert_eq!(kind, "error_rate");
    assert!(reason.contains("error rate 10.0%"), "{reason}");
    assert!(reason.contains("(10 of 100 requests)"), "{reason}");
    // At the maximum exactly: not a breach.
    assert_eq!(breach(&policy(), &window(95, 5, 0, 0.001)), None);
}

#[test]
fn invalid_inputs_neither_count_as_errors_nor_toward_the_floor() {
    // 1000 bad rows from a caller do not roll the version back…
    assert_eq!(breach(&policy(), &window(100, 0, 1000, 0.001)), None);
    // …nor lift a handful of real requests over the floor.
    assert_eq!(breach(&policy(), &window(0, 10, 1000, 0.001)), None);
}

#[test]
fn slow_answers_breach_only_when_latency_is_watched() {
    let slow = window(100, 0, 0, 0.4);
    let (reason, kind) = breach(&policy(), &slow).unwrap();
    assert_eq!(kind, "latency");
    assert!(reason.contains("p99 latency"), "{reason}");
    let unwatched = SloPolicy {
        max_p99_ms: None,
        ..policy()
    };
    assert_eq!(breach(&unwatched, &slow), None);
    assert_eq!(breach(&policy(), &window(100, 0, 0, 0.001)), None);
}

#[test]
fn errors_are_reported_before_latency() {
    let (_, kind) = breach(&policy(), &window(50, 50, 0, 0.4)).unwrap();
    assert_eq!(kind, "error_rate");
}
