//! The browser side of [`super::LiveUpdates`]: the event stream, the refresh schedule and the
//! swap of the page's main content. Refreshes are coalesced (at most one per [`MIN_GAP_MS`])
//! so a burst of events costs one fetch.

use super::{LivePlan, LiveState};
use leptos::prelude::*;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{EventSource, HtmlInputElement, HtmlTextAreaElement, MessageEvent};

/// The fewest milliseconds between two refreshes.
const MIN_GAP_MS: f64 = 1000.0;
/// How long an update waits before looking again whether the user still edits a form.
const EDIT_RETRY: Duration = Duration::from_secs(2);

/// The refresh schedule of one page.
struct Live {
    set_state: WriteSignal<LiveState>,
    /// A refresh is scheduled or running.
    busy: Cell<bool>,
    /// Something changed while busy: refresh once more afterwards.
    again: Cell<bool>,
    last: Cell<f64>,
    stopped: Cell<bool>,
}

/// Connects to the event stream and starts the timer of `plan`.
pub fn start(plan: LivePlan, set_state: WriteSignal<LiveState>) {
    let live = Rc::new(Live {
        set_state,
        busy: Cell::new(false),
        again: Cell::new(false),
        last: Cell::new(js_sys::Date::now()),
        stopped: Cell::new(false),
    });
    set_state.set(LiveState::Connecting);
    listen(&live, plan.clone());
    if plan.every_secs > 0 {
        let live = Rc::clone(&live);
        set_interval(
            move || {
                if document().visibility_state() == web_sys::VisibilityState::Visible {
                    request(&live);
                }
            },
            Duration::from_secs(u64::from(plan.every_secs)),
        );
    }
}

fn listen(live: &Rc<Live>, plan: LivePlan) {
    let Ok(source) = EventSource::new("/events") else {
        live.set_state.set(LiveState::Static);
        return;
    };
    let on_open = {
        let live = Rc::clone(live);
        Closure::<dyn Fn()>::new(move || {
            if !live.stopped.get() {
                live.set_state.set(LiveState::Live);
            }
        })
    };
    let on_error = {
        let live = Rc::clone(live);
        let source = source.clone();
        Closure::<dyn Fn()>::new(move || {
            // The browser reconnects by itself unless the server refused the stream.
            if source.ready_state() == EventSource::CLOSED {
                live.stopped.set(true);
                live.set_state.set(LiveState::SignedOut);
            } else {
                live.set_state.set(LiveState::Reconnecting);
            }
        })
    };
    let on_message = {
        let live = Rc::clone(live);
        Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
            let kind = event
                .data()
                .as_string()
                .and_then(|data| serde_json::from_str::<serde_json::Value>(&data).ok())
                .and_then(|value| value.get("kind")?.as_str().map(str::to_owned));
            if kind.is_some_and(|kind| plan.wants(&kind)) {
                request(&live);
            }
        })
    };
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The page lives as long as the stream: the handlers are never dropped.
    on_open.forget();
    on_error.forget();
    on_message.forget();
}

/// Asks for a refresh: scheduled after the minimum gap, or once more after the running one.
fn request(live: &Rc<Live>) {
    if live.stopped.get() {
        return;
    }
    if live.busy.replace(true) {
        live.again.set(true);
        return;
    }
    let wait = (live.last.get() + MIN_GAP_MS - js_sys::Date::now()).max(0.0);
    let live = Rc::clone(live);
    set_timeout(move || refresh(live), Duration::from_millis(wait as u64));
}

fn refresh(live: Rc<Live>) {
    if editing() {
        live.set_state.set(LiveState::Paused);
        set_timeout(move || refresh(live), EDIT_RETRY);
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        let outcome = swap_main().await;
        live.last.set(js_sys::Date::now());
        live.busy.set(false);
        match outcome {
            Ok(true) => live.set_state.set(LiveState::Live),
            Ok(false) => {
                live.stopped.set(true);
                live.set_state.set(LiveState::SignedOut);
            }
            // A failed fetch (server restarting): the next event or tick tries again.
            Err(_) => live.set_state.set(LiveState::Reconnecting),
        }
        if live.again.replace(false) {
            request(&live);
        }
    });
}

/// Whether the user is in the middle of an action on the page: an action's disclosure open,
/// focus in a field, or a field whose value differs from the one the server rendered.
fn editing() -> bool {
    let Some(main) = document().get_element_by_id("main") else {
        return false;
    };
    if main
        .query_selector("details[open] form")
        .is_ok_and(|found| found.is_some())
    {
        return true;
    }
    if let Some(active) = document().active_element() {
        let tag = active.tag_name();
        if main.contains(Some(&active)) && matches!(tag.as_str(), "INPUT" | "TEXTAREA" | "SELECT") {
            return true;
        }
    }
    let Ok(fields) = main.query_selector_all("input, textarea") else {
        return false;
    };
    (0..fields.length())
        .filter_map(|at| fields.item(at))
        .any(|node| {
            if let Some(input) = node.dyn_ref::<HtmlInputElement>() {
                input.value() != input.default_value() || input.checked() != input.default_checked()
            } else if let Some(area) = node.dyn_ref::<HtmlTextAreaElement>() {
                area.default_value()
                    .is_ok_and(|default| area.value() != default)
            } else {
                false
            }
        })
}

/// Fetches the page again and swaps in its main content and title. `Ok(false)`: the session
/// ended (the server sent the sign-in page).
async fn swap_main() -> Result<bool, JsValue> {
    let href = location().href()?;
    let response: web_sys::Response = JsFuture::from(window().fetch_with_str(&href))
        .await?
        .dyn_into()?;
    if response.url().contains("/sign-in") {
        return Ok(false);
    }
    if !response.ok() {
        return Err(JsValue::from_str("the page could not be fetched"));
    }
    let text = JsFuture::from(response.text()?)
        .await?
        .as_string()
        .unwrap_or_default();
    let fresh =
        web_sys::DomParser::new()?.parse_from_string(&text, web_sys::SupportedType::TextHtml)?;
    let (Some(new_main), Some(main)) = (
        fresh.get_element_by_id("main"),
        document().get_element_by_id("main"),
    ) else {
        return Err(JsValue::from_str("the page has no main content"));
    };
    main.set_inner_html(&new_main.inner_html());
    document().set_title(&fresh.title());
    // Islands inside the fresh content are hydrated by the loader's function.
    let hydrate = js_sys::Reflect::get(&window(), &JsValue::from_str("slipwayHydrate"))?;
    if let Some(hydrate) = hydrate.dyn_ref::<js_sys::Function>() {
        hydrate.call1(&JsValue::NULL, &main)?;
    }
    Ok(true)
}
