//! The production commands: `models` (the registry), `deploy`, `promote`, `rollback`,
//! `deployments` and `predict`.

use super::Cli;
use super::output::{self, OutputFormat, Table};
use clap::Subcommand;
use slipway_api::{
    ChangeRequest, DeployRequest, Deployment, ModelVersion, PredictRequest, Prediction,
    RegisterModel,
};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Register the model a finished training run produced as the next version of NAME.
    Register {
        name: String,
        /// The training run.
        #[arg(long = "run", value_name = "RUN_ID")]
        run_id: i64,
        #[arg(long)]
        description: Option<String>,
    },
    /// Every registered model with its latest version and aliases.
    List {
        /// Only models whose name contains this.
        #[arg(long)]
        search: Option<String>,
    },
    /// One model's versions, newest first, with their metrics and aliases.
    Show { name: String },
    /// One version's lineage: run, dataset, parameters, seed, code version, metrics.
    Version {
        name: String,
        /// A number, an alias, or `latest`.
        #[arg(id = "selector", value_name = "VERSION")]
        version: String,
    },
    /// Point ALIAS at VERSION (protected aliases such as `champion` need --reason).
    Alias {
        name: String,
        alias: String,
        #[arg(id = "target_version", value_name = "VERSION")]
        version: u32,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Delete ALIAS.
    Unalias {
        name: String,
        alias: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

/// The flags of `slipway deploy`.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// The deployment (created on first deploy).
    pub name: String,
    /// The registered model it serves (needed when creating it).
    #[arg(long)]
    pub model: Option<String>,
    /// The version to serve as primary, or the canary's version with --canary.
    #[arg(long)]
    pub version: Option<u32>,
    /// Send this percentage of traffic to --version as a canary (0 removes the canary).
    #[arg(long, value_name = "PERCENT")]
    pub canary: Option<f64>,
    /// Mirror traffic to this version; it never answers.
    #[arg(long, value_name = "VERSION")]
    pub shadow: Option<u32>,
    /// Stop mirroring.
    #[arg(long)]
    pub remove_shadow: bool,
    /// Refuse the change unless the deployment is still at this revision.
    #[arg(long, value_name = "REVISION")]
    pub expect_revision: Option<u32>,
    /// Why (recorded in the revision and the audit log).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DeploymentsCommand {
    /// Every deployment with what it serves.
    List,
    /// One deployment.
    Show { name: String },
    /// Its revisions, newest first: action, versions, who and why.
    History { name: String },
    /// How often the shadow agreed with the primary.
    Shadow { name: String },
}

/// The flags of `slipway predict`.
#[derive(Debug, Clone, clap::Args)]
pub struct PredictArgs {
    /// The deployment.
    pub name: String,
    /// A CSV with a header row of feature names (a label column, if present, is compared
    /// with the predictions), or JSON: `{"instances": [...]}` or a bare array of instances.
    #[arg(long)]
    pub file: PathBuf,
    /// Requests with the same key go to the same variant.
    #[arg(long)]
    pub key: Option<String>,
}

fn print_version(cli: &Cli, version: &ModelVersion) -> anyhow::Result<()> {
    if cli.output == OutputFormat::Json {
        return output::json(version);
    }
    println!("model        {} version {}", version.model, version.version);
    if !version.aliases.is_empty() {
        println!("aliases      {}", version.aliases.join(", "));
    }
    println!(
        "run          {}",
        version.run_id.map_or("-".into(), |id| id.to_string())
    );
    println!("arch         {} ({})", version.arch, version.task);
    if let Some(dataset) = &version.dataset {
        println!(
            "dataset      {} v{} sha256:{}",
            dataset.name, dataset.version, dataset.digest
        );
    }
    println!("weights      sha256:{}", version.artifact_digest);
    println!(
        "seed         {}",
        version.seed.map_or("-".into(), |s| s.to_string())
    );
    println!(
        "code         {}",
        version.code_version.as_deref().unwrap_or("-")
    );
    println!(
        "registered   {} by {}",
        output::time(&version.created_at),
        version.created_by
    );
    for (key, value) in &version.metrics {
        println!("metric       {key} = {value:.4}");
    }
    for (key, value) in &version.params {
        println!("param        {key} = {value}");
    }
    Ok(())
}

pub async fn models(cli: &Cli, command: &ModelsCommand) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    match command {
        ModelsCommand::Register {
            name,
            run_id,
            description,
        } => {
            let request = RegisterModel {
                run_id: *run_id,
                description: description.clone(),
            };
            print_version(cli, &client.register_model(name, &request).await?)
        }
        ModelsCommand::List { search } => {
            let models = match search {
                Some(text) => client.search_models(text).await?,
                None => client.list_models().await?,
            };
            if cli.output == OutputFormat::Json {
                return output::json(&models);
            }
            let mut table = Table::new(&["NAME", "LATEST", "VERSIONS", "ALIASES", "UPDATED"]);
            for model in models {
                let aliases: Vec<String> = model
                    .aliases
                    .iter()
                    .map(|(a, v)| format!("{a}=v{v}"))
                    .collect();
                table.row(vec![
                    model.name,
                    model.latest_version.map_or("-".into(), |v| format!("v{v}")),
                    model.version_count.to_string(),
                    aliases.join(" "),
                    output::time(&model.updated_at),
                ]);
            }
            table.print();
            Ok(())
        }
        ModelsCommand::Show { name } => {
            let versions = client.model_versions(name).await?;
            if cli.output == OutputFormat::Json {
                return output::json(&versions);
            }
            let mut table = Table::new(&[
                "VERSION",
                "ALIASES",
                "RUN",
                "DATASET",
                "TEST METRIC",
                "REGISTERED",
            ]);
            for version in versions {
                let metric = version
                    .metrics
                    .get("test_accuracy")
                    .map(|v| format!("accuracy {v:.4}"))
                    .or_else(|| {
                        version
                            .metrics
                            .get("test_rmse")
                            .map(|v| format!("rmse {v:.4}"))
                    })
                    .unwrap_or_default();
                table.row(vec![
                    format!("v{}", version.version),
                    version.aliases.join(","),
                    version.run_id.map_or("-".into(), |id| id.to_string()),
                    version
                        .dataset
                        .map_or("-".into(), |d| format!("{}:{}", d.name, d.version)),
                    metric,
                    output::time(&version.created_at),
                ]);
            }
            table.print();
            Ok(())
        }
        ModelsCommand::Version { name, version } => {
            print_version(cli, &client.model_version(name, version).await?)
        }
        ModelsCommand::Alias {
            name,
            alias,
            version,
            reason,
        } => {
            let moved = client
                .set_alias(name, alias, *version, reason.as_deref())
                .await?;
            if cli.output == OutputFormat::Json {
                return output::json(&moved);
            }
            println!("{name}@{alias} -> v{version}");
            Ok(())
        }
        ModelsCommand::Unalias {
            name,
            alias,
            reason,
        } => {
            client.delete_alias(name, alias, reason.as_deref()).await?;
            println!("deleted {name}@{alias}");
            Ok(())
        }
    }
}

