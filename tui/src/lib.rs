//! Slipway's terminal client, in the spirit of k9s: list views of deployments, models, runs,
//! jobs, workers, schedules, alerts and the audit log; a detail for each; the changes an
//! engineer makes live (promote, roll back, deploy as primary, canary or shadow, cancel, retry,
//! trigger, acknowledge), each confirmed with a reason; and switching between the servers of a
//! contexts file ([`contexts`]).
//!
//! The structure keeps the UI free of logic: [`app::App`] holds the state and changes only
//! through [`app::App::update`] and [`app::App::loaded`]; [`view::draw`] only renders; API
//! calls ([`data::Request`]) run in tasks and answer through a channel; the key bindings live
//! in one table ([`keys::BINDINGS`]) that also feeds the help view and the footer.
//!
//! Modules: `app` (the state and its update: `answers` applies API answers, `ask` the requests
//! a key makes, `open` what `enter` opens, `order` sorting, `contexts` switching servers),
//! `view` (drawing: lists, `detail`, `inspect` (the JSON view), `overlay` (dialogs and
//! help)), `dialog` (confirm forms and their fields), `keys` (the key table), `table`
//! (columns and widths), `data` (requests and answers), `fetch` (runs requests against the
//! API), `live` (the event stream with reconnects), `contexts` (the contexts file), `run`
//! (the terminal loop), `fixtures` (sample data for snapshots and tests).

pub mod app;
pub mod contexts;
pub mod data;
pub mod dialog;
mod fetch;
pub mod fixtures;
pub mod keys;
mod live;
mod run;
pub mod table;
pub mod view;

pub use run::run;
