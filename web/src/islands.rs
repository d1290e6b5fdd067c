//! The dashboard's islands: the only components hydrated in the browser. Everything else on a
//! page is plain server-rendered HTML, so a page without scripts loses nothing but liveness.
//!
//! [`LiveUpdates`] keeps a page current: it listens to the server's event stream and, when an
//! event the page shows arrives (or on a timer, for figures that move without events such as
//! request rates), fetches a fresh copy of the page and swaps in its main content. It never
//! swaps while the user is in the middle of an action (a form open, focused or edited).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "hydrate")]
mod live;

/// What keeps a page live.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivePlan {
    /// Event kinds, by prefix (`job` matches `job.state`), that change what the page shows.
    pub topics: Vec<String>,
    /// Refresh this often regardless of events (0: only on events).
    pub every_secs: u32,
}

impl LivePlan {
    /// Whether an event of `kind` changes the page (a `reset` always may).
    pub fn wants(&self, kind: &str) -> bool {
        kind == "reset"
            || self.topics.iter().any(|topic| {
                kind == topic
                    || kind
                        .strip_prefix(topic.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
    }
}

/// Where the live connection stands, shown in the page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveState {
    /// Rendered by the server; nothing has run in the browser (yet).
    Static,
    Connecting,
    Live,
    /// An update is waiting until the user leaves the form they are editing.
    Paused,
    Reconnecting,
    /// The session ended; only a reload (and sign-in) helps.
    SignedOut,
}

impl LiveState {
    /// A stable word for styles and tests.
    pub fn code(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Paused => "paused",
            Self::Reconnecting => "reconnecting",
            Self::SignedOut => "signed-out",
        }
    }

    /// What the user reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Static => "Reload for updates",
            Self::Connecting => "Connecting…",
            Self::Live => "● Live",
            Self::Paused => "Live · update waits while you edit",
            Self::Reconnecting => "Reconnecting…",
            Self::SignedOut => "Signed out · reload to sign in",
        }
    }
}

/// The live indicator of the page header; hydrated, it keeps the page's main content current.
#[island]
pub fn LiveUpdates(plan: LivePlan) -> impl IntoView {
    let (state, set_state) = signal(LiveState::Static);
    // Effects run only in the browser, after hydration.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| live::start(plan.clone(), set_state));
    #[cfg(not(feature = "hydrate"))]
    let _ = (plan, set_state);
    view! {
        <p class="live" id="live" role="status" aria-live="polite" data-state=move || state.get().code()>
            {move || state.get().label()}
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_matches_event_kinds_by_prefix() {
        let plan = LivePlan {
            topics: vec!["job".into(), "alert".into()],
            every_secs: 0,
        };
        assert!(plan.wants("job.state"));
        assert!(plan.wants("job"));
        assert!(plan.wants("alert.raised"));
        assert!(plan.wants("reset"));
        assert!(!plan.wants("jobs.state"));
        assert!(!plan.wants("deployment.revision"));
    }

    #[test]
    fn the_server_renders_an_island_with_its_plan() {
        let plan = LivePlan {
            topics: vec!["job".into()],
            every_secs: 5,
        };
        let html = view! { <LiveUpdates plan=plan /> }.to_html();
        assert!(
            html.starts_with("<leptos-island data-component=\"LiveUpdates_"),
            "{html}"
        );
        assert!(html.contains("data-props=\"{&quot;plan&quot;:{&quot;topics&quot;:[&quot;job&quot;],&quot;every_secs&quot;:5}}\""), "{html}");
        assert!(html.contains("data-state=\"static\""), "{html}");
        assert!(html.contains("Reload for updates"), "{html}");
    }
}
