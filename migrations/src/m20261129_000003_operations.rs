//! Operations: workers, jobs and their logs, and cron schedules.

use crate::helpers::{create_all, drop_all, fk, index, millis, millis_null, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let cascade = ForeignKeyAction::Cascade;
        let set_null = ForeignKeyAction::SetNull;
        let tables = vec![
            table("workers")
                .col(big_pk_auto("id"))
                .col(string_uniq("name"))
                .col(string("version"))
                .col(integer("cpu_cores"))
                .col(integer("cuda_devices"))
                .col(text("labels"))
                .col(integer("concurrency"))
                .col(string("state"))
                .col(millis("registered_at"))
                .col(millis("last_heartbeat_at"))
                .take(),
            table("schedules")
                .col(big_pk_auto("id"))
                .col(string_uniq("name"))
                .col(string("cron"))
                .col(string("timezone"))
                .col(text("template"))
                .col(boolean("paused"))
                .col(string("misfire_policy"))
                .col(string("overlap_policy"))
                .col(millis_null("next_fire_at"))
                .col(millis_null("last_fire_at"))
                .col(string("created_by"))
                .col(millis("created_at"))
                .take(),
            table("jobs")
                .col(big_pk_auto("id"))
                .col(string("kind"))
                .col(string("state"))
                .col(text("spec"))
                .col(integer("priority"))
                .col(text("requirements"))
                .col(integer("attempts"))
                .col(integer("max_attempts"))
                .col(big_integer_null("worker_id"))
                .col(string_null("lease_id"))
                .col(millis_null("lease_expires_at"))
                .col(double("progress"))
                .col(text_null("progress_message"))
                .col(text_null("result"))
                .col(text_null("error"))
                .col(boolean("cancel_requested"))
                .col(big_integer_null("parent_id"))
                .col(big_integer_null("schedule_id"))
                .col(string("created_by"))
                .col(millis("created_at"))
                .col(millis_null("started_at"))
                .col(millis_null("finished_at"))
                .foreign_key(&mut fk("jobs", "worker_id", "workers", set_null))
                .foreign_key(&mut fk("jobs", "parent_id", "jobs", cascade))
                .foreign_key(&mut fk("jobs", "schedule_id", "schedules", set_null))
                .take(),
            table("job_logs")
                .col(big_pk_auto("id"))
                .col(big_integer("job_id"))
                .col(integer("attempt"))
                .col(millis("at"))
                .col(string("level"))
                .col(text("message"))
                .foreign_key(&mut fk("job_logs", "job_id", "jobs", cascade))
                .take(),
        ];
        let indexes = vec![
            index("jobs", &["state", "priority", "id"], false),
            index("jobs", &["parent_id"], false),
            index("jobs", &["schedule_id"], false),
            index("job_logs", &["job_id", "id"], false),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["job_logs", "jobs", "schedules", "workers"]).await
    }
}
