//! The page shell shared by every page: the stylesheet (light and dark themes through
//! `prefers-color-scheme`), the header with navigation and the signed-in user, the flash
//! message of the last action, and small formatting helpers.

use crate::islands::{LivePlan, LiveUpdates};
use leptos::prelude::*;
use slipway_api::Role;

/// Who is looking at the page, and what the page's forms need to act for them.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: Role,
    /// The CSRF token every form posts back.
    pub csrf: String,
}

impl Session {
    /// Whether the user may deploy, promote and roll back (engineer or admin).
    pub fn can_operate(&self) -> bool {
        matches!(self.role, Role::Engineer | Role::Admin)
    }
}

/// The outcome of the last action, shown once at the top of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub ok: bool,
    pub message: String,
}

/// What every page gets besides its data: the signed-in user and the last action's outcome.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub session: Option<Session>,
    pub flash: Option<Flash>,
    /// The version of the browser bundle the page loads; `None`: the page has no scripts.
    pub bundle: Option<String>,
}

impl Frame {
    /// Whether action buttons are shown (the server refuses the actions to others anyway).
    pub fn can_operate(&self) -> bool {
        self.session.as_ref().is_some_and(Session::can_operate)
    }

    /// The CSRF token for forms (empty without a session).
    pub fn csrf(&self) -> String {
        self.session
            .as_ref()
            .map(|session| session.csrf.clone())
            .unwrap_or_default()
    }

    /// Wraps `body` in the page shell, live as its section's pages are.
    pub fn document(&self, title: &str, section: Section, body: String) -> String {
        self.live_document(title, section, live_plan(section), body)
    }

    /// Wraps `body` in the page shell, kept live by `live` (for pages whose liveness depends
    /// on what they show, such as a run that is still running).
    pub fn live_document(
        &self,
        title: &str,
        section: Section,
        live: Option<LivePlan>,
        body: String,
    ) -> String {
        document(title, section, self, live, body)
    }
}

/// The section a page belongs to, highlighted in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Models,
    Runs,
    Jobs,
    Workers,
    Schedules,
    Alerts,
    Audit,
    None,
}

const SECTIONS: [(Section, &str, &str); 8] = [
    (Section::Overview, "/", "Overview"),
    (Section::Models, "/models", "Models"),
    (Section::Runs, "/runs", "Runs"),
    (Section::Jobs, "/jobs", "Jobs"),
    (Section::Workers, "/workers", "Workers"),
    (Section::Schedules, "/schedules", "Schedules"),
    (Section::Alerts, "/alerts", "Alerts"),
    (Section::Audit, "/audit", "Audit log"),
];

