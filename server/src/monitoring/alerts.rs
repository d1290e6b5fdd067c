//! Alerts: raised by the guards, stored, listed, acknowledged, and pushed on the event stream.

use crate::audit::{self, Change};
use crate::entity::operations::alert;
use crate::entity::registry::deployment;
use crate::error::{ServiceError, ServiceResult};
use crate::events::EventBus;
use crate::time::{from_millis, now_millis};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use slipway_api::Alert;
use std::collections::HashMap;

/// An alert before it is stored.
#[derive(Debug, Clone)]
pub struct Raise<'a> {
    pub deployment_id: i64,
    pub kind: &'a str,
    pub severity: &'a str,
    pub message: String,
    pub details: serde_json::Value,
}

/// Whether deployment `id` has an unacknowledged alert of `kind`.
pub async fn is_open(
    db: &DatabaseConnection,
    deployment_id: i64,
    kind: &str,
) -> ServiceResult<bool> {
    Ok(alert::Entity::find()
        .filter(alert::Column::DeploymentId.eq(deployment_id))
        .filter(alert::Column::Kind.eq(kind))
        .filter(alert::Column::AcknowledgedAt.is_null())
        .one(db)
        .await?
        .is_some())
}

/// Stores an alert and announces it.
pub async fn raise(
    db: &DatabaseConnection,
    events: &EventBus,
    raise: Raise<'_>,
) -> ServiceResult<i64> {
    tracing::warn!(deployment_id = raise.deployment_id, kind = raise.kind, message = %raise.message, "alert");
    let row = alert::ActiveModel {
        deployment_id: Set(raise.deployment_id),
        kind: Set(raise.kind.to_owned()),
        severity: Set(raise.severity.to_owned()),
        message: Set(raise.message),
        details: Set(raise.details.to_string()),
        created_at: Set(now_millis()),
        acknowledged_by: Set(None),
        acknowledged_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    events.publish("alert", row.id, "raised", Some(raise.severity));
    Ok(row.id)
}

async fn names(db: &DatabaseConnection) -> ServiceResult<HashMap<i64, String>> {
    Ok(deployment::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.id, row.name))
        .collect())
}

fn to_api(row: alert::Model, names: &HashMap<i64, String>) -> Alert {
    Alert {
        id: row.id,
        deployment: names.get(&row.deployment_id).cloned().unwrap_or_default(),
        kind: row.kind,
        severity: row.severity,
        message: row.message,
        details: serde_json::from_str(&row.details).unwrap_or_default(),
        created_at: from_millis(row.created_at),
        acknowledged_by: row.acknowledged_by,
        acknowledged_at: row.acknowledged_at.map(from_millis),
    }
}

/// Alerts, newest first: only unacknowledged ones when `open`, of one deployment if named.
pub async fn list(
    db: &DatabaseConnection,
    deployment_name: Option<&str>,
    open: bool,
    limit: u64,
) -> ServiceResult<Vec<Alert>> {
    let names = names(db).await?;
    let mut query = alert::Entity::find().order_by_desc(alert::Column::Id);
    if let Some(name) = deployment_name {
        let id = names
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| *id)
            .ok_or_else(|| ServiceError::not_found(format!("deployment '{name}' not found")))?;
        query = query.filter(alert::Column::DeploymentId.eq(id));
    }
    if open {
        query = query.filter(alert::Column::AcknowledgedAt.is_null());
    }
    Ok(query
        .limit(limit.clamp(1, 1000))
        .all(db)
        .await?
        .into_iter()
        .map(|row| to_api(row, &names))
        .collect())
}

/// Acknowledges alert `id`.
pub async fn acknowledge(
    db: &DatabaseConnection,
    events: &EventBus,
    actor: &str,
    id: i64,
    reason: Option<&str>,
) -> ServiceResult<Alert> {
    let row = alert::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("alert {id} not found")))?;
    if row.acknowledged_at.is_some() {
        return Err(ServiceError::conflict(format!(
            "alert {id} is already acknowledged"
        )));
    }
    let txn = crate::db::begin_write(db).await?;
    let mut active: alert::ActiveModel = row.into();
    active.acknowledged_by = Set(Some(actor.to_owned()));
    active.acknowledged_at = Set(Some(now_millis()));
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        Change {
            actor,
            action: "alert.acknowledge",
            target_kind: "alert",
            target_id: id.to_string(),
            reason,
            details: None,
        },
    )
    .await?;
    txn.commit().await?;
    events.publish("alert", id, "acknowledged", None);
    Ok(to_api(row, &names(db).await?))
}

#[cfg(test)]
mod tests;
