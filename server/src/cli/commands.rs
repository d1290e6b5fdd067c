//! What each command does.

use super::output::{self, OutputFormat, Table};
use super::{Cli, Command, ExperimentsCommand, RunsCommand, TokenCommand, WorkerArgs};
use crate::config::{Config, DEFAULT_DATA_DIR, LogFormat, ServerArgs};
use anyhow::Context;
use slipway_api::{Client, CreateExperiment, CreateToken, PageRequest, Run, SearchRuns};
use std::path::PathBuf;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    dispatch(&cli)
        .await
        .map_err(|err| super::errors::explain(&cli, err))
}

async fn dispatch(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Up(args) => serve(args, true).await,
        Command::Server(args) => serve(args, false).await,
        Command::Worker(args) => {
            init_logging("info", LogFormat::Text);
            slipway_ml::worker::run(client(cli)?, worker_config(args))
                .await
                .map_err(|err| anyhow::anyhow!("the server refused this worker: {err}"))
        }
        Command::Serve(args) => {
            init_logging("info", LogFormat::Text);
            let config = crate::replica::ReplicaConfig {
                addr: args.addr,
                cache_dir: args.cache_dir.clone(),
                poll: std::time::Duration::from_millis(args.poll_ms),
                predict_limit: crate::config::RateLimit {
                    per_sec: args.predict_rate,
                    burst: args.predict_burst,
                },
                rate_limit_admin: args.rate_limit_admin,
            };
            Ok(crate::replica::run(client(cli)?, config).await?)
        }
        Command::Jobs(command) => super::jobs::jobs(cli, command).await,
        Command::Workers(command) => super::jobs::workers(cli, command).await,
        Command::Train(args) => super::ml::train(cli, args).await,
        Command::Run(args) => super::run::run(cli, args).await,
        Command::Evaluate(args) => super::ml::evaluate(cli, args).await,
        Command::Models(command) => super::serving::models(cli, command).await,
        Command::Deploy(args) => super::serving::deploy(cli, args).await,
        Command::Promote { name, reason } => {
            super::serving::promote(cli, name, reason.as_deref()).await
        }
        Command::Rollback { name, to, reason } => {
            super::serving::rollback(cli, name, *to, reason.as_deref()).await
        }
        Command::Deployments(command) => super::serving::deployments(cli, command).await,
        Command::Predict(args) => super::predict::predict(cli, args).await,
        Command::Monitor(args) => super::monitor::monitor(cli, args).await,
        Command::Alerts(args) => super::monitor::alerts(cli, args).await,
        Command::Slo(args) => super::monitor::slo(cli, args).await,
        Command::Pipeline(command) => super::schedules::pipeline(cli, command).await,
        Command::Schedule(command) => super::schedules::schedules(cli, command).await,
        Command::Dataset(command) => super::datasets::datasets(cli, command).await,
        Command::Experiments(command) => experiments(cli, command).await,
        Command::Runs(command) => runs(cli, command).await,
        Command::Token(command) => tokens(cli, command).await,
        Command::Audit { limit } => audit(cli, *limit).await,
        Command::Gc { dry_run } => super::admin::gc(cli, *dry_run).await,
        Command::Tui { context: None } => slipway_tui::run(client(cli)?, None).await,
        Command::Tui {
            context: Some(name),
        } => {
            let client = slipway_tui::contexts::find(name)?.client()?;
            slipway_tui::run(client, Some(name.clone())).await
        }
        Command::Whoami => {
            let identity = client(cli)?.whoami().await?;
            match cli.output {
                OutputFormat::Json => output::json(&identity),
                OutputFormat::Text => {
                    println!("{} ({})", identity.name, identity.role);
                    Ok(())
                }
            }
        }
    }
}

/// Logs to stderr; `RUST_LOG` wins over `level`.
fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn worker_config(args: &WorkerArgs) -> slipway_ml::worker::WorkerConfig {
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "worker".to_owned());
        format!("{host}-{}", std::process::id())
    });
    slipway_ml::worker::WorkerConfig {
        name,
        labels: args.labels.clone(),
        concurrency: args.concurrency.max(1),
        allow_commands: args.allow_commands,
        gpus: args.gpus,
    }
}

