//! Drift baselines gathered from live traffic: a version registered without training data
//! (an imported ONNX model given only a signature, a version registered through the MLflow
//! API) takes the first rows it serves as its baseline. They are kept here, per version, so
//! the baseline outlives a restart and every server replica judges against the same one.

use crate::helpers::{create_all, drop_all, fk, index, millis, millis_null, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            table("live_baselines")
                .col(big_pk_auto("id"))
                .col(big_integer("model_version_id"))
                // Rows wanted, and rows gathered so far.
                .col(big_integer("target"))
                .col(big_integer("rows"))
                // JSON: the rows' feature values in the model's order, and what was predicted
                // for each (the class index, or the value).
                .col(text("feature_values"))
                .col(text("predicted"))
                .col(millis_null("completed_at"))
                .col(millis("updated_at"))
                .foreign_key(&mut fk(
                    "live_baselines",
                    "model_version_id",
                    "model_versions",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        ];
        let indexes = vec![index("live_baselines", &["model_version_id"], true)];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["live_baselines"]).await
    }
}
