//! What serving needs beyond the registry's first cut: each version's manifest digest,
//! lineage and description, and the shadow comparisons recorded per deployment revision.

use crate::helpers::{create_all, drop_all, fk, index, millis, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            string("manifest_digest").default("").take(),
            text("lineage").default("{}").take(),
            text_null("description").take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("model_versions")
                        .add_column(column)
                        .take(),
                )
                .await?;
        }
        let tables = vec![
            table("shadow_comparisons")
                .col(big_pk_auto("id"))
                .col(big_integer("deployment_id"))
                .col(integer("revision"))
                .col(integer("primary_version"))
                .col(integer("shadow_version"))
                .col(big_integer("requests"))
                .col(big_integer("agreements"))
                .col(big_integer("errors"))
                .col(millis("updated_at"))
                .foreign_key(&mut fk(
                    "shadow_comparisons",
                    "deployment_id",
                    "deployments",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        ];
        let indexes = vec![index(
            "shadow_comparisons",
            &["deployment_id", "revision", "shadow_version"],
            true,
        )];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["shadow_comparisons"]).await?;
        for column in ["description", "lineage", "manifest_digest"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("model_versions")
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