async fn serve(args: &ServerArgs, up: bool) -> anyhow::Result<()> {
    let config = Config::resolve(args)?;
    init_logging(&config.log.level, config.log.format);
    let token_path = config.admin_token_path();
    crate::serve::run(config, |started| {
        if up {
            // The embedded worker talks HTTP to its own server, like any other worker.
            match std::fs::read_to_string(&token_path) {
                Ok(token) => match Client::new(format!("http://{}", started.addr), Some(token.trim().to_owned())) {
                    Ok(client) => {
                        tokio::spawn(super::datasets::register_bundled(client.clone()));
                        tokio::spawn(super::schedules::add_demo_schedule(client.clone()));
                        let config = worker_config(&WorkerArgs {
                            name: Some("embedded".to_owned()),
                            labels: Vec::new(),
                            concurrency: 2,
                            allow_commands: false,
                            gpus: None,
                        });
                        tokio::spawn(async move {
                            if let Err(err) = slipway_ml::worker::run(client, config).await {
                                tracing::error!(error = %err, "the server refused the embedded worker");
                            }
                        });
                    }
                    Err(err) => tracing::warn!(error = %err, "the embedded worker cannot start"),
                },
                Err(err) => tracing::warn!(error = %err, path = %token_path.display(), "the embedded worker needs the admin token file"),
            }
        }
        println!("slipway listening on http://{}", started.addr);
        let state = if started.admin_token_created {
            "written to"
        } else {
            "kept in"
        };
        println!("admin token {state} {}", token_path.display());
        if up {
            println!("web dashboard: http://{}/", started.addr);
            println!("demo data: the bundled datasets (digits, iris, wine, breast_cancer) and one worker");
            println!(
                "try: SLIPWAY_SERVER=http://{} slipway runs list",
                started.addr
            );
        }
    })
    .await?;
    Ok(())
}

