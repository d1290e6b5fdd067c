//! Each latest metric also keeps its value's exact IEEE-754 bits as an integer. A search pages
//! 100 runs with all their latest metrics; reading them as one text per run instead of one row
//! per metric is most of what makes a page cheap, and only an integer survives that text
//! exactly (SQLite prints floats with at most about 16 correct digits). Rows from before this
//! migration have no bits; readers fall back to the value for those.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("latest_metrics")
                    .add_column(big_integer_null("value_bits"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("latest_metrics")
                    .drop_column("value_bits")
                    .take(),
            )
            .await
    }
}
