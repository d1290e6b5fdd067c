//! Experiment tracking and access: experiments, runs, params, tags, metrics, artifacts,
//! tokens and the audit log.

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
            table("tokens")
                .col(big_pk_auto("id"))
                .col(string_uniq("name"))
                .col(string("role"))
                .col(string_uniq("key_id"))
                .col(string("secret_hash"))
                .col(millis("created_at"))
                .col(millis_null("revoked_at"))
                .col(millis_null("last_used_at"))
                .take(),
            table("audit_events")
                .col(big_pk_auto("id"))
                .col(millis("at"))
                .col(string("actor"))
                .col(string("action"))
                .col(string("target_kind"))
                .col(string("target_id"))
                .col(text_null("reason"))
                .col(text_null("details"))
                .take(),
            table("experiments")
                .col(big_pk_auto("id"))
                .col(string_uniq("name"))
                .col(text_null("description"))
                .col(millis("created_at"))
                .col(millis("updated_at"))
                .take(),
            table("runs")
                .col(big_pk_auto("id"))
                .col(big_integer("experiment_id"))
                .col(string("name"))
                .col(string("status"))
                .col(millis("start_time"))
                .col(millis_null("end_time"))
                .col(string("created_by"))
                .col(string_null("dataset_digest"))
                .col(string_null("code_version"))
                .col(big_integer_null("job_id"))
                .col(big_integer_null("seed"))
                .foreign_key(&mut fk("runs", "experiment_id", "experiments", cascade))
                .take(),
            table("params")
                .col(big_integer("run_id"))
                .col(string("key"))
                .col(text("value"))
                .primary_key(Index::create().col("run_id").col("key"))
                .foreign_key(&mut fk("params", "run_id", "runs", cascade))
                .take(),
            table("tags")
                .col(big_integer("run_id"))
                .col(string("key"))
                .col(text("value"))
                .primary_key(Index::create().col("run_id").col("key"))
                .foreign_key(&mut fk("tags", "run_id", "runs", cascade))
                .take(),
            // Metric points, packed: one row holds the points of one metric of one run that
            // arrived in one write (24 bytes a point: step, timestamp, value).
            table("metrics")
                .col(big_pk_auto("id"))
                .col(big_integer("run_id"))
                .col(string("key"))
                .col(big_integer("first_step"))
                .col(big_integer("last_step"))
                .col(integer("point_count"))
                .col(blob("points"))
                .foreign_key(&mut fk("metrics", "run_id", "runs", cascade))
                .take(),
            // The newest point of each (run, key): what filters and run listings compare, kept
            // up to date on every write so a search never scans the history.
            table("latest_metrics")
                .col(big_integer("run_id"))
                .col(string("key"))
                .col(double("value"))
                .col(big_integer("step"))
                .col(millis("timestamp"))
                .primary_key(Index::create().col("run_id").col("key"))
                .foreign_key(&mut fk("latest_metrics", "run_id", "runs", cascade))
                .take(),
            table("artifacts")
                .col(big_integer("run_id"))
                .col(string("path"))
                .col(string("digest"))
                .col(big_integer("size"))
                .col(millis("created_at"))
                .primary_key(Index::create().col("run_id").col("path"))
                .foreign_key(&mut fk("artifacts", "run_id", "runs", cascade))
                .take(),
        ];
        let indexes = vec![
            index("audit_events", &["at"], false),
            index("audit_events", &["target_kind", "target_id"], false),
            index("runs", &["experiment_id", "start_time"], false),
            index("runs", &["start_time"], false),
            index("runs", &["status"], false),
            index("metrics", &["run_id", "key", "id"], false),
            index("latest_metrics", &["key", "value"], false),
            index("params", &["key", "value"], false),
            index("tags", &["key", "value"], false),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(
            manager,
            &[
                "artifacts",
                "latest_metrics",
                "metrics",
                "tags",
                "params",
                "runs",
                "experiments",
                "audit_events",
                "tokens",
            ],
        )
        .await
    }
}