/// The stylesheet: CSS variables carry both themes.
pub const STYLE: &str = r#"
:root{color-scheme:light dark;--bg:#f7f8fa;--fg:#1d2430;--muted:#5b6472;--card:#fff;--line:#dde1e8;--accent:#2456c7;--ok:#146c33;--warn:#8f5200;--bad:#c0262d;--head:#eef1f6}
@media (prefers-color-scheme:dark){:root{--bg:#12151b;--fg:#e3e7ee;--muted:#9aa4b2;--card:#1b2029;--line:#2e3543;--accent:#7aa5ff;--ok:#4cc27a;--warn:#f0a640;--bad:#ff6b6b;--head:#222937}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg)}
a{color:var(--accent)}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.5rem;padding:.6rem 1.5rem;background:var(--card);border-bottom:1px solid var(--line)}
header .brand{font-weight:700;font-size:1.1rem;text-decoration:none;color:var(--fg)}
nav ul{display:flex;flex-wrap:wrap;gap:.2rem .9rem;list-style:none;margin:0;padding:0}
header nav a{text-decoration:none;padding:.2rem 0}header nav a[aria-current=page]{font-weight:700;border-bottom:2px solid var(--accent)}
.live{margin:0 0 0 auto;font-size:.85rem;color:var(--muted)}.live[data-state=live]{color:var(--ok)}.live[data-state=reconnecting],.live[data-state=signed-out]{color:var(--warn)}
.live+.who{margin-left:0}.who{margin-left:auto;display:flex;gap:.6rem;align-items:center;color:var(--muted)}
main{padding:1rem 1.5rem 3rem;max-width:1400px;margin:0 auto}
h1{margin:.4rem 0 .2rem;font-size:1.6rem}h2{margin:1.6rem 0 .5rem;font-size:1.2rem}
.muted{color:var(--muted)}.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}
.table-wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%}
th,td{padding:.35rem .7rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600;white-space:nowrap}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr:last-child td{border-bottom:0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem}
.card h3{margin:0 0 .4rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .9rem;margin:.2rem 0}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.badge{display:inline-block;padding:0 .45rem;border-radius:999px;border:1px solid currentColor;font-size:.8rem;white-space:nowrap}
.flash{padding:.6rem 1rem;border-radius:6px;margin:.6rem 0;border:1px solid}
.flash.ok{border-color:var(--ok)}.flash.bad{border-color:var(--bad)}
form.inline{display:inline}
form.action{display:grid;gap:.4rem;max-width:32rem;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem;margin:.4rem 0}
input[type=text],input[type=password],input[type=search],select{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--fg);max-width:100%}
button{font:inherit;padding:.35rem .9rem;border-radius:4px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
button.secondary{background:transparent;color:var(--accent)}button.danger{background:var(--bad);border-color:var(--bad)}
.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.5rem 0}.filters label{display:grid;gap:.1rem}
.pager{display:flex;gap:1rem;margin:.6rem 0}
.split{display:flex;height:1.4rem;border-radius:4px;overflow:hidden;border:1px solid var(--line)}.split span{display:block;color:#fff;font-size:.8rem;padding:0 .4rem;white-space:nowrap;overflow:hidden}
.split .primary{background:#2456c7}.split .canary{background:#9a5418}
svg.chart{width:100%;max-width:720px;height:auto;background:var(--card);border:1px solid var(--line);border-radius:6px}svg.chart.wide{max-width:none}svg.chart.wide text{font-size:13px}
svg.chart text{fill:var(--muted);font-size:11px}svg.chart .axis{stroke:var(--line)}svg.chart .grid{stroke:var(--line);stroke-dasharray:2 3}
svg.chart circle{fill-opacity:.01;stroke-opacity:0}svg.chart circle:hover,svg.chart circle.solo{fill-opacity:1}
svg.chart .marker line{stroke:var(--muted);stroke-dasharray:4 3}svg.chart .marker:hover line{stroke:var(--fg);stroke-width:2}svg.chart .threshold line{stroke-width:2;stroke-dasharray:3 2}svg.chart .threshold.warn line{stroke:var(--warn)}svg.chart .threshold.bad line{stroke:var(--bad)}
.share{display:inline-block;height:.7rem;background:#2456c7;vertical-align:middle;margin-right:.4rem;border-radius:2px}.share.live{background:#9a5418}td.shares{min-width:12rem}
td.name{max-width:16rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
details.columns{margin:.4rem 0}details.columns fieldset{display:flex;flex-wrap:wrap;gap:.3rem 1rem;border:1px solid var(--line);border-radius:4px}details.columns label{white-space:nowrap}
svg.spark{vertical-align:middle;margin-right:.5rem}svg.spark path{fill:none;stroke:var(--accent);stroke-width:1.5}svg.spark circle{fill:var(--accent)}
.range{display:flex;gap:.8rem;margin:.4rem 0}.range a[aria-current=page]{font-weight:700;text-decoration:none}
.versions{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:1rem}
.actionbar{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-start}.actionbar details>summary{display:inline-block;cursor:pointer;padding:.3rem .8rem;border:1px solid var(--accent);border-radius:4px;color:var(--accent);list-style:none}.actionbar details.danger>summary{border-color:var(--bad);color:var(--bad)}.actionbar details[open]{flex-basis:100%}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1rem}
.legend{display:flex;gap:1rem;font-size:.85rem}.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle;border-radius:2px}
pre.logs{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.6rem;overflow:auto;max-height:40rem;font-size:.85rem}
code{font-size:.85em}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
@media (max-width:640px){main{padding:.6rem}header{padding:.5rem .6rem}.who{margin-left:0}}
"#;

/// What keeps the pages of a section live: the event kinds that change them, and a refresh
/// period for figures that move without events (request rates, heartbeats, next due times).
fn live_plan(section: Section) -> Option<LivePlan> {
    let (topics, every_secs): (&[&str], u32) = match section {
        Section::Overview => (&["deployment", "alert", "job"], 5),
        Section::Models => (&["deployment"], 0),
        Section::Jobs => (&["job", "worker"], 5),
        Section::Workers => (&["worker"], 10),
        Section::Schedules => (&["job"], 30),
        Section::Alerts => (&["alert"], 0),
        Section::Audit => (&["deployment", "alert"], 0),
        // Runs pages are searches the user is reading through (a running run's page asks for
        // itself); sign-in has nothing live.
        Section::Runs | Section::None => return None,
    };
    Some(LivePlan {
        topics: topics.iter().map(|topic| (*topic).to_owned()).collect(),
        every_secs,
    })
}

/// A complete HTML document: `<title>` is `{title} · Slipway`.
fn document(
    title: &str,
    section: Section,
    frame: &Frame,
    live: Option<LivePlan>,
    body: String,
) -> String {
    let live = live.filter(|_| frame.bundle.is_some());
    let header =
        view! { <Header section=section session=frame.session.clone() live=live /> }.to_html();
    let scripts = frame
        .bundle
        .as_ref()
        .map(|version| {
            let version = escape(version);
            format!(
                "<link rel=\"modulepreload\" href=\"/pkg/{version}/slipway_web.js\">\
                 <script type=\"module\" src=\"/pkg/{version}/loader.js\"></script>"
            )
        })
        .unwrap_or_default();
    let flash = frame
        .flash
        .as_ref()
        .map(|flash| {
            let class = if flash.ok { "flash ok" } else { "flash bad" };
            view! { <p class=class role="status">{flash.message.clone()}</p> }.to_html()
        })
        .unwrap_or_default();
    let title = escape(title);
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>{title} · Slipway</title><style>{STYLE}</style>{scripts}</head>\
         <body>{header}<main id=\"main\">{flash}{body}</main></body></html>"
    )
}

#[component]
fn Header(section: Section, session: Option<Session>, live: Option<LivePlan>) -> impl IntoView {
    let live = live.map(|plan| view! { <LiveUpdates plan=plan /> });
    let links = SECTIONS
        .iter()
        .map(|(item, href, label)| {
            let current = (*item == section).then_some("page");
            view! { <li><a href=*href aria-current=current>{*label}</a></li> }
        })
        .collect_view();
    let who = session.map(|session| {
        view! {
            <div class="who">
                <span>{session.user.clone()}" · "{session.role.as_str()}</span>
                <form class="inline" method="post" action="/sign-out">
                    <input type="hidden" name="csrf" value=session.csrf.clone() />
                    <button class="secondary" type="submit">"Sign out"</button>
                </form>
            </div>
        }
    });
    view! {
        <header>
            <a class="brand" href="/">"Slipway"</a>
            <nav aria-label="Main"><ul>{links}</ul></nav>
            {live}
            {who}
        </header>
    }
}

/// Escapes text for HTML (for the few strings placed outside `view!`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `path?key=value&…` for the pairs whose value is not empty.
pub fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let query = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// A UTC time as `YYYY-MM-DD HH:MM`.
pub fn when(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// A number with up to four decimals, trailing zeros trimmed.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == value.trunc() && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Milliseconds, or a dash.
pub fn millis(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.1} ms"))
}

/// A share as a percentage.
pub fn percent(share: f64) -> String {
    format!("{:.2} %", share * 100.0)
}

/// The CSS class of a status word: `ok`, `warn` or `bad`.
pub fn tone(status: &str) -> &'static str {
    match status {
        "stable" | "succeeded" | "FINISHED" | "active" | "ready" | "fired" | "triggered" => "ok",
        "warn" | "running" | "RUNNING" | "queued" | "draining" | "misfire_skipped"
        | "overlap_skipped" => "warn",
        "alert" | "failed" | "FAILED" | "lost" | "KILLED" | "cancelled" | "not ready" => "bad",
        _ => "",
    }
}

