//! The automation commands: `pipeline run|check FILE` and `schedule add|list|show|pause|resume|
//! trigger|delete|history`.

use super::Cli;
use super::output::{self, OutputFormat, Table};
use anyhow::Context;
use chrono::{DateTime, Timelike, Utc};
use clap::Subcommand;
use slipway_api::{CreateSchedule, Misfire, Overlap, PipelineSpec, Schedule, SubmitJob};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Check a pipeline file and run it as a `pipeline` job.
    Run {
        file: PathBuf,
        /// Follow the job until it ends.
        #[arg(long)]
        wait: bool,
    },
    /// Check a pipeline file without running it.
    Check { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule that runs a pipeline on a cron expression.
    ///
    /// Example: slipway schedule add nightly --cron "0 3 * * *" --tz Europe/Paris --pipeline retrain.toml
    Add {
        name: String,
        /// Five fields (minute hour day month weekday), or six with seconds first.
        #[arg(long)]
        cron: String,
        /// An IANA time zone.
        #[arg(long = "tz", default_value = "UTC")]
        timezone: String,
        /// The pipeline file (TOML or JSON) each firing runs.
        #[arg(long)]
        pipeline: PathBuf,
        /// Due times missed while no server ran: skip them, or run once.
        #[arg(long, value_parser = ["skip", "run-once"], default_value = "skip")]
        misfire: String,
        /// A due time while the previous firing still runs: skip it, or queue another.
        #[arg(long, value_parser = ["skip", "queue"], default_value = "skip")]
        overlap: String,
        /// Also fire when a drift alert is raised for this deployment.
        #[arg(long, value_name = "DEPLOYMENT")]
        on_drift: Option<String>,
        /// Create it paused.
        #[arg(long)]
        paused: bool,
    },
    /// Every schedule with its next three due times.
    List,
    /// One schedule.
    Show { name: String },
    /// Stop firing until resumed.
    Pause {
        name: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Fire again, counting from now (no burst of missed firings).
    Resume {
        name: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Fire now.
    Trigger {
        name: String,
        #[arg(long)]
        reason: Option<String>,
    },
    Delete {
        name: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Its firings, newest first, with their jobs' outcomes.
    History { name: String },
}

/// Reads and checks a pipeline file; errors name the step and field.
pub fn read_pipeline(path: &Path) -> anyhow::Result<PipelineSpec> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let pipeline: PipelineSpec = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?
    } else {
        toml::from_str(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?
    };
    pipeline
        .validate()
        .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
    Ok(pipeline)
}

fn pipeline_job(pipeline: PipelineSpec) -> SubmitJob {
    SubmitJob::new(pipeline)
}

pub async fn pipeline(cli: &Cli, command: &PipelineCommand) -> anyhow::Result<()> {
    match command {
        PipelineCommand::Check { file } => {
            let pipeline = read_pipeline(file)?;
            let steps: Vec<&str> = pipeline.steps.iter().map(|s| s.kind()).collect();
            println!("{}: valid ({})", file.display(), steps.join(" → "));
            Ok(())
        }
        PipelineCommand::Run { file, wait } => {
            let job = pipeline_job(read_pipeline(file)?);
            super::ml::submit_and_follow(cli, job.spec, *wait).await
        }
    }
}

/// A time as people read it in a schedule's time zone, with the zone named
/// (`2025-01-16 03:00 CET`); in UTC, marked as such, when the zone is not one chrono-tz knows.
fn zoned(at: &DateTime<Utc>, timezone: &str) -> String {
    let format = if at.second() == 0 {
        "%Y-%m-%d %H:%M %Z"
    } else {
        "%Y-%m-%d %H:%M:%S %Z"
    };
    match timezone.parse::<chrono_tz::Tz>() {
        Ok(zone) => at.with_timezone(&zone).format(format).to_string(),
        Err(_) => at.format(format).to_string(),
    }
}

fn print_schedule(cli: &Cli, schedule: &Schedule) -> anyhow::Result<()> {
    if cli.output == OutputFormat::Json {
        return output::json(schedule);
    }
    println!(
        "{} — '{}' in {}{}",
        schedule.name,
        schedule.cron,
        schedule.timezone,
        if schedule.paused { " (paused)" } else { "" }
    );
    println!("job        {}", schedule.job.spec.kind());
    for at in &schedule.next_fire_times {
        println!("next       {}", zoned(at, &schedule.timezone));
    }
    if let Some(at) = &schedule.last_fire_at {
        println!("last fired {}", zoned(at, &schedule.timezone));
    }
    Ok(())
}

pub async fn schedules(cli: &Cli, command: &ScheduleCommand) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    match command {
        ScheduleCommand::Add {
            name,
            cron,
            timezone,
            pipeline,
            misfire,
            overlap,
            on_drift,
            paused,
        } => {
            let request = CreateSchedule {
                name: name.clone(),
                cron: cron.clone(),
                timezone: timezone.clone(),
                job: pipeline_job(read_pipeline(pipeline)?),
                misfire: if misfire == "run-once" {
                    Misfire::RunOnce
                } else {
                    Misfire::Skip
                },
                overlap: if overlap == "queue" {
                    Overlap::Queue
                } else {
                    Overlap::Skip
                },
                on_drift: on_drift.clone(),
                paused: *paused,
            };
            print_schedule(cli, &client.create_schedule(&request).await?)
        }
        ScheduleCommand::List => {
            let schedules = client.list_schedules().await?;
            if cli.output == OutputFormat::Json {
                return output::json(&schedules);
            }
            let mut table = Table::new(&["NAME", "CRON", "TZ", "JOB", "STATE", "NEXT DUE TIMES"]);
            for schedule in schedules {
                let next: Vec<String> = schedule
                    .next_fire_times
                    .iter()
                    .map(|at| zoned(at, &schedule.timezone))
                    .collect();
                table.row(vec![
                    schedule.name,
                    schedule.cron,
                    schedule.timezone,
                    schedule.job.spec.kind().to_string(),
                    if schedule.paused { "paused" } else { "active" }.into(),
                    next.join(", "),
                ]);
            }
            table.print();
            Ok(())
        }
        ScheduleCommand::Show { name } => print_schedule(cli, &client.get_schedule(name).await?),
        ScheduleCommand::Pause { name, reason } | ScheduleCommand::Resume { name, reason } => {
            let action = if matches!(command, ScheduleCommand::Pause { .. }) {
                "pause"
            } else {
                "resume"
            };
            let schedule: Schedule = client
                .schedule_action(name, action, reason.as_deref())
                .await?;
            print_schedule(cli, &schedule)
        }
        ScheduleCommand::Trigger { name, reason } => {
            let answer: serde_json::Value = client
                .schedule_action(name, "trigger", reason.as_deref())
                .await?;
            match answer["job_id"].as_i64() {
                Some(id) => println!("fired {name}: job {id}"),
                None => println!(
                    "{name} did not fire: its previous job is still unfinished (overlap skip)"
                ),
            }
            Ok(())
        }
        ScheduleCommand::Delete { name, reason } => {
            client.delete_schedule(name, reason.as_deref()).await?;
            println!("deleted schedule {name}");
            Ok(())
        }
        ScheduleCommand::History { name } => {
            let firings = client.schedule_firings(name).await?;
            if cli.output == OutputFormat::Json {
                return output::json(&firings);
            }
            // Times in the schedule's zone, like its due times; UTC if it cannot be read.
            let timezone = match client.get_schedule(name).await {
                Ok(schedule) => schedule.timezone,
                Err(_) => "UTC".to_owned(),
            };
            let mut table = Table::new(&["DUE", "FIRED", "OUTCOME", "JOB", "JOB STATE", "NOTE"]);
            for firing in firings {
                table.row(vec![
                    zoned(&firing.due_at, &timezone),
                    zoned(&firing.fired_at, &timezone),
                    firing.outcome,
                    firing.job_id.map_or("-".into(), |id| id.to_string()),
                    firing.job_state.unwrap_or_else(|| "-".into()),
                    firing.message.unwrap_or_default(),
                ]);
            }
            table.print();
            Ok(())
        }
    }
}

/// The demo schedule `slipway up` adds (paused): nightly retraining of digits.
const DEMO_PIPELINE: &str = include_str!("../../../pipelines/digits-retrain.toml");

/// Adds the paused demo schedule unless a schedule of that name exists.
pub async fn add_demo_schedule(client: slipway_api::Client) {
    let pipeline: PipelineSpec = match toml::from_str(DEMO_PIPELINE) {
        Ok(pipeline) => pipeline,
        Err(err) => {
            tracing::warn!(error = %err, "the demo pipeline does not parse");
            return;
        }
    };
    let job = pipeline_job(pipeline);
    let request = CreateSchedule {
        name: "digits-nightly".into(),
        cron: "0 3 * * *".into(),
        timezone: "UTC".into(),
        job,
        misfire: Misfire::Skip,
        overlap: Overlap::Skip,
        on_drift: Some("digits".into()),
        paused: true,
    };
    match client.create_schedule(&request).await {
        Ok(_) => tracing::info!("added the demo schedule digits-nightly (paused)"),
        Err(err) if err.status() == Some(409) => {}
        Err(err) => tracing::warn!(error = %err, "cannot add the demo schedule"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_schedules_zone_with_its_name() {
        let winter: DateTime<Utc> = "2025-01-16T02:00:00Z".parse().unwrap();
        let summer: DateTime<Utc> = "2025-07-16T01:00:00Z".parse().unwrap();
        assert_eq!(zoned(&winter, "Europe/Paris"), "2025-01-16 03:00 CET");
        assert_eq!(zoned(&summer, "Europe/Paris"), "2025-07-16 03:00 CEST");
        assert_eq!(zoned(&winter, "UTC"), "2025-01-16 02:00 UTC");
        assert_eq!(zoned(&winter, "Mars/Olympus"), "2025-01-16 02:00 UTC");
        let seconds: DateTime<Utc> = "2025-01-16T02:00:30Z".parse().unwrap();
        assert_eq!(zoned(&seconds, "UTC"), "2025-01-16 02:00:30 UTC");
    }
}
