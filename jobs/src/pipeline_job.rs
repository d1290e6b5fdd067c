//! The `pipeline` job: runs a pipeline's steps in order. `train` (or `command`, the team's own
//! program), `evaluate` and `deploy` are child jobs (visible with their own logs); `gate`, `register` and `promote` run here and are
//! logged. A pipeline that runs all its steps succeeds. One that stops before — a step failed,
//! the gate refused, the canary was rolled back during its bake or an alert was open at its
//! end — did not ship: it fails, changing nothing further, with the reason as its error and
//! its steps so far (each `done`, `failed`, `stopped` or `skipped`) as its result. What it is
//! doing now is its progress message.

use crate::handlers::{Outcome, Progress};
use slipway_api::{
    ApiError, Client, CommandResult, Condition, DeployResult, DeploySpec, EvaluateResult,
    EvaluateSpec, Job, JobSpec, JobState, KindResult, ModelRef, PipelineResult, PipelineSpec,
    RegisterModel, Step, StepOutcome, StepResult, SubmitJob, TrainResult,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Why the pipeline ended before its last step.
pub(crate) enum Stop {
    /// A step failed (an error, a child job that failed).
    Failed(String),
    /// A condition stopped it (the gate, the bake): it did not ship, and says why.
    DidNotShip(String),
    Cancelled,
}

/// What the steps so far produced.
#[derive(Default)]
struct State {
    run_id: Option<i64>,
    metrics: BTreeMap<String, f64>,
    champion: Option<BTreeMap<String, f64>>,
    version: Option<u32>,
    deployed_revision: Option<u32>,
    /// The child job of the step that just ran.
    child: Option<i64>,
    steps: Vec<StepResult>,
}

impl State {
    fn record(&mut self, step: &Step, outcome: StepOutcome, summary: &str) {
        self.steps.push(StepResult {
            step: step.kind().to_owned(),
            outcome,
            job: self.child.take(),
            summary: summary.to_owned(),
        });
    }
}

/// Runs one `pipeline` attempt; `client` acts for the job's submitter (children and
/// deployment changes are theirs).
pub async fn run(client: &Client, pipeline: &PipelineSpec, progress: &Arc<Progress>) -> Outcome {
    if let Err(err) = pipeline.validate() {
        return Outcome::Failed(err);
    }
    let mut state = State::default();
    let total = pipeline.steps.len();
    for (index, step) in pipeline.steps.iter().enumerate() {
        let at = format!("step {}/{total}: {}", index + 1, step.kind());
        progress.log("info", at.clone());
        progress.set_message(at);
        let result = run_step(client, pipeline, step, &mut state, progress).await;
        progress.set((index + 1) as f64 / total as f64);
        let error = match result {
            Ok(summary) => {
                progress.log("info", format!("step {} done: {summary}", step.kind()));
                state.record(step, StepOutcome::Done, &summary);
                continue;
            }
            Err(Stop::Cancelled) => return Outcome::Cancelled,
            Err(Stop::Failed(message)) => {
                state.record(step, StepOutcome::Failed, &message);
                format!("step {} ({}) failed: {message}", index + 1, step.kind())
            }
            Err(Stop::DidNotShip(reason)) => {
                state.record(step, StepOutcome::Stopped, &reason);
                format!("did not ship: {reason}")
            }
        };
        progress.log("error", error.clone());
        progress.set_message(error.clone());
        for skipped in &pipeline.steps[index + 1..] {
            state.record(skipped, StepOutcome::Skipped, "");
        }
        return match serde_json::to_value(result_of(state, false, Some(error.clone()))) {
            Ok(result) => Outcome::FailedWith(error, result),
            Err(_) => Outcome::Failed(error),
        };
    }
    progress.set_message("done: every step ran");
    Outcome::succeeded(&result_of(state, true, None))
}

fn result_of(state: State, completed: bool, stopped: Option<String>) -> PipelineResult {
    PipelineResult {
        completed,
        stopped,
        run_id: state.run_id,
        metrics: state.metrics,
        champion_metrics: state.champion,
        version: state.version,
        deployment_revision: state.deployed_revision,
        steps: state.steps,
    }
}

pub(crate) fn failed(what: &str) -> impl Fn(ApiError) -> Stop + '_ {
    move |err| Stop::Failed(format!("{what}: {err}"))
}

