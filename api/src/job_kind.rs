//! Job kinds and their specs: the one list of what a worker can run. [`JobKind`] names a
//! handler; [`JobSpec`] is a kind with its typed parameters and is what crosses the wire as
//! `{"kind": "...", "spec": {...}}`. Adding a kind here is a compile error everywhere a kind
//! must be handled (the worker's dispatch, the server's checks, the store's enum).

use crate::{CommandSpec, DeploySpec, EvaluateSpec, PipelineSpec, TrainSpec};
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The largest spec accepted, serialised: a spec is parameters, not data.
pub const MAX_SPEC_BYTES: usize = 64 * 1024;

/// The handler that runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Waits, reporting progress (a test and demo job).
    Sleep,
    /// Fails on purpose (a test job).
    Fail,
    Train,
    Evaluate,
    Deploy,
    Pipeline,
    /// A team's own program, on a worker started with `--allow-commands`.
    Command,
}

impl JobKind {
    pub const ALL: [JobKind; 7] = [
        JobKind::Sleep,
        JobKind::Fail,
        JobKind::Train,
        JobKind::Evaluate,
        JobKind::Deploy,
        JobKind::Pipeline,
        JobKind::Command,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Sleep => "sleep",
            JobKind::Fail => "fail",
            JobKind::Train => "train",
            JobKind::Evaluate => "evaluate",
            JobKind::Deploy => "deploy",
            JobKind::Pipeline => "pipeline",
            JobKind::Command => "command",
        }
    }

    /// Whether the kind only coordinates other jobs. Such a job takes none of its worker's
    /// slots while it runs: a pipeline holding a slot while it waits for its child jobs could
    /// leave a one-slot worker waiting for itself.
    pub fn coordinates(self) -> bool {
        matches!(self, JobKind::Pipeline)
    }

    /// Whether a running job of this kind takes one of its worker's slots.
    pub fn takes_a_slot(self) -> bool {
        !self.coordinates()
    }

    /// Whether the kind changes what serves production: only an engineer or admin may submit
    /// one, and the worker running it acts with the submitter's authority.
    pub fn operates(self) -> bool {
        matches!(self, JobKind::Deploy | JobKind::Pipeline)
    }

    /// Whether the kind runs arbitrary code: only workers that opted in take it.
    pub fn runs_commands(self) -> bool {
        matches!(self, JobKind::Command)
    }

    /// `sleep, fail, train, evaluate, deploy, pipeline, command`.
    pub fn names() -> String {
        let names: Vec<&str> = JobKind::ALL.iter().map(|kind| kind.as_str()).collect();
        names.join(", ")
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown job kind '{s}'; expected one of {}",
                    JobKind::names()
                )
            })
    }
}

impl<'de> Deserialize<'de> for JobKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// The spec of a `sleep` job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepSpec {
    /// How long to sleep (default 1 s).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole_as_integer"
    )]
    pub seconds: Option<f64>,
}

impl SleepSpec {
    pub const DEFAULT_SECONDS: f64 = 1.0;
    pub const MAX_SECONDS: f64 = 86_400.0;

    /// The time to sleep, the default when none was given.
    pub fn seconds(&self) -> f64 {
        self.seconds.unwrap_or(Self::DEFAULT_SECONDS)
    }

    pub fn validate(&self) -> Result<(), String> {
        let seconds = self.seconds();
        if (0.0..=Self::MAX_SECONDS).contains(&seconds) {
            Ok(())
        } else {
            Err(format!("spec.seconds: expected 0 to 86400, got {seconds}"))
        }
    }
}

/// `1` stays `1` on the wire (as submitted), `0.5` stays `0.5`.
fn whole_as_integer<S: Serializer>(
    seconds: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match seconds {
        Some(s) if s.fract() == 0.0 && s.abs() < 9.0e15 => serializer.serialize_i64(*s as i64),
        Some(s) => serializer.serialize_f64(*s),
        None => serializer.serialize_none(),
    }
}

/// The spec of a `fail` job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailSpec {
    /// The error the job fails with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl FailSpec {
    /// The error the job fails with, a default one when none was given.
    pub fn message(&self) -> &str {
        self.message
            .as_deref()
            .unwrap_or("failed on purpose (a 'fail' job)")
    }
}

/// A job kind with its parameters. On the wire: `{"kind": "train", "spec": {...}}`; a
/// missing or `null` spec is an empty one.
#[derive(Debug, Clone, PartialEq)]
pub enum JobSpec {
    Sleep(SleepSpec),
    Fail(FailSpec),
    Train(Box<TrainSpec>),
    Evaluate(EvaluateSpec),
    Deploy(DeploySpec),
    Pipeline(PipelineSpec),
    Command(CommandSpec),
}

