//! Runs: creation, updates, and reading one with everything logged to it (search is in
//! `search`).

use super::experiments;
use crate::audit::{self, Change};
use crate::entity::tracking::{artifact, latest_metric, param, run, tag};
use crate::error::{ServiceError, ServiceResult};
use crate::time::{from_millis, now_millis, to_millis};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use slipway_api::{CreateRun, Run, RunDetail, RunStatus, UpdateRun};
use std::collections::{BTreeMap, HashMap};

/// Longest run name.
const MAX_NAME: usize = 250;

fn run_not_found(id: i64) -> ServiceError {
    ServiceError::not_found(format!("run {id} not found"))
}

fn status_of(row: &run::Model) -> ServiceResult<RunStatus> {
    row.status
        .parse()
        .map_err(|err: String| ServiceError::internal(err))
}

pub(crate) fn to_api(row: run::Model, metrics: BTreeMap<String, f64>) -> ServiceResult<Run> {
    Ok(Run {
        status: status_of(&row)?,
        id: row.id,
        experiment_id: row.experiment_id,
        name: row.name,
        start_time: from_millis(row.start_time),
        end_time: row.end_time.map(from_millis),
        created_by: row.created_by,
        metrics,
    })
}

fn validate_run_name(name: &str) -> ServiceResult<()> {
    if name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(format!(
            "name: expected at most {MAX_NAME} bytes without control characters"
        )));
    }
    Ok(())
}

/// Finds a run or answers 404 naming it.
/// Refuses to change a run that a model version was registered from: its artifacts and status
/// are the version's lineage, so they are frozen (serving also pins digests, but the run's
/// record must not drift from what was registered).
pub async fn ensure_not_frozen(db: &impl ConnectionTrait, id: i64) -> ServiceResult<()> {
    use crate::entity::registry::{model, model_version};
    let Some(version) = model_version::Entity::find()
        .filter(model_version::Column::RunId.eq(id))
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let name = model::Entity::find_by_id(version.model_id)
        .one(db)
        .await?
        .map_or_else(|| version.model_id.to_string(), |m| m.name);
    Err(ServiceError::conflict(format!(
        "run {id} is registered as model {name} v{}; its artifacts and status are frozen",
        version.version
    )))
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> ServiceResult<run::Model> {
    run::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| run_not_found(id))
}

