//! The confirmation dialog every change goes through: what will happen, a choice where there is
//! one (the revision to roll back to, the version to deploy and as what: primary, canary with
//! its share, or shadow), and the reason for the audit log.

use crate::data::{Command, DeploymentData, Serve};
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

/// What the deploy dialog makes the picked version (the canary's share is typed apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployAs {
    Primary,
    Canary,
    Shadow,
}

impl DeployAs {
    pub const ALL: [DeployAs; 3] = [DeployAs::Primary, DeployAs::Canary, DeployAs::Shadow];

    pub fn name(self) -> &'static str {
        match self {
            DeployAs::Primary => "primary",
            DeployAs::Canary => "canary",
            DeployAs::Shadow => "shadow",
        }
    }
}

/// The field typed keys go to; `tab` moves to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Reason,
    /// `p`, `c`, `s` or space pick the role.
    Role,
    /// The canary's share, in percent.
    Percent,
}

/// The share a new canary gets unless the user types another.
const DEFAULT_PERCENT: &str = "10";

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
    /// The deploy dialog's role for the version (`None` in other dialogs).
    pub deploy_as: Option<DeployAs>,
    /// The canary's share as typed.
    pub percent: String,
    pub focus: Field,
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
            deploy_as: None,
            percent: DEFAULT_PERCENT.to_owned(),
            focus: Field::Reason,
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
            deploy_as: None,
            percent: DEFAULT_PERCENT.to_owned(),
            focus: Field::Reason,
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
        let mut dialog = Self {
            title: "Deploy".into(),
            summary: String::new(),
            intent: Intent::Deploy {
                deployment: data.deployment.name.clone(),
                model: spec.model.clone(),
            },
            choices,
            choice: 0,
            reason: String::new(),
            problem: None,
            deploy_as: None,
            percent: DEFAULT_PERCENT.to_owned(),
            focus: Field::Reason,
        };
        dialog.set_deploy_as(DeployAs::Primary);
        Ok(dialog)
    }

    /// Picks what the deployed version becomes, and says so in the summary.
    pub fn set_deploy_as(&mut self, role: DeployAs) {
        let Intent::Deploy { deployment, model } = &self.intent else {
            return;
        };
        self.summary = match role {
            DeployAs::Primary => {
                format!("Make this version of {model} the primary of {deployment}:")
            }
            DeployAs::Canary => {
                format!("Send a share of {deployment}'s requests to this version of {model}:")
            }
            DeployAs::Shadow => {
                format!(
                    "Mirror {deployment}'s requests to this version of {model} (it never answers):"
                )
            }
        };
        self.deploy_as = Some(role);
        self.problem = None;
    }

    /// The fields `tab` cycles through: the reason, then the role and the share where there are.
    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![Field::Reason];
        if let Some(role) = self.deploy_as {
            fields.push(Field::Role);
            if role == DeployAs::Canary {
                fields.push(Field::Percent);
            }
        }
        fields
    }

    pub fn next_field(&mut self) {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        self.focus = fields[(at + 1) % fields.len()];
    }

    /// A typed character, for the field in focus.
    pub fn type_char(&mut self, c: char) {
        match self.focus {
            Field::Reason => self.reason.push(c),
            Field::Percent if c.is_ascii_digit() || c == '.' => {
                self.percent.push(c);
                self.problem = None;
            }
            Field::Percent => {}
            Field::Role => {
                let current = self.deploy_as.unwrap_or(DeployAs::Primary);
                let role = match c {
                    'p' => DeployAs::Primary,
                    'c' => DeployAs::Canary,
                    's' => DeployAs::Shadow,
                    ' ' => {
                        let at = DeployAs::ALL
                            .iter()
                            .position(|r| *r == current)
                            .unwrap_or(0);
                        DeployAs::ALL[(at + 1) % DeployAs::ALL.len()]
                    }
                    _ => return,
                };
                self.set_deploy_as(role);
            }
        }
    }

    pub fn erase(&mut self) {
        match self.focus {
            Field::Reason => {
                self.reason.pop();
            }
            Field::Percent => {
                self.percent.pop();
                self.problem = None;
            }
            Field::Role => {}
        }
    }

    /// The canary's share, or why the typed one is refused.
    fn share(&self) -> Result<f64, String> {
        match self.percent.trim().parse::<f64>() {
            Ok(percent) if (1.0..=99.0).contains(&percent) => Ok(percent),
            _ => Err(format!(
                "canary share must be a percent from 1 to 99, not '{}'",
                self.percent.trim()
            )),
        }
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
            (Intent::Deploy { deployment, model }, Some(version)) => {
                let serve = match self.deploy_as.unwrap_or(DeployAs::Primary) {
                    DeployAs::Primary => Serve::Primary,
                    DeployAs::Shadow => Serve::Shadow,
                    DeployAs::Canary => match self.share() {
                        Ok(percent) => Serve::Canary { percent },
                        Err(problem) => {
                            self.problem = Some(problem);
                            self.focus = Field::Percent;
                            return None;
                        }
                    },
                };
                Command::Deploy {
                    deployment: deployment.clone(),
                    model: model.clone(),
                    version,
                    serve,
                }
            }
            _ => {
                self.problem = Some("nothing picked".into());
                return None;
            }
        };
        Some((command, reason.to_owned()))
    }
}