/// Submits a child job, waits for it to end (cancelling it if the pipeline is cancelled) and
/// reads its result.
async fn child<R: KindResult>(
    client: &Client,
    spec: impl Into<JobSpec>,
    progress: &Progress,
) -> Result<(i64, R), Stop> {
    let job = wait_for_child(client, spec.into(), progress).await?;
    let result = job
        .result_as::<R>()
        .map_err(|err| Stop::Failed(err.to_string()))?;
    Ok((job.id, result))
}

async fn wait_for_child(client: &Client, spec: JobSpec, progress: &Progress) -> Result<Job, Stop> {
    let kind = spec.kind();
    let job = client
        .submit_job(&SubmitJob::new(spec))
        .await
        .map_err(failed("cannot submit the child job"))?;
    progress.log("info", format!("child job {} ({kind})", job.id));
    progress.set_message(format!("waiting for {kind} job {}", job.id));
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if progress.cancelled() {
            let _ = client
                .cancel_job(job.id, Some("the pipeline was cancelled"))
                .await;
            return Err(Stop::Cancelled);
        }
        let current = client
            .get_job(job.id)
            .await
            .map_err(failed("cannot follow the child job"))?;
        if current.state.is_terminal() {
            return match current.state {
                JobState::Succeeded => Ok(current),
                other => Err(Stop::Failed(format!(
                    "child job {} ended {other}: {}",
                    current.id,
                    current.error.unwrap_or_default()
                ))),
            };
        }
    }
}

/// `accuracy 0.9521, f1_macro 0.9498`.
fn shown(metrics: &BTreeMap<String, f64>) -> String {
    let parts: Vec<String> = metrics
        .iter()
        .map(|(key, value)| format!("{key} {value:.4}"))
        .collect();
    parts.join(", ")
}