/// Creates a run in the experiment given by id, or by name (created when missing).
pub async fn create(
    db: &DatabaseConnection,
    actor: &str,
    request: &CreateRun,
) -> ServiceResult<Run> {
    if let Some(name) = &request.name {
        validate_run_name(name)?;
    }
    super::logging::validate_pairs(
        "tags",
        request.tags.iter(),
        slipway_api::limits::MAX_TAG_VALUE_LENGTH,
    )?;
    let txn = crate::db::begin_write(db).await?;
    let experiment = match (&request.experiment_id, &request.experiment) {
        (Some(id), _) => experiments::get(&txn, &id.to_string()).await?,
        (None, Some(name)) => experiments::get_or_create(&txn, actor, name).await?,
        (None, None) => experiments::get_or_create(&txn, actor, "default").await?,
    };
    let start_time = request.start_time.map_or_else(now_millis, to_millis);
    let row = run::ActiveModel {
        experiment_id: Set(experiment.id),
        name: Set(request.name.clone().unwrap_or_default()),
        status: Set(RunStatus::Running.as_str().to_owned()),
        start_time: Set(start_time),
        end_time: Set(None),
        created_by: Set(actor.to_owned()),
        dataset_digest: Set(request.dataset_digest.clone()),
        code_version: Set(request.code_version.clone()),
        job_id: Set(request.job_id),
        seed: Set(request.seed),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    // A run without a name gets one that is easy to say and unique enough to find.
    let row = if row.name.is_empty() {
        let mut active = row.into_active_model();
        let id = *active.id.as_ref();
        active.name = Set(format!("run-{id}"));
        active.update(&txn).await?
    } else {
        row
    };
    if !request.tags.is_empty() {
        let tags = request.tags.iter().map(|(key, value)| tag::ActiveModel {
            run_id: Set(row.id),
            key: Set(key.clone()),
            value: Set(value.clone()),
        });
        tag::Entity::insert_many(tags)
            .on_conflict(
                OnConflict::columns([tag::Column::RunId, tag::Column::Key])
                    .update_column(tag::Column::Value)
                    .to_owned(),
            )
            .exec(&txn)
            .await?;
    }
    audit::record(
        &txn,
        Change {
            actor,
            action: "run.create",
            target_kind: "run",
            target_id: row.id.to_string(),
            reason: None,
            details: Some(serde_json::json!({ "experiment_id": experiment.id, "name": row.name })),
        },
    )
    .await?;
    txn.commit().await?;
    to_api(row, BTreeMap::new())
}

/// Changes a run's status, end time or name. Ending a run without an end time stamps now.
pub async fn update(
    db: &DatabaseConnection,
    actor: &str,
    id: i64,
    request: &UpdateRun,
) -> ServiceResult<Run> {
    if let Some(name) = &request.name {
        validate_run_name(name)?;
    }
    let txn = crate::db::begin_write(db).await?;
    let row = find(&txn, id).await?;
    if request.status.is_some() || request.end_time.is_some() {
        ensure_not_frozen(&txn, id).await?;
    }
    let before =
        serde_json::json!({ "status": row.status, "name": row.name, "end_time": row.end_time });
    let mut active = row.into_active_model();
    if let Some(status) = request.status {
        active.status = Set(status.as_str().to_owned());
        if status.is_terminal() && request.end_time.is_none() {
            active.end_time = Set(Some(now_millis()));
        }
        if !status.is_terminal() {
            active.end_time = Set(None);
        }
    }
    if let Some(end_time) = request.end_time {
        let start = *active.start_time.as_ref();
        let end = to_millis(end_time);
        if end < start {
            return Err(ServiceError::invalid(format!(
                "end_time: {end_time} is before the run's start_time {}",
                from_millis(start)
            )));
        }
        active.end_time = Set(Some(end));
    }
    if let Some(name) = &request.name {
        active.name = Set(name.clone());
    }
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        Change {
            actor,
            action: "run.update",
            target_kind: "run",
            target_id: id.to_string(),
            reason: None,
            details: Some(serde_json::json!({
                "before": before,
                "after": { "status": row.status, "name": row.name, "end_time": row.end_time },
            })),
        },
    )
    .await?;
    txn.commit().await?;
    let metrics = latest_metrics(db, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    to_api(row, metrics)
}

/// A run with its params, tags, latest metrics and artifacts.
pub async fn get(db: &DatabaseConnection, id: i64) -> ServiceResult<RunDetail> {
    let row = find(db, id).await?;
    let params = param::Entity::find()
        .filter(param::Column::RunId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect();
    let tags = tag::Entity::find()
        .filter(tag::Column::RunId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    let artifacts = artifact::Entity::find()
        .filter(artifact::Column::RunId.eq(id))
        .order_by_asc(artifact::Column::Path)
        .all(db)
        .await?
        .into_iter()
        .map(super::artifacts::to_api)
        .collect();
    let metrics = latest_metrics(db, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    let (dataset_digest, code_version, seed) = (
        row.dataset_digest.clone(),
        row.code_version.clone(),
        row.seed,
    );
    Ok(RunDetail {
        run: to_api(row, metrics)?,
        params,
        tags,
        artifacts,
        dataset_digest,
        code_version,
        seed,
    })
}

/// The latest value of each metric of each of `run_ids`.
pub(crate) async fn latest_metrics(
    db: &DatabaseConnection,
    run_ids: &[i64],
) -> ServiceResult<HashMap<i64, BTreeMap<String, f64>>> {
    let mut by_run: HashMap<i64, BTreeMap<String, f64>> = HashMap::new();
    if run_ids.is_empty() {
        return Ok(by_run);
    }
    let rows = latest_metric::Entity::find()
        .filter(latest_metric::Column::RunId.is_in(run_ids.iter().copied()))
        .all(db)
        .await?;
    for row in rows {
        by_run
            .entry(row.run_id)
            .or_default()
            .insert(row.key, row.value);
    }
    Ok(by_run)
}

/// The parameters of each of `run_ids` (a page of runs), in one query.
pub async fn params_of(
    db: &DatabaseConnection,
    run_ids: &[i64],
) -> ServiceResult<BTreeMap<i64, BTreeMap<String, String>>> {
    let mut out: BTreeMap<i64, BTreeMap<String, String>> = BTreeMap::new();
    if run_ids.is_empty() {
        return Ok(out);
    }
    let rows = param::Entity::find()
        .filter(param::Column::RunId.is_in(run_ids.iter().copied()))
        .all(db)
        .await?;
    for row in rows {
        out.entry(row.run_id)
            .or_default()
            .insert(row.key, row.value);
    }
    Ok(out)
}

/// Marks run `id` deleted (its data kept, hidden from the MLflow API's default searches) or
/// restores it.
pub async fn set_deleted(
    db: &DatabaseConnection,
    actor: &str,
    id: i64,
    deleted: bool,
) -> ServiceResult<run::Model> {
    let txn = crate::db::begin_write(db).await?;
    let row = find(&txn, id).await?;
    let mut active = row.into_active_model();
    active.deleted_at = Set(deleted.then(now_millis));
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        Change {
            actor,
            action: if deleted { "run.delete" } else { "run.restore" },
            target_kind: "run",
            target_id: id.to_string(),
            reason: None,
            details: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Removes tag `key` from run `id`; a tag that is not there is a 404 naming it.
pub async fn delete_tag(
    db: &DatabaseConnection,
    actor: &str,
    id: i64,
    key: &str,
) -> ServiceResult<()> {
    super::logging::validate_key("key", key)?;
    let txn = crate::db::begin_write(db).await?;
    find(&txn, id).await?;
    let removed = tag::Entity::delete_by_id((id, key.to_owned()))
        .exec(&txn)
        .await?;
    if removed.rows_affected == 0 {
        return Err(ServiceError::not_found(format!(
            "run {id} has no tag '{key}'"
        )));
    }
    audit::record(
        &txn,
        Change {
            actor,
            action: "run.tag.delete",
            target_kind: "run",
            target_id: id.to_string(),
            reason: None,
            details: Some(serde_json::json!({ "key": key })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The tags of each of `run_ids` (a page of runs), in one query.
pub async fn tags_of(
    db: &DatabaseConnection,
    run_ids: &[i64],
) -> ServiceResult<BTreeMap<i64, BTreeMap<String, String>>> {
    let mut out: BTreeMap<i64, BTreeMap<String, String>> = BTreeMap::new();
    if run_ids.is_empty() {
        return Ok(out);
    }
    let rows = tag::Entity::find()
        .filter(tag::Column::RunId.is_in(run_ids.iter().copied()))
        .all(db)
        .await?;
    for row in rows {
        out.entry(row.run_id)
            .or_default()
            .insert(row.key, row.value);
    }
    Ok(out)
}

/// The latest point (value, step and time) of each metric of each of `run_ids`, in one query.
pub async fn latest_points_of(
    db: &DatabaseConnection,
    run_ids: &[i64],
) -> ServiceResult<Vec<latest_metric::Model>> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(latest_metric::Entity::find()
        .filter(latest_metric::Column::RunId.is_in(run_ids.iter().copied()))
        .order_by_asc(latest_metric::Column::Key)
        .all(db)
        .await?)
}

/// The stored rows of `run_ids` (a page of runs), in one query.
pub async fn rows_of(db: &DatabaseConnection, run_ids: &[i64]) -> ServiceResult<Vec<run::Model>> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(run::Entity::find()
        .filter(run::Column::Id.is_in(run_ids.iter().copied()))
        .all(db)
        .await?)
}
