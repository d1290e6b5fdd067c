//! Reports of serving replicas (`slipway serve`) waiting for the leader: any server replica
//! takes a report and stores it here; the replica that runs the SLO guards merges it into
//! its live metrics and deletes it, so that every report reaches the guards whichever server
//! replica received it.

use crate::helpers::{create_all, drop_all, millis, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            table("replica_reports")
                .col(big_pk_auto("id"))
                .col(string("replica"))
                .col(big_integer("sequence"))
                // JSON: the report as received (slipway_api::ReplicaReport).
                .col(text("body"))
                .col(millis("received_at"))
                .take(),
        ];
        create_all(manager, tables, Vec::new()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["replica_reports"]).await
    }
}
