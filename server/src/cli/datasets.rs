//! `slipway dataset …`, and the bundled demo datasets that `slipway up` registers.

use super::output::{self, OutputFormat, Table};
use super::{Cli, DatasetCommand};
use anyhow::Context;
use slipway_api::{Client, DatasetSchema, DatasetVersion, UploadOptions};
use slipway_ml::stats::FeatureStats;
use std::io::Write;
use std::path::Path;

/// A dataset shipped in `datasets/` (see `datasets/README.md` for sources and licences): its
/// name, label column, task (inferred when `None`) and content.
type Bundled = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [u8],
);

/// The real datasets shipped in `datasets/`: four clean UCI tables (CC BY 4.0), and two
/// messier ones with missing values, text categories, a date and an identifier (penguins,
/// CC0; cars, StatLib).
const BUNDLED: [Bundled; 6] = [
    (
        "digits",
        "label",
        None,
        include_bytes!("../../../datasets/digits.csv"),
    ),
    (
        "iris",
        "species",
        None,
        include_bytes!("../../../datasets/iris.csv"),
    ),
    (
        "wine",
        "cultivar",
        None,
        include_bytes!("../../../datasets/wine.csv"),
    ),
    (
        "breast_cancer",
        "diagnosis",
        None,
        include_bytes!("../../../datasets/breast_cancer.csv"),
    ),
    (
        "penguins",
        "species",
        Some("classification"),
        include_bytes!("../../../datasets/penguins.csv"),
    ),
    (
        "cars",
        "Miles_per_Gallon",
        Some("regression"),
        include_bytes!("../../../datasets/cars.csv"),
    ),
];

/// Registers the bundled datasets; the same content again is the same version, so this is
/// idempotent across restarts.
pub async fn register_bundled(client: Client) {
    for (name, label, task, csv) in BUNDLED {
        match client.upload_dataset(name, label, task, csv.to_vec()).await {
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
            ignore,
            categorical,
            numeric,
            delimiter,
            missing,
        } => {
            let body = tokio::fs::File::open(file)
                .await
                .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", file.display()))?;
            let options = UploadOptions {
                label: label.clone(),
                task: task.clone(),
                delimiter: delimiter.clone(),
                ignore: ignore.clone(),
                categorical: categorical.clone(),
                numeric: numeric.clone(),
                missing: missing.clone(),
            };
            // Streamed from the file, so a large upload never has to fit in memory here.
            let uploaded = client.upload_dataset_with(name, &options, body).await?;
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
            if let Some(schema) = &d.schema
                && schema.missing_labels > 0
            {
                println!(
                    "{} rows have no label ({}); training skips them",
                    schema.missing_labels, d.label
                );
            }
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
            for (i, d) in versions.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                print_version(d)?;
            }
            Ok(())
        }
        DatasetCommand::Download { name, version, out } => {
            download(cli, &client, name, *version, out.as_deref()).await
        }
    }
}

/// One version: its schema as a table of columns, then its numeric features' statistics.
fn print_version(d: &DatasetVersion) -> anyhow::Result<()> {
    println!(
        "{} version {} — {} rows, {} ({})",
        d.name, d.version, d.rows, d.task, d.digest
    );
    println!("  label:    {}", d.label);
    if !d.classes.is_empty() {
        println!("  classes:  {}", d.classes.join(", "));
    }
    if let Some(schema) = &d.schema {
        println!(
            "  format:   {}{}",
            schema.format.as_str(),
            if schema.delimiter == "," {
                String::new()
            } else {
                format!(" (delimiter {:?})", schema.delimiter)
            }
        );
        if schema.missing_labels > 0 {
            println!(
                "  missing labels: {} rows (skipped by training)",
                schema.missing_labels
            );
        }
        if let Some(tokens) = &schema.missing_tokens {
            println!(
                "  missing:  empty cells{}",
                tokens.iter().map(|t| format!(", {t}")).collect::<String>()
            );
        }
        print_columns(schema);
    }
    let Some(statistics) = &d.statistics else {
        println!("  features: {}", d.features.join(", "));
        return Ok(());
    };
    let statistics: Vec<FeatureStats> = serde_json::from_value(statistics.clone())
        .context("unexpected answer from the server: statistics")?;
    println!("  features: {}", d.features.len());
    if statistics.is_empty() {
        return Ok(());
    }
    let mut table = Table::new(&["  FEATURE", "COUNT", "MEAN", "STD", "MIN", "MAX"]);
    for feature in &statistics {
        table.row(vec![
            format!("  {}", feature.name),
            feature.count.to_string(),
            number(feature.mean),
            number(feature.std),
            number(feature.min),
            number(feature.max),
        ]);
    }
    table.print();
    Ok(())
}

