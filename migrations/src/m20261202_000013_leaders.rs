//! Leader election among server replicas on one database: per role (`maintenance`), the
//! replica that holds it and until when. A replica takes or renews a role with one
//! conditional statement; when the holder stops renewing, the row expires and another takes it.

use crate::helpers::{create_all, drop_all, millis, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            table("leaders")
                .col(string("role").primary_key())
                .col(string("holder"))
                .col(millis("expires_at"))
                .take(),
        ];
        create_all(manager, tables, Vec::new()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["leaders"]).await
    }
}
