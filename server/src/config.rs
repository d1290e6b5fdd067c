//! Server configuration: built-in defaults, then a TOML file, then `SLIPWAY_*` environment
//! variables, then command-line flags — each later source wins.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = ".slipway";
/// The default listen address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Long enough for a slow mobile link to send a header; short enough that idle or trickling
/// connections do not pile up.
const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 30;
/// A 16 MiB JSON body at about 600 KB/s; uploads are timed per chunk instead. Below the
/// request deadline, so a slow body is answered 408 rather than 503.
const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;
/// Far above any ordinary request (deploying and warming a model included).
const DEFAULT_REQUEST_DEADLINE_SECS: u64 = 60;
/// Room for every worker's long poll and every dashboard's event stream with plenty to spare,
/// while bounding memory (an idle connection costs about 190 KB).
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Several times what one token needs for interactive or batch use, and below what a busy
/// server answers in total (about 16,000 requests/s on 2 cores), so that one token cannot
/// take it all.
const DEFAULT_PREDICT_RATE: f64 = 2000.0;
const DEFAULT_PREDICT_BURST: u32 = 4000;
/// A person or a dashboard searches a few times a second at most; a search costs milliseconds.
const DEFAULT_SEARCH_RATE: f64 = 50.0;
const DEFAULT_SEARCH_BURST: u32 = 100;
/// A working day.
const DEFAULT_SESSION_LIFETIME_SECS: u64 = 12 * 60 * 60;

