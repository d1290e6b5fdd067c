//! The dashboard's browser bundle, built and embedded by the build script: served under
//! `/pkg/{version}/…` so each build's files can be cached for good, gzipped for browsers that
//! accept it. A binary built without the bundle serves the pages without scripts.

use axum::extract::Path;
use axum::http::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The embedded files of one bundle build.
pub struct Bundle {
    pub js: &'static [u8],
    pub js_gz: &'static [u8],
    pub wasm: &'static [u8],
    pub wasm_gz: &'static [u8],
    /// A digest of the files: part of every asset's URL.
    pub version: &'static str,
    /// Whether `wasm-opt` shrank the wasm.
    pub optimized: bool,
}

// Defines `BUNDLE: Result<Bundle, &str>`, the error saying why the build has no bundle.
include!(concat!(env!("OUT_DIR"), "/web_bundle.rs"));

/// The version pages load, when the binary has a bundle.
pub fn version() -> Option<&'static str> {
    BUNDLE.as_ref().ok().map(|bundle| bundle.version)
}

/// Says at start-up whether the dashboard is live or server-rendered only.
pub fn log_status() {
    match &BUNDLE {
        Ok(bundle) => tracing::info!(
            version = bundle.version,
            wasm_bytes = bundle.wasm.len(),
            wasm_gzip_bytes = bundle.wasm_gz.len(),
            js_gzip_bytes = bundle.js_gz.len(),
            optimized = bundle.optimized,
            "dashboard bundle embedded: pages update live"
        ),
        Err(reason) => tracing::warn!(
            reason,
            "this build has no dashboard bundle: pages are served without scripts and do not \
             update live"
        ),
    }
}

/// `GET /pkg/{version}/{file}`.
pub async fn asset(Path((version, file)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Ok(bundle) = &BUNDLE else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Another build's file: the page that asked is stale and must not cache this answer.
    if version != bundle.version {
        return (
            StatusCode::NOT_FOUND,
            [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        )
            .into_response();
    }
    let (plain, gzipped, content_type): (&[u8], Option<&[u8]>, &str) = match file.as_str() {
        "slipway_web.js" => (bundle.js, Some(bundle.js_gz), "text/javascript"),
        "slipway_web_bg.wasm" => (bundle.wasm, Some(bundle.wasm_gz), "application/wasm"),
        "loader.js" => (slipway_web::LOADER_JS.as_bytes(), None, "text/javascript"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let accepts_gzip = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| {
            value
                .split(',')
                .any(|coding| coding.trim().starts_with("gzip"))
        });
    let mut response = match gzipped {
        Some(gzipped) if accepts_gzip => {
            let mut response = gzipped.into_response();
            response
                .headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
        _ => plain.into_response(),
    };
    let response_headers = response.headers_mut();
    response_headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response_headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    response_headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
