//! Several server replicas on one database: what they coordinate beyond the rows they share.
//!
//! - `leader`: leader election through the database. The loops that must act once per tick
//!   across all replicas (the lease reaper, blob collection, the SLO guard and drift checks,
//!   schedule firing) run their work only on the replica that holds the `maintenance` role;
//!   another takes it over within seconds when the holder dies. On SQLite (one process) the
//!   same code always wins.
//! - `relay`: on PostgreSQL, live events published on one replica reach every other one's
//!   subscribers (`NOTIFY`/`LISTEN`), and a deployment change there starts this replica's
//!   serving sync at once.
//!
//! Each replica has an id, random per boot, that names it in the leader table and in the
//! events it relays.

pub mod leader;
pub mod relay;

/// A new replica id: 64 random bits in hex, unique per boot.
pub fn new_replica_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
