//! What the client knows from the server, what it asks for, and the answers that come back
//! through the channel. The API calls themselves live in [`crate::fetch`].

use slipway_api::{
    Alert, AuditEvent, DeployRequest, Deployment, DeploymentMetrics, DeploymentRevision,
    DriftReport, Firing, Identity, Job, JobLogLine, LiveEvent, MetricHistory, MinuteMetrics,
    ModelVersion, RegisteredModel, Run, RunDetail, Schedule, Worker,
};
use std::collections::BTreeMap;

/// A deployment's health, for the columns of the deployments list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentHealth {
    /// Traffic of every serving version over the monitoring window.
    pub metrics: Option<DeploymentMetrics>,
    /// The drift status (`stable`, `warn`, `alert`, `insufficient_data`), when computed.
    pub drift: Option<String>,
    pub open_alerts: usize,
}

/// The lists behind the table views.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    pub deployments: Vec<Deployment>,
    /// DeploymentHealth by deployment name (absent: not fetched, or the server had none).
    pub health: BTreeMap<String, DeploymentHealth>,
    pub models: Vec<RegisteredModel>,
    pub runs: Vec<Run>,
    pub jobs: Vec<Job>,
    pub workers: Vec<Worker>,
    pub schedules: Vec<Schedule>,
    pub alerts: Vec<Alert>,
    pub audit: Vec<AuditEvent>,
    /// The servers of the contexts file, and the name of the one in use.
    pub contexts: Vec<crate::contexts::Context>,
    pub context: Option<String>,
}

/// Everything the deployment detail shows.
#[derive(Debug, Clone)]
pub struct DeploymentData {
    pub deployment: Deployment,
    /// Newest first.
    pub revisions: Vec<DeploymentRevision>,
    pub metrics: Option<DeploymentMetrics>,
    /// Per-minute history, oldest first.
    pub history: Vec<MinuteMetrics>,
    pub drift: Option<DriftReport>,
    /// Open alerts of this deployment.
    pub alerts: Vec<Alert>,
    /// The versions of its model, for the deploy dialog.
    pub versions: Vec<ModelVersion>,
}

/// Everything the run detail shows.
#[derive(Debug, Clone)]
pub struct RunData {
    pub detail: RunDetail,
    pub curves: Vec<MetricHistory>,
}

/// Everything the job detail shows.
#[derive(Debug, Clone)]
pub struct JobData {
    pub job: Job,
    pub logs: Vec<JobLogLine>,
    /// The id of the last line read, to ask for the next ones.
    pub next_after: i64,
}

/// Everything the model detail shows.
#[derive(Debug, Clone)]
pub struct ModelData {
    pub model: RegisteredModel,
    /// Newest first.
    pub versions: Vec<ModelVersion>,
    /// The deployments serving any version of it.
    pub deployments: Vec<Deployment>,
}

/// Everything the worker detail shows.
#[derive(Debug, Clone)]
pub struct WorkerData {
    pub worker: Worker,
    /// The jobs it runs now or ran recently, newest first.
    pub jobs: Vec<Job>,
}

/// Everything the schedule detail shows.
#[derive(Debug, Clone)]
pub struct ScheduleData {
    pub schedule: Schedule,
    /// Its firings (and skipped due times), newest first.
    pub firings: Vec<Firing>,
}

/// What a deployed version becomes: the primary, a canary taking a share of the requests, or a
/// shadow that sees a mirrored copy of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Serve {
    Primary,
    Canary { percent: f64 },
    Shadow,
}

impl Serve {
    fn describe(self) -> String {
        match self {
            Serve::Primary => "primary".to_owned(),
            Serve::Canary { percent } => format!("canary at {percent} %"),
            Serve::Shadow => "shadow".to_owned(),
        }
    }
}

/// A change the user asked for; each carries its reason to the audit log.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Promote {
        deployment: String,
        /// What the dialog names: the canary's version and share, and the primary it replaces.
        canary: u32,
        percent: f64,
        primary: u32,
    },
    Rollback {
        deployment: String,
        to: u32,
    },
    Deploy {
        deployment: String,
        model: String,
        version: u32,
        serve: Serve,
    },
    Cancel {
        job: i64,
    },
    Retry {
        job: i64,
    },
    Trigger {
        schedule: String,
    },
    Acknowledge {
        alert: i64,
    },
}

