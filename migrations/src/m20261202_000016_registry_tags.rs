//! Tags of registered models and of model versions, as the MLflow API sets and deletes them
//! (`registered-models/set-tag`, `model-versions/set-tag`, …) and returns them with the model
//! or version. A row belongs to a model (`model_id`) or to a version (`model_version_id`), and
//! goes with it.

use crate::helpers::{create_all, drop_all, fk, index, millis, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            table("registry_tags")
                .col(big_pk_auto("id"))
                .col(big_integer_null("model_id"))
                .col(big_integer_null("model_version_id"))
                .col(string("key"))
                .col(text("value"))
                .col(millis("updated_at"))
                .foreign_key(&mut fk(
                    "registry_tags",
                    "model_id",
                    "models",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "registry_tags",
                    "model_version_id",
                    "model_versions",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        ];
        let indexes = vec![
            index("registry_tags", &["model_id"], false),
            index("registry_tags", &["model_version_id"], false),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["registry_tags"]).await
    }
}
