//! Live prediction metrics per deployment and version: totals (for `/metrics`), per-second
//! buckets for the guards' sliding windows, and the current minute for the database; and the
//! recent input rows drift is computed from. Recording takes one short lock per request.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use super::outbox::Outbox;

/// Upper bounds of the latency buckets in seconds: 100 µs × √2ᵏ up to ~0.3 s, then coarser.
pub fn latency_bounds() -> &'static [f64] {
    static BOUNDS: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    BOUNDS.get_or_init(|| {
        let mut bounds: Vec<f64> = (0..24).map(|k| 1e-4 * 2f64.powf(k as f64 / 2.0)).collect();
        bounds.extend([0.5, 1.0, 2.5, 5.0, 10.0]);
        bounds
    })
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    InvalidInput,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::InvalidInput => "invalid_input",
            Self::Error => "error",
        }
    }
}

/// Counts over some stretch of time.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Counts per latency bucket (the last is +Inf).
    pub latency: Vec<u64>,
    pub latency_sum: f64,
    pub classes: BTreeMap<String, u64>,
}

impl Bucket {
    pub(crate) fn add(&mut self, outcome: Outcome, seconds: f64, labels: &[String]) {
        *self.outcomes.entry(outcome).or_default() += 1;
        if self.latency.is_empty() {
            self.latency = vec![0; latency_bounds().len() + 1];
        }
        let index = latency_bounds().partition_point(|&bound| bound < seconds);
        self.latency[index] += 1;
        self.latency_sum += seconds;
        for label in labels {
            *self.classes.entry(label.clone()).or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: &Bucket) {
        for (outcome, count) in &other.outcomes {
            *self.outcomes.entry(*outcome).or_default() += count;
        }
        if self.latency.len() < other.latency.len() {
            self.latency.resize(other.latency.len(), 0);
        }
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            *mine += theirs;
        }
        self.latency_sum += other.latency_sum;
        for (class, count) in &other.classes {
            *self.classes.entry(class.clone()).or_default() += count;
        }
    }

    pub fn requests(&self) -> u64 {
        self.outcomes.values().sum()
    }

    fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }

    /// Requests the model or the server failed.
    pub fn errors(&self) -> u64 {
        self.count(Outcome::Error)
    }

    /// Requests refused for their input: the caller's mistake, not the version's.
    pub fn invalid_inputs(&self) -> u64 {
        self.count(Outcome::InvalidInput)
    }

    /// Requests a version is judged on: all but invalid inputs.
    pub fn judged(&self) -> u64 {
        self.requests() - self.invalid_inputs()
    }

    /// The `q` quantile of latency in milliseconds, interpolated within its bucket.
    pub fn latency_quantile_ms(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let target = q * total as f64;
        let bounds = latency_bounds();
        let mut seen = 0.0;
        for (index, &count) in self.latency.iter().enumerate() {
            let next = seen + count as f64;
            if next >= target && count > 0 {
                let low = if index == 0 { 0.0 } else { bounds[index - 1] };
                let high = bounds.get(index).copied().unwrap_or(low * 2.0);
                let inside = (target - seen) / count as f64;
                return Some((low + (high - low) * inside) * 1000.0);
            }
            seen = next;
        }
        None
    }
}

/// How many seconds of per-second buckets are kept for the windows.
const KEEP_SECONDS: u64 = 3600;

/// One version's counts.
#[derive(Debug, Default)]
pub struct VersionStats {
    pub total: Bucket,
    seconds: VecDeque<(u64, Bucket)>,
    minute: Option<(i64, Bucket)>,
}

/// One recent input row.
#[derive(Debug, Clone)]
pub struct LiveRow {
    /// Its place in the deployment's stream of rows (counting up from 1, never reused), so
    /// that a live baseline takes each row once.
    pub seq: u64,
    pub at: Instant,
    /// The token that sent it: drift alerts need rows from several callers.
    pub caller: Arc<str>,
    pub values: Vec<f64>,
    /// A table model's cells in feature order as preprocessing read them (empty where
    /// missing); none for an all-numeric model.
    pub cells: Vec<String>,
    pub predicted: Option<f64>,
}

