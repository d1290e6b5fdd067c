//! Experiment tags: a value per key on an experiment, set and deleted through the MLflow API
//! (`set-experiment-tag`, `delete-experiment-tag`) and read back with the experiment.

use crate::entity::tracking::experiment_tag;
use crate::error::{ServiceError, ServiceResult};
use crate::time::now_millis;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::collections::HashMap;

/// The longest key and value accepted (MLflow's limits).
const MAX_KEY: usize = 250;
const MAX_VALUE: usize = 5000;

/// Refuses a key that is empty or longer than MLflow allows, or a value that is too long.
pub fn check_tag(key: &str, value: &str) -> ServiceResult<()> {
    if key.trim().is_empty() || key.len() > MAX_KEY {
        return Err(ServiceError::invalid(format!(
            "key: expected 1 to {MAX_KEY} characters, got {}",
            key.len()
        )));
    }
    if value.len() > MAX_VALUE {
        return Err(ServiceError::invalid(format!(
            "value: expected at most {MAX_VALUE} characters, got {}",
            value.len()
        )));
    }
    Ok(())
}

/// Sets `key` on the experiment (replacing its value).
pub async fn set(
    db: &DatabaseConnection,
    experiment_id: i64,
    key: &str,
    value: &str,
) -> ServiceResult<()> {
    check_tag(key, value)?;
    let row = experiment_tag::ActiveModel {
        experiment_id: Set(experiment_id),
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
        updated_at: Set(now_millis()),
        ..Default::default()
    };
    // One statement on both backends: insert, or replace the key's value.
    experiment_tag::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                experiment_tag::Column::ExperimentId,
                experiment_tag::Column::Key,
            ])
            .update_columns([
                experiment_tag::Column::Value,
                experiment_tag::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes `key` from the experiment; a key it does not have is not found.
pub async fn delete(db: &DatabaseConnection, experiment_id: i64, key: &str) -> ServiceResult<()> {
    let deleted = experiment_tag::Entity::delete_many()
        .filter(experiment_tag::Column::ExperimentId.eq(experiment_id))
        .filter(experiment_tag::Column::Key.eq(key))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(ServiceError::not_found(format!(
            "experiment {experiment_id} has no tag '{key}'"
        )));
    }
    Ok(())
}

/// The tags of each of `ids`, by key.
pub async fn of(
    db: &DatabaseConnection,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<(String, String)>>> {
    let mut tags: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    // In chunks: a query's parameters are bounded (SQLite: 32,766).
    for chunk in ids.chunks(1000) {
        let rows = experiment_tag::Entity::find()
            .filter(experiment_tag::Column::ExperimentId.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for row in rows {
            tags.entry(row.experiment_id)
                .or_default()
                .push((row.key, row.value));
        }
    }
    for list in tags.values_mut() {
        list.sort();
    }
    Ok(tags)
}
