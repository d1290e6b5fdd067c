//! The GPU devices a running job holds on its worker: leasing picks free device indices
//! (those no other running job of the worker holds) and records them here, so the next lease
//! can count them and the worker runs the job on exactly those devices. A JSON array of
//! indices, null for a job that holds none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    .add_column(text_null("gpu_devices"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    .drop_column("gpu_devices")
                    .take(),
            )
            .await
    }
}
