//! The audit log: who did what to which object, when, and why. Append-only.

use crate::entity::auth::audit_event;
use crate::error::ServiceResult;
use crate::pagination;
use crate::time::{from_millis, now_millis};
use sea_orm::{
    ActiveValue::Set, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use sea_orm::{ColumnTrait, DatabaseConnection};
use slipway_api::{AuditEvent, Page};

/// One audited change, before it is stored.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: String,
    pub reason: Option<&'a str>,
    pub details: Option<serde_json::Value>,
}

/// Appends `change` to the audit log, on `db` or inside the caller's transaction so that the
/// change and its record commit together.
pub async fn record(db: &impl ConnectionTrait, change: Change<'_>) -> ServiceResult<()> {
    let row = audit_event::ActiveModel {
        at: Set(now_millis()),
        actor: Set(change.actor.to_owned()),
        action: Set(change.action.to_owned()),
        target_kind: Set(change.target_kind.to_owned()),
        target_id: Set(change.target_id),
        reason: Set(change.reason.map(str::to_owned)),
        details: Set(change.details.map(|details| details.to_string())),
        ..Default::default()
    };
    audit_event::Entity::insert(row).exec(db).await?;
    Ok(())
}

/// The actions that change what runs (deploys, promotions, rollbacks, SLO policies, alerts,
/// schedules, aliases, job cancels and retries, drained workers), by prefix: what a person
/// glancing at recent changes asks about, unlike uploads and run bookkeeping.
pub const OPERATIONS: [&str; 7] = [
    "deployment.",
    "alert.",
    "schedule.",
    "model.alias.",
    "job.cancel",
    "job.retry",
    "worker.",
];

/// The newest `limit` operations ([`OPERATIONS`]) of the audit log, newest first.
pub async fn operations(db: &DatabaseConnection, limit: u64) -> ServiceResult<Vec<AuditEvent>> {
    let mut any = Condition::any();
    for prefix in OPERATIONS {
        any = any.add(audit_event::Column::Action.starts_with(prefix));
    }
    let rows = audit_event::Entity::find()
        .filter(any)
        .order_by_desc(audit_event::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(to_api).collect())
}

/// The audit log, newest first.
pub async fn list(
    db: &DatabaseConnection,
    limit: Option<u32>,
    page_token: Option<&str>,
) -> ServiceResult<Page<AuditEvent>> {
    let limit = pagination::limit(limit)?;
    let mut query = audit_event::Entity::find().order_by_desc(audit_event::Column::Id);
    if let Some(before) = pagination::decode_after_id(page_token)? {
        query = query.filter(audit_event::Column::Id.lt(before));
    }
    let rows = query.limit(limit + 1).all(db).await?;
    let events = rows.into_iter().map(to_api).collect();
    Ok(pagination::keyset_page(
        events,
        limit,
        |event: &AuditEvent| event.id,
    ))
}

fn to_api(row: audit_event::Model) -> AuditEvent {
    AuditEvent {
        id: row.id,
        at: from_millis(row.at),
        actor: row.actor,
        action: row.action,
        target_kind: row.target_kind,
        target_id: row.target_id,
        reason: row.reason,
        details: row
            .details
            .and_then(|text| serde_json::from_str(&text).ok()),
    }
}
