//! Experiment tags, as the MLflow API sets and deletes them (`set-experiment-tag`,
//! `delete-experiment-tag`) and returns them with the experiment: one value per key and
//! experiment, gone with the experiment.

use crate::helpers::{create_all, drop_all, fk, index, millis, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            table("experiment_tags")
                .col(big_pk_auto("id"))
                .col(big_integer("experiment_id"))
                .col(string("key"))
                .col(text("value"))
                .col(millis("updated_at"))
                .foreign_key(&mut fk(
                    "experiment_tags",
                    "experiment_id",
                    "experiments",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        ];
        let indexes = vec![index("experiment_tags", &["experiment_id", "key"], true)];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["experiment_tags"]).await
    }
}
