//! Model-version stages, as MLflow's registry has them: each version is in one of `None`,
//! `Staging`, `Production` or `Archived`. A transition moves one version (and, when asked,
//! archives the model's other versions in the stage it enters) in one write transaction, and
//! is audited like the registry's other changes. Slipway's own promotion moves aliases; stages
//! are kept for the training code and tools that use MLflow's.

use crate::audit::{self, Change};
use crate::entity::registry::model_version;
use crate::error::{ServiceError, ServiceResult};
use crate::registry::{self, Selector};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};

/// The stages a version can be in, in MLflow's spelling.
pub const STAGES: [&str; 4] = ["None", "Staging", "Production", "Archived"];

/// The stage named `text` in MLflow's spelling; MLflow's clients also send it in any case.
pub fn parse_stage(text: &str) -> ServiceResult<&'static str> {
    STAGES
        .into_iter()
        .find(|stage| stage.eq_ignore_ascii_case(text.trim()))
        .ok_or_else(|| {
            ServiceError::invalid(format!(
                "stage: expected one of None, Staging, Production or Archived, got '{text}'"
            ))
        })
}

/// The stage of version `version` of model `name`.
pub async fn stage_of(
    db: &impl ConnectionTrait,
    name: &str,
    version: u32,
) -> ServiceResult<String> {
    Ok(registry::find_version(db, name, &Selector::Number(version))
        .await?
        .stage)
}

/// The numbers of the newest version of model `name` in each of `stages` (every stage when
/// none is named), in the order the stages are given; a stage no version is in adds none.
pub async fn latest_in_stages(
    db: &impl ConnectionTrait,
    name: &str,
    stages: &[&'static str],
) -> ServiceResult<Vec<u32>> {
    let wanted: Vec<&str> = if stages.is_empty() {
        STAGES.to_vec()
    } else {
        stages.to_vec()
    };
    let model = registry::find_model(db, name).await?;
    let rows = model_version::Entity::find()
        .filter(model_version::Column::ModelId.eq(model.id))
        .filter(model_version::Column::Stage.is_in(wanted.iter().copied()))
        .all(db)
        .await?;
    let mut latest: Vec<u32> = wanted
        .iter()
        .filter_map(|stage| {
            rows.iter()
                .filter(|row| row.stage == *stage)
                .map(|row| row.version.unsigned_abs())
                .max()
        })
        .collect();
    latest.dedup();
    Ok(latest)
}

/// Moves version `version` of model `name` to `stage`; with `archive_existing`, the model's
/// other versions in that stage go to `Archived` (only for Staging and Production, as in
/// MLflow). Audited as `model.version.stage`.
pub async fn transition(
    db: &DatabaseConnection,
    actor: &str,
    (name, version): (&str, u32),
    stage: &'static str,
    archive_existing: bool,
) -> ServiceResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let row = registry::find_version(&txn, name, &Selector::Number(version)).await?;
    let from = row.stage.clone();
    let mut archived = Vec::new();
    if archive_existing && matches!(stage, "Staging" | "Production") {
        let others = model_version::Entity::find()
            .filter(model_version::Column::ModelId.eq(row.model_id))
            .filter(model_version::Column::Stage.eq(stage))
            .filter(model_version::Column::Id.ne(row.id))
            .all(&txn)
            .await?;
        archived = others.iter().map(|o| o.version).collect();
        model_version::Entity::update_many()
            .col_expr(model_version::Column::Stage, Expr::value("Archived"))
            .filter(model_version::Column::Id.is_in(others.iter().map(|o| o.id)))
            .exec(&txn)
            .await?;
    }
    model_version::Entity::update_many()
        .col_expr(model_version::Column::Stage, Expr::value(stage))
        .filter(model_version::Column::Id.eq(row.id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        Change {
            actor,
            action: "model.version.stage",
            target_kind: "model",
            target_id: format!("{name}:{version}"),
            reason: None,
            details: Some(serde_json::json!({
                "from": from,
                "to": stage,
                "archived_versions": archived,
            })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_read_in_any_case_and_others_refused() {
        assert_eq!(parse_stage("production").unwrap(), "Production");
        assert_eq!(parse_stage("None").unwrap(), "None");
        let err = parse_stage("live").unwrap_err().to_string();
        assert!(err.contains("stage: expected"), "{err}");
    }
}
