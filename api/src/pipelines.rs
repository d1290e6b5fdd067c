//! Retraining pipelines and cron schedules on the wire. A pipeline is ordered steps —
//! train → evaluate → gate → register → deploy → promote — run as a `pipeline` job whose
//! steps are child jobs; a schedule fires a job template on a cron expression in a time zone.

use crate::command::CommandSpec;
use crate::jobs::SubmitJob;
use crate::specs::TrainSpec;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A pipeline, as written in its TOML or JSON file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The registered model a passing challenger becomes a version of.
    pub model: String,
    /// The deployment the `deploy` and `promote` steps change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub steps: Vec<Step>,
}

/// One step of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Step {
    /// Train the challenger (a child `train` job).
    Train { train: Box<TrainSpec> },
    /// Train the challenger with the team's own program (a child `command` job), in place of
    /// a train step: its `model_path` names the model it writes, which goes to its run.
    Command { command: Box<CommandSpec> },
    /// Score the challenger against the version behind an alias (a child `evaluate` job).
    Evaluate {
        /// The alias of the version to beat (default `champion`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        against: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dataset: Option<String>,
    },
    /// Go on only when a condition such as `f1_macro >= champion.f1_macro + 0.002` holds.
    Gate { condition: String },
    /// Register the challenger as the next version of the model, optionally under an alias.
    Register {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alias: Option<String>,
    },
    /// Deploy the new version as a canary (a child `deploy` job); the first deployment of a
    /// model makes it the primary.
    Deploy {
        #[serde(default = "default_canary")]
        canary_percent: f64,
    },
    /// After a bake time, promote the canary if its guards stayed green.
    Promote {
        #[serde(default)]
        bake_secs: u64,
    },
}

fn default_canary() -> f64 {
    10.0
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Train { .. } => "train",
            Self::Command { .. } => "command",
            Self::Evaluate { .. } => "evaluate",
            Self::Gate { .. } => "gate",
            Self::Register { .. } => "register",
            Self::Deploy { .. } => "deploy",
            Self::Promote { .. } => "promote",
        }
    }

    /// The kind of the child job the step runs as; none for the steps a pipeline runs itself.
    pub fn job_kind(&self) -> Option<crate::JobKind> {
        match self {
            Self::Train { .. } => Some(crate::JobKind::Train),
            Self::Command { .. } => Some(crate::JobKind::Command),
            Self::Evaluate { .. } => Some(crate::JobKind::Evaluate),
            Self::Deploy { .. } => Some(crate::JobKind::Deploy),
            Self::Gate { .. } | Self::Register { .. } | Self::Promote { .. } => None,
        }
    }
}

/// How a gate compares: `accuracy >= 0.95` or `f1_macro >= champion.f1_macro + 0.002`; the
/// bare term `beats_baseline` means `beats_baseline >= 1` (the model beat the majority class
/// or the training mean on the evaluated rows).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub metric: String,
    pub operator: String,
    /// The champion's metric (`None`: compare with the number alone).
    pub champion_metric: Option<String>,
    pub offset: f64,
}

impl Condition {
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "expected METRIC OP NUMBER or METRIC OP champion.METRIC [+|- NUMBER] (OP one of >=, >, <=, <), got '{text}'"
            )
        };
        let tokens: Vec<&str> = text.split_whitespace().collect();
        if tokens == ["beats_baseline"] {
            return Ok(Self {
                metric: "beats_baseline".into(),
                operator: ">=".into(),
                champion_metric: None,
                offset: 1.0,
            });
        }
        let (metric, operator, rest) = match tokens.as_slice() {
            [metric, operator, rest @ ..] if !rest.is_empty() => (*metric, *operator, rest),
            _ => return Err(expected()),
        };
        if !matches!(operator, ">=" | ">" | "<=" | "<") {
            return Err(expected());
        }
        let metric_name = |name: &str| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !metric_name(metric) {
            return Err(expected());
        }
        let (champion_metric, offset) = match rest {
            [value] if value.parse::<f64>().is_ok() => (None, value.parse::<f64>().unwrap_or(0.0)),
            [reference] => (reference.strip_prefix("champion.").map(str::to_owned), 0.0),
            [reference, sign @ ("+" | "-"), value] => {
                let number: f64 = value.parse().map_err(|_| expected())?;
                let offset = if *sign == "-" { -number } else { number };
                (
                    reference.strip_prefix("champion.").map(str::to_owned),
                    offset,
                )
            }
            _ => return Err(expected()),
        };
        if rest.len() > 1 || rest[0].parse::<f64>().is_err() {
            match &champion_metric {
                Some(name) if metric_name(name) => {}
                _ => return Err(expected()),
            }
        }
        Ok(Self {
            metric: metric.to_owned(),
            operator: operator.to_owned(),
            champion_metric,
            offset,
        })
    }

    /// Whether `ours` passes against the champion's `theirs` (a missing champion value fails).
    pub fn holds(&self, ours: f64, theirs: Option<f64>) -> bool {
        let bound = match &self.champion_metric {
            Some(_) => match theirs {
                Some(value) => value + self.offset,
                None => return false,
            },
            None => self.offset,
        };
        match self.operator.as_str() {
            ">=" => ours >= bound,
            ">" => ours > bound,
            "<=" => ours <= bound,
            _ => ours < bound,
        }
    }
}

