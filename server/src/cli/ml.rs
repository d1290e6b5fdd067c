//! The ML commands: `train` and `evaluate` submit jobs and, with `--wait`, follow them with a
//! progress bar and the latest epoch's metrics (or what the job says it is doing).

use super::{Cli, EvaluateArgs, TrainArgs};
use slipway_api::{Client, EvaluateSpec, Job, JobSpec, ModelRef, SubmitJob, TrainSpec};
use std::io::{IsTerminal, Write};

/// The train spec the flags describe.
fn train_spec(args: &TrainArgs) -> anyhow::Result<TrainSpec> {
    let mut spec = TrainSpec {
        dataset: args.dataset.clone(),
        version: args.dataset_version,
        arch: Some(args.arch.clone()),
        seed: args.seed,
        experiment: args.experiment.clone(),
        register_as: args.register_as.clone(),
        ..TrainSpec::default()
    };
    for param in &args.params {
        let (key, value) = param
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--param '{param}': expected KEY=VALUE"))?;
        spec.set_param(key.trim(), value)
            .map_err(|err| anyhow::anyhow!("--param {err}"))?;
    }
    spec.validate().map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(spec)
}

pub async fn train(cli: &Cli, args: &TrainArgs) -> anyhow::Result<()> {
    submit_and_follow(cli, train_spec(args)?.into(), args.wait).await
}

pub async fn evaluate(cli: &Cli, args: &EvaluateArgs) -> anyhow::Result<()> {
    let parse = |text: &str, flag: &str| {
        ModelRef::parse(text).map_err(|err| anyhow::anyhow!("{flag}: {err}"))
    };
    let spec = EvaluateSpec {
        model: parse(&args.model, "MODEL")?,
        dataset: args.dataset.clone(),
        version: args.dataset_version,
        compare_with: args
            .compare_with
            .as_deref()
            .map(|text| parse(text, "--compare-with"))
            .transpose()?,
        metric: args.metric.clone(),
        margin: args.margin,
        experiment: None,
    };
    spec.validate().map_err(|err| anyhow::anyhow!("{err}"))?;
    super::evaluation::submit(cli, args, spec).await
}

pub(super) async fn submit_and_follow(cli: &Cli, spec: JobSpec, wait: bool) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    let job = client.submit_job(&SubmitJob::new(spec)).await?;
    if !wait {
        return super::jobs::show(cli, &job);
    }
    super::jobs::wait(cli, &client, job).await
}

/// Polls the job until it ends, drawing a progress bar with the latest epoch line on stderr
/// (redrawn in place on a terminal, a line per change otherwise).
pub(super) async fn follow(client: &Client, mut job: Job, draw: bool) -> anyhow::Result<Job> {
    let in_place = std::io::stderr().is_terminal();
    let (mut after, mut detail, mut last) = (0, String::new(), String::new());
    loop {
        let logs = client.job_logs(job.id, after, 1000).await?;
        after = logs.next_after;
        if let Some(line) = logs
            .lines
            .iter()
            .rev()
            .find(|l| l.message.starts_with("epoch "))
        {
            detail.clone_from(&line.message);
        }
        let line = progress_line(&job, &detail);
        if draw && line != last {
            let mut stderr = std::io::stderr();
            if in_place {
                let _ = write!(stderr, "\r\x1b[2K{line}");
            } else {
                let _ = writeln!(stderr, "{line}");
            }
            let _ = stderr.flush();
            last = line;
        }
        if job.state.is_terminal() {
            if draw && in_place {
                eprintln!();
            }
            return Ok(job);
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        job = client.get_job(job.id).await?;
    }
}

/// `job 12 running [#########...........]  45% epoch 9/20 loss 0.2130 …`; what the job says
/// it is doing (`baking canary v3 …`) comes before the latest epoch line.
fn progress_line(job: &Job, detail: &str) -> String {
    let detail = job.progress_message.as_deref().unwrap_or(detail);
    const WIDTH: usize = 20;
    let filled = ((job.progress.clamp(0.0, 1.0) * WIDTH as f64).round()) as usize;
    let bar = format!("{}{}", "#".repeat(filled), ".".repeat(WIDTH - filled));
    let mut line = format!(
        "job {} {} [{bar}] {:>3.0}%",
        job.id,
        job.state,
        job.progress * 100.0
    );
    if !detail.is_empty() {
        line.push(' ');
        line.push_str(detail);
    }
    line
}
