//! The layering of the configuration's sources, the refusal of bad values, and the README's
//! configuration reference checked against the declared keys.

use super::*;
use std::io::Write;

/// `contents` as a configuration file.
fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "{contents}").unwrap();
    file
}

fn with_file(file: &tempfile::NamedTempFile) -> ServerArgs {
    ServerArgs {
        config: Some(file.path().to_owned()),
        ..ServerArgs::default()
    }
}

/// The environment tests read: `TEST_` before each real name keeps what a test sets away
/// from every other test in the process.
const ENV_PREFIX: &str = "SLIPWAY_CONFIG_TEST_";

fn resolve_in_jail(args: &ServerArgs) -> Result<Config, ConfigError> {
    Config::resolve_with_env(args, Env::prefixed(ENV_PREFIX))
}

#[test]
fn flags_win_over_the_file_and_defaults_fill_the_rest() {
    let file = file(
        "addr = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/from-file\"\n[auth]\nanonymous_read = true\n[limits]\nmax_body_bytes = 1024",
    );
    let args = ServerArgs {
        addr: Some("127.0.0.1:9100".parse().unwrap()),
        ..with_file(&file)
    };
    let config = Config::resolve(&args).unwrap();
    assert_eq!(config.addr.0.port(), 9100);
    assert_eq!(config.data_dir, PathBuf::from("/tmp/from-file"));
    assert!(config.auth.anonymous_read);
    assert_eq!(config.limits.max_body_bytes, 1024);
    assert_eq!(config.log.format, LogFormat::Text);
    assert!(config.database_url().contains("/tmp/from-file/slipway.db"));
}

#[test]
// `Jail` takes closures returning figment's own (large) error.
#[allow(clippy::result_large_err)]
fn the_environment_sits_between_the_file_and_the_flags() {
    figment::Jail::expect_with(|jail| {
        let file = file(
            "[limits]\nmax_body_bytes = 1024\nmax_connections = 7\n[serving]\nbatch_max_rows = 8",
        );
        for (name, value) in [
            ("SLIPWAY_MAX_BODY_BYTES", "2048"),
            ("SLIPWAY_BATCH_MAX_ROWS", "16"),
            ("SLIPWAY_PROTECTED_ALIASES", "champion, gold"),
            ("SLIPWAY_RATE_LIMIT_ADMIN", "true"),
            ("SLIPWAY_PREDICT_RATE", "10"),
        ] {
            jail.set_env(format!("{ENV_PREFIX}{name}"), value);
        }
        let args = ServerArgs {
            batch_max_rows: Some(32),
            ..with_file(&file)
        };
        let config = resolve_in_jail(&args).unwrap();
        // The environment beats the file…
        assert_eq!(config.limits.max_body_bytes, 2048);
        // …the file beats the defaults…
        assert_eq!(config.limits.max_connections, 7);
        // …and a flag beats the environment.
        assert_eq!(config.serving.batch_max_rows, 32);
        assert_eq!(config.registry.protected_aliases, ["champion", "gold"]);
        assert!(config.rate_limits.admin);
        assert_eq!(config.rate_limits.predict().per_sec, 10.0);
        Ok(())
    });
}