/// A deployment's counts and recent inputs.
#[derive(Debug, Default)]
pub struct DeploymentStats {
    pub deployment_id: i64,
    pub versions: BTreeMap<u32, VersionStats>,
    /// Recent input rows (in the primary's feature order) with when they came and, for
    /// regression, the value predicted.
    pub inputs: VecDeque<LiveRow>,
    pub input_version: u32,
    /// The `seq` of the last row recorded.
    pub last_seq: u64,
    /// Completed minutes waiting to be written: (version, minute start in ms, counts).
    pub finished_minutes: Vec<(u32, i64, Bucket)>,
}

/// Live statistics of every deployment this server serves.
#[derive(Debug, Clone)]
pub struct Monitor {
    enabled: bool,
    stats: Arc<Mutex<HashMap<String, DeploymentStats>>>,
    input_rows: Arc<std::sync::atomic::AtomicUsize>,
    /// On a serving replica: what is recorded is also kept here until reported to the server.
    outbox: Option<Arc<Mutex<Outbox>>>,
}

pub(crate) fn now_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Monitor {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            stats: Arc::default(),
            input_rows: Arc::new(std::sync::atomic::AtomicUsize::new(1000)),
            outbox: None,
        }
    }

    /// A serving replica's monitor: enabled, and keeping what it records for its reports.
    pub fn reporting() -> Self {
        Self {
            outbox: Some(Arc::default()),
            ..Self::new(true)
        }
    }

    /// What was recorded since the last call (a serving replica's next report); nothing on a
    /// server.
    pub fn take_report(&self, max_buckets: usize) -> Option<Outbox> {
        let outbox = self.outbox.as_ref()?;
        let mut outbox = outbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(outbox.take(max_buckets))
    }

    fn to_outbox(&self, f: impl FnOnce(&mut Outbox)) {
        if let Some(outbox) = &self.outbox {
            f(&mut outbox
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner));
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Runs `f` on the stats of deployment `name`.
    pub fn with<T>(&self, name: &str, f: impl FnOnce(&mut DeploymentStats) -> T) -> T {
        let mut stats = self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(stats.entry(name.to_owned()).or_default())
    }

    /// Records one request.
    pub fn record(
        &self,
        (name, deployment_id): (&str, i64),
        version: u32,
        outcome: Outcome,
        elapsed: Duration,
        labels: &[String],
    ) {
        if !self.enabled {
            return;
        }
        let (second, seconds) = (now_second(), elapsed.as_secs_f64());
        let minute = (second / 60 * 60 * 1000) as i64;
        self.to_outbox(|outbox| outbox.add(name, version, second, outcome, seconds, labels));
        self.with(name, |stats| {
            stats.deployment_id = deployment_id;
            let version_stats = stats.versions.entry(version).or_default();
            version_stats.total.add(outcome, seconds, labels);
            match version_stats.seconds.back_mut() {
                Some((at, bucket)) if *at == second => bucket.add(outcome, seconds, labels),
                _ => {
                    let mut bucket = Bucket::default();
                    bucket.add(outcome, seconds, labels);
                    version_stats.seconds.push_back((second, bucket));
                    while version_stats
                        .seconds
                        .front()
                        .is_some_and(|(at, _)| *at + KEEP_SECONDS < second)
                    {
                        version_stats.seconds.pop_front();
                    }
                }
            }
            let finished = match &mut version_stats.minute {
                Some((at, bucket)) if *at == minute => {
                    bucket.add(outcome, seconds, labels);
                    None
                }
                current => {
                    let mut bucket = Bucket::default();
                    bucket.add(outcome, seconds, labels);
                    current.replace((minute, bucket))
                }
            };
            if let Some((at, bucket)) = finished {
                stats.finished_minutes.push((version, at, bucket));
            }
        });
    }

    /// Keeps input rows for drift (at most the configured number per deployment), with what
    /// was predicted for each: the value, or the class's index among the model's labels (a
    /// live baseline counts classes from them).
    pub fn record_inputs(
        &self,
        name: &str,
        version: u32,
        caller: &str,
        rows: Vec<Vec<f64>>,
        cells: Vec<Vec<String>>,
        predicted: &[f64],
    ) {
        if !self.enabled {
            return;
        }
        self.to_outbox(|outbox| {
            outbox.add_rows(
                (name, version, now_second()),
                caller,
                &rows,
                &cells,
                predicted,
            );
        });
        let caller: Arc<str> = Arc::from(caller);
        let keep = self.input_rows.load(std::sync::atomic::Ordering::Relaxed);
        let now = Instant::now();
        self.with(name, |stats| {
            if stats.input_version != version {
                // Another primary reads other features: start afresh.
                stats.inputs.clear();
                stats.input_version = version;
            }
            // Rows that would be dropped at once are never stored.
            let skip = rows.len().saturating_sub(keep);
            let mut cells = cells.into_iter();
            for (index, row) in rows.into_iter().enumerate() {
                let row_cells = cells.next().unwrap_or_default();
                if index < skip {
                    continue;
                }
                if stats.inputs.len() >= keep {
                    stats.inputs.pop_front();
                }
                stats.last_seq += 1;
                stats.inputs.push_back(LiveRow {
                    seq: stats.last_seq,
                    at: now,
                    caller: Arc::clone(&caller),
                    values: row,
                    cells: row_cells,
                    predicted: predicted.get(index).copied(),
                });
            }
        });
    }

    /// Sets how many input rows are kept (the largest drift window of any policy).
    pub fn keep_input_rows(&self, rows: usize) {
        self.input_rows
            .store(rows, std::sync::atomic::Ordering::Relaxed);
    }

    /// One version's counts over the last `window` seconds.
    pub fn window(&self, name: &str, version: u32, window: u64) -> Bucket {
        let since = now_second().saturating_sub(window.saturating_sub(1));
        self.with(name, |stats| {
            let mut sum = Bucket::default();
            if let Some(version_stats) = stats.versions.get(&version) {
                for (_, bucket) in version_stats.seconds.iter().filter(|(at, _)| *at >= since) {
                    sum.merge(bucket);
                }
            }
            sum
        })
    }

    /// Forgets a version's recent counts (after a guard acted on them).
    pub fn reset_window(&self, name: &str, version: u32) {
        self.with(name, |stats| {
            if let Some(version_stats) = stats.versions.get_mut(&version) {
                version_stats.seconds.clear();
            }
        });
    }

    /// The minutes of a deployment not written yet: completed ones waiting for the next flush
    /// and each version's current one, as (version, minute start in ms, counts).
    pub fn unwritten_minutes(&self, name: &str) -> Vec<(u32, i64, Bucket)> {
        self.with(name, |stats| {
            let mut minutes = stats.finished_minutes.clone();
            for (version, version_stats) in &stats.versions {
                if let Some((minute, bucket)) = &version_stats.minute {
                    minutes.push((*version, *minute, bucket.clone()));
                }
            }
            minutes
        })
    }

    /// Takes the completed minutes of every deployment (and, with `all`, the current ones).
    pub fn take_minutes(&self, all: bool) -> Vec<(i64, u32, i64, Bucket)> {
        let mut stats = self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut taken = Vec::new();
        for deployment in stats.values_mut() {
            let id = deployment.deployment_id;
            if all {
                for (version, version_stats) in &mut deployment.versions {
                    if let Some((minute, bucket)) = version_stats.minute.take() {
                        deployment.finished_minutes.push((*version, minute, bucket));
                    }
                }
            }
            taken.extend(
                deployment
                    .finished_minutes
                    .drain(..)
                    .map(|(version, minute, bucket)| (id, version, minute, bucket)),
            );
        }
        taken
    }

    /// Adds one version's counts of one past second (measured by a serving replica) as if
    /// recorded here then: to the totals, the second's bucket (when still within the kept
    /// hour) and its minute.
    pub fn merge_second(
        &self,
        (name, deployment_id): (&str, i64),
        version: u32,
        second: u64,
        bucket: &Bucket,
    ) {
        if !self.enabled {
            return;
        }
        let now = now_second();
        // A replica's clock a little ahead must not put counts in this server's future.
        let second = second.min(now);
        let minute = (second / 60 * 60 * 1000) as i64;
        self.with(name, |stats| {
            stats.deployment_id = deployment_id;
            let version_stats = stats.versions.entry(version).or_default();
            version_stats.total.merge(bucket);
            if second + KEEP_SECONDS >= now {
                let seconds = &mut version_stats.seconds;
                // Kept in order of time: most reports land at the back.
                let place = seconds.partition_point(|(at, _)| *at < second);
                match seconds.get_mut(place) {
                    Some((at, existing)) if *at == second => existing.merge(bucket),
                    _ => seconds.insert(place, (second, bucket.clone())),
                }
            }
            match &mut version_stats.minute {
                Some((at, current)) if *at == minute => current.merge(bucket),
                // An earlier minute than the one in progress goes straight to be written.
                Some((at, _)) if *at > minute => {
                    stats
                        .finished_minutes
                        .push((version, minute, bucket.clone()));
                }
                current => {
                    if let Some((at, finished)) = current.replace((minute, bucket.clone())) {
                        stats.finished_minutes.push((version, at, finished));
                    }
                }
            }
        });
    }

    /// Adds input rows a serving replica's primary read, as [`Self::record_inputs`] does.
    pub fn merge_rows(&self, name: &str, version: u32, rows: Vec<LiveRow>) {
        if !self.enabled || rows.is_empty() {
            return;
        }
        let keep = self.input_rows.load(std::sync::atomic::Ordering::Relaxed);
        self.with(name, |stats| {
            if stats.input_version != version {
                stats.inputs.clear();
                stats.input_version = version;
            }
            let skip = rows.len().saturating_sub(keep);
            for mut row in rows.into_iter().skip(skip) {
                if stats.inputs.len() >= keep {
                    stats.inputs.pop_front();
                }
                stats.last_seq += 1;
                row.seq = stats.last_seq;
                stats.inputs.push_back(row);
            }
        });
    }

    /// A copy of every deployment's totals, for `/metrics`.
    pub fn totals(&self) -> Vec<(String, u32, Bucket)> {
        let stats = self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut totals: Vec<(String, u32, Bucket)> = stats
            .iter()
            .flat_map(|(name, deployment)| {
                deployment
                    .versions
                    .iter()
                    .map(|(version, v)| (name.clone(), *version, v.total.clone()))
            })
            .collect();
        totals.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_quantiles() {
        let monitor = Monitor::new(true);
        for i in 0..100 {
            let outcome = if i < 10 {
                Outcome::InvalidInput
            } else {
                Outcome::Ok
            };
            monitor.record(
                ("d", 1),
                1,
                outcome,
                Duration::from_micros(1000 + i * 10),
                &["3".into()],
            );
        }
        let window = monitor.window("d", 1, 60);
        assert_eq!((window.requests(), window.errors()), (100, 0));
        assert_eq!((window.invalid_inputs(), window.judged()), (10, 90));
        let p50 = window.latency_quantile_ms(0.5).unwrap();
        assert!((0.9..2.2).contains(&p50), "p50 {p50} ms");
        assert_eq!(window.classes["3"], 100);
        monitor.reset_window("d", 1);
        assert_eq!(monitor.window("d", 1, 60).requests(), 0);
        assert_eq!(monitor.totals()[0].2.requests(), 100, "totals stay");
        assert_eq!(monitor.take_minutes(true).len(), 1);
        monitor.record_inputs("d", 1, "alice", vec![vec![1.0], vec![2.0]], Vec::new(), &[]);
        assert_eq!(monitor.with("d", |s| s.inputs.len()), 2);
    }
}