/// The server's flags, shared by `slipway server` and `slipway up`. Each also reads its
/// `SLIPWAY_*` environment variable; a flag given on the command line wins over it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// A TOML configuration file (keys as in the README's configuration reference).
    #[arg(long, env = "SLIPWAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the database, artifacts and admin token live.
    #[arg(long, env = "SLIPWAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The address to listen on; port 0 picks a free port (the chosen one is printed).
    #[arg(long, env = "SLIPWAY_ADDR", value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// The database URL (default: SQLite in the data dir).
    #[arg(long, env = "SLIPWAY_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "SLIPWAY_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter, for example `info` or `slipway_server=debug` (RUST_LOG syntax).
    #[arg(long, env = "SLIPWAY_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Largest request body accepted, in bytes (artifact uploads have their own limit).
    #[arg(long, env = "SLIPWAY_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest artifact accepted, in bytes.
    #[arg(long, env = "SLIPWAY_MAX_ARTIFACT_BYTES", value_name = "BYTES")]
    pub max_artifact_bytes: Option<u64>,
    /// Let requests without a token read (never write): for a local demo only.
    #[arg(long, env = "SLIPWAY_ANONYMOUS_READ", value_name = "BOOL")]
    pub anonymous_read: Option<bool>,
    /// Seconds a job lease lasts without a heartbeat; a job whose worker falls silent this
    /// long is queued again.
    #[arg(long, env = "SLIPWAY_JOB_LEASE_SECS", value_name = "SECS")]
    pub job_lease_secs: Option<u64>,
    /// Seconds to let in-flight requests finish after a shutdown signal.
    #[arg(long, env = "SLIPWAY_SHUTDOWN_GRACE_SECS", value_name = "SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// Aliases that only an engineer or admin may move, with a reason (comma-separated).
    #[arg(
        long,
        env = "SLIPWAY_PROTECTED_ALIASES",
        value_name = "ALIASES",
        value_delimiter = ','
    )]
    pub protected_aliases: Option<Vec<String>>,
    /// Most rows one forward pass takes when concurrent predictions are batched (1: no
    /// batching).
    #[arg(long, env = "SLIPWAY_BATCH_MAX_ROWS", value_name = "ROWS")]
    pub batch_max_rows: Option<usize>,
    /// Microseconds a batch waits for more requests before it runs.
    #[arg(long, env = "SLIPWAY_BATCH_MAX_WAIT_US", value_name = "MICROS")]
    pub batch_max_wait_us: Option<u64>,
    /// Most instances one predict request may carry.
    #[arg(long, env = "SLIPWAY_PREDICT_MAX_INSTANCES", value_name = "COUNT")]
    pub predict_max_instances: Option<usize>,
    /// Record predictions for metrics, drift and the SLO guards (true or false).
    #[arg(long, env = "SLIPWAY_MONITORING", value_name = "BOOL")]
    pub monitoring: Option<bool>,
    /// Seconds a schedule's due time may pass unfired and still fire as on time; later it is a
    /// misfire and follows the schedule's misfire policy.
    #[arg(long, env = "SLIPWAY_SCHEDULE_MISFIRE_GRACE_SECS", value_name = "SECS")]
    pub schedule_misfire_grace_secs: Option<u64>,
    /// Seconds a client has to send a request's headers (and the longest a kept-alive
    /// connection may sit idle); slower connections are closed.
    #[arg(long, env = "SLIPWAY_HEADER_TIMEOUT_SECS", value_name = "SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Seconds a client has to send a request's body (408 after); uploads of artifacts and
    /// datasets may take longer but must not pause this long between chunks.
    #[arg(long, env = "SLIPWAY_BODY_TIMEOUT_SECS", value_name = "SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Seconds a request may take to be answered (503 after); long polls, event streams and
    /// artifact or dataset transfers are exempt.
    #[arg(long, env = "SLIPWAY_REQUEST_DEADLINE_SECS", value_name = "SECS")]
    pub request_deadline_secs: Option<u64>,
    /// Most connections served at once; further clients wait to be accepted.
    #[arg(long, env = "SLIPWAY_MAX_CONNECTIONS", value_name = "COUNT")]
    pub max_connections: Option<usize>,
    /// Predict and infer requests per second allowed to one token (0: no limit).
    #[arg(long, env = "SLIPWAY_PREDICT_RATE", value_name = "PER_SEC")]
    pub predict_rate: Option<f64>,
    /// Predict and infer requests one token may send at once above its rate.
    #[arg(long, env = "SLIPWAY_PREDICT_BURST", value_name = "REQUESTS")]
    pub predict_burst: Option<u32>,
    /// Run searches per second allowed to one token (0: no limit).
    #[arg(long, env = "SLIPWAY_SEARCH_RATE", value_name = "PER_SEC")]
    pub search_rate: Option<f64>,
    /// Run searches one token may send at once above its rate.
    #[arg(long, env = "SLIPWAY_SEARCH_BURST", value_name = "REQUESTS")]
    pub search_burst: Option<u32>,
    /// Apply the rate limits to admin tokens too (true or false).
    #[arg(long, env = "SLIPWAY_RATE_LIMIT_ADMIN", value_name = "BOOL")]
    pub rate_limit_admin: Option<bool>,
    /// Mark the dashboard's session cookie `Secure` on every response, not only on requests
    /// that came over TLS (true or false).
    #[arg(long, env = "SLIPWAY_SECURE_COOKIES", value_name = "BOOL")]
    pub secure_cookies: Option<bool>,
    /// Seconds a dashboard session lasts after sign-in.
    #[arg(long, env = "SLIPWAY_SESSION_LIFETIME_SECS", value_name = "SECS")]
    pub session_lifetime_secs: Option<u64>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The configuration file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    addr: Option<String>,
    database_url: Option<String>,
    #[serde(default)]
    log: FileLog,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    auth: FileAuth,
    shutdown_grace_secs: Option<u64>,
    job_lease_secs: Option<u64>,
    schedule_misfire_grace_secs: Option<u64>,
    #[serde(default)]
    registry: FileRegistry,
    #[serde(default)]
    serving: FileServing,
    #[serde(default)]
    rate_limits: FileRateLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRateLimits {
    predict_per_sec: Option<f64>,
    predict_burst: Option<u32>,
    search_per_sec: Option<f64>,
    search_burst: Option<u32>,
    admin: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRegistry {
    protected_aliases: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServing {
    batch_max_rows: Option<usize>,
    batch_max_wait_us: Option<u64>,
    predict_max_instances: Option<usize>,
    monitoring: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    format: Option<LogFormat>,
    level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_body_bytes: Option<usize>,
    max_artifact_bytes: Option<u64>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    request_deadline_secs: Option<u64>,
    max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    anonymous_read: Option<bool>,
    secure_cookies: Option<bool>,
    session_lifetime_secs: Option<u64>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub addr: SocketAddr,
    pub database_url: String,
    pub log_format: LogFormat,
    pub log_level: String,
    pub max_body_bytes: usize,
    pub max_artifact_bytes: u64,
    pub anonymous_read: bool,
    pub shutdown_grace_secs: u64,
    pub job_lease_secs: u64,
    pub protected_aliases: Vec<String>,
    pub batch_max_rows: usize,
    pub batch_max_wait_us: u64,
    pub predict_max_instances: usize,
    pub monitoring: bool,
    pub schedule_misfire_grace_secs: u64,
    pub header_timeout_secs: u64,
    pub body_timeout_secs: u64,
    pub request_deadline_secs: u64,
    pub max_connections: usize,
    pub predict_limit: RateLimit,
    pub search_limit: RateLimit,
    pub rate_limit_admin: bool,
    pub secure_cookies: bool,
    pub session_lifetime_secs: u64,
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
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("addr: expected HOST:PORT such as 127.0.0.1:8080, got '{0}'")]
    Addr(String),
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Resolves the configuration from `args` (flags and environment) over the file they name.
    pub fn resolve(args: &ServerArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let addr_text = args
            .addr
            .clone()
            .or(file.addr)
            .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let addr = parse_addr(&addr_text)?;
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| crate::db::default_url(&data_dir));
        Ok(Self {
            data_dir,
            addr,
            database_url,
            log_format: args.log_format.or(file.log.format).unwrap_or_default(),
            log_level: args
                .log_level
                .clone()
                .or(file.log.level)
                .unwrap_or_else(|| "info".to_owned()),
            max_body_bytes: args
                .max_body_bytes
                .or(file.limits.max_body_bytes)
                .unwrap_or(16 * 1024 * 1024),
            max_artifact_bytes: args
                .max_artifact_bytes
                .or(file.limits.max_artifact_bytes)
                .unwrap_or(1024 * 1024 * 1024),
            anonymous_read: args
                .anonymous_read
                .or(file.auth.anonymous_read)
                .unwrap_or(false),
            shutdown_grace_secs: args
                .shutdown_grace_secs
                .or(file.shutdown_grace_secs)
                .unwrap_or(30),
            job_lease_secs: args
                .job_lease_secs
                .or(file.job_lease_secs)
                .unwrap_or(30)
                .max(1),
            protected_aliases: args
                .protected_aliases
                .clone()
                .or(file.registry.protected_aliases)
                .unwrap_or_else(|| vec!["champion".to_owned()]),
            batch_max_rows: args
                .batch_max_rows
                .or(file.serving.batch_max_rows)
                .unwrap_or(64)
                .clamp(1, 4096),
            batch_max_wait_us: args
                .batch_max_wait_us
                .or(file.serving.batch_max_wait_us)
                .unwrap_or(1000)
                .min(1_000_000),
            predict_max_instances: args
                .predict_max_instances
                .or(file.serving.predict_max_instances)
                .unwrap_or(1000)
                .max(1),
            monitoring: args.monitoring.or(file.serving.monitoring).unwrap_or(true),
            schedule_misfire_grace_secs: args
                .schedule_misfire_grace_secs
                .or(file.schedule_misfire_grace_secs)
                .unwrap_or(60),
            header_timeout_secs: at_least(
                "limits.header_timeout_secs (--header-timeout-secs)",
                args.header_timeout_secs
                    .or(file.limits.header_timeout_secs)
                    .unwrap_or(DEFAULT_HEADER_TIMEOUT_SECS),
                1,
            )?,
            body_timeout_secs: at_least(
                "limits.body_timeout_secs (--body-timeout-secs)",
                args.body_timeout_secs
                    .or(file.limits.body_timeout_secs)
                    .unwrap_or(DEFAULT_BODY_TIMEOUT_SECS),
                1,
            )?,
            request_deadline_secs: at_least(
                "limits.request_deadline_secs (--request-deadline-secs)",
                args.request_deadline_secs
                    .or(file.limits.request_deadline_secs)
                    .unwrap_or(DEFAULT_REQUEST_DEADLINE_SECS),
                1,
            )?,
            max_connections: at_least(
                "limits.max_connections (--max-connections)",
                args.max_connections
                    .or(file.limits.max_connections)
                    .unwrap_or(DEFAULT_MAX_CONNECTIONS),
                1,
            )?,
            predict_limit: rate_limit(
                (
                    "rate_limits.predict_per_sec (--predict-rate)",
                    "rate_limits.predict_burst (--predict-burst)",
                ),
                args.predict_rate
                    .or(file.rate_limits.predict_per_sec)
                    .unwrap_or(DEFAULT_PREDICT_RATE),
                args.predict_burst
                    .or(file.rate_limits.predict_burst)
                    .unwrap_or(DEFAULT_PREDICT_BURST),
            )?,
            search_limit: rate_limit(
                (
                    "rate_limits.search_per_sec (--search-rate)",
                    "rate_limits.search_burst (--search-burst)",
                ),
                args.search_rate
                    .or(file.rate_limits.search_per_sec)
                    .unwrap_or(DEFAULT_SEARCH_RATE),
                args.search_burst
                    .or(file.rate_limits.search_burst)
                    .unwrap_or(DEFAULT_SEARCH_BURST),
            )?,
            rate_limit_admin: args
                .rate_limit_admin
                .or(file.rate_limits.admin)
                .unwrap_or(false),
            secure_cookies: args
                .secure_cookies
                .or(file.auth.secure_cookies)
                .unwrap_or(false),
            session_lifetime_secs: at_least(
                "auth.session_lifetime_secs (--session-lifetime-secs)",
                args.session_lifetime_secs
                    .or(file.auth.session_lifetime_secs)
                    .unwrap_or(DEFAULT_SESSION_LIFETIME_SECS),
                1,
            )?,
        })
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

/// Refuses a count or duration below `minimum`, naming its TOML key.
fn at_least<T: PartialOrd + std::fmt::Display + Copy>(
    key: &'static str,
    value: T,
    minimum: T,
) -> Result<T, ConfigError> {
    if value >= minimum {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            key,
            message: format!("expected at least {minimum}, got {value}"),
        })
    }
}

