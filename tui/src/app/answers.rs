//! How answers from the server and live events change the state ([`App::loaded`]).

use super::{App, Detail, View};
use crate::data::{JobData, Lists, Loaded, Stream};
use crate::fetch::MAX_LOG_LINES;
use crate::table;
use slipway_api::Role;

impl App {
    /// Applies an answer from the server.
    pub fn loaded(&mut self, loaded: Loaded) {
        match loaded {
            Loaded::Identity(identity) => {
                self.read_only = identity.role == Role::Viewer;
                self.identity = Some(identity);
            }
            Loaded::Deployments(items, health) => self.set_list(View::Deployments, |l| {
                l.deployments = items;
                l.health = health;
            }),
            Loaded::Models(items) => self.set_list(View::Models, |l| l.models = items),
            Loaded::Runs(items) => self.set_list(View::Runs, |l| l.runs = items),
            Loaded::Jobs(items) => self.set_list(View::Jobs, |l| l.jobs = items),
            Loaded::Workers(items) => self.set_list(View::Workers, |l| l.workers = items),
            Loaded::Schedules(items) => self.set_list(View::Schedules, |l| l.schedules = items),
            Loaded::Alerts(items) => self.set_list(View::Alerts, |l| l.alerts = items),
            Loaded::Audit(items) => self.set_list(View::Audit, |l| l.audit = items),
            Loaded::Contexts(items) => self.set_list(View::Contexts, |l| l.contexts = items),
            Loaded::Deployment(data) => {
                let name = data.deployment.name.clone();
                self.deployment = Some(*data);
                if self.detail == Some(Detail::Deployment(name))
                    && let Some(action) = self.pending.take()
                {
                    self.ask(action);
                }
            }
            Loaded::Run(data) => self.run = Some(*data),
            Loaded::Model(data) => self.model = Some(*data),
            Loaded::Worker(data) => self.worker = Some(*data),
            Loaded::Schedule(data) => self.schedule = Some(*data),
            Loaded::Job(data) => {
                // Keep the log lines already read when the job itself is refetched.
                let keep = self
                    .job
                    .take()
                    .filter(|old| old.job.id == data.job.id && old.next_after >= data.next_after);
                self.job = Some(match keep {
                    Some(old) => JobData {
                        job: data.job,
                        ..old
                    },
                    None => *data,
                });
            }
            Loaded::JobLogs {
                job,
                lines,
                next_after,
            } => {
                if let Some(data) = self.job.as_mut().filter(|data| data.job.id == job)
                    && next_after > data.next_after
                {
                    data.logs.extend(lines);
                    // Following a chatty job for hours must not grow without bound.
                    let excess = data.logs.len().saturating_sub(MAX_LOG_LINES);
                    data.logs.drain(..excess);
                    data.next_after = next_after;
                }
            }
            Loaded::Done(message) => {
                self.say(message, false);
                self.stale.push(self.view);
                self.stale_detail = true;
            }
            Loaded::Failed { message, forbidden } => {
                if forbidden {
                    self.read_only = true;
                }
                self.pending = None;
                self.say(message, true);
            }
            Loaded::Stream(stream) => {
                if stream == Stream::Live && self.stream != Stream::Live {
                    // Events may have been missed while away: fetch what is on screen.
                    self.refresh();
                }
                self.stream = stream;
            }
            Loaded::Event(event) => {
                let views: &[View] = match event.kind.as_str() {
                    "job" => &[View::Jobs, View::Runs, View::Workers],
                    "worker" => &[View::Workers],
                    "deployment" => &[View::Deployments, View::Audit],
                    "alert" => &[View::Alerts],
                    _ => &View::ALL,
                };
                self.stale.extend_from_slice(views);
                self.stale_detail |= match &self.detail {
                    Some(Detail::Job(id)) => event.kind == "job" && event.id == *id,
                    Some(Detail::Deployment(_)) => {
                        matches!(event.kind.as_str(), "deployment" | "alert" | "reset")
                    }
                    Some(Detail::Run(_) | Detail::Schedule(_)) => {
                        matches!(event.kind.as_str(), "job" | "reset")
                    }
                    Some(Detail::Worker(_)) => {
                        matches!(event.kind.as_str(), "job" | "worker" | "reset")
                    }
                    Some(Detail::Model(_)) => matches!(event.kind.as_str(), "deployment" | "reset"),
                    Some(Detail::Audit(_)) | None => false,
                };
            }
        }
    }

    /// Replaces a list; the cursor stays on the same row (by its key) when it is still there,
    /// so new jobs arriving at the top do not move it to another job.
    fn set_list(&mut self, view: View, set: impl FnOnce(&mut Lists)) {
        let selected = (view == self.view)
            .then(|| self.selected_index())
            .flatten()
            .map(|index| table::key(&self.lists, view, index));
        set(&mut self.lists);
        if view == self.view {
            self.haystack = None;
            self.refilter();
            if let Some(key) = selected
                && let Some(position) = self
                    .visible
                    .iter()
                    .position(|&index| table::key(&self.lists, view, index) == key)
            {
                self.selected = position;
            }
        }
    }
}