/// Most levels a column's row of the schema table lists before "…".
const SHOWN_LEVELS: usize = 5;

/// The schema: each column's type, missing count and most frequent levels.
fn print_columns(schema: &DatasetSchema) {
    let mut table = Table::new(&["  COLUMN", "TYPE", "MISSING", "LEVELS"]);
    for column in &schema.columns {
        let mut levels: Vec<String> = column
            .levels
            .iter()
            .take(SHOWN_LEVELS)
            .map(|level| format!("{} ({})", level.value, level.count))
            .collect();
        if column.levels.len() > SHOWN_LEVELS {
            levels.push(format!("… {} in all", column.levels.len()));
        }
        table.row(vec![
            format!("  {}", column.name),
            column.column_type.to_string(),
            column.missing.to_string(),
            levels.join(", "),
        ]);
    }
    table.print();
}

/// A statistic with four significant decimals, without trailing zeros.
fn number(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// Streams a version's CSV to stdout or `out`. Writing happens on a blocking thread fed chunk
/// by chunk, so a slow reader of stdout never stalls the runtime and memory stays small.
async fn download(
    cli: &Cli,
    client: &Client,
    name: &str,
    version: Option<u32>,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let version = match version {
        Some(version) => version,
        None => client
            .dataset_versions(name)
            .await?
            .first()
            .map(|d| d.version)
            .with_context(|| format!("dataset '{name}' has no version"))?,
    };
    let mut stream = client.stream_dataset(name, version).await?;
    let mut sink: Box<dyn Write + Send> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            tokio::fs::File::create(path)
                .await
                .with_context(|| format!("cannot create {}", path.display()))?
                .into_std()
                .await,
        )),
        None => Box::new(std::io::stdout()),
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        let mut written = 0;
        while let Some(chunk) = receiver.blocking_recv() {
            sink.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        sink.flush()?;
        Ok(written)
    });
    let mut failed = None;
    loop {
        match stream.chunk().await {
            Ok(Some(chunk)) => {
                if sender.send(chunk).await.is_err() {
                    break; // the writer stopped; its error says why
                }
            }
            Ok(None) => break,
            Err(err) => {
                failed = Some(err);
                break;
            }
        }
    }
    drop(sender);
    let written = writer
        .await
        .context("the writer stopped")?
        .with_context(|| match out {
            Some(path) => format!("cannot write {}", path.display()),
            None => "cannot write to stdout".to_owned(),
        });
    let failed = match (failed, written) {
        (Some(err), _) => Some(anyhow::Error::new(err)),
        (None, Err(err)) => Some(err),
        (None, Ok(written)) => {
            if let Some(path) = out {
                match cli.output {
                    OutputFormat::Json => output::json(&serde_json::json!({
                        "dataset": name,
                        "version": version,
                        "bytes": written,
                        "path": path,
                    }))?,
                    OutputFormat::Text => println!(
                        "wrote {name} version {version} ({written} bytes) to {}",
                        path.display()
                    ),
                }
            }
            None
        }
    };
    match failed {
        None => Ok(()),
        Some(err) => {
            // Leave no half file behind to be taken for the dataset.
            if let Some(path) = out {
                let _ = std::fs::remove_file(path);
            }
            Err(err.context(format!("downloading {name} version {version}")))
        }
    }
}
