//! Experiments: named groups of runs.

use crate::audit::{self, Change};
use crate::entity::tracking::experiment;
use crate::error::{ServiceError, ServiceResult, conflict_on_unique};
use crate::pagination;
use crate::time::{from_millis, now_millis};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use slipway_api::{CreateExperiment, Experiment, Page};

/// Longest experiment name.
const MAX_NAME: usize = 200;

/// Checks an experiment name: not blank, not too long, and not all digits (an all-digit
/// reference means an id).
pub fn validate_name(name: &str) -> ServiceResult<()> {
    if name.trim().is_empty() {
        return Err(ServiceError::invalid(
            "name: expected a non-empty experiment name",
        ));
    }
    if name.len() > MAX_NAME {
        return Err(ServiceError::invalid(format!(
            "name: expected at most {MAX_NAME} bytes, got {}",
            name.len()
        )));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(ServiceError::invalid(format!(
            "name: '{name}' is all digits, which would read as an id; add a letter"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "name: control characters are not allowed",
        ));
    }
    Ok(())
}

pub fn to_api(row: experiment::Model) -> Experiment {
    Experiment {
        id: row.id,
        name: row.name,
        description: row.description,
        created_at: from_millis(row.created_at),
        updated_at: from_millis(row.updated_at),
    }
}

/// Creates an experiment.
pub async fn create(
    db: &DatabaseConnection,
    actor: &str,
    request: &CreateExperiment,
) -> ServiceResult<Experiment> {
    validate_name(&request.name)?;
    let txn = crate::db::begin_write(db).await?;
    let row = insert(&txn, &request.name, request.description.clone())
        .await
        .map_err(|err| match err {
            ServiceError::Database(err) => conflict_on_unique(err, || {
                format!("an experiment named '{}' already exists", request.name)
            }),
            other => other,
        })?;
    record_created(&txn, actor, &row).await?;
    txn.commit().await?;
    Ok(to_api(row))
}

async fn insert(
    db: &impl ConnectionTrait,
    name: &str,
    description: Option<String>,
) -> ServiceResult<experiment::Model> {
    let now = now_millis();
    let row = experiment::ActiveModel {
        name: Set(name.to_owned()),
        description: Set(description),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

async fn record_created(
    db: &impl ConnectionTrait,
    actor: &str,
    row: &experiment::Model,
) -> ServiceResult<()> {
    audit::record(
        db,
        Change {
            actor,
            action: "experiment.create",
            target_kind: "experiment",
            target_id: row.id.to_string(),
            reason: None,
            details: Some(serde_json::json!({ "name": row.name })),
        },
    )
    .await
}

/// Finds an experiment by id (all digits) or name.
pub async fn get(db: &impl ConnectionTrait, id_or_name: &str) -> ServiceResult<experiment::Model> {
    let query = match id_or_name.parse::<i64>() {
        Ok(id) => experiment::Entity::find_by_id(id),
        Err(_) => experiment::Entity::find().filter(experiment::Column::Name.eq(id_or_name)),
    };
    // `all` rather than `one`: ids and names are unique, and `one` binds a LIMIT, which makes
    // SQLite compile the statement again on every call (it plans a bound LIMIT by its value);
    // the MLflow API resolves an experiment on most of its calls.
    query
        .all(db)
        .await?
        .pop()
        .ok_or_else(|| not_found(id_or_name))
}

/// The answer for an experiment, named by id or name, that does not exist.
pub fn not_found(id_or_name: &str) -> ServiceError {
    ServiceError::not_found(format!("experiment '{id_or_name}' not found"))
}

/// Finds the experiment named `name`, creating it when missing (for runs that name theirs).
pub async fn get_or_create(
    db: &impl ConnectionTrait,
    actor: &str,
    name: &str,
) -> ServiceResult<experiment::Model> {
    validate_name(name)?;
    if let Some(row) = experiment::Entity::find()
        .filter(experiment::Column::Name.eq(name))
        .one(db)
        .await?
    {
        return Ok(row);
    }
    let row = insert(db, name, None).await?;
    record_created(db, actor, &row).await?;
    Ok(row)
}

/// Experiments in id order.
pub async fn list(
    db: &DatabaseConnection,
    limit: Option<u32>,
    page_token: Option<&str>,
) -> ServiceResult<Page<Experiment>> {
    let limit = pagination::limit(limit)?;
    let mut query = experiment::Entity::find().order_by_asc(experiment::Column::Id);
    if let Some(after) = pagination::decode_after_id(page_token)? {
        query = query.filter(experiment::Column::Id.gt(after));
    }
    let rows = query.limit(limit + 1).all(db).await?;
    let experiments = rows.into_iter().map(to_api).collect();
    Ok(pagination::keyset_page(
        experiments,
        limit,
        |e: &Experiment| e.id,
    ))
}

/// The names of the experiments `ids`, in one query (ids that name none are left out).
pub async fn names(
    db: &DatabaseConnection,
    ids: &[i64],
) -> ServiceResult<std::collections::BTreeMap<i64, String>> {
    if ids.is_empty() {
        return Ok(std::collections::BTreeMap::new());
    }
    let rows = experiment::Entity::find()
        .filter(experiment::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.name)).collect())
}

/// Renames experiment `id`.
pub async fn rename(
    db: &DatabaseConnection,
    actor: &str,
    id: i64,
    new_name: &str,
) -> ServiceResult<experiment::Model> {
    validate_name(new_name)?;
    let txn = crate::db::begin_write(db).await?;
    let row = get(&txn, &id.to_string()).await?;
    let before = row.name.clone();
    let mut active: experiment::ActiveModel = row.into();
    active.name = Set(new_name.to_owned());
    active.updated_at = Set(now_millis());
    let row = active.update(&txn).await.map_err(|err| {
        conflict_on_unique(err, || {
            format!("an experiment named '{new_name}' already exists")
        })
    })?;
    audit::record(
        &txn,
        Change {
            actor,
            action: "experiment.rename",
            target_kind: "experiment",
            target_id: id.to_string(),
            reason: None,
            details: Some(serde_json::json!({ "before": before, "after": new_name })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Marks experiment `id` deleted (its data kept, hidden from the MLflow API's default views)
/// or restores it.
pub async fn set_deleted(
    db: &DatabaseConnection,
    actor: &str,
    id: i64,
    deleted: bool,
) -> ServiceResult<experiment::Model> {
    let txn = crate::db::begin_write(db).await?;
    let row = get(&txn, &id.to_string()).await?;
    let now = now_millis();
    let mut active: experiment::ActiveModel = row.into();
    active.deleted_at = Set(deleted.then_some(now));
    active.updated_at = Set(now);
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        Change {
            actor,
            action: if deleted {
                "experiment.delete"
            } else {
                "experiment.restore"
            },
            target_kind: "experiment",
            target_id: id.to_string(),
            reason: None,
            details: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Every experiment row in id order (the MLflow API filters and pages them itself: there are
/// few experiments, and its filter on them is a small language of its own).
pub async fn all(db: &DatabaseConnection) -> ServiceResult<Vec<experiment::Model>> {
    Ok(experiment::Entity::find()
        .order_by_asc(experiment::Column::Id)
        .all(db)
        .await?)
}
