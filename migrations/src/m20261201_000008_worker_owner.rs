//! Worker identity belongs to the token that registered it: the worker row records that
//! token's name, so no other token can re-register the name, lease as the worker, or act for
//! the jobs it holds. Rows from before this migration have no owner; the next registration
//! claims them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("workers")
                    .add_column(string_null("owner_token"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("workers")
                    .drop_column("owner_token")
                    .take(),
            )
            .await
    }
}
