//! What `enter` opens on each view (a detail, or a switch of context) and what a detail fetches.

use super::{App, Detail, View};
use crate::data::Request;

impl App {
    pub(super) fn detail_request(&self) -> Option<Request> {
        Some(match self.detail.as_ref()? {
            Detail::Deployment(name) => Request::Deployment(name.clone()),
            Detail::Run(id) => Request::Run(*id),
            Detail::Job(id) => Request::Job(*id),
            Detail::Model(name) => Request::Model(name.clone()),
            Detail::Worker(id) => Request::Worker(*id),
            Detail::Schedule(name) => Request::Schedule(name.clone()),
            Detail::Audit(_) => return None,
        })
    }

    pub(super) fn open(&mut self) {
        let Some(index) = self.selected_index() else {
            return;
        };
        let detail = match self.view {
            View::Deployments => self
                .lists
                .deployments
                .get(index)
                .map(|d| Detail::Deployment(d.name.clone())),
            View::Alerts => self
                .lists
                .alerts
                .get(index)
                .map(|a| Detail::Deployment(a.deployment.clone())),
            View::Runs => self.lists.runs.get(index).map(|r| Detail::Run(r.id)),
            View::Jobs => self.lists.jobs.get(index).map(|j| Detail::Job(j.id)),
            View::Models => self
                .lists
                .models
                .get(index)
                .map(|m| Detail::Model(m.name.clone())),
            View::Workers => self.lists.workers.get(index).map(|w| Detail::Worker(w.id)),
            View::Schedules => self
                .lists
                .schedules
                .get(index)
                .map(|s| Detail::Schedule(s.name.clone())),
            View::Audit => self.lists.audit.get(index).map(|a| Detail::Audit(a.id)),
            View::Contexts => {
                if let Some(context) = self.lists.contexts.get(index) {
                    self.requests
                        .push(Request::UseContext(context.name.clone()));
                }
                None
            }
        };
        if let Some(detail) = detail {
            self.open_detail(detail);
        }
    }

    pub(super) fn open_detail(&mut self, detail: Detail) {
        self.follow = false;
        self.detail = Some(detail);
        if let Some(request) = self.detail_request() {
            self.requests.push(request);
        }
    }
}
