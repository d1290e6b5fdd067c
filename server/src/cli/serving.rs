//! The production commands: `models` (the registry), `deploy`, `promote`, `rollback` and
//! `deployments` (`predict` has its own module).

use super::Cli;
use super::output::{self, OutputFormat, Table};
use clap::Subcommand;
use slipway_api::{
    ChangeRequest, DeployRequest, Deployment, DeploymentSpec, InputColumn, ModelVersion,
    RegisterModel,
};

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
    /// Import an ONNX model made elsewhere (PyTorch, scikit-learn, …) as the next version of
    /// NAME: checked (every operator must be one the runtime runs), stored, and served like a
    /// trained version.
    Import(Box<super::import::ImportArgs>),
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
    /// Switch the deployment to --model when it serves another model (refused without this,
    /// so a mistyped name cannot replace what callers are served).
    #[arg(long)]
    pub change_model: bool,
    /// With --change-model: switch even when the new model reads other input features (names,
    /// order or count) than the one it replaces.
    #[arg(long, requires = "change_model")]
    pub force: bool,
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
    if let Some(onnx) = &version.onnx {
        println!(
            "onnx         input '{}' {:?} -> output '{}' ({:?}), opset {}, made by {} {}",
            onnx.input,
            onnx.input_shape,
            onnx.output,
            onnx.output_kind,
            onnx.opset,
            onnx.producer,
            onnx.producer_version
        );
    }
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
    println!();
    print_signature(&version.signature);
    Ok(())
}

/// The columns a version reads by name: type, whether missing is accepted, categories.
fn print_signature(signature: &[InputColumn]) {
    let mut table = Table::new(&["INPUT", "TYPE", "MISSING", "CATEGORIES"]);
    for column in signature {
        let categories = if column.categories.is_empty() {
            "-".to_owned()
        } else {
            // Any other value reads as the unknown category.
            format!("{} (others: unknown)", column.categories.join(", "))
        };
        table.row(vec![
            column.name.clone(),
            column.column_type.as_str().to_owned(),
            if column.missing_allowed {
                "allowed"
            } else {
                "refused"
            }
            .to_owned(),
            categories,
        ]);
    }
    table.print();
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
        ModelsCommand::Import(args) => {
            print_version(cli, &super::import::import(&client, args).await?)
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
            let latest = versions.first().cloned();
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
            if let Some(latest) = latest {
                println!(
                    "\ninputs of v{} (predict instances give these by name):",
                    latest.version
                );
                print_signature(&latest.signature);
            }
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
    describe_spec(&deployment.spec)
}

/// `digits v1, canary v2 at 20%, shadow v3`.
fn describe_spec(spec: &DeploymentSpec) -> String {
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
        change_model: args.change_model,
        force: args.force,
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
            let mut table = Table::new(&["REV", "ACTION", "CHANGE", "BY", "WHEN", "REASON"]);
            for revision in revisions {
                let action = match revision.rolled_back_to {
                    Some(target) => format!("rollback to {target}"),
                    None => revision.action,
                };
                // Model and version on both sides, so a switch of model reads as one.
                let before = revision
                    .previous
                    .as_ref()
                    .map_or("(new)".into(), describe_spec);
                table.row(vec![
                    revision.revision.to_string(),
                    action,
                    format!("{before} → {}", describe_spec(&revision.spec)),
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
