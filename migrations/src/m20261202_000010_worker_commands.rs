//! Command jobs run arbitrary code, so a worker runs them only when started with
//! `--allow-commands`: the worker row records that choice, and leasing reads it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::boolean;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("workers")
                    .add_column(boolean("allow_commands").default(false))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("workers")
                    .drop_column("allow_commands")
                    .take(),
            )
            .await
    }
}
