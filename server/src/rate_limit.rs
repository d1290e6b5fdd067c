//! Per-caller request budgets for the expensive routes (predictions and run searches): a token
//! bucket per token name, kept in memory.
//!
//! Callers without a token (anonymous read access) share one bucket: an address is no
//! identity (a proxy puts every client behind one; an IPv6 client has millions), and the
//! anonymous mode is for local demos. Admin tokens are exempt unless configured otherwise, so
//! an operator can always act and benchmark.
//!
//! A check takes one short lock on one of 16 shards, chosen by the name's hash, and touches no
//! database. The map holds one entry per token name that has called, so it is as small as the
//! token table.

use crate::auth::Caller;
use crate::config::{Config, RateLimit};
use slipway_api::Role;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// Token buckets of one shape, one per caller.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Takes one request from `key`'s bucket; when it is empty, says how long until it holds
    /// one again.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if !self.limit.enabled() {
            return Ok(());
        }
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        let shard = &self.shards[(hash as usize) % SHARDS];
        // A poisoned shard only means another request panicked mid-update; its numbers are
        // still usable.
        let mut buckets = shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let burst = f64::from(self.limit.burst);
        // The key is copied only for a caller's first request, not on every one.
        if !buckets.contains_key(key) {
            buckets.insert(
                key.to_owned(),
                Bucket {
                    tokens: burst,
                    refilled: now,
                },
            );
        }
        let Some(bucket) = buckets.get_mut(key) else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limit.per_sec).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            Err(Duration::from_secs_f64(missing / self.limit.per_sec))
        }
    }
}

/// Which budget a route draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `POST /api/v1/deployments/{name}/predict` and `POST /v2/models/{name}/infer`.
    Predict,
    /// `POST /api/v1/runs/search` and `GET /api/v1/runs`.
    Search,
}

/// The budgets of every caller, as configured.
#[derive(Debug)]
pub struct RateLimits {
    predict: RateLimiter,
    search: RateLimiter,
    limit_admin: bool,
}

impl RateLimits {
    pub fn new(config: &Config) -> Self {
        Self {
            predict: RateLimiter::new(config.rate_limits.predict()),
            search: RateLimiter::new(config.rate_limits.search()),
            limit_admin: config.rate_limits.admin,
        }
    }

    /// A serving replica's budgets: predictions only (it answers no searches).
    pub fn predict_only(predict: RateLimit, limit_admin: bool) -> Self {
        Self {
            predict: RateLimiter::new(predict),
            search: RateLimiter::new(RateLimit {
                per_sec: 0.0,
                burst: 1,
            }),
            limit_admin,
        }
    }

    /// Takes one request of `budget` from `caller`; when the budget is spent, says how long
    /// until the next request would be allowed.
    pub fn check(&self, budget: Budget, caller: &Caller) -> Result<(), Duration> {
        if caller.role == Role::Admin && !self.limit_admin {
            return Ok(());
        }
        // Every anonymous caller has the same name, so they share a bucket.
        let limiter = match budget {
            Budget::Predict => &self.predict,
            Budget::Search => &self.search,
        };
        limiter.check(&caller.name, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_sec: f64, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimit { per_sec, burst })
    }

    #[test]
    fn a_burst_is_allowed_then_the_rate_refills_it() {
        let limiter = limiter(10.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("alice", start).is_ok());
        }
        let wait = limiter.check("alice", start).unwrap_err();
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another caller has a bucket of its own.
        assert!(limiter.check("bob", start).is_ok());
        // A tenth of a second later, one request more.
        let later = start + Duration::from_millis(100);
        assert!(limiter.check("alice", later).is_ok());
        assert!(limiter.check("alice", later).is_err());
        // Long idle time refills to the burst, not beyond.
        let much_later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.check("alice", much_later).is_ok());
        }
        assert!(limiter.check("alice", much_later).is_err());
    }

    #[test]
    fn a_zero_rate_means_no_limit() {
        let limiter = limiter(0.0, 1);
        let now = Instant::now();
        for _ in 0..100 {
            assert!(limiter.check("alice", now).is_ok());
        }
    }
}
