//! The monitoring commands: `monitor` (live metrics and drift of a deployment), `alerts`, and
//! `slo` (a deployment's SLO policy).

use super::Cli;
use super::output::{self, OutputFormat, Table};
use slipway_api::{Client, SloPolicy};

/// The flags of `slipway monitor`.
#[derive(Debug, Clone, clap::Args)]
pub struct MonitorArgs {
    /// The deployment.
    pub name: String,
    /// Redraw every N seconds until interrupted.
    #[arg(long, value_name = "SECONDS")]
    pub watch: Option<u64>,
    /// Drifting features to show.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// The flags of `slipway alerts`.
#[derive(Debug, Clone, clap::Args)]
pub struct AlertsArgs {
    /// Acknowledge this alert.
    #[arg(long, value_name = "ID")]
    pub ack: Option<i64>,
    /// Include acknowledged alerts.
    #[arg(long)]
    pub all: bool,
    /// Only this deployment's alerts.
    #[arg(long)]
    pub deployment: Option<String>,
    #[arg(long)]
    pub reason: Option<String>,
}

/// The flags of `slipway slo`.
#[derive(Debug, Clone, clap::Args)]
pub struct SloArgs {
    /// The deployment.
    pub name: String,
    /// Most errors per request over the window (0 to 1).
    #[arg(long)]
    pub max_error_rate: Option<f64>,
    /// Most p99 latency in milliseconds over the window.
    #[arg(long)]
    pub max_p99_ms: Option<f64>,
    /// Feature PSI that raises a drift alert.
    #[arg(long)]
    pub psi_alert: Option<f64>,
    /// Seconds of traffic judged.
    #[arg(long)]
    pub window_secs: Option<u64>,
    /// Requests a variant needs in the window before it is judged.
    #[arg(long)]
    pub min_requests: Option<u64>,
    /// Distinct callers (tokens) the live rows must come from before drift raises an alert
    /// (1 when a single service calls this deployment).
    #[arg(long)]
    pub min_drift_callers: Option<usize>,
    /// Live rows a version without training data (an ONNX import given only --signature)
    /// gathers as its drift baseline before drift is judged.
    #[arg(long)]
    pub baseline_rows: Option<usize>,
    /// Roll a breaching primary back (true) or only alert (false).
    #[arg(long)]
    pub rollback_primary: Option<bool>,
    #[arg(long)]
    pub reason: Option<String>,
}

fn ms(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.2}"))
}

async fn print_monitor(cli: &Cli, client: &Client, args: &MonitorArgs) -> anyhow::Result<()> {
    let metrics = client.deployment_metrics(&args.name).await?;
    let drift = client.drift_detail(&args.name).await.ok();
    if cli.output == OutputFormat::Json {
        return output::json(&serde_json::json!({ "metrics": metrics, "drift": drift }));
    }
    println!(
        "{} revision {} — last {} s",
        metrics.deployment, metrics.revision, metrics.window_secs
    );
    let mut table = Table::new(&["VERSION", "VARIANT", "REQ/S", "P50 MS", "P99 MS", "ERRORS"]);
    for version in &metrics.versions {
        table.row(vec![
            format!("v{}", version.version),
            version.variant.clone(),
            format!("{:.1}", version.requests_per_sec),
            ms(version.p50_ms),
            ms(version.p99_ms),
            format!("{:.2}% of {}", version.error_rate * 100.0, version.requests),
        ]);
    }
    table.print();
    if let Some(detail) = drift {
        print_drift(&detail, args.top);
    }
    Ok(())
}

