//! The order of a list view (`s` picks the next column, `S` reverses) and the selected object
//! as JSON (`y`).

use super::{Action, App, Detail, Sort};
use crate::table;

impl App {
    /// The open detail's object, or the selected row's, as pretty JSON.
    pub(super) fn selected_json(&self) -> Option<String> {
        match &self.detail {
            Some(Detail::Deployment(_)) => table::to_json(&self.deployment.as_ref()?.deployment),
            Some(Detail::Run(_)) => table::to_json(&self.run.as_ref()?.detail),
            Some(Detail::Job(_)) => table::to_json(&self.job.as_ref()?.job),
            Some(Detail::Model(_)) => table::to_json(&self.model.as_ref()?.model),
            Some(Detail::Worker(_)) => table::to_json(&self.worker.as_ref()?.worker),
            Some(Detail::Schedule(_)) => table::to_json(&self.schedule.as_ref()?.schedule),
            Some(Detail::Audit(id)) => {
                table::to_json(self.lists.audit.iter().find(|a| a.id == *id)?)
            }
            None => table::json(&self.lists, self.view, self.selected_index()?),
        }
    }

    pub(super) fn sort_by(&mut self, action: Action) {
        let columns = table::columns(self.view);
        self.sort = match (action, self.sort) {
            (Action::ReverseSort, Some(sort)) => Some(Sort {
                descending: !sort.descending,
                ..sort
            }),
            (Action::ReverseSort, None) => None,
            (_, None) => Some(Sort {
                column: 0,
                descending: false,
            }),
            (_, Some(sort)) if sort.column + 1 < columns.len() => Some(Sort {
                column: sort.column + 1,
                descending: false,
            }),
            (_, Some(_)) => None,
        };
        self.selected = 0;
        self.refilter();
        match self.sort {
            Some(sort) => {
                let name = columns.get(sort.column).map_or("", |(name, _)| *name);
                let way = if sort.descending {
                    "descending"
                } else {
                    "ascending"
                };
                self.say(format!("sorted by {name}, {way}"), false);
            }
            None => self.say("unsorted", false),
        }
    }
}
