//! Tags of registered models and model versions: a value per key, set and deleted through the
//! MLflow API and returned with the model or version.

use crate::entity::registry::registry_tag;
use crate::error::{ServiceError, ServiceResult};
use crate::time::now_millis;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::SimpleExpr,
};

/// What a tag belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    /// A registered model, by id.
    Model(i64),
    /// A model version, by its row id.
    Version(i64),
}

impl Owner {
    fn condition(self) -> SimpleExpr {
        match self {
            Self::Model(id) => registry_tag::Column::ModelId.eq(id),
            Self::Version(id) => registry_tag::Column::ModelVersionId.eq(id),
        }
    }
}

/// Sets `key` (replacing its value).
pub async fn set(
    db: &DatabaseConnection,
    owner: Owner,
    key: &str,
    value: &str,
) -> ServiceResult<()> {
    crate::tracking::experiment_tags::check_tag(key, value)?;
    // Replace in one transaction: the old value never shows beside the new one.
    let txn = crate::db::begin_write(db).await?;
    registry_tag::Entity::delete_many()
        .filter(owner.condition())
        .filter(registry_tag::Column::Key.eq(key))
        .exec(&txn)
        .await?;
    let (model_id, model_version_id) = match owner {
        Owner::Model(id) => (Some(id), None),
        Owner::Version(id) => (None, Some(id)),
    };
    registry_tag::ActiveModel {
        model_id: Set(model_id),
        model_version_id: Set(model_version_id),
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
        updated_at: Set(now_millis()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes `key`; a key that is not set is not found.
pub async fn delete(db: &DatabaseConnection, owner: Owner, key: &str) -> ServiceResult<()> {
    let deleted = registry_tag::Entity::delete_many()
        .filter(owner.condition())
        .filter(registry_tag::Column::Key.eq(key))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(ServiceError::not_found(format!("no tag '{key}' is set")));
    }
    Ok(())
}

/// The owner's tags, by key.
pub async fn of(db: &DatabaseConnection, owner: Owner) -> ServiceResult<Vec<(String, String)>> {
    let mut tags: Vec<(String, String)> = registry_tag::Entity::find()
        .filter(owner.condition())
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.key, row.value))
        .collect();
    tags.sort();
    Ok(tags)
}