fn describe(deployment: &Deployment) -> String {
    let spec = &deployment.spec;
    let mut text = format!("{} v{}", spec.model, spec.primary);
    if let Some(canary) = &spec.canary {
        text.push_str(&format!(
            ", canary v{} at {}%",
            canary.version, canary.percent
        ));
    }
    if let Some(shadow) = spec.shadow {
        text.push_str(&format!(", shadow v{shadow}"));
    }
    text
}

fn print_deployment(cli: &Cli, deployment: &Deployment) -> anyhow::Result<()> {
    if cli.output == OutputFormat::Json {
        return output::json(deployment);
    }
    println!(
        "{} revision {}: {}{}",
        deployment.name,
        deployment.revision,
        describe(deployment),
        if deployment.ready { "" } else { " (loading)" }
    );
    Ok(())
}

pub async fn deploy(cli: &Cli, args: &DeployArgs) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    let request = DeployRequest {
        model: args.model.clone(),
        version: args.version,
        canary_percent: args.canary,
        shadow_version: args.shadow,
        remove_shadow: args.remove_shadow,
        expected_revision: args.expect_revision,
    };
    let deployment = client
        .deploy(&args.name, &request, args.reason.as_deref())
        .await?;
    print_deployment(cli, &deployment)
}

pub async fn promote(cli: &Cli, name: &str, reason: Option<&str>) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    let deployment = client
        .promote(name, &ChangeRequest::default(), reason)
        .await?;
    print_deployment(cli, &deployment)
}

pub async fn rollback(
    cli: &Cli,
    name: &str,
    to: Option<u32>,
    reason: Option<&str>,
) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    let request = ChangeRequest {
        to_revision: to,
        expected_revision: None,
    };
    let deployment = client.rollback(name, &request, reason).await?;
    print_deployment(cli, &deployment)
}

pub async fn deployments(cli: &Cli, command: &DeploymentsCommand) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    match command {
        DeploymentsCommand::List => {
            let deployments = client.list_deployments().await?;
            if cli.output == OutputFormat::Json {
                return output::json(&deployments);
            }
            let mut table = Table::new(&["NAME", "REVISION", "SERVING", "READY", "UPDATED"]);
            for deployment in &deployments {
                table.row(vec![
                    deployment.name.clone(),
                    deployment.revision.to_string(),
                    describe(deployment),
                    if deployment.ready { "yes" } else { "no" }.into(),
                    output::time(&deployment.updated_at),
                ]);
            }
            table.print();
            Ok(())
        }
        DeploymentsCommand::Show { name } => {
            print_deployment(cli, &client.get_deployment(name).await?)
        }
        DeploymentsCommand::History { name } => {
            let revisions = client.deployment_revisions(name).await?;
            if cli.output == OutputFormat::Json {
                return output::json(&revisions);
            }
            let mut table = Table::new(&[
                "REV", "ACTION", "PRIMARY", "CANARY", "SHADOW", "BY", "WHEN", "REASON",
            ]);
            for revision in revisions {
                let action = match revision.rolled_back_to {
                    Some(target) => format!("rollback to {target}"),
                    None => revision.action,
                };
                table.row(vec![
                    revision.revision.to_string(),
                    action,
                    format!("v{}", revision.spec.primary),
                    revision
                        .spec
                        .canary
                        .map_or("-".into(), |c| format!("v{} {}%", c.version, c.percent)),
                    revision.spec.shadow.map_or("-".into(), |v| format!("v{v}")),
                    revision.actor,
                    output::time(&revision.created_at),
                    revision.reason.unwrap_or_default(),
                ]);
            }
            table.print();
            Ok(())
        }
        DeploymentsCommand::Shadow { name } => {
            let comparisons = client.shadow_comparisons(name).await?;
            if cli.output == OutputFormat::Json {
                return output::json(&comparisons);
            }
            let mut table = Table::new(&[
                "REV",
                "PRIMARY",
                "SHADOW",
                "REQUESTS",
                "AGREEMENT",
                "ERRORS",
            ]);
            for c in comparisons {
                table.row(vec![
                    c.revision.to_string(),
                    format!("v{}", c.primary_version),
                    format!("v{}", c.shadow_version),
                    c.requests.to_string(),
                    format!("{:.1}%", c.agreement * 100.0),
                    c.errors.to_string(),
                ]);
            }
            table.print();
            Ok(())
        }
    }
}

