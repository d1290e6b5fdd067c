//! Monitoring: per-minute prediction metrics of each deployment version (bounded retention),
//! and alerts raised by the SLO guards.

use crate::helpers::{create_all, drop_all, fk, index, millis, millis_null, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let cascade = ForeignKeyAction::Cascade;
        let tables = vec![
            table("deployment_metrics")
                .col(big_pk_auto("id"))
                .col(big_integer("deployment_id"))
                .col(integer("version"))
                .col(millis("minute"))
                .col(big_integer("requests"))
                .col(big_integer("errors"))
                // Latency histogram counts and class counts as JSON.
                .col(text("latency"))
                .col(text("predictions"))
                .foreign_key(&mut fk(
                    "deployment_metrics",
                    "deployment_id",
                    "deployments",
                    cascade,
                ))
                .take(),
            table("alerts")
                .col(big_pk_auto("id"))
                .col(big_integer("deployment_id"))
                .col(string("kind"))
                .col(string("severity"))
                .col(text("message"))
                .col(text("details"))
                .col(millis("created_at"))
                .col(string_null("acknowledged_by"))
                .col(millis_null("acknowledged_at"))
                .foreign_key(&mut fk("alerts", "deployment_id", "deployments", cascade))
                .take(),
        ];
        let indexes = vec![
            index(
                "deployment_metrics",
                &["deployment_id", "version", "minute"],
                true,
            ),
            index("deployment_metrics", &["minute"], false),
            index("alerts", &["deployment_id", "created_at"], false),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["alerts", "deployment_metrics"]).await
    }
}
