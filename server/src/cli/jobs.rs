//! `slipway jobs …` and `slipway workers …`.

use super::output::{self, OutputFormat, Table};
use super::{Cli, JobsCommand, WorkersCommand};
use slipway_api::{Job, PageRequest, Requirements, SubmitJob};

fn print_job(job: &Job) {
    println!("job {} ({})", job.id, job.kind);
    println!("state:    {}", job.state);
    println!("attempts: {}/{}", job.attempts, job.max_attempts);
    println!("progress: {:.0}%", job.progress * 100.0);
    if let Some(worker) = &job.worker {
        println!("worker:   {worker}");
    }
    if let Some(reason) = &job.waiting_reason {
        println!("waiting:  {reason}");
    }
    if let Some(error) = &job.error {
        println!("error:    {error}");
    }
    if let Some(result) = &job.result {
        println!("result:   {result}");
    }
}

pub(super) fn show(cli: &Cli, job: &Job) -> anyhow::Result<()> {
    match cli.output {
        OutputFormat::Json => output::json(job),
        OutputFormat::Text => {
            print_job(job);
            Ok(())
        }
    }
}

pub async fn jobs(cli: &Cli, command: &JobsCommand) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    match command {
        JobsCommand::Submit {
            kind,
            seconds,
            message,
            priority,
            gpus,
            labels,
            max_attempts,
        } => {
            let mut spec = serde_json::Map::new();
            if let Some(seconds) = seconds {
                spec.insert("seconds".into(), serde_json::json!(seconds));
            }
            if let Some(message) = message {
                spec.insert("message".into(), serde_json::json!(message));
            }
            let job = client
                .submit_job(&SubmitJob {
                    kind: kind.clone(),
                    spec: serde_json::Value::Object(spec),
                    priority: *priority,
                    requirements: Requirements {
                        gpus: *gpus,
                        labels: labels.clone(),
                    },
                    max_attempts: *max_attempts,
                })
                .await?;
            show(cli, &job)
        }
        JobsCommand::List { state, limit } => {
            let page = client
                .list_jobs(
                    *state,
                    &PageRequest {
                        limit: Some(*limit),
                        page_token: None,
                    },
                )
                .await?;
            if cli.output == OutputFormat::Json {
                return output::json(&page);
            }
            let mut table = Table::new(&[
                "ID", "KIND", "STATE", "ATTEMPTS", "PROGRESS", "WORKER", "NOTE",
            ]);
            for job in &page.items {
                table.row(vec![
                    job.id.to_string(),
                    job.kind.clone(),
                    job.state.to_string(),
                    format!("{}/{}", job.attempts, job.max_attempts),
                    format!("{:.0}%", job.progress * 100.0),
                    job.worker.clone().unwrap_or_default(),
                    job.waiting_reason
                        .clone()
                        .or_else(|| job.error.clone())
                        .unwrap_or_default(),
                ]);
            }
            table.print();
            Ok(())
        }
        JobsCommand::Show { id } => show(cli, &client.get_job(*id).await?),
        JobsCommand::Cancel { id, reason } => {
            show(cli, &client.cancel_job(*id, reason.as_deref()).await?)
        }
        JobsCommand::Logs { id, follow } => logs(&client, *id, *follow).await,
        JobsCommand::Retry { id, reason } => {
            show(cli, &client.retry_job(*id, reason.as_deref()).await?)
        }
    }
}

fn print_lines(lines: &[slipway_api::JobLogLine]) {
    for line in lines {
        let at = output::time(&line.at);
        println!("{at} #{} {:5} {}", line.attempt, line.level, line.message);
    }
}

async fn logs(client: &slipway_api::Client, id: i64, follow: bool) -> anyhow::Result<()> {
    const PAGE: u32 = 1000;
    let mut after = 0;
    loop {
        // Read whether the job has ended before reading lines, so lines shipped just before
        // the end are still printed by this pass.
        let ended = !follow || client.get_job(id).await?.state.is_terminal();
        loop {
            let page = client.job_logs(id, after, PAGE).await?;
            print_lines(&page.lines);
            after = page.next_after;
            if page.lines.len() < PAGE as usize {
                break;
            }
        }
        if ended {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

pub async fn workers(cli: &Cli, command: &WorkersCommand) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    match command {
        WorkersCommand::List { limit, page_token } => {
            let page = client
                .list_workers(&slipway_api::PageRequest {
                    limit: Some(*limit),
                    page_token: page_token.clone(),
                })
                .await?;
            if cli.output == OutputFormat::Json {
                return output::json(&page);
            }
            let workers = page.items;
            let mut table = Table::new(&[
                "ID",
                "NAME",
                "STATE",
                "GPUS",
                "LABELS",
                "SLOTS",
                "RUNNING",
                "JOBS",
                "LAST SEEN",
            ]);
            for worker in &workers {
                // The count and the ids apart, so neither reads as the other.
                let jobs: Vec<String> = worker.running_jobs.iter().map(i64::to_string).collect();
                table.row(vec![
                    worker.id.to_string(),
                    worker.name.clone(),
                    worker.state.to_string(),
                    worker.cuda_devices.to_string(),
                    worker.labels.join(","),
                    worker.concurrency.to_string(),
                    worker.running_jobs.len().to_string(),
                    if jobs.is_empty() {
                        "-".to_owned()
                    } else {
                        jobs.join(",")
                    },
                    output::time(&worker.last_heartbeat_at),
                ]);
            }
            table.print();
            super::commands::print_next_page(page.next_page_token.as_deref());
            Ok(())
        }
        WorkersCommand::Drain { name, reason } => {
            let worker = client.drain_worker(name, reason.as_deref()).await?;
            match cli.output {
                OutputFormat::Json => output::json(&worker),
                OutputFormat::Text => {
                    println!("worker '{}' is {}", worker.name, worker.state);
                    Ok(())
                }
            }
        }
    }
}
