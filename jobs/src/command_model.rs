//! The model a command job's script wrote at `model_path`: Slipway's own (a directory with
//! `model.json` and `model.safetensors`, or that `model.json`), or an ONNX file with its
//! signature beside it (`<stem>.signature.json`, the format `slipway models import
//! --signature` reads). Its files are stored with the job's run; `register_as` then registers
//! it — an ONNX file through the same import (checked, every operator supported) as `slipway
//! models import`, with the run as its source.

use slipway_api::{Client, ImportModel, RegisterModel};
use std::path::{Path, PathBuf};

/// What was stored with the run.
pub enum Stored {
    /// Slipway's model files, now the run's artifacts.
    Slipway,
    /// An ONNX file and the import request its signature makes.
    Onnx {
        bytes: Vec<u8>,
        request: ImportModel,
    },
}

/// The signature file of an ONNX file: `out/model.onnx` → `out/model.signature.json`.
fn signature_path(onnx: &Path) -> PathBuf {
    let stem = onnx
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    onnx.with_file_name(format!("{stem}.signature.json"))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Uploads the model the script wrote at `path` to its run.
pub async fn store(client: &Client, run_id: i64, path: &Path) -> Result<Stored, String> {
    if path.extension().is_some_and(|ext| ext == "onnx") {
        return store_onnx(client, run_id, path).await;
    }
    let dir = model_dir(path).await?;
    for file in ["model.json", "model.safetensors"] {
        let bytes = tokio::fs::read(dir.join(file))
            .await
            .map_err(|err| format!("spec.model_path: cannot read {file}: {err}"))?;
        upload(client, run_id, file, bytes).await?;
    }
    Ok(Stored::Slipway)
}

async fn upload(client: &Client, run_id: i64, file: &str, bytes: Vec<u8>) -> Result<(), String> {
    client
        .upload_artifact(run_id, file, bytes)
        .await
        .map(|_| ())
        .map_err(|err| format!("cannot store {file}: {err}"))
}

async fn store_onnx(client: &Client, run_id: i64, path: &Path) -> Result<Stored, String> {
    let shown = path.display();
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|err| format!("spec.model_path: the command wrote nothing at '{shown}': {err}"))?;
    let signature = signature_path(path);
    let text = tokio::fs::read_to_string(&signature).await.map_err(|err| {
        format!(
            "spec.model_path: '{shown}' is an ONNX file, so its input columns must be named in '{}' beside it ({{\"inputs\": [\"a\", \"b\"], \"labels\": [\"no\", \"yes\"]}}, as for `slipway models import --signature`): {err}",
            signature.display()
        )
    })?;
    let mut request = ImportModel {
        run_id: Some(run_id),
        ..ImportModel::default()
    };
    slipway_api::signature::apply_signature(&text, &mut request)
        .map_err(|err| format!("spec.model_path: {}: {err}", signature.display()))?;
    upload(client, run_id, &file_name(path), bytes.clone()).await?;
    upload(client, run_id, &file_name(&signature), text.into_bytes()).await?;
    Ok(Stored::Onnx { bytes, request })
}

/// Registers the stored model as the next version of `model`; answers the version.
pub async fn register(
    client: &Client,
    run_id: i64,
    model: &str,
    stored: Stored,
) -> Result<u32, String> {
    let registered = match stored {
        Stored::Slipway => {
            let request = RegisterModel {
                run_id,
                description: None,
            };
            client.register_model(model, &request).await
        }
        Stored::Onnx { bytes, request } => {
            let reason = format!("written by run {run_id}'s command");
            client
                .import_model(model, &request, bytes, Some(&reason))
                .await
        }
    };
    registered
        .map(|version| version.version)
        .map_err(|err| format!("cannot register the model as '{model}': {err}"))
}

/// The directory with `model.json` and `model.safetensors` that `path` names (the directory,
/// or its `model.json`).
async fn model_dir(path: &Path) -> Result<PathBuf, String> {
    let shown = path.display();
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|err| format!("spec.model_path: the command wrote nothing at '{shown}': {err}"))?;
    if metadata.is_dir() {
        Ok(path.to_owned())
    } else if path.file_name().is_some_and(|name| name == "model.json") {
        Ok(path.parent().map(Path::to_owned).unwrap_or_default())
    } else {
        Err(format!(
            "spec.model_path: expected a directory with model.json and model.safetensors (or its model.json), or an .onnx file, got '{shown}'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_onnx_files_signature_sits_beside_it() {
        assert_eq!(
            signature_path(Path::new("out/digits.onnx")),
            Path::new("out/digits.signature.json")
        );
    }
}