impl PipelineSpec {
    /// Checks the pipeline before it runs; errors name the step and field.
    pub fn validate(&self) -> Result<(), String> {
        if self.model.trim().is_empty() {
            return Err("model: name the registered model".into());
        }
        if self.steps.is_empty() {
            return Err("steps: expected at least a train step".into());
        }
        let mut seen: Vec<&str> = Vec::new();
        for (index, step) in self.steps.iter().enumerate() {
            let at = |field: &str| format!("steps[{index}] ({}).{field}", step.kind());
            let needs = |earlier: &str| -> Result<(), String> {
                // A command step trains the challenger as a train step does.
                let trained = earlier == "train" && seen.contains(&"command");
                if seen.contains(&earlier) || trained {
                    Ok(())
                } else {
                    Err(format!("{}: needs a {earlier} step before it", at("kind")))
                }
            };
            if seen.contains(&step.kind()) {
                return Err(format!(
                    "{}: a pipeline has one {} step",
                    at("kind"),
                    step.kind()
                ));
            }
            match step {
                Step::Train { train } => {
                    if index != 0 {
                        return Err(format!("{}: the train step comes first", at("kind")));
                    }
                    train
                        .validate()
                        .map_err(|err| format!("{}: {err}", at("train")))?;
                    if train.register_as.is_some() {
                        return Err(format!(
                            "{}: use a register step instead",
                            at("train.register_as")
                        ));
                    }
                }
                Step::Command { command } => {
                    if index != 0 {
                        return Err(format!("{}: the command step comes first", at("kind")));
                    }
                    command
                        .validate()
                        .map_err(|err| format!("{}: {err}", at("command")))?;
                    if command.register_as.is_some() {
                        return Err(format!(
                            "{}: use a register step instead",
                            at("command.register_as")
                        ));
                    }
                    if command.model_path.is_none() {
                        return Err(format!(
                            "{}: expected the path of the model the program writes",
                            at("command.model_path")
                        ));
                    }
                    if command.run_id.is_some() {
                        return Err(format!(
                            "{}: each run of the pipeline makes its own run; name the code with code_run",
                            at("command.run_id")
                        ));
                    }
                }
                Step::Evaluate { .. } => needs("train")?,
                Step::Gate { condition } => {
                    needs("evaluate")?;
                    Condition::parse(condition)
                        .map_err(|err| format!("{}: {err}", at("condition")))?;
                }
                Step::Register { .. } => needs("train")?,
                Step::Deploy { canary_percent } => {
                    needs("register")?;
                    if self.deployment.is_none() {
                        return Err(
                            "deployment: a deploy step needs the deployment to change".into()
                        );
                    }
                    if !(*canary_percent > 0.0 && *canary_percent <= 100.0) {
                        return Err(format!(
                            "{}: expected above 0 and at most 100, got {canary_percent}",
                            at("canary_percent")
                        ));
                    }
                }
                Step::Promote { bake_secs } => {
                    needs("deploy")?;
                    if *bake_secs > 7 * 24 * 3600 {
                        return Err(format!(
                            "{}: expected at most a week of seconds",
                            at("bake_secs")
                        ));
                    }
                }
            }
            seen.push(step.kind());
        }
        if !seen.contains(&"train") && !seen.contains(&"command") {
            return Err("steps[0].kind: a pipeline starts with a train or command step".into());
        }
        Ok(())
    }
}

/// What to do with due times missed while no server was running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Misfire {
    /// Skip them; fire at the next due time.
    #[default]
    Skip,
    /// Fire once for all of them, then go on.
    RunOnce,
}

/// What to do when a due time comes while the previous firing's job is still unfinished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// Do not fire this time.
    #[default]
    Skip,
    /// Fire anyway; the jobs queue.
    Queue,
}