impl Command {
    /// The question the confirmation dialog asks.
    pub fn ask(&self) -> String {
        match self {
            Command::Promote {
                deployment,
                canary,
                percent,
                primary,
            } => {
                format!(
                    "Promote canary v{canary} ({percent} %) of {deployment} to primary, replacing v{primary}?"
                )
            }
            Command::Rollback { deployment, to } => {
                format!("Roll {deployment} back to revision {to}?")
            }
            Command::Deploy {
                deployment,
                model,
                version,
                serve,
            } => format!(
                "Deploy {model} v{version} to {deployment} as {}?",
                serve.describe()
            ),
            Command::Cancel { job } => format!("Cancel job {job}?"),
            Command::Retry { job } => format!("Retry job {job}?"),
            Command::Trigger { schedule } => format!("Trigger schedule {schedule} now?"),
            Command::Acknowledge { alert } => format!("Acknowledge alert {alert}?"),
        }
    }

    /// What the status line says once it is done.
    pub fn describe(&self) -> String {
        match self {
            Command::Promote {
                deployment, canary, ..
            } => format!("promoted canary v{canary} of {deployment}"),
            Command::Rollback { deployment, to } => {
                format!("rolled {deployment} back to revision {to}")
            }
            Command::Deploy {
                deployment,
                model,
                version,
                serve,
            } => format!(
                "deployed {model} v{version} to {deployment} as {}",
                serve.describe()
            ),
            Command::Cancel { job } => format!("asked job {job} to cancel"),
            Command::Retry { job } => format!("retried job {job}"),
            Command::Trigger { schedule } => format!("triggered schedule {schedule}"),
            Command::Acknowledge { alert } => format!("acknowledged alert {alert}"),
        }
    }
}

impl Command {
    /// The deployment change a deploy sends: the same as `slipway deploy` with `--version`,
    /// `--version N --canary P` or `--shadow N` (`None` for other commands).
    pub fn deploy_request(&self) -> Option<DeployRequest> {
        let Command::Deploy {
            model,
            version,
            serve,
            ..
        } = self
        else {
            return None;
        };
        let model = Some(model.clone());
        Some(match serve {
            Serve::Primary => DeployRequest {
                model,
                version: Some(*version),
                ..DeployRequest::default()
            },
            Serve::Canary { percent } => DeployRequest {
                model,
                version: Some(*version),
                canary_percent: Some(*percent),
                ..DeployRequest::default()
            },
            Serve::Shadow => DeployRequest {
                model,
                shadow_version: Some(*version),
                ..DeployRequest::default()
            },
        })
    }
}

/// A call to make; [`crate::app::App`] queues these and the event loop runs them in tasks.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Identity,
    List(crate::app::View),
    Deployment(String),
    Run(i64),
    Job(i64),
    Model(String),
    Worker(i64),
    Schedule(String),
    /// Log lines of a job after line `after`.
    JobLogs {
        job: i64,
        after: i64,
    },
    Act {
        command: Command,
        reason: String,
    },
    /// Talk to the server of this context from now on (the event loop reconnects).
    UseContext(String),
}

/// An answer from a task.
#[derive(Debug, Clone)]
pub enum Loaded {
    Identity(Identity),
    /// The deployments and the health of each.
    Deployments(Vec<Deployment>, BTreeMap<String, DeploymentHealth>),
    Models(Vec<RegisteredModel>),
    Runs(Vec<Run>),
    Jobs(Vec<Job>),
    Workers(Vec<Worker>),
    Schedules(Vec<Schedule>),
    Alerts(Vec<Alert>),
    Audit(Vec<AuditEvent>),
    Contexts(Vec<crate::contexts::Context>),
    Deployment(Box<DeploymentData>),
    Run(Box<RunData>),
    Job(Box<JobData>),
    Model(Box<ModelData>),
    Worker(Box<WorkerData>),
    Schedule(Box<ScheduleData>),
    JobLogs {
        job: i64,
        lines: Vec<JobLogLine>,
        next_after: i64,
    },
    /// A command succeeded.
    Done(String),
    /// A call failed; `forbidden` when the server answered 403.
    Failed {
        message: String,
        forbidden: bool,
    },
    /// The live stream's state changed.
    Stream(Stream),
    Event(LiveEvent),
}

/// The state of the live event stream, shown in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stream {
    Connecting,
    Live,
    /// Lost; retrying (attempt number, last error).
    Reconnecting {
        attempt: u32,
        error: String,
    },
}
