//! sea-orm entities, one per table of the `migration` crate. Relations are expressed as
//! foreign keys in the schema and as explicit queries in the services.

pub mod auth;
pub mod cluster;
pub mod job_columns;
pub mod operations;
pub mod registry;
pub mod tracking;
