//! Switching servers: the state starts over against the new one, keeping only the contexts.

use super::App;
use crate::data::Lists;

impl App {
    /// Marks `name` as the context in use (shown in the header and the contexts view).
    pub fn set_context(&mut self, name: impl Into<String>) {
        self.lists.context = Some(name.into());
        if self.view == super::View::Contexts {
            self.haystack = None;
            self.refilter();
        }
    }

    /// The event loop now talks to `server` of context `name`: nothing fetched from the old
    /// server stays on screen, and everything is asked again of the new one.
    pub fn switched(&mut self, name: &str, server: &str) {
        let contexts = std::mem::take(&mut self.lists.contexts);
        *self = App {
            lists: Lists {
                contexts,
                context: Some(name.to_owned()),
                ..Lists::default()
            },
            ..App::new(server)
        };
        self.say(format!("switched to context {name} ({server})"), false);
    }
}
