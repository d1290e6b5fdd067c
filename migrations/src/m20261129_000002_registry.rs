//! Datasets, the model registry and deployments.

use crate::helpers::{create_all, drop_all, fk, index, millis, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let cascade = ForeignKeyAction::Cascade;
        let restrict = ForeignKeyAction::Restrict;
        let tables = vec![
            table("datasets")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(integer("version"))
                .col(string("digest"))
                .col(string("label_column"))
                .col(string("task"))
                .col(text("schema"))
                .col(text("statistics"))
                .col(big_integer("row_count"))
                .col(big_integer("size_bytes"))
                .col(string("created_by"))
                .col(millis("created_at"))
                .take(),
            table("models")
                .col(big_pk_auto("id"))
                .col(string_uniq("name"))
                .col(text_null("description"))
                .col(millis("created_at"))
                .col(millis("updated_at"))
                .take(),
            table("model_versions")
                .col(big_pk_auto("id"))
                .col(big_integer("model_id"))
                .col(integer("version"))
                .col(big_integer_null("run_id"))
                .col(string("artifact_digest"))
                .col(string_null("dataset_digest"))
                .col(text("input_schema"))
                .col(text("metrics"))
                .col(string("created_by"))
                .col(millis("created_at"))
                .foreign_key(&mut fk("model_versions", "model_id", "models", cascade))
                .foreign_key(&mut fk(
                    "model_versions",
                    "run_id",
                    "runs",
                    ForeignKeyAction::SetNull,
                ))
                .take(),
            table("model_aliases")
                .col(big_integer("model_id"))
                .col(string("alias"))
                .col(big_integer("model_version_id"))
                .col(millis("updated_at"))
                .primary_key(Index::create().col("model_id").col("alias"))
                .foreign_key(&mut fk("model_aliases", "model_id", "models", cascade))
                .foreign_key(&mut fk(
                    "model_aliases",
                    "model_version_id",
                    "model_versions",
                    restrict,
                ))
                .take(),
            table("deployments")
                .col(big_pk_auto("id"))
                .col(string_uniq("name"))
                .col(integer("current_revision"))
                .col(text_null("slo_policy"))
                .col(millis("created_at"))
                .col(millis("updated_at"))
                .take(),
            table("deployment_revisions")
                .col(big_pk_auto("id"))
                .col(big_integer("deployment_id"))
                .col(integer("revision"))
                .col(text("spec"))
                .col(string("actor"))
                .col(text_null("reason"))
                .col(millis("created_at"))
                .foreign_key(&mut fk(
                    "deployment_revisions",
                    "deployment_id",
                    "deployments",
                    cascade,
                ))
                .take(),
        ];
        let indexes = vec![
            index("datasets", &["name", "version"], true),
            index("datasets", &["digest"], false),
            index("model_versions", &["model_id", "version"], true),
            index("model_versions", &["run_id"], false),
            index("deployment_revisions", &["deployment_id", "revision"], true),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(
            manager,
            &[
                "deployment_revisions",
                "deployments",
                "model_aliases",
                "model_versions",
                "models",
                "datasets",
            ],
        )
        .await
    }
}