#[test]
// `Jail` takes closures returning figment's own (large) error.
#[allow(clippy::result_large_err)]
fn a_bad_environment_value_names_its_variable() {
    figment::Jail::expect_with(|jail| {
        jail.set_env(format!("{ENV_PREFIX}SLIPWAY_MAX_CONNECTIONS"), "many");
        let err = resolve_in_jail(&ServerArgs::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.to_lowercase().contains("limits.max_connections"),
            "{err}"
        );
        jail.set_env(format!("{ENV_PREFIX}SLIPWAY_MAX_CONNECTIONS"), "0");
        let err = resolve_in_jail(&ServerArgs::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("limits.max_connections: expected at least 1, got 0"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn unknown_keys_missing_files_and_bad_addresses_are_named() {
    let err = Config::resolve(&with_file(&file("adr = \"x\"")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("adr"), "{err}");
    let err = Config::resolve(&with_file(&file("[limits]\nmax_body = 1")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_body"), "{err}");
    let err = Config::resolve(&with_file(&file("addr = \"nonsense\"")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("HOST:PORT"), "{err}");
    let err = "nonsense".parse::<ListenAddr>().unwrap_err();
    assert!(err.contains("HOST:PORT"), "{err}");
    let args = ServerArgs {
        config: Some(PathBuf::from("/nonexistent/slipway.toml")),
        ..ServerArgs::default()
    };
    let err = Config::resolve(&args).unwrap_err().to_string();
    assert!(err.contains("cannot read the configuration file"), "{err}");
}

#[test]
fn out_of_range_values_are_refused_naming_the_key_never_clamped() {
    let refused = |args: ServerArgs, expected: &str| {
        let err = Config::resolve(&args).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    };
    refused(
        ServerArgs {
            max_body_bytes: Some(0),
            ..ServerArgs::default()
        },
        "limits.max_body_bytes: expected a positive number of bytes, got 0",
    );
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
    // These four were clamped before; a value outside the range is now refused.
    refused(
        ServerArgs {
            job_lease_secs: Some(0),
            ..ServerArgs::default()
        },
        "job_lease_secs: expected a positive number of seconds, got 0 (flag --job-lease-secs, environment SLIPWAY_JOB_LEASE_SECS)",
    );
    refused(
        ServerArgs {
            batch_max_rows: Some(5000),
            ..ServerArgs::default()
        },
        "serving.batch_max_rows: expected a number of rows from 1 to 4096, got 5000",
    );
    refused(
        ServerArgs {
            batch_max_wait_us: Some(2_000_000),
            ..ServerArgs::default()
        },
        "serving.batch_max_wait_us",
    );
    refused(
        ServerArgs {
            predict_max_instances: Some(0),
            ..ServerArgs::default()
        },
        "serving.predict_max_instances",
    );
    refused(
        with_file(&file("[auth]\nsession_lifetime_secs = 0")),
        "auth.session_lifetime_secs",
    );
}

#[test]
fn the_defaults_are_the_documented_ones() {
    let defaults = Config::resolve(&ServerArgs::default()).unwrap();
    assert_eq!(defaults, Config::default());
    assert_eq!(defaults.addr.0.to_string(), DEFAULT_ADDR);
    assert_eq!(defaults.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert_eq!(defaults.limits.header_timeout_secs, 30);
    assert_eq!(defaults.limits.max_body_bytes, 16 * 1024 * 1024);
    assert_eq!(defaults.auth.session_lifetime_secs, 12 * 60 * 60);
    assert!(!defaults.rate_limits.admin && !defaults.auth.secure_cookies);
    assert_eq!(defaults.rate_limits.predict().burst, 4000);
    assert_eq!(defaults.registry.protected_aliases, ["champion"]);
    assert!(defaults.serving.monitoring);
}

#[test]
fn every_key_has_its_flag_and_no_flag_is_undeclared() {
    use clap::CommandFactory;
    #[derive(clap::Parser)]
    struct Probe {
        #[command(flatten)]
        args: ServerArgs,
    }
    let command = Probe::command();
    let mut flags: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
        .filter(|flag| flag != "--config")
        .collect();
    flags.sort();
    let mut declared: Vec<String> = KEYS.iter().map(Key::flag).collect();
    declared.sort();
    assert_eq!(flags, declared);
}

/// A cell's first `code` span, or the cell.
fn code(cell: &str) -> &str {
    cell.trim()
        .strip_prefix('`')
        .and_then(|rest| rest.split('`').next())
        .unwrap_or(cell.trim())
}

/// How the README writes a default: numbers plainly (`2000`, not `2000.0`), lists joined
/// by commas.
fn shown(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(number) => number
            .as_u64()
            .map(|n| n.to_string())
            .or_else(|| number.as_f64().map(|n| n.to_string()))
            .unwrap_or_default(),
        serde_json::Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[test]
fn the_readme_documents_every_key_with_its_default() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("## Configuration reference")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let rows: Vec<Vec<&str>> = section
        .lines()
        .filter(|line| line.starts_with("| `--"))
        .map(|line| line.trim_matches('|').split(" | ").collect())
        .collect();
    let defaults = serde_json::to_value(Config::default()).unwrap();
    for key in KEYS {
        let row = rows
            .iter()
            .find(|row| code(row[2]) == key.toml)
            .unwrap_or_else(|| panic!("README has no row for `{}`", key.toml));
        assert_eq!(code(row[0]), key.flag(), "the flag of {}", key.toml);
        assert_eq!(
            code(row[1]),
            key.env,
            "the environment variable of {}",
            key.toml
        );
        let default = key
            .toml
            .split('.')
            .fold(&defaults, |value, part| &value[part]);
        let default = shown(default);
        if default.is_empty() {
            // Unset by default: the README says what is used instead.
            assert!(!code(row[3]).is_empty(), "{}", key.toml);
        } else {
            assert_eq!(code(row[3]), default, "the default of {}", key.toml);
        }
    }
    assert_eq!(rows.len(), KEYS.len(), "README rows for undeclared keys");
}

#[test]
fn a_database_url_of_another_kind_is_refused_without_echoing_it() {
    let args = ServerArgs {
        database_url: Some("mysql://root:hunter2@db/slipway".to_owned()),
        ..ServerArgs::default()
    };
    let err = Config::resolve(&args).unwrap_err().to_string();
    assert!(err.contains("database_url"), "{err}");
    assert!(err.contains("postgres://"), "{err}");
    assert!(!err.contains("hunter2"), "the password was echoed: {err}");
    for accepted in [
        "postgres://u:p@db:5432/slipway",
        "postgresql://db/slipway",
        "sqlite:///var/lib/slipway/slipway.db?mode=rwc",
    ] {
        let args = ServerArgs {
            database_url: Some(accepted.to_owned()),
            ..ServerArgs::default()
        };
        let config = Config::resolve(&args).unwrap();
        assert_eq!(config.database_url(), accepted);
    }
}

#[test]
fn an_artifacts_url_other_than_s3_is_refused_naming_the_key() {
    let args = ServerArgs {
        artifacts: Some("gs://bucket/slipway".to_owned()),
        ..ServerArgs::default()
    };
    let err = Config::resolve(&args).unwrap_err().to_string();
    assert!(err.contains("artifacts"), "{err}");
    assert!(err.contains("s3://BUCKET/PREFIX"), "{err}");
    let args = ServerArgs {
        artifacts: Some("s3://bucket/team/slipway".to_owned()),
        ..ServerArgs::default()
    };
    let config = Config::resolve(&args).unwrap();
    assert_eq!(config.artifacts, "s3://bucket/team/slipway");
    assert!(Config::default().artifacts.is_empty());
}
