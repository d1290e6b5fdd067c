//! The `slipway` command line: the server commands and the resource commands that talk to a
//! server through the typed `api` client.

mod admin;
mod commands;
mod datasets;
mod errors;
mod evaluation;
mod import;
mod jobs;
mod ml;
mod monitor;
mod output;
mod predict;
mod run;
mod schedules;
mod serving;

use crate::config::ServerArgs;
use clap::{Parser, Subcommand};
pub use commands::run;
pub use errors::report as report_error;
pub use output::OutputFormat;

/// Slipway takes machine-learning models from the lab to production and keeps them healthy.
///
/// Start everything locally with `slipway up`, then use the resource commands from another
/// terminal: they find the server at --server and, on this machine, the admin token that `up`
/// wrote to the data dir.
#[derive(Debug, Parser)]
#[command(
    name = "slipway",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The server to talk to.
    #[arg(long, global = true, env = "SLIPWAY_SERVER", default_value = slipway_api::DEFAULT_SERVER, value_name = "URL")]
    pub server: String,
    /// The bearer token (default: the admin token in the local data dir, for a local server).
    #[arg(
        long,
        global = true,
        env = "SLIPWAY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// How to print results.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything on this machine: the server on SQLite in the data dir.
    ///
    /// Prints the URL and where the admin token was written. Stop it with Ctrl-C.
    Up(ServerArgs),
    /// Run the server (the control plane and API) only.
    Server(ServerArgs),
    /// Run a worker: it leases jobs from the server and runs them.
    Worker(WorkerArgs),
    /// Run a serving replica: predictions only, no database, following the server.
    ///
    /// It reads the deployments from the server at --server with --token, downloads the model
    /// files their revisions use into --cache-dir, and answers
    /// `POST /api/v1/deployments/NAME/predict` and the Open Inference Protocol (`/v2`) with the
    /// server's routing, batching and responses; `/metrics` counts what it served, `/readyz`
    /// turns ready once every deployment's current revision is loaded. A deploy, promote or
    /// rollback on the server reaches it within a second. Callers' tokens are checked with
    /// the server, and each caller's predictions are rate-limited as on the server
    /// (--predict-rate, --predict-burst). Run several behind a load balancer.
    ///
    /// Every second it reports what it answered to the server, where it counts in `/metrics`,
    /// the live metrics, drift and the SLO guards as if the server had answered it; reports
    /// wait and are sent again while the server is unreachable. Reporting needs a worker (or
    /// engineer) token; with a viewer token the replica serves but its traffic is not counted
    /// there.
    ///
    /// Example: slipway serve --server http://control:8080 --token $WORKER --addr 0.0.0.0:8081
    Serve(ServeArgs),
    /// Submit, list, inspect, cancel and retry jobs.
    #[command(subcommand, alias = "job")]
    Jobs(JobsCommand),
    /// List workers.
    #[command(subcommand, alias = "worker-list")]
    Workers(WorkersCommand),
    /// Register, inspect and download datasets (CSV files with a label column).
    #[command(subcommand, alias = "datasets")]
    Dataset(DatasetCommand),
    /// Train a model on a dataset (a `train` job run by a worker).
    ///
    /// Example: slipway train --dataset digits --arch mlp --param hidden=128,64 --param epochs=30 --seed 7 --wait
    Train(TrainArgs),
    /// Run your own training program on a worker (a `command` job), e.g.
    /// `slipway run --gpus 1 -- python train.py --epochs 10`.
    ///
    /// The code directory (--code, default: here) is packed without what .gitignore lists
    /// and stored with a new run (its digest and git commit are the run's lineage); only a
    /// worker started with --allow-commands runs it. The program gets MLFLOW_TRACKING_URI,
    /// MLFLOW_TRACKING_TOKEN (a token that may write only to its run, while the job runs),
    /// MLFLOW_RUN_ID, SLIPWAY_SERVER, SLIPWAY_TOKEN, SLIPWAY_JOB_ID, SLIPWAY_RUN_ID and
    /// CUDA_VISIBLE_DEVICES; its output is the job's log and its exit code the job's outcome.
    ///
    /// Example: slipway run --env EPOCHS=10 --register-as churn --model-path out -- python train.py
    Run(run::RunArgs),
    /// Evaluate a model on a dataset (an `evaluate` job): accuracy, macro precision, recall
    /// and F1, log-loss and the confusion matrix, or RMSE, MAE and R²; optionally compared
    /// with another model.
    ///
    /// Example: slipway evaluate digits:2 --compare-with digits@champion --wait
    Evaluate(EvaluateArgs),
    /// The model registry: register a run's model, list versions, move aliases.
    #[command(subcommand, alias = "model")]
    Models(serving::ModelsCommand),
    /// Create or change a deployment: its primary, a canary share, a shadow.
    ///
    /// First release: slipway deploy digits --model digits --version 1 --reason "first release"
    ///
    /// A canary: slipway deploy digits --version 2 --canary 20 --reason "try v2 on a fifth"
    ///
    /// A shadow: slipway deploy digits --shadow 3 --reason "compare v3 on live traffic"
    ///
    /// Another model: slipway deploy digits --model digits-cnn --version 1 --change-model
    /// (refused when its input features differ, unless --force)
    #[command(disable_version_flag = true)]
    Deploy(serving::DeployArgs),
    /// Make the canary the primary at 100 %.
    Promote {
        name: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Re-apply an earlier revision (default: the one before the current) as a new revision.
    Rollback {
        name: String,
        /// The revision to go back to.
        #[arg(long, value_name = "REVISION")]
        to: Option<u32>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// List deployments, their history and the shadow's agreement.
    #[command(subcommand, alias = "deployment")]
    Deployments(serving::DeploymentsCommand),
    /// Send rows from a CSV or JSON file to a deployment and print the predictions: which
    /// version answered each row and, when the file has the model's label column, the
    /// accuracy of each version.
    Predict(predict::PredictArgs),
    /// A deployment's live traffic per version (requests/s, p50/p99, errors) and its most
    /// drifting features.
    Monitor(monitor::MonitorArgs),
    /// Alerts raised by the SLO and drift guards; --ack ID acknowledges one.
    Alerts(monitor::AlertsArgs),
    /// Show or change a deployment's SLO policy (what its guard watches and does).
    Slo(monitor::SloArgs),
    /// Run or check a retraining pipeline: train → evaluate → gate → register → deploy →
    /// promote, from a TOML or JSON file.
    #[command(subcommand)]
    Pipeline(schedules::PipelineCommand),
    /// Cron schedules that run pipelines.
    #[command(subcommand, alias = "schedules")]
    Schedule(schedules::ScheduleCommand),
    /// Create, list and inspect experiments.
    #[command(subcommand, alias = "experiment")]
    Experiments(ExperimentsCommand),
    /// List, search and inspect runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Manage access tokens (admin).
    #[command(subcommand, alias = "tokens")]
    Token(TokenCommand),
    /// Show the audit log: who changed what, when and why.
    Audit {
        /// How many events to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show who the token belongs to and its role.
    Whoami,
    /// Remove stored blobs that nothing references any more (admin; audited).
    ///
    /// Only blobs older than an hour are removed, so an upload in progress keeps its blob.
    Gc {
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The terminal client: runs and experiments, live (q quits).
    Tui {
        /// Connect to this context of the contexts file (`$SLIPWAY_CONTEXTS`, else
        /// `$XDG_CONFIG_HOME/slipway/contexts.toml`, else `~/.config/slipway/contexts.toml`)
        /// instead of --server and --token.
        #[arg(long, value_name = "NAME")]
        context: Option<String>,
    },
}

/// The flags of `slipway serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on; port 0 picks a free port (the chosen one is printed).
    #[arg(
        long,
        env = "SLIPWAY_ADDR",
        default_value = "127.0.0.1:8081",
        value_name = "HOST:PORT"
    )]
    pub addr: std::net::SocketAddr,
    /// Where downloaded model files are kept (by digest, so a restart downloads nothing
    /// already there).
    #[arg(
        long,
        env = "SLIPWAY_CACHE_DIR",
        default_value = ".slipway-serve-cache",
        value_name = "DIR"
    )]
    pub cache_dir: std::path::PathBuf,
    /// How often, in milliseconds, the deployments are read even without a change announced
    /// on the server's event stream.
    #[arg(long, default_value_t = 500, value_name = "MS", value_parser = clap::value_parser!(u64).range(50..))]
    pub poll_ms: u64,
    /// Predict and infer requests per second allowed to one token on this replica (0: no
    /// limit); beyond it the caller gets 429 with Retry-After, as from the server. The same
    /// flag and variable as the server's; each replica counts on its own, so behind a load
    /// balancer a token gets up to this rate from every replica.
    #[arg(
        long,
        env = "SLIPWAY_PREDICT_RATE",
        default_value_t = crate::config::Config::default().rate_limits.predict_per_sec,
        value_name = "PER_SEC",
        value_parser = parse_rate
    )]
    pub predict_rate: f64,
    /// Predict and infer requests one token may send at once above its rate.
    #[arg(
        long,
        env = "SLIPWAY_PREDICT_BURST",
        default_value_t = crate::config::Config::default().rate_limits.predict_burst,
        value_name = "REQUESTS",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub predict_burst: u32,
    /// Apply the rate limit to admin tokens too (true or false).
    #[arg(
        long,
        env = "SLIPWAY_RATE_LIMIT_ADMIN",
        default_value_t = false,
        value_name = "BOOL",
        action = clap::ArgAction::Set
    )]
    pub rate_limit_admin: bool,
}