/// The drift report: the status, the most drifted features with each table column's kind
/// and missing rate (live against training), then the category shares of categorical ones.
fn print_drift(detail: &slipway_api::DriftDetail, top: usize) {
    let drift = &detail.report;
    if let Some(live) = drift.live_baseline.as_ref().filter(|live| !live.complete) {
        println!(
            "drift: collecting a baseline from live rows ({} of {}); drift is judged once it is complete",
            live.rows, live.target
        );
        return;
    }
    println!(
        "drift: {} over {} live rows from {} caller(s){}",
        drift.status,
        drift.rows,
        drift.callers,
        drift
            .prediction_psi
            .map(|p| format!(", prediction PSI {p:.3}"))
            .unwrap_or_default()
    );
    if drift.rows == 0 {
        return;
    }
    let column = |name: &str| detail.columns.iter().find(|c| c.feature == name);
    let missing = |c: &slipway_api::ColumnDrift| {
        format!(
            "{:.1}% (training {:.1}%)",
            100.0 * c.live_missing_rate,
            100.0 * c.baseline_missing_rate
        )
    };
    let mut table = Table::new(&["FEATURE", "KIND", "PSI", "KS", "MISSING", "STATUS"]);
    let shown: Vec<&str> = drift
        .features
        .iter()
        .take(top)
        .map(|f| f.feature.as_str())
        .collect();
    for feature in drift.features.iter().take(top) {
        let described = column(&feature.feature);
        let status = described.map_or(feature.status.as_str(), |c| {
            worse(&feature.status, &c.missing_status)
        });
        table.row(vec![
            feature.feature.clone(),
            described.map_or_else(|| "numeric".to_owned(), |c| c.kind.clone()),
            format!("{:.3}", feature.psi),
            if described.is_some_and(|c| c.kind == "categorical") {
                "-".to_owned()
            } else {
                format!("{:.3}", feature.ks)
            },
            described.map_or_else(|| "-".to_owned(), missing),
            status.to_owned(),
        ]);
    }
    // Columns without a PSI (booleans, dates) whose missing rate rose.
    for c in detail
        .columns
        .iter()
        .filter(|c| c.missing_status != "stable" && !shown.contains(&c.feature.as_str()))
    {
        table.row(vec![
            c.feature.clone(),
            c.kind.clone(),
            "-".to_owned(),
            "-".to_owned(),
            missing(c),
            c.missing_status.clone(),
        ]);
    }
    table.print();
    for c in detail
        .columns
        .iter()
        .filter(|c| !c.categories.is_empty() && shown.contains(&c.feature.as_str()))
    {
        let shares: Vec<String> = c
            .categories
            .iter()
            .map(|s| {
                format!(
                    "{} {:.0}%→{:.0}%",
                    s.name,
                    100.0 * s.baseline_share,
                    100.0 * s.live_share
                )
            })
            .collect();
        println!("  {} (training→live): {}", c.feature, shares.join(", "));
    }
}

fn worse<'a>(a: &'a str, b: &'a str) -> &'a str {
    let rank = |s: &str| ["stable", "warn", "alert"].iter().position(|r| *r == s);
    if rank(b) > rank(a) { b } else { a }
}

pub async fn monitor(cli: &Cli, args: &MonitorArgs) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    let Some(seconds) = args.watch else {
        return print_monitor(cli, &client, args).await;
    };
    loop {
        // Clear the screen and draw again, like `watch`.
        print!("\x1b[2J\x1b[H");
        print_monitor(cli, &client, args).await?;
        tokio::time::sleep(std::time::Duration::from_secs(seconds.max(1))).await;
    }
}

pub async fn alerts(cli: &Cli, args: &AlertsArgs) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    if let Some(id) = args.ack {
        let alert = client.acknowledge_alert(id, args.reason.as_deref()).await?;
        if cli.output == OutputFormat::Json {
            return output::json(&alert);
        }
        println!("acknowledged alert {id}: {}", alert.message);
        return Ok(());
    }
    let alerts = client.alerts(args.deployment.as_deref(), !args.all).await?;
    if cli.output == OutputFormat::Json {
        return output::json(&alerts);
    }
    let mut table = Table::new(&[
        "ID",
        "WHEN",
        "DEPLOYMENT",
        "KIND",
        "SEVERITY",
        "ACK",
        "MESSAGE",
    ]);
    for alert in alerts {
        table.row(vec![
            alert.id.to_string(),
            output::time(&alert.created_at),
            alert.deployment,
            alert.kind,
            alert.severity,
            alert.acknowledged_by.unwrap_or_else(|| "-".into()),
            alert.message,
        ]);
    }
    table.print();
    Ok(())
}

