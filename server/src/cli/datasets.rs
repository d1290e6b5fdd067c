//! `slipway dataset …`, and the bundled demo datasets that `slipway up` registers.

use super::output::{self, OutputFormat, Table};
use super::{Cli, DatasetCommand};
use slipway_api::Client;

/// The real datasets shipped in `datasets/` (UCI, CC BY 4.0; see `datasets/README.md`), with
/// their label columns.
const BUNDLED: [(&str, &str, &[u8]); 4] = [
    (
        "digits",
        "label",
        include_bytes!("../../../datasets/digits.csv"),
    ),
    (
        "iris",
        "species",
        include_bytes!("../../../datasets/iris.csv"),
    ),
    (
        "wine",
        "cultivar",
        include_bytes!("../../../datasets/wine.csv"),
    ),
    (
        "breast_cancer",
        "diagnosis",
        include_bytes!("../../../datasets/breast_cancer.csv"),
    ),
];

/// Registers the bundled datasets; the same content again is the same version, so this is
/// idempotent across restarts.
pub async fn register_bundled(client: Client) {
    for (name, label, csv) in BUNDLED {
        match client.upload_dataset(name, label, None, csv.to_vec()).await {
            Ok(uploaded) if uploaded.created => {
                tracing::info!(
                    dataset = name,
                    version = uploaded.dataset.version,
                    "registered a bundled dataset"
                );
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(dataset = name, error = %err, "cannot register a bundled dataset")
            }
        }
    }
}

pub async fn datasets(cli: &Cli, command: &DatasetCommand) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    match command {
        DatasetCommand::Add {
            name,
            file,
            label,
            task,
        } => {
            let csv = std::fs::read(file)
                .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", file.display()))?;
            let uploaded = client
                .upload_dataset(name, label, task.as_deref(), csv)
                .await?;
            if cli.output == OutputFormat::Json {
                return output::json(&uploaded);
            }
            let d = &uploaded.dataset;
            let what = if uploaded.created {
                "registered"
            } else {
                "already registered:"
            };
            println!(
                "{what} {} version {} ({} rows, {} features, {}{}), sha256 {}",
                d.name,
                d.version,
                d.rows,
                d.features.len(),
                d.task,
                if d.classes.is_empty() {
                    String::new()
                } else {
                    format!(", {} classes", d.classes.len())
                },
                d.digest
            );
            Ok(())
        }
        DatasetCommand::List => {
            let datasets = client.list_datasets().await?;
            if cli.output == OutputFormat::Json {
                return output::json(&datasets);
            }
            let mut table = Table::new(&[
                "NAME", "VERSION", "ROWS", "FEATURES", "LABEL", "TASK", "CREATED",
            ]);
            for d in &datasets {
                table.row(vec![
                    d.name.clone(),
                    d.version.to_string(),
                    d.rows.to_string(),
                    d.features.len().to_string(),
                    d.label.clone(),
                    d.task.clone(),
                    output::time(&d.created_at),
                ]);
            }
            table.print();
            Ok(())
        }
        DatasetCommand::Show { name } => {
            let versions = client.dataset_versions(name).await?;
            if cli.output == OutputFormat::Json {
                return output::json(&versions);
            }
            for d in &versions {
                println!(
                    "{} version {} — {} rows, {} ({})",
                    d.name, d.version, d.rows, d.task, d.digest
                );
                println!("  label:    {}", d.label);
                if !d.classes.is_empty() {
                    println!("  classes:  {}", d.classes.join(", "));
                }
                println!("  features: {}", d.features.join(", "));
            }
            Ok(())
        }
    }
}