/// Reads the instances of a CSV (header of feature names; `label` columns kept aside) or
/// JSON file. Returns the instances and the labels found, if any.
fn read_instances(
    path: &std::path::Path,
) -> anyhow::Result<(Vec<serde_json::Value>, Option<Vec<String>>)> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e == "json")
        || bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| matches!(b, b'{' | b'['));
    if is_json {
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
        let instances = match value {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Object(mut fields) => match fields.remove("instances") {
                Some(serde_json::Value::Array(items)) => items,
                _ => anyhow::bail!("{}: expected {{\"instances\": [...]}}", path.display()),
            },
            _ => anyhow::bail!("{}: expected an array of instances", path.display()),
        };
        return Ok((instances, None));
    }
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let label_column = header
        .iter()
        .position(|h| h == "label" || h == "target" || h == "y");
    let (mut instances, mut labels) = (Vec::new(), Vec::new());
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", path.display(), line + 1))?;
        let mut instance = serde_json::Map::new();
        for (column, (name, cell)) in header.iter().zip(record.iter()).enumerate() {
            if Some(column) == label_column {
                labels.push(cell.to_owned());
                continue;
            }
            let value: f64 = cell.trim().parse().with_context(|| {
                format!(
                    "{}: row {}, column '{name}': expected a number, got '{cell}'",
                    path.display(),
                    line + 1
                )
            })?;
            instance.insert(name.clone(), serde_json::Value::from(value));
        }
        instances.push(serde_json::Value::Object(instance));
    }
    Ok((instances, label_column.map(|_| labels)))
}

/// Rows per predict request when a file is sent in parts.
const PREDICT_CHUNK: usize = 500;

pub async fn predict(cli: &Cli, args: &PredictArgs) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    let (instances, labels) = read_instances(&args.file)?;
    if instances.is_empty() {
        anyhow::bail!("{}: no rows to predict", args.file.display());
    }
    // Large files go in requests of a few hundred rows, under the server's per-request limit.
    let mut answer: Option<slipway_api::PredictResponse> = None;
    for chunk in instances.chunks(PREDICT_CHUNK) {
        let request = PredictRequest {
            instances: chunk.to_vec(),
            key: args.key.clone(),
        };
        let part = client.predict(&args.name, &request).await?;
        match &mut answer {
            Some(all) => all.predictions.extend(part.predictions),
            None => answer = Some(part),
        }
    }
    let Some(answer) = answer else {
        return Ok(());
    };
    if cli.output == OutputFormat::Json {
        return output::json(&answer);
    }
    let mut table = Table::new(&["ROW", "PREDICTION", "CONFIDENCE", "ACTUAL"]);
    let mut correct = 0;
    for (row, prediction) in answer.predictions.iter().enumerate() {
        let actual = labels.as_ref().and_then(|l| l.get(row)).cloned();
        let (shown, confidence) = match prediction {
            Prediction::Class {
                label,
                probabilities,
            } => {
                if actual.as_deref() == Some(label.as_str()) {
                    correct += 1;
                }
                let p = probabilities.get(label).copied().unwrap_or(0.0);
                (label.clone(), format!("{:.1}%", p * 100.0))
            }
            Prediction::Value(value) => (format!("{value:.4}"), String::new()),
        };
        table.row(vec![
            row.to_string(),
            shown,
            confidence,
            actual.unwrap_or_default(),
        ]);
    }
    table.print();
    println!(
        "{} predictions from {} v{} (deployment revision {}, {})",
        answer.predictions.len(),
        args.name,
        answer.model_version,
        answer.deployment_revision,
        answer.variant
    );
    if let Some(labels) = labels
        && !labels.is_empty()
        && matches!(answer.predictions.first(), Some(Prediction::Class { .. }))
    {
        println!(
            "accuracy {:.4} against the file's labels",
            f64::from(correct) / labels.len() as f64
        );
    }
    Ok(())
}
