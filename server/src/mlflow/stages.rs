//! `/api/2.0/mlflow/model-versions/transition-stage` and `registered-models/get-latest-versions`:
//! MLflow's version stages over `registry_stages`. A transition needs an engineer's token
//! (it is how MLflow's users promote) and answers the version as MLflow writes it.

use super::registry::version_json;
use crate::auth::{Caller, Permission};
use crate::error::ServiceError;
use crate::http::ApiResult;
use crate::http::extract::{Json, Query};
use crate::registry::{self, Selector};
use crate::registry_stages;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/model-versions/transition-stage", post(transition))
        .route(
            "/registered-models/get-latest-versions",
            post(latest_versions).get(latest_versions_get),
        )
}

#[derive(Debug, Deserialize)]
struct TransitionRequest {
    name: String,
    version: String,
    stage: String,
    /// MLflow's clients send it as a boolean; older ones as the text "true" or "false".
    #[serde(default)]
    archive_existing_versions: Option<Value>,
}

/// `archive_existing_versions` as a flag: a boolean, or its text.
fn flag(value: Option<&Value>) -> Result<bool, ServiceError> {
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(ServiceError::invalid(format!(
            "archive_existing_versions: expected true or false, got {other}"
        ))),
    }
}

async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<TransitionRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Operate)?;
    let number = super::registry::version_number(&request.version)?;
    let stage = registry_stages::parse_stage(&request.stage)?;
    let archive = flag(request.archive_existing_versions.as_ref())?;
    registry_stages::transition(
        &state.db,
        &caller.name,
        (&request.name, number),
        stage,
        archive,
    )
    .await?;
    let version = registry::version(&state.db, &request.name, &Selector::Number(number)).await?;
    Ok(axum::Json(
        json!({ "model_version": version_json(&state, &version).await? }),
    ))
}

#[derive(Debug, Deserialize)]
struct LatestRequest {
    name: String,
    #[serde(default)]
    stages: Vec<String>,
}

async fn latest_versions(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<LatestRequest>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    latest_of(&state, &request.name, &request.stages).await
}

/// The GET form: `name` and repeated `stages` in the query.
async fn latest_versions_get(
    State(state): State<AppState>,
    caller: Caller,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let mut name = None;
    let mut stages = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "name" => name = Some(value),
            "stages" => stages.push(value),
            _ => {}
        }
    }
    let name = name.ok_or_else(|| ServiceError::invalid("name: expected the model's name"))?;
    latest_of(&state, &name, &stages).await
}

/// The newest version in each stage asked for (each stage when none is).
async fn latest_of(
    state: &AppState,
    name: &str,
    stages: &[String],
) -> ApiResult<axum::Json<Value>> {
    let stages = stages
        .iter()
        .map(|stage| registry_stages::parse_stage(stage))
        .collect::<Result<Vec<_>, _>>()?;
    let mut versions = Vec::new();
    for number in registry_stages::latest_in_stages(&state.db, name, &stages).await? {
        let version = registry::version(&state.db, name, &Selector::Number(number)).await?;
        versions.push(version_json(state, &version).await?);
    }
    Ok(axum::Json(json!({ "model_versions": versions })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_existing_versions_is_a_boolean_or_its_text() {
        assert!(flag(Some(&json!(true))).unwrap());
        assert!(flag(Some(&json!("True"))).unwrap());
        assert!(!flag(Some(&json!("false"))).unwrap());
        assert!(!flag(None).unwrap());
        assert!(flag(Some(&json!(3))).is_err());
    }
}
