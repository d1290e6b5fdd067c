//! Slipway's web dashboard: what is live, how healthy it is, what changed, and one-click
//! rollback. Pages are leptos components rendered to HTML strings on the server (the `ssr`
//! feature); they work fully without scripts: every action is an HTML form. The crate takes
//! plain data (`slipway-api` types and the small view structs of each page) and knows nothing
//! of the database or the HTTP server.

pub mod charts;
pub mod layout;
pub mod pages;

pub use layout::{Flash, Frame, Section, Session};
pub use pages::*;
