//! The history of schedule firings: every due time fired, skipped (misfire, overlap) or
//! triggered by hand or by drift, with the job it submitted.

use crate::helpers::{create_all, drop_all, fk, index, millis, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            table("schedule_firings")
                .col(big_pk_auto("id"))
                .col(big_integer("schedule_id"))
                .col(millis("due_at"))
                .col(millis("fired_at"))
                .col(string("outcome"))
                .col(big_integer_null("job_id"))
                .col(text_null("message"))
                .foreign_key(&mut fk(
                    "schedule_firings",
                    "schedule_id",
                    "schedules",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        ];
        // One record per due time: a second claim of the same due time cannot insert.
        let indexes = vec![index("schedule_firings", &["schedule_id", "due_at"], true)];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["schedule_firings"]).await
    }
}
