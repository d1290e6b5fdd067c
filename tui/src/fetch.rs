//! Runs each [`Request`] against the API in a task and answers through the channel with a
//! [`Loaded`]. Nothing here touches the state; errors become [`Loaded::Failed`].

use crate::app::View;
use crate::data::{
    Command, DeploymentData, DeploymentHealth, JobData, Loaded, ModelData, Request, RunData,
    ScheduleData, WorkerData,
};
use slipway_api::{
    ApiError, ChangeRequest, Client, Deployment, MetricHistoryQuery, PageRequest, SearchRuns,
};
use std::collections::BTreeMap;

/// Most rows a list view fetches (10,000 jobs or runs stay fast to draw).
const MAX_ROWS: usize = 10_000;
/// Rows per page while fetching.
const PAGE: u32 = 1000;
/// Log lines of a job kept in memory.
pub(crate) const MAX_LOG_LINES: usize = 5000;
/// Metric curves shown in a run's detail.
const MAX_CURVES: usize = 4;

/// Each deployment's metrics, drift and open alerts, fetched together; what fails is left out
/// (the columns show a dash), so one slow or broken deployment does not hide the list.
async fn health(client: &Client, deployments: &[Deployment]) -> BTreeMap<String, DeploymentHealth> {
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    for alert in client.alerts(None, true).await.unwrap_or_default() {
        *open.entry(alert.deployment).or_default() += 1;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for deployment in deployments {
        let client = client.clone();
        let name = deployment.name.clone();
        tasks.spawn(async move {
            let metrics = client.deployment_metrics(&name).await.ok();
            let drift = client.drift(&name).await.ok().map(|report| report.status);
            (name, metrics, drift)
        });
    }
    let mut health = BTreeMap::new();
    while let Some(Ok((name, metrics, drift))) = tasks.join_next().await {
        let open_alerts = open.get(&name).copied().unwrap_or_default();
        health.insert(
            name,
            DeploymentHealth {
                metrics,
                drift,
                open_alerts,
            },
        );
    }
    health
}

/// Spawns the call on the runtime; its answer goes to `answered`.
pub fn spawn(
    runtime: &tokio::runtime::Handle,
    client: Client,
    request: Request,
    answered: impl FnOnce(Loaded) + Send + 'static,
) {
    runtime.spawn(async move {
        let loaded = match answer(&client, request).await {
            Ok(loaded) => loaded,
            Err(err) => Loaded::Failed {
                forbidden: err.status() == Some(403),
                message: err.to_string(),
            },
        };
        answered(loaded);
    });
}

async fn answer(client: &Client, request: Request) -> Result<Loaded, ApiError> {
    Ok(match request {
        Request::Identity => Loaded::Identity(client.whoami().await?),
        Request::List(View::Contexts) => match crate::contexts::load() {
            Ok(contexts) => Loaded::Contexts(contexts),
            Err(err) => Loaded::Failed {
                message: err.to_string(),
                forbidden: false,
            },
        },
        Request::List(view) => list(client, view).await?,
        Request::Deployment(name) => Loaded::Deployment(Box::new(deployment(client, &name).await?)),
        Request::Run(id) => Loaded::Run(Box::new(run(client, id).await?)),
        Request::Job(id) => {
            let job = client.get_job(id).await?;
            let (logs, next_after) = logs(client, id, 0).await?;
            Loaded::Job(Box::new(JobData {
                job,
                logs,
                next_after,
            }))
        }
        Request::Model(name) => Loaded::Model(Box::new(model(client, &name).await?)),
        Request::Worker(id) => Loaded::Worker(Box::new(worker(client, id).await?)),
        Request::Schedule(name) => {
            let schedule = client.get_schedule(&name).await?;
            let mut firings = client.schedule_firings(&name).await?;
            firings.sort_by_key(|f| std::cmp::Reverse(f.due_at));
            Loaded::Schedule(Box::new(ScheduleData { schedule, firings }))
        }
        Request::JobLogs { job, after } => {
            let (lines, next_after) = logs(client, job, after).await?;
            Loaded::JobLogs {
                job,
                lines,
                next_after,
            }
        }
        Request::Act { command, reason } => act(client, command, &reason).await?,
        // The event loop switches servers itself; nothing to ask this one.
        Request::UseContext(name) => Loaded::Failed {
            message: format!("cannot switch to context {name} here"),
            forbidden: false,
        },
    })
}

async fn list(client: &Client, view: View) -> Result<Loaded, ApiError> {
    Ok(match view {
        View::Deployments => {
            let deployments = client.list_deployments().await?;
            let health = health(client, &deployments).await;
            Loaded::Deployments(deployments, health)
        }
        View::Models => Loaded::Models(client.list_models().await?),
        View::Workers => {
            let mut workers = Vec::new();
            let mut page_token = None;
            loop {
                let page = client
                    .list_workers(&PageRequest {
                        limit: Some(PAGE),
                        page_token,
                    })
                    .await?;
                workers.extend(page.items);
                page_token = page.next_page_token;
                if page_token.is_none() || workers.len() >= MAX_ROWS {
                    break;
                }
            }
            Loaded::Workers(workers)
        }
        View::Schedules => Loaded::Schedules(client.list_schedules().await?),
        View::Alerts => Loaded::Alerts(client.alerts(None, false).await?),
        View::Jobs => {
            let mut jobs = Vec::new();
            let mut page_token = None;
            loop {
                let page = client
                    .list_jobs(
                        None,
                        &PageRequest {
                            limit: Some(PAGE),
                            page_token,
                        },
                    )
                    .await?;
                jobs.extend(page.items);
                page_token = page.next_page_token;
                if page_token.is_none() || jobs.len() >= MAX_ROWS {
                    break;
                }
            }
            Loaded::Jobs(jobs)
        }
        View::Runs => {
            let mut runs = Vec::new();
            let mut page_token = None;
            loop {
                let page = client
                    .search_runs(&SearchRuns {
                        limit: Some(PAGE),
                        page_token,
                        ..SearchRuns::default()
                    })
                    .await?;
                runs.extend(page.items);
                page_token = page.next_page_token;
                if page_token.is_none() || runs.len() >= MAX_ROWS {
                    break;
                }
            }
            Loaded::Runs(runs)
        }
        View::Contexts => Loaded::Contexts(Vec::new()),
        View::Audit => Loaded::Audit(
            client
                .list_audit(&PageRequest {
                    limit: Some(PAGE),
                    page_token: None,
                })
                .await?
                .items,
        ),
    })
}

async fn deployment(client: &Client, name: &str) -> Result<DeploymentData, ApiError> {
    let deployment = client.get_deployment(name).await?;
    let mut revisions = client.deployment_revisions(name).await?;
    revisions.sort_by_key(|r| std::cmp::Reverse(r.revision));
    // Monitoring may have nothing yet (no traffic, no baseline): show what there is.
    let metrics = client.deployment_metrics(name).await.ok();
    let history = client.metrics_history(name, 60).await.unwrap_or_default();
    let drift = client.drift(name).await.ok();
    let alerts = client.alerts(Some(name), true).await.unwrap_or_default();
    let mut versions = client
        .model_versions(&deployment.spec.model)
        .await
        .unwrap_or_default();
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    Ok(DeploymentData {
        deployment,
        revisions,
        metrics,
        history,
        drift,
        alerts,
        versions,
    })
}

async fn model(client: &Client, name: &str) -> Result<ModelData, ApiError> {
    let model = client.get_model(name).await?;
    let mut versions = client.model_versions(name).await?;
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let deployments = client
        .list_deployments()
        .await?
        .into_iter()
        .filter(|d| d.spec.model == name)
        .collect();
    Ok(ModelData {
        model,
        versions,
        deployments,
    })
}

/// The worker and the jobs it ran among the newest [`PAGE`] (the API lists jobs by state, not
/// by worker, so older ones are out of reach here).
async fn worker(client: &Client, id: i64) -> Result<WorkerData, ApiError> {
    let mut page_token = None;
    let worker = loop {
        let page = client
            .list_workers(&PageRequest {
                limit: Some(PAGE),
                page_token,
            })
            .await?;
        if let Some(worker) = page.items.into_iter().find(|w| w.id == id) {
            break worker;
        }
        page_token = page.next_page_token;
        if page_token.is_none() {
            return Err(ApiError::Usage(format!("worker {id} is gone")));
        }
    };
    let jobs = client
        .list_jobs(
            None,
            &PageRequest {
                limit: Some(PAGE),
                page_token: None,
            },
        )
        .await?
        .items
        .into_iter()
        .filter(|job| {
            job.worker.as_deref() == Some(worker.name.as_str())
                || worker.running_jobs.contains(&job.id)
        })
        .collect();
    Ok(WorkerData { worker, jobs })
}

async fn run(client: &Client, id: i64) -> Result<RunData, ApiError> {
    let detail = client.get_run(id).await?;
    let mut curves = Vec::new();
    // Curves are for metrics logged step by step; one-off values (test scores) are in the table.
    for key in detail.run.metrics.keys() {
        if curves.len() == MAX_CURVES {
            break;
        }
        let query = MetricHistoryQuery {
            key: key.clone(),
            max_points: Some(500),
            ..MetricHistoryQuery::default()
        };
        if let Ok(history) = client.metric_history(id, &query).await
            && history.points.len() > 1
        {
            curves.push(history);
        }
    }
    Ok(RunData { detail, curves })
}

/// Log lines after `after`, page by page, keeping the last [`MAX_LOG_LINES`].
async fn logs(
    client: &Client,
    job: i64,
    mut after: i64,
) -> Result<(Vec<slipway_api::JobLogLine>, i64), ApiError> {
    let mut lines = Vec::new();
    loop {
        let page = client.job_logs(job, after, PAGE).await?;
        let full = page.lines.len() >= PAGE as usize;
        lines.extend(page.lines);
        if lines.len() > MAX_LOG_LINES {
            lines.drain(..lines.len() - MAX_LOG_LINES);
        }
        let moved = page.next_after > after;
        after = page.next_after.max(after);
        if !full || !moved {
            return Ok((lines, after));
        }
    }
}

async fn act(client: &Client, command: Command, reason: &str) -> Result<Loaded, ApiError> {
    let reason = Some(reason);
    match &command {
        Command::Promote { deployment, .. } => {
            client
                .promote(deployment, &ChangeRequest::default(), reason)
                .await?;
        }
        Command::Rollback { deployment, to } => {
            let request = ChangeRequest {
                to_revision: Some(*to),
                ..ChangeRequest::default()
            };
            client.rollback(deployment, &request, reason).await?;
        }
        Command::Deploy { deployment, .. } => {
            let request = command.deploy_request().unwrap_or_default();
            client.deploy(deployment, &request, reason).await?;
        }
        Command::Cancel { job } => {
            client.cancel_job(*job, reason).await?;
        }
        Command::Retry { job } => {
            client.retry_job(*job, reason).await?;
        }
        Command::Trigger { schedule } => {
            let answer: BTreeMap<String, Option<i64>> =
                client.schedule_action(schedule, "trigger", reason).await?;
            if let Some(Some(job)) = answer.get("job_id") {
                return Ok(Loaded::Done(format!(
                    "triggered schedule {schedule}: job {job}"
                )));
            }
        }
        Command::Acknowledge { alert } => {
            client.acknowledge_alert(*alert, reason).await?;
        }
    }
    Ok(Loaded::Done(command.describe()))
}
