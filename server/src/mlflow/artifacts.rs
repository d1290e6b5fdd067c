//! `/api/2.0/mlflow-artifacts/artifacts[/<path>]`: MLflow's artifacts proxy on Slipway's run
//! artifacts. A run's artifact URI is `mlflow-artifacts:/<experiment>/<run>/artifacts` (see
//! `wire::artifact_uri`), so every proxied path starts with those three segments; the rest is
//! the run-relative path Slipway stores.

use crate::auth::{Caller, Permission};
use crate::error::{ServiceError, ServiceResult};
use crate::http::ApiResult;
use crate::http::extract::{Path, Query};
use crate::state::AppState;
use crate::tracking::artifacts;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new().route("/artifacts", get(list)).route(
        "/artifacts/{*path}",
        get(download)
            .put(upload)
            .delete(delete)
            // Artifacts stream to disk under their own, larger limit.
            .layer(DefaultBodyLimit::disable()),
    )
}

/// A proxied path split into its run and the run-relative path (empty for the run's root).
fn split(path: &str) -> ServiceResult<(i64, String)> {
    let path = path.trim_matches('/');
    let mut segments = path.splitn(4, '/');
    let (experiment, run, root) = (segments.next(), segments.next(), segments.next());
    let rest = segments.next().unwrap_or_default().to_owned();
    match (experiment, run, root) {
        (Some(experiment), Some(run), Some("artifacts")) if experiment.parse::<i64>().is_ok() => {
            let run = super::wire::parse_id("run", run)?;
            Ok((run, rest))
        }
        _ => Err(ServiceError::not_found(format!(
            "artifact path '{path}' names no run: expected <experiment>/<run>/artifacts/<path>"
        ))),
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    path: Option<String>,
}

/// The files and directories directly under a path, named relative to it.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let (run_id, dir) = split(query.path.as_deref().unwrap_or_default())?;
    let stored = artifacts::list(&state.db, run_id).await?;
    Ok(axum::Json(json!({ "files": children(&stored, &dir) })))
}

/// The entries directly under `dir` of a run's artifacts: files with their sizes, and
/// directories (any deeper path) once each. A `dir` that is a file lists that file.
fn children(stored: &[slipway_api::Artifact], dir: &str) -> Vec<Value> {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut entries: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for artifact in stored {
        if !dir.is_empty() && artifact.path == dir {
            let name = dir.rsplit('/').next().unwrap_or(dir).to_owned();
            entries.insert(name, Some(artifact.size));
            continue;
        }
        let Some(rest) = artifact.path.strip_prefix(&prefix) else {
            continue;
        };
        match rest.split_once('/') {
            Some((directory, _)) => {
                entries.entry(directory.to_owned()).or_insert(None);
            }
            None => {
                entries.insert(rest.to_owned(), Some(artifact.size));
            }
        }
    }
    entries
        .into_iter()
        .map(|(path, size)| match size {
            Some(size) => json!({ "path": path, "is_dir": false, "file_size": size }),
            None => json!({ "path": path, "is_dir": true }),
        })
        .collect()
}

async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<String>,
    body: Body,
) -> ApiResult<axum::Json<Value>> {
    let (run_id, path) = split(&path)?;
    caller.require_run(Permission::Track, run_id)?;
    let stream = body.into_data_stream();
    artifacts::upload(&state.blobs, &state.db, &caller.name, run_id, &path, stream).await?;
    Ok(axum::Json(json!({})))
}

async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let (run_id, path) = split(&path)?;
    let (artifact, file) = artifacts::open(&state.blobs, &state.db, run_id, &path).await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, artifact.size.to_string()),
        ],
        body,
    )
        .into_response())
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (run_id, path) = split(&path)?;
    caller.require_run(Permission::Track, run_id)?;
    artifacts::delete(&state.db, &caller.name, run_id, &path).await?;
    Ok(axum::Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(path: &str, size: u64) -> slipway_api::Artifact {
        slipway_api::Artifact {
            path: path.to_owned(),
            digest: String::new(),
            size,
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn paths_and_listings() {
        assert_eq!(
            split("3/17/artifacts/a/b.txt").unwrap(),
            (17, "a/b.txt".into())
        );
        assert_eq!(split("3/17/artifacts").unwrap(), (17, String::new()));
        assert!(matches!(split("17/x"), Err(ServiceError::NotFound(_))));
        let stored = [
            artifact("a/b.txt", 3),
            artifact("a/c/d.bin", 4),
            artifact("e", 5),
        ];
        let root = children(&stored, "");
        assert_eq!(
            root,
            vec![
                json!({"path": "a", "is_dir": true}),
                json!({"path": "e", "is_dir": false, "file_size": 5}),
            ]
        );
        let inner = children(&stored, "a");
        assert_eq!(inner.len(), 2);
        assert_eq!(inner[1], json!({"path": "c", "is_dir": true}));
    }
}
