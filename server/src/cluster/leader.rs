//! Leader election through the database: one row per role in `leaders`, holding the replica
//! that has it and until when. A replica takes or renews the role with one conditional
//! statement (an `UPDATE … WHERE holder = me OR expires_at < now`, or, the first time, an
//! `INSERT … ON CONFLICT DO NOTHING`), both atomic on SQLite and PostgreSQL alike, so at most
//! one replica wins a term. It renews every second; a replica that cannot renew stops acting
//! before its term ends, and another takes over once the term has expired.
//!
//! Terms are wall-clock times written by the holder and compared by the others, so the
//! replicas' clocks must agree to well within [`TERM`] minus [`MARGIN`] (NTP does).

use crate::entity::cluster::leader;
use crate::time::now_millis;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The role of the replica that runs the once-per-tick loops.
pub const MAINTENANCE: &str = "maintenance";
/// How long a term lasts without renewal: the longest the loops pause when a leader dies.
pub const TERM: Duration = Duration::from_secs(5);
/// How often the holder renews (and the others try to take over).
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How much sooner than its term a leader stops acting on its own, so that a slow renewal
/// or a small clock difference never gives two replicas the role at once.
const MARGIN: Duration = Duration::from_secs(1);

/// This replica's standing for one role; cheap to clone.
#[derive(Debug, Clone)]
pub struct Leadership {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: DatabaseConnection,
    role: &'static str,
    replica: String,
    /// Until when (this process's monotonic clock) this replica may act; `None` when it does
    /// not hold the role.
    acting_until: Mutex<Option<Instant>>,
}

impl Leadership {
    /// The standing of `replica` for `role`; it holds nothing until [`Self::try_acquire`]
    /// (or the loop of [`Self::spawn`]) wins.
    pub fn new(db: DatabaseConnection, role: &'static str, replica: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                role,
                replica,
                acting_until: Mutex::new(None),
            }),
        }
    }

    /// This replica's id.
    pub fn replica(&self) -> &str {
        &self.inner.replica
    }

    /// Whether this replica holds the role now and may act on it.
    pub fn is_leader(&self) -> bool {
        self.acting_until()
            .is_some_and(|until| Instant::now() < until)
    }

    fn acting_until(&self) -> Option<Instant> {
        // The value is replaced whole, so a poisoned lock still holds a valid one.
        *self
            .inner
            .acting_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_acting_until(&self, until: Option<Instant>) {
        *self
            .inner
            .acting_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = until;
    }

    /// Takes the role if it is free or expired, or renews it if this replica holds it;
    /// returns whether this replica holds it now. An error leaves the current term running
    /// out on its own.
    pub async fn try_acquire(&self) -> Result<bool, DbErr> {
        // Measured before the statement: the term the database records starts no earlier.
        let started = Instant::now();
        let now = now_millis();
        let expires_at = now + TERM.as_millis() as i64;
        let replica = self.inner.replica.as_str();
        let renewed = leader::Entity::update_many()
            .col_expr(leader::Column::Holder, Expr::val(replica))
            .col_expr(leader::Column::ExpiresAt, Expr::val(expires_at))
            .filter(leader::Column::Role.eq(self.inner.role))
            .filter(
                Condition::any()
                    .add(leader::Column::Holder.eq(replica))
                    .add(leader::Column::ExpiresAt.lt(now)),
            )
            .exec(&self.inner.db)
            .await?
            .rows_affected
            == 1;
        let won = renewed || {
            // No row yet (the first replica ever): the insert wins once, whoever races it.
            let row = leader::ActiveModel {
                role: Set(self.inner.role.to_owned()),
                holder: Set(replica.to_owned()),
                expires_at: Set(expires_at),
            };
            leader::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(leader::Column::Role)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&self.inner.db)
                .await?
                == 1
        };
        let was_leader = self.is_leader();
        self.set_acting_until(won.then(|| started + TERM - MARGIN));
        if won != was_leader {
            tracing::info!(
                role = self.inner.role,
                replica,
                leader = won,
                "leadership changed"
            );
        }
        Ok(won)
    }

    /// Gives the role up (at a clean shutdown), so another replica takes it at once instead
    /// of after the term.
    pub async fn release(&self) -> Result<(), DbErr> {
        self.set_acting_until(None);
        leader::Entity::update_many()
            .col_expr(leader::Column::ExpiresAt, Expr::val(0_i64))
            .filter(leader::Column::Role.eq(self.inner.role))
            .filter(leader::Column::Holder.eq(self.inner.replica.as_str()))
            .exec(&self.inner.db)
            .await?;
        Ok(())
    }

    /// Takes or renews the role every [`RENEW_EVERY`] until shutdown, then releases it; the
    /// task ends once released.
    pub fn spawn(
        &self,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let leadership = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RENEW_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = shutdown.wait_for(|stopping| *stopping) => break,
                }
                if let Err(err) = leadership.try_acquire().await {
                    tracing::warn!(role = leadership.inner.role, error = %err, "cannot renew the leadership");
                }
            }
            if let Err(err) = leadership.release().await {
                tracing::warn!(error = %err, "cannot release the leadership");
            }
        })
    }
}

#[cfg(test)]
mod tests;
