//! The confirmation dialog every change goes through: what will happen, a choice where there is
//! one (the revision to roll back to, the version to deploy), and the reason for the audit log.

use crate::data::{Command, DeploymentData};
use crate::table::when;

/// One thing to pick in a dialog.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub label: String,
    pub value: u32,
}

/// What the dialog builds its command from.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// A command with nothing to pick.
    Fixed(Command),
    Rollback {
        deployment: String,
    },
    Deploy {
        deployment: String,
        model: String,
    },
}

/// An open dialog.
#[derive(Debug, Clone, PartialEq)]
pub struct Dialog {
    pub title: String,
    /// What will happen, in words.
    pub summary: String,
    pub intent: Intent,
    pub choices: Vec<Choice>,
    pub choice: usize,
    pub reason: String,
    /// Why the last confirmation was refused.
    pub problem: Option<String>,
}

impl Dialog {
    /// A dialog for a command with nothing to pick.
    pub fn fixed(title: &str, command: Command) -> Self {
        Self {
            title: title.to_owned(),
            summary: command.ask(),
            intent: Intent::Fixed(command),
            choices: Vec::new(),
            choice: 0,
            reason: String::new(),
            problem: None,
        }
    }

    /// Roll back: pick one of the earlier revisions (the one before the current by default).
    pub fn rollback(data: &DeploymentData) -> Result<Self, String> {
        let current = data.deployment.revision;
        let choices: Vec<Choice> = data
            .revisions
            .iter()
            .filter(|revision| revision.revision != current)
            .map(|revision| {
                let spec = &revision.spec;
                let mut serving = format!("v{}", spec.primary);
                if let Some(canary) = spec.canary {
                    serving.push_str(&format!(
                        " + canary v{} {}%",
                        canary.version, canary.percent
                    ));
                }
                Choice {
                    label: format!(
                        "rev {} · {serving} · {} by {} {}{}",
                        revision.revision,
                        revision.action,
                        revision.actor,
                        when(&revision.created_at),
                        revision
                            .reason
                            .as_deref()
                            .map(|reason| format!(" · {reason}"))
                            .unwrap_or_default()
                    ),
                    value: revision.revision,
                }
            })
            .collect();
        if choices.is_empty() {
            return Err(format!(
                "{} has no earlier revision to roll back to",
                data.deployment.name
            ));
        }
        Ok(Self {
            title: "Roll back".into(),
            summary: format!(
                "Roll {} (now revision {current}) back to:",
                data.deployment.name
            ),
            intent: Intent::Rollback {
                deployment: data.deployment.name.clone(),
            },
            choices,
            choice: 0,
            reason: String::new(),
            problem: None,
        })
    }

    /// Deploy: pick a version of the deployment's model as the new primary.
    pub fn deploy(data: &DeploymentData) -> Result<Self, String> {
        let spec = &data.deployment.spec;
        let choices: Vec<Choice> = data
            .versions
            .iter()
            .map(|version| {
                let metrics: Vec<String> = version
                    .metrics
                    .iter()
                    .take(2)
                    .map(|(key, value)| format!("{key}={value:.4}"))
                    .collect();
                let mut label = format!(
                    "v{} · {} {}",
                    version.version,
                    version.arch,
                    metrics.join(" ")
                );
                if version.version == spec.primary {
                    label.push_str(" · serving");
                }
                if !version.aliases.is_empty() {
                    label.push_str(&format!(" · {}", version.aliases.join(",")));
                }
                Choice {
                    label,
                    value: version.version,
                }
            })
            .collect();
        if choices.is_empty() {
            return Err(format!("model {} has no versions", spec.model));
        }
        Ok(Self {
            title: "Deploy".into(),
            summary: format!(
                "Make this version of {} the primary of {}:",
                spec.model, data.deployment.name
            ),
            intent: Intent::Deploy {
                deployment: data.deployment.name.clone(),
                model: spec.model.clone(),
            },
            choices,
            choice: 0,
            reason: String::new(),
            problem: None,
        })
    }

    pub fn up(&mut self) {
        self.choice = self.choice.saturating_sub(1);
    }

    pub fn down(&mut self) {
        if self.choice + 1 < self.choices.len() {
            self.choice += 1;
        }
    }

    /// The command to run and its reason, or why not yet (the reason is required).
    pub fn confirm(&mut self) -> Option<(Command, String)> {
        let reason = self.reason.trim();
        if reason.is_empty() {
            self.problem = Some("type a reason first; it goes to the audit log".into());
            return None;
        }
        let picked = self.choices.get(self.choice).map(|choice| choice.value);
        let command = match (&self.intent, picked) {
            (Intent::Fixed(command), _) => command.clone(),
            (Intent::Rollback { deployment }, Some(to)) => Command::Rollback {
                deployment: deployment.clone(),
                to,
            },
            (Intent::Deploy { deployment, model }, Some(version)) => Command::Deploy {
                deployment: deployment.clone(),
                model: model.clone(),
                version,
            },
            _ => {
                self.problem = Some("nothing picked".into());
                return None;
            }
        };
        Some((command, reason.to_owned()))
    }
}
