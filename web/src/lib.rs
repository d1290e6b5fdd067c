//! Slipway's web dashboard: what is live, how healthy it is, what changed, and one-click
//! rollback. Pages are leptos components rendered to HTML strings on the server (the `ssr`
//! feature); they work fully without scripts: every action is an HTML form. The crate takes
//! plain data (`slipway-api` types and the small view structs of each page) and knows nothing
//! of the database or the HTTP server.
//!
//! The `hydrate` feature builds the browser bundle (wasm32-unknown-unknown): only the
//! [`islands`] are hydrated, so the bundle stays small and a page without scripts loses nothing
//! but liveness.
//!
//! Modules: `layout` (the page shell, navigation, breadcrumbs, titles), `pages` (one module
//! per page: overview, deployment, runs, compare, models, jobs, operations, sign-in, and their
//! fixtures), `charts` (server-rendered SVG charts with axes, hover values and revision
//! markers), `heatmap` (drift per feature and hour), `sparkline` (the overview's inline trend lines) and `islands` (the hydrated live parts).

#[cfg(feature = "ssr")]
pub mod charts;
#[cfg(feature = "ssr")]
pub mod heatmap;
pub mod islands;
#[cfg(feature = "ssr")]
pub mod layout;
#[cfg(feature = "ssr")]
pub mod pages;
#[cfg(feature = "ssr")]
pub mod sparkline;

#[cfg(feature = "ssr")]
pub use layout::{Flash, Frame, Section, Session};
#[cfg(feature = "ssr")]
pub use pages::*;

/// The script that loads the bundle and hydrates the page's islands, served beside the
/// bundle's own files.
#[cfg(feature = "ssr")]
pub const LOADER_JS: &str = include_str!("../assets/loader.js");

/// The bundle's entry point, called once by the loader before any island is hydrated.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn start() {
    leptos::mount::hydrate_islands();
}