async fn run_step(
    client: &Client,
    pipeline: &PipelineSpec,
    step: &Step,
    state: &mut State,
    progress: &Progress,
) -> Result<String, Stop> {
    match step {
        Step::Train { train } => {
            let (job, result) = child::<TrainResult>(client, (**train).clone(), progress).await?;
            state.child = Some(job);
            state.run_id = Some(result.run_id);
            state.metrics = result.metrics;
            Ok(format!(
                "run {}: {}",
                state.run_id.unwrap_or_default(),
                shown(&state.metrics)
            ))
        }
        Step::Command { command } => {
            let (job, result) =
                child::<CommandResult>(client, (**command).clone(), progress).await?;
            state.child = Some(job);
            state.run_id = Some(result.run_id);
            state.metrics = result.metrics;
            Ok(format!("run {}: {}", result.run_id, shown(&state.metrics)))
        }
        Step::Evaluate { against, dataset } => {
            let alias = against.clone().unwrap_or_else(|| "champion".to_owned());
            let champion = match client.model_version(&pipeline.model, &alias).await {
                Ok(version) => Some(ModelRef {
                    name: Some(pipeline.model.clone()),
                    alias: Some(alias.clone()),
                    ..ModelRef::default()
                })
                .filter(|_| version.version > 0),
                Err(ApiError::Server { status: 404, .. }) => None,
                Err(err) => return Err(failed("cannot look up the champion")(err)),
            };
            let spec = EvaluateSpec {
                model: ModelRef {
                    run_id: state.run_id,
                    ..ModelRef::default()
                },
                dataset: dataset.clone(),
                compare_with: champion.clone(),
                ..EvaluateSpec::default()
            };
            let (job, result) = child::<EvaluateResult>(client, spec, progress).await?;
            state.child = Some(job);
            state.metrics = result.metrics;
            state.champion = champion.map(|_| {
                result
                    .comparison
                    .map(|comparison| comparison.their_metrics)
                    .unwrap_or_default()
            });
            Ok(match &state.champion {
                Some(theirs) => format!(
                    "challenger {}; {}@{alias} {}",
                    shown(&state.metrics),
                    pipeline.model,
                    shown(theirs)
                ),
                None => format!(
                    "challenger {}; {} has no {alias} yet",
                    shown(&state.metrics),
                    pipeline.model
                ),
            })
        }
        Step::Gate { condition } => {
            let gate = Condition::parse(condition).map_err(Stop::Failed)?;
            let ours = state.metrics.get(&gate.metric).copied().ok_or_else(|| {
                Stop::Failed(format!("the evaluation has no metric '{}'", gate.metric))
            })?;
            let Some(theirs) = &state.champion else {
                if gate.champion_metric.is_some() {
                    return Ok(format!("no champion to beat: {condition} passes"));
                }
                return check(&gate, ours, None, condition);
            };
            let their_value = gate
                .champion_metric
                .as_ref()
                .and_then(|m| theirs.get(m).copied());
            check(&gate, ours, their_value, condition)
        }
        Step::Register { alias } => {
            let run_id = state
                .run_id
                .ok_or_else(|| Stop::Failed("no trained run".into()))?;
            let version = client
                .register_model(
                    &pipeline.model,
                    &RegisterModel {
                        run_id,
                        description: pipeline.name.clone(),
                    },
                )
                .await
                .map_err(failed("cannot register the model"))?;
            state.version = Some(version.version);
            if let Some(alias) = alias {
                client
                    .set_alias(
                        &pipeline.model,
                        alias,
                        version.version,
                        Some("set by a pipeline"),
                    )
                    .await
                    .map_err(failed("cannot set the alias"))?;
            }
            Ok(format!("{} version {}", pipeline.model, version.version))
        }
        Step::Deploy { canary_percent } => {
            let deployment = pipeline.deployment.clone().unwrap_or_default();
            let exists = match client.get_deployment(&deployment).await {
                Ok(_) => true,
                Err(ApiError::Server { status: 404, .. }) => false,
                Err(err) => return Err(failed("cannot read the deployment")(err)),
            };
            let spec = DeploySpec {
                deployment: deployment.clone(),
                model: Some(pipeline.model.clone()),
                version: state.version,
                canary_percent: exists.then_some(*canary_percent),
                reason: Some(format!(
                    "pipeline {}",
                    pipeline.name.as_deref().unwrap_or("run")
                )),
                ..DeploySpec::default()
            };
            let (job, result) = child::<DeployResult>(client, spec, progress).await?;
            state.child = Some(job);
            state.deployed_revision = Some(result.revision);
            Ok(if exists {
                format!(
                    "{deployment}: canary v{} at {canary_percent}%",
                    state.version.unwrap_or_default()
                )
            } else {
                format!(
                    "{deployment}: v{} is the primary of a new deployment",
                    state.version.unwrap_or_default()
                )
            })
        }
        Step::Promote { bake_secs } => {
            let deployment = pipeline.deployment.clone().unwrap_or_default();
            let version = state.version.unwrap_or_default();
            crate::pipeline_bake::bake_and_promote(
                client,
                &deployment,
                version,
                Duration::from_secs(*bake_secs),
                progress,
            )
            .await
        }
    }
}

fn check(
    gate: &Condition,
    ours: f64,
    theirs: Option<f64>,
    condition: &str,
) -> Result<String, Stop> {
    let shown = theirs
        .map(|t| format!(", champion {t:.4}"))
        .unwrap_or_default();
    if gate.holds(ours, theirs) {
        Ok(format!("{condition}: challenger {ours:.4}{shown}"))
    } else {
        Err(Stop::DidNotShip(format!(
            "the gate refused: '{condition}' not met: challenger {ours:.4}{shown}"
        )))
    }
}
