//! The MLflow stage of a model version (`None`, `Staging`, `Production`, `Archived`), as the
//! MLflow API's `model-versions/transition-stage` sets it and get/search return it as
//! `current_stage`. Versions made before stages existed are in `None`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("model_versions")
                    .add_column(string("stage").default("None"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("model_versions")
                    .drop_column("stage")
                    .take(),
            )
            .await
    }
}
