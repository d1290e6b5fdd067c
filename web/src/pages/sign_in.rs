//! The sign-in page (a token in a password field) and the error page.

use crate::layout::{Frame, Section};
use leptos::prelude::*;

/// The sign-in page; `next` is where to go afterwards, `error` why the last try failed.
pub fn render_sign_in(next: &str, error: Option<&str>) -> String {
    let error =
        error.map(|error| view! { <p class="flash bad" role="alert">{error.to_owned()}</p> });
    let body = view! {
        <h1>"Sign in"</h1>
        {error}
        <form class="action" method="post" action="/sign-in" id="sign-in">
            <input type="hidden" name="next" value=next.to_owned() />
            <label for="token">"Token"</label>
            <input type="password" id="token" name="token" required autocomplete="current-password" autofocus />
            <p class="muted">"Ask an admin for a token (slipway token create). It is kept in a session cookie that scripts cannot read."</p>
            <button type="submit">"Sign in"</button>
        </form>
    }
    .to_html();
    Frame::default().document("Sign in", Section::None, body)
}

/// An error page: what went wrong and a way back.
pub fn render_error(frame: &Frame, title: &str, message: &str) -> String {
    let body = view! {
        <h1>{title.to_owned()}</h1>
        <p class="flash bad" role="alert">{message.to_owned()}</p>
        <p><a href="/">"Back to the overview"</a></p>
    }
    .to_html();
    frame.document(title, Section::None, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_and_error_pages() {
        let html = render_sign_in("/runs?x=\"1\"", Some("invalid or revoked token"));
        assert!(html.contains("<title>Sign in · Slipway</title>"));
        assert!(
            html.contains(r#"type="password" id="token" name="token" required"#),
            "{html}"
        );
        assert!(html.contains("value=\"/runs?x=&quot;1&quot;\""), "{html}");
        assert!(html.contains("invalid or revoked token"));
        let html = render_error(&Frame::default(), "Not found", "deployment 'x' not found");
        assert!(
            html.contains("deployment &#39;x&#39; not found")
                || html.contains("deployment 'x' not found")
        );
    }
}
