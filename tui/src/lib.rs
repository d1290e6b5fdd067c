//! Slipway's terminal client. The structure keeps the UI free of logic: [`app::App`] holds
//! the state and changes only through [`app::App::update`]; [`view::draw`] only renders;
//! API calls run in tasks and answer through a channel; the key bindings live in one table
//! ([`keys::BINDINGS`]) that also feeds the help line.

pub mod app;
pub mod keys;
mod run;
pub mod view;

pub use run::run;