/// `POST /api/v1/schedules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    pub name: String,
    /// Five fields (minute hour day month weekday), or six with seconds first.
    pub cron: String,
    /// An IANA time zone such as `Europe/Paris` (default `UTC`).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// The job each firing submits (often a `pipeline`).
    pub job: SubmitJob,
    #[serde(default)]
    pub misfire: Misfire,
    #[serde(default)]
    pub overlap: Overlap,
    /// Also fire when a drift alert is raised for this deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_drift: Option<String>,
    #[serde(default)]
    pub paused: bool,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

/// A schedule as listed and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: i64,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub job: SubmitJob,
    pub misfire: Misfire,
    pub overlap: Overlap,
    pub on_drift: Option<String>,
    pub paused: bool,
    /// The next three due times (none while paused).
    pub next_fire_times: Vec<DateTime<Utc>>,
    pub last_fire_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// One firing (or skipped due time) of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    pub id: i64,
    pub due_at: DateTime<Utc>,
    pub fired_at: DateTime<Utc>,
    /// `fired`, `triggered`, `drift`, `misfire_skipped`, `overlap_skipped`.
    pub outcome: String,
    pub job_id: Option<i64>,
    /// The job's state now, and how it ended.
    pub job_state: Option<String>,
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_and_hold() {
        let gate = Condition::parse("f1_macro >= champion.f1_macro + 0.002").unwrap();
        assert!(gate.holds(0.95, Some(0.94)));
        assert!(!gate.holds(0.941, Some(0.94)));
        assert!(!gate.holds(0.99, None), "a missing champion value fails");
        let fixed = Condition::parse("accuracy > 0.9").unwrap();
        assert!(fixed.holds(0.91, None));
        let baseline = Condition::parse("beats_baseline").unwrap();
        assert!(baseline.holds(1.0, None));
        assert!(!baseline.holds(0.0, None));
        for bad in [
            "accuracy",
            "accuracy = 0.9",
            "accuracy >= other.accuracy",
            "acc >= champion.acc * 2",
        ] {
            assert!(Condition::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_command_step_trains_the_challenger_in_place_of_a_train_step() {
        let spec = |step: &str| -> PipelineSpec {
            let text = format!(
                r#"{{"model": "churn", "steps": [{step}, {{"kind": "evaluate"}}, {{"kind": "register"}}]}}"#
            );
            serde_json::from_str(&text).unwrap()
        };
        let good = spec(
            r#"{"kind": "command", "command": {"command": ["python", "train.py"], "code_run": 4, "model_path": "out"}}"#,
        );
        assert!(good.validate().is_ok(), "{:?}", good.validate());
        assert_eq!(good.steps[0].job_kind(), Some(crate::JobKind::Command));
        let no_model = spec(r#"{"kind": "command", "command": {"command": ["python"]}}"#);
        let err = no_model.validate().unwrap_err();
        assert!(err.contains("command.model_path"), "{err}");
        let registers = spec(
            r#"{"kind": "command", "command": {"command": ["python"], "model_path": "o", "register_as": "x"}}"#,
        );
        let err = registers.validate().unwrap_err();
        assert!(err.contains("register_as"), "{err}");
        let fixed_run = spec(
            r#"{"kind": "command", "command": {"command": ["python"], "model_path": "o", "run_id": 3}}"#,
        );
        assert!(fixed_run.validate().unwrap_err().contains("run_id"));
    }

    #[test]
    fn pipelines_are_checked_step_by_step() {
        let text = r#"{"model": "digits", "deployment": "digits", "steps": [
            {"kind": "train", "train": {"dataset": "digits"}},
            {"kind": "evaluate"},
            {"kind": "gate", "condition": "accuracy >= champion.accuracy"},
            {"kind": "register"},
            {"kind": "deploy", "canary_percent": 20},
            {"kind": "promote", "bake_secs": 60}
        ]}"#;
        let pipeline: PipelineSpec = serde_json::from_str(text).unwrap();
        pipeline.validate().unwrap();
        let mut broken = pipeline.clone();
        broken.steps[2] = Step::Gate {
            condition: "accuracy is good".into(),
        };
        let err = broken.validate().unwrap_err();
        assert!(
            err.starts_with("steps[2] (gate).condition: expected"),
            "{err}"
        );
        let mut out_of_order = pipeline.clone();
        out_of_order.steps.swap(3, 4);
        let err = out_of_order.validate().unwrap_err();
        assert_eq!(
            err,
            "steps[3] (deploy).kind: needs a register step before it"
        );
        let unknown = serde_json::from_str::<PipelineSpec>(
            r#"{"model": "m", "steps": [{"kind": "train", "train": {"dataset": "d"}, "colour": 1}]}"#,
        );
        assert!(unknown.is_err());
    }
}
