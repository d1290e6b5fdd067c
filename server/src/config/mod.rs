//! Server configuration, declared once: every key is one entry of the [`settings!`] list
//! below (its TOML place, type, default, flag, environment variable, check and doc comment),
//! from which come the [`Config`] the server reads, the [`ServerArgs`] flags and the
//! [`KEYS`] table the README's configuration reference is checked against.
//!
//! Sources, each later one winning: the defaults, a TOML file (`--config`), `SLIPWAY_*`
//! environment variables, command-line flags. They are layered with figment; a value that
//! does not fit its key is refused at start, naming the key and why, never clamped.

#[macro_use]
mod declare;
#[cfg(test)]
mod tests;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = ".slipway";
/// The default listen address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
const MIB: usize = 1024 * 1024;
const GIB: u64 = 1024 * 1024 * 1024;

settings! {
    top {
        /// Where the database, artifacts and admin token live.
        data_dir: PathBuf = PathBuf::from(DEFAULT_DATA_DIR)
            => data_dir, "SLIPWAY_DATA_DIR", "DIR";
        /// The address to listen on; port 0 picks a free port (the chosen one is printed).
        addr: ListenAddr = ListenAddr::default()
            => addr, "SLIPWAY_ADDR", "HOST:PORT";
        /// The database URL: empty for SQLite in the data dir, `sqlite://PATH?mode=rwc` for
        /// another SQLite file, or `postgres://USER:PASSWORD@HOST:PORT/DB` for PostgreSQL (the
        /// database must exist; the migrations create its tables).
        database_url: String = String::new()
            => database_url, "SLIPWAY_DATABASE_URL", "URL", check database_url;
        /// Where artifacts live: empty for `<data-dir>/artifacts`, or `s3://BUCKET/PREFIX` for
        /// an S3-compatible bucket, reached with the AWS environment (`AWS_ACCESS_KEY_ID`,
        /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` for other stores).
        artifacts: String = String::new()
            => artifacts, "SLIPWAY_ARTIFACTS", "URL", check artifacts_url;
        /// Seconds to let in-flight requests finish after a shutdown signal.
        shutdown_grace_secs: u64 = 30
            => shutdown_grace_secs, "SLIPWAY_SHUTDOWN_GRACE_SECS", "SECS";
        /// Seconds a job lease lasts without a heartbeat; a job whose worker falls silent this
        /// long is queued again.
        job_lease_secs: u64 = 30
            => job_lease_secs, "SLIPWAY_JOB_LEASE_SECS", "SECS", check positive_secs;
        /// Seconds a schedule's due time may pass unfired and still fire as on time; later it is
        /// a misfire and follows the schedule's misfire policy.
        schedule_misfire_grace_secs: u64 = 60
            => schedule_misfire_grace_secs, "SLIPWAY_SCHEDULE_MISFIRE_GRACE_SECS", "SECS";
    }
    log: LogSettings {
        /// Log format: text or json.
        format: LogFormat = LogFormat::Text
            => log_format, "SLIPWAY_LOG_FORMAT", "FORMAT";
        /// Log filter, for example `info` or `slipway_server=debug` (RUST_LOG syntax).
        level: String = "info".to_owned()
            => log_level, "SLIPWAY_LOG_LEVEL", "FILTER";
    }
    limits: LimitSettings {
        /// Largest request body accepted, in bytes (artifact uploads have their own limit).
        max_body_bytes: usize = 16 * MIB
            => max_body_bytes, "SLIPWAY_MAX_BODY_BYTES", "BYTES", check positive_bytes;
        /// Largest artifact accepted, in bytes.
        max_artifact_bytes: u64 = GIB
            => max_artifact_bytes, "SLIPWAY_MAX_ARTIFACT_BYTES", "BYTES", check positive_bytes;
        /// Seconds a client has to send a request's headers (and the longest a kept-alive
        /// connection may sit idle); slower connections are closed. Long enough for a slow
        /// mobile link, short enough that trickling connections do not pile up.
        header_timeout_secs: u64 = 30
            => header_timeout_secs, "SLIPWAY_HEADER_TIMEOUT_SECS", "SECS", check positive_secs;
        /// Seconds a client has to send a request's body (408 after); uploads of artifacts and
        /// datasets may take longer but must not pause this long between chunks. Below the
        /// request deadline, so a slow body is answered 408 rather than 503.
        body_timeout_secs: u64 = 30
            => body_timeout_secs, "SLIPWAY_BODY_TIMEOUT_SECS", "SECS", check positive_secs;
        /// Seconds a request may take to be answered (503 after); long polls, event streams and
        /// artifact or dataset transfers are exempt.
        request_deadline_secs: u64 = 60
            => request_deadline_secs, "SLIPWAY_REQUEST_DEADLINE_SECS", "SECS", check positive_secs;
        /// Most connections served at once; further clients wait to be accepted. Room for every
        /// worker's long poll and every dashboard's event stream, while bounding memory (an
        /// idle connection costs about 190 KB).
        max_connections: usize = 1024
            => max_connections, "SLIPWAY_MAX_CONNECTIONS", "COUNT", check positive_count;
    }
    auth: AuthSettings {
        /// Let requests without a token read (never write): for a local demo only.
        anonymous_read: bool = false
            => anonymous_read, "SLIPWAY_ANONYMOUS_READ", "BOOL";
        /// Mark the dashboard's session cookie `Secure` on every response, not only on requests
        /// that came over TLS (true or false).
        secure_cookies: bool = false
            => secure_cookies, "SLIPWAY_SECURE_COOKIES", "BOOL";
        /// Seconds a dashboard session lasts after sign-in (a working day).
        session_lifetime_secs: u64 = 12 * 60 * 60
            => session_lifetime_secs, "SLIPWAY_SESSION_LIFETIME_SECS", "SECS", check positive_secs;
    }
    registry: RegistrySettings {
        /// Aliases that only an engineer or admin may move, with a reason (comma-separated).
        #[arg(value_delimiter = ',')]
        #[serde(deserialize_with = "list_or_commas")]
        protected_aliases: Vec<String> = vec!["champion".to_owned()]
            => protected_aliases, "SLIPWAY_PROTECTED_ALIASES", "ALIASES";
    }
    serving: ServingSettings {
        /// Most rows one forward pass takes when concurrent predictions are batched (1: no
        /// batching).
        batch_max_rows: usize = 64
            => batch_max_rows, "SLIPWAY_BATCH_MAX_ROWS", "ROWS", check batch_rows;
        /// Microseconds a batch waits for more requests before it runs.
        batch_max_wait_us: u64 = 1000
            => batch_max_wait_us, "SLIPWAY_BATCH_MAX_WAIT_US", "MICROS", check batch_wait;
        /// Most instances one predict request may carry.
        predict_max_instances: usize = 1000
            => predict_max_instances, "SLIPWAY_PREDICT_MAX_INSTANCES", "COUNT", check positive_count;
        /// Record predictions for metrics, drift and the SLO guards (true or false).
        monitoring: bool = true
            => monitoring, "SLIPWAY_MONITORING", "BOOL";
    }
    rate_limits: RateLimitSettings {
        /// Predict and infer requests per second allowed to one token (0: no limit). Several
        /// times what one token needs, and below what a busy server answers in total (about
        /// 16,000 requests/s on 2 cores), so that one token cannot take it all.
        predict_per_sec: f64 = 2000.0
            => predict_rate, "SLIPWAY_PREDICT_RATE", "PER_SEC", check rate;
        /// Predict and infer requests one token may send at once above its rate.
        predict_burst: u32 = 4000
            => predict_burst, "SLIPWAY_PREDICT_BURST", "REQUESTS", check positive_count;
        /// Run searches per second allowed to one token (0: no limit); a person or a dashboard
        /// searches a few times a second at most.
        search_per_sec: f64 = 50.0
            => search_rate, "SLIPWAY_SEARCH_RATE", "PER_SEC", check rate;
        /// Run searches one token may send at once above its rate.
        search_burst: u32 = 100
            => search_burst, "SLIPWAY_SEARCH_BURST", "REQUESTS", check positive_count;
        /// Apply the rate limits to admin tokens too (true or false).
        admin: bool = false
            => rate_limit_admin, "SLIPWAY_RATE_LIMIT_ADMIN", "BOOL";
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A listen address, `HOST:PORT`; the host may be a name, resolved when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr(pub SocketAddr);

impl Default for ListenAddr {
    fn default() -> Self {
        Self(SocketAddr::from(([127, 0, 0, 1], 8080)))
    }
}

impl std::str::FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        use std::net::ToSocketAddrs;
        text.to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(Self)
            .ok_or_else(|| format!("expected HOST:PORT such as {DEFAULT_ADDR}, got '{text}'"))
    }
}

impl Serialize for ListenAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A list in TOML or a flag, or one comma-separated string from the environment.
fn list_or_commas<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match Form::deserialize(deserializer)? {
        Form::List(list) => list,
        Form::Commas(text) => text
            .split(',')
            .map(str::trim)
            .filter(|alias| !alias.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// A token bucket's shape: `per_sec` tokens flow in each second, up to `burst`; a rate of 0
/// turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_sec: f64,
    pub burst: u32,
}

impl RateLimit {
    /// Whether requests are limited at all.
    pub fn enabled(&self) -> bool {
        self.per_sec > 0.0
    }
}

/// Why the configuration could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A value of the wrong type or an unknown key, as figment reports it (it names the key
    /// and the source).
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("{key}: {reason} (flag {flag}, environment {env})")]
    Invalid {
        key: &'static str,
        flag: String,
        env: &'static str,
        reason: String,
    },
}

impl Config {
    /// Resolves the configuration: defaults, then the file `args` names, then the
    /// environment, then the flags in `args`.
    pub fn resolve(args: &ServerArgs) -> Result<Self, ConfigError> {
        Self::resolve_with_env(args, Env::raw())
    }

    /// [`Self::resolve`] with the environment given (tests pass their own).
    fn resolve_with_env(args: &ServerArgs, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &args.config {
            // figment skips a missing file; a file asked for must be there.
            std::fs::metadata(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        let env = env.filter_map(|name| {
            KEYS.iter()
                .find(|key| name.as_str().eq_ignore_ascii_case(key.env))
                .map(|key| key.toml.into())
        });
        figment = args.merge_flags(figment.merge(env));
        let config: Config = figment
            .extract()
            .map_err(|err| ConfigError::Parse(err.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// The database URL: the one configured, or SQLite in the data dir.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            crate::db::default_url(&self.data_dir)
        } else {
            self.database_url.clone()
        }
    }

    /// Where the admin token is written on first start.
    pub fn admin_token_path(&self) -> PathBuf {
        self.data_dir.join("admin-token")
    }

    /// Where artifacts are stored.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.data_dir.join("artifacts")
    }
}

impl RateLimitSettings {
    /// The per-token budget of predict and infer requests.
    pub fn predict(&self) -> RateLimit {
        RateLimit {
            per_sec: self.predict_per_sec,
            burst: self.predict_burst,
        }
    }

    /// The per-token budget of run searches.
    pub fn search(&self) -> RateLimit {
        RateLimit {
            per_sec: self.search_per_sec,
            burst: self.search_burst,
        }
    }
}

// The checks a key may name: each says what it expected and what it got.

fn positive_bytes<T: PartialOrd + Default + std::fmt::Display>(value: &T) -> Result<(), String> {
    if *value > T::default() {
        Ok(())
    } else {
        Err(format!("expected a positive number of bytes, got {value}"))
    }
}

fn database_url(value: &str) -> Result<(), String> {
    if value.is_empty() || crate::db::Backend::of(value).is_some() {
        Ok(())
    } else {
        // Never echo the URL: it may carry a password.
        Err("expected a URL starting with sqlite:, postgres:// or postgresql:// (or nothing, for SQLite in the data dir)".to_owned())
    }
}

fn artifacts_url(value: &str) -> Result<(), String> {
    if value.is_empty() {
        Ok(())
    } else {
        crate::blobs::object::check_url(value)
    }
}

fn positive_secs(value: &u64) -> Result<(), String> {
    if *value > 0 {
        Ok(())
    } else {
        Err(format!(
            "expected a positive number of seconds, got {value}"
        ))
    }
}

fn positive_count<T: PartialOrd + Default + std::fmt::Display>(value: &T) -> Result<(), String> {
    if *value > T::default() {
        Ok(())
    } else {
        Err(format!("expected at least 1, got {value}"))
    }
}

/// Rows a forward pass may take: past a few thousand a batch only adds latency.
const MAX_BATCH_ROWS: usize = 4096;
/// The longest a batch may wait: a second is already far beyond any latency budget.
const MAX_BATCH_WAIT_US: u64 = 1_000_000;

fn batch_rows(value: &usize) -> Result<(), String> {
    if (1..=MAX_BATCH_ROWS).contains(value) {
        Ok(())
    } else {
        Err(format!(
            "expected a number of rows from 1 to {MAX_BATCH_ROWS}, got {value}"
        ))
    }
}

fn batch_wait(value: &u64) -> Result<(), String> {
    if *value <= MAX_BATCH_WAIT_US {
        Ok(())
    } else {
        Err(format!(
            "expected at most {MAX_BATCH_WAIT_US} microseconds, got {value}"
        ))
    }
}

fn rate(value: &f64) -> Result<(), String> {
    if value.is_finite() && *value >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "expected a number of requests per second, 0 or more, got {value}"
        ))
    }
}