/// Where the admin token of the local data dir is: `$SLIPWAY_DATA_DIR/admin-token`, or
/// `.slipway/admin-token` under the current directory (where `slipway up` runs by default).
pub(super) fn local_token_path() -> PathBuf {
    std::env::var_os("SLIPWAY_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
        .join("admin-token")
}

/// Whether `server` runs on this machine (so its data dir may be here too).
pub(super) fn is_local(server: &str) -> bool {
    let host = server
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .map(|authority| {
            authority
                .rsplit_once(':')
                .map_or(authority, |(host, _)| host)
        });
    matches!(host, Some("127.0.0.1" | "localhost" | "[::1]"))
}

/// The admin token of the local data dir, when the server is on this machine.
fn local_admin_token(server: &str) -> Option<String> {
    if !is_local(server) {
        return None;
    }
    std::fs::read_to_string(local_token_path())
        .ok()
        .map(|token| token.trim().to_owned())
}

pub(super) fn client(cli: &Cli) -> anyhow::Result<Client> {
    let token = cli.token.clone().or_else(|| local_admin_token(&cli.server));
    Ok(Client::new(&cli.server, token)?)
}

async fn experiments(cli: &Cli, command: &ExperimentsCommand) -> anyhow::Result<()> {
    let client = client(cli)?;
    match command {
        ExperimentsCommand::List { limit, page_token } => {
            let page = client
                .list_experiments(&PageRequest {
                    limit: Some(*limit),
                    page_token: page_token.clone(),
                })
                .await?;
            if cli.output == OutputFormat::Json {
                return output::json(&page);
            }
            let mut table = Table::new(&["ID", "NAME", "CREATED", "DESCRIPTION"]);
            for e in &page.items {
                table.row(vec![
                    e.id.to_string(),
                    e.name.clone(),
                    output::time(&e.created_at),
                    e.description.clone().unwrap_or_default(),
                ]);
            }
            table.print();
            print_next_page(page.next_page_token.as_deref());
            Ok(())
        }
        ExperimentsCommand::Create { name, description } => {
            let experiment = client
                .create_experiment(&CreateExperiment {
                    name: name.clone(),
                    description: description.clone(),
                })
                .await?;
            match cli.output {
                OutputFormat::Json => output::json(&experiment),
                OutputFormat::Text => {
                    println!("created experiment {} ({})", experiment.id, experiment.name);
                    Ok(())
                }
            }
        }
        ExperimentsCommand::Show { id_or_name } => {
            let experiment = client.get_experiment(id_or_name).await?;
            match cli.output {
                OutputFormat::Json => output::json(&experiment),
                OutputFormat::Text => {
                    println!("id:          {}", experiment.id);
                    println!("name:        {}", experiment.name);
                    println!("created:     {}", output::time(&experiment.created_at));
                    if let Some(description) = &experiment.description {
                        println!("description: {description}");
                    }
                    Ok(())
                }
            }
        }
    }
}

pub(super) fn print_next_page(token: Option<&str>) {
    if let Some(token) = token {
        println!("(more: --page-token {token})");
    }
}

async fn experiment_ids(client: &Client, experiment: Option<&String>) -> anyhow::Result<Vec<i64>> {
    match experiment {
        None => Ok(Vec::new()),
        Some(id_or_name) => Ok(vec![client.get_experiment(id_or_name).await?.id]),
    }
}

fn print_runs(runs: &[Run]) {
    let mut table = Table::new(&["ID", "EXPERIMENT", "NAME", "STATUS", "STARTED", "METRICS"]);
    for run in runs {
        let metrics: Vec<String> = run
            .metrics
            .iter()
            .take(4)
            .map(|(key, value)| format!("{key}={value:.4}"))
            .collect();
        table.row(vec![
            run.id.to_string(),
            run.experiment_id.to_string(),
            run.name.clone(),
            run.status.to_string(),
            output::time(&run.start_time),
            metrics.join(" "),
        ]);
    }
    table.print();
}

async fn runs(cli: &Cli, command: &RunsCommand) -> anyhow::Result<()> {
    let client = client(cli)?;
    let (filter, order_by, experiment, limit, page_token) = match command {
        RunsCommand::Show { id } => return show_run(cli, &client, *id).await,
        RunsCommand::List {
            experiment,
            limit,
            page_token,
        } => (None, Vec::new(), experiment, limit, page_token),
        RunsCommand::Search {
            filter,
            order_by,
            experiment,
            limit,
            page_token,
        } => (
            Some(filter.clone()),
            order_by.clone(),
            experiment,
            limit,
            page_token,
        ),
    };
    let request = SearchRuns {
        experiment_ids: experiment_ids(&client, experiment.as_ref()).await?,
        filter,
        order_by,
        limit: Some(*limit),
        page_token: page_token.clone(),
    };
    let page = client.search_runs(&request).await?;
    if cli.output == OutputFormat::Json {
        return output::json(&page);
    }
    print_runs(&page.items);
    print_next_page(page.next_page_token.as_deref());
    Ok(())
}

async fn show_run(cli: &Cli, client: &Client, id: i64) -> anyhow::Result<()> {
    let run = client.get_run(id).await?;
    if cli.output == OutputFormat::Json {
        return output::json(&run);
    }
    let r = &run.run;
    println!(
        "run {} ({}) in experiment {}",
        r.id, r.name, r.experiment_id
    );
    println!("status:  {}", r.status);
    println!("started: {}", output::time(&r.start_time));
    if let Some(end) = &r.end_time {
        println!("ended:   {}", output::time(end));
    }
    println!("by:      {}", r.created_by);
    let sections = [("params", &run.params), ("tags", &run.tags)];
    for (title, values) in sections {
        if !values.is_empty() {
            println!("\n{title}:");
            for (key, value) in values {
                println!("  {key} = {value}");
            }
        }
    }
    if !r.metrics.is_empty() {
        println!("\nmetrics (latest):");
        for (key, value) in &r.metrics {
            println!("  {key} = {value}");
        }
    }
    if !run.artifacts.is_empty() {
        println!("\nartifacts:");
        let mut table = Table::new(&["  PATH", "SIZE", "SHA256"]);
        for artifact in &run.artifacts {
            table.row(vec![
                format!("  {}", artifact.path),
                artifact.size.to_string(),
                artifact.digest.clone(),
            ]);
        }
        table.print();
    }
    Ok(())
}

async fn tokens(cli: &Cli, command: &TokenCommand) -> anyhow::Result<()> {
    let client = client(cli)?;
    match command {
        TokenCommand::Create { name, role, reason } => {
            let created = client
                .create_token(
                    &CreateToken {
                        name: name.clone(),
                        role: *role,
                    },
                    reason.as_deref(),
                )
                .await?;
            match cli.output {
                OutputFormat::Json => output::json(&created),
                OutputFormat::Text => {
                    eprintln!(
                        "created token '{}' with role {}; keep the secret below, it is not shown again:",
                        created.token.name, created.token.role
                    );
                    println!("{}", created.secret);
                    Ok(())
                }
            }
        }
        TokenCommand::List => {
            let tokens = client.list_tokens().await?;
            if cli.output == OutputFormat::Json {
                return output::json(&tokens);
            }
            let mut table = Table::new(&["NAME", "ROLE", "CREATED", "LAST USED", "STATE"]);
            for token in &tokens {
                table.row(vec![
                    token.name.clone(),
                    token.role.to_string(),
                    output::time(&token.created_at),
                    token
                        .last_used_at
                        .as_ref()
                        .map(output::time)
                        .unwrap_or_default(),
                    if token.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                    .to_owned(),
                ]);
            }
            table.print();
            Ok(())
        }
        TokenCommand::Revoke { name, reason } => {
            let token = client
                .revoke_token(name, reason.as_deref())
                .await
                .with_context(|| format!("cannot revoke token '{name}'"))?;
            match cli.output {
                OutputFormat::Json => output::json(&token),
                OutputFormat::Text => {
                    println!("revoked token '{}'", token.name);
                    Ok(())
                }
            }
        }
    }
}

async fn audit(cli: &Cli, limit: u32) -> anyhow::Result<()> {
    let page = client(cli)?
        .list_audit(&PageRequest {
            limit: Some(limit),
            page_token: None,
        })
        .await?;
    if cli.output == OutputFormat::Json {
        return output::json(&page);
    }
    let mut table = Table::new(&["TIME", "ACTOR", "ACTION", "TARGET", "REASON"]);
    for event in &page.items {
        table.row(vec![
            output::time(&event.at),
            event.actor.clone(),
            event.action.clone(),
            format!("{} {}", event.target_kind, event.target_id),
            event.reason.clone().unwrap_or_default(),
        ]);
    }
    table.print();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_servers_get_the_local_admin_token() {
        // Without a token file this is None either way; a remote host never reads the file.
        assert_eq!(local_admin_token("https://models.example.com:443"), None);
        assert!(is_local("http://127.0.0.1:8080"));
        assert!(is_local("http://localhost"));
        assert!(!is_local("https://models.example.com:443"));
    }
}