/// A status word in a coloured badge.
#[component]
pub fn Badge(text: String) -> impl IntoView {
    let class = format!("badge {}", tone(&text));
    view! { <span class=class>{text}</span> }
}

/// A table in a scrolling card, with a caption for screen readers.
#[component]
pub fn Table(
    #[prop(into)] caption: String,
    #[prop(into)] id: String,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table id=id>
                <caption class="visually-hidden">{caption}</caption>
                {children()}
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_encodes() {
        assert_eq!(number(0.97120), "0.9712");
        assert_eq!(number(3.0), "3");
        assert_eq!(encode("metrics.acc > 0.9"), "metrics.acc%20%3E%200.9");
        assert_eq!(
            link("/runs", &[("filter", ""), ("page_token", "x")]),
            "/runs?page_token=x"
        );
        assert_eq!(escape("<a href='x'>"), "&lt;a href=&#39;x&#39;&gt;");
    }

    #[test]
    fn the_document_has_a_title_navigation_and_the_user() {
        let session = Session {
            user: "alice".into(),
            role: Role::Engineer,
            csrf: "c1".into(),
        };
        let flash = Flash {
            ok: false,
            message: "<nope>".into(),
        };
        let frame = Frame {
            session: Some(session),
            flash: Some(flash),
            bundle: None,
        };
        let html = frame.document("Runs", Section::Runs, String::new());
        assert!(html.contains("<title>Runs · Slipway</title>"));
        assert!(html.contains("prefers-color-scheme:dark"));
        assert!(
            html.contains(r#"<a href="/runs" aria-current="page">Runs</a>"#),
            "{html}"
        );
        assert!(html.contains("alice"));
        assert!(html.contains("&lt;nope&gt;"));
        assert!(html.contains(r#"name="csrf" value="c1""#));
        assert!(!html.contains("<script"), "no bundle, no scripts: {html}");
    }

    #[test]
    fn with_a_bundle_pages_load_it_and_live_sections_get_the_live_island() {
        let frame = Frame {
            session: Some(Session {
                user: "alice".into(),
                role: Role::Viewer,
                csrf: "c1".into(),
            }),
            flash: None,
            bundle: Some("abc123".into()),
        };
        let jobs = frame.document("Jobs", Section::Jobs, String::new());
        assert!(
            jobs.contains(r#"<script type="module" src="/pkg/abc123/loader.js"></script>"#),
            "{jobs}"
        );
        assert!(
            jobs.contains("<leptos-island data-component=\"LiveUpdates_"),
            "{jobs}"
        );
        assert!(
            jobs.contains("&quot;job&quot;,&quot;worker&quot;"),
            "{jobs}"
        );
        let runs = frame.document("Runs", Section::Runs, String::new());
        assert!(runs.contains("loader.js"), "{runs}");
        assert!(
            !runs.contains("leptos-island"),
            "runs pages are not refreshed: {runs}"
        );
    }
}