impl JobSpec {
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Sleep(_) => JobKind::Sleep,
            JobSpec::Fail(_) => JobKind::Fail,
            JobSpec::Train(_) => JobKind::Train,
            JobSpec::Evaluate(_) => JobKind::Evaluate,
            JobSpec::Deploy(_) => JobKind::Deploy,
            JobSpec::Pipeline(_) => JobKind::Pipeline,
            JobSpec::Command(_) => JobKind::Command,
        }
    }

    /// A spec of `kind` from its JSON object; the error starts with `spec` and names what is
    /// wrong.
    pub fn from_parts(kind: JobKind, spec: serde_json::Value) -> Result<Self, String> {
        let spec = match spec {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            object @ serde_json::Value::Object(_) => object,
            _ => return Err("spec: expected a JSON object".to_owned()),
        };
        let size = spec.to_string().len();
        if size > MAX_SPEC_BYTES {
            return Err(format!(
                "spec: at most {MAX_SPEC_BYTES} bytes serialised, got {size}"
            ));
        }
        Self::typed(kind, spec)
    }

    /// A spec of `kind` from a JSON object already checked (a stored spec was measured when
    /// it was stored, so reading it back does not serialise it again to measure it).
    pub fn typed(kind: JobKind, spec: serde_json::Value) -> Result<Self, String> {
        fn typed<T: DeserializeOwned>(spec: serde_json::Value) -> Result<T, String> {
            serde_json::from_value(spec).map_err(|err| format!("spec: {err}"))
        }
        Ok(match kind {
            JobKind::Sleep => JobSpec::Sleep(typed(spec)?),
            JobKind::Fail => JobSpec::Fail(typed(spec)?),
            JobKind::Train => JobSpec::Train(Box::new(typed(spec)?)),
            JobKind::Evaluate => JobSpec::Evaluate(typed(spec)?),
            JobKind::Deploy => JobSpec::Deploy(typed(spec)?),
            JobKind::Pipeline => JobSpec::Pipeline(typed(spec)?),
            JobKind::Command => JobSpec::Command(typed(spec)?),
        })
    }

    /// The spec object alone, as stored and sent.
    pub fn spec_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            JobSpec::Sleep(spec) => serde_json::to_value(spec),
            JobSpec::Fail(spec) => serde_json::to_value(spec),
            JobSpec::Train(spec) => serde_json::to_value(spec),
            JobSpec::Evaluate(spec) => serde_json::to_value(spec),
            JobSpec::Deploy(spec) => serde_json::to_value(spec),
            JobSpec::Pipeline(spec) => serde_json::to_value(spec),
            JobSpec::Command(spec) => serde_json::to_value(spec),
        }
    }

    /// Checks what the types cannot (ranges, bounds, step order); the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            JobSpec::Sleep(spec) => spec.validate(),
            JobSpec::Fail(_) => Ok(()),
            JobSpec::Train(spec) => spec.validate(),
            JobSpec::Evaluate(spec) => spec.validate(),
            JobSpec::Deploy(spec) => spec.validate(),
            JobSpec::Pipeline(spec) => spec.validate(),
            JobSpec::Command(spec) => spec.validate(),
        }
    }
}

impl From<SleepSpec> for JobSpec {
    fn from(spec: SleepSpec) -> Self {
        JobSpec::Sleep(spec)
    }
}

impl From<FailSpec> for JobSpec {
    fn from(spec: FailSpec) -> Self {
        JobSpec::Fail(spec)
    }
}

impl From<TrainSpec> for JobSpec {
    fn from(spec: TrainSpec) -> Self {
        JobSpec::Train(Box::new(spec))
    }
}

impl From<EvaluateSpec> for JobSpec {
    fn from(spec: EvaluateSpec) -> Self {
        JobSpec::Evaluate(spec)
    }
}

impl From<DeploySpec> for JobSpec {
    fn from(spec: DeploySpec) -> Self {
        JobSpec::Deploy(spec)
    }
}

impl From<PipelineSpec> for JobSpec {
    fn from(spec: PipelineSpec) -> Self {
        JobSpec::Pipeline(spec)
    }
}

impl From<CommandSpec> for JobSpec {
    fn from(spec: CommandSpec) -> Self {
        JobSpec::Command(spec)
    }
}

impl Serialize for JobSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("JobSpec", 2)?;
        out.serialize_field("kind", &self.kind())?;
        match self {
            JobSpec::Sleep(spec) => out.serialize_field("spec", spec)?,
            JobSpec::Fail(spec) => out.serialize_field("spec", spec)?,
            JobSpec::Train(spec) => out.serialize_field("spec", spec)?,
            JobSpec::Evaluate(spec) => out.serialize_field("spec", spec)?,
            JobSpec::Deploy(spec) => out.serialize_field("spec", spec)?,
            JobSpec::Pipeline(spec) => out.serialize_field("spec", spec)?,
            JobSpec::Command(spec) => out.serialize_field("spec", spec)?,
        }
        out.end()
    }
}

impl<'de> Deserialize<'de> for JobSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The kind is read as text first, so an unknown one is named as `kind`.
        #[derive(Deserialize)]
        struct Wire {
            kind: Option<String>,
            #[serde(default)]
            spec: serde_json::Value,
        }
        let wire = Wire::deserialize(deserializer)?;
        let kind = wire.kind.ok_or_else(|| {
            D::Error::custom(format!(
                "kind: missing; expected one of {}",
                JobKind::names()
            ))
        })?;
        let kind: JobKind = kind
            .parse()
            .map_err(|err| D::Error::custom(format!("kind: {err}")))?;
        JobSpec::from_parts(kind, wire.spec).map_err(D::Error::custom)
    }
}

#[cfg(test)]
#[path = "job_kind_tests.rs"]
mod tests;
