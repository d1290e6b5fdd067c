//! Drift over time: each feature's PSI per deployment and hour, as the guard last judged it in
//! that hour, so that a heatmap shows when and where inputs began to drift. The live rows the
//! PSI is measured on are kept in memory only; these judgements outlive a restart.

use crate::helpers::{create_all, drop_all, fk, index, millis, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            table("drift_hours")
                .col(big_pk_auto("id"))
                .col(big_integer("deployment_id"))
                .col(millis("hour"))
                .col(string("feature"))
                .col(integer("version"))
                .col(double("psi"))
                .col(big_integer("rows"))
                .foreign_key(&mut fk(
                    "drift_hours",
                    "deployment_id",
                    "deployments",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        ];
        // One judgement per feature and hour: a later one in the same hour replaces it.
        let indexes = vec![
            index("drift_hours", &["deployment_id", "hour", "feature"], true),
            index("drift_hours", &["hour"], false),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["drift_hours"]).await
    }
}
