//! A serving replica's reports to the server: every second it takes what its monitor
//! recorded (per-second counts per deployment and version, the newest input rows) and its
//! shadow comparisons, and POSTs them to `/api/v1/replicas/reports`, where they count in the
//! server's monitoring and SLO guards. Reports the server did not take (it is restarting, or
//! unreachable) wait in a bounded backlog and are sent again, oldest first; only a report the
//! server refuses for what it is (4xx) is dropped, since sending it again cannot help.

use crate::serving::Serving;
use slipway_api::{ApiError, Client, MAX_REPORT_BUCKETS, ReplicaReport, ReportShadow};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::sync::watch;

/// Reports kept while the server does not take them: five minutes' worth, after which the
/// oldest are dropped (their seconds have left every guard's window by then).
const MAX_BACKLOG: usize = 300;
/// How long one report may take to be answered.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Warnings about the same trouble at most this often.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// The replica's reporting state.
struct Reporter {
    client: Client,
    serving: Serving,
    replica: String,
    sequence: u64,
    backlog: VecDeque<ReplicaReport>,
    warned: Option<tokio::time::Instant>,
}

/// Reports every second until shutdown, then once more (best effort).
pub async fn run(client: Client, serving: Serving, mut stopped: watch::Receiver<bool>) {
    let mut reporter = Reporter {
        client,
        serving,
        replica: crate::cluster::new_replica_id(),
        sequence: 0,
        backlog: VecDeque::new(),
        warned: None,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|stopping| *stopping) => break,
        }
        reporter.collect();
        reporter.send().await;
    }
    reporter.collect();
    reporter.send().await;
}

impl Reporter {
    /// Moves what was recorded since the last report into a new report at the backlog's end.
    fn collect(&mut self) {
        let Some(outbox) = self.serving.monitor().take_report(MAX_REPORT_BUCKETS) else {
            return;
        };
        let report = ReplicaReport {
            replica: self.replica.clone(),
            sequence: self.sequence + 1,
            buckets: outbox.report_buckets(),
            rows: outbox.rows.into_iter().collect(),
            shadows: self.shadows(),
        };
        if report.is_empty() {
            return;
        }
        self.sequence += 1;
        if self.backlog.len() >= MAX_BACKLOG {
            self.backlog.pop_front();
            self.warn("the server has taken no report for minutes; dropping the oldest");
        }
        self.backlog.push_back(report);
    }

    /// The shadow comparisons made since the last report, by deployment name (the server
    /// knows its deployments by name, not by this replica's ids).
    fn shadows(&self) -> Vec<ReportShadow> {
        let names: HashMap<i64, String> = self
            .serving
            .deployment_names()
            .into_iter()
            .filter_map(|name| Some((self.serving.live(&name)?.deployment_id, name)))
            .collect();
        self.serving
            .take_shadow_counts()
            .into_iter()
            .filter_map(|(pair, requests, agreements, errors)| {
                Some(ReportShadow {
                    deployment: names.get(&pair.deployment_id)?.clone(),
                    revision: pair.revision,
                    primary_version: pair.primary_version,
                    shadow_version: pair.shadow_version,
                    requests,
                    agreements,
                    errors,
                })
            })
            .collect()
    }

    /// Sends the backlog, oldest first, until it is empty or the server does not answer.
    async fn send(&mut self) {
        while let Some(report) = self.backlog.front() {
            let sent = tokio::time::timeout(SEND_TIMEOUT, self.client.report_replica(report)).await;
            match sent {
                Ok(Ok(_)) => {
                    self.backlog.pop_front();
                }
                Ok(Err(err)) if refused(&err) => {
                    self.backlog.pop_front();
                    self.warn(&format!(
                        "the server refused a report ({err}); its predictions are not counted there"
                    ));
                }
                Ok(Err(err)) => {
                    self.warn(&format!("cannot report to the server, will retry: {err}"));
                    return;
                }
                Err(_) => {
                    self.warn("the server did not answer a report in time, will retry");
                    return;
                }
            }
        }
    }

    fn warn(&mut self, message: &str) {
        let now = tokio::time::Instant::now();
        if self
            .warned
            .is_none_or(|at| now.duration_since(at) >= WARN_EVERY)
        {
            self.warned = Some(now);
            tracing::warn!(backlog = self.backlog.len(), "{message}");
        }
    }
}

/// Whether the server refused the report itself (sending it again would be refused again),
/// rather than being unable to take it now.
fn refused(err: &ApiError) -> bool {
    err.status()
        .is_some_and(|status| (400..500).contains(&status) && status != 408 && status != 429)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_api::ErrorCode;

    #[test]
    fn only_a_refusal_of_the_report_itself_drops_it() {
        let answer = |status| ApiError::Server {
            status,
            code: ErrorCode::from_status(status),
            message: String::new(),
        };
        for status in [400, 403, 404, 413] {
            assert!(refused(&answer(status)), "{status}");
        }
        for status in [408, 429, 500, 503] {
            assert!(!refused(&answer(status)), "{status}");
        }
        assert!(!refused(&ApiError::Decode("cut short".into())));
    }
}
