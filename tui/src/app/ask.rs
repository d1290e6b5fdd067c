//! Opening the confirmation dialog of a change: which deployment, job, schedule or alert the
//! user means, and whether the change applies to it.

use super::{Action, App, Detail, Mode, View};
use crate::data::{Command, DeploymentData};
use crate::dialog::Dialog;

impl App {
    /// The deployment the user means: the open one, or the selected row.
    fn target_deployment(&self) -> Option<String> {
        match &self.detail {
            Some(Detail::Deployment(name)) => Some(name.clone()),
            None if self.view == View::Deployments => self
                .selected_index()
                .and_then(|index| self.lists.deployments.get(index))
                .map(|d| d.name.clone()),
            _ => None,
        }
    }

    fn target_job(&self) -> Option<i64> {
        match &self.detail {
            Some(Detail::Job(id)) => Some(*id),
            None if self.view == View::Jobs => self
                .selected_index()
                .and_then(|index| self.lists.jobs.get(index))
                .map(|j| j.id),
            _ => None,
        }
    }

    fn loaded_deployment(&self, name: &str) -> Option<&DeploymentData> {
        self.deployment
            .as_ref()
            .filter(|data| data.deployment.name == name)
    }

    /// Opens the confirmation dialog of a change, or says why it does not apply here.
    pub(super) fn ask(&mut self, action: Action) {
        let dialog = match action {
            Action::Promote | Action::Rollback | Action::Deploy => {
                let Some(name) = self.target_deployment() else {
                    return self.say("select a deployment first", true);
                };
                let Some(data) = self.loaded_deployment(&name) else {
                    // Rollback and deploy pick from the detail: open it and ask once it loads.
                    self.pending = Some(action);
                    self.open_detail(Detail::Deployment(name));
                    return;
                };
                match action {
                    Action::Promote => match data.deployment.spec.canary {
                        None => Err(format!("{name} has no canary to promote")),
                        Some(canary) => Ok(Dialog::fixed(
                            "Promote",
                            Command::Promote {
                                deployment: name,
                                canary: canary.version,
                                percent: canary.percent,
                                primary: data.deployment.spec.primary,
                            },
                        )),
                    },
                    Action::Rollback => Dialog::rollback(data),
                    _ => Dialog::deploy(data),
                }
            }
            Action::Cancel | Action::Retry => match self.target_job() {
                Some(job) if action == Action::Cancel => {
                    Ok(Dialog::fixed("Cancel", Command::Cancel { job }))
                }
                Some(job) => Ok(Dialog::fixed("Retry", Command::Retry { job })),
                None => Err("select a job first".to_owned()),
            },
            Action::Trigger => match (self.view, &self.detail, self.selected_index()) {
                (View::Schedules, None, Some(index)) => match self.lists.schedules.get(index) {
                    Some(schedule) => Ok(Dialog::fixed(
                        "Trigger",
                        Command::Trigger {
                            schedule: schedule.name.clone(),
                        },
                    )),
                    None => Err("select a schedule first".to_owned()),
                },
                _ => Err("select a schedule first".to_owned()),
            },
            Action::Acknowledge => {
                let alert = match (&self.detail, self.view, self.selected_index()) {
                    (None, View::Alerts, Some(index)) => {
                        self.lists.alerts.get(index).map(|alert| alert.id)
                    }
                    (Some(Detail::Deployment(_)), _, _) => self
                        .deployment
                        .as_ref()
                        .and_then(|data| data.alerts.first())
                        .map(|alert| alert.id),
                    _ => None,
                };
                match alert {
                    Some(alert) => Ok(Dialog::fixed("Acknowledge", Command::Acknowledge { alert })),
                    None => Err("select an open alert first".to_owned()),
                }
            }
            _ => return,
        };
        match dialog {
            Ok(dialog) => {
                self.dialog = Some(dialog);
                self.mode = Mode::Dialog;
            }
            Err(message) => self.say(message, true),
        }
    }
}
