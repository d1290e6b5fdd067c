//! `slipway gc`: collect the stored blobs nothing references, on any server the admin token
//! reaches (through `POST /api/v1/admin/gc`).

use super::Cli;
use super::output::{self, OutputFormat, Table};

/// Runs `slipway gc [--dry-run]` and prints the blobs and bytes freed.
pub async fn gc(cli: &Cli, dry_run: bool) -> anyhow::Result<()> {
    let report = super::commands::client(cli)?.gc(dry_run).await?;
    if cli.output == OutputFormat::Json {
        return output::json(&report);
    }
    if !report.blobs.is_empty() {
        let mut table = Table::new(&["DIGEST", "BYTES"]);
        for blob in &report.blobs {
            table.row(vec![
                format!("sha256:{}", blob.digest),
                blob.size.to_string(),
            ]);
        }
        table.print();
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    println!(
        "{verb} {} unreferenced blobs, {} bytes freed{}",
        report.removed,
        report.bytes_freed,
        if report.dry_run { " (dry run)" } else { "" }
    );
    println!(
        "{} blobs scanned; {} unreferenced kept: younger than {} s",
        report.scanned, report.kept_recent, report.grace_secs
    );
    Ok(())
}
