//! Experiments and runs can be deleted and restored (the MLflow API's lifecycle stages): a
//! deleted one keeps its data and is only hidden from the MLflow API's default searches, so
//! restoring it is exact. `deleted_at` is null for a live one, else when it was deleted.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables that gain the column (one statement each: SQLite alters one column at a time).
const TABLES: [&str; 2] = ["experiments", "runs"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(big_integer_null("deleted_at"))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(Table::alter().table(table).drop_column("deleted_at").take())
                .await?;
        }
        Ok(())
    }
}
