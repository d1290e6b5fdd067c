//! `slipway jobs …` and `slipway workers …`; a pipeline job is shown with its steps.

use super::output::{self, OutputFormat, Table};
use super::{Cli, JobsCommand, WorkersCommand};
use slipway_api::{
    Client, FailSpec, Job, JobKind, JobSpec, JobState, PageRequest, PipelineResult, Requirements,
    SleepSpec, SubmitJob,
};

fn render_job(job: &Job) -> String {
    let mut out = format!("job {} ({})\n", job.id, job.spec.kind());
    out += &format!("state:    {}\n", job.state);
    out += &format!("attempts: {}/{}\n", job.attempts, job.max_attempts);
    out += &format!("progress: {:.0}%\n", job.progress * 100.0);
    if let Some(worker) = &job.worker {
        out += &format!("worker:   {worker}\n");
    }
    if !job.gpu_devices.is_empty() {
        let devices: Vec<String> = job.gpu_devices.iter().map(u32::to_string).collect();
        out += &format!("gpus:     {}\n", devices.join(","));
    }
    if let Some(message) = job
        .progress_message
        .as_ref()
        .filter(|_| !job.state.is_terminal())
    {
        out += &format!("now:      {message}\n");
    }
    if let Some(reason) = &job.waiting_reason {
        out += &format!("waiting:  {reason}\n");
    }
    if let Some(error) = &job.error {
        out += &format!("error:    {error}\n");
    }
    match (&job.result, job.spec.kind()) {
        (Some(_), JobKind::Pipeline) => match job.result_as::<PipelineResult>() {
            Ok(result) => out += &pipeline_steps(&result),
            Err(err) => out += &format!("result:   {err}\n"),
        },
        (Some(_), JobKind::Evaluate) => match super::evaluation::result_lines(job) {
            Ok(lines) => {
                for line in lines {
                    out += &format!("{line}\n");
                }
            }
            Err(err) => out += &format!("result:   {err}\n"),
        },
        (Some(serde_json::Value::Null) | None, _) => {}
        (Some(result), _) => out += &result_fields(result),
    }
    out
}

/// A job's result as `key: value` lines: nested maps as `k=v` pairs and lists as items, so text
/// mode never prints raw JSON.
fn result_fields(result: &serde_json::Value) -> String {
    fn plain(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Null => "-".into(),
            serde_json::Value::Array(items) => {
                items.iter().map(plain).collect::<Vec<_>>().join(", ")
            }
            serde_json::Value::Object(fields) => fields
                .iter()
                .map(|(key, value)| format!("{key}={}", plain(value)))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        }
    }
    match result {
        serde_json::Value::Object(fields) => {
            let width = fields.keys().map(String::len).max().unwrap_or(0) + 1;
            let mut out = String::from("result:\n");
            for (key, value) in fields {
                out += &format!("  {:width$} {}\n", format!("{key}:"), plain(value));
            }
            out
        }
        other => format!("result:   {}\n", plain(other)),
    }
}

/// A pipeline's steps as a table: each step, how it ended, its child job and what it did.
fn pipeline_steps(result: &PipelineResult) -> String {
    let mut table = Table::new(&["STEP", "OUTCOME", "JOB", "DETAIL"]);
    for step in &result.steps {
        table.row(vec![
            step.step.clone(),
            step.outcome.as_str().to_owned(),
            step.job.map(|id| id.to_string()).unwrap_or_default(),
            step.summary.clone(),
        ]);
    }
    format!("\n{}", table.render())
}

pub(super) fn show(cli: &Cli, job: &Job) -> anyhow::Result<()> {
    match cli.output {
        OutputFormat::Json => output::json(job),
        OutputFormat::Text => {
            print!("{}", render_job(job));
            Ok(())
        }
    }
}

