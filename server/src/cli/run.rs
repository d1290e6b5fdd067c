//! `slipway run`: a team's own training program as a `command` job. The code directory is
//! packed (honouring `.gitignore`), stored as the `code.tar.gz` artifact of a new run with its
//! digest and git commit as the run's lineage, and the job runs the command in that code on a
//! worker started with `--allow-commands`.

use super::Cli;
use super::output::{self, OutputFormat};
use slipway_api::{
    CODE_ARTIFACT, CODE_DIGEST_TAG, CommandSpec, CreateRun, GIT_COMMIT_TAG, KeyValue, LogBatch,
    Requirements, SubmitJob,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The flags of `slipway run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// CUDA GPUs the job needs; the worker sets CUDA_VISIBLE_DEVICES to the ones it gives.
    #[arg(long, default_value_t = 0)]
    pub gpus: u32,
    /// A worker label the job needs (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// An environment variable for the program (repeatable): --env EPOCHS=10.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The directory packed and unpacked as the program's working directory; files that
    /// .gitignore lists are left out.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub code: PathBuf,
    /// The experiment of the run (default: commands).
    #[arg(long)]
    pub experiment: Option<String>,
    /// The run's name (default: the program's name).
    #[arg(long)]
    pub name: Option<String>,
    /// After the program succeeds, register the model it wrote (see --model-path) as a new
    /// version of this model.
    #[arg(long, value_name = "MODEL", requires = "model_path")]
    pub register_as: Option<String>,
    /// Where the program writes its model, relative to its working directory: a directory
    /// with Slipway's model.json and model.safetensors, or an .onnx file with its input
    /// columns in <stem>.signature.json beside it (as `models import --signature` reads),
    /// checked and registered as `slipway models import` does.
    #[arg(long, value_name = "PATH", requires = "register_as")]
    pub model_path: Option<String>,
    /// Stop the program and fail the job after this long: 90, 90s, 30m, 2h.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<u64>,
    /// Higher runs first.
    #[arg(long, default_value_t = 0)]
    pub priority: i32,
    /// Attempts before the job fails for good (each attempt logs to the same run).
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Print the job and return at once instead of following its output to the end.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Seconds from `90`, `90s`, `30m` or `2h`.
fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => {
            return Err(format!(
                "expected a number of seconds or a duration such as 30m or 2h, got '{text}'"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|&seconds| seconds > 0)
        .ok_or_else(|| format!("expected a positive duration such as 90s, 30m or 2h, got '{text}'"))
}

/// The spec the flags describe (without its run, made once it is checked).
fn spec_of(args: &RunArgs) -> anyhow::Result<CommandSpec> {
    let mut env = BTreeMap::new();
    for pair in &args.env {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--env '{pair}': expected KEY=VALUE"))?;
        env.insert(key.to_owned(), value.to_owned());
    }
    let spec = CommandSpec {
        command: args.command.clone(),
        env,
        experiment: args.experiment.clone(),
        timeout_seconds: args.timeout,
        register_as: args.register_as.clone(),
        model_path: args.model_path.clone(),
        ..CommandSpec::default()
    };
    spec.validate().map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(spec)
}

pub async fn run(cli: &Cli, args: &RunArgs) -> anyhow::Result<()> {
    let mut spec = spec_of(args)?;
    let client = super::commands::client(cli)?;
    let dir = args.code.clone();
    if !dir.is_dir() {
        anyhow::bail!("--code '{}': expected a directory", dir.display());
    }
    let (package, commit) = tokio::task::spawn_blocking(move || {
        let package = slipway_ml::code_package::pack(&dir);
        (package, slipway_ml::code_package::git_commit(&dir))
    })
    .await?;
    let package = package?;
    let mut tags = BTreeMap::from([
        (CODE_DIGEST_TAG.to_owned(), package.digest.clone()),
        ("command".to_owned(), args.command.join(" ")),
    ]);
    if let Some(commit) = &commit {
        tags.insert(GIT_COMMIT_TAG.to_owned(), commit.clone());
    }
    let program = std::path::Path::new(&args.command[0])
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let run = client
        .create_run(&CreateRun {
            experiment: Some(
                args.experiment
                    .clone()
                    .unwrap_or_else(|| CommandSpec::DEFAULT_EXPERIMENT.to_owned()),
            ),
            name: args.name.clone().or(program),
            code_version: Some(package.digest.clone()),
            tags,
            ..CreateRun::default()
        })
        .await?;
    client
        .upload_artifact(run.id, CODE_ARTIFACT, package.bytes)
        .await?;
    if cli.output == OutputFormat::Text {
        eprintln!(
            "packed {} files ({}{}) as run {}",
            package.files,
            package.digest,
            commit
                .as_deref()
                .map(|c| format!(", git {c}"))
                .unwrap_or_default(),
            run.id
        );
    }
    spec.run_id = Some(run.id);
    let job = client
        .submit_job(&SubmitJob {
            spec: spec.into(),
            priority: args.priority,
            requirements: Requirements {
                gpus: args.gpus,
                labels: args.labels.clone(),
                commands: true,
            },
            max_attempts: args.max_attempts,
        })
        .await?;
    // The run names its job, as runs that workers create do.
    let tag = LogBatch {
        tags: vec![KeyValue {
            key: "job".to_owned(),
            value: job.id.to_string(),
        }],
        ..LogBatch::default()
    };
    client.log_batch(run.id, &tag).await?;
    if args.detach {
        return super::jobs::show(cli, &job);
    }
    if cli.output == OutputFormat::Json {
        let job = super::ml::follow(&client, job, false).await?;
        output::json(&job)?;
        return super::jobs::succeeded(&job);
    }
    eprintln!(
        "job {} queued; following its output (Ctrl-C stops following, not the job)",
        job.id
    );
    super::jobs::logs(&client, job.id, true).await?;
    let job = client.get_job(job.id).await?;
    super::jobs::show(cli, &job)?;
    super::jobs::succeeded(&job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("ten").unwrap_err().contains("'ten'"));
        assert!(parse_duration("5d").is_err());
    }
}
