//! Command jobs: a team's own training script run on a worker that opted in
//! (`slipway worker --allow-commands`). This module owns the `command` kind's spec and result,
//! the code package convention (a run artifact `code.tar.gz`), and the run-scoped token a
//! worker asks for so that the script can log to its run and nowhere else.

use crate::{JobKind, KindResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The run artifact that holds a command job's packed code (a gzipped tar of the directory).
pub const CODE_ARTIFACT: &str = "code.tar.gz";
/// The run tag with the git commit of the packed code, when it came from a git checkout.
pub const GIT_COMMIT_TAG: &str = "code.git_commit";
/// The run tag with the sha256 digest of the packed code.
pub const CODE_DIGEST_TAG: &str = "code.digest";

/// The spec of a `command` job: `{"command": ["python", "train.py"], "run_id": 7, ...}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// The program and its arguments, run without a shell.
    pub command: Vec<String>,
    /// Extra environment variables for the process.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The run the script logs to (its `MLFLOW_RUN_ID`). Without one, each attempt creates a
    /// run in `experiment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// The run whose `code.tar.gz` artifact is unpacked into the working directory (by default
    /// `run_id`'s, when it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_run: Option<i64>,
    /// The experiment of a run the job creates itself (default `commands`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// Stop the process (and fail the job) after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// After success, register the model at `model_path` as a new version of this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_as: Option<String>,
    /// Where the script writes its model, relative to the working directory: a directory
    /// with Slipway's `model.json` and `model.safetensors` (or the `model.json` in it), or an
    /// `.onnx` file with its signature in `<stem>.signature.json` beside it. After success its
    /// files become the run's artifacts (and are registered with `register_as`; an ONNX file
    /// through the same checked import as `slipway models import`, with the run as source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_path: Option<String>,
}

impl CommandSpec {
    /// The experiment of a run the job creates itself.
    pub const DEFAULT_EXPERIMENT: &str = "commands";
    /// The longest timeout accepted: a week.
    pub const MAX_TIMEOUT_SECONDS: u64 = 7 * 24 * 3600;
    /// Most arguments, and most environment variables.
    pub const MAX_ITEMS: usize = 1024;

    pub fn validate(&self) -> Result<(), String> {
        match self.command.first() {
            None => {
                return Err(
                    "spec.command: expected a program and its arguments, got an empty list"
                        .to_owned(),
                );
            }
            Some(program) if program.trim().is_empty() => {
                return Err(
                    "spec.command: expected a program name first, got an empty string".to_owned(),
                );
            }
            Some(_) => {}
        }
        if self.command.len() > Self::MAX_ITEMS {
            return Err(format!(
                "spec.command: at most {} arguments, got {}",
                Self::MAX_ITEMS,
                self.command.len()
            ));
        }
        if self.command.iter().any(|arg| arg.contains('\0')) {
            return Err("spec.command: arguments may not contain NUL bytes".to_owned());
        }
        if self.env.len() > Self::MAX_ITEMS {
            return Err(format!(
                "spec.env: at most {} variables, got {}",
                Self::MAX_ITEMS,
                self.env.len()
            ));
        }
        for (key, value) in &self.env {
            let valid = !key.is_empty()
                && !key.starts_with(|c: char| c.is_ascii_digit())
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "spec.env: expected names of letters, digits and '_' (not starting with a digit), got '{key}'"
                ));
            }
            if reserved_env(key) {
                return Err(format!(
                    "spec.env: '{key}' is set by the worker for each job and may not be given"
                ));
            }
            if value.contains('\0') {
                return Err(format!("spec.env.{key}: values may not contain NUL bytes"));
            }
        }
        if let Some(timeout) = self.timeout_seconds
            && !(1..=Self::MAX_TIMEOUT_SECONDS).contains(&timeout)
        {
            return Err(format!(
                "spec.timeout_seconds: expected 1 to {}, got {timeout}",
                Self::MAX_TIMEOUT_SECONDS
            ));
        }
        if self.register_as.is_some() && self.model_path.is_none() {
            return Err(
                "spec.model_path: expected the path of the model the script writes, since register_as is given"
                    .to_owned(),
            );
        }
        if let Some(path) = &self.model_path {
            let escapes = path.is_empty()
                || path.starts_with('/')
                || path.split(['/', '\\']).any(|part| part == "..");
            if escapes {
                return Err(format!(
                    "spec.model_path: expected a relative path inside the working directory, got '{path}'"
                ));
            }
        }
        Ok(())
    }

    /// The run whose code is unpacked, if any.
    pub fn code_run(&self) -> Option<i64> {
        self.code_run.or(self.run_id)
    }
}

/// Environment variables the worker sets for every command job.
pub fn reserved_env(key: &str) -> bool {
    key.starts_with("SLIPWAY_") || key.starts_with("MLFLOW_") || key == "CUDA_VISIBLE_DEVICES"
}

/// A `command` job's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    /// The run the script logged to.
    pub run_id: i64,
    pub exit_code: i32,
    /// The latest value of each metric the run has.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// The registered model, when the spec asked for `register_as`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

impl KindResult for CommandResult {
    const KIND: JobKind = JobKind::Command;
}

/// `POST /api/v1/jobs/{id}/run-token`: the worker holding a command job's lease asks for the
/// token its script uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunTokenRequest {
    pub lease_id: String,
    pub run_id: i64,
}

/// A token that may write only to one run, and only while the job's attempt holds its lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunToken {
    pub token: String,
    pub run_id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &[&str]) -> CommandSpec {
        CommandSpec {
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            ..CommandSpec::default()
        }
    }

    #[test]
    fn a_spec_is_checked_field_by_field() {
        assert!(spec(&["python", "train.py"]).validate().is_ok());
        let err = spec(&[]).validate().unwrap_err();
        assert!(err.starts_with("spec.command"), "{err}");
        let mut bad = spec(&["python"]);
        bad.env.insert("MLFLOW_RUN_ID".into(), "1".into());
        assert!(bad.validate().unwrap_err().starts_with("spec.env"));
        let mut bad = spec(&["python"]);
        bad.env.insert("1X".into(), "1".into());
        assert!(bad.validate().unwrap_err().contains("'1X'"));
        let mut bad = spec(&["python"]);
        bad.register_as = Some("m".into());
        assert!(bad.validate().unwrap_err().starts_with("spec.model_path"));
        bad.model_path = Some("../out".into());
        assert!(bad.validate().unwrap_err().contains("relative path"));
        bad.model_path = Some("out/model".into());
        assert!(bad.validate().is_ok());
        let mut bad = spec(&["python"]);
        bad.timeout_seconds = Some(0);
        assert!(
            bad.validate()
                .unwrap_err()
                .starts_with("spec.timeout_seconds")
        );
    }

    #[test]
    fn the_wire_form_round_trips_and_refuses_unknown_fields() {
        let json = serde_json::json!({"command": ["python", "t.py"], "run_id": 3});
        let parsed: CommandSpec = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(parsed.code_run(), Some(3));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), json);
        let unknown = serde_json::json!({"command": ["x"], "shell": true});
        assert!(serde_json::from_value::<CommandSpec>(unknown).is_err());
    }
}