/// Follows `job` until it ends (a progress line on stderr in text mode), shows it, and fails
/// with its error unless it succeeded.
pub(super) async fn wait(cli: &Cli, client: &Client, job: Job) -> anyhow::Result<()> {
    let job = super::ml::follow(client, job, cli.output == OutputFormat::Text).await?;
    show(cli, &job)?;
    succeeded(&job)
}

/// Fails with an ended job's error unless it succeeded.
pub(super) fn succeeded(job: &Job) -> anyhow::Result<()> {
    if job.state == JobState::Succeeded {
        return Ok(());
    }
    match &job.error {
        Some(error) => anyhow::bail!("job {} ended {}: {error}", job.id, job.state),
        None => anyhow::bail!("job {} ended {}", job.id, job.state),
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
            follow,
        } => {
            let spec = match kind {
                JobKind::Sleep => JobSpec::Sleep(SleepSpec { seconds: *seconds }),
                JobKind::Fail => JobSpec::Fail(FailSpec {
                    message: message.clone(),
                }),
                // The ML kinds have their own commands; their specs need more than flags.
                other => JobSpec::from_parts(*other, serde_json::Value::Null)
                    .map_err(|err| anyhow::anyhow!("{err} (use `slipway {other}`)"))?,
            };
            let job = client
                .submit_job(&SubmitJob {
                    spec,
                    priority: *priority,
                    requirements: Requirements {
                        gpus: *gpus,
                        labels: labels.clone(),
                        commands: false,
                    },
                    max_attempts: *max_attempts,
                })
                .await?;
            if !*follow {
                return show(cli, &job);
            }
            if cli.output == OutputFormat::Text {
                print!("{}", render_job(&job));
                logs(&client, job.id, true).await?;
            } else {
                // JSON callers get the ended job alone, not log lines mixed into it.
                super::ml::follow(&client, job.clone(), false).await?;
            }
            let ended = client.get_job(job.id).await?;
            if cli.output == OutputFormat::Json {
                output::json(&ended)?;
            }
            succeeded(&ended)
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
                    job.spec.kind().to_string(),
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
        JobsCommand::Wait { id } => {
            let job = client.get_job(*id).await?;
            wait(cli, &client, job).await
        }
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

pub(super) async fn logs(
    client: &slipway_api::Client,
    id: i64,
    follow: bool,
) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_prints_as_fields_not_json() {
        let text = result_fields(&serde_json::json!({
            "run_id": 3,
            "model": "digits",
            "metrics": {"accuracy": 0.97, "loss": 0.1},
            "labels": ["a", "b"],
        }));
        assert!(text.contains("run_id:  3"), "{text}");
        assert!(text.contains("metrics: accuracy=0.97, loss=0.1"), "{text}");
        assert!(text.contains("labels:  a, b"), "{text}");
        assert!(!text.contains('{') && !text.contains('"'), "{text}");
    }

    #[test]
    fn a_pipeline_shows_its_steps_as_a_table_not_json() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "id": 7, "kind": "pipeline", "state": "failed", "priority": 0,
            "spec": {"model": "m", "steps": [{"kind": "train", "train": {"dataset": "d"}}]},
            "requirements": {}, "attempts": 1, "max_attempts": 3, "progress": 1.0,
            "error": "did not ship: canary v3 was rolled back during its bake",
            "result": {"completed": false, "steps": [
                {"step": "train", "outcome": "done", "job": 8, "summary": "run 4: accuracy 0.9500"},
                {"step": "promote", "outcome": "stopped", "summary": "canary v3 was rolled back during its bake"},
            ]},
            "created_by": "admin", "created_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        let text = render_job(&job);
        assert!(text.contains("error:    did not ship: canary v3"), "{text}");
        assert!(!text.contains('{'), "no raw JSON: {text}");
        let table: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("STEP"))
            .collect();
        assert_eq!(table[0], "STEP     OUTCOME  JOB  DETAIL");
        assert_eq!(table[1], "train    done     8    run 4: accuracy 0.9500");
        assert!(
            table[2].starts_with("promote  stopped       canary v3"),
            "{text}"
        );
    }
}