/// Checks a token bucket: a finite, non-negative rate, and room for at least one request.
fn rate_limit(
    (rate_key, burst_key): (&'static str, &'static str),
    per_sec: f64,
    burst: u32,
) -> Result<RateLimit, ConfigError> {
    if !per_sec.is_finite() || per_sec < 0.0 {
        return Err(ConfigError::Invalid {
            key: rate_key,
            message: format!("expected a number of requests per second, 0 or more, got {per_sec}"),
        });
    }
    let burst = at_least(burst_key, burst, 1)?;
    Ok(RateLimit { per_sec, burst })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|err| ConfigError::Parse {
        path: path.to_owned(),
        message: err.to_string(),
    })
}

fn parse_addr(text: &str) -> Result<SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| ConfigError::Addr(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "addr = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/from-file\"\n[auth]\nanonymous_read = true\n[limits]\nmax_body_bytes = 1024"
        )
        .unwrap();
        let args = ServerArgs {
            config: Some(file.path().to_owned()),
            addr: Some("127.0.0.1:9100".into()),
            ..ServerArgs::default()
        };
        let config = Config::resolve(&args).unwrap();
        assert_eq!(config.addr.port(), 9100);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/from-file"));
        assert!(config.anonymous_read);
        assert_eq!(config.max_body_bytes, 1024);
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.database_url.contains("/tmp/from-file/slipway.db"));
    }

    #[test]
    fn unknown_keys_and_bad_addresses_are_named() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "adr = \"x\"").unwrap();
        let args = ServerArgs {
            config: Some(file.path().to_owned()),
            ..ServerArgs::default()
        };
        let err = Config::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("adr"), "{err}");
        let args = ServerArgs {
            addr: Some("nonsense".into()),
            ..ServerArgs::default()
        };
        let err = Config::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("HOST:PORT"), "{err}");
    }

    #[test]
    fn out_of_range_limits_are_refused_naming_the_key() {
        let refused = |args: ServerArgs, key: &str| {
            let err = Config::resolve(&args).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        };
        refused(
            ServerArgs {
                header_timeout_secs: Some(0),
                ..ServerArgs::default()
            },
            "limits.header_timeout_secs",
        );
        refused(
            ServerArgs {
                max_connections: Some(0),
                ..ServerArgs::default()
            },
            "--max-connections",
        );
        refused(
            ServerArgs {
                predict_rate: Some(-1.0),
                ..ServerArgs::default()
            },
            "rate_limits.predict_per_sec",
        );
        refused(
            ServerArgs {
                search_burst: Some(0),
                ..ServerArgs::default()
            },
            "rate_limits.search_burst",
        );
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "[auth]\nsession_lifetime_secs = 0").unwrap();
        refused(
            ServerArgs {
                config: Some(file.path().to_owned()),
                ..ServerArgs::default()
            },
            "auth.session_lifetime_secs",
        );
        let defaults = Config::resolve(&ServerArgs::default()).unwrap();
        assert_eq!(defaults.header_timeout_secs, 30);
        assert_eq!(defaults.session_lifetime_secs, 12 * 60 * 60);
        assert!(!defaults.rate_limit_admin && !defaults.secure_cookies);
        assert_eq!(defaults.predict_limit.burst, 4000);
    }
}