pub async fn slo(cli: &Cli, args: &SloArgs) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    let mut policy: SloPolicy = client.slo_policy(&args.name).await?;
    let before = policy.clone();
    if let Some(v) = args.max_error_rate {
        policy.max_error_rate = v;
    }
    if let Some(v) = args.max_p99_ms {
        policy.max_p99_ms = Some(v);
    }
    if let Some(v) = args.psi_alert {
        policy.psi_alert = v;
    }
    if let Some(v) = args.window_secs {
        policy.window_secs = v;
    }
    if let Some(v) = args.min_requests {
        policy.min_requests = v;
    }
    if let Some(v) = args.min_drift_callers {
        policy.min_drift_callers = v;
    }
    if let Some(v) = args.baseline_rows {
        policy.baseline_rows = v;
    }
    if let Some(v) = args.rollback_primary {
        policy.rollback_primary = v;
    }
    if policy != before {
        policy = client
            .set_slo_policy(&args.name, &policy, args.reason.as_deref())
            .await?;
    }
    if cli.output == OutputFormat::Json {
        return output::json(&policy);
    }
    let changed = if policy != before { " (changed)" } else { "" };
    println!("SLO policy of {}{changed}", args.name);
    policy_table(&policy).print();
    Ok(())
}

/// The policy as a table of settings, their values and what each means.
fn policy_table(policy: &SloPolicy) -> Table {
    let number = |v: f64| v.to_string();
    let optional = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows: [(&str, String, &str); 12] = [
        (
            "max_error_rate",
            number(policy.max_error_rate),
            "most errors per judged request over the window",
        ),
        (
            "max_p99_ms",
            optional(policy.max_p99_ms.map(number)),
            "most p99 latency in ms over the window (-: not watched)",
        ),
        (
            "psi_warn",
            number(policy.psi_warn),
            "feature PSI from which drift is a warning",
        ),
        (
            "psi_alert",
            number(policy.psi_alert),
            "feature PSI above which drift raises an alert",
        ),
        (
            "window_secs",
            policy.window_secs.to_string(),
            "seconds of traffic judged",
        ),
        (
            "min_requests",
            policy.min_requests.to_string(),
            "requests a variant needs before it is judged",
        ),
        (
            "drift_window_rows",
            policy.drift_window_rows.to_string(),
            "latest live rows kept for drift",
        ),
        (
            "drift_window_secs",
            optional(policy.drift_window_secs.map(|s| s.to_string())),
            "only rows this recent count for drift (-: any age)",
        ),
        (
            "min_drift_rows",
            policy.min_drift_rows.to_string(),
            "rows needed before drift is judged",
        ),
        (
            "min_drift_callers",
            policy.min_drift_callers.to_string(),
            "distinct callers those rows must come from",
        ),
        (
            "baseline_rows",
            policy.baseline_rows.to_string(),
            "first live rows a version without training data takes as its baseline",
        ),
        (
            "rollback_primary",
            policy.rollback_primary.to_string(),
            "roll a breaching primary back (false: only alert)",
        ),
    ];
    let mut table = Table::new(&["SETTING", "VALUE", "MEANING"]);
    for (setting, value, meaning) in rows {
        table.row(vec![setting.to_owned(), value, meaning.to_owned()]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_prints_as_a_table_not_json() {
        let policy = SloPolicy {
            max_p99_ms: Some(50.0),
            ..SloPolicy::default()
        };
        let text = policy_table(&policy).render();
        assert!(text.starts_with("SETTING  "), "{text}");
        assert!(text.contains("\nmax_error_rate     0.05   "), "{text}");
        assert!(text.contains("\nmax_p99_ms         50     "), "{text}");
        assert!(text.contains("\ndrift_window_secs  -      "), "{text}");
        assert!(!text.contains('{'), "{text}");
    }
}
