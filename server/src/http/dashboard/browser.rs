//! What the dashboard tells browsers and checks of them, apart from the session itself: the
//! security headers of every response (a Content-Security-Policy that allows only this
//! server's scripts, no framing), whether a sign-in post comes from the dashboard's own page,
//! whether a sign-in's `next` is a path on this site, and whether the request came over TLS
//! (for the cookie's `Secure`).

use axum::http::header::{
    CONTENT_SECURITY_POLICY, HOST, ORIGIN, REFERER, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::Response;

/// Scripts only from this server — the loader and the wasm-bindgen glue under `/pkg/` —, and
/// `'wasm-unsafe-eval'` to compile the bundle's WebAssembly (it allows no JavaScript `eval`).
/// Pages carry their stylesheet in a `<style>` element and the charts and traffic bars set
/// `style` attributes, hence `'unsafe-inline'` for styles only. The live island fetches pages
/// and the event stream from this server. No page may be framed (clickjacking), no `<base>`
/// may move relative links, and forms post only here.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to a dashboard response.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    // For browsers that predate `frame-ancestors`.
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Whether the request reached us over TLS: only a TLS-terminating proxy in front can tell, by
/// `X-Forwarded-Proto: https`. A forged header can only add `Secure` to a cookie, which makes
/// it stricter, so it is safe to believe.
pub fn came_over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The `host[:port]` of an `http(s)` URL, lower-cased, without the scheme's default port.
fn authority_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let default_port = match uri.scheme_str()? {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = uri.authority()?;
    let host = authority.host().to_ascii_lowercase();
    Some(match authority.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host,
    })
}

/// The `host[:port]` this request was sent to, as the browser saw it: a proxy's
/// `X-Forwarded-Host` first (a browser's form post cannot set it), else `Host`.
fn own_authority(headers: &HeaderMap, tls: bool) -> Option<String> {
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(HOST))?
        .to_str()
        .ok()?
        .split(',')
        .next()?
        .trim();
    let scheme = if tls { "https" } else { "http" };
    authority_of(&format!("{scheme}://{host}/"))
}

/// Why a sign-in post is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossOrigin {
    /// `Origin` names another site, or is `null` (a sandboxed frame, a `data:` page, a
    /// redirect across sites): nothing the dashboard's own form sends.
    Origin,
    /// No `Origin`, and a `Referer` from another site.
    Referer,
}

/// Checks that a sign-in post comes from this site's own page, so another site cannot sign a
/// visitor in to an account of its choosing (login CSRF). Browsers send `Origin` on every
/// cross-origin post; without one, the client is not a current browser (a script, curl) or
/// strips it, and a `Referer`, when sent, must then be ours. A post with neither is allowed:
/// no browser sends such a post across sites, and it must still carry a valid token.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), CrossOrigin> {
    let tls = came_over_tls(headers);
    let ours = own_authority(headers, tls);
    let same = |url: &str| authority_of(url).is_some_and(|theirs| Some(theirs) == ours);
    if let Some(origin) = headers.get(ORIGIN) {
        return match origin.to_str() {
            Ok(origin) if same(origin) => Ok(()),
            _ => Err(CrossOrigin::Origin),
        };
    }
    match headers.get(REFERER) {
        None => Ok(()),
        Some(referer) => match referer.to_str() {
            Ok(referer) if same(referer) => Ok(()),
            _ => Err(CrossOrigin::Referer),
        },
    }
}

/// Where to go after signing in: a path on this site, else the overview. Refused: anything
/// not starting with one `/` (`//host` and `/\host` lead off-site), any backslash, and any
/// control character or space — browsers drop tabs and newlines from URLs, so `/\t/evil` would
/// become `//evil`.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(path) = next else {
        return "/".to_owned();
    };
    let on_site = path.starts_with('/')
        && !path.starts_with("//")
        && !path
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
        && path.parse::<axum::http::uri::PathAndQuery>().is_ok();
    if on_site {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn next_is_a_path_on_this_site() {
        assert_eq!(safe_next(Some("/runs?x=1")), "/runs?x=1");
        assert_eq!(safe_next(Some("/runs?filter=a%20b")), "/runs?filter=a%20b");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "\\\\evil.example",
            "/ /evil.example",
            "/\u{0}x",
            "/\u{7f}x",
            "/\u{85}x",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        let host = [("host", "127.0.0.1:8080")];
        let ok = |pairs: &[(&'static str, &'static str)]| {
            let mut all = headers(&host);
            all.extend(headers(pairs));
            check_same_origin(&all)
        };
        assert_eq!(ok(&[("origin", "http://127.0.0.1:8080")]), Ok(()));
        assert_eq!(
            ok(&[("origin", "http://evil.example")]),
            Err(CrossOrigin::Origin)
        );
        assert_eq!(ok(&[("origin", "null")]), Err(CrossOrigin::Origin));
        assert_eq!(
            ok(&[("origin", "http://127.0.0.1:9090")]),
            Err(CrossOrigin::Origin)
        );
        assert_eq!(ok(&[]), Ok(()));
        assert_eq!(
            ok(&[("referer", "http://127.0.0.1:8080/sign-in?next=%2F")]),
            Ok(())
        );
        assert_eq!(
            ok(&[("referer", "http://evil.example/page")]),
            Err(CrossOrigin::Referer)
        );
        // Behind a TLS proxy that forwards the public host.
        let proxied = headers(&[
            ("host", "10.0.0.5:8080"),
            ("x-forwarded-host", "slipway.example"),
            ("x-forwarded-proto", "https"),
            ("origin", "https://slipway.example"),
        ]);
        assert_eq!(check_same_origin(&proxied), Ok(()));
        assert!(came_over_tls(&proxied));
        assert!(!came_over_tls(&headers(&host)));
    }
}