/// A rate in requests per second: a number, 0 or more.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(format!(
            "expected a number of requests per second, 0 or more, got '{text}'"
        )),
    }
}

/// The flags of `slipway worker`.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// The worker's name (default: the host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// Labels jobs can require, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Jobs run at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: u32,
    /// Run `command` jobs: programs that engineers submit with `slipway run`. Off by
    /// default, since a command job runs arbitrary code as this worker's user; turn it on
    /// only on machines meant for it.
    #[arg(long)]
    pub allow_commands: bool,
    /// GPU devices this worker offers, numbered 0 to N-1 (default: the CUDA devices
    /// detected). The server leases a GPU job here only while enough of them are free of
    /// this worker's other jobs, and names the devices in the lease; a command job sees them
    /// as CUDA_VISIBLE_DEVICES, training runs on the first. Declare the count when detection
    /// cannot see what the job will use: in a container, with MIG slices, or with a GPU that
    /// only the job's own runtime (PyTorch, JAX) can open. `--gpus 0` keeps GPU jobs away.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=64))]
    pub gpus: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Queue a job. Kinds: sleep (--seconds), fail (--message).
    Submit {
        kind: slipway_api::JobKind,
        /// For sleep: how long.
        #[arg(long)]
        seconds: Option<f64>,
        /// For fail: the error message.
        #[arg(long)]
        message: Option<String>,
        /// Higher runs first.
        #[arg(long, default_value_t = 0)]
        priority: i32,
        /// CUDA GPUs the job needs.
        #[arg(long, default_value_t = 0)]
        gpus: u32,
        /// Worker labels the job needs (repeatable).
        #[arg(long = "label")]
        labels: Vec<String>,
        #[arg(long)]
        max_attempts: Option<u32>,
        /// Print the job's log as it is written until the job ends (as `jobs logs ID -f`), then
        /// exit non-zero, with the reason, unless it succeeded.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// List jobs, newest first.
    List {
        /// queued, running, succeeded, failed or cancelled.
        #[arg(long)]
        state: Option<slipway_api::JobState>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one job (a pipeline with its steps and their outcomes).
    Show { id: i64 },
    /// Follow a job until it ends; exits non-zero, with the reason, unless it succeeded.
    Wait { id: i64 },
    /// Cancel a queued or running job.
    Cancel {
        id: i64,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Print a job's log; with -f, follow it until the job ends.
    Logs {
        id: i64,
        #[arg(short, long)]
        follow: bool,
    },
    /// Queue a failed or cancelled job again.
    Retry {
        id: i64,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkersCommand {
    /// List workers with their state and current jobs, a page at a time.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue from a previous page.
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Let a worker finish its current jobs and take no more.
    Drain {
        name: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

/// The flags of `slipway train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// The dataset to train on.
    #[arg(long)]
    pub dataset: String,
    /// Its version (default: the latest).
    #[arg(long)]
    pub dataset_version: Option<u32>,
    /// logreg, mlp or cnn (cnn reads rows as images: digits' 64 pixels as 1x8x8).
    #[arg(long, default_value = "mlp")]
    pub arch: String,
    /// Hyper-parameters as KEY=VALUE (repeatable): hidden=128,64 activation=relu|tanh|gelu|sigmoid
    /// dropout=0.1 filters=16,32 image=1x8x8 optimiser=adamw|sgd momentum=0.9 epochs=100
    /// batch_size=32 learning_rate=0.005 weight_decay=0.0001 patience=15.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// The experiment of the run (default: the dataset's name).
    #[arg(long)]
    pub experiment: Option<String>,
    /// Register the trained model as a new version of this model.
    #[arg(long, value_name = "MODEL")]
    pub register_as: Option<String>,
    /// Follow the job with a progress bar and the live loss until it ends.
    #[arg(long)]
    pub wait: bool,
}

/// The flags of `slipway evaluate`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvaluateArgs {
    /// The model: run:ID, NAME:VERSION, NAME@ALIAS or NAME (its latest version).
    pub model: String,
    /// The dataset (default: the model's training data, on its held-out test split).
    #[arg(long)]
    pub dataset: Option<String>,
    #[arg(long)]
    pub dataset_version: Option<u32>,
    /// Compare with another model on the same rows, e.g. digits@champion.
    #[arg(long, value_name = "MODEL")]
    pub compare_with: Option<String>,
    /// The metric that decides the verdict (default accuracy; rmse for regression).
    #[arg(long)]
    pub metric: Option<String>,
    /// How much better the metric must be to count as better.
    #[arg(long)]
    pub margin: Option<f64>,
    /// Follow the job until it ends and print its result.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Upload a table as a new version of NAME (the same content again is the same version).
    ///
    /// FILE is CSV (quoted fields allowed), gzip-compressed CSV or Parquet, told apart by its
    /// first bytes. Each column's type is inferred (numeric, categorical, boolean, datetime,
    /// identifier) and recorded; name columns to override it.
    ///
    /// Example: slipway dataset add cars cars.csv --label Miles_per_Gallon --ignore Name
    Add {
        name: String,
        file: std::path::PathBuf,
        /// The label column: any column, anywhere.
        #[arg(long)]
        label: String,
        /// classification or regression (default: inferred from the label).
        #[arg(long)]
        task: Option<String>,
        /// Columns to leave out of training (typed identifier), comma-separated.
        #[arg(long, value_name = "COLUMNS")]
        ignore: Option<String>,
        /// Columns that are categories even when their values are integer codes.
        #[arg(long, value_name = "COLUMNS")]
        categorical: Option<String>,
        /// Columns that must be numbers: any other value is an error naming its row.
        #[arg(long, value_name = "COLUMNS")]
        numeric: Option<String>,
        /// The CSV field delimiter, one character ('\t' for a tab); default ','.
        #[arg(long, value_name = "CHAR")]
        delimiter: Option<String>,
        /// Cell values that mean "missing", comma-separated and matched ignoring case
        /// (default: NA,N/A,NaN,null,?). Empty cells are always missing; --missing '' makes
        /// only them missing. Prediction applies the same set.
        // A token may well start with a dash ("-", "--").
        #[arg(long, value_name = "TOKENS", allow_hyphen_values = true)]
        missing: Option<String>,
    },
    /// List datasets (latest versions).
    List,
    /// Show every version of a dataset with its schema and feature statistics.
    Show { name: String },
    /// Write a version's file, byte for byte as it was uploaded, to stdout or --out FILE.
    ///
    /// Example: slipway dataset download iris --version 1 > iris.csv
    #[command(disable_version_flag = true)]
    Download {
        name: String,
        /// The version (default: the latest).
        #[arg(long)]
        version: Option<u32>,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExperimentsCommand {
    /// List experiments.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue from a previous page.
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Create an experiment.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Show one experiment, by id or name.
    Show { id_or_name: String },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only runs of this experiment (id or name).
        #[arg(long)]
        experiment: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Search runs with a filter, for example
    /// "metrics.acc > 0.9 and (params.lr = '0.01' or tags.team = 'vision')".
    ///
    /// Fields: metrics.KEY (latest value), params.KEY, tags.KEY, and the attributes id, name,
    /// status, start_time, end_time, experiment, created_by. Operators: = != < <= > >= LIKE
    /// ILIKE IN (...) IS NULL, with AND, OR, NOT and parentheses.
    Search {
        /// The filter expression (empty matches every run).
        #[arg(default_value = "")]
        filter: String,
        /// Order keys such as "metrics.acc DESC" (repeatable).
        #[arg(long = "order-by")]
        order_by: Vec<String>,
        /// Only runs of this experiment (id or name).
        #[arg(long)]
        experiment: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Show one run: params, tags, latest metrics and artifacts (with their sha256).
    Show { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// viewer, engineer, admin or worker.
        #[arg(long)]
        role: slipway_api::Role,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token; it stops working at once.
    Revoke {
        name: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
